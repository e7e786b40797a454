//! What the shared SQL (`zegel-store-sql`, stamped in as `crate::shared`) is compiled
//! against on PostgreSQL: the concrete types, the error mapping, the durable transaction, and
//! the few statements whose text differs from SQLite's.

use crate::PgStore;
use sqlx::{Postgres, Transaction};
use zegel_core::{StoreError, StoreResult};

/// The database.
pub(crate) type Db = Postgres;
/// A connection (inside a transaction or not).
pub(crate) type Conn = sqlx::PgConnection;
/// A result row.
pub(crate) type DbRow = sqlx::postgres::PgRow;
/// The store the shared sections are implemented for.
pub(crate) type DbStore = PgStore;

/// [`zegel_core::store::MetaStore::backend`].
pub(crate) const BACKEND: &str = "postgres";

/// Blobs still to delete, in the words of the partial index (migration 0003).
pub(crate) const BLOBS_TO_DELETE_SQL: &str =
    "SELECT id, blob_key FROM attachments WHERE blob_pending_delete = TRUE \
     ORDER BY created_at, id LIMIT $1";

/// Appended to a `SELECT` of the row a unit of work decides on: the row lock makes concurrent
/// transactions on that row (on any node) wait until this one has committed, then read what
/// it left.
pub(crate) const FOR_UPDATE: &str = " FOR UPDATE";

/// The `n`th (from 1) bind parameter of a statement whose parameters are written in order.
pub(crate) fn param(n: usize) -> String {
    format!("${n}")
}

/// `<column> IN <list of ids bound as $1>`: a `text[]` or `bigint[]` array ([`list`]), so an
/// index on the column finds the rows.
pub(crate) const IN_LIST: &str = "= ANY($1)";

/// The bind value for [`IN_LIST`]: the ids as an array of their own type.
pub(crate) fn list<T: Clone>(ids: &[T]) -> StoreResult<Vec<T>> {
    Ok(ids.to_vec())
}

/// Maps a sqlx error to a [`StoreError`]: unique violations become `Conflict`, everything else
/// `Database`. Only the server's primary message goes into the text (its `DETAIL`, which can
/// quote values, is left out), so no user data ends up in a log.
pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::Conflict(d.constraint().map_or_else(
                || d.message().to_string(),
                |c| format!("unique constraint {c}"),
            ))
        }
        sqlx::Error::Database(d) => StoreError::Database(format!(
            "postgres {}: {}",
            d.code().unwrap_or_default(),
            d.message()
        )),
        sqlx::Error::RowNotFound => StoreError::NotFound,
        // Connection-level errors carry the URL's host at most, never a password.
        other => StoreError::Database(other.to_string()),
    }
}

/// Serialises the audit sequencers (see `shared/audit.rs`) of every node until this
/// transaction ends, so each chain grows one transaction at a time. Only the sequencer takes
/// it: writers stage their entries without waiting for each other.
pub(crate) async fn audit_lock(conn: &mut Conn) -> StoreResult<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(AUDIT_LOCK)
        .execute(conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// The advisory lock id of [`audit_lock`] ("zegelaud" in ASCII).
const AUDIT_LOCK: i64 = 0x7a65_6765_6c61_7564;

/// A durable transaction. Derefs to the connection; dropping it uncommitted rolls back.
pub(crate) struct WriteTx {
    tx: Transaction<'static, Postgres>,
}

impl WriteTx {
    /// Commits; it is flushed to the WAL when this returns.
    pub(crate) async fn commit(self) -> StoreResult<()> {
        self.tx.commit().await.map_err(db_err)
    }

    pub(crate) async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

impl std::ops::Deref for WriteTx {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Conn {
        &mut self.tx
    }
}

impl PgStore {
    /// Starts a durable transaction (READ COMMITTED): its commit is flushed to the server's
    /// WAL before it returns. Dropping it uncommitted rolls back.
    pub(crate) async fn begin(&self) -> StoreResult<WriteTx> {
        let tx = self.pool.begin().await.map_err(db_err)?;
        Ok(WriteTx { tx })
    }
}

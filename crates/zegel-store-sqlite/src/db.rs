//! What the shared SQL (`zegel-store-sql`, stamped in as `crate::shared`) is compiled
//! against on SQLite: the concrete types, the error mapping, the write transaction, and the
//! few statements whose text differs from PostgreSQL's.

use crate::SqliteStore;
use sqlx::{Sqlite, Transaction};
use tokio::sync::OwnedMutexGuard;
use zegel_core::{StoreError, StoreResult};

/// The database.
pub(crate) type Db = Sqlite;
/// A connection (inside a transaction or not).
pub(crate) type Conn = sqlx::SqliteConnection;
/// A result row.
pub(crate) type DbRow = sqlx::sqlite::SqliteRow;
/// The store the shared sections are implemented for.
pub(crate) type DbStore = SqliteStore;

/// [`zegel_core::store::MetaStore::backend`].
pub(crate) const BACKEND: &str = "sqlite";

/// Blobs still to delete. SQLite uses a partial index only when the query repeats its
/// condition word for word: `blob_pending_delete = 1` (migration 0003).
pub(crate) const BLOBS_TO_DELETE_SQL: &str =
    "SELECT id, blob_key FROM attachments WHERE blob_pending_delete = 1 \
     ORDER BY created_at, id LIMIT $1";

/// Appended to a `SELECT` of the row a unit of work decides on. Nothing on SQLite:
/// `BEGIN IMMEDIATE` (see [`SqliteStore::begin`]) already holds the database's write lock, so
/// the read and the write that follows it see no other writer in between.
pub(crate) const FOR_UPDATE: &str = "";

/// The largest id in `audit_pending` (0 when none), read right after `BEGIN IMMEDIATE`: the
/// transaction's own queued rows are the ones above it (see [`audit_mine`]).
pub(crate) async fn audit_mark(conn: &mut Conn) -> StoreResult<i64> {
    sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM audit_pending")
        .fetch_one(conn)
        .await
        .map_err(db_err)
}

/// The condition on `audit_pending` (unaliased) that picks this transaction's queued rows (plus the
/// migration's backfill), given its [`audit_mark`].
pub(crate) fn audit_mine(mark: i64) -> String {
    format!("(id > {mark} OR backfill = 1)")
}

/// Whether a write transaction chains its own audit entries before it commits (see
/// `shared/audit.rs`): yes, SQLite's single writer already serialises the commits.
pub(crate) const SEQUENCE_AT_COMMIT: bool = true;

/// Serialises audit sequencers: SQLite's write lock (`BEGIN IMMEDIATE`) already does.
pub(crate) async fn audit_lock(_conn: &mut Conn) -> StoreResult<()> {
    Ok(())
}

/// `<column> IN <list of text ids bound as $1>`: a JSON array read with `json_each`.
pub(crate) const IN_TEXT_LIST: &str = "IN (SELECT value FROM json_each($1))";

/// The bind value for [`IN_TEXT_LIST`].
pub(crate) fn text_list(ids: &[String]) -> StoreResult<String> {
    serde_json::to_string(ids).map_err(|e| StoreError::Database(format!("id list: {e}")))
}

/// Maps a sqlx error to a [`StoreError`]: unique violations become `Conflict`, everything else
/// `Database`. Only SQLite's own message goes into the text (constraint and column names,
/// never bound values).
pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::Conflict(d.message().to_string())
        }
        sqlx::Error::Database(d) => StoreError::Database(format!("sqlite: {}", d.message())),
        sqlx::Error::RowNotFound => StoreError::NotFound,
        other => StoreError::Database(other.to_string()),
    }
}

/// A write transaction that holds this process's write turn until it ends. Derefs to the
/// connection; dropping it uncommitted rolls back.
pub(crate) struct WriteTx {
    tx: Transaction<'static, Sqlite>,
    _turn: OwnedMutexGuard<()>,
    /// [`audit_mark`] when the transaction began.
    audit_mark: i64,
}

impl WriteTx {
    /// Stages the audit entries of the events this transaction wrote (see
    /// [`crate::shared::audit::stage`]), then commits.
    pub(crate) async fn commit(mut self) -> StoreResult<()> {
        crate::shared::audit::stage(&mut self.tx, self.audit_mark).await?;
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

impl SqliteStore {
    /// Starts a write transaction; its commit is on disk (fsync) before it returns.
    /// `BEGIN IMMEDIATE` takes the write lock up front, so a transaction never fails half-way
    /// with `SQLITE_BUSY` when it upgrades from reading to writing. The process's write turn
    /// comes first (see [`SqliteStore`]).
    pub(crate) async fn begin(&self) -> StoreResult<WriteTx> {
        let turn = self.write_lock.clone().lock_owned().await;
        let tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err)?;
        let mut tx = tx;
        let audit_mark = audit_mark(&mut tx).await?;
        Ok(WriteTx {
            tx,
            _turn: turn,
            audit_mark,
        })
    }
}

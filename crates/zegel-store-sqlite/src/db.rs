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

/// What starts every write transaction: `BEGIN IMMEDIATE`, after making sure this connection
/// stages what it queues for the audit trail. A TEMP trigger (this connection's own, gone when
/// it closes) marks every row the permanent queue triggers put in `audit_pending` with the
/// node's name, as PostgreSQL's triggers do with the session's `zegel.node` (migration 0016).
/// It is made here, not when the connection opens, because the table exists only once the
/// migrations have run; after the first time it changes nothing, and both statements go to
/// SQLite in one call. A connection outside Zegel (the `sqlite3` shell) has no such trigger:
/// what it inserts into `events` is queued unstaged, never chained, and `zegel audit verify`
/// reports it. When the trigger cannot be made, the transaction does not begin.
pub(crate) fn begin_immediate() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        format!(
            "CREATE TEMP TRIGGER IF NOT EXISTS zegel_audit_stage \
             AFTER INSERT ON main.audit_pending WHEN NEW.staged_by IS NULL \
             BEGIN UPDATE audit_pending SET staged_by = '{}' WHERE id = NEW.id; END; \
             BEGIN IMMEDIATE",
            zegel_core::audit::node_name().replace('\'', "''")
        )
    })
}

/// Serialises audit sequencers: SQLite's write lock (`BEGIN IMMEDIATE`) already does.
pub(crate) async fn audit_lock(_conn: &mut Conn) -> StoreResult<()> {
    Ok(())
}

/// The `n`th (from 1) bind parameter of a statement whose parameters are written in order:
/// an anonymous `?`. A numbered `$n` costs SQLite a scan of the statement's parameter names
/// for every bind (quadratic in a multi-row insert of thousands of values).
pub(crate) fn param(_n: usize) -> String {
    "?".to_owned()
}

/// `<column> IN <list of ids bound as $1>`: a JSON array of strings or integers ([`list`]) read
/// with `json_each`, so an index on the column finds the rows.
pub(crate) const IN_LIST: &str = "IN (SELECT value FROM json_each($1))";

/// The bind value for [`IN_LIST`]: the ids (text or integers) as a JSON array.
pub(crate) fn list<T: serde::Serialize>(ids: &[T]) -> StoreResult<String> {
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
}

impl WriteTx {
    /// Commits; it is on disk when this returns.
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

impl SqliteStore {
    /// Starts a write transaction; its commit is on disk (fsync) before it returns.
    /// `BEGIN IMMEDIATE` takes the write lock up front, so a transaction never fails half-way
    /// with `SQLITE_BUSY` when it upgrades from reading to writing. The process's write turn
    /// comes first (see [`SqliteStore`]).
    pub(crate) async fn begin(&self) -> StoreResult<WriteTx> {
        let turn = self.write_lock.clone().lock_owned().await;
        let tx = self
            .pool
            .begin_with(begin_immediate())
            .await
            .map_err(db_err)?;
        Ok(WriteTx { tx, _turn: turn })
    }
}

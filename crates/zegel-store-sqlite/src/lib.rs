#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod batch;
mod db;
mod multi;
mod per_backend;
#[path = "../../zegel-store-sql/src/shared/mod.rs"]
mod shared;

use db::db_err;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use zegel_core::{StoreError, StoreResult};

/// How long a connection waits for another writer before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections in the pool (readers run in parallel under WAL; writers queue on the lock).
const MAX_CONNECTIONS: u32 = 8;
/// Prepared statements kept per connection (sqlx's default is 100): a new message's
/// statements go to SQLite as one query ([`multi`]), a text per shape (how many recipients,
/// attachments, events), and those shapes should not push the other hot statements out.
const STATEMENT_CACHE: usize = 400;

/// The SQLite implementation of [`zegel_core::Store`].
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Writers of this process take turns here, in arrival order, before `BEGIN IMMEDIATE`:
    /// SQLite's own busy handler would make them sleep and poll (1, 2, 5, 10 ms ...), which
    /// under load costs more than the writes themselves. Other processes still meet the busy
    /// timeout.
    write_lock: WriteTurn,
    /// Group commit for the hot writes (see [`batch`]).
    batcher: batch::Batcher,
    /// The address-book and notification-recipient lookups, in batches (see `shared/loads.rs`).
    lookups: shared::loads::Lookups,
}

/// The process's write turn (see [`SqliteStore`]).
pub(crate) type WriteTurn = Arc<Mutex<()>>;

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (and creates when missing, with its parent directory) the database at
    /// `sqlite://path`, `sqlite:path` or a plain file path. Does not run migrations: call
    /// [`zegel_core::store::MetaStore::migrate`].
    ///
    /// Every connection runs with WAL, `synchronous=FULL` (a committed notification job must
    /// survive a power cut), `secure_delete=ON` (destroyed ciphertext and keys are overwritten),
    /// foreign keys on and a 10 s busy timeout.
    pub async fn connect(url_or_path: &str) -> StoreResult<Self> {
        let opts = if url_or_path.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(url_or_path)
                .map_err(|_| StoreError::Database("invalid sqlite url".into()))?
        } else {
            SqliteConnectOptions::new().filename(url_or_path)
        };
        let opts = opts
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .statement_cache_capacity(STATEMENT_CACHE)
            .pragma("secure_delete", "ON");
        if let Some(parent) = opts.get_filename().parent() {
            if !parent.as_os_str().is_empty() && !parent.exists() {
                std::fs::create_dir_all(parent).map_err(|e| {
                    StoreError::Database(format!("cannot create database directory: {e}"))
                })?;
            }
        }
        // A local file cannot drop a connection: no test query on every acquire.
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .test_before_acquire(false)
            .connect_with(opts)
            .await
            .map_err(db_err)?;
        let write_lock: WriteTurn = Arc::new(Mutex::new(()));
        let batcher = batch::Batcher::start(pool.clone(), write_lock.clone());
        let lookups = shared::loads::Lookups::start(pool.clone());
        Ok(Self {
            pool,
            write_lock,
            batcher,
            lookups,
        })
    }

    /// Closes the pool (waits for connections in use to be returned).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Writes a copy of the whole database as it is at one instant into `dest` (a file that
    /// must not exist yet), while other connections and processes go on reading and writing:
    /// `VACUUM INTO` runs in one read transaction, so the copy is consistent and includes
    /// what is still in the WAL. `secure_delete` holds in the copy too (no freed pages).
    pub async fn snapshot_into(&self, dest: &std::path::Path) -> StoreResult<()> {
        if dest.exists() {
            return Err(StoreError::Conflict(format!(
                "{} exists already",
                dest.display()
            )));
        }
        sqlx::query("VACUUM INTO $1")
            .bind(dest.to_string_lossy().into_owned())
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// The blob keys the database still needs: attachments of messages and replies whose key
    /// is not destroyed (a destroyed message's blobs are the sweeper's to delete).
    pub async fn live_blob_keys(&self) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(
            "SELECT a.blob_key FROM attachments a \
             JOIN message_keys k ON k.message_id = a.message_id ORDER BY a.blob_key",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| sqlx::Row::try_get::<String, _>(r, 0).map_err(db_err))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::SqliteStore;
    use sqlx::Row;
    use zegel_core::store::prelude::*;

    #[tokio::test]
    async fn connect_creates_the_file_and_sets_the_pragmas() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("dir").join("zegel.db");
        let url = format!("sqlite://{}", path.display());
        let store = SqliteStore::connect(&url).await.expect("connect");
        store.migrate().await.expect("migrate");
        assert!(path.exists(), "database file created with its directories");
        let mut conn = store.pool.acquire().await.expect("connection");
        for (pragma, want) in [
            ("journal_mode", "wal"),
            ("synchronous", "2"),
            ("secure_delete", "1"),
            ("foreign_keys", "1"),
            ("busy_timeout", "10000"),
        ] {
            let row = sqlx::query(&format!("PRAGMA {pragma}"))
                .fetch_one(&mut *conn)
                .await
                .expect("pragma");
            let got = row
                .try_get::<String, _>(0)
                .or_else(|_| row.try_get::<i64, _>(0).map(|n| n.to_string()))
                .expect("pragma value");
            assert_eq!(got, want, "PRAGMA {pragma}");
        }
        drop(conn);
        store.close().await;

        // A plain path works too and opens the same database.
        let again = SqliteStore::connect(&path.to_string_lossy())
            .await
            .expect("connect");
        again.migrate().await.expect("migrate again");
        again.ping().await.expect("ping");
    }
}

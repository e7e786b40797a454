//! Fresh, migrated stores for tests: SQLite in a temporary directory, PostgreSQL in a new
//! database per test.

use sqlx::{Connection, PgConnection, SqliteConnection};
use std::sync::Arc;
use tempfile::TempDir;
use zegel_core::store::prelude::*;
use zegel_store_postgres::PgStore;
use zegel_store_sqlite::SqliteStore;

/// The server to create test databases on, e.g. `postgres://postgres@127.0.0.1:5432/postgres`.
pub const POSTGRES_URL_ENV: &str = "ZEGEL_TEST_POSTGRES_URL";
/// Set to `1` to skip the PostgreSQL tests explicitly (they fail when the URL is missing).
pub const SKIP_POSTGRES_ENV: &str = "ZEGEL_TEST_SKIP_POSTGRES";

/// A migrated SQLite store on a real file in a fresh temporary directory (deleted when the
/// `TempDir` is dropped).
///
/// # Panics
/// When the database cannot be created or migrated (a test failure).
pub async fn sqlite_store() -> (DynStore, TempDir) {
    let dir = tempfile::tempdir().expect("sqlite_store: create a temporary directory");
    let path = dir.path().join("zegel.db");
    let store = SqliteStore::connect(&path.to_string_lossy())
        .await
        .expect("sqlite_store: connect");
    store.migrate().await.expect("sqlite_store: migrate");
    (Arc::new(store), dir)
}

/// A migrated PostgreSQL store on a fresh database `zegel_test_<hex>`, dropped with the
/// returned [`PgDb`].
///
/// Without `ZEGEL_TEST_POSTGRES_URL` this panics with an explanation, unless
/// `ZEGEL_TEST_SKIP_POSTGRES=1`, when it says so on stderr and returns `None`: PostgreSQL tests
/// are never skipped silently.
pub async fn postgres_store() -> Option<(DynStore, PgDb)> {
    let db = PgDb::create().await?;
    let store = PgStore::connect(db.url())
        .await
        .expect("postgres_store: connect to the test database");
    store.migrate().await.expect("postgres_store: migrate");
    Some((Arc::new(store), db))
}

/// True when the PostgreSQL tests are skipped on purpose: `ZEGEL_TEST_POSTGRES_URL` is unset
/// (or empty) and `ZEGEL_TEST_SKIP_POSTGRES=1`. Without the URL and without that, they fail.
pub fn postgres_skipped() -> bool {
    let no_url = std::env::var(POSTGRES_URL_ENV).map_or(true, |url| url.trim().is_empty());
    no_url && std::env::var(SKIP_POSTGRES_ENV).as_deref() == Ok("1")
}

/// The values of the one text column `sql` selects, read straight from a test database
/// (`sqlite://<file>` or `postgres://...`): for what no Store method shows, such as a job's
/// `last_error`.
///
/// # Panics
/// When the database cannot be reached or the query fails (a test failure).
pub async fn select_texts(url: &str, sql: &str) -> Vec<Option<String>> {
    if url.starts_with("sqlite:") {
        let mut conn = SqliteConnection::connect(url)
            .await
            .unwrap_or_else(|e| panic!("select_texts: connect: {e}"));
        sqlx::query_scalar(sql).fetch_all(&mut conn).await
    } else {
        let mut conn = PgConnection::connect(url)
            .await
            .unwrap_or_else(|e| panic!("select_texts: connect: {e}"));
        sqlx::query_scalar(sql).fetch_all(&mut conn).await
    }
    .unwrap_or_else(|e| panic!("select_texts: {sql}: {e}"))
}

/// Runs `sql` (one or more statements, no binds) straight on a test database
/// (`sqlite://<file>` or `postgres://...`), around Zegel: for tests that tamper with rows.
///
/// # Panics
/// When the database cannot be reached or a statement fails (a test failure).
pub async fn execute_sql(url: &str, sql: &str) {
    if url.starts_with("sqlite:") {
        let mut conn = SqliteConnection::connect(url)
            .await
            .unwrap_or_else(|e| panic!("execute_sql: connect: {e}"));
        sqlx::raw_sql(sql).execute(&mut conn).await.map(|_| ())
    } else {
        let mut conn = PgConnection::connect(url)
            .await
            .unwrap_or_else(|e| panic!("execute_sql: connect: {e}"));
        sqlx::raw_sql(sql).execute(&mut conn).await.map(|_| ())
    }
    .unwrap_or_else(|e| panic!("execute_sql: {sql}: {e}"))
}

/// A throw-away PostgreSQL database; dropped (`WITH (FORCE)`) when this value is dropped.
#[derive(Debug)]
pub struct PgDb {
    admin_url: String,
    name: String,
    url: String,
}

impl PgDb {
    /// Creates a database `zegel_test_<random hex>` on the server named by
    /// `ZEGEL_TEST_POSTGRES_URL`. See [`postgres_store`] for what happens when it is unset.
    ///
    /// # Panics
    /// When the variable is unset (and skipping was not asked for), or the server refuses.
    pub async fn create() -> Option<Self> {
        let admin_url = match std::env::var(POSTGRES_URL_ENV) {
            Ok(url) if !url.trim().is_empty() => url,
            _ => {
                if postgres_skipped() {
                    eprintln!(
                        "SKIPPED: PostgreSQL store test ({SKIP_POSTGRES_ENV}=1 and \
                         {POSTGRES_URL_ENV} unset)"
                    );
                    return None;
                }
                panic!(
                    "{POSTGRES_URL_ENV} is not set, so the PostgreSQL store tests cannot run. \
                     Set it to a server where databases may be created, e.g. \
                     {POSTGRES_URL_ENV}=postgres://postgres@127.0.0.1:5432/postgres, \
                     or set {SKIP_POSTGRES_ENV}=1 to skip them on purpose."
                );
            }
        };
        let name = format!("zegel_test_{}", uuid::Uuid::new_v4().simple());
        let mut url = url::Url::parse(&admin_url)
            .unwrap_or_else(|e| panic!("{POSTGRES_URL_ENV} is not a valid URL: {e}"));
        url.set_path(&format!("/{name}"));
        let mut conn = PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {POSTGRES_URL_ENV}: {e}"));
        sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        // Closing is a courtesy; the database exists either way.
        let _ = conn.close().await;
        Some(Self {
            admin_url,
            name,
            url: url.to_string(),
        })
    }

    /// The URL of the test database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The name of the test database.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for PgDb {
    /// Drops the database from a separate thread with its own runtime (this may run inside, or
    /// outside, any runtime, also while unwinding). Never panics: failures are reported on
    /// stderr and leave a `zegel_test_*` database behind.
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let worker = std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("PgDb: no runtime to drop test database {name}: {e}");
                    return;
                }
            };
            runtime.block_on(async {
                match PgConnection::connect(&admin_url).await {
                    Ok(mut conn) => {
                        let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                        if let Err(e) = sqlx::raw_sql(&sql).execute(&mut conn).await {
                            eprintln!("PgDb: cannot drop test database {name}: {e}");
                        }
                        let _ = conn.close().await;
                    }
                    Err(e) => eprintln!("PgDb: cannot connect to drop test database {name}: {e}"),
                }
            });
        });
        if worker.join().is_err() {
            eprintln!(
                "PgDb: the thread dropping test database {} panicked",
                self.name
            );
        }
    }
}

//! Migration 0004 (issue 12) on data written under 0003, on SQLite and PostgreSQL: the unique
//! index on recipients' (message, address) is built even when two forwards raced to one
//! address before it existed (the later copy keeps its row under an address marked as a
//! duplicate), and the wrong-try total starts from the stored count.

use sqlx::migrate::Migrator;
use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;
use zegel_core::store::prelude::*;

/// Rows as version 0003 stores them: an organisation, a sender, a message and three
/// recipients, two of them (positions 0 and 2) with one address; the first with 3 wrong tries.
/// `{BLOB}` is the backend's binary type.
const ROWS_0003: &[&str] = &[
    "INSERT INTO organisations (id, slug, name, active_kek_id, created_at) \
     VALUES ('o1', 'default', 'Ziekenhuis', 'kek_1', 0)",
    "INSERT INTO users (id, org_id, email, name, role, created_at) \
     VALUES ('u1', 'o1', 'arts@ziekenhuis.example', 'Dr. A', 'sender', 0)",
    "INSERT INTO messages (id, org_id, sender_id, alg, reply_policy, state, created_at, \
     expires_at, thread_id) VALUES ('m1', 'o1', 'u1', 'x', 'once', 'active', 0, 1, 'm1')",
    "INSERT INTO recipients (id, message_id, position, email, verification, link_hash, status, \
     language, created_at, failed_attempts) \
     VALUES ('r1', 'm1', 0, 'a@example.nl', 'email', CAST('h1' AS {BLOB}), 'notified', 'nl', 0, 3)",
    "INSERT INTO recipients (id, message_id, position, email, verification, link_hash, status, \
     language, created_at) VALUES ('r2', 'm1', 1, 'b@example.nl', 'email', CAST('h2' AS {BLOB}), 'queued', 'nl', 0)",
    "INSERT INTO recipients (id, message_id, position, email, verification, link_hash, status, \
     language, created_at, forwarded_by) \
     VALUES ('r3', 'm1', 2, 'a@example.nl', 'email', CAST('h3' AS {BLOB}), 'queued', 'nl', 0, 'r2')",
];

/// The migrations of `backend` up to and including 0003.
async fn migrations_to_0003(backend: &str) -> Migrator {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(backend)
        .join("migrations");
    let mut m = Migrator::new(dir).await.expect("read migrations");
    let upto: Vec<_> = m
        .migrations
        .iter()
        .filter(|x| x.version <= 3)
        .cloned()
        .collect();
    assert_eq!(upto.len(), 3);
    m.migrations = Cow::Owned(upto);
    m
}

/// After the store's own migration: the duplicate is kept under a marked address, the
/// index holds, the counters and the organisation's SMS policy have their starting values.
async fn check_after_0004(store: DynStore) {
    let rs = store.recipients_of("m1").await.expect("recipients");
    let emails: Vec<(&str, &str)> = rs
        .iter()
        .map(|r| (r.id.as_str(), r.email.as_str()))
        .collect();
    assert_eq!(
        emails,
        vec![
            ("r1", "a@example.nl"),
            ("r2", "b@example.nl"),
            ("r3", "a@example.nl (duplicate r3)")
        ]
    );
    assert_eq!((rs[0].wrong_total, rs[0].blocked_at), (3, None));
    let policy = store.org_policy("o1").await.expect("policy").expect("org");
    assert_eq!(policy.sms_per_day, 1000);
    assert_eq!(policy.sms_countries, vec!["NL", "BE", "DE"]);
}

#[tokio::test]
async fn migration_0004_keeps_a_raced_duplicate_recipient_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("zegel.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let pool = sqlx::SqlitePool::connect(&url).await.expect("connect");
    migrations_to_0003("zegel-store-sqlite")
        .await
        .run(&pool)
        .await
        .expect("migrate to 0003");
    for sql in ROWS_0003 {
        let sql = sql.replace("{BLOB}", "BLOB");
        sqlx::query(&sql).execute(&pool).await.expect(&sql);
    }
    pool.close().await;
    let store = zegel_store_sqlite::SqliteStore::connect(&path.to_string_lossy())
        .await
        .expect("connect");
    store.migrate().await.expect("migrate to 0004");
    check_after_0004(Arc::new(store)).await;
}

#[tokio::test]
async fn migration_0004_keeps_a_raced_duplicate_recipient_on_postgres() {
    let Some(db) = zegel_testkit::PgDb::create().await else {
        return;
    };
    let pool = sqlx::PgPool::connect(db.url()).await.expect("connect");
    migrations_to_0003("zegel-store-postgres")
        .await
        .run(&pool)
        .await
        .expect("migrate to 0003");
    for sql in ROWS_0003 {
        let sql = sql.replace("{BLOB}", "BYTEA");
        sqlx::query(&sql).execute(&pool).await.expect(&sql);
    }
    pool.close().await;
    let store = zegel_store_postgres::PgStore::connect(db.url())
        .await
        .expect("connect");
    store.migrate().await.expect("migrate to 0004");
    check_after_0004(Arc::new(store.clone())).await;
    store.close().await;
    drop(db);
}

//! PostgreSQL on a young database: a connection that planned the address-book lookup while the
//! table was empty (a sequential scan, kept as its generic plan) plans it again with an index
//! once the store has analyzed the table, which it does when a never-analyzed busy table has
//! changed by 500 rows, without waiting for autovacuum (a minute at best, never where it is
//! off). A busy table with fewer changes is left alone.

use sqlx::{Connection, PgConnection};
use std::time::{Duration, Instant};
use zegel_testkit::{execute_sql, select_texts};

const LOOKUP: &str = "PREPARE lookup(text[], text) AS \
     SELECT address, verification, phone, last_used_at, uses FROM address_book \
     WHERE address = ANY($1) AND org_id = $2 ORDER BY address";

async fn plan(conn: &mut PgConnection, address: &str) -> String {
    let lines: Vec<String> =
        sqlx::query_scalar(&format!("EXPLAIN EXECUTE lookup(ARRAY['{address}'], 'o1')"))
            .fetch_all(conn)
            .await
            .expect("EXPLAIN");
    lines.join("\n")
}

#[tokio::test]
async fn a_young_busy_table_is_analyzed_and_statements_are_planned_again() {
    let Some((_store, db)) = zegel_testkit::postgres_store().await else {
        return;
    };
    execute_sql(
        db.url(),
        "INSERT INTO organisations (id, slug, name, active_kek_id, created_at) \
         VALUES ('o1', 'default', 'Ziekenhuis', 'kek_1', 0)",
    )
    .await;
    execute_sql(db.url(), "VACUUM address_book").await;
    // Planned while the table is empty: after five runs the connection keeps a generic plan.
    let mut conn = PgConnection::connect(db.url()).await.expect("connect");
    sqlx::raw_sql(LOOKUP)
        .execute(&mut conn)
        .await
        .expect("PREPARE");
    for i in 0..6 {
        sqlx::raw_sql(&format!("EXECUTE lookup(ARRAY['x{i}@example.nl'], 'o1')"))
            .execute(&mut conn)
            .await
            .expect("EXECUTE");
    }
    let before = plan(&mut conn, "p17@example.nl").await;
    assert!(
        before.contains("Seq Scan on address_book"),
        "planned for an empty table:\n{before}"
    );
    execute_sql(
        db.url(),
        "INSERT INTO address_book (org_id, address, verification, phone, last_used_at, uses) \
         SELECT 'o1', 'p' || g || '@example.nl', 'email', NULL, g, 1 \
         FROM generate_series(1, 600) AS g",
    )
    .await;

    let analyzed = |table: &str| {
        format!(
            "SELECT CAST(last_analyze AS TEXT) FROM pg_stat_user_tables WHERE relname = '{table}'"
        )
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while select_texts(db.url(), &analyzed("address_book")).await[0].is_none() {
        assert!(
            Instant::now() < deadline,
            "address_book was not analyzed within 20 s of 600 changes"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let now = plan(&mut conn, "p17@example.nl").await;
    assert!(
        now.contains("Index Scan using address_book_pkey"),
        "the connection's plan after the statistics:\n{now}"
    );
    // Fewer changes than the threshold: left to autovacuum.
    assert_eq!(
        select_texts(db.url(), &analyzed("messages")).await,
        vec![None]
    );
}

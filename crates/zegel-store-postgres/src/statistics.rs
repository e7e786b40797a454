//! Planner statistics for a young database. PostgreSQL plans each prepared statement once for
//! the table sizes it knows, and a connection keeps that plan. On a new (or newly restored)
//! database the tables are "empty" until autovacuum's first `ANALYZE`: at best a minute after
//! the first 50 changes, never where autovacuum is off. A plan made for an empty table (a
//! sequential scan where a key lookup belongs) then costs more with every row: measured on the
//! submission benchmark's first 6000 mails, the address-book lookup read 62 buffers per call
//! instead of 8, and was the most expensive statement of the run.
//!
//! This task analyzes each busy table that has never been analyzed once it has changed by
//! [`THRESHOLD`] rows; new statistics make every connection plan its statements again. It ends
//! as soon as every busy table has been analyzed once, by it or by autovacuum: on a database
//! that has run for a while that is its first query.

use sqlx::PgPool;
use std::time::Duration;

/// The tables the frequent statements read and write (sending, notifying, the audit trail).
const TABLES: &[&str] = &[
    "address_book",
    "attachments",
    "audit_log",
    "audit_pending",
    "events",
    "jobs",
    "message_keys",
    "messages",
    "recipients",
];
/// Changes (inserts, updates, deletes) after which a never-analyzed table is analyzed.
const THRESHOLD: i64 = 500;
/// How often the task looks.
const EVERY: Duration = Duration::from_secs(2);

/// Starts the task on `pool`; it ends when every busy table has statistics, or the pool closes.
pub(crate) fn start(pool: PgPool) {
    tokio::spawn(run(pool));
}

async fn run(pool: PgPool) {
    let mut tick = tokio::time::interval(EVERY);
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        // A table not there yet (before the migrations) counts as not analyzed.
        let young: Vec<(String, Option<i64>)> = match sqlx::query_as(
            "SELECT t.name, s.n_mod_since_analyze \
             FROM unnest($1::text[]) AS t(name) \
             LEFT JOIN pg_stat_user_tables s \
               ON s.relname = t.name AND s.schemaname = current_schema() \
             WHERE s.relid IS NULL OR (s.last_analyze IS NULL AND s.last_autoanalyze IS NULL)",
        )
        .bind(TABLES)
        .fetch_all(&pool)
        .await
        {
            Ok(rows) => rows,
            Err(e) => {
                tracing::debug!(error = %e, "table statistics could not be read");
                continue;
            }
        };
        if young.is_empty() {
            tracing::debug!("every busy table has planner statistics");
            return;
        }
        for (table, changed) in young {
            if changed.unwrap_or(0) < THRESHOLD {
                continue;
            }
            // `table` is one of TABLES, not input.
            match sqlx::query(&format!("ANALYZE {table}"))
                .execute(&pool)
                .await
            {
                Ok(_) => {
                    tracing::info!(table = %table, "analyzed a young table for the query planner")
                }
                Err(e) => tracing::warn!(table = %table, error = %e, "ANALYZE failed"),
            }
        }
    }
}

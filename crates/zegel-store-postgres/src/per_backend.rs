//! The `Store` methods PostgreSQL does its own way, called by name from the shared sections
//! (`crate::shared`): new messages and notification marks are batched across callers
//! ([`crate::shared::coalesce`]); job bookkeeping and a token's last use are single
//! statements on the bookkeeping pool (`synchronous_commit = off`, see [`PgStore`]).

use crate::db::{db_err, DbRow};
use crate::marks::Mark;
use crate::PgStore;
use std::sync::Arc;
use zegel_core::model::{NewEvent, NewMessage, Ts};
use zegel_core::StoreResult;
use zegel_store_sql::{DELETE_JOB_SQL, RETRY_JOB_SQL, TOUCH_TOKEN_SQL};

/// Claims due jobs. The CTE runs once (a CTE with FOR UPDATE is never inlined); rows another
/// claimer holds are skipped, and a row another claimer has just committed is re-checked
/// against the lease condition before it is locked.
const CLAIM_SQL: &str = "WITH due AS (SELECT id FROM jobs WHERE dead = FALSE AND run_at <= $2 \
                          AND (locked_until IS NULL OR locked_until <= $2) \
                          ORDER BY run_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) \
             UPDATE jobs SET locked_until = $1, attempts = jobs.attempts + 1 \
             FROM due WHERE jobs.id = due.id \
             RETURNING jobs.id, jobs.kind, jobs.payload, jobs.attempts, jobs.max_attempts, \
                       jobs.created_at, jobs.run_at";

/// With whatever other messages are waiting, in one statement and one commit.
pub(crate) async fn insert_message(store: &PgStore, m: &NewMessage) -> StoreResult<()> {
    store.inserter.submit(Arc::new(m.clone())).await
}

/// One statement: its own transaction, on a bookkeeping connection.
pub(crate) async fn touch_token(
    store: &PgStore,
    hash: &[u8; 32],
    now: Ts,
    stale_before: i64,
) -> StoreResult<()> {
    sqlx::query(TOUCH_TOKEN_SQL)
        .bind(now.0)
        .bind(&hash[..])
        .bind(stale_before)
        .execute(&store.relaxed)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// One statement (its own transaction), on a bookkeeping connection.
pub(crate) async fn claim_jobs(
    store: &PgStore,
    now: Ts,
    lease_ms: i64,
    max: u32,
) -> StoreResult<Vec<DbRow>> {
    sqlx::query(CLAIM_SQL)
        .bind(now.plus_millis(lease_ms).0)
        .bind(now.0)
        .bind(i64::from(max))
        .fetch_all(&store.relaxed)
        .await
        .map_err(db_err)
}

/// Deletes a finished job on a bookkeeping connection.
pub(crate) async fn complete_job(store: &PgStore, id: i64) -> StoreResult<()> {
    sqlx::query(DELETE_JOB_SQL)
        .bind(id)
        .execute(&store.relaxed)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// Reschedules a job on a bookkeeping connection.
pub(crate) async fn retry_job(
    store: &PgStore,
    id: i64,
    run_at: Ts,
    error: &str,
) -> StoreResult<()> {
    sqlx::query(RETRY_JOB_SQL)
        .bind(id)
        .bind(run_at.0)
        .bind(error)
        .execute(&store.relaxed)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// With whatever other marks are waiting, in one statement (atomic on its own): the event and
/// the job's end happen only when the recipient row was there.
pub(crate) async fn mark_notified(
    store: &PgStore,
    recipient_id: &str,
    event: &NewEvent,
    job: Option<i64>,
) -> StoreResult<()> {
    store
        .marker
        .submit(Mark {
            recipient_id: recipient_id.to_owned(),
            event: event.clone(),
            job,
        })
        .await
}

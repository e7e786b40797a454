//! The `Store` methods SQLite does its own way, called by name from the shared sections
//! (`crate::shared`): the hot writes go through the group commit ([`crate::batch`]), so many
//! callers share one `BEGIN IMMEDIATE` transaction and one fsync.

use crate::db::{db_err, Conn, DbRow};
use crate::shared::sending::apply_send_options;
use crate::shared::write::{
    insert_attachment, insert_event, insert_job, insert_message_key, insert_message_row,
    insert_recipient,
};
use crate::SqliteStore;
use std::sync::Arc;
use zegel_core::model::{NewEvent, NewMessage, Ts};
use zegel_core::{StoreError, StoreResult};
use zegel_store_sql::{DELETE_JOB_SQL, JOB_COLS, RETRY_JOB_SQL, TOUCH_TOKEN_SQL};

async fn delete_job(conn: &mut Conn, id: i64) -> StoreResult<()> {
    sqlx::query(DELETE_JOB_SQL)
        .bind(id)
        .execute(conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// A new message with all its rows, in the next group commit.
pub(crate) async fn insert_message(store: &SqliteStore, m: &NewMessage) -> StoreResult<()> {
    let m = Arc::new(m.clone());
    store
        .batcher
        .write(move |conn| {
            let m = m.clone();
            Box::pin(async move {
                let msg = &m.message;
                insert_message_row(conn, msg).await?;
                insert_message_key(conn, &m.key).await?;
                for (position, r) in (0_i64..).zip(&m.recipients) {
                    insert_recipient(conn, position, r).await?;
                }
                for a in &m.attachments {
                    insert_attachment(conn, a).await?;
                }
                for e in &m.events {
                    insert_event(conn, e).await?;
                }
                for j in &m.jobs {
                    insert_job(conn, j, Some(&msg.id)).await?;
                }
                apply_send_options(conn, &m).await?;
                Ok(())
            })
        })
        .await
}

/// A token's `last_used_at`, in the next group commit.
pub(crate) async fn touch_token(
    store: &SqliteStore,
    hash: &[u8; 32],
    now: Ts,
    stale_before: i64,
) -> StoreResult<()> {
    let hash = *hash;
    store
        .batcher
        .write(move |conn| {
            Box::pin(async move {
                sqlx::query(TOUCH_TOKEN_SQL)
                    .bind(now.0)
                    .bind(&hash[..])
                    .bind(stale_before)
                    .execute(conn)
                    .await
                    .map_err(db_err)?;
                Ok(())
            })
        })
        .await
}

/// Claims due jobs with one `UPDATE ... RETURNING` in the next group commit; the rows
/// carry [`JOB_COLS`].
pub(crate) async fn claim_jobs(
    store: &SqliteStore,
    now: Ts,
    lease_ms: i64,
    max: u32,
) -> StoreResult<Vec<DbRow>> {
    store
        .batcher
        .write(move |conn| {
            Box::pin(async move {
                let sql = format!(
                    "UPDATE jobs SET locked_until = $1, attempts = attempts + 1 \
                     WHERE id IN (SELECT id FROM jobs WHERE dead = FALSE AND run_at <= $2 \
                                  AND (locked_until IS NULL OR locked_until <= $2) \
                                  ORDER BY run_at, id LIMIT $3) \
                     RETURNING {JOB_COLS}"
                );
                sqlx::query(&sql)
                    .bind(now.plus_millis(lease_ms).0)
                    .bind(now.0)
                    .bind(i64::from(max))
                    .fetch_all(conn)
                    .await
                    .map_err(db_err)
            })
        })
        .await
}

/// Deletes a finished job in the next group commit.
pub(crate) async fn complete_job(store: &SqliteStore, id: i64) -> StoreResult<()> {
    store
        .batcher
        .write(move |conn| Box::pin(delete_job(conn, id)))
        .await
}

/// Reschedules a job in the next group commit.
pub(crate) async fn retry_job(
    store: &SqliteStore,
    id: i64,
    run_at: Ts,
    error: &str,
) -> StoreResult<()> {
    let error = error.to_string();
    store
        .batcher
        .write(move |conn| {
            let error = error.clone();
            Box::pin(async move {
                sqlx::query(RETRY_JOB_SQL)
                    .bind(id)
                    .bind(run_at.0)
                    .bind(&error)
                    .execute(conn)
                    .await
                    .map_err(db_err)?;
                Ok(())
            })
        })
        .await
}

/// A sent notification's status, event and job end, in the next group commit.
pub(crate) async fn mark_notified(
    store: &SqliteStore,
    recipient_id: &str,
    event: &NewEvent,
    job: Option<i64>,
) -> StoreResult<()> {
    let (recipient_id, event) = (recipient_id.to_string(), event.clone());
    store
        .batcher
        .write(move |conn| {
            let (recipient_id, event) = (recipient_id.clone(), event.clone());
            Box::pin(async move {
                let done = sqlx::query(
                    "UPDATE recipients SET notified_at = COALESCE(notified_at, $2), \
                     status = CASE WHEN status = 'queued' THEN 'notified' ELSE status END \
                     WHERE id = $1",
                )
                .bind(&recipient_id)
                .bind(event.at.0)
                .execute(&mut *conn)
                .await
                .map_err(db_err)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                insert_event(conn, &event).await?;
                match job {
                    Some(job) => delete_job(conn, job).await,
                    None => Ok(()),
                }
            })
        })
        .await
}

//! The `Store` methods SQLite does its own way, called by name from the shared sections
//! (`crate::shared`): the hot writes go through the group commit ([`crate::batch`]), so many
//! callers share one `BEGIN IMMEDIATE` transaction and one fsync.

use crate::db::{db_err, Conn, DbRow};
use crate::multi::Multi;
use crate::shared::sending::send_options_statements;
use crate::shared::write::{
    bind_attachment, bind_event, bind_job, bind_message_key, bind_message_row, bind_recipient,
    insert_event_sql, Binds, Statements, INSERT_ATTACHMENT_SQL, INSERT_EVENT_SQL, INSERT_JOB_SQL,
    INSERT_MESSAGE_KEY_SQL, INSERT_MESSAGE_SQL, INSERT_RECIPIENT_SQL,
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

/// A new message with all its rows, in the next group commit: its statements as one query
/// ([`Multi`]).
pub(crate) async fn insert_message(store: &SqliteStore, m: &NewMessage) -> StoreResult<()> {
    let m = Arc::new(m.clone());
    store
        .batcher
        .write(move |conn| {
            let m = m.clone();
            Box::pin(async move { message_statements(&m).execute(conn).await })
        })
        .await
}

fn message_statements(m: &NewMessage) -> Multi<'_> {
    let msg = &m.message;
    let mut q = bind_message_row(Multi::new().statement(INSERT_MESSAGE_SQL), msg);
    q = bind_message_key(q.statement(INSERT_MESSAGE_KEY_SQL), &m.key);
    for (position, r) in (0_i64..).zip(&m.recipients) {
        q = bind_recipient(q.statement(INSERT_RECIPIENT_SQL), position, r);
    }
    for a in &m.attachments {
        q = bind_attachment(q.statement(INSERT_ATTACHMENT_SQL), a);
    }
    for e in &m.events {
        q = bind_event(q.statement(INSERT_EVENT_SQL), e);
    }
    for j in &m.jobs {
        q = bind_job(q.statement(INSERT_JOB_SQL), j, Some(&msg.id));
    }
    send_options_statements(q, m)
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

/// The recipient of a sent notification, if it exists (`RETURNING`).
const NOTIFIED_SQL: &str = "UPDATE recipients SET notified_at = COALESCE(notified_at, $2), \
     status = CASE WHEN status = 'queued' THEN 'notified' ELSE status END \
     WHERE id = $1 RETURNING id";
/// The event of [`NOTIFIED_SQL`], only when it found the recipient (`changes()`: the rows
/// the statement before changed).
const NOTIFIED_EVENT_SQL: &str =
    insert_event_sql!("SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE changes() > 0");

/// A sent notification's status, event and job end, in the next group commit, as one query.
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
                let q = Multi::new()
                    .statement(NOTIFIED_SQL)
                    .bind(recipient_id.as_str())
                    .bind(event.at.0);
                let mut q = bind_event(q.statement(NOTIFIED_EVENT_SQL), &event);
                if let Some(job) = job {
                    q = q.statement(DELETE_JOB_SQL).bind(job);
                }
                if q.fetch_all(conn).await?.is_empty() {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            })
        })
        .await
}

//! A sent notification's bookkeeping (the recipient's status, the `notified` event, the job's
//! end) for many jobs in one statement on the bookkeeping pool (see [`crate::shared::coalesce`]).
//! Each caller gets its own result: `NotFound` when its recipient is gone, which leaves its
//! job in place.

use crate::db::db_err;
use crate::shared::coalesce::Batch;
use async_trait::async_trait;
use sqlx::postgres::PgPool;
use sqlx::Row;
use std::collections::HashSet;
use zegel_core::model::NewEvent;
use zegel_core::{StoreError, StoreResult};

/// Marks per statement at most.
pub(crate) const MAX_BATCH: usize = 64;

/// The recipients are marked only when their rows are there; the events and job ends follow
/// the marked rows only. Events keep the order of the batch.
const MARK_SQL: &str = "WITH u AS (SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], \
      $4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[], $10::bigint[]) \
      WITH ORDINALITY AS u(recipient_id, message_id, event_recipient_id, kind, at, actor, ip, \
      user_agent, detail, job, n)), \
    r AS (UPDATE recipients SET notified_at = COALESCE(recipients.notified_at, u.at), \
      status = CASE WHEN recipients.status = 'queued' THEN 'notified' ELSE recipients.status END \
      FROM u WHERE recipients.id = u.recipient_id RETURNING recipients.id), \
    e AS (INSERT INTO events (message_id, recipient_id, kind, at, actor, ip, user_agent, detail) \
      SELECT u.message_id, u.event_recipient_id, u.kind, u.at, u.actor, u.ip, u.user_agent, \
      u.detail FROM u WHERE u.recipient_id IN (SELECT id FROM r) ORDER BY u.n), \
    j AS (DELETE FROM jobs WHERE id IN \
      (SELECT u.job FROM u WHERE u.recipient_id IN (SELECT id FROM r))) \
    SELECT id FROM r";

/// One `mark_notified` call.
pub(crate) struct Mark {
    pub(crate) recipient_id: String,
    pub(crate) event: NewEvent,
    pub(crate) job: Option<i64>,
}

/// Writes marks on the bookkeeping pool.
pub(crate) struct Marks(pub(crate) PgPool);

#[async_trait]
impl Batch for Marks {
    type Req = Mark;
    type Resp = ();

    async fn run(&self, marks: &[&Mark]) -> StoreResult<Vec<StoreResult<()>>> {
        fn col<T>(marks: &[&Mark], f: impl Fn(&Mark) -> T) -> Vec<T> {
            marks.iter().map(|m| f(m)).collect()
        }
        // One statement, its own transaction: the queue trigger stages its events' audit
        // entries in it (migration 0016).
        let rows = sqlx::query(MARK_SQL)
            .bind(col(marks, |m| m.recipient_id.clone()))
            .bind(col(marks, |m| m.event.message_id.clone()))
            .bind(col(marks, |m| m.event.recipient_id.clone()))
            .bind(col(marks, |m| m.event.kind.as_str().to_owned()))
            .bind(col(marks, |m| m.event.at.0))
            .bind(col(marks, |m| m.event.actor.clone()))
            .bind(col(marks, |m| m.event.ip.clone()))
            .bind(col(marks, |m| m.event.user_agent.clone()))
            .bind(col(marks, |m| m.event.detail.clone()))
            .bind(col(marks, |m| m.job))
            .fetch_all(&self.0)
            .await
            .map_err(db_err)?;
        let marked = rows
            .iter()
            .map(|r| r.try_get::<String, _>(0).map_err(db_err))
            .collect::<StoreResult<HashSet<String>>>()?;
        Ok(marks
            .iter()
            .map(|m| {
                if marked.contains(&m.recipient_id) {
                    Ok(())
                } else {
                    Err(StoreError::NotFound)
                }
            })
            .collect())
    }
}

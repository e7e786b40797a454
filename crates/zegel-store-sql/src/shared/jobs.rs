// Stamped into zegel-store-sqlite and zegel-store-postgres; see README.
//! [`JobStore`]: the durable job queue.

use super::prelude::*;

#[async_trait]
impl JobStore for DbStore {
    async fn enqueue_job(&self, job: &NewJob) -> StoreResult<i64> {
        let mut tx = self.begin().await?;
        let id = insert_job(&mut tx, job, None).await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn claim_jobs(&self, now: Ts, lease_ms: i64, max: u32) -> StoreResult<Vec<Job>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        // Differs per backend: SQLite's `UPDATE ... RETURNING` in the group commit,
        // PostgreSQL's `FOR UPDATE SKIP LOCKED` on the bookkeeping pool.
        let rows = per_backend::claim_jobs(self, now, lease_ms, max).await?;
        let mut jobs = rows
            .iter()
            .map(rows::job)
            .collect::<StoreResult<Vec<_>>>()?;
        jobs.sort_by_key(|(run_at, job)| (*run_at, job.id));
        Ok(jobs.into_iter().map(|(_, job)| job).collect())
    }

    async fn complete_job(&self, id: i64) -> StoreResult<()> {
        // Differs per backend: group commit / bookkeeping pool.
        per_backend::complete_job(self, id).await
    }

    async fn retry_job(&self, id: i64, run_at: Ts, error: &str) -> StoreResult<()> {
        // Differs per backend: group commit / bookkeeping pool.
        per_backend::retry_job(self, id, run_at, error).await
    }

    async fn kill_job(&self, id: i64, error: &str) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE jobs SET dead = TRUE, locked_until = NULL, last_error = $2 WHERE id = $1",
        )
        .bind(id)
        .bind(error)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await
    }

    async fn mark_notified(
        &self,
        recipient_id: &str,
        event: &NewEvent,
        job: Option<i64>,
    ) -> StoreResult<()> {
        // Differs per backend: SQLite's group commit, PostgreSQL's batched statement.
        per_backend::mark_notified(self, recipient_id, event, job).await
    }

    async fn mark_failed(
        &self,
        recipient_id: &str,
        reason: &str,
        event: &NewEvent,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        // Never over an opened, replied, revoked or expired recipient.
        let done = sqlx::query(
            "UPDATE recipients SET status = 'failed', failed_reason = $2 \
             WHERE id = $1 AND status IN ('queued', 'notified', 'failed')",
        )
        .bind(recipient_id)
        .bind(reason)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 && !recipient_exists(&mut tx, recipient_id).await? {
            tx.rollback().await.map_err(db_err)?;
            return Err(StoreError::NotFound);
        }
        insert_event(&mut tx, event).await?;
        tx.commit().await
    }

    async fn job_counts(&self) -> StoreResult<(i64, i64)> {
        let row = sqlx::query(
            "SELECT COUNT(CASE WHEN dead = FALSE THEN 1 END) AS pending, \
             COUNT(CASE WHEN dead = TRUE THEN 1 END) AS dead FROM jobs",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        Ok((
            row.try_get("pending").map_err(db_err)?,
            row.try_get("dead").map_err(db_err)?,
        ))
    }
}

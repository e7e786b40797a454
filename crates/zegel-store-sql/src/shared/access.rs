// Stamped into zegel-store-sqlite and zegel-store-postgres; see README.
//! [`AccessStore`]: link lookups, one-time codes, sessions and events.

use super::prelude::*;

#[async_trait]
impl AccessStore for DbStore {
    async fn access_by_link_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<RecipientAccess>> {
        let sql = access_sql(MSG_COLS, "r.link_hash = $1");
        let row = sqlx::query(&sql)
            .bind(&hash[..])
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(rows::access).transpose()
    }

    async fn access_by_recipient(
        &self,
        recipient_id: &str,
    ) -> StoreResult<Option<RecipientAccess>> {
        self.access_with(MSG_COLS, recipient_id).await
    }

    async fn access_meta_by_recipient(
        &self,
        recipient_id: &str,
    ) -> StoreResult<Option<RecipientAccess>> {
        // Every notification job starts with it: many in one statement (`loads.rs`).
        self.lookups.recipient(recipient_id).await
    }

    async fn set_code(&self, req: &CodeRequest<'_>) -> StoreResult<CodeRequestOutcome> {
        let mut tx = self.begin().await?;
        // Holds the recipient's row: concurrent requests for it are decided one by one.
        let sql = format!(
            "SELECT message_id, locked_until, blocked_at FROM recipients WHERE id = $1{}",
            db::FOR_UPDATE
        );
        let Some(row) = sqlx::query(&sql)
            .bind(req.recipient_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?
        else {
            tx.rollback().await.map_err(db_err)?;
            return Err(StoreError::NotFound);
        };
        let message_id: String = row.try_get("message_id").map_err(db_err)?;
        let locked_until: Option<i64> = row.try_get("locked_until").map_err(db_err)?;
        let blocked_at: Option<i64> = row.try_get("blocked_at").map_err(db_err)?;
        let refused = if blocked_at.is_some() {
            Some(CodeRequestOutcome::Blocked)
        } else if let Some(until) = locked_until.filter(|u| *u >= req.now.0) {
            Some(CodeRequestOutcome::Locked { until: Ts(until) })
        } else {
            recent_requests(&mut tx, &message_id, req).await?
        };
        if let Some(outcome) = refused {
            tx.rollback().await.map_err(db_err)?;
            return Ok(outcome);
        }
        if let Some(budget) = &req.sms_budget {
            if !count_sms(&mut tx, budget).await? {
                // Only the refusal is kept.
                tx.commit().await?;
                return Ok(CodeRequestOutcome::SmsBudgetSpent);
            }
        }
        // A lockout that has passed is cleared: a new round of tries (the total goes on).
        sqlx::query(
            "UPDATE recipients SET code_mac = $1, code_expires_at = $2, \
             failed_attempts = CASE WHEN locked_until IS NULL THEN failed_attempts ELSE 0 END, \
             locked_until = NULL WHERE id = $3",
        )
        .bind(req.code_mac)
        .bind(req.expires_at.map(|t| t.0))
        .bind(req.recipient_id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if let Some(job) = req.job {
            insert_job(&mut tx, job, Some(&message_id)).await?;
        }
        insert_event(&mut tx, req.event).await?;
        tx.commit().await?;
        Ok(CodeRequestOutcome::Stored)
    }

    async fn check_code(&self, c: &CodeCheck<'_>) -> StoreResult<CodeVerdict> {
        let mut tx = self.begin().await?;
        // Holds the recipient's row: the read, the comparison and the count are one step.
        let sql = format!(
            "SELECT code_mac, code_expires_at, failed_attempts, wrong_total, locked_until, \
             blocked_at FROM recipients WHERE id = $1{}",
            db::FOR_UPDATE
        );
        let Some(row) = sqlx::query(&sql)
            .bind(c.recipient_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?
        else {
            tx.rollback().await.map_err(db_err)?;
            return Err(StoreError::NotFound);
        };
        let state = rows::code_state(&row)?;
        let (verdict, next) = c.policy.decide(&state, c.presented_mac, c.one_time, c.now);
        let kinds = verdict.event_kinds();
        if kinds.is_empty() {
            tx.rollback().await.map_err(db_err)?;
            return Ok(verdict);
        }
        let accepted = verdict == CodeVerdict::Accepted;
        sqlx::query(
            "UPDATE recipients SET code_mac = $2, code_expires_at = $3, failed_attempts = $4, \
             wrong_total = $5, locked_until = $6, blocked_at = $7, \
             status = CASE WHEN $8 AND status IN ('queued', 'notified', 'failed') \
                           THEN 'opened' ELSE status END \
             WHERE id = $1",
        )
        .bind(c.recipient_id)
        .bind(&next.code_mac)
        .bind(next.code_expires_at.map(|t| t.0))
        .bind(next.failed_attempts)
        .bind(next.wrong_total)
        .bind(next.locked_until.map(|t| t.0))
        .bind(next.blocked.then_some(c.now.0))
        .bind(accepted)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if accepted {
            insert_session(&mut tx, c.session).await?;
        }
        for kind in kinds {
            let event = NewEvent {
                kind: *kind,
                ..c.event.clone()
            };
            insert_event(&mut tx, &event).await?;
        }
        tx.commit().await?;
        Ok(verdict)
    }

    async fn unblock_recipient(&self, recipient_id: &str, event: &NewEvent) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE recipients SET failed_attempts = 0, wrong_total = 0, locked_until = NULL, \
             blocked_at = NULL WHERE id = $1 AND (failed_attempts > 0 OR wrong_total > 0 \
             OR locked_until IS NOT NULL OR blocked_at IS NOT NULL)",
        )
        .bind(recipient_id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            tx.rollback().await.map_err(db_err)?;
            return Ok(false);
        }
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn session_by_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<SessionRow>> {
        let sql = format!("SELECT {SESSION_COLS} FROM sessions WHERE token_hash = $1");
        let row = sqlx::query(&sql)
            .bind(&hash[..])
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(rows::session).transpose()
    }

    async fn record_event(
        &self,
        event: &NewEvent,
        status: Option<RecipientStatus>,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        insert_event(&mut tx, event).await?;
        if let (Some(status), Some(recipient_id)) = (status, &event.recipient_id) {
            let sql = format!(
                "UPDATE recipients SET status = $1 WHERE id = $2 AND status IN {MUTABLE_STATUSES}"
            );
            sqlx::query(&sql)
                .bind(status.as_str())
                .bind(recipient_id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await
    }

    async fn record_events(&self, events: &[NewEvent]) -> StoreResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        for e in events {
            insert_event(&mut tx, e).await?;
        }
        tx.commit().await
    }
}

/// Refuses a code request when the recipient had `max_per_window` requests (events of the
/// request's kind) in the window; `retry_at` is when the oldest of them leaves it.
async fn recent_requests(
    conn: &mut db::Conn,
    message_id: &str,
    req: &CodeRequest<'_>,
) -> StoreResult<Option<CodeRequestOutcome>> {
    let max = req.max_per_window.max(0);
    let recent: Vec<i64> = sqlx::query_scalar(
        "SELECT at FROM events WHERE message_id = $1 AND recipient_id = $2 AND kind = $3 \
         AND at > $4 ORDER BY at DESC LIMIT $5",
    )
    .bind(message_id)
    .bind(req.recipient_id)
    .bind(req.event.kind.as_str())
    .bind(req.now.0.saturating_sub(req.window_ms))
    .bind(max)
    .fetch_all(conn)
    .await
    .map_err(db_err)?;
    if i64::try_from(recent.len()).unwrap_or(i64::MAX) < max {
        return Ok(None);
    }
    let oldest = recent.last().copied().unwrap_or(req.now.0);
    Ok(Some(CodeRequestOutcome::TooMany {
        retry_at: Ts(oldest.saturating_add(req.window_ms)),
    }))
}

/// Counts one SMS on the organisation's day, unless its budget is spent: then counts the
/// refusal and returns false. The day's row is updated in place, so concurrent requests of
/// one organisation (on any node) are counted one after another.
async fn count_sms(conn: &mut db::Conn, b: &SmsBudget<'_>) -> StoreResult<bool> {
    sqlx::query(
        "INSERT INTO sms_usage (org_id, day, sent, refused) VALUES ($1, $2, 0, 0) \
         ON CONFLICT (org_id, day) DO NOTHING",
    )
    .bind(b.org_id)
    .bind(b.day)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    let counted = sqlx::query(
        "UPDATE sms_usage SET sent = sent + 1 WHERE org_id = $1 AND day = $2 AND sent < $3",
    )
    .bind(b.org_id)
    .bind(b.day)
    .bind(b.per_day)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    if counted.rows_affected() == 1 {
        return Ok(true);
    }
    sqlx::query("UPDATE sms_usage SET refused = refused + 1 WHERE org_id = $1 AND day = $2")
        .bind(b.org_id)
        .bind(b.day)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    Ok(false)
}

/// Recipients with their message (`msg_cols`: with or without the ciphertext), sender and
/// organisation, chosen by `condition` on `r`.
pub(crate) fn access_sql(msg_cols: &str, condition: &str) -> String {
    format!(
        "SELECT {REC_COLS}, {msg_cols}, u.name AS sender_name, o.name AS org_name, \
         (o.logo IS NOT NULL) AS org_has_logo \
         FROM recipients r JOIN messages m ON m.id = r.message_id \
         JOIN users u ON u.id = m.sender_id JOIN organisations o ON o.id = m.org_id \
         WHERE {condition}"
    )
}

impl DbStore {
    /// A recipient with its message (`msg_cols`: with or without the ciphertext), sender and
    /// organisation.
    async fn access_with(
        &self,
        msg_cols: &str,
        recipient_id: &str,
    ) -> StoreResult<Option<RecipientAccess>> {
        let sql = access_sql(msg_cols, "r.id = $1");
        let row = sqlx::query(&sql)
            .bind(recipient_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(rows::access).transpose()
    }
}

// Stamped into zegel-store-sqlite and zegel-store-postgres; see README.
//! [`AccessStore`]: link lookups, one-time codes, sessions and events.

use super::prelude::*;

#[async_trait]
impl AccessStore for DbStore {
    async fn access_by_link_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<RecipientAccess>> {
        let sql = format!(
            "SELECT {REC_COLS}, {MSG_COLS}, u.name AS sender_name, o.name AS org_name, \
             (o.logo IS NOT NULL) AS org_has_logo \
             FROM recipients r JOIN messages m ON m.id = r.message_id \
             JOIN users u ON u.id = m.sender_id JOIN organisations o ON o.id = m.org_id \
             WHERE r.link_hash = $1"
        );
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
        self.access_with(MSG_META_COLS, recipient_id).await
    }

    async fn set_code(
        &self,
        recipient_id: &str,
        code_mac: &[u8],
        expires_at: Option<Ts>,
        job: Option<&NewJob>,
        event: &NewEvent,
        now: Ts,
    ) -> StoreResult<Result<(), Ts>> {
        let mut tx = self.begin().await?;
        // Only when not locked at `now`; a lockout that has passed is cleared with its counter.
        let message_id: Option<String> = sqlx::query_scalar(
            "UPDATE recipients SET code_mac = $1, code_expires_at = $2, \
             failed_attempts = CASE WHEN locked_until IS NULL THEN failed_attempts ELSE 0 END, \
             locked_until = NULL \
             WHERE id = $3 AND (locked_until IS NULL OR locked_until < $4) \
             RETURNING message_id",
        )
        .bind(code_mac)
        .bind(expires_at.map(|t| t.0))
        .bind(recipient_id)
        .bind(now.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(message_id) = message_id else {
            let locked: Option<Option<i64>> =
                sqlx::query_scalar("SELECT locked_until FROM recipients WHERE id = $1")
                    .bind(recipient_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?;
            tx.rollback().await.map_err(db_err)?;
            return match locked {
                None => Err(StoreError::NotFound),
                Some(Some(until)) => Ok(Err(Ts(until))),
                Some(None) => Err(StoreError::Database(
                    "set_code: recipient not updated".into(),
                )),
            };
        };
        if let Some(job) = job {
            insert_job(&mut tx, job, Some(&message_id)).await?;
        }
        insert_event(&mut tx, event).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(Ok(()))
    }

    async fn record_wrong_code(
        &self,
        recipient_id: &str,
        now: Ts,
        max_attempts: i64,
        lock_ms: i64,
        event: &NewEvent,
    ) -> StoreResult<WrongCodeOutcome> {
        let mut tx = self.begin().await?;
        // All right-hand sides see the old row: a passed lockout restarts the count at 1, a
        // running one is kept as it is, reaching `max_attempts` starts one.
        let row = sqlx::query(
            "UPDATE recipients SET \
               failed_attempts = CASE WHEN locked_until IS NOT NULL AND locked_until < $2 THEN 1 \
                                      ELSE failed_attempts + 1 END, \
               locked_until = CASE \
                 WHEN locked_until IS NOT NULL AND locked_until >= $2 THEN locked_until \
                 WHEN (CASE WHEN locked_until IS NOT NULL AND locked_until < $2 THEN 1 \
                            ELSE failed_attempts + 1 END) >= $3 THEN $2 + $4 \
                 ELSE NULL END \
             WHERE id = $1 \
             RETURNING failed_attempts, locked_until",
        )
        .bind(recipient_id)
        .bind(now.0)
        .bind(max_attempts)
        .bind(lock_ms)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(row) = row else {
            tx.rollback().await.map_err(db_err)?;
            return Err(StoreError::NotFound);
        };
        let failed_attempts: i64 = row.try_get("failed_attempts").map_err(db_err)?;
        let locked_until: Option<i64> = row.try_get("locked_until").map_err(db_err)?;
        insert_event(&mut tx, event).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(WrongCodeOutcome {
            failed_attempts,
            locked_until: locked_until.map(Ts),
        })
    }

    async fn accept_code(
        &self,
        recipient_id: &str,
        code_mac: &[u8],
        one_time: bool,
        session: &SessionRow,
        event: &NewEvent,
        now: Ts,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE recipients SET failed_attempts = 0, locked_until = NULL, \
               code_mac = CASE WHEN $3 THEN NULL ELSE code_mac END, \
               code_expires_at = CASE WHEN $3 THEN NULL ELSE code_expires_at END, \
               status = CASE WHEN status IN ('queued', 'notified', 'failed') THEN 'opened' \
                             ELSE status END \
             WHERE id = $1 AND code_mac = $2 AND (locked_until IS NULL OR locked_until < $4)",
        )
        .bind(recipient_id)
        .bind(code_mac)
        .bind(one_time)
        .bind(now.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            tx.rollback().await.map_err(db_err)?;
            return Ok(false);
        }
        insert_session(&mut tx, session).await?;
        insert_event(&mut tx, event).await?;
        tx.commit().await.map_err(db_err)?;
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
        tx.commit().await.map_err(db_err)
    }
}

impl DbStore {
    /// A recipient with its message (`msg_cols`: with or without the ciphertext), sender and
    /// organisation.
    async fn access_with(
        &self,
        msg_cols: &str,
        recipient_id: &str,
    ) -> StoreResult<Option<RecipientAccess>> {
        let sql = format!(
            "SELECT {REC_COLS}, {msg_cols}, u.name AS sender_name, o.name AS org_name, \
             (o.logo IS NOT NULL) AS org_has_logo \
             FROM recipients r JOIN messages m ON m.id = r.message_id \
             JOIN users u ON u.id = m.sender_id JOIN organisations o ON o.id = m.org_id \
             WHERE r.id = $1"
        );
        let row = sqlx::query(&sql)
            .bind(recipient_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(rows::access).transpose()
    }
}

// Stamped into zegel-store-sqlite and zegel-store-postgres; see README.
//! [`DeviceStore`]: remembered devices.

use super::prelude::*;

#[async_trait]
impl DeviceStore for DbStore {
    async fn create_device(&self, d: &DeviceRow, event: &NewEvent) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO devices (id, recipient_id, token_hash, user_agent, created_at, \
             expires_at, last_used_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&d.id)
        .bind(&d.recipient_id)
        .bind(&d.token_hash)
        .bind(&d.user_agent)
        .bind(d.created_at.0)
        .bind(d.expires_at.0)
        .bind(d.last_used_at.map(|t| t.0))
        .bind(d.revoked_at.map(|t| t.0))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        insert_event(&mut tx, event).await?;
        tx.commit().await
    }

    async fn device_by_id(&self, id: &str) -> StoreResult<Option<DeviceRow>> {
        let sql = format!("SELECT {DEVICE_COLS} FROM devices WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(rows::device).transpose()
    }

    async fn devices_of_message(&self, message_id: &str) -> StoreResult<Vec<DeviceRow>> {
        let sql = format!(
            "SELECT {DEVICE_COLS} FROM devices WHERE recipient_id IN \
             (SELECT id FROM recipients WHERE message_id = $1) ORDER BY created_at, id"
        );
        let rows = sqlx::query(&sql)
            .bind(message_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(rows::device).collect()
    }

    async fn accept_device(
        &self,
        token_hash: &[u8; 32],
        session: &SessionRow,
        event: &NewEvent,
        now: Ts,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let used = sqlx::query(
            "UPDATE devices SET last_used_at = $1 WHERE token_hash = $2 AND recipient_id = $3 \
             AND revoked_at IS NULL AND expires_at > $1",
        )
        .bind(now.0)
        .bind(&token_hash[..])
        .bind(&session.recipient_id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if used.rows_affected() == 0 {
            tx.rollback().await.map_err(db_err)?;
            return Ok(false);
        }
        let opened = sqlx::query(
            "UPDATE recipients SET \
               status = CASE WHEN status IN ('queued', 'notified', 'failed') THEN 'opened' \
                             ELSE status END \
             WHERE id = $1 AND (locked_until IS NULL OR locked_until < $2) \
             AND blocked_at IS NULL AND status NOT IN ('revoked', 'expired')",
        )
        .bind(&session.recipient_id)
        .bind(now.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if opened.rows_affected() == 0 {
            tx.rollback().await.map_err(db_err)?;
            return Ok(false);
        }
        insert_session(&mut tx, session).await?;
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn revoke_device(&self, id: &str, at: Ts, event: &NewEvent) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let done =
            sqlx::query("UPDATE devices SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(at.0)
                .bind(id)
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
}

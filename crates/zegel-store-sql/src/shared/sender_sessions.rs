// Stamped into zegel-store-sqlite and zegel-store-postgres; see README.
//! [`SenderSessionStore`]: the sender web app's server-side sessions.

use super::prelude::*;

/// Whether a session started at `created` and last seen at `seen` is past `limits` at `now`.
fn past(limits: SessionLimits, now: Ts, created: i64, seen: i64) -> bool {
    now.0 - seen >= limits.idle_ms || now.0 - created >= limits.max_ms
}

#[async_trait]
impl SenderSessionStore for DbStore {
    async fn create_sender_session(
        &self,
        token_hash: &[u8; 32],
        user_id: &str,
        now: Ts,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO sender_sessions (token_hash, user_id, created_at, last_seen_at) \
             VALUES ($1, $2, $3, $3)",
        )
        .bind(&token_hash[..])
        .bind(user_id)
        .bind(now.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await
    }

    async fn sender_session(
        &self,
        token_hash: &[u8; 32],
        now: Ts,
        limits: SessionLimits,
    ) -> StoreResult<Option<(Principal, Ts)>> {
        let row = sqlx::query(PRINCIPAL_BY_SESSION_SQL)
            .bind(&token_hash[..])
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let created: i64 = row.try_get("s_created_at").map_err(db_err)?;
        let seen: i64 = row.try_get("s_last_seen_at").map_err(db_err)?;
        if past(limits, now, created, seen) {
            self.end_sender_session(token_hash).await?;
            return Ok(None);
        }
        let principal = rows::principal(&row)?;
        if now.0 - seen >= SESSION_SEEN_RESOLUTION_MS {
            let mut tx = self.begin().await?;
            sqlx::query(
                "UPDATE sender_sessions SET last_seen_at = $1 \
                 WHERE token_hash = $2 AND last_seen_at < $1",
            )
            .bind(now.0)
            .bind(&token_hash[..])
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            tx.commit().await?;
        }
        Ok(Some((principal, Ts(created))))
    }

    async fn end_sender_session(&self, token_hash: &[u8; 32]) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("DELETE FROM sender_sessions WHERE token_hash = $1")
            .bind(&token_hash[..])
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    async fn end_user_sender_sessions(
        &self,
        user_id: &str,
        keep: Option<&[u8; 32]>,
    ) -> StoreResult<u64> {
        let mut tx = self.begin().await?;
        // An all-zero hash matches no session (hashes are SHA-256 of 256-bit random values).
        let keep = keep.copied().unwrap_or([0u8; 32]);
        let done =
            sqlx::query("DELETE FROM sender_sessions WHERE user_id = $1 AND token_hash <> $2")
                .bind(user_id)
                .bind(&keep[..])
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    async fn prune_sender_sessions(&self, now: Ts, limits: SessionLimits) -> StoreResult<u64> {
        let mut tx = self.begin().await?;
        let done =
            sqlx::query("DELETE FROM sender_sessions WHERE last_seen_at <= $1 OR created_at <= $2")
                .bind(now.0 - limits.idle_ms)
                .bind(now.0 - limits.max_ms)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}

// Stamped into zegel-store-sqlite and zegel-store-postgres; see README.
//! [`ConversationStore`]: replies, forwards and the sender's inbox.

use super::prelude::*;

#[async_trait]
impl ConversationStore for DbStore {
    async fn insert_reply(&self, r: &NewReply) -> StoreResult<ReplyOutcome> {
        let msg = &r.message;
        let (Some(parent_id), Some(recipient_id)) = (&msg.parent_id, &msg.from_recipient_id) else {
            return Err(StoreError::Database(
                "a reply needs parent_id and from_recipient_id".into(),
            ));
        };
        let mut tx = self.begin().await?;
        // Taking the recipient row first serialises concurrent replies (and a concurrent
        // destroy) on PostgreSQL; on SQLite `BEGIN IMMEDIATE` already does.
        let done = sqlx::query(
            "UPDATE recipients SET status = 'replied' \
             WHERE id = $1 AND message_id = $2 AND status NOT IN ('revoked', 'expired') \
             AND EXISTS (SELECT 1 FROM messages WHERE id = $2 AND state = 'active')",
        )
        .bind(recipient_id)
        .bind(parent_id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            tx.rollback().await.map_err(db_err)?;
            return Ok(ReplyOutcome::NotActive);
        }
        if r.once {
            let before: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE from_recipient_id = $1")
                    .bind(recipient_id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_err)?;
            if before > 0 {
                tx.rollback().await.map_err(db_err)?;
                return Ok(ReplyOutcome::AlreadyReplied);
            }
        }
        insert_message_row(&mut tx, msg).await?;
        insert_message_key(&mut tx, &r.key).await?;
        for a in &r.attachments {
            insert_attachment(&mut tx, a).await?;
        }
        insert_event(&mut tx, &r.event).await?;
        insert_job(&mut tx, &r.job, Some(&msg.id)).await?;
        tx.commit().await?;
        Ok(ReplyOutcome::Stored)
    }

    async fn reply_count(&self, recipient_id: &str) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE from_recipient_id = $1")
            .bind(recipient_id)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn insert_forward(&self, f: &NewForward) -> StoreResult<ForwardOutcome> {
        let r = &f.recipient;
        let mut tx = self.begin().await?;
        // Holds the message row (PostgreSQL; SQLite's `BEGIN IMMEDIATE` holds the database):
        // a concurrent destroy or forward waits, so the checks below stay true until commit.
        let active =
            sqlx::query("UPDATE messages SET state = state WHERE id = $1 AND state = 'active'")
                .bind(&r.message_id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        if active.rows_affected() == 0 {
            tx.rollback().await.map_err(db_err)?;
            return Ok(ForwardOutcome::NotActive);
        }
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, COALESCE(MAX(position), -1) + 1 AS next, \
             COALESCE(SUM(CASE WHEN email = $2 THEN 1 ELSE 0 END), 0) AS same \
             FROM recipients WHERE message_id = $1",
        )
        .bind(&r.message_id)
        .bind(&r.email)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        let count: i64 = row.try_get("n").map_err(db_err)?;
        let position: i64 = row.try_get("next").map_err(db_err)?;
        let same: i64 = row.try_get("same").map_err(db_err)?;
        let refused = if same > 0 {
            Some(ForwardOutcome::Duplicate)
        } else if count >= f.max_recipients {
            Some(ForwardOutcome::Full)
        } else {
            None
        };
        if let Some(outcome) = refused {
            tx.rollback().await.map_err(db_err)?;
            return Ok(outcome);
        }
        match insert_recipient(&mut tx, position, r).await {
            Ok(()) => {}
            // The unique index (message, address): the same answer as the check above.
            Err(StoreError::Conflict(_)) => return Ok(ForwardOutcome::Duplicate),
            Err(e) => return Err(e),
        }
        for e in &f.events {
            insert_event(&mut tx, e).await?;
        }
        insert_job(&mut tx, &f.job, Some(&r.message_id)).await?;
        tx.commit().await?;
        Ok(ForwardOutcome::Stored)
    }

    async fn thread_messages(&self, thread_id: &str) -> StoreResult<Vec<MessageRow>> {
        let sql = format!(
            "SELECT {MSG_COLS} FROM messages m WHERE m.thread_id = $1 \
             ORDER BY m.created_at, m.id"
        );
        let rows = sqlx::query(&sql)
            .bind(thread_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(rows::message).collect()
    }

    async fn inbox_replies(
        &self,
        user_id: &str,
        before: Option<Ts>,
        limit_n: u32,
    ) -> StoreResult<Vec<MessageRow>> {
        let sql = format!(
            "SELECT {MSG_COLS} FROM messages m WHERE m.sender_id = $1 AND m.kind = 'reply' \
             AND m.created_at < $2 ORDER BY m.created_at DESC, m.id DESC LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(user_id)
            .bind(before.map_or(i64::MAX, |t| t.0))
            .bind(limit(limit_n))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(rows::message).collect()
    }

    async fn inbox_forwards(
        &self,
        user_id: &str,
        before: Option<Ts>,
        limit_n: u32,
    ) -> StoreResult<Vec<RecipientRow>> {
        let sql = format!(
            "SELECT {REC_COLS} FROM recipients r JOIN messages m ON m.id = r.message_id \
             WHERE m.sender_id = $1 AND r.forwarded_by IS NOT NULL AND r.created_at < $2 \
             ORDER BY r.created_at DESC, r.id DESC LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(user_id)
            .bind(before.map_or(i64::MAX, |t| t.0))
            .bind(limit(limit_n))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(rows::recipient).collect()
    }

    async fn mark_read(&self, message_id: &str, at: Ts) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE messages SET read_at = $1 WHERE id = $2 AND read_at IS NULL")
            .bind(at.0)
            .bind(message_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await
    }
}

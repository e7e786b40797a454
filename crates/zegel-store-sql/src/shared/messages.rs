// Stamped into zegel-store-sqlite and zegel-store-postgres; see README.
//! [`MessageStore`]: messages, their reads and their destruction.

use super::prelude::*;

#[async_trait]
impl MessageStore for DbStore {
    async fn insert_message(&self, m: &NewMessage) -> StoreResult<()> {
        // Differs per backend: SQLite's group commit, PostgreSQL's batched statement.
        per_backend::insert_message(self, m).await
    }

    async fn message_by_id(&self, id: &str) -> StoreResult<Option<MessageRow>> {
        let sql = format!("SELECT {MSG_COLS} FROM messages m WHERE m.id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(rows::message).transpose()
    }

    async fn message_key(&self, message_id: &str) -> StoreResult<Option<MessageKey>> {
        let row = sqlx::query(
            "SELECT message_id, kek_id, wrapped_dek FROM message_keys WHERE message_id = $1",
        )
        .bind(message_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        row.as_ref().map(rows::message_key).transpose()
    }

    async fn list_messages(
        &self,
        sender_id: &str,
        before: Option<Ts>,
        limit_n: u32,
    ) -> StoreResult<Vec<MessageRow>> {
        let sql = format!(
            "SELECT {MSG_COLS} FROM messages m WHERE m.sender_id = $1 AND m.kind = 'message' \
             AND m.hold_expiry_ms IS NULL AND m.created_at < $2 \
             ORDER BY m.created_at DESC, m.id DESC LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(sender_id)
            .bind(before.map_or(i64::MAX, |t| t.0))
            .bind(limit(limit_n))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(rows::message).collect()
    }

    async fn sent_page(
        &self,
        sender_id: &str,
        before: Option<Ts>,
        limit_n: u32,
    ) -> StoreResult<Vec<SentMessage>> {
        let sql = format!(
            "SELECT {MSG_LIST_COLS}, k.kek_id AS k_kek_id, k.wrapped_dek AS k_wrapped_dek, \
             (SELECT COUNT(*) FROM attachments a WHERE a.message_id = m.id) AS attachment_count \
             FROM messages m LEFT JOIN message_keys k ON k.message_id = m.id \
             WHERE m.sender_id = $1 AND m.kind = 'message' \
             AND m.hold_expiry_ms IS NULL AND m.created_at < $2 \
             ORDER BY m.created_at DESC, m.id DESC LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(sender_id)
            .bind(before.map_or(i64::MAX, |t| t.0))
            .bind(limit(limit_n))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(rows::sent).collect()
    }

    async fn recipients_of_messages(
        &self,
        message_ids: &[String],
    ) -> StoreResult<Vec<RecipientRow>> {
        if message_ids.is_empty() {
            return Ok(Vec::new());
        }
        // Differs per backend: how a list of ids is bound (`db::IN_LIST`).
        let sql = format!(
            "SELECT {REC_COLS} FROM recipients r WHERE r.message_id {} \
             ORDER BY r.position, r.id",
            db::IN_LIST
        );
        let rows = sqlx::query(&sql)
            .bind(db::list(message_ids)?)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        let mut recipients = rows
            .iter()
            .map(rows::recipient)
            .collect::<StoreResult<Vec<_>>>()?;
        // Grouped by message in the caller's order; the sort is stable, so each message's
        // recipients stay in insertion order.
        let order: std::collections::HashMap<&str, usize> = message_ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i))
            .collect();
        recipients.sort_by_key(|r| order.get(r.message_id.as_str()).copied());
        Ok(recipients)
    }

    async fn recipients_of(&self, message_id: &str) -> StoreResult<Vec<RecipientRow>> {
        let sql = format!(
            "SELECT {REC_COLS} FROM recipients r WHERE r.message_id = $1 \
             ORDER BY r.position, r.id"
        );
        let rows = sqlx::query(&sql)
            .bind(message_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(rows::recipient).collect()
    }

    async fn recipient_by_id(&self, id: &str) -> StoreResult<Option<RecipientRow>> {
        let sql = format!("SELECT {REC_COLS} FROM recipients r WHERE r.id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(rows::recipient).transpose()
    }

    async fn attachments_of(&self, message_id: &str) -> StoreResult<Vec<AttachmentRow>> {
        let sql = format!(
            "SELECT {ATTACHMENT_COLS} FROM attachments WHERE message_id = $1 ORDER BY position, id"
        );
        let rows = sqlx::query(&sql)
            .bind(message_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(rows::attachment).collect()
    }

    async fn events_of(&self, message_id: &str) -> StoreResult<Vec<Event>> {
        let sql = format!("SELECT {EVENT_COLS} FROM events WHERE message_id = $1 ORDER BY id");
        let rows = sqlx::query(&sql)
            .bind(message_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(rows::event).collect()
    }

    async fn destroy_message(
        &self,
        message_id: &str,
        state: MessageState,
        at: Ts,
        actor: &str,
    ) -> StoreResult<bool> {
        self.destroy(message_id, state, at, actor, false).await
    }

    async fn expire_message(&self, message_id: &str, at: Ts) -> StoreResult<bool> {
        self.destroy(message_id, MessageState::Expired, at, "system", true)
            .await
    }

    async fn expired_message_ids(&self, now: Ts, limit_n: u32) -> StoreResult<Vec<String>> {
        sqlx::query_scalar(
            "SELECT id FROM messages WHERE state = 'active' AND expires_at <= $1 \
             ORDER BY expires_at, id LIMIT $2",
        )
        .bind(now.0)
        .bind(limit(limit_n))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn blobs_to_delete(&self, limit_n: u32) -> StoreResult<Vec<BlobToDelete>> {
        // Differs per backend: the text must match the backend's partial index word for word.
        let rows = sqlx::query(db::BLOBS_TO_DELETE_SQL)
            .bind(limit(limit_n))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(BlobToDelete {
                    attachment_id: r.try_get("id").map_err(db_err)?,
                    blob_key: r.try_get("blob_key").map_err(db_err)?,
                })
            })
            .collect()
    }

    async fn blob_deleted(&self, attachment_id: &str) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE attachments SET blob_pending_delete = FALSE WHERE id = $1")
            .bind(attachment_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await
    }
}

impl DbStore {
    /// `destroy_message`; `due_only`: only while `expires_at <= at` (`expire_message`).
    async fn destroy(
        &self,
        message_id: &str,
        state: MessageState,
        at: Ts,
        actor: &str,
        due_only: bool,
    ) -> StoreResult<bool> {
        let (state, status, kind) = match state {
            MessageState::Revoked => ("revoked", "revoked", "revoked"),
            MessageState::Expired => ("expired", "expired", "expired"),
            MessageState::Active => {
                return Err(StoreError::Database(
                    "destroy_message needs state revoked or expired".into(),
                ))
            }
        };
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            &format!(
                "UPDATE messages SET state = $1, destroyed_at = $2, subject_ct = NULL, body_ct = NULL, \
                 html_ct = NULL WHERE id = $3 AND state = 'active'{}",
                if due_only { " AND expires_at <= $2" } else { "" }
            ),
        )
        .bind(state)
        .bind(at.0)
        .bind(message_id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            tx.rollback().await.map_err(db_err)?;
            return Ok(false);
        }
        // Crypto-shredding: without this row the content is unrecoverable.
        sqlx::query("DELETE FROM message_keys WHERE message_id = $1")
            .bind(message_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query(
            "DELETE FROM sessions WHERE recipient_id IN \
             (SELECT id FROM recipients WHERE message_id = $1)",
        )
        .bind(message_id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query(
            "DELETE FROM devices WHERE recipient_id IN \
             (SELECT id FROM recipients WHERE message_id = $1)",
        )
        .bind(message_id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query("DELETE FROM jobs WHERE message_id = $1 AND dead = FALSE")
            .bind(message_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query(
            "UPDATE recipients SET status = $1, code_hint_ct = NULL, note_ct = NULL, code_mac = NULL, \
             code_expires_at = NULL WHERE message_id = $2",
        )
        .bind(status)
        .bind(message_id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query(
            "INSERT INTO events (message_id, recipient_id, kind, at, actor) \
             SELECT message_id, id, $1, $2, $3 FROM recipients WHERE message_id = $4 \
             ORDER BY position, id",
        )
        .bind(kind)
        .bind(at.0)
        .bind(actor)
        .bind(message_id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query(
            "UPDATE attachments SET meta_ct = NULL, blob_pending_delete = TRUE \
             WHERE message_id = $1",
        )
        .bind(message_id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        destroy_replies(&mut tx, message_id, (state, kind), at, actor).await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// Destroys the active replies of message `parent_id` with it (they quote its subject as
/// "Re: ..."): their keys, subject, body and attachment meta, state, pending jobs; their blobs
/// are queued for deletion; one event per reply on the parent, for the recipient who wrote it.
async fn destroy_replies(
    conn: &mut db::Conn,
    parent_id: &str,
    (state, kind): (&str, &str),
    at: Ts,
    actor: &str,
) -> StoreResult<()> {
    let replies = sqlx::query(
        "UPDATE messages SET state = $1, destroyed_at = $2, subject_ct = NULL, body_ct = NULL, html_ct = NULL \
         WHERE parent_id = $3 AND kind = 'reply' AND state = 'active' \
         RETURNING id, from_recipient_id",
    )
    .bind(state)
    .bind(at.0)
    .bind(parent_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    if replies.is_empty() {
        return Ok(());
    }
    let mut ids = Vec::with_capacity(replies.len());
    for r in &replies {
        let id: String = r.try_get("id").map_err(db_err)?;
        let from: Option<String> = r.try_get("from_recipient_id").map_err(db_err)?;
        ids.push(id.clone());
        let event = NewEvent {
            message_id: parent_id.to_owned(),
            recipient_id: from,
            kind: EventKind::parse(kind)
                .ok_or_else(|| StoreError::Database(format!("unknown event kind {kind}")))?,
            at,
            actor: actor.to_owned(),
            ip: None,
            user_agent: None,
            detail: Some(id),
        };
        insert_event(&mut *conn, &event).await?;
    }
    // Differs per backend: how a list of ids is bound (`db::IN_LIST`).
    let list = db::list(&ids)?;
    for sql in [
        "DELETE FROM message_keys WHERE message_id {}",
        "DELETE FROM jobs WHERE dead = FALSE AND message_id {}",
        "UPDATE attachments SET meta_ct = NULL, blob_pending_delete = TRUE WHERE message_id {}",
    ] {
        sqlx::query(&sql.replace("{}", db::IN_LIST))
            .bind(list.clone())
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
    }
    Ok(())
}

// Stamped into zegel-store-sqlite and zegel-store-postgres; see README.
//! Following sent messages (`TrackingStore`): the filtered sent list, recipients with their
//! downloads, a recipient's new link, a longer life.

use super::prelude::*;

/// `r` downloaded an attachment (an event `downloaded`; `events_message_id` finds it).
const DOWNLOADED: &str = "EXISTS (SELECT 1 FROM events e WHERE e.message_id = r.message_id \
     AND e.recipient_id = r.id AND e.kind = 'downloaded')";

/// The `WHERE` conditions of a filtered sent page after `m.sender_id = $1`, numbering its
/// binds from `$2`, and the binds in order.
fn sent_filter(q: &SentQuery) -> (String, Vec<Bind>) {
    let mut sql = String::new();
    let mut binds = Vec::new();
    if let Some((at, id)) = &q.before {
        let t = next(Bind::Int(at.0), &mut binds);
        match id {
            Some(id) => {
                let t2 = next(Bind::Int(at.0), &mut binds);
                let i = next(Bind::Text(id.clone()), &mut binds);
                sql.push_str(&format!(
                    " AND (m.created_at < {t} OR (m.created_at = {t2} AND m.id < {i}))"
                ));
            }
            None => sql.push_str(&format!(" AND m.created_at < {t}")),
        }
    }
    if let Some((at, id)) = &q.after {
        let t = next(Bind::Int(at.0), &mut binds);
        let t2 = next(Bind::Int(at.0), &mut binds);
        let i = next(Bind::Text(id.clone()), &mut binds);
        sql.push_str(&format!(
            " AND (m.created_at > {t} OR (m.created_at = {t2} AND m.id > {i}))"
        ));
    }
    if q.recipient.is_some() || q.status.is_some() {
        // An address is selective: its messages come from `recipients_email` (`IN`), the few
        // rows then sorted. A status alone is often not (most recipients are `notified`): the
        // sender's messages are walked newest first and each checked (`EXISTS`), which stops
        // after one page.
        if let Some(email) = &q.recipient {
            let e = next(Bind::Text(email.clone()), &mut binds);
            sql.push_str(&format!(
                " AND m.id IN (SELECT r.message_id FROM recipients r WHERE r.email = {e}"
            ));
        } else {
            sql.push_str(" AND EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = m.id");
        }
        if let Some(status) = q.status {
            let s = next(Bind::Text(status.stored().as_str().to_owned()), &mut binds);
            sql.push_str(&format!(" AND r.status = {s}"));
            match status {
                ShownStatus::Downloaded => sql.push_str(&format!(" AND {DOWNLOADED}")),
                ShownStatus::Opened => sql.push_str(&format!(" AND NOT {DOWNLOADED}")),
                // Both stored as `notified`; a direct delivery has `direct_at`.
                ShownStatus::Delivered => sql.push_str(" AND r.direct_at IS NOT NULL"),
                ShownStatus::Notified => sql.push_str(" AND r.direct_at IS NULL"),
                _ => {}
            }
        }
        sql.push(')');
    }
    (sql, binds)
}

/// Adds a bind; its placeholder (`$1` is the sender).
fn next(b: Bind, binds: &mut Vec<Bind>) -> String {
    binds.push(b);
    format!("${}", binds.len() + 1)
}

/// A bind of a dynamically built statement.
enum Bind {
    Int(i64),
    Text(String),
}

#[async_trait]
impl TrackingStore for DbStore {
    async fn sent_page_filtered(
        &self,
        sender_id: &str,
        q: &SentQuery,
        limit_n: u32,
    ) -> StoreResult<Vec<SentMessage>> {
        let (filter, binds) = sent_filter(q);
        let sql = format!(
            "SELECT {MSG_LIST_COLS}, k.kek_id AS k_kek_id, k.wrapped_dek AS k_wrapped_dek, \
             (SELECT COUNT(*) FROM attachments a WHERE a.message_id = m.id) AS attachment_count \
             FROM messages m LEFT JOIN message_keys k ON k.message_id = m.id \
             WHERE m.sender_id = $1 AND m.kind = 'message'{filter} \
             ORDER BY m.created_at {dir}, m.id {dir} LIMIT ${}",
            binds.len() + 2,
            dir = if q.after.is_some() { "ASC" } else { "DESC" },
        );
        let mut query = sqlx::query(&sql).bind(sender_id);
        for b in binds {
            query = match b {
                Bind::Int(i) => query.bind(i),
                Bind::Text(t) => query.bind(t),
            };
        }
        let rows = query
            .bind(limit(limit_n))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        let mut page = rows
            .iter()
            .map(rows::sent)
            .collect::<StoreResult<Vec<_>>>()?;
        if q.after.is_some() {
            page.reverse();
        }
        Ok(page)
    }

    async fn recipients_tracked(
        &self,
        message_ids: &[String],
    ) -> StoreResult<Vec<TrackedRecipient>> {
        if message_ids.is_empty() {
            return Ok(Vec::new());
        }
        // Differs per backend: how a list of ids is bound (`db::IN_LIST`).
        let sql = format!(
            "SELECT {REC_COLS}, {DOWNLOADED} AS downloaded FROM recipients r \
             WHERE r.message_id {} ORDER BY r.position, r.id",
            db::IN_LIST
        );
        let rows = sqlx::query(&sql)
            .bind(db::list(message_ids)?)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        let mut out = rows
            .iter()
            .map(|row| {
                Ok(TrackedRecipient {
                    recipient: rows::recipient(row)?,
                    downloaded: row.try_get("downloaded").map_err(db_err)?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let order: std::collections::HashMap<&str, usize> = message_ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i))
            .collect();
        out.sort_by_key(|t| order.get(t.recipient.message_id.as_str()).copied());
        Ok(out)
    }

    async fn renew_link(
        &self,
        recipient_id: &str,
        link_hash: &[u8; 32],
        job: &NewJob,
        event: &NewEvent,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        // Holds the message row (PostgreSQL; SQLite's `BEGIN IMMEDIATE` holds the database):
        // a concurrent revoke waits, so the message stays active until commit.
        let active = sqlx::query(
            "UPDATE messages SET state = state WHERE state = 'active' \
             AND id = (SELECT message_id FROM recipients WHERE id = $1)",
        )
        .bind(recipient_id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if active.rows_affected() == 0 {
            tx.rollback().await.map_err(db_err)?;
            return Ok(false);
        }
        // A recipient whose notification failed is queued again for the new one.
        sqlx::query(
            "UPDATE recipients SET link_hash = $1, \
             failed_reason = CASE WHEN status = 'failed' THEN NULL ELSE failed_reason END, \
             status = CASE WHEN status = 'failed' THEN 'queued' ELSE status END WHERE id = $2",
        )
        .bind(&link_hash[..])
        .bind(recipient_id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query("DELETE FROM sessions WHERE recipient_id = $1")
            .bind(recipient_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        insert_job(&mut tx, job, Some(&event.message_id)).await?;
        insert_event(&mut tx, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn extend_message(
        &self,
        message_id: &str,
        expires_at: Ts,
        events: &[NewEvent],
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let done =
            sqlx::query("UPDATE messages SET expires_at = $1 WHERE id = $2 AND state = 'active'")
                .bind(expires_at.0)
                .bind(message_id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        if done.rows_affected() == 0 {
            tx.rollback().await.map_err(db_err)?;
            return Ok(false);
        }
        for e in events {
            insert_event(&mut tx, e).await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}

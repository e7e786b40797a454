//! `impl Store for PgStore`: every unit of work is one transaction (READ COMMITTED); rows are
//! claimed with conditional updates and row locks, jobs with `FOR UPDATE SKIP LOCKED`.

use crate::rows::{self, *};
use crate::{db_err, payload_message_id, PgStore};
use async_trait::async_trait;
use sqlx::{PgConnection, Row};
use zegel_core::model::*;
use zegel_core::{Store, StoreError, StoreResult};

/// Statuses a recipient may leave through `record_event`.
const MUTABLE_STATUSES: &str = "('queued', 'notified', 'failed', 'opened')";

/// Claims due jobs. The CTE runs once (a CTE with FOR UPDATE is never inlined); rows another
/// claimer holds are skipped, and a row another claimer has just committed is re-checked
/// against the lease condition before it is locked.
const CLAIM_SQL: &str = "WITH due AS (SELECT id FROM jobs WHERE dead = FALSE AND run_at <= $2 \
                          AND (locked_until IS NULL OR locked_until <= $2) \
                          ORDER BY run_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) \
             UPDATE jobs SET locked_until = $1, attempts = jobs.attempts + 1 \
             FROM due WHERE jobs.id = due.id \
             RETURNING jobs.id, jobs.kind, jobs.payload, jobs.attempts, jobs.max_attempts, \
                       jobs.created_at, jobs.run_at";

fn limit(n: u32) -> i64 {
    i64::from(n)
}

async fn insert_event(conn: &mut PgConnection, e: &NewEvent) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO events (message_id, recipient_id, kind, at, actor, ip, user_agent, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&e.message_id)
    .bind(&e.recipient_id)
    .bind(e.kind.as_str())
    .bind(e.at.0)
    .bind(&e.actor)
    .bind(&e.ip)
    .bind(&e.user_agent)
    .bind(&e.detail)
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

/// Inserts a job; its `message_id` column comes from the payload, else `fallback`.
async fn insert_job(
    conn: &mut PgConnection,
    job: &NewJob,
    fallback_message_id: Option<&str>,
) -> StoreResult<i64> {
    // The caller knows the message of every job but `enqueue_job`'s; only then read the payload.
    let message_id = match fallback_message_id {
        Some(m) => Some(m.to_owned()),
        None => payload_message_id(&job.payload),
    };
    sqlx::query_scalar(
        "INSERT INTO jobs (kind, payload, message_id, run_at, attempts, max_attempts, dead, \
         created_at) VALUES ($1, $2, $3, $4, 0, $5, FALSE, $6) RETURNING id",
    )
    .bind(job.kind.as_str())
    .bind(&job.payload)
    .bind(message_id)
    .bind(job.run_at.0)
    .bind(job.max_attempts)
    .bind(Ts::now().0)
    .fetch_one(conn)
    .await
    .map_err(db_err)
}

async fn recipient_exists(conn: &mut PgConnection, id: &str) -> StoreResult<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM recipients WHERE id = $1)")
        .bind(id)
        .fetch_one(conn)
        .await
        .map_err(db_err)
}

async fn insert_message_row(conn: &mut PgConnection, msg: &MessageRow) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO messages (id, org_id, sender_id, subject_ct, body_ct, alg, reply_policy, \
         state, created_at, expires_at, destroyed_at, kind, thread_id, parent_id, \
         from_recipient_id, read_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(&msg.id)
    .bind(&msg.org_id)
    .bind(&msg.sender_id)
    .bind(&msg.subject_ct)
    .bind(&msg.body_ct)
    .bind(&msg.alg)
    .bind(msg.reply_policy.as_str())
    .bind(msg.state.as_str())
    .bind(msg.created_at.0)
    .bind(msg.expires_at.0)
    .bind(msg.destroyed_at.map(|t| t.0))
    .bind(msg.kind.as_str())
    .bind(&msg.thread_id)
    .bind(&msg.parent_id)
    .bind(&msg.from_recipient_id)
    .bind(msg.read_at.map(|t| t.0))
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

async fn insert_message_key(conn: &mut PgConnection, key: &MessageKey) -> StoreResult<()> {
    sqlx::query("INSERT INTO message_keys (message_id, kek_id, wrapped_dek) VALUES ($1, $2, $3)")
        .bind(&key.message_id)
        .bind(&key.kek_id)
        .bind(&key.wrapped_dek)
        .execute(conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

async fn insert_recipient(
    conn: &mut PgConnection,
    position: i64,
    r: &RecipientRow,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO recipients (id, message_id, position, email, phone, verification, \
         code_hint_ct, link_hash, status, failed_reason, code_mac, code_expires_at, \
         failed_attempts, locked_until, language, notified_at, created_at, forwarded_by, \
         note_ct) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
         $18, $19)",
    )
    .bind(&r.id)
    .bind(&r.message_id)
    .bind(position)
    .bind(&r.email)
    .bind(&r.phone)
    .bind(r.verification.as_str())
    .bind(&r.code_hint_ct)
    .bind(&r.link_hash)
    .bind(r.status.as_str())
    .bind(&r.failed_reason)
    .bind(&r.code_mac)
    .bind(r.code_expires_at.map(|t| t.0))
    .bind(r.failed_attempts)
    .bind(r.locked_until.map(|t| t.0))
    .bind(r.language.as_str())
    .bind(r.notified_at.map(|t| t.0))
    .bind(r.created_at.0)
    .bind(&r.forwarded_by)
    .bind(&r.note_ct)
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

async fn insert_attachment(conn: &mut PgConnection, a: &AttachmentRow) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO attachments (id, message_id, position, blob_key, meta_ct, size, alg, \
         created_at, blob_pending_delete) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, FALSE)",
    )
    .bind(&a.id)
    .bind(&a.message_id)
    .bind(a.position)
    .bind(&a.blob_key)
    .bind(&a.meta_ct)
    .bind(a.size)
    .bind(&a.alg)
    .bind(a.created_at.0)
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

async fn insert_session(conn: &mut PgConnection, session: &SessionRow) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO sessions (token_hash, recipient_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(&session.token_hash)
    .bind(&session.recipient_id)
    .bind(session.created_at.0)
    .bind(session.expires_at.0)
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn migrate(&self) -> StoreResult<()> {
        sqlx::migrate!("./migrations")
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Database(format!("migration: {e}")))
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    // ---- server metadata ----

    async fn meta_get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn meta_init(&self, key: &str, value: &[u8]) -> StoreResult<Vec<u8>> {
        let mut tx = self.begin().await?;
        sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let stored: Vec<u8> = sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(stored)
    }

    // ---- organisations, keys, users, tokens ----

    async fn create_org(&self, org: &Organisation, key: &OrgKey) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO organisations (id, slug, name, active_kek_id, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&org.id)
        .bind(&org.slug)
        .bind(&org.name)
        .bind(&org.active_kek_id)
        .bind(org.created_at.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query(
            "INSERT INTO org_keys (id, org_id, wrapped, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&key.id)
        .bind(&key.org_id)
        .bind(&key.wrapped)
        .bind(key.created_at.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn org_by_id(&self, id: &str) -> StoreResult<Option<Organisation>> {
        let sql = format!("SELECT {ORG_COLS} FROM organisations WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(rows::org).transpose()
    }

    async fn org_by_slug(&self, slug: &str) -> StoreResult<Option<Organisation>> {
        let sql = format!("SELECT {ORG_COLS} FROM organisations WHERE slug = $1");
        let row = sqlx::query(&sql)
            .bind(slug)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(rows::org).transpose()
    }

    async fn list_orgs(&self) -> StoreResult<Vec<Organisation>> {
        let sql = format!("SELECT {ORG_COLS} FROM organisations ORDER BY created_at, id");
        let rows = sqlx::query(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(rows::org).collect()
    }

    async fn org_key(&self, kek_id: &str) -> StoreResult<Option<OrgKey>> {
        let row = sqlx::query("SELECT id, org_id, wrapped, created_at FROM org_keys WHERE id = $1")
            .bind(kek_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(rows::org_key).transpose()
    }

    async fn create_user(&self, user: &User) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO users (id, org_id, email, name, password_hash, role, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&user.id)
        .bind(&user.org_id)
        .bind(&user.email)
        .bind(&user.name)
        .bind(&user.password_hash)
        .bind(user.role.as_str())
        .bind(user.created_at.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(rows::user).transpose()
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE email = $1");
        let row = sqlx::query(&sql)
            .bind(email)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(rows::user).transpose()
    }

    async fn list_users(&self, org_id: &str) -> StoreResult<Vec<User>> {
        let sql =
            format!("SELECT {USER_COLS} FROM users WHERE org_id = $1 ORDER BY created_at, id");
        let rows = sqlx::query(&sql)
            .bind(org_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(rows::user).collect()
    }

    async fn create_api_token(&self, token: &NewApiToken) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO api_tokens (id, user_id, token_hash, label, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&token.id)
        .bind(&token.user_id)
        .bind(&token.token_hash[..])
        .bind(&token.label)
        .bind(token.created_at.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn principal_by_token_hash(
        &self,
        hash: &[u8; 32],
        now: Ts,
    ) -> StoreResult<Option<Principal>> {
        let row = sqlx::query(rows::PRINCIPAL_BY_TOKEN_SQL)
            .bind(&hash[..])
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let principal = rows::principal(&row)?;
        let last_used: Option<i64> = row.try_get("last_used_at").map_err(db_err)?;
        let stale_before = now.0 - zegel_core::store::LAST_USED_RESOLUTION_MS;
        if last_used.is_none_or(|t| t <= stale_before) {
            // One statement: its own transaction, on a bookkeeping connection.
            sqlx::query(
                "UPDATE api_tokens SET last_used_at = $1 WHERE token_hash = $2 \
                 AND (last_used_at IS NULL OR last_used_at <= $3)",
            )
            .bind(now.0)
            .bind(&hash[..])
            .bind(stale_before)
            .execute(&self.relaxed)
            .await
            .map_err(db_err)?;
        }
        Ok(Some(principal))
    }

    // ---- messages ----

    async fn insert_message(&self, m: &NewMessage) -> StoreResult<()> {
        // With whatever other messages are waiting, in one statement and one commit.
        self.inserter.submit(std::sync::Arc::new(m.clone())).await
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
             AND m.created_at < $2 ORDER BY m.created_at DESC, m.id DESC LIMIT $3"
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
            "UPDATE messages SET state = $1, destroyed_at = $2, subject_ct = NULL, body_ct = NULL \
             WHERE id = $3 AND state = 'active'",
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
        tx.commit().await.map_err(db_err)?;
        Ok(true)
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
        let rows = sqlx::query(
            "SELECT id, blob_key FROM attachments WHERE blob_pending_delete = TRUE \
             ORDER BY created_at, id LIMIT $1",
        )
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
        tx.commit().await.map_err(db_err)
    }

    // ---- recipient access ----

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

    // ---- conversations ----

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
        tx.commit().await.map_err(db_err)?;
        Ok(ReplyOutcome::Stored)
    }

    async fn reply_count(&self, recipient_id: &str) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE from_recipient_id = $1")
            .bind(recipient_id)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn insert_forward(&self, f: &NewForward) -> StoreResult<bool> {
        let r = &f.recipient;
        let mut tx = self.begin().await?;
        // Locks the message row against a concurrent destroy (PostgreSQL).
        let active =
            sqlx::query("UPDATE messages SET state = state WHERE id = $1 AND state = 'active'")
                .bind(&r.message_id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        if active.rows_affected() == 0 {
            tx.rollback().await.map_err(db_err)?;
            return Ok(false);
        }
        let position: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(position), -1) + 1 FROM recipients WHERE message_id = $1",
        )
        .bind(&r.message_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        insert_recipient(&mut tx, position, r).await?;
        for e in &f.events {
            insert_event(&mut tx, e).await?;
        }
        insert_job(&mut tx, &f.job, Some(&r.message_id)).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
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
        tx.commit().await.map_err(db_err)
    }

    // ---- organisation policy ----

    async fn org_policy(&self, org_id: &str) -> StoreResult<Option<OrgPolicy>> {
        let row = sqlx::query(
            "SELECT reply_default, reply_locked, forward_allowed, device_days, contact, \
             (logo IS NOT NULL) AS has_logo FROM organisations WHERE id = $1",
        )
        .bind(org_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        row.as_ref().map(rows::org_policy).transpose()
    }

    async fn set_org_policy(&self, org_id: &str, p: &OrgPolicy) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE organisations SET reply_default = $1, reply_locked = $2, \
             forward_allowed = $3, device_days = $4, contact = $5 WHERE id = $6",
        )
        .bind(p.reply_default.as_str())
        .bind(p.reply_locked)
        .bind(p.forward_allowed)
        .bind(p.device_days)
        .bind(&p.contact)
        .bind(org_id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn org_logo(&self, org_id: &str) -> StoreResult<Option<(Vec<u8>, String)>> {
        let row = sqlx::query(
            "SELECT logo, logo_type FROM organisations \
             WHERE id = $1 AND logo IS NOT NULL AND logo_type IS NOT NULL",
        )
        .bind(org_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        match row {
            Some(r) => Ok(Some((
                r.try_get("logo").map_err(db_err)?,
                r.try_get("logo_type").map_err(db_err)?,
            ))),
            None => Ok(None),
        }
    }

    async fn set_org_logo(&self, org_id: &str, logo: Option<(&[u8], &str)>) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("UPDATE organisations SET logo = $1, logo_type = $2 WHERE id = $3")
            .bind(logo.map(|(b, _)| b))
            .bind(logo.map(|(_, t)| t))
            .bind(org_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    // ---- remembered devices ----

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
        tx.commit().await.map_err(db_err)
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
             AND status NOT IN ('revoked', 'expired')",
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
        tx.commit().await.map_err(db_err)?;
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
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    // ---- jobs ----

    async fn enqueue_job(&self, job: &NewJob) -> StoreResult<i64> {
        let mut tx = self.begin().await?;
        let id = insert_job(&mut tx, job, None).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(id)
    }

    async fn claim_jobs(&self, now: Ts, lease_ms: i64, max: u32) -> StoreResult<Vec<Job>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        // One statement (its own transaction), on a bookkeeping connection.
        let rows = sqlx::query(CLAIM_SQL)
            .bind(now.plus_millis(lease_ms).0)
            .bind(now.0)
            .bind(limit(max))
            .fetch_all(&self.relaxed)
            .await
            .map_err(db_err)?;
        let mut jobs = rows
            .iter()
            .map(rows::job)
            .collect::<StoreResult<Vec<_>>>()?;
        jobs.sort_by_key(|(run_at, job)| (*run_at, job.id));
        Ok(jobs.into_iter().map(|(_, job)| job).collect())
    }

    async fn complete_job(&self, id: i64) -> StoreResult<()> {
        sqlx::query("DELETE FROM jobs WHERE id = $1")
            .bind(id)
            .execute(&self.relaxed)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn retry_job(&self, id: i64, run_at: Ts, error: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE jobs SET run_at = $2, locked_until = NULL, last_error = $3 WHERE id = $1",
        )
        .bind(id)
        .bind(run_at.0)
        .bind(error)
        .execute(&self.relaxed)
        .await
        .map_err(db_err)?;
        Ok(())
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
        tx.commit().await.map_err(db_err)
    }

    async fn mark_notified(
        &self,
        recipient_id: &str,
        event: &NewEvent,
        job: Option<i64>,
    ) -> StoreResult<()> {
        // With whatever other marks are waiting, in one statement (atomic on its own): the
        // event and the job's end happen only when the recipient row was there.
        self.marker
            .submit(crate::marks::Mark {
                recipient_id: recipient_id.to_owned(),
                event: event.clone(),
                job,
            })
            .await
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
        tx.commit().await.map_err(db_err)
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

impl PgStore {
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

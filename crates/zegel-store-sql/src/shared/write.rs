// Stamped into zegel-store-sqlite and zegel-store-postgres; see README.
//! The row writes that several units of work share, each on a connection inside the
//! caller's transaction.

use crate::db::{db_err, Conn};
use zegel_core::model::*;
use zegel_core::StoreResult;
use zegel_store_sql::payload_message_id;

pub(crate) async fn insert_event(conn: &mut Conn, e: &NewEvent) -> StoreResult<()> {
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
pub(crate) async fn insert_job(
    conn: &mut Conn,
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

pub(crate) async fn recipient_exists(conn: &mut Conn, id: &str) -> StoreResult<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM recipients WHERE id = $1)")
        .bind(id)
        .fetch_one(conn)
        .await
        .map_err(db_err)
}

pub(crate) async fn insert_message_row(conn: &mut Conn, msg: &MessageRow) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO messages (id, org_id, sender_id, subject_ct, body_ct, alg, reply_policy, \
         state, created_at, expires_at, destroyed_at, kind, thread_id, parent_id, \
         from_recipient_id, read_at, from_address, html_ct, from_verified) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
         $19)",
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
    .bind(&msg.from_address)
    .bind(&msg.html_ct)
    .bind(msg.from_verified)
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

pub(crate) async fn insert_message_key(conn: &mut Conn, key: &MessageKey) -> StoreResult<()> {
    sqlx::query("INSERT INTO message_keys (message_id, kek_id, wrapped_dek) VALUES ($1, $2, $3)")
        .bind(&key.message_id)
        .bind(&key.kek_id)
        .bind(&key.wrapped_dek)
        .execute(conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

pub(crate) async fn insert_recipient(
    conn: &mut Conn,
    position: i64,
    r: &RecipientRow,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO recipients (id, message_id, position, email, phone, verification, \
         code_hint_ct, link_hash, status, failed_reason, code_mac, code_expires_at, \
         failed_attempts, locked_until, language, notified_at, created_at, forwarded_by, \
         note_ct, wrong_total, blocked_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
         $18, $19, $20, $21)",
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
    .bind(r.wrong_total)
    .bind(r.blocked_at.map(|t| t.0))
    .execute(conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

pub(crate) async fn insert_attachment(conn: &mut Conn, a: &AttachmentRow) -> StoreResult<()> {
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

pub(crate) async fn insert_session(conn: &mut Conn, session: &SessionRow) -> StoreResult<()> {
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

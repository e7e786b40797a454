// Stamped into zegel-store-sqlite and zegel-store-postgres; see README.
//! The row writes that several units of work share, each on a connection inside the
//! caller's transaction.
//!
//! Each write is its statement (`*_SQL`) and a function that binds its values in order
//! (`bind_*`), so a backend can also send several of them to the database at once (SQLite's
//! group commit, `Multi` in zegel-store-sqlite).

use crate::db::{db_err, Conn, Db};
use zegel_core::model::*;
use zegel_core::StoreResult;
use zegel_store_sql::payload_message_id;

/// What a write's values are bound to, in order: one statement (`sqlx::query`), or several
/// sent as one.
pub(crate) trait Binds<'q>: Sized {
    /// Binds the next value.
    fn bind<T>(self, value: T) -> Self
    where
        T: 'q + sqlx::Encode<'q, Db> + sqlx::Type<Db> + Send;
}

/// Several statements, each followed by its values, sent to the database as one.
// Only SQLite takes several statements with values at once (zegel-store-sqlite's `Multi`).
#[allow(dead_code)]
pub(crate) trait Statements<'q>: Binds<'q> {
    /// Adds the next statement; its values follow with [`Binds::bind`].
    fn statement(self, sql: &'static str) -> Self;
}

impl<'q> Binds<'q> for sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments<'q>> {
    fn bind<T>(self, value: T) -> Self
    where
        T: 'q + sqlx::Encode<'q, Db> + sqlx::Type<Db> + Send,
    {
        sqlx::query::Query::bind(self, value)
    }
}

impl<'q, O> Binds<'q>
    for sqlx::query::QueryScalar<'q, Db, O, <Db as sqlx::Database>::Arguments<'q>>
{
    fn bind<T>(self, value: T) -> Self
    where
        T: 'q + sqlx::Encode<'q, Db> + sqlx::Type<Db> + Send,
    {
        sqlx::query::QueryScalar::bind(self, value)
    }
}

/// `INSERT INTO events (...)` with the columns [`bind_event`] binds, followed by `$rest` (the
/// values, or a `SELECT` of them).
macro_rules! insert_event_sql {
    ($rest:literal) => {
        concat!(
            "INSERT INTO events (message_id, recipient_id, kind, at, actor, ip, user_agent, \
             detail) ",
            $rest
        )
    };
}
// Also used by SQLite's mark of a sent notification (its event only when the recipient exists).
#[allow(unused_imports)]
pub(crate) use insert_event_sql;

pub(crate) const INSERT_EVENT_SQL: &str =
    insert_event_sql!("VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");

pub(crate) fn bind_event<'q, B: Binds<'q>>(q: B, e: &'q NewEvent) -> B {
    q.bind(&e.message_id)
        .bind(&e.recipient_id)
        .bind(e.kind.as_str())
        .bind(e.at.0)
        .bind(&e.actor)
        .bind(&e.ip)
        .bind(&e.user_agent)
        .bind(&e.detail)
}

pub(crate) async fn insert_event(conn: &mut Conn, e: &NewEvent) -> StoreResult<()> {
    bind_event(sqlx::query(INSERT_EVENT_SQL), e)
        .execute(conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// `INSERT INTO jobs` with the values [`bind_job`] binds, followed by `$rest`.
macro_rules! insert_job_sql {
    ($rest:literal) => {
        concat!(
            "INSERT INTO jobs (kind, payload, message_id, run_at, attempts, max_attempts, dead, \
             created_at) VALUES ($1, $2, $3, $4, 0, $5, FALSE, $6)",
            $rest
        )
    };
}

/// A job's insert, without `RETURNING` (for [`insert_job`], which wants the id, see
/// [`INSERT_JOB_RETURNING_SQL`]).
// Used by SQLite's insert of a new message (zegel-store-sqlite's `Multi`).
#[allow(dead_code)]
pub(crate) const INSERT_JOB_SQL: &str = insert_job_sql!("");
const INSERT_JOB_RETURNING_SQL: &str = insert_job_sql!(" RETURNING id");

/// A job's values; its `message_id` column comes from the payload, else `fallback`.
pub(crate) fn bind_job<'q, B: Binds<'q>>(
    q: B,
    job: &'q NewJob,
    fallback_message_id: Option<&str>,
) -> B {
    // The caller knows the message of every job but `enqueue_job`'s; only then read the payload.
    let message_id = match fallback_message_id {
        Some(m) => Some(m.to_owned()),
        None => payload_message_id(&job.payload),
    };
    q.bind(job.kind.as_str())
        .bind(&job.payload)
        .bind(message_id)
        .bind(job.run_at.0)
        .bind(job.max_attempts)
        .bind(Ts::now().0)
}

/// Inserts a job; its `message_id` column comes from the payload, else `fallback`.
pub(crate) async fn insert_job(
    conn: &mut Conn,
    job: &NewJob,
    fallback_message_id: Option<&str>,
) -> StoreResult<i64> {
    bind_job(
        sqlx::query_scalar(INSERT_JOB_RETURNING_SQL),
        job,
        fallback_message_id,
    )
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

pub(crate) const INSERT_MESSAGE_SQL: &str =
    "INSERT INTO messages (id, org_id, sender_id, subject_ct, body_ct, alg, reply_policy, \
         state, created_at, expires_at, destroyed_at, kind, thread_id, parent_id, \
         from_recipient_id, read_at, from_address, html_ct, from_verified) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
         $19)";

pub(crate) fn bind_message_row<'q, B: Binds<'q>>(q: B, msg: &'q MessageRow) -> B {
    q.bind(&msg.id)
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
}

pub(crate) async fn insert_message_row(conn: &mut Conn, msg: &MessageRow) -> StoreResult<()> {
    bind_message_row(sqlx::query(INSERT_MESSAGE_SQL), msg)
        .execute(conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

pub(crate) const INSERT_MESSAGE_KEY_SQL: &str =
    "INSERT INTO message_keys (message_id, kek_id, wrapped_dek) VALUES ($1, $2, $3)";

pub(crate) fn bind_message_key<'q, B: Binds<'q>>(q: B, key: &'q MessageKey) -> B {
    q.bind(&key.message_id)
        .bind(&key.kek_id)
        .bind(&key.wrapped_dek)
}

pub(crate) async fn insert_message_key(conn: &mut Conn, key: &MessageKey) -> StoreResult<()> {
    bind_message_key(sqlx::query(INSERT_MESSAGE_KEY_SQL), key)
        .execute(conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

pub(crate) const INSERT_RECIPIENT_SQL: &str =
    "INSERT INTO recipients (id, message_id, position, email, phone, verification, \
         code_hint_ct, link_hash, status, failed_reason, code_mac, code_expires_at, \
         failed_attempts, locked_until, language, notified_at, created_at, forwarded_by, \
         note_ct, wrong_total, blocked_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
         $18, $19, $20, $21)";

pub(crate) fn bind_recipient<'q, B: Binds<'q>>(q: B, position: i64, r: &'q RecipientRow) -> B {
    q.bind(&r.id)
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
}

pub(crate) async fn insert_recipient(
    conn: &mut Conn,
    position: i64,
    r: &RecipientRow,
) -> StoreResult<()> {
    bind_recipient(sqlx::query(INSERT_RECIPIENT_SQL), position, r)
        .execute(conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

pub(crate) const INSERT_ATTACHMENT_SQL: &str =
    "INSERT INTO attachments (id, message_id, position, blob_key, meta_ct, size, alg, \
         created_at, blob_pending_delete) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, FALSE)";

pub(crate) fn bind_attachment<'q, B: Binds<'q>>(q: B, a: &'q AttachmentRow) -> B {
    q.bind(&a.id)
        .bind(&a.message_id)
        .bind(a.position)
        .bind(&a.blob_key)
        .bind(&a.meta_ct)
        .bind(a.size)
        .bind(&a.alg)
        .bind(a.created_at.0)
}

pub(crate) async fn insert_attachment(conn: &mut Conn, a: &AttachmentRow) -> StoreResult<()> {
    bind_attachment(sqlx::query(INSERT_ATTACHMENT_SQL), a)
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

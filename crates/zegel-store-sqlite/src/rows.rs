//! Column lists and row mapping. Columns are selected with table-prefixed aliases (`m_id`,
//! `r_id`) so the same mapping serves single-table queries and joins.

use crate::db_err;
use sqlx::sqlite::SqliteRow;
use sqlx::{Decode, Row, Sqlite, Type};
use zegel_core::model::*;
use zegel_core::{StoreError, StoreResult};

pub(crate) const ORG_COLS: &str = "id, slug, name, active_kek_id, created_at";
pub(crate) const USER_COLS: &str = "id, org_id, email, name, password_hash, role, created_at";
pub(crate) const EVENT_COLS: &str =
    "id, message_id, recipient_id, kind, at, actor, ip, user_agent, detail";
pub(crate) const ATTACHMENT_COLS: &str =
    "id, message_id, position, blob_key, meta_ct, size, alg, created_at";
pub(crate) const DEVICE_COLS: &str = "id, recipient_id, token_hash, user_agent, created_at, \
    expires_at, last_used_at, revoked_at";
pub(crate) const SESSION_COLS: &str = "token_hash, recipient_id, created_at, expires_at";
pub(crate) const JOB_COLS: &str = "id, kind, payload, attempts, max_attempts, created_at, run_at";

/// The message columns of `messages m`, with `$content` for the subject and body ciphertext.
macro_rules! msg_cols {
    ($content:literal) => {
        concat!(
            "m.id AS m_id, m.org_id AS m_org_id, m.sender_id AS m_sender_id, ",
            $content,
            ", m.alg AS m_alg, m.reply_policy AS m_reply_policy, m.state AS m_state, \
             m.created_at AS m_created_at, m.expires_at AS m_expires_at, \
             m.destroyed_at AS m_destroyed_at, m.kind AS m_kind, \
             m.thread_id AS m_thread_id, m.parent_id AS m_parent_id, \
             m.from_recipient_id AS m_from_recipient_id, m.read_at AS m_read_at"
        )
    };
}
pub(crate) const MSG_COLS: &str = msg_cols!("m.subject_ct AS m_subject_ct, m.body_ct AS m_body_ct");
/// [`MSG_COLS`] without the subject and body ciphertext (read as NULL).
pub(crate) const MSG_META_COLS: &str = msg_cols!("NULL AS m_subject_ct, NULL AS m_body_ct");

/// Recipient columns of `recipients r`.
pub(crate) const REC_COLS: &str = "r.id AS r_id, r.message_id AS r_message_id, \
    r.email AS r_email, r.phone AS r_phone, r.verification AS r_verification, \
    r.code_hint_ct AS r_code_hint_ct, r.link_hash AS r_link_hash, r.status AS r_status, \
    r.failed_reason AS r_failed_reason, r.code_mac AS r_code_mac, \
    r.code_expires_at AS r_code_expires_at, r.failed_attempts AS r_failed_attempts, \
    r.locked_until AS r_locked_until, r.language AS r_language, \
    r.notified_at AS r_notified_at, r.created_at AS r_created_at, \
    r.forwarded_by AS r_forwarded_by, r.note_ct AS r_note_ct";

fn get<'r, T>(row: &'r SqliteRow, col: &str) -> StoreResult<T>
where
    T: Decode<'r, Sqlite> + Type<Sqlite>,
{
    row.try_get(col).map_err(db_err)
}

fn ts(row: &SqliteRow, col: &str) -> StoreResult<Ts> {
    Ok(Ts(get::<i64>(row, col)?))
}

fn opt_ts(row: &SqliteRow, col: &str) -> StoreResult<Option<Ts>> {
    Ok(get::<Option<i64>>(row, col)?.map(Ts))
}

/// A text column holding one of a set of stored values; anything else is an error (never a
/// guess).
fn parse<T>(row: &SqliteRow, col: &str, parse: fn(&str) -> Option<T>) -> StoreResult<T> {
    let raw: String = get(row, col)?;
    parse(&raw).ok_or_else(|| bad(col))
}

fn bad(column: &str) -> StoreError {
    StoreError::Database(format!("unexpected value in column {column}"))
}

pub(crate) fn org(row: &SqliteRow) -> StoreResult<Organisation> {
    Ok(Organisation {
        id: get(row, "id")?,
        slug: get(row, "slug")?,
        name: get(row, "name")?,
        active_kek_id: get(row, "active_kek_id")?,
        created_at: ts(row, "created_at")?,
    })
}

pub(crate) fn org_key(row: &SqliteRow) -> StoreResult<OrgKey> {
    Ok(OrgKey {
        id: get(row, "id")?,
        org_id: get(row, "org_id")?,
        wrapped: get(row, "wrapped")?,
        created_at: ts(row, "created_at")?,
    })
}

pub(crate) fn user(row: &SqliteRow) -> StoreResult<User> {
    Ok(User {
        id: get(row, "id")?,
        org_id: get(row, "org_id")?,
        email: get(row, "email")?,
        name: get(row, "name")?,
        password_hash: get(row, "password_hash")?,
        role: parse(row, "role", Role::parse)?,
        created_at: ts(row, "created_at")?,
    })
}

pub(crate) fn message(row: &SqliteRow) -> StoreResult<MessageRow> {
    let reply: String = get(row, "m_reply_policy")?;
    let state: String = get(row, "m_state")?;
    let kind: String = get(row, "m_kind")?;
    Ok(MessageRow {
        id: get(row, "m_id")?,
        org_id: get(row, "m_org_id")?,
        sender_id: get(row, "m_sender_id")?,
        subject_ct: get(row, "m_subject_ct")?,
        body_ct: get(row, "m_body_ct")?,
        alg: get(row, "m_alg")?,
        reply_policy: ReplyPolicy::parse(&reply).ok_or_else(|| bad("reply_policy"))?,
        state: MessageState::parse(&state).ok_or_else(|| bad("state"))?,
        created_at: ts(row, "m_created_at")?,
        expires_at: ts(row, "m_expires_at")?,
        destroyed_at: opt_ts(row, "m_destroyed_at")?,
        kind: MessageKind::parse(&kind).ok_or_else(|| bad("kind"))?,
        thread_id: get(row, "m_thread_id")?,
        parent_id: get(row, "m_parent_id")?,
        from_recipient_id: get(row, "m_from_recipient_id")?,
        read_at: opt_ts(row, "m_read_at")?,
    })
}

pub(crate) fn message_key(row: &SqliteRow) -> StoreResult<MessageKey> {
    Ok(MessageKey {
        message_id: get(row, "message_id")?,
        kek_id: get(row, "kek_id")?,
        wrapped_dek: get(row, "wrapped_dek")?,
    })
}

pub(crate) fn recipient(row: &SqliteRow) -> StoreResult<RecipientRow> {
    let verification: String = get(row, "r_verification")?;
    let status: String = get(row, "r_status")?;
    Ok(RecipientRow {
        id: get(row, "r_id")?,
        message_id: get(row, "r_message_id")?,
        email: get(row, "r_email")?,
        phone: get(row, "r_phone")?,
        verification: Verification::parse(&verification).ok_or_else(|| bad("verification"))?,
        code_hint_ct: get(row, "r_code_hint_ct")?,
        link_hash: get(row, "r_link_hash")?,
        status: RecipientStatus::parse(&status).ok_or_else(|| bad("status"))?,
        failed_reason: get(row, "r_failed_reason")?,
        code_mac: get(row, "r_code_mac")?,
        code_expires_at: opt_ts(row, "r_code_expires_at")?,
        failed_attempts: get(row, "r_failed_attempts")?,
        locked_until: opt_ts(row, "r_locked_until")?,
        language: parse(row, "r_language", Lang::parse)?,
        notified_at: opt_ts(row, "r_notified_at")?,
        created_at: ts(row, "r_created_at")?,
        forwarded_by: get(row, "r_forwarded_by")?,
        note_ct: get(row, "r_note_ct")?,
    })
}

pub(crate) fn attachment(row: &SqliteRow) -> StoreResult<AttachmentRow> {
    Ok(AttachmentRow {
        id: get(row, "id")?,
        message_id: get(row, "message_id")?,
        position: get(row, "position")?,
        blob_key: get(row, "blob_key")?,
        meta_ct: get(row, "meta_ct")?,
        size: get(row, "size")?,
        alg: get(row, "alg")?,
        created_at: ts(row, "created_at")?,
    })
}

pub(crate) fn event(row: &SqliteRow) -> StoreResult<Event> {
    Ok(Event {
        id: get(row, "id")?,
        event: NewEvent {
            message_id: get(row, "message_id")?,
            recipient_id: get(row, "recipient_id")?,
            kind: parse(row, "kind", EventKind::parse)?,
            at: ts(row, "at")?,
            actor: get(row, "actor")?,
            ip: get(row, "ip")?,
            user_agent: get(row, "user_agent")?,
            detail: get(row, "detail")?,
        },
    })
}

pub(crate) fn session(row: &SqliteRow) -> StoreResult<SessionRow> {
    Ok(SessionRow {
        token_hash: get(row, "token_hash")?,
        recipient_id: get(row, "recipient_id")?,
        created_at: ts(row, "created_at")?,
        expires_at: ts(row, "expires_at")?,
    })
}

/// A claimed job and its `run_at` (for ordering).
pub(crate) fn job(row: &SqliteRow) -> StoreResult<(i64, Job)> {
    Ok((
        get(row, "run_at")?,
        Job {
            id: get(row, "id")?,
            kind: get(row, "kind")?,
            payload: get(row, "payload")?,
            attempts: get(row, "attempts")?,
            max_attempts: get(row, "max_attempts")?,
            created_at: ts(row, "created_at")?,
        },
    ))
}

pub(crate) fn access(row: &SqliteRow) -> StoreResult<RecipientAccess> {
    Ok(RecipientAccess {
        recipient: recipient(row)?,
        message: message(row)?,
        sender_name: get(row, "sender_name")?,
        org_name: get(row, "org_name")?,
        org_has_logo: get(row, "org_has_logo")?,
    })
}

/// A token's user, organisation and policy in one row; `last_used_at` is read by the caller.
pub(crate) const PRINCIPAL_BY_TOKEN_SQL: &str =
    "SELECT u.id, u.org_id, u.email, u.name, u.password_hash, u.role, u.created_at, \
     t.last_used_at, o.slug AS o_slug, o.name AS o_name, o.active_kek_id AS o_active_kek_id, \
     o.created_at AS o_created_at, o.reply_default, o.reply_locked, o.forward_allowed, \
     o.device_days, o.contact, (o.logo IS NOT NULL) AS has_logo \
     FROM api_tokens t JOIN users u ON u.id = t.user_id JOIN organisations o ON o.id = u.org_id \
     WHERE t.token_hash = $1";

pub(crate) fn principal(row: &SqliteRow) -> StoreResult<Principal> {
    let user = user(row)?;
    Ok(Principal {
        org: Organisation {
            id: user.org_id.clone(),
            slug: get(row, "o_slug")?,
            name: get(row, "o_name")?,
            active_kek_id: get(row, "o_active_kek_id")?,
            created_at: ts(row, "o_created_at")?,
        },
        policy: org_policy(row)?,
        user,
    })
}

pub(crate) fn org_policy(row: &SqliteRow) -> StoreResult<OrgPolicy> {
    let reply: String = get(row, "reply_default")?;
    Ok(OrgPolicy {
        reply_default: ReplyPolicy::parse(&reply).ok_or_else(|| bad("reply_default"))?,
        reply_locked: get(row, "reply_locked")?,
        forward_allowed: get(row, "forward_allowed")?,
        device_days: get(row, "device_days")?,
        contact: get(row, "contact")?,
        has_logo: get(row, "has_logo")?,
    })
}

pub(crate) fn device(row: &SqliteRow) -> StoreResult<DeviceRow> {
    Ok(DeviceRow {
        id: get(row, "id")?,
        recipient_id: get(row, "recipient_id")?,
        token_hash: get(row, "token_hash")?,
        user_agent: get(row, "user_agent")?,
        created_at: ts(row, "created_at")?,
        expires_at: ts(row, "expires_at")?,
        last_used_at: opt_ts(row, "last_used_at")?,
        revoked_at: opt_ts(row, "revoked_at")?,
    })
}

// Stamped into zegel-store-sqlite and zegel-store-postgres; see README.
//! Row mapping, once for both backends. Columns are selected with table-prefixed aliases
//! (`m_id`, `r_id`) so the same mapping serves single-table queries and joins. Every stored
//! enum goes through [`stored`], which refuses a value of unknown meaning.

use crate::db::{db_err, Db, DbRow};
use sqlx::{Decode, Row, Type};
use zegel_core::codes::{CodeState, SmsUsage};
use zegel_core::model::*;
use zegel_core::store::SentMessage;
use zegel_core::{StoreError, StoreResult};

fn get<'r, T>(row: &'r DbRow, col: &str) -> StoreResult<T>
where
    T: Decode<'r, Db> + Type<Db>,
{
    row.try_get(col).map_err(db_err)
}

fn ts(row: &DbRow, col: &str) -> StoreResult<Ts> {
    Ok(Ts(get::<i64>(row, col)?))
}

fn opt_ts(row: &DbRow, col: &str) -> StoreResult<Option<Ts>> {
    Ok(get::<Option<i64>>(row, col)?.map(Ts))
}

fn bad(column: &str) -> StoreError {
    StoreError::Database(format!("unexpected value in column {column}"))
}

// ---- stored text -> model types ----

/// A text column holding one of a set of stored values (`parse` is the type's own, e.g.
/// `RecipientStatus::parse`); anything else is an error, never a guess.
fn stored<T>(row: &DbRow, col: &str, parse: fn(&str) -> Option<T>) -> StoreResult<T> {
    let text: String = get(row, col)?;
    parse(&text).ok_or_else(|| bad(col))
}

// ---- rows ----

pub(crate) fn org(row: &DbRow) -> StoreResult<Organisation> {
    Ok(Organisation {
        id: get(row, "id")?,
        slug: get(row, "slug")?,
        name: get(row, "name")?,
        active_kek_id: get(row, "active_kek_id")?,
        created_at: ts(row, "created_at")?,
    })
}

pub(crate) fn org_key(row: &DbRow) -> StoreResult<OrgKey> {
    Ok(OrgKey {
        id: get(row, "id")?,
        org_id: get(row, "org_id")?,
        wrapped: get(row, "wrapped")?,
        created_at: ts(row, "created_at")?,
    })
}

pub(crate) fn user(row: &DbRow) -> StoreResult<User> {
    Ok(User {
        id: get(row, "id")?,
        org_id: get(row, "org_id")?,
        email: get(row, "email")?,
        name: get(row, "name")?,
        password_hash: get(row, "password_hash")?,
        role: stored(row, "role", Role::parse)?,
        created_at: ts(row, "created_at")?,
    })
}

pub(crate) fn message(row: &DbRow) -> StoreResult<MessageRow> {
    Ok(MessageRow {
        id: get(row, "m_id")?,
        org_id: get(row, "m_org_id")?,
        sender_id: get(row, "m_sender_id")?,
        subject_ct: get(row, "m_subject_ct")?,
        body_ct: get(row, "m_body_ct")?,
        alg: get(row, "m_alg")?,
        reply_policy: stored(row, "m_reply_policy", ReplyPolicy::parse)?,
        state: stored(row, "m_state", MessageState::parse)?,
        created_at: ts(row, "m_created_at")?,
        expires_at: ts(row, "m_expires_at")?,
        destroyed_at: opt_ts(row, "m_destroyed_at")?,
        kind: stored(row, "m_kind", MessageKind::parse)?,
        thread_id: get(row, "m_thread_id")?,
        parent_id: get(row, "m_parent_id")?,
        from_recipient_id: get(row, "m_from_recipient_id")?,
        from_address: get(row, "m_from_address")?,
        from_verified: get(row, "m_from_verified")?,
        html_ct: get(row, "m_html_ct")?,
        read_at: opt_ts(row, "m_read_at")?,
    })
}

pub(crate) fn message_key(row: &DbRow) -> StoreResult<MessageKey> {
    Ok(MessageKey {
        message_id: get(row, "message_id")?,
        kek_id: get(row, "kek_id")?,
        wrapped_dek: get(row, "wrapped_dek")?,
    })
}

/// A row of `address_book` (unprefixed columns).
pub(crate) fn address_entry(row: &DbRow) -> StoreResult<AddressEntry> {
    Ok(AddressEntry {
        address: get(row, "address")?,
        verification: stored(row, "verification", Verification::parse)?,
        phone: get(row, "phone")?,
        last_used_at: ts(row, "last_used_at")?,
        uses: get(row, "uses")?,
    })
}

pub(crate) fn recipient(row: &DbRow) -> StoreResult<RecipientRow> {
    Ok(RecipientRow {
        id: get(row, "r_id")?,
        message_id: get(row, "r_message_id")?,
        email: get(row, "r_email")?,
        phone: get(row, "r_phone")?,
        verification: stored(row, "r_verification", Verification::parse)?,
        code_hint_ct: get(row, "r_code_hint_ct")?,
        link_hash: get(row, "r_link_hash")?,
        status: stored(row, "r_status", RecipientStatus::parse)?,
        failed_reason: get(row, "r_failed_reason")?,
        code_mac: get(row, "r_code_mac")?,
        code_expires_at: opt_ts(row, "r_code_expires_at")?,
        failed_attempts: get(row, "r_failed_attempts")?,
        locked_until: opt_ts(row, "r_locked_until")?,
        language: stored(row, "r_language", Lang::parse)?,
        notified_at: opt_ts(row, "r_notified_at")?,
        created_at: ts(row, "r_created_at")?,
        forwarded_by: get(row, "r_forwarded_by")?,
        note_ct: get(row, "r_note_ct")?,
        wrong_total: get(row, "r_wrong_total")?,
        blocked_at: opt_ts(row, "r_blocked_at")?,
    })
}

/// A recipient's code and counters: `code_mac, code_expires_at, failed_attempts,
/// wrong_total, locked_until, blocked_at`.
pub(crate) fn code_state(row: &DbRow) -> StoreResult<CodeState> {
    Ok(CodeState {
        code_mac: get(row, "code_mac")?,
        code_expires_at: opt_ts(row, "code_expires_at")?,
        failed_attempts: get(row, "failed_attempts")?,
        wrong_total: get(row, "wrong_total")?,
        locked_until: opt_ts(row, "locked_until")?,
        blocked: get::<Option<i64>>(row, "blocked_at")?.is_some(),
    })
}

pub(crate) fn attachment(row: &DbRow) -> StoreResult<AttachmentRow> {
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

pub(crate) fn event(row: &DbRow) -> StoreResult<Event> {
    Ok(Event {
        id: get(row, "id")?,
        event: NewEvent {
            message_id: get(row, "message_id")?,
            recipient_id: get(row, "recipient_id")?,
            kind: stored(row, "kind", EventKind::parse)?,
            at: ts(row, "at")?,
            actor: get(row, "actor")?,
            ip: get(row, "ip")?,
            user_agent: get(row, "user_agent")?,
            detail: get(row, "detail")?,
        },
    })
}

pub(crate) fn session(row: &DbRow) -> StoreResult<SessionRow> {
    Ok(SessionRow {
        token_hash: get(row, "token_hash")?,
        recipient_id: get(row, "recipient_id")?,
        created_at: ts(row, "created_at")?,
        expires_at: ts(row, "expires_at")?,
    })
}

/// A claimed job and its `run_at` (for ordering).
pub(crate) fn job(row: &DbRow) -> StoreResult<(i64, Job)> {
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

pub(crate) fn access(row: &DbRow) -> StoreResult<RecipientAccess> {
    Ok(RecipientAccess {
        recipient: recipient(row)?,
        message: message(row)?,
        sender_name: get(row, "sender_name")?,
        org_name: get(row, "org_name")?,
        org_has_logo: get(row, "org_has_logo")?,
    })
}

pub(crate) fn principal(row: &DbRow) -> StoreResult<Principal> {
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

pub(crate) fn org_policy(row: &DbRow) -> StoreResult<OrgPolicy> {
    Ok(OrgPolicy {
        reply_default: stored(row, "reply_default", ReplyPolicy::parse)?,
        reply_locked: get(row, "reply_locked")?,
        forward_allowed: get(row, "forward_allowed")?,
        device_days: get(row, "device_days")?,
        contact: get(row, "contact")?,
        has_logo: get(row, "has_logo")?,
        sms_per_day: get(row, "sms_per_day")?,
        sms_countries: countries(&get::<String>(row, "sms_countries")?),
        default_availability_days: get(row, "default_availability_days")?,
        max_availability_days: get(row, "max_availability_days")?,
    })
}

/// A stored country list (`NL,BE,DE`).
fn countries(stored: &str) -> Vec<String> {
    stored
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A stored country list from the model's.
pub(crate) fn countries_text(countries: &[String]) -> String {
    countries.join(",")
}

pub(crate) fn device(row: &DbRow) -> StoreResult<DeviceRow> {
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

/// A row of the sender's list: [`zegel_store_sql::MSG_LIST_COLS`], the key's `k_kek_id` and
/// `k_wrapped_dek` (NULL once destroyed) and `attachment_count`.
pub(crate) fn sent(row: &DbRow) -> StoreResult<SentMessage> {
    let message = message(row)?;
    let key = match get::<Option<String>>(row, "k_kek_id")? {
        Some(kek_id) => Some(MessageKey {
            message_id: message.id.clone(),
            kek_id,
            wrapped_dek: get(row, "k_wrapped_dek")?,
        }),
        None => None,
    };
    Ok(SentMessage {
        message,
        key,
        attachment_count: get(row, "attachment_count")?,
    })
}

/// A row of [`zegel_core::store::PolicyStore::sms_usage`].
pub(crate) fn sms_usage(row: &DbRow) -> StoreResult<SmsUsage> {
    Ok(SmsUsage {
        org_slug: get(row, "slug")?,
        per_day: get(row, "sms_per_day")?,
        sent: get(row, "sent")?,
        refused: get(row, "refused")?,
    })
}

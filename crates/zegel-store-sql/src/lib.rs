#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

// Only what needs no sqlx type is compiled here. The statement-running code in `src/shared/`
// is not a module of this crate: each store crate stamps it in with `#[path]` (see README).

/// Organisation columns of `organisations`.
pub const ORG_COLS: &str = "id, slug, name, active_kek_id, created_at";
/// User columns of `users`.
pub const USER_COLS: &str = "id, org_id, email, name, password_hash, role, created_at";
/// Event columns of `events`.
pub const EVENT_COLS: &str =
    "id, message_id, recipient_id, kind, at, actor, ip, user_agent, detail";
/// Attachment columns of `attachments`.
pub const ATTACHMENT_COLS: &str =
    "id, message_id, position, blob_key, meta_ct, size, alg, created_at";
/// Device columns of `devices`.
pub const DEVICE_COLS: &str = "id, recipient_id, token_hash, user_agent, created_at, \
    expires_at, last_used_at, revoked_at";
/// Session columns of `sessions`.
pub const SESSION_COLS: &str = "token_hash, recipient_id, created_at, expires_at";
/// What a claim returns of a job (`run_at` for ordering).
pub const JOB_COLS: &str = "id, kind, payload, attempts, max_attempts, created_at, run_at";

/// The message columns of `messages m`, with `$content` for the subject and body ciphertext.
/// Columns carry table-prefixed aliases (`m_id`) so the same mapping serves joins.
macro_rules! msg_cols {
    ($content:literal) => {
        concat!(
            "m.id AS m_id, m.org_id AS m_org_id, m.sender_id AS m_sender_id, ",
            $content,
            ", m.alg AS m_alg, m.reply_policy AS m_reply_policy, m.state AS m_state, \
             m.created_at AS m_created_at, m.expires_at AS m_expires_at, \
             m.destroyed_at AS m_destroyed_at, m.kind AS m_kind, \
             m.thread_id AS m_thread_id, m.parent_id AS m_parent_id, \
             m.from_recipient_id AS m_from_recipient_id, m.read_at AS m_read_at, \
             m.from_address AS m_from_address, m.from_verified AS m_from_verified"
        )
    };
}
/// Message columns of `messages m`.
pub const MSG_COLS: &str =
    msg_cols!("m.subject_ct AS m_subject_ct, m.body_ct AS m_body_ct, m.html_ct AS m_html_ct");
/// [`MSG_COLS`] without the subject and body ciphertext (read as NULL; `CAST` gives
/// PostgreSQL the column's type and is a plain NULL on SQLite).
pub const MSG_META_COLS: &str = msg_cols!(
    "CAST(NULL AS BYTEA) AS m_subject_ct, CAST(NULL AS BYTEA) AS m_body_ct, \
        CAST(NULL AS BYTEA) AS m_html_ct"
);
/// [`MSG_COLS`] with the subject but without the body ciphertext (a list shows no body).
pub const MSG_LIST_COLS: &str = msg_cols!(
    "m.subject_ct AS m_subject_ct, CAST(NULL AS BYTEA) AS m_body_ct, \
        CAST(NULL AS BYTEA) AS m_html_ct"
);

/// Recipient columns of `recipients r`.
pub const REC_COLS: &str = "r.id AS r_id, r.message_id AS r_message_id, \
    r.email AS r_email, r.phone AS r_phone, r.verification AS r_verification, \
    r.code_hint_ct AS r_code_hint_ct, r.link_hash AS r_link_hash, \
    CASE WHEN r.direct_at IS NOT NULL AND r.status = 'notified' THEN 'delivered' \
    ELSE r.status END AS r_status, \
    r.failed_reason AS r_failed_reason, r.code_mac AS r_code_mac, \
    r.code_expires_at AS r_code_expires_at, r.failed_attempts AS r_failed_attempts, \
    r.locked_until AS r_locked_until, r.language AS r_language, \
    r.notified_at AS r_notified_at, r.created_at AS r_created_at, \
    r.forwarded_by AS r_forwarded_by, r.note_ct AS r_note_ct, \
    r.wrong_total AS r_wrong_total, r.blocked_at AS r_blocked_at";

/// Policy columns of `organisations o` (with `has_logo`), as `rows::org_policy` reads them.
macro_rules! policy_cols {
    () => {
        "o.reply_default, o.reply_locked, o.forward_allowed, o.device_days, o.contact, \
         (o.logo IS NOT NULL) AS has_logo, o.sms_per_day, o.sms_countries, \
         o.default_availability_days, o.max_availability_days"
    };
}
/// Policy columns of `organisations o`.
pub const POLICY_COLS: &str = policy_cols!();

/// A token's user, organisation and policy in one row; `last_used_at` is read by the caller.
pub const PRINCIPAL_BY_TOKEN_SQL: &str = concat!(
    "SELECT u.id, u.org_id, u.email, u.name, u.password_hash, u.role, u.created_at, \
     t.last_used_at, o.slug AS o_slug, o.name AS o_name, o.active_kek_id AS o_active_kek_id, \
     o.created_at AS o_created_at, ",
    policy_cols!(),
    " FROM api_tokens t JOIN users u ON u.id = t.user_id JOIN organisations o ON o.id = u.org_id \
     WHERE t.token_hash = $1"
);

/// A live SMTP credential's hash with its user, organisation and policy in one row (`$1` the
/// user name); `c_last_used_at` is read by the caller.
pub const PRINCIPAL_BY_SMTP_SQL: &str = concat!(
    "SELECT u.id, u.org_id, u.email, u.name, u.password_hash, u.role, u.created_at, \
     c.id AS c_id, c.password_hash AS c_password_hash, c.last_used_at AS c_last_used_at, \
     o.slug AS o_slug, o.name AS o_name, o.active_kek_id AS o_active_kek_id, \
     o.created_at AS o_created_at, ",
    policy_cols!(),
    " FROM smtp_credentials c JOIN users u ON u.id = c.user_id \
     JOIN organisations o ON o.id = u.org_id \
     WHERE c.username = $1 AND c.revoked_at IS NULL"
);

/// A live sender session's user, organisation and policy in one row (`$1` the token hash);
/// `s_created_at` and `s_last_seen_at` are checked by the caller.
pub const PRINCIPAL_BY_SESSION_SQL: &str = concat!(
    "SELECT u.id, u.org_id, u.email, u.name, u.password_hash, u.role, u.created_at, \
     s.created_at AS s_created_at, s.last_seen_at AS s_last_seen_at, \
     o.slug AS o_slug, o.name AS o_name, o.active_kek_id AS o_active_kek_id, \
     o.created_at AS o_created_at, ",
    policy_cols!(),
    " FROM sender_sessions s JOIN users u ON u.id = s.user_id \
     JOIN organisations o ON o.id = u.org_id WHERE s.token_hash = $1"
);

/// Records a token's use (`$1` now, `$2` hash, `$3` the stale limit) unless a later one is
/// stored. Each backend runs it its own way (group commit, bookkeeping pool).
pub const TOUCH_TOKEN_SQL: &str = "UPDATE api_tokens SET last_used_at = $1 WHERE token_hash = $2 \
     AND (last_used_at IS NULL OR last_used_at <= $3)";

/// Deletes a job by id (`$1`).
pub const DELETE_JOB_SQL: &str = "DELETE FROM jobs WHERE id = $1";

/// Reschedules a job (`$1` id, `$2` run_at, `$3` error) and releases its lease.
pub const RETRY_JOB_SQL: &str =
    "UPDATE jobs SET run_at = $2, locked_until = NULL, last_error = $3 WHERE id = $1";

/// Statuses a recipient may leave through `record_event`.
pub const MUTABLE_STATUSES: &str = "('queued', 'notified', 'failed', 'opened')";

/// The `"message_id"` field of a job's JSON payload, if there is one.
pub fn payload_message_id(payload: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(payload).ok()?;
    value.get("message_id")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::payload_message_id;

    #[test]
    fn payload_message_id_reads_the_field_or_nothing() {
        assert_eq!(
            payload_message_id(r#"{"message_id":"m1","recipient_id":"r1"}"#).as_deref(),
            Some("m1")
        );
        assert_eq!(payload_message_id(r#"{"recipient_id":"r1"}"#), None);
        assert_eq!(payload_message_id(r#"{"message_id":7}"#), None);
        assert_eq!(payload_message_id("not json"), None);
    }
}

//! New messages, each with its key, recipients, attachments, events and jobs, for many
//! senders in one statement and one durable commit (see [`crate::shared::coalesce`]).
//!
//! Every table's rows come from arrays (UNNEST), so a batch of any size is one statement; the
//! foreign keys are checked when the statement ends, after the message rows are in. When the
//! statement fails, each message is inserted again alone, so only the bad one gets the error
//! (`Conflict` for a unique clash) and nothing of it is kept.

use crate::db::db_err;
use crate::shared::coalesce::Batch;
use async_trait::async_trait;
use sqlx::postgres::PgPool;
use std::sync::Arc;
use zegel_core::model::{
    AddressUse, AttachmentRow, NewEvent, NewJob, NewMessage, RecipientRow, Ts,
};
use zegel_core::StoreResult;

/// Messages per statement at most.
pub(crate) const MAX_BATCH: usize = 32;

const INSERT_MESSAGES_SQL: &str = "WITH \
    m AS (INSERT INTO messages (id, org_id, sender_id, subject_ct, body_ct, alg, reply_policy, \
          state, created_at, expires_at, destroyed_at, kind, thread_id, parent_id, \
          from_recipient_id, read_at, hold_expiry_ms, read_receipt, html_ct, from_address, \
          from_verified) \
          SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bytea[], $5::bytea[], \
          $6::text[], $7::text[], $8::text[], $9::bigint[], $10::bigint[], $11::bigint[], \
          $12::text[], $13::text[], $14::text[], $15::text[], $16::bigint[], $63::bigint[], \
          $64::boolean[], $70::bytea[], $71::text[], $72::boolean[])), \
    k AS (INSERT INTO message_keys (message_id, kek_id, wrapped_dek) \
          SELECT * FROM UNNEST($17::text[], $18::text[], $19::bytea[])), \
    r AS (INSERT INTO recipients (message_id, id, position, email, phone, verification, \
          code_hint_ct, link_hash, status, failed_reason, code_mac, code_expires_at, \
          failed_attempts, locked_until, language, notified_at, created_at, forwarded_by, \
          note_ct, wrong_total, blocked_at) \
          SELECT * FROM UNNEST($20::text[], $21::text[], $22::bigint[], $23::text[], \
          $24::text[], $25::text[], $26::bytea[], $27::bytea[], $28::text[], $29::text[], \
          $30::bytea[], $31::bigint[], $32::bigint[], $33::bigint[], $34::text[], \
          $35::bigint[], $36::bigint[], $37::text[], $38::bytea[], $61::bigint[], \
          $62::bigint[])), \
    a AS (INSERT INTO attachments (message_id, id, position, blob_key, meta_ct, size, alg, \
          created_at, blob_pending_delete) \
          SELECT u.*, FALSE FROM UNNEST($39::text[], $40::text[], $41::bigint[], $42::text[], \
          $43::bytea[], $44::bigint[], $45::text[], $46::bigint[]) AS u), \
    e AS (INSERT INTO events (message_id, recipient_id, kind, at, actor, ip, user_agent, \
          detail) \
          SELECT u.message_id, u.recipient_id, u.kind, u.at, u.actor, u.ip, u.user_agent, \
          u.detail FROM UNNEST($47::text[], $48::text[], $49::text[], $50::bigint[], \
          $51::text[], $52::text[], $53::text[], $54::text[]) WITH ORDINALITY \
          AS u(message_id, recipient_id, kind, at, actor, ip, user_agent, detail, n) \
          ORDER BY u.n), \
    j AS (INSERT INTO jobs (message_id, kind, payload, run_at, attempts, max_attempts, dead, \
          created_at) \
          SELECT u.message_id, u.kind, u.payload, u.run_at, 0, u.max_attempts, FALSE, $60 \
          FROM UNNEST($55::text[], $56::text[], $57::text[], $58::bigint[], $59::bigint[]) \
          WITH ORDINALITY AS u(message_id, kind, payload, run_at, max_attempts, n) \
          ORDER BY u.n), \
    b AS (INSERT INTO address_book (org_id, address, verification, phone, last_used_at, uses) \
          SELECT DISTINCT ON (u.org_id, u.address) u.org_id, u.address, u.verification, \
          u.phone, u.at, COUNT(*) OVER (PARTITION BY u.org_id, u.address) \
          FROM UNNEST($65::text[], $66::text[], $67::text[], $68::text[], $69::bigint[]) \
          WITH ORDINALITY AS u(org_id, address, verification, phone, at, n) \
          ORDER BY u.org_id, u.address, u.at DESC, u.n DESC \
          ON CONFLICT (org_id, address) DO UPDATE SET \
          verification = CASE WHEN excluded.last_used_at >= address_book.last_used_at \
          THEN excluded.verification ELSE address_book.verification END, \
          phone = CASE WHEN excluded.last_used_at >= address_book.last_used_at \
          THEN excluded.phone ELSE address_book.phone END, \
          uses = address_book.uses + excluded.uses, \
          last_used_at = GREATEST(address_book.last_used_at, excluded.last_used_at)) \
    SELECT 1";

/// Inserts messages on the durable pool.
pub(crate) struct Inserts(pub(crate) PgPool);

/// One value per message, in batch order.
fn each<'a, T>(ms: &[&'a Arc<NewMessage>], f: impl Fn(&'a NewMessage) -> T) -> Vec<T> {
    ms.iter().map(|m| f(m)).collect()
}

/// One column of the rows `rows` gives for each message, flattened in batch order.
fn col<'a, R: 'a, T>(
    ms: &[&'a Arc<NewMessage>],
    rows: impl Fn(&'a NewMessage) -> &'a [R],
    f: impl Fn(&'a NewMessage, usize, &'a R) -> T,
) -> Vec<T> {
    ms.iter()
        .flat_map(|m| rows(m).iter().enumerate().map(|(i, r)| f(m, i, r)))
        .collect()
}

#[async_trait]
impl Batch for Inserts {
    type Req = Arc<NewMessage>;
    type Resp = ();

    async fn run(&self, ms: &[&Arc<NewMessage>]) -> StoreResult<Vec<StoreResult<()>>> {
        fn rs(m: &NewMessage) -> &[RecipientRow] {
            &m.recipients
        }
        fn at(m: &NewMessage) -> &[AttachmentRow] {
            &m.attachments
        }
        fn ev(m: &NewMessage) -> &[NewEvent] {
            &m.events
        }
        fn jb(m: &NewMessage) -> &[NewJob] {
            &m.jobs
        }
        fn ab(m: &NewMessage) -> &[AddressUse] {
            &m.sending.address_book
        }
        let mid = |m: &NewMessage| m.message.id.clone();
        // One statement, its own transaction: the queue trigger stages its events' audit
        // entries in it (migration 0016).
        sqlx::query(INSERT_MESSAGES_SQL)
            // $1..$16: the message rows
            .bind(each(ms, |m| m.message.id.clone()))
            .bind(each(ms, |m| m.message.org_id.clone()))
            .bind(each(ms, |m| m.message.sender_id.clone()))
            .bind(each(ms, |m| m.message.subject_ct.clone()))
            .bind(each(ms, |m| m.message.body_ct.clone()))
            .bind(each(ms, |m| m.message.alg.clone()))
            .bind(each(ms, |m| m.message.reply_policy.as_str()))
            .bind(each(ms, |m| m.message.state.as_str()))
            .bind(each(ms, |m| m.message.created_at.0))
            .bind(each(ms, |m| m.message.expires_at.0))
            .bind(each(ms, |m| m.message.destroyed_at.map(|t| t.0)))
            .bind(each(ms, |m| m.message.kind.as_str()))
            .bind(each(ms, |m| m.message.thread_id.clone()))
            .bind(each(ms, |m| m.message.parent_id.clone()))
            .bind(each(ms, |m| m.message.from_recipient_id.clone()))
            .bind(each(ms, |m| m.message.read_at.map(|t| t.0)))
            // $17..$19: the keys
            .bind(each(ms, mid))
            .bind(each(ms, |m| m.key.kek_id.clone()))
            .bind(each(ms, |m| m.key.wrapped_dek.clone()))
            // $20..$38: recipients, numbered per message
            .bind(col(ms, rs, |m, _, _| mid(m)))
            .bind(col(ms, rs, |_, _, r| r.id.clone()))
            .bind(col(ms, rs, |_, i, _| i as i64))
            .bind(col(ms, rs, |_, _, r| r.email.clone()))
            .bind(col(ms, rs, |_, _, r| r.phone.clone()))
            .bind(col(ms, rs, |_, _, r| r.verification.as_str()))
            .bind(col(ms, rs, |_, _, r| r.code_hint_ct.clone()))
            .bind(col(ms, rs, |_, _, r| r.link_hash.clone()))
            .bind(col(ms, rs, |_, _, r| r.status.as_str()))
            .bind(col(ms, rs, |_, _, r| r.failed_reason.clone()))
            .bind(col(ms, rs, |_, _, r| r.code_mac.clone()))
            .bind(col(ms, rs, |_, _, r| r.code_expires_at.map(|t| t.0)))
            .bind(col(ms, rs, |_, _, r| r.failed_attempts))
            .bind(col(ms, rs, |_, _, r| r.locked_until.map(|t| t.0)))
            .bind(col(ms, rs, |_, _, r| r.language.as_str().to_owned()))
            .bind(col(ms, rs, |_, _, r| r.notified_at.map(|t| t.0)))
            .bind(col(ms, rs, |_, _, r| r.created_at.0))
            .bind(col(ms, rs, |_, _, r| r.forwarded_by.clone()))
            .bind(col(ms, rs, |_, _, r| r.note_ct.clone()))
            // $39..$46: attachments
            .bind(col(ms, at, |m, _, _| mid(m)))
            .bind(col(ms, at, |_, _, a| a.id.clone()))
            .bind(col(ms, at, |_, _, a| a.position))
            .bind(col(ms, at, |_, _, a| a.blob_key.clone()))
            .bind(col(ms, at, |_, _, a| a.meta_ct.clone()))
            .bind(col(ms, at, |_, _, a| a.size))
            .bind(col(ms, at, |_, _, a| a.alg.clone()))
            .bind(col(ms, at, |_, _, a| a.created_at.0))
            // $47..$54: events
            .bind(col(ms, ev, |_, _, e| e.message_id.clone()))
            .bind(col(ms, ev, |_, _, e| e.recipient_id.clone()))
            .bind(col(ms, ev, |_, _, e| e.kind.as_str().to_owned()))
            .bind(col(ms, ev, |_, _, e| e.at.0))
            .bind(col(ms, ev, |_, _, e| e.actor.clone()))
            .bind(col(ms, ev, |_, _, e| e.ip.clone()))
            .bind(col(ms, ev, |_, _, e| e.user_agent.clone()))
            .bind(col(ms, ev, |_, _, e| e.detail.clone()))
            // $55..$59: jobs, $60: now
            .bind(col(ms, jb, |m, _, _| mid(m)))
            .bind(col(ms, jb, |_, _, j| j.kind.as_str().to_owned()))
            .bind(col(ms, jb, |_, _, j| j.payload.clone()))
            .bind(col(ms, jb, |_, _, j| j.run_at.0))
            .bind(col(ms, jb, |_, _, j| j.max_attempts))
            .bind(Ts::now().0)
            // $61, $62: the recipients' wrong-try total and block
            .bind(col(ms, rs, |_, _, r| r.wrong_total))
            .bind(col(ms, rs, |_, _, r| r.blocked_at.map(|t| t.0)))
            // $63, $64: the hold and the read receipt (issue 13)
            .bind(each(ms, |m| m.sending.hold.map(|h| h.expiry_ms)))
            .bind(each(ms, |m| m.sending.read_receipt))
            // $65..$69: the address book; a batch's uses of one address are one upsert
            // (ON CONFLICT may touch a row once per statement), in a fixed order
            .bind(col(ms, ab, |_, _, u| u.org_id.clone()))
            .bind(col(ms, ab, |_, _, u| u.address.clone()))
            .bind(col(ms, ab, |_, _, u| u.verification.as_str()))
            .bind(col(ms, ab, |_, _, u| u.phone.clone()))
            .bind(col(ms, ab, |_, _, u| u.at.0))
            // $70, $71: the HTML body and the sending address (issue 15)
            .bind(each(ms, |m| m.message.html_ct.clone()))
            .bind(each(ms, |m| m.message.from_address.clone()))
            .bind(each(ms, |m| m.message.from_verified))
            .execute(&self.0)
            .await
            .map_err(db_err)?;
        Ok(ms.iter().map(|_| Ok(())).collect())
    }
}

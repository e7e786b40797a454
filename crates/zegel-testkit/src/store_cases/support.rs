//! Helpers the cases share.

use crate::fixtures::{self as fx, MINUTE_MS, T0};
use zegel_core::codes::*;
use zegel_core::model::*;
use zegel_core::DynStore;

/// The first lockout of the code cases.
pub(super) const LOCK_MS: i64 = 15 * MINUTE_MS;
/// Wrong tries before a lockout.
pub(super) const MAX_TRIES: i64 = 5;
/// Wrong tries in total that block.
pub(super) const BLOCK_AFTER: i64 = 20;
/// The HMAC the code cases present as a wrong code.
pub(super) const WRONG_MAC: &[u8] = b"wrong-mac";

/// The code cases' rules: 5 tries, lockouts of 15 min, 1 h, 4 h, 24 h, a block after 20.
pub(super) fn lockout_policy() -> LockoutPolicy {
    LockoutPolicy {
        max_attempts: MAX_TRIES,
        steps_ms: vec![LOCK_MS, 4 * LOCK_MS, 16 * LOCK_MS, 96 * LOCK_MS],
        block_after: BLOCK_AFTER,
    }
}

pub(super) async fn seeded_message(store: &DynStore) -> (fx::Sender, NewMessage) {
    let sender = fx::seed_sender(store).await;
    let m = fx::new_message(&sender, T0);
    store.insert_message(&m).await.expect("insert_message");
    (sender, m)
}

pub(super) async fn recipient(store: &DynStore, id: &str) -> RecipientRow {
    store
        .recipient_by_id(id)
        .await
        .expect("recipient_by_id")
        .expect("recipient exists")
}

pub(super) async fn counts(store: &DynStore) -> (i64, i64) {
    store.job_counts().await.expect("job_counts")
}

pub(super) async fn event_kinds(store: &DynStore, message_id: &str) -> Vec<String> {
    store
        .events_of(message_id)
        .await
        .expect("events_of")
        .into_iter()
        .map(|e| e.event.kind.as_str().to_owned())
        .collect()
}

pub(super) fn hash32(bytes: &[u8]) -> [u8; 32] {
    bytes.try_into().expect("a 32-byte hash")
}

pub(super) fn ev(r: &RecipientRow, kind: &str, at: Ts) -> NewEvent {
    fx::event(&r.message_id, Some(&r.id), kind, at)
}

/// `check_code` of `mac` for `r` at `at` (one-time when `one_time`), with a fresh session;
/// returns the verdict and that session.
pub(super) async fn check_with(
    store: &DynStore,
    r: &RecipientRow,
    mac: &[u8],
    one_time: bool,
    at: Ts,
) -> (CodeVerdict, SessionRow) {
    let session = fx::session(&r.id, at, 30 * MINUTE_MS);
    let policy = lockout_policy();
    let event = ev(r, "code_wrong", at);
    let verdict = store
        .check_code(&CodeCheck {
            recipient_id: &r.id,
            presented_mac: Some(mac),
            one_time,
            now: at,
            policy: &policy,
            session: &session,
            event: &event,
        })
        .await
        .expect("check_code");
    (verdict, session)
}

/// A one-time code `mac` checked for `r` at `at`.
pub(super) async fn check(store: &DynStore, r: &RecipientRow, mac: &[u8], at: Ts) -> CodeVerdict {
    check_with(store, r, mac, true, at).await.0
}

/// A wrong code for `r` at `at`.
pub(super) async fn wrong(store: &DynStore, r: &RecipientRow, at: Ts) -> CodeVerdict {
    check(store, r, WRONG_MAC, at).await
}

/// A code request for `r` with its own limits (no SMS budget).
pub(super) fn request<'a>(
    r: &'a RecipientRow,
    mac: &'a [u8],
    job: Option<&'a NewJob>,
    event: &'a NewEvent,
    at: Ts,
) -> CodeRequest<'a> {
    CodeRequest {
        recipient_id: &r.id,
        code_mac: mac,
        expires_at: Some(at.plus_millis(15 * MINUTE_MS)),
        job,
        event,
        now: at,
        max_per_window: 1000,
        window_ms: 15 * MINUTE_MS,
        sms_budget: None,
    }
}

/// A new code `mac` for `r` at `at` (a `code_requested` event, no job, no caps to speak of).
pub(super) async fn set_code(
    store: &DynStore,
    r: &RecipientRow,
    mac: &[u8],
    at: Ts,
) -> CodeRequestOutcome {
    let event = ev(r, "code_requested", at);
    store
        .set_code(&request(r, mac, None, &event, at))
        .await
        .expect("set_code")
}

/// Locks `r` by `MAX_TRIES` wrong codes at `at + 1 ..= at + MAX_TRIES`; returns the lock end.
pub(super) async fn lock_out(store: &DynStore, r: &RecipientRow, at: Ts) -> Ts {
    let mut last = None;
    for i in 1..=MAX_TRIES {
        last = Some(wrong(store, r, at.plus_millis(i)).await);
    }
    let Some(CodeVerdict::Wrong {
        remaining: 0,
        locked_until: Some(until),
        blocked: false,
    }) = last
    else {
        panic!("locked after MAX_TRIES wrong codes, got {last:?}");
    };
    until
}

pub(super) async fn enqueue(store: &DynStore, payload: serde_json::Value, run_at: Ts) -> i64 {
    store
        .enqueue_job(&fx::job("notify_sender", payload, run_at))
        .await
        .expect("enqueue_job")
}

pub(super) async fn claim(store: &DynStore, now: Ts, lease_ms: i64, max: u32) -> Vec<Job> {
    store
        .claim_jobs(now, lease_ms, max)
        .await
        .expect("claim_jobs")
}

pub(super) fn ids(jobs: &[Job]) -> Vec<i64> {
    jobs.iter().map(|j| j.id).collect()
}

//! Helpers the cases share.

use crate::fixtures::{self as fx, MINUTE_MS, T0};
use zegel_core::model::*;
use zegel_core::DynStore;

/// Lockout length used by the code cases.
pub(super) const LOCK_MS: i64 = 15 * MINUTE_MS;
/// Wrong tries before the lockout.
pub(super) const MAX_TRIES: i64 = 5;

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

pub(super) async fn wrong(store: &DynStore, r: &RecipientRow, at: Ts) -> WrongCodeOutcome {
    store
        .record_wrong_code(&r.id, at, MAX_TRIES, LOCK_MS, &ev(r, "code_wrong", at))
        .await
        .expect("record_wrong_code")
}

pub(super) async fn set_code(
    store: &DynStore,
    r: &RecipientRow,
    mac: &[u8],
    at: Ts,
) -> Result<(), Ts> {
    store
        .set_code(
            &r.id,
            mac,
            Some(at.plus_millis(15 * MINUTE_MS)),
            None,
            &ev(r, "code_sent", at),
            at,
        )
        .await
        .expect("set_code")
}

/// Locks `r` by `MAX_TRIES` wrong codes at `at + 1 ..= at + MAX_TRIES`; returns the lock end.
pub(super) async fn lock_out(store: &DynStore, r: &RecipientRow, at: Ts) -> Ts {
    let mut last = None;
    for i in 1..=MAX_TRIES {
        last = wrong(store, r, at.plus_millis(i)).await.locked_until;
    }
    let until = last.expect("locked after MAX_TRIES wrong codes");
    assert_eq!(until, at.plus_millis(MAX_TRIES + LOCK_MS));
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

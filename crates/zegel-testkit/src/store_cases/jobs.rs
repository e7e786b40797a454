//! `JobStore`: the job queue and notification bookkeeping.

use super::support::{claim, counts, enqueue, ev, event_kinds, ids, recipient, seeded_message};
use super::Case;
use crate::fixtures::{self as fx, MINUTE_MS, T0};
use std::collections::HashSet;
use zegel_core::model::*;
use zegel_core::{DynStore, StoreError};

/// The cases of this section, run by `tests/store_suite.rs` on both backends.
pub(super) const CASES: &[Case] = &[
    case!(case_claim_jobs_respects_run_at_and_max),
    case!(case_claimed_job_lease_expires),
    case!(case_concurrent_claimers_never_share_a_job),
    case!(case_retry_kill_complete_and_counts),
    case!(case_mark_notified_sets_notified_at_once),
    case!(case_mark_notified_completes_its_job),
    case!(case_concurrent_marks_answer_alone),
    case!(case_mark_failed),
];

/// Only due jobs are claimed, oldest `run_at` first, at most `max`, each once per lease.
async fn case_claim_jobs_respects_run_at_and_max(store: DynStore) {
    let lease = 10 * MINUTE_MS;
    let a = enqueue(&store, serde_json::json!({ "n": "a" }), T0).await;
    let b = enqueue(&store, serde_json::json!({ "n": "b" }), T0.plus_millis(10)).await;
    let c = enqueue(&store, serde_json::json!({ "n": "c" }), T0.plus_millis(20)).await;
    let future = enqueue(
        &store,
        serde_json::json!({ "n": "f" }),
        T0.plus_millis(MINUTE_MS),
    )
    .await;
    let d = enqueue(&store, serde_json::json!({ "n": "d" }), T0).await;
    assert_eq!(counts(&store).await, (5, 0));

    let now = T0.plus_millis(20);
    assert!(claim(&store, now, lease, 0).await.is_empty());
    assert!(claim(&store, T0.plus_millis(-1), lease, 10)
        .await
        .is_empty());
    let first = claim(&store, now, lease, 2).await;
    assert_eq!(ids(&first), vec![a, d]);
    for j in &first {
        assert_eq!(j.attempts, 1);
        assert_eq!(j.max_attempts, 5);
        assert_eq!(j.kind, "notify_sender");
    }
    assert_eq!(
        first[0].payload,
        serde_json::json!({ "n": "a" }).to_string()
    );
    assert_eq!(ids(&claim(&store, now, lease, 10).await), vec![b, c]);
    assert!(claim(&store, now, lease, 10).await.is_empty());
    let later = T0.plus_millis(MINUTE_MS);
    assert_eq!(ids(&claim(&store, later, lease, 10).await), vec![future]);
    assert_eq!(
        counts(&store).await,
        (5, 0),
        "claimed jobs are still pending"
    );
}

/// A claimed job is claimed again only once its lease has run out, with `attempts` + 1.
async fn case_claimed_job_lease_expires(store: DynStore) {
    let lease = 30_000;
    let id = enqueue(&store, serde_json::json!({}), T0).await;
    let jobs = claim(&store, T0, lease, 10).await;
    assert_eq!(ids(&jobs), vec![id]);
    assert_eq!(jobs[0].attempts, 1);
    assert!(claim(&store, T0.plus_millis(lease - 1), lease, 10)
        .await
        .is_empty());
    let jobs = claim(&store, T0.plus_millis(lease), lease, 10).await;
    assert_eq!(ids(&jobs), vec![id]);
    assert_eq!(jobs[0].attempts, 2);
    assert!(claim(&store, T0.plus_millis(lease + 1), lease, 10)
        .await
        .is_empty());
}

/// Eight workers claiming at once over 200 jobs: every job exactly once.
async fn case_concurrent_claimers_never_share_a_job(store: DynStore) {
    const JOBS: usize = 200;
    let mut all = HashSet::new();
    for i in 0..JOBS {
        all.insert(enqueue(&store, serde_json::json!({ "i": i }), T0).await);
    }
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let jobs = store
                        .claim_jobs(T0, 10 * MINUTE_MS, 7)
                        .await
                        .expect("claim_jobs");
                    if jobs.is_empty() {
                        break;
                    }
                    for j in jobs {
                        assert_eq!(j.attempts, 1, "job {} claimed twice", j.id);
                        mine.push(j.id);
                    }
                    tokio::task::yield_now().await;
                }
                mine
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for w in workers {
        claimed.extend(w.await.expect("worker"));
    }
    let unique: HashSet<i64> = claimed.iter().copied().collect();
    assert_eq!(unique.len(), claimed.len(), "a job was handed out twice");
    assert_eq!(unique, all, "every job claimed");
    assert!(claim(&store, T0, MINUTE_MS, 10).await.is_empty());
}

/// Retry releases the lease and reschedules, kill makes a job dead and unclaimable, complete
/// deletes it; `job_counts` follows. Calls on a job that is gone are harmless.
async fn case_retry_kill_complete_and_counts(store: DynStore) {
    let lease = 60 * MINUTE_MS;
    let a = enqueue(&store, serde_json::json!({ "n": "a" }), T0).await;
    let b = enqueue(&store, serde_json::json!({ "n": "b" }), T0).await;
    let c = enqueue(&store, serde_json::json!({ "n": "c" }), T0).await;
    assert_eq!(ids(&claim(&store, T0, lease, 10).await), vec![a, b, c]);

    let retry_at = T0.plus_millis(5 * MINUTE_MS);
    store
        .retry_job(a, retry_at, "421 try later")
        .await
        .expect("retry");
    assert!(claim(&store, retry_at.plus_millis(-1), lease, 10)
        .await
        .is_empty());
    let again = claim(&store, retry_at, lease, 10).await;
    assert_eq!(
        ids(&again),
        vec![a],
        "retried job due again, its lease released"
    );
    assert_eq!(again[0].attempts, 2);

    store.kill_job(b, "550 no such user").await.expect("kill");
    assert_eq!(counts(&store).await, (2, 1));
    let much_later = T0.plus_millis(3 * lease);
    assert_eq!(
        ids(&claim(&store, much_later, lease, 10).await),
        vec![c, a],
        "by run_at: c (T0) before the retried a"
    );

    store.complete_job(c).await.expect("complete");
    assert_eq!(counts(&store).await, (1, 1));
    store.complete_job(c).await.expect("complete twice");
    store
        .retry_job(c, T0, "gone")
        .await
        .expect("retry gone job");
    store.kill_job(c, "gone").await.expect("kill gone job");
    assert_eq!(counts(&store).await, (1, 1), "a gone job stays gone");
    store.complete_job(a).await.expect("complete");
    assert_eq!(counts(&store).await, (0, 1));
    assert!(claim(&store, T0.plus_millis(10 * lease), lease, 10)
        .await
        .is_empty());
}

/// `mark_notified` sets `notified_at` the first time only and `notified` only from `queued`.
async fn case_mark_notified_sets_notified_at_once(store: DynStore) {
    let (_, m) = seeded_message(&store).await;
    let (r0, r1) = (&m.recipients[0], &m.recipients[1]);
    let t1 = T0.plus_millis(1);
    store
        .mark_notified(&r0.id, &ev(r0, "notified", t1), None)
        .await
        .expect("mark");
    let row = recipient(&store, &r0.id).await;
    assert_eq!(row.status, RecipientStatus::Notified);
    assert_eq!(row.notified_at, Some(t1));
    store
        .mark_notified(&r0.id, &ev(r0, "notified", T0.plus_millis(2)), None)
        .await
        .expect("mark again");
    let row = recipient(&store, &r0.id).await;
    assert_eq!(row.notified_at, Some(t1), "first time only");
    assert_eq!(row.status, RecipientStatus::Notified);

    store
        .record_event(&ev(r1, "opened", T0), Some(RecipientStatus::Opened))
        .await
        .expect("record_event");
    let t3 = T0.plus_millis(3);
    store
        .mark_notified(&r1.id, &ev(r1, "notified", t3), None)
        .await
        .expect("mark");
    let row = recipient(&store, &r1.id).await;
    assert_eq!(row.status, RecipientStatus::Opened, "only from queued");
    assert_eq!(row.notified_at, Some(t3));

    let kinds = event_kinds(&store, &m.message.id).await;
    assert_eq!(kinds.iter().filter(|k| *k == "notified").count(), 3);
}

/// `mark_notified` with its job ends that job in the same transaction; when the recipient is
/// unknown nothing changes, the job included.
async fn case_mark_notified_completes_its_job(store: DynStore) {
    let (_, m) = seeded_message(&store).await;
    let r = &m.recipients[0];
    let lease = MINUTE_MS;
    let job = enqueue(&store, serde_json::json!({ "n": "notify" }), T0).await;
    let other = enqueue(&store, serde_json::json!({ "n": "other" }), T0).await;
    // The seeded message has its own notification jobs too.
    let claimed = ids(&claim(&store, T0, lease, 10).await);
    assert!(
        claimed.contains(&job) && claimed.contains(&other),
        "{claimed:?}"
    );
    let (pending, dead) = counts(&store).await;
    let ghost = RecipientRow {
        id: "no-such-recipient".into(),
        ..r.clone()
    };
    assert!(matches!(
        store
            .mark_notified(&ghost.id, &ev(r, "notified", T0), Some(job))
            .await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        counts(&store).await,
        (pending, dead),
        "a failed mark keeps the job"
    );
    store
        .mark_notified(&r.id, &ev(r, "notified", T0.plus_millis(1)), Some(job))
        .await
        .expect("mark with job");
    assert_eq!(counts(&store).await, (pending - 1, dead), "the job is gone");
    assert_eq!(
        recipient(&store, &r.id).await.status,
        RecipientStatus::Notified
    );
    let again = ids(&claim(&store, T0.plus_millis(2 * lease), lease, 10).await);
    assert!(
        again.contains(&other) && !again.contains(&job),
        "only the other jobs come back after the lease: {again:?}"
    );
}

/// Many notification marks at once (both stores write them together) each get their own
/// answer: a known recipient is marked with its event and its job ended; an unknown one gets
/// `NotFound`, writes no event and keeps its job.
async fn case_concurrent_marks_answer_alone(store: DynStore) {
    let sender = fx::seed_sender(&store).await;
    let messages: Vec<NewMessage> = (0..12).map(|_| fx::new_message(&sender, T0)).collect();
    for m in &messages {
        store.insert_message(m).await.expect("insert_message");
    }
    let mut jobs = Vec::new();
    for i in 0..16 {
        jobs.push(enqueue(&store, serde_json::json!({ "n": i }), T0).await);
    }
    let (pending, dead) = counts(&store).await;
    let tasks: Vec<_> = (0..16_usize)
        .map(|i| {
            let store = store.clone();
            let (rid, event) = match messages.get(i) {
                Some(m) => {
                    let r = &m.recipients[0];
                    (r.id.clone(), ev(r, "notified", T0.plus_millis(i as i64)))
                }
                // An unknown recipient whose event names a real message.
                None => (
                    format!("ghost-{i}"),
                    ev(&messages[0].recipients[1], "notified", T0),
                ),
            };
            let job = jobs[i];
            tokio::spawn(async move { store.mark_notified(&rid, &event, Some(job)).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.expect("mark task"));
    }
    for (i, outcome) in outcomes.iter().enumerate() {
        if i < messages.len() {
            assert!(outcome.is_ok(), "mark {i}: {outcome:?}");
            let r = recipient(&store, &messages[i].recipients[0].id).await;
            assert_eq!(r.status, RecipientStatus::Notified, "recipient {i}");
            assert_eq!(
                r.notified_at,
                Some(T0.plus_millis(i as i64)),
                "recipient {i}"
            );
            let kinds = event_kinds(&store, &messages[i].message.id).await;
            assert_eq!(
                kinds.iter().filter(|k| *k == "notified").count(),
                1,
                "message {i}: {kinds:?}"
            );
        } else {
            assert!(
                matches!(outcome, Err(StoreError::NotFound)),
                "mark {i}: {outcome:?}"
            );
        }
    }
    assert_eq!(
        recipient(&store, &messages[0].recipients[1].id)
            .await
            .status,
        RecipientStatus::Queued,
        "an unknown recipient's mark touches nobody else"
    );
    assert_eq!(counts(&store).await, (pending - 12, dead), "12 jobs ended");
    let claimed = ids(&claim(&store, T0, MINUTE_MS, 100).await);
    for (i, job) in jobs.iter().enumerate() {
        assert_eq!(claimed.contains(job), i >= 12, "job {i}");
    }
}

/// `mark_failed` sets `failed` with the server's reason and records the event; it never
/// overwrites a recipient who has already opened the message.
async fn case_mark_failed(store: DynStore) {
    let (_, m) = seeded_message(&store).await;
    let (r0, r1) = (&m.recipients[0], &m.recipients[1]);
    let reason = "550 5.1.1 <patient@mail.example>: user unknown";
    let mut event = ev(r0, "failed", T0.plus_millis(1));
    event.detail = Some(reason.to_owned());
    store
        .mark_failed(&r0.id, reason, &event)
        .await
        .expect("mark_failed");
    let row = recipient(&store, &r0.id).await;
    assert_eq!(row.status, RecipientStatus::Failed);
    assert_eq!(row.failed_reason.as_deref(), Some(reason));
    let events = store.events_of(&m.message.id).await.expect("events");
    assert_eq!(events.last().map(|e| &e.event), Some(&event));

    store
        .record_event(&ev(r1, "opened", T0), Some(RecipientStatus::Opened))
        .await
        .expect("record_event");
    store
        .mark_failed(&r1.id, "550 late", &ev(r1, "failed", T0.plus_millis(2)))
        .await
        .expect("mark_failed");
    assert_eq!(
        recipient(&store, &r1.id).await.status,
        RecipientStatus::Opened
    );
    let kinds = event_kinds(&store, &m.message.id).await;
    assert_eq!(kinds.iter().filter(|k| *k == "failed").count(), 2);
}

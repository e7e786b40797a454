//! `AccessStore`, continued: one-time codes under attack. `set_code` (caps per window, the
//! SMS budget, refusals while locked or blocked), `check_code` (one locked transaction per
//! try: counting, growing lockouts, the block, concurrent tries counted one after another)
//! and the sender's `unblock_recipient`.

use super::support::{
    check, check_with, claim, counts, ev, event_kinds, hash32, lock_out, recipient, request,
    seeded_message, set_code, wrong, BLOCK_AFTER, LOCK_MS, MAX_TRIES, WRONG_MAC,
};
use super::Case;
use crate::fixtures::{self as fx, MINUTE_MS, T0};
use zegel_core::codes::*;
use zegel_core::model::*;
use zegel_core::DynStore;

/// The cases of this section, run by `tests/store_suite.rs` on both backends.
pub(super) const CASES: &[Case] = &[
    case!(case_set_code_replaces_code_and_enqueues_job),
    case!(case_set_code_refused_while_locked),
    case!(case_set_code_caps_requests_per_window),
    case!(case_set_code_counts_the_sms_budget),
    case!(case_concurrent_sms_requests_keep_to_the_budget),
    case!(case_check_code_counts_and_locks),
    case!(case_lockouts_grow_and_the_total_blocks_until_unblocked),
    case!(case_concurrent_wrong_codes_are_counted_one_by_one),
    case!(case_check_code_stale_code_is_wrong),
    case!(case_check_code_success),
    case!(case_check_code_fixed_code_is_kept),
    case!(case_check_code_while_locked),
    case!(case_check_code_race_has_one_winner),
];

/// A one-time code for `r` valid for a day (long enough to outlast the lockouts).
async fn set_day_code(store: &DynStore, r: &RecipientRow, mac: &[u8], at: Ts) {
    let event = ev(r, "code_requested", at);
    let req = CodeRequest {
        expires_at: Some(at.plus_secs(86_400)),
        ..request(r, mac, None, &event, at)
    };
    assert_eq!(
        store.set_code(&req).await.expect("set_code"),
        CodeRequestOutcome::Stored
    );
}

/// A new code replaces the previous one and its delivery job commits with it; the wrong-try
/// counters are not reset by a new code.
async fn case_set_code_replaces_code_and_enqueues_job(store: DynStore) {
    let (_, m) = seeded_message(&store).await;
    let r = &m.recipients[0];
    let job = fx::job(
        "send_code",
        serde_json::json!({ "message_id": r.message_id, "recipient_id": r.id }),
        T0,
    );
    let event = ev(r, "code_requested", T0);
    let result = store
        .set_code(&request(r, b"mac-1", Some(&job), &event, T0))
        .await
        .expect("set_code");
    assert_eq!(result, CodeRequestOutcome::Stored);
    let row = recipient(&store, &r.id).await;
    assert_eq!(row.code_mac.as_deref(), Some(&b"mac-1"[..]));
    assert_eq!(row.code_expires_at, Some(T0.plus_millis(15 * MINUTE_MS)));
    assert_eq!(counts(&store).await, (2, 0));

    wrong(&store, r, T0.plus_millis(1)).await;
    wrong(&store, r, T0.plus_millis(2)).await;
    let later = T0.plus_millis(MINUTE_MS);
    assert_eq!(
        set_code(&store, r, b"mac-2", later).await,
        CodeRequestOutcome::Stored
    );
    let row = recipient(&store, &r.id).await;
    assert_eq!(row.code_mac.as_deref(), Some(&b"mac-2"[..]));
    assert_eq!(row.code_expires_at, Some(later.plus_millis(15 * MINUTE_MS)));
    assert_eq!(
        (row.failed_attempts, row.wrong_total),
        (2, 2),
        "a new code does not reset the wrong-try counters"
    );
    assert_eq!(counts(&store).await, (2, 0), "no job given, none enqueued");
    let kinds = event_kinds(&store, &r.message_id).await;
    assert_eq!(kinds.iter().filter(|k| *k == "code_requested").count(), 2);

    // The job is really there, with its payload.
    let jobs = claim(&store, T0, MINUTE_MS, 10).await;
    assert!(jobs
        .iter()
        .any(|j| j.kind == "send_code" && j.payload == job.payload));
}

/// While locked, `set_code` changes nothing and returns the lock end; after it, the lockout
/// and the round's counter are cleared, the total goes on.
async fn case_set_code_refused_while_locked(store: DynStore) {
    let (_, m) = seeded_message(&store).await;
    let r = &m.recipients[0];
    assert_eq!(
        set_code(&store, r, b"mac-1", T0).await,
        CodeRequestOutcome::Stored
    );
    let until = lock_out(&store, r, T0).await;
    let jobs_before = counts(&store).await;
    let events_before = event_kinds(&store, &r.message_id).await.len();

    let job = fx::notify_job(&r.message_id, &r.id, T0);
    for at in [T0.plus_millis(MAX_TRIES + 1), until] {
        let event = ev(r, "code_requested", at);
        let result = store
            .set_code(&request(r, b"mac-2", Some(&job), &event, at))
            .await
            .expect("set_code");
        assert_eq!(result, CodeRequestOutcome::Locked { until }, "at {at:?}");
    }
    let row = recipient(&store, &r.id).await;
    assert_eq!(row.code_mac.as_deref(), Some(&b"mac-1"[..]));
    assert_eq!(row.locked_until, Some(until));
    assert_eq!(counts(&store).await, jobs_before);
    assert_eq!(
        event_kinds(&store, &r.message_id).await.len(),
        events_before
    );

    let after = until.plus_millis(1);
    let event = ev(r, "code_requested", after);
    let result = store
        .set_code(&request(r, b"mac-3", Some(&job), &event, after))
        .await
        .expect("set_code");
    assert_eq!(result, CodeRequestOutcome::Stored);
    let row = recipient(&store, &r.id).await;
    assert_eq!(row.code_mac.as_deref(), Some(&b"mac-3"[..]));
    assert_eq!(row.failed_attempts, 0);
    assert_eq!(row.wrong_total, MAX_TRIES, "the total survives the lockout");
    assert_eq!(row.locked_until, None);
    assert_eq!(counts(&store).await, (jobs_before.0 + 1, jobs_before.1));
}

/// At most `max_per_window` codes per window, counted from the requests' events in the
/// database: the next one is refused (nothing changes) until the oldest leaves the window.
async fn case_set_code_caps_requests_per_window(store: DynStore) {
    let (_, m) = seeded_message(&store).await;
    let (r, other) = (&m.recipients[0], &m.recipients[1]);
    let window = 15 * MINUTE_MS;
    let ask = |r: &RecipientRow, mac: &'static [u8], at: Ts| {
        let store = store.clone();
        let r = r.clone();
        async move {
            let job = fx::job(
                "send_code",
                serde_json::json!({ "message_id": r.message_id, "recipient_id": r.id }),
                at,
            );
            let event = ev(&r, "code_requested", at);
            let req = CodeRequest {
                max_per_window: 5,
                window_ms: window,
                ..request(&r, mac, Some(&job), &event, at)
            };
            store.set_code(&req).await.expect("set_code")
        }
    };
    for i in 0..5 {
        let at = T0.plus_millis(i * MINUTE_MS);
        assert_eq!(ask(r, b"mac-ok", at).await, CodeRequestOutcome::Stored);
    }
    let jobs = counts(&store).await;
    let events = event_kinds(&store, &r.message_id).await.len();
    let sixth = T0.plus_millis(6 * MINUTE_MS);
    assert_eq!(
        ask(r, b"mac-6", sixth).await,
        CodeRequestOutcome::TooMany {
            retry_at: T0.plus_millis(window)
        }
    );
    let row = recipient(&store, &r.id).await;
    assert_eq!(row.code_mac.as_deref(), Some(&b"mac-ok"[..]));
    assert_eq!(counts(&store).await, jobs, "no job for a refused request");
    assert_eq!(event_kinds(&store, &r.message_id).await.len(), events);
    // Per recipient: the other one may still ask.
    assert_eq!(
        ask(other, b"mac-o", sixth).await,
        CodeRequestOutcome::Stored
    );
    // The oldest request leaves the window at T0 + window: then one more, not two.
    assert_eq!(
        ask(r, b"mac-7", T0.plus_millis(window - 1)).await,
        CodeRequestOutcome::TooMany {
            retry_at: T0.plus_millis(window)
        }
    );
    let free = T0.plus_millis(window);
    assert_eq!(ask(r, b"mac-8", free).await, CodeRequestOutcome::Stored);
    assert_eq!(
        ask(r, b"mac-9", free).await,
        CodeRequestOutcome::TooMany {
            retry_at: T0.plus_millis(window + MINUTE_MS)
        }
    );
    assert_eq!(
        recipient(&store, &r.id).await.code_mac.as_deref(),
        Some(&b"mac-8"[..])
    );
}

/// A code by SMS counts on the organisation's day; when the day's budget is spent the
/// request is refused and only the refusal is counted; the next day starts at 0.
async fn case_set_code_counts_the_sms_budget(store: DynStore) {
    let (sender, m) = seeded_message(&store).await;
    let (r0, r1) = (&m.recipients[0], &m.recipients[1]);
    let org = sender.org.id.clone();
    let day = utc_day(T0);
    let ask = |r: &RecipientRow, mac: &'static [u8], day: i64, per_day: i64| {
        let store = store.clone();
        let r = r.clone();
        let org = org.clone();
        async move {
            let job = fx::job("send_code", serde_json::json!({ "recipient_id": r.id }), T0);
            let event = ev(&r, "code_requested", T0);
            let req = CodeRequest {
                sms_budget: Some(SmsBudget {
                    org_id: &org,
                    day,
                    per_day,
                }),
                ..request(&r, mac, Some(&job), &event, T0)
            };
            store.set_code(&req).await.expect("set_code")
        }
    };
    let usage = |store: DynStore, day: i64| async move {
        store
            .sms_usage(day)
            .await
            .expect("sms_usage")
            .into_iter()
            .map(|u| (u.org_slug, u.per_day, u.sent, u.refused))
            .collect::<Vec<_>>()
    };
    let slug = sender.org.slug.clone();
    assert_eq!(
        usage(store.clone(), day).await,
        vec![(slug.clone(), DEFAULT_SMS_PER_DAY, 0, 0)]
    );
    assert_eq!(ask(r0, b"a", day, 2).await, CodeRequestOutcome::Stored);
    assert_eq!(ask(r1, b"b", day, 2).await, CodeRequestOutcome::Stored);
    let jobs = counts(&store).await;
    let events = event_kinds(&store, &m.message.id).await.len();
    assert_eq!(
        ask(r0, b"c", day, 2).await,
        CodeRequestOutcome::SmsBudgetSpent
    );
    assert_eq!(
        ask(r0, b"d", day, 2).await,
        CodeRequestOutcome::SmsBudgetSpent
    );
    assert_eq!(
        recipient(&store, &r0.id).await.code_mac.as_deref(),
        Some(&b"a"[..])
    );
    assert_eq!(counts(&store).await, jobs, "no SMS job over the budget");
    assert_eq!(event_kinds(&store, &m.message.id).await.len(), events);
    assert_eq!(
        usage(store.clone(), day).await,
        vec![(slug.clone(), DEFAULT_SMS_PER_DAY, 2, 2)]
    );
    // A code without a budget (e-mail) is not counted; the next day has its own budget.
    assert_eq!(
        set_code(&store, r0, b"e", T0).await,
        CodeRequestOutcome::Stored
    );
    assert_eq!(ask(r0, b"f", day + 1, 2).await, CodeRequestOutcome::Stored);
    assert_eq!(
        usage(store.clone(), day + 1).await,
        vec![(slug.clone(), DEFAULT_SMS_PER_DAY, 1, 0)]
    );
    // A budget of 0: no SMS at all.
    assert_eq!(
        ask(r1, b"g", day + 2, 0).await,
        CodeRequestOutcome::SmsBudgetSpent
    );
    // Another organisation counts on its own.
    let other = fx::seed_sender(&store).await;
    let m2 = fx::new_message(&other, T0);
    store.insert_message(&m2).await.expect("insert");
    let r = m2.recipients[0].clone();
    let job = fx::job("send_code", serde_json::json!({ "recipient_id": r.id }), T0);
    let event = ev(&r, "code_requested", T0);
    let req = CodeRequest {
        sms_budget: Some(SmsBudget {
            org_id: &other.org.id,
            day,
            per_day: 2,
        }),
        ..request(&r, b"h", Some(&job), &event, T0)
    };
    assert_eq!(
        store.set_code(&req).await.expect("set_code"),
        CodeRequestOutcome::Stored
    );
}

/// Twelve recipients of one organisation ask for an SMS code at once with a budget of 5:
/// exactly five codes are stored, and the counts say so.
async fn case_concurrent_sms_requests_keep_to_the_budget(store: DynStore) {
    let sender = fx::seed_sender(&store).await;
    let mut recipients = Vec::new();
    for i in 0..6 {
        let m = fx::new_message(&sender, T0.plus_millis(i));
        store.insert_message(&m).await.expect("insert");
        recipients.extend(m.recipients.clone());
    }
    let day = utc_day(T0);
    let tasks: Vec<_> = recipients
        .iter()
        .cloned()
        .map(|r| {
            let store = store.clone();
            let org = sender.org.id.clone();
            tokio::spawn(async move {
                let job = fx::job("send_code", serde_json::json!({ "recipient_id": r.id }), T0);
                let event = ev(&r, "code_requested", T0);
                let req = CodeRequest {
                    sms_budget: Some(SmsBudget {
                        org_id: &org,
                        day,
                        per_day: 5,
                    }),
                    ..request(&r, b"mac", Some(&job), &event, T0)
                };
                store.set_code(&req).await.expect("set_code")
            })
        })
        .collect();
    let mut stored = 0;
    for t in tasks {
        match t.await.expect("join") {
            CodeRequestOutcome::Stored => stored += 1,
            CodeRequestOutcome::SmsBudgetSpent => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(stored, 5);
    let usage = store.sms_usage(day).await.expect("sms_usage");
    assert_eq!(
        usage
            .iter()
            .map(|u| (u.sent, u.refused))
            .collect::<Vec<_>>(),
        vec![(5, 7)]
    );
}

/// Wrong codes count down 4..0, the last one locks (one `locked` event); a try during the lock
/// is not counted; after it a new round starts while the total goes on.
async fn case_check_code_counts_and_locks(store: DynStore) {
    let (_, m) = seeded_message(&store).await;
    let r = &m.recipients[0];
    set_day_code(&store, r, b"mac-1", T0).await;
    for i in 1..MAX_TRIES {
        assert_eq!(
            wrong(&store, r, T0.plus_millis(i)).await,
            CodeVerdict::Wrong {
                remaining: u32::try_from(MAX_TRIES - i).expect("small"),
                locked_until: None,
                blocked: false
            }
        );
    }
    let until = T0.plus_millis(MAX_TRIES + LOCK_MS);
    assert_eq!(
        wrong(&store, r, T0.plus_millis(MAX_TRIES)).await,
        CodeVerdict::Wrong {
            remaining: 0,
            locked_until: Some(until),
            blocked: false
        }
    );
    let row = recipient(&store, &r.id).await;
    assert_eq!(
        (row.failed_attempts, row.wrong_total),
        (MAX_TRIES, MAX_TRIES)
    );
    assert_eq!(row.locked_until, Some(until));

    // During the lock: refused, not counted, nothing recorded; the lock is kept as it is.
    let events = event_kinds(&store, &r.message_id).await;
    assert_eq!(
        wrong(&store, r, T0.plus_millis(MINUTE_MS)).await,
        CodeVerdict::Locked { until }
    );
    assert_eq!(event_kinds(&store, &r.message_id).await, events);
    let row = recipient(&store, &r.id).await;
    assert_eq!(
        (row.wrong_total, row.locked_until),
        (MAX_TRIES, Some(until))
    );

    // After the lock: a new round (4 left), the total goes on.
    assert_eq!(
        wrong(&store, r, until.plus_millis(1)).await,
        CodeVerdict::Wrong {
            remaining: 4,
            locked_until: None,
            blocked: false
        }
    );
    let row = recipient(&store, &r.id).await;
    assert_eq!((row.failed_attempts, row.wrong_total), (1, MAX_TRIES + 1));
    assert_eq!(row.locked_until, None);

    let kinds = event_kinds(&store, &r.message_id).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "code_wrong").count(),
        usize::try_from(MAX_TRIES + 1).expect("small")
    );
    assert_eq!(kinds.iter().filter(|k| *k == "locked").count(), 1);
    // Counters are per recipient.
    let other = recipient(&store, &m.recipients[1].id).await;
    assert_eq!((other.failed_attempts, other.wrong_total), (0, 0));
}

/// Lockouts grow 15 min, 1 h, 4 h; the 20th wrong code in total blocks for good: even the
/// right code, a new code and a remembered device are refused until the sender unblocks.
async fn case_lockouts_grow_and_the_total_blocks_until_unblocked(store: DynStore) {
    let (_, m) = seeded_message(&store).await;
    let r = &m.recipients[0];
    set_day_code(&store, r, b"right", T0).await;
    let mut now = T0;
    let mut locks = Vec::new();
    for _ in 0..3 {
        let until = lock_out(&store, r, now).await;
        locks.push(until.0 - now.0 - MAX_TRIES);
        assert_eq!(
            check(&store, r, b"right", until).await,
            CodeVerdict::Locked { until },
            "the right code during a lockout"
        );
        now = until;
    }
    assert_eq!(locks, vec![LOCK_MS, 4 * LOCK_MS, 16 * LOCK_MS]);
    // The fourth round: the 20th wrong try blocks.
    for i in 1..MAX_TRIES {
        assert!(matches!(
            wrong(&store, r, now.plus_millis(i)).await,
            CodeVerdict::Wrong { blocked: false, .. }
        ));
    }
    let at = now.plus_millis(MAX_TRIES);
    assert_eq!(
        wrong(&store, r, at).await,
        CodeVerdict::Wrong {
            remaining: 0,
            locked_until: None,
            blocked: true
        }
    );
    let row = recipient(&store, &r.id).await;
    assert_eq!(row.wrong_total, BLOCK_AFTER);
    assert_eq!(row.blocked_at, Some(at));
    let kinds = event_kinds(&store, &r.message_id).await;
    assert_eq!(kinds.iter().filter(|k| *k == "locked").count(), 3);
    assert_eq!(kinds.iter().filter(|k| *k == "blocked").count(), 1);

    // Blocked, a year later too: no code accepted, no new code, no device.
    let year = at.plus_secs(365 * 86_400);
    let (verdict, session) = check_with(&store, r, b"right", true, year).await;
    assert_eq!(verdict, CodeVerdict::Blocked);
    assert_eq!(
        store
            .session_by_hash(&hash32(&session.token_hash))
            .await
            .expect("session"),
        None
    );
    assert_eq!(
        set_code(&store, r, b"new", year).await,
        CodeRequestOutcome::Blocked
    );
    let token = fx::random_hash();
    let device = DeviceRow {
        id: fx::new_id(),
        recipient_id: r.id.clone(),
        token_hash: token.to_vec(),
        user_agent: None,
        created_at: T0,
        expires_at: year.plus_secs(86_400),
        last_used_at: None,
        revoked_at: None,
    };
    store
        .create_device(&device, &ev(r, "device_remembered", T0))
        .await
        .expect("create_device");
    let session = fx::session(&r.id, year, MINUTE_MS);
    assert!(!store
        .accept_device(&token, &session, &ev(r, "opened", year), year)
        .await
        .expect("accept_device"));

    // The sender unblocks: counters back to 0, the event recorded; a second unblock has
    // nothing to reset. Then the right code works.
    let unblocked = ev(r, "unblocked", year);
    assert!(store
        .unblock_recipient(&r.id, &unblocked)
        .await
        .expect("unblock"));
    let row = recipient(&store, &r.id).await;
    assert_eq!(
        (
            row.failed_attempts,
            row.wrong_total,
            row.locked_until,
            row.blocked_at
        ),
        (0, 0, None, None)
    );
    assert!(!store
        .unblock_recipient(&r.id, &unblocked)
        .await
        .expect("unblock"));
    let kinds = event_kinds(&store, &r.message_id).await;
    assert_eq!(kinds.iter().filter(|k| *k == "unblocked").count(), 1);
    assert_eq!(
        set_code(&store, r, b"fresh", year).await,
        CodeRequestOutcome::Stored
    );
    assert_eq!(
        check(&store, r, b"fresh", year.plus_millis(1)).await,
        CodeVerdict::Accepted
    );
}

/// Twenty wrong codes at once are decided one after another: five answers `Wrong` (4..0, the
/// last one locking), fifteen `Locked`; one lockout, five `code_wrong` events.
async fn case_concurrent_wrong_codes_are_counted_one_by_one(store: DynStore) {
    let (_, m) = seeded_message(&store).await;
    let r = m.recipients[0].clone();
    assert_eq!(
        set_code(&store, &r, b"right", T0).await,
        CodeRequestOutcome::Stored
    );
    let now = T0.plus_millis(1);
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            let r = r.clone();
            tokio::spawn(async move { wrong(&store, &r, now).await })
        })
        .collect();
    let mut remaining = Vec::new();
    let mut locked = 0;
    for t in tasks {
        match t.await.expect("join") {
            CodeVerdict::Wrong {
                remaining: n,
                blocked: false,
                ..
            } => remaining.push(n),
            CodeVerdict::Locked { .. } => locked += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    remaining.sort_unstable();
    assert_eq!(remaining, vec![0, 1, 2, 3, 4]);
    assert_eq!(locked, 15);
    let row = recipient(&store, &r.id).await;
    assert_eq!((row.failed_attempts, row.wrong_total), (5, 5));
    assert_eq!(row.locked_until, Some(now.plus_millis(LOCK_MS)));
    let kinds = event_kinds(&store, &r.message_id).await;
    assert_eq!(kinds.iter().filter(|k| *k == "code_wrong").count(), 5);
    assert_eq!(kinds.iter().filter(|k| *k == "locked").count(), 1);
}

/// A code that was replaced is a wrong code: counted, no session.
async fn case_check_code_stale_code_is_wrong(store: DynStore) {
    let (_, m) = seeded_message(&store).await;
    let r = &m.recipients[0];
    assert_eq!(
        set_code(&store, r, b"mac-1", T0).await,
        CodeRequestOutcome::Stored
    );
    assert_eq!(
        set_code(&store, r, b"mac-2", T0.plus_millis(1)).await,
        CodeRequestOutcome::Stored
    );
    let (verdict, session) = check_with(&store, r, b"mac-1", true, T0.plus_millis(2)).await;
    assert!(matches!(verdict, CodeVerdict::Wrong { remaining: 4, .. }));
    assert_eq!(
        store
            .session_by_hash(&hash32(&session.token_hash))
            .await
            .expect("session"),
        None
    );
    let row = recipient(&store, &r.id).await;
    assert_eq!(row.status, RecipientStatus::Queued);
    assert_eq!(row.code_mac.as_deref(), Some(&b"mac-2"[..]));
    assert_eq!(row.wrong_total, 1);
}

/// The right code resets the counters, uses up a one-time code, creates the session, opens
/// the recipient and records the event, all at once; the same code again is not counted.
async fn case_check_code_success(store: DynStore) {
    let (_, m) = seeded_message(&store).await;
    let r = &m.recipients[0];
    assert_eq!(
        set_code(&store, r, b"mac-1", T0).await,
        CodeRequestOutcome::Stored
    );
    wrong(&store, r, T0.plus_millis(1)).await;
    wrong(&store, r, T0.plus_millis(2)).await;
    assert_eq!(recipient(&store, &r.id).await.wrong_total, 2);

    let now = T0.plus_millis(3);
    let (verdict, session) = check_with(&store, r, b"mac-1", true, now).await;
    assert_eq!(verdict, CodeVerdict::Accepted);
    let row = recipient(&store, &r.id).await;
    assert_eq!((row.failed_attempts, row.wrong_total), (0, 0));
    assert_eq!(row.code_mac, None);
    assert_eq!(row.code_expires_at, None);
    assert_eq!(row.status, RecipientStatus::Opened);
    assert_eq!(
        store
            .session_by_hash(&hash32(&session.token_hash))
            .await
            .expect("session"),
        Some(session.clone())
    );
    assert_eq!(
        event_kinds(&store, &r.message_id)
            .await
            .last()
            .map(String::as_str),
        Some("opened")
    );

    // Used up: the same code again has nothing to compare with (expired, not counted).
    let (verdict, again) = check_with(&store, r, b"mac-1", true, now).await;
    assert_eq!(verdict, CodeVerdict::Expired);
    assert_eq!(recipient(&store, &r.id).await.wrong_total, 0);
    assert_eq!(
        store
            .session_by_hash(&hash32(&again.token_hash))
            .await
            .expect("session"),
        None
    );
    // An expired one-time code: not compared, not counted.
    assert_eq!(
        set_code(&store, r, b"mac-2", now).await,
        CodeRequestOutcome::Stored
    );
    let late = now.plus_millis(15 * MINUTE_MS);
    assert_eq!(check(&store, r, b"mac-2", late).await, CodeVerdict::Expired);
    assert_eq!(
        check(&store, r, WRONG_MAC, late).await,
        CodeVerdict::Expired
    );
    assert_eq!(recipient(&store, &r.id).await.wrong_total, 0);
}

/// A code the sender gave (`one_time = false`) stays valid after use and does not expire.
async fn case_check_code_fixed_code_is_kept(store: DynStore) {
    let (_, m) = seeded_message(&store).await;
    let r = &m.recipients[1];
    let mac = r
        .code_mac
        .clone()
        .expect("fixture gives recipient 1 a fixed code");
    store
        .mark_notified(&r.id, &ev(r, "notified", T0), None)
        .await
        .expect("mark_notified");
    for i in 1..=2 {
        let now = T0.plus_secs(i * 86_400);
        let (verdict, session) = check_with(&store, r, &mac, false, now).await;
        assert_eq!(verdict, CodeVerdict::Accepted, "fixed code on visit {i}");
        assert!(store
            .session_by_hash(&hash32(&session.token_hash))
            .await
            .expect("session")
            .is_some());
    }
    let row = recipient(&store, &r.id).await;
    assert_eq!(row.code_mac, Some(mac));
    assert_eq!(row.status, RecipientStatus::Opened);
}

/// Even the right code is refused while locked (inclusive of the lock end), and accepted after.
async fn case_check_code_while_locked(store: DynStore) {
    let (_, m) = seeded_message(&store).await;
    let r = &m.recipients[0];
    assert_eq!(
        set_code(&store, r, b"mac-1", T0).await,
        CodeRequestOutcome::Stored
    );
    let until = lock_out(&store, r, T0).await;
    for now in [T0.plus_millis(MINUTE_MS), until] {
        let (verdict, session) = check_with(&store, r, b"mac-1", true, now).await;
        assert_eq!(verdict, CodeVerdict::Locked { until }, "at {now:?}");
        assert_eq!(
            store
                .session_by_hash(&hash32(&session.token_hash))
                .await
                .expect("session"),
            None
        );
    }
    let row = recipient(&store, &r.id).await;
    assert_eq!(row.status, RecipientStatus::Queued);
    assert_eq!(row.code_mac.as_deref(), Some(&b"mac-1"[..]));

    assert_eq!(
        set_code(&store, r, b"mac-2", until.plus_millis(1)).await,
        CodeRequestOutcome::Stored
    );
    assert_eq!(
        check(&store, r, b"mac-2", until.plus_millis(2)).await,
        CodeVerdict::Accepted
    );
    let row = recipient(&store, &r.id).await;
    assert_eq!((row.failed_attempts, row.wrong_total), (0, 0));
    assert_eq!(row.locked_until, None);
}

/// Eight simultaneous verifications of one one-time code: exactly one session; the others
/// find the code used (not counted).
async fn case_check_code_race_has_one_winner(store: DynStore) {
    let (_, m) = seeded_message(&store).await;
    let r = m.recipients[0].clone();
    assert_eq!(
        set_code(&store, &r, b"mac-1", T0).await,
        CodeRequestOutcome::Stored
    );
    let now = T0.plus_millis(1);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let r = r.clone();
            tokio::spawn(async move { check_with(&store, &r, b"mac-1", true, now).await })
        })
        .collect();
    let mut winners = 0;
    for t in tasks {
        let (verdict, session) = t.await.expect("task");
        let ok = verdict == CodeVerdict::Accepted;
        if !ok {
            assert_eq!(verdict, CodeVerdict::Expired);
        }
        winners += usize::from(ok);
        let found = store
            .session_by_hash(&hash32(&session.token_hash))
            .await
            .expect("session");
        assert_eq!(
            found.is_some(),
            ok,
            "a session exists exactly for the winner"
        );
    }
    assert_eq!(winners, 1);
    assert_eq!(recipient(&store, &r.id).await.wrong_total, 0);
    let kinds = event_kinds(&store, &r.message_id).await;
    assert_eq!(kinds.iter().filter(|k| *k == "opened").count(), 1);
}

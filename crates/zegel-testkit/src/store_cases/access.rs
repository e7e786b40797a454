//! `AccessStore`: link lookups, one-time codes, sessions and events.

use super::support::{
    claim, counts, ev, event_kinds, hash32, lock_out, recipient, seeded_message, set_code, wrong,
    LOCK_MS, MAX_TRIES,
};
use super::Case;
use crate::fixtures::{self as fx, MINUTE_MS, T0};
use zegel_core::model::*;
use zegel_core::{DynStore, StoreError};

/// The cases of this section, run by `tests/store_suite.rs` on both backends.
pub(super) const CASES: &[Case] = &[
    case!(case_access_by_link_hash),
    case!(case_set_code_replaces_code_and_enqueues_job),
    case!(case_set_code_refused_while_locked),
    case!(case_record_wrong_code_counts_and_locks),
    case!(case_accept_code_stale_mac),
    case!(case_accept_code_success),
    case!(case_accept_code_fixed_code_is_kept),
    case!(case_accept_code_while_locked),
    case!(case_accept_code_race_has_one_winner),
    case!(case_unknown_recipient_is_not_found),
    case!(case_record_event_status_transitions),
];

/// A link hash (or recipient id) finds recipient, message, sender name and organisation name;
/// the meta read gives the same without the subject and body ciphertext.
async fn case_access_by_link_hash(store: DynStore) {
    let (sender, m) = seeded_message(&store).await;
    let r = &m.recipients[1];
    let access = store
        .access_by_link_hash(&hash32(&r.link_hash))
        .await
        .expect("access_by_link_hash")
        .expect("known link");
    assert_eq!(access.recipient, *r);
    assert_eq!(access.message, m.message);
    assert_eq!(access.sender_name, sender.user.name);
    assert_eq!(access.org_name, sender.org.name);
    assert!(access.message.subject_ct.is_some() && access.message.body_ct.is_some());
    assert_eq!(
        store
            .access_meta_by_recipient(&r.id)
            .await
            .expect("access_meta_by_recipient"),
        Some(RecipientAccess {
            message: MessageRow {
                subject_ct: None,
                body_ct: None,
                ..access.message.clone()
            },
            ..access.clone()
        })
    );
    assert_eq!(
        store
            .access_by_recipient(&r.id)
            .await
            .expect("access_by_recipient"),
        Some(access)
    );
    assert_eq!(
        store
            .access_meta_by_recipient("nope")
            .await
            .expect("lookup"),
        None
    );
    assert_eq!(
        store
            .access_by_link_hash(&fx::random_hash())
            .await
            .expect("lookup"),
        None
    );
    assert_eq!(
        store.access_by_recipient("nope").await.expect("lookup"),
        None
    );
}

/// A new code replaces the previous one and its delivery job commits with it; the wrong-try
/// counter is not reset by a new code.
async fn case_set_code_replaces_code_and_enqueues_job(store: DynStore) {
    let (_, m) = seeded_message(&store).await;
    let r = &m.recipients[0];
    let job = fx::job(
        "send_code",
        serde_json::json!({ "message_id": r.message_id, "recipient_id": r.id }),
        T0,
    );
    let expires = T0.plus_millis(15 * MINUTE_MS);
    let result = store
        .set_code(
            &r.id,
            b"mac-1",
            Some(expires),
            Some(&job),
            &ev(r, "code_sent", T0),
            T0,
        )
        .await
        .expect("set_code");
    assert_eq!(result, Ok(()));
    let row = recipient(&store, &r.id).await;
    assert_eq!(row.code_mac.as_deref(), Some(&b"mac-1"[..]));
    assert_eq!(row.code_expires_at, Some(expires));
    assert_eq!(counts(&store).await, (2, 0));

    wrong(&store, r, T0.plus_millis(1)).await;
    wrong(&store, r, T0.plus_millis(2)).await;
    let later = T0.plus_millis(MINUTE_MS);
    assert_eq!(set_code(&store, r, b"mac-2", later).await, Ok(()));
    let row = recipient(&store, &r.id).await;
    assert_eq!(row.code_mac.as_deref(), Some(&b"mac-2"[..]));
    assert_eq!(row.code_expires_at, Some(later.plus_millis(15 * MINUTE_MS)));
    assert_eq!(
        row.failed_attempts, 2,
        "a new code does not reset the wrong-try counter"
    );
    assert_eq!(counts(&store).await, (2, 0), "no job given, none enqueued");
    let kinds = event_kinds(&store, &r.message_id).await;
    assert_eq!(kinds.iter().filter(|k| *k == "code_sent").count(), 2);

    // The job is really there, with its payload.
    let jobs = claim(&store, T0, MINUTE_MS, 10).await;
    assert!(jobs
        .iter()
        .any(|j| j.kind == "send_code" && j.payload == job.payload));
}

/// While locked, `set_code` changes nothing and returns the lock end; after it, the lockout
/// and the counter are cleared.
async fn case_set_code_refused_while_locked(store: DynStore) {
    let (_, m) = seeded_message(&store).await;
    let r = &m.recipients[0];
    assert_eq!(set_code(&store, r, b"mac-1", T0).await, Ok(()));
    let until = lock_out(&store, r, T0).await;
    let jobs_before = counts(&store).await;
    let events_before = event_kinds(&store, &r.message_id).await.len();

    let job = fx::notify_job(&r.message_id, &r.id, T0);
    for at in [T0.plus_millis(MAX_TRIES + 1), until] {
        let result = store
            .set_code(
                &r.id,
                b"mac-2",
                Some(at),
                Some(&job),
                &ev(r, "code_sent", at),
                at,
            )
            .await
            .expect("set_code");
        assert_eq!(result, Err(until), "locked at {at:?}");
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
    let result = store
        .set_code(
            &r.id,
            b"mac-3",
            Some(after),
            Some(&job),
            &ev(r, "code_sent", after),
            after,
        )
        .await
        .expect("set_code");
    assert_eq!(result, Ok(()));
    let row = recipient(&store, &r.id).await;
    assert_eq!(row.code_mac.as_deref(), Some(&b"mac-3"[..]));
    assert_eq!(row.failed_attempts, 0);
    assert_eq!(row.locked_until, None);
    assert_eq!(counts(&store).await, (jobs_before.0 + 1, jobs_before.1));
}

/// Wrong codes count 1..max, the last one locks; a running lock is not extended; once the lock
/// has passed the count restarts at 1.
async fn case_record_wrong_code_counts_and_locks(store: DynStore) {
    let (_, m) = seeded_message(&store).await;
    let r = &m.recipients[0];
    for i in 1..MAX_TRIES {
        let out = wrong(&store, r, T0.plus_millis(i)).await;
        assert_eq!(out.failed_attempts, i);
        assert_eq!(out.locked_until, None);
    }
    let until = T0.plus_millis(MAX_TRIES + LOCK_MS);
    let out = wrong(&store, r, T0.plus_millis(MAX_TRIES)).await;
    assert_eq!(out.failed_attempts, MAX_TRIES);
    assert_eq!(out.locked_until, Some(until));
    let row = recipient(&store, &r.id).await;
    assert_eq!(row.failed_attempts, MAX_TRIES);
    assert_eq!(row.locked_until, Some(until));

    // A racing wrong try during the lock keeps the lock as it is.
    let out = wrong(&store, r, T0.plus_millis(MINUTE_MS)).await;
    assert_eq!(out.locked_until, Some(until));
    assert_eq!(recipient(&store, &r.id).await.locked_until, Some(until));

    // After the lock: a fresh count.
    let out = wrong(&store, r, until.plus_millis(1)).await;
    assert_eq!(out.failed_attempts, 1);
    assert_eq!(out.locked_until, None);
    let row = recipient(&store, &r.id).await;
    assert_eq!(row.failed_attempts, 1);
    assert_eq!(row.locked_until, None);

    let kinds = event_kinds(&store, &r.message_id).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "code_wrong").count(),
        usize::try_from(MAX_TRIES + 2).expect("small")
    );
    // Counters are per recipient.
    assert_eq!(
        recipient(&store, &m.recipients[1].id).await.failed_attempts,
        0
    );
}

/// A code that was replaced is refused: no session, nothing changed.
async fn case_accept_code_stale_mac(store: DynStore) {
    let (_, m) = seeded_message(&store).await;
    let r = &m.recipients[0];
    assert_eq!(set_code(&store, r, b"mac-1", T0).await, Ok(()));
    assert_eq!(
        set_code(&store, r, b"mac-2", T0.plus_millis(1)).await,
        Ok(())
    );
    let events_before = event_kinds(&store, &r.message_id).await;
    let session = fx::session(&r.id, T0.plus_millis(2), 30 * MINUTE_MS);
    let accepted = store
        .accept_code(
            &r.id,
            b"mac-1",
            true,
            &session,
            &ev(r, "opened", T0),
            T0.plus_millis(2),
        )
        .await
        .expect("accept_code");
    assert!(!accepted);
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
    assert_eq!(event_kinds(&store, &r.message_id).await, events_before);
}

/// The right code resets the counter, uses up a one-time code, creates the session, opens the
/// recipient and records the event, all at once.
async fn case_accept_code_success(store: DynStore) {
    let (_, m) = seeded_message(&store).await;
    let r = &m.recipients[0];
    assert_eq!(set_code(&store, r, b"mac-1", T0).await, Ok(()));
    wrong(&store, r, T0.plus_millis(1)).await;
    wrong(&store, r, T0.plus_millis(2)).await;
    assert_eq!(recipient(&store, &r.id).await.failed_attempts, 2);

    let now = T0.plus_millis(3);
    let session = fx::session(&r.id, now, 30 * MINUTE_MS);
    let accepted = store
        .accept_code(&r.id, b"mac-1", true, &session, &ev(r, "opened", now), now)
        .await
        .expect("accept_code");
    assert!(accepted);
    let row = recipient(&store, &r.id).await;
    assert_eq!(row.failed_attempts, 0);
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
        store
            .session_by_hash(&fx::random_hash())
            .await
            .expect("session"),
        None
    );
    assert_eq!(
        event_kinds(&store, &r.message_id)
            .await
            .last()
            .map(String::as_str),
        Some("opened")
    );

    // Used up: the same code again is refused.
    let again = fx::session(&r.id, now, 30 * MINUTE_MS);
    let accepted = store
        .accept_code(&r.id, b"mac-1", true, &again, &ev(r, "opened", now), now)
        .await
        .expect("accept_code");
    assert!(!accepted);
    assert_eq!(
        store
            .session_by_hash(&hash32(&again.token_hash))
            .await
            .expect("session"),
        None
    );
}

/// A code the sender gave (`one_time = false`) stays valid after use.
async fn case_accept_code_fixed_code_is_kept(store: DynStore) {
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
        let now = T0.plus_millis(i);
        let session = fx::session(&r.id, now, 30 * MINUTE_MS);
        let accepted = store
            .accept_code(&r.id, &mac, false, &session, &ev(r, "opened", now), now)
            .await
            .expect("accept_code");
        assert!(accepted, "fixed code accepted on visit {i}");
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
async fn case_accept_code_while_locked(store: DynStore) {
    let (_, m) = seeded_message(&store).await;
    let r = &m.recipients[0];
    assert_eq!(set_code(&store, r, b"mac-1", T0).await, Ok(()));
    let until = lock_out(&store, r, T0).await;
    for now in [T0.plus_millis(MINUTE_MS), until] {
        let session = fx::session(&r.id, now, 30 * MINUTE_MS);
        let accepted = store
            .accept_code(&r.id, b"mac-1", true, &session, &ev(r, "opened", now), now)
            .await
            .expect("accept_code");
        assert!(!accepted, "locked at {now:?}");
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

    let now = until.plus_millis(1);
    let session = fx::session(&r.id, now, 30 * MINUTE_MS);
    let accepted = store
        .accept_code(&r.id, b"mac-1", true, &session, &ev(r, "opened", now), now)
        .await
        .expect("accept_code");
    assert!(accepted);
    let row = recipient(&store, &r.id).await;
    assert_eq!(row.failed_attempts, 0);
    assert_eq!(row.locked_until, None);
}

/// Eight simultaneous verifications of one one-time code: exactly one session.
async fn case_accept_code_race_has_one_winner(store: DynStore) {
    let (_, m) = seeded_message(&store).await;
    let r = m.recipients[0].clone();
    assert_eq!(set_code(&store, &r, b"mac-1", T0).await, Ok(()));
    let now = T0.plus_millis(1);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let r = r.clone();
            tokio::spawn(async move {
                let session = fx::session(&r.id, now, 30 * MINUTE_MS);
                let ok = store
                    .accept_code(&r.id, b"mac-1", true, &session, &ev(&r, "opened", now), now)
                    .await
                    .expect("accept_code");
                (ok, session)
            })
        })
        .collect();
    let mut winners = 0;
    let mut sessions = 0;
    for t in tasks {
        let (ok, session) = t.await.expect("task");
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
        sessions += usize::from(found.is_some());
    }
    assert_eq!(winners, 1);
    assert_eq!(sessions, 1);
    let kinds = event_kinds(&store, &r.message_id).await;
    assert_eq!(kinds.iter().filter(|k| *k == "opened").count(), 1);
}

/// Code and notification calls on an unknown recipient: NotFound (accept: false).
async fn case_unknown_recipient_is_not_found(store: DynStore) {
    let (_, m) = seeded_message(&store).await;
    let mut ghost = m.recipients[0].clone();
    ghost.id = fx::new_id();
    let e = ev(&ghost, "notified", T0);
    assert!(matches!(
        store.set_code(&ghost.id, b"mac", None, None, &e, T0).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .record_wrong_code(&ghost.id, T0, MAX_TRIES, LOCK_MS, &e)
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.mark_notified(&ghost.id, &e, None).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.mark_failed(&ghost.id, "550", &e).await,
        Err(StoreError::NotFound)
    ));
    let session = fx::session(&ghost.id, T0, MINUTE_MS);
    assert!(!store
        .accept_code(&ghost.id, b"mac", true, &session, &e, T0)
        .await
        .expect("accept_code"));
    assert_eq!(counts(&store).await, (1, 0));
    assert_eq!(
        event_kinds(&store, &m.message.id).await,
        vec!["sent".to_owned()]
    );
}

/// `record_event` always records; a status moves only out of queued/notified/failed/opened.
async fn case_record_event_status_transitions(store: DynStore) {
    use RecipientStatus::*;
    let (sender, m) = seeded_message(&store).await;
    let (r0, r1) = (&m.recipients[0], &m.recipients[1]);
    let step = |r: &RecipientRow, kind: &str, status: Option<RecipientStatus>| {
        let store = store.clone();
        let event = ev(r, kind, T0);
        let id = r.id.clone();
        async move {
            store
                .record_event(&event, status)
                .await
                .expect("record_event");
            recipient(&store, &id).await.status
        }
    };
    assert_eq!(step(r0, "notified", Some(Notified)).await, Notified);
    assert_eq!(step(r0, "opened", Some(Opened)).await, Opened);
    assert_eq!(step(r0, "viewed", None).await, Opened);
    assert_eq!(step(r0, "replied", Some(Replied)).await, Replied);
    assert_eq!(
        step(r0, "opened", Some(Opened)).await,
        Replied,
        "never out of replied"
    );
    assert_eq!(step(r1, "failed", Some(Failed)).await, Failed);
    assert_eq!(
        step(r1, "opened", Some(Opened)).await,
        Opened,
        "failed -> opened"
    );

    // A message-level event with a status touches no recipient.
    let message_event = fx::event(&m.message.id, None, "downloaded", T0);
    store
        .record_event(&message_event, Some(Queued))
        .await
        .expect("record_event");
    assert_eq!(recipient(&store, &r1.id).await.status, Opened);

    assert!(store
        .destroy_message(
            &m.message.id,
            MessageState::Revoked,
            T0.plus_millis(1),
            "sender:x"
        )
        .await
        .expect("destroy"));
    for status in [Queued, Notified, Opened, Failed] {
        assert_eq!(
            step(r1, "deferred", Some(status)).await,
            Revoked,
            "never out of revoked"
        );
    }

    let expired = fx::new_message(&sender, T0);
    store.insert_message(&expired).await.expect("insert");
    assert!(store
        .destroy_message(&expired.message.id, MessageState::Expired, T0, "system")
        .await
        .expect("destroy"));
    let er = &expired.recipients[0];
    assert_eq!(
        step(er, "deferred", Some(Notified)).await,
        Expired,
        "never out of expired"
    );

    let kinds = event_kinds(&store, &m.message.id).await;
    for kind in [
        "notified",
        "viewed",
        "replied",
        "failed",
        "downloaded",
        "deferred",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "event {kind} recorded");
    }
    assert_eq!(kinds.iter().filter(|k| *k == "deferred").count(), 4);
}

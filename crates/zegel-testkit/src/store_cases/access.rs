//! `AccessStore`: link lookups, sessions and events. The one-time code cases of this section
//! (`set_code`, `check_code`, `unblock_recipient`) are in `codes`.

use super::support::{
    counts, ev, event_kinds, hash32, lockout_policy, recipient, request, seeded_message,
};
use super::Case;
use crate::fixtures::{self as fx, T0};
use zegel_core::codes::CodeCheck;
use zegel_core::model::*;
use zegel_core::{DynStore, StoreError};

/// The cases of this section, run by `tests/store_suite.rs` on both backends.
pub(super) const CASES: &[Case] = &[
    case!(case_access_by_link_hash),
    case!(case_concurrent_lookups_each_get_their_own_recipient),
    case!(case_unknown_recipient_is_not_found),
    case!(case_record_event_status_transitions),
    case!(case_record_events_all_or_nothing),
];

/// Several events in one transaction: all recorded in order, or none when one cannot be
/// (an unknown message); none at all is fine.
async fn case_record_events_all_or_nothing(store: DynStore) {
    let (_, m) = seeded_message(&store).await;
    let before = event_kinds(&store, &m.message.id).await;
    store.record_events(&[]).await.expect("no events");
    let seen: Vec<NewEvent> = m
        .recipients
        .iter()
        .map(|r| ev(r, "sender_viewed", T0.plus_millis(10)))
        .collect();
    let mut bad = seen.clone();
    bad.push(fx::event("no-such-message", None, "sender_viewed", T0));
    assert!(store.record_events(&bad).await.is_err());
    assert_eq!(event_kinds(&store, &m.message.id).await, before);
    store.record_events(&seen).await.expect("record_events");
    let after = store.events_of(&m.message.id).await.expect("events_of");
    let tail: Vec<NewEvent> = after[before.len()..]
        .iter()
        .map(|e| e.event.clone())
        .collect();
    assert_eq!(tail, seen);
}

/// Many lookups at once (which a backend may answer in one statement) each get their own
/// recipient, or nothing for an unknown id, as alone.
async fn case_concurrent_lookups_each_get_their_own_recipient(store: DynStore) {
    let mut expected = Vec::new();
    for _ in 0..3 {
        let (_, m) = seeded_message(&store).await;
        for r in &m.recipients {
            let alone = store
                .access_meta_by_recipient(&r.id)
                .await
                .expect("alone")
                .expect("known");
            assert_eq!(alone.recipient, *r);
            expected.push((r.id.clone(), Some(alone)));
        }
    }
    expected.push(("nope".into(), None));
    // Each asked twice, so that a batch may hold the same id more than once.
    let asked: Vec<_> = expected.iter().chain(expected.iter()).cloned().collect();
    let mut tasks = Vec::new();
    for (id, _) in &asked {
        let store = store.clone();
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            store.access_meta_by_recipient(&id).await
        }));
    }
    for ((id, want), t) in asked.into_iter().zip(tasks) {
        let got = t.await.expect("task").expect("lookup");
        assert_eq!(got, want, "{id}");
    }
}

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

/// Code and notification calls on an unknown recipient: NotFound, nothing recorded.
async fn case_unknown_recipient_is_not_found(store: DynStore) {
    let (_, m) = seeded_message(&store).await;
    let mut ghost = m.recipients[0].clone();
    ghost.id = fx::new_id();
    let e = ev(&ghost, "notified", T0);
    assert!(matches!(
        store.set_code(&request(&ghost, b"mac", None, &e, T0)).await,
        Err(StoreError::NotFound)
    ));
    let session = fx::session(&ghost.id, T0, 60_000);
    let policy = lockout_policy();
    let check = CodeCheck {
        recipient_id: &ghost.id,
        presented_mac: Some(b"mac"),
        one_time: true,
        now: T0,
        policy: &policy,
        session: &session,
        event: &e,
    };
    assert!(matches!(
        store.check_code(&check).await,
        Err(StoreError::NotFound)
    ));
    assert!(!store
        .unblock_recipient(&ghost.id, &e)
        .await
        .expect("unblock_recipient"));
    assert!(matches!(
        store.mark_notified(&ghost.id, &e, None).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.mark_failed(&ghost.id, "550", &e).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store
            .session_by_hash(&hash32(&session.token_hash))
            .await
            .expect("session"),
        None
    );
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

//! `MessageStore`: storing, listing and destroying messages.

use super::support::{
    check_with, claim, counts, enqueue, ev, event_kinds, hash32, request, seeded_message,
};
use super::Case;
use crate::fixtures::{self as fx, MINUTE_MS, T0};
use zegel_core::codes::{CodeRequestOutcome, CodeVerdict};
use zegel_core::model::*;
use zegel_core::{DynStore, StoreError};

/// The cases of this section, run by `tests/store_suite.rs` on both backends.
pub(super) const CASES: &[Case] = &[
    case!(case_insert_message_roundtrip),
    case!(case_insert_message_is_all_or_nothing),
    case!(case_list_messages_order_and_paging),
    case!(case_sent_page_has_keys_and_attachment_counts),
    case!(case_recipients_of_messages_grouped_in_order),
    case!(case_concurrent_inserts_fail_alone),
    case!(case_destroy_message_revoke),
    case!(case_destroy_message_expire),
    case!(case_expired_message_ids),
    case!(case_blobs_to_delete),
];

/// Everything `insert_message` stores reads back unchanged.
async fn case_insert_message_roundtrip(store: DynStore) {
    let (sender, m) = seeded_message(&store).await;
    let id = &m.message.id;
    assert_eq!(
        store.message_by_id(id).await.expect("message"),
        Some(m.message.clone())
    );
    assert_eq!(store.message_by_id("nope").await.expect("message"), None);
    assert_eq!(
        store.message_key(id).await.expect("key"),
        Some(m.key.clone())
    );
    assert_eq!(
        store.recipients_of(id).await.expect("recipients"),
        m.recipients
    );
    assert_eq!(
        store
            .recipient_by_id(&m.recipients[1].id)
            .await
            .expect("recipient"),
        Some(m.recipients[1].clone())
    );
    assert_eq!(
        store.attachments_of(id).await.expect("attachments"),
        m.attachments
    );
    let events = store.events_of(id).await.expect("events");
    assert_eq!(
        events.iter().map(|e| e.event.clone()).collect::<Vec<_>>(),
        m.events
    );
    assert_eq!(counts(&store).await, (1, 0));
    assert_eq!(
        store
            .list_messages(&sender.user.id, None, 10)
            .await
            .expect("list"),
        vec![m.message.clone()]
    );

    // The same message again: conflict, nothing added.
    match store.insert_message(&m).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("a duplicate message must be a Conflict, got {other:?}"),
    }
    assert_eq!(counts(&store).await, (1, 0));
    assert_eq!(
        store.events_of(id).await.expect("events").len(),
        events.len()
    );
}

/// A failing part (a duplicate link hash) leaves nothing of the message behind.
async fn case_insert_message_is_all_or_nothing(store: DynStore) {
    let sender = fx::seed_sender(&store).await;
    let mut m = fx::new_message(&sender, T0);
    m.recipients[1].link_hash = m.recipients[0].link_hash.clone();
    match store.insert_message(&m).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("a duplicate link hash must be a Conflict, got {other:?}"),
    }
    let id = &m.message.id;
    assert_eq!(store.message_by_id(id).await.expect("message"), None);
    assert_eq!(store.message_key(id).await.expect("key"), None);
    assert!(store
        .recipients_of(id)
        .await
        .expect("recipients")
        .is_empty());
    assert_eq!(
        store.recipient_by_id(&m.recipients[0].id).await.expect("r"),
        None
    );
    assert!(store
        .attachments_of(id)
        .await
        .expect("attachments")
        .is_empty());
    assert!(store.events_of(id).await.expect("events").is_empty());
    assert_eq!(counts(&store).await, (0, 0));

    // Across messages too: a link hash is unique in the whole store.
    let first = fx::new_message(&sender, T0);
    store.insert_message(&first).await.expect("insert first");
    let mut second = fx::new_message(&sender, T0.plus_millis(1));
    second.recipients[0].link_hash = first.recipients[1].link_hash.clone();
    match store.insert_message(&second).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("a link hash of another message must be a Conflict, got {other:?}"),
    }
    assert_eq!(
        store.message_by_id(&second.message.id).await.expect("m"),
        None
    );
    assert_eq!(counts(&store).await, (1, 0));
    assert_eq!(
        store
            .list_messages(&sender.user.id, None, 10)
            .await
            .expect("list"),
        vec![first.message]
    );
}

/// A sender's messages come newest first, paged by `before`, never another sender's.
async fn case_list_messages_order_and_paging(store: DynStore) {
    let sender = fx::seed_sender(&store).await;
    let other = fx::seed_sender(&store).await;
    let mut mine = Vec::new();
    for i in 0..5 {
        let m = fx::new_message(&sender, T0.plus_millis(i * 1000));
        store.insert_message(&m).await.expect("insert");
        mine.push(m.message.id.clone());
    }
    let theirs = fx::new_message(&other, T0.plus_millis(2500));
    store.insert_message(&theirs).await.expect("insert");

    let list = |before: Option<Ts>, limit: u32| {
        let store = store.clone();
        let sender_id = sender.user.id.clone();
        async move {
            store
                .list_messages(&sender_id, before, limit)
                .await
                .expect("list_messages")
                .into_iter()
                .map(|m| m.id)
                .collect::<Vec<_>>()
        }
    };
    let newest_first: Vec<String> = mine.iter().rev().cloned().collect();
    assert_eq!(list(None, 10).await, newest_first);
    assert_eq!(list(None, 2).await, newest_first[..2]);
    assert_eq!(
        list(Some(T0.plus_millis(3000)), 2).await,
        newest_first[2..4]
    );
    assert_eq!(list(Some(T0.plus_millis(1000)), 2).await, newest_first[4..]);
    assert!(list(Some(T0), 2).await.is_empty());
    assert_eq!(
        store
            .list_messages(&other.user.id, None, 10)
            .await
            .expect("list")
            .into_iter()
            .map(|m| m.id)
            .collect::<Vec<_>>(),
        vec![theirs.message.id]
    );
}

/// `sent_page` lists exactly what `list_messages` lists (same filter, order and paging; no
/// replies, no other sender's messages), each without its body, with its key (none once
/// destroyed) and its number of attachments (none, several, and still counted after
/// destruction).
async fn case_sent_page_has_keys_and_attachment_counts(store: DynStore) {
    let sender = fx::seed_sender(&store).await;
    let other = fx::seed_sender(&store).await;
    let mut mine = Vec::new();
    for i in 0..5 {
        let at = T0.plus_millis(i * 1000);
        let mut m = fx::new_message(&sender, at);
        match i {
            0 => m.attachments.clear(),
            1 => m.attachments.extend([
                fx::attachment(&m.message.id, 1, at),
                fx::attachment(&m.message.id, 2, at),
            ]),
            _ => {}
        }
        store.insert_message(&m).await.expect("insert");
        mine.push(m);
    }
    let theirs = fx::new_message(&other, T0.plus_millis(2500));
    store.insert_message(&theirs).await.expect("insert");
    // A reply is the sender's too, but no sent message.
    let reply = fx::new_reply(
        &mine[4],
        &mine[4].recipients[0],
        false,
        T0.plus_millis(4500),
    );
    assert_eq!(
        store.insert_reply(&reply).await.expect("insert_reply"),
        ReplyOutcome::Stored
    );
    let revoked = &mine[2].message.id;
    assert!(store
        .destroy_message(revoked, MessageState::Revoked, T0.plus_millis(6000), "test")
        .await
        .expect("destroy_message"));

    let page = |before: Option<Ts>, limit: u32| {
        let store = store.clone();
        let sender_id = sender.user.id.clone();
        async move {
            store
                .sent_page(&sender_id, before, limit)
                .await
                .expect("sent_page")
        }
    };
    let full = page(None, 10).await;
    let listed = store
        .list_messages(&sender.user.id, None, 10)
        .await
        .expect("list_messages");
    assert_eq!(full.len(), 5);
    assert_eq!(full.len(), listed.len());
    for (row, message) in full.iter().zip(&listed) {
        let id = &message.id;
        assert_eq!(
            row.message,
            MessageRow {
                body_ct: None,
                ..message.clone()
            },
            "{id}: the listed message, without its body"
        );
        assert_eq!(
            row.key,
            store.message_key(id).await.expect("message_key"),
            "{id}: its key"
        );
        let attachments = store.attachments_of(id).await.expect("attachments_of");
        assert_eq!(row.attachment_count, attachments.len() as i64, "{id}");
    }
    let by_id = |id: &str| {
        full.iter()
            .find(|r| r.message.id == id)
            .expect("listed")
            .clone()
    };
    let none = by_id(&mine[0].message.id);
    assert_eq!(none.attachment_count, 0);
    assert_eq!(none.key.as_ref(), Some(&mine[0].key));
    assert!(none.message.subject_ct.is_some());
    assert_eq!(by_id(&mine[1].message.id).attachment_count, 3);
    let destroyed = by_id(revoked);
    assert_eq!(destroyed.key, None, "a destroyed message has no key");
    assert_eq!(destroyed.message.subject_ct, None);
    assert_eq!(destroyed.message.state, MessageState::Revoked);
    assert_eq!(destroyed.attachment_count, 1);

    let ids = |rows: Vec<zegel_core::store::SentMessage>| {
        rows.into_iter().map(|r| r.message.id).collect::<Vec<_>>()
    };
    let newest_first: Vec<String> = mine.iter().rev().map(|m| m.message.id.clone()).collect();
    assert_eq!(ids(full.clone()), newest_first);
    assert_eq!(ids(page(None, 2).await), newest_first[..2]);
    assert_eq!(
        ids(page(Some(T0.plus_millis(3000)), 2).await),
        newest_first[2..4]
    );
    assert_eq!(
        ids(page(Some(T0.plus_millis(1000)), 2).await),
        newest_first[4..]
    );
    assert!(page(Some(T0), 2).await.is_empty());
    assert_eq!(
        ids(store
            .sent_page(&other.user.id, None, 10)
            .await
            .expect("sent_page")),
        vec![theirs.message.id]
    );
}

/// `recipients_of_messages` gives, in one call, what `recipients_of` gives for each message
/// in turn: grouped in the order asked, each message's recipients in insertion order (also a
/// forwarded one added later); unknown ids and an empty list give nothing.
async fn case_recipients_of_messages_grouped_in_order(store: DynStore) {
    let sender = fx::seed_sender(&store).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let m = fx::new_message(&sender, T0.plus_millis(i * 1000));
        store.insert_message(&m).await.expect("insert");
        ids.push(m);
    }
    let (a, b, c) = (&ids[0], &ids[1], &ids[2]);
    let forward = fx::new_forward(
        a,
        &a.recipients[0],
        "derde@mail.example",
        T0.plus_millis(5000),
    );
    assert_eq!(
        store
            .insert_forward(&forward)
            .await
            .expect("insert_forward"),
        ForwardOutcome::Stored
    );

    let of = |id: &str| {
        let store = store.clone();
        let id = id.to_owned();
        async move { store.recipients_of(&id).await.expect("recipients_of") }
    };
    let of_a = of(&a.message.id).await;
    assert_eq!(
        of_a.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        vec![
            a.recipients[0].id.clone(),
            a.recipients[1].id.clone(),
            forward.recipient.id.clone()
        ],
        "insertion order, the forwarded recipient last"
    );
    let asked = vec![
        c.message.id.clone(),
        a.message.id.clone(),
        fx::new_id(),
        b.message.id.clone(),
    ];
    let mut want = of(&c.message.id).await;
    want.extend(of_a);
    want.extend(of(&b.message.id).await);
    assert_eq!(
        store
            .recipients_of_messages(&asked)
            .await
            .expect("recipients_of_messages"),
        want
    );
    assert_eq!(
        store
            .recipients_of_messages(std::slice::from_ref(&b.message.id))
            .await
            .expect("recipients_of_messages"),
        of(&b.message.id).await
    );
    assert!(store
        .recipients_of_messages(&[])
        .await
        .expect("recipients_of_messages")
        .is_empty());
    assert!(store
        .recipients_of_messages(&[fx::new_id()])
        .await
        .expect("recipients_of_messages")
        .is_empty());
}

/// Many messages inserted at once (SQLite commits them together) each land whole or not at
/// all: one that clashes half-way (its second recipient reuses another message's link) gets
/// `Conflict` and leaves no row behind, and the others are all there.
async fn case_concurrent_inserts_fail_alone(store: DynStore) {
    let sender = fx::seed_sender(&store).await;
    let mut messages: Vec<NewMessage> = (0..24).map(|_| fx::new_message(&sender, T0)).collect();
    let clash = messages[3].recipients[0].link_hash.clone();
    messages[7].recipients[1].link_hash = clash;
    let (pending_before, _) = counts(&store).await;
    let tasks: Vec<_> = messages
        .iter()
        .cloned()
        .map(|m| {
            let store = store.clone();
            tokio::spawn(async move { store.insert_message(&m).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.expect("insert task"));
    }
    // Which of the two clashing messages wins depends on the order they ran in.
    let failed: Vec<usize> = (0..outcomes.len())
        .filter(|i| outcomes[*i].is_err())
        .collect();
    assert_eq!(failed.len(), 1, "exactly one clash: {failed:?}");
    let loser = failed[0];
    assert!(loser == 3 || loser == 7, "{loser}");
    assert!(matches!(outcomes[loser], Err(StoreError::Conflict(_))));
    for (i, m) in messages.iter().enumerate() {
        let stored = store.message_by_id(&m.message.id).await.expect("read");
        let recipients = store.recipients_of(&m.message.id).await.expect("read");
        let attachments = store.attachments_of(&m.message.id).await.expect("read");
        if i == loser {
            assert!(stored.is_none(), "nothing of the failed insert is kept");
            assert!(recipients.is_empty() && attachments.is_empty());
            assert!(event_kinds(&store, &m.message.id).await.is_empty());
        } else {
            assert!(stored.is_some(), "message {i} kept");
            // Rows written together still belong to their own message, in their own order.
            assert_eq!(recipients, m.recipients, "message {i}");
            assert_eq!(attachments, m.attachments, "message {i}");
            let kinds: Vec<String> = m
                .events
                .iter()
                .map(|e| e.kind.as_str().to_owned())
                .collect();
            assert_eq!(
                event_kinds(&store, &m.message.id).await,
                kinds,
                "message {i}"
            );
        }
    }
    assert_eq!(
        counts(&store).await.0,
        pending_before + 23,
        "one notification job per kept message"
    );
}

/// Revoking shreds the key and ciphertext, ends sessions, drops the message's pending jobs
/// (only its own), marks recipients, records events, queues blobs; a second call is a no-op.
async fn case_destroy_message_revoke(store: DynStore) {
    let (sender, m) = seeded_message(&store).await;
    let other = fx::new_message(&sender, T0.plus_millis(1));
    store.insert_message(&other).await.expect("insert other");
    let (r0, r1) = (&m.recipients[0], &m.recipients[1]);
    let id = m.message.id.clone();

    // A code job (set_code), a session (the fixed code), plain jobs for both messages, one job
    // without a message id and one dead job of the message.
    let code_job = fx::job(
        "send_code",
        serde_json::json!({ "recipient_id": r0.id }),
        T0,
    );
    let event = ev(r0, "code_requested", T0);
    let set = store
        .set_code(&request(r0, b"mac-1", Some(&code_job), &event, T0))
        .await
        .expect("set_code");
    assert_eq!(set, CodeRequestOutcome::Stored);
    let mac = r1.code_mac.clone().expect("fixed code");
    let (verdict, session) = check_with(&store, r1, &mac, false, T0).await;
    assert_eq!(verdict, CodeVerdict::Accepted);
    enqueue(&store, serde_json::json!({ "message_id": id, "n": 1 }), T0).await;
    enqueue(
        &store,
        serde_json::json!({ "message_id": other.message.id }),
        T0,
    )
    .await;
    enqueue(&store, serde_json::json!({ "n": "unrelated" }), T0).await;
    let dead = enqueue(
        &store,
        serde_json::json!({ "message_id": id, "n": "dead" }),
        T0,
    )
    .await;
    store.kill_job(dead, "gave up").await.expect("kill");
    // Mine: fixture job, code job, plain job (+1 dead); other: fixture job, plain job; 1 free.
    assert_eq!(counts(&store).await, (6, 1));
    let events_before = store.events_of(&id).await.expect("events").len();

    let at = T0.plus_millis(100);
    assert!(store
        .destroy_message(&id, MessageState::Revoked, at, "sender:s1")
        .await
        .expect("destroy"));

    assert_eq!(store.message_key(&id).await.expect("key"), None);
    let msg = store
        .message_by_id(&id)
        .await
        .expect("message")
        .expect("kept");
    assert_eq!(msg.state, MessageState::Revoked);
    assert_eq!(msg.destroyed_at, Some(at));
    assert_eq!(msg.subject_ct, None);
    assert_eq!(msg.body_ct, None);
    assert_eq!(
        (msg.sender_id.as_str(), msg.expires_at, msg.created_at),
        (
            m.message.sender_id.as_str(),
            m.message.expires_at,
            m.message.created_at
        ),
        "metadata kept"
    );
    for r in store.recipients_of(&id).await.expect("recipients") {
        assert_eq!(r.status, RecipientStatus::Revoked);
        assert_eq!(r.code_mac, None);
        assert_eq!(r.code_hint_ct, None);
        assert_eq!(r.code_expires_at, None);
    }
    assert_eq!(
        store
            .session_by_hash(&hash32(&session.token_hash))
            .await
            .expect("session"),
        None
    );
    assert_eq!(
        counts(&store).await,
        (3, 1),
        "only this message's pending jobs deleted"
    );
    for job in claim(&store, T0.plus_millis(MINUTE_MS), MINUTE_MS, 100).await {
        assert!(
            !job.payload.contains(&id),
            "a job of the revoked message survived"
        );
        assert!(
            !job.payload.contains(&r0.id),
            "the code job of the revoked message survived"
        );
    }
    let events = store.events_of(&id).await.expect("events");
    assert_eq!(events.len(), events_before + 2);
    let revoked: Vec<_> = events[events_before..].iter().map(|e| &e.event).collect();
    let mut about: Vec<_> = revoked
        .iter()
        .filter_map(|e| e.recipient_id.clone())
        .collect();
    about.sort();
    let mut expected = vec![r0.id.clone(), r1.id.clone()];
    expected.sort();
    assert_eq!(about, expected);
    for e in revoked {
        assert_eq!(
            (e.kind.as_str(), e.at, e.actor.as_str()),
            ("revoked", at, "sender:s1")
        );
    }
    let attachments = store.attachments_of(&id).await.expect("attachments");
    assert_eq!(attachments.len(), 1);
    assert_eq!(attachments[0].meta_ct, None);
    assert_eq!(attachments[0].size, m.attachments[0].size);
    assert_eq!(
        store.blobs_to_delete(10).await.expect("blobs"),
        vec![BlobToDelete {
            attachment_id: m.attachments[0].id.clone(),
            blob_key: m.attachments[0].blob_key.clone(),
        }]
    );

    // The other message is untouched.
    assert_eq!(
        store.message_key(&other.message.id).await.expect("key"),
        Some(other.key.clone())
    );
    assert_eq!(
        store
            .recipients_of(&other.message.id)
            .await
            .expect("recipients"),
        other.recipients
    );

    // Second call: nothing happens.
    for state in [MessageState::Revoked, MessageState::Expired] {
        assert!(!store
            .destroy_message(&id, state, at.plus_millis(1), "system")
            .await
            .expect("destroy again"));
    }
    assert_eq!(
        store.events_of(&id).await.expect("events").len(),
        events_before + 2
    );
    let msg = store
        .message_by_id(&id)
        .await
        .expect("message")
        .expect("kept");
    assert_eq!(
        (msg.state, msg.destroyed_at),
        (MessageState::Revoked, Some(at))
    );
    assert!(!store
        .destroy_message("nope", MessageState::Revoked, at, "system")
        .await
        .expect("destroy unknown"));
}

/// Expiry destroys like revocation, with state and statuses `expired`.
async fn case_destroy_message_expire(store: DynStore) {
    let (_, m) = seeded_message(&store).await;
    let id = &m.message.id;
    let at = m.message.expires_at;
    assert!(store
        .destroy_message(id, MessageState::Expired, at, "system")
        .await
        .expect("destroy"));
    let msg = store
        .message_by_id(id)
        .await
        .expect("message")
        .expect("kept");
    assert_eq!(msg.state, MessageState::Expired);
    assert_eq!(msg.destroyed_at, Some(at));
    assert_eq!(store.message_key(id).await.expect("key"), None);
    for r in store.recipients_of(id).await.expect("recipients") {
        assert_eq!(r.status, RecipientStatus::Expired);
    }
    let kinds = event_kinds(&store, id).await;
    assert_eq!(kinds, vec!["sent", "expired", "expired"]);
    assert_eq!(counts(&store).await, (0, 0));
    assert!(!store
        .destroy_message(id, MessageState::Revoked, at, "sender:x")
        .await
        .expect("destroy again"));
}

/// Active messages at or past their expiry, soonest first, at most `limit`.
async fn case_expired_message_ids(store: DynStore) {
    let sender = fx::seed_sender(&store).await;
    let mut ids = Vec::new();
    for i in 1..=3 {
        let mut m = fx::new_message(&sender, T0);
        m.message.expires_at = T0.plus_millis(i * 1000);
        store.insert_message(&m).await.expect("insert");
        ids.push(m.message.id.clone());
    }
    let expired = |now: i64, limit: u32| {
        let store = store.clone();
        async move {
            store
                .expired_message_ids(T0.plus_millis(now), limit)
                .await
                .expect("expired_message_ids")
        }
    };
    assert!(expired(999, 10).await.is_empty());
    assert_eq!(expired(2000, 10).await, ids[..2], "expires_at <= now");
    assert_eq!(expired(5000, 1).await, ids[..1]);
    assert!(store
        .destroy_message(&ids[0], MessageState::Revoked, T0, "sender:x")
        .await
        .expect("destroy"));
    assert_eq!(expired(5000, 10).await, ids[1..], "only active messages");
}

/// Destroyed messages' blobs are listed until reported deleted; active ones never.
async fn case_blobs_to_delete(store: DynStore) {
    let sender = fx::seed_sender(&store).await;
    let one = fx::new_message(&sender, T0);
    let mut two = fx::new_message(&sender, T0);
    two.attachments.push(fx::attachment(&two.message.id, 1, T0));
    let active = fx::new_message(&sender, T0);
    for m in [&one, &two, &active] {
        store.insert_message(m).await.expect("insert");
    }
    assert!(store.blobs_to_delete(10).await.expect("blobs").is_empty());
    for m in [&one, &two] {
        assert!(store
            .destroy_message(&m.message.id, MessageState::Expired, T0, "system")
            .await
            .expect("destroy"));
    }
    let listed = store.blobs_to_delete(10).await.expect("blobs");
    let mut expected: Vec<String> = one
        .attachments
        .iter()
        .chain(&two.attachments)
        .map(|a| a.id.clone())
        .collect();
    expected.sort();
    let mut got: Vec<String> = listed.iter().map(|b| b.attachment_id.clone()).collect();
    got.sort();
    assert_eq!(got, expected);
    for b in &listed {
        let a = one
            .attachments
            .iter()
            .chain(&two.attachments)
            .find(|a| a.id == b.attachment_id)
            .expect("listed attachment");
        assert_eq!(b.blob_key, a.blob_key);
    }
    assert_eq!(store.blobs_to_delete(2).await.expect("blobs").len(), 2);

    store
        .blob_deleted(&listed[0].attachment_id)
        .await
        .expect("blob_deleted");
    store
        .blob_deleted("unknown")
        .await
        .expect("blob_deleted unknown");
    let left = store.blobs_to_delete(10).await.expect("blobs");
    assert_eq!(left.len(), 2);
    assert!(left
        .iter()
        .all(|b| b.attachment_id != listed[0].attachment_id));
    for b in &left {
        store
            .blob_deleted(&b.attachment_id)
            .await
            .expect("blob_deleted");
    }
    assert!(store.blobs_to_delete(10).await.expect("blobs").is_empty());
}

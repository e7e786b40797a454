//! `ConversationStore`: replies and forwards (and replies destroyed with their message).

use super::support::{claim, counts, event_kinds, hash32, recipient, seeded_message};
use super::Case;
use crate::fixtures::{self as fx, MINUTE_MS, T0};
use zegel_core::model::*;
use zegel_core::DynStore;

/// The cases of this section, run by `tests/store_suite.rs` on both backends.
pub(super) const CASES: &[Case] = &[
    case!(case_reply_roundtrip_once_and_thread),
    case!(case_reply_to_destroyed_message_is_refused),
    case!(case_concurrent_once_replies_store_one),
    case!(case_forward_adds_recipient),
    case!(case_forward_refuses_a_duplicate_and_past_the_cap_in_its_transaction),
    case!(case_destroy_message_destroys_its_replies),
];

async fn case_reply_roundtrip_once_and_thread(store: DynStore) {
    let (sender, m) = seeded_message(&store).await;
    let r0 = &m.recipients[0];
    let reply = fx::new_reply(&m, r0, true, T0.plus_secs(60));
    assert_eq!(
        store.insert_reply(&reply).await.expect("insert_reply"),
        ReplyOutcome::Stored
    );
    assert_eq!(
        recipient(&store, &r0.id).await.status,
        RecipientStatus::Replied
    );
    assert_eq!(store.reply_count(&r0.id).await.expect("reply_count"), 1);
    assert_eq!(
        store.reply_count(&m.recipients[1].id).await.expect("count"),
        0
    );
    let got = store
        .message_by_id(&reply.message.id)
        .await
        .expect("message_by_id")
        .expect("reply stored");
    assert_eq!(got, reply.message);
    assert_eq!(
        store.attachments_of(&reply.message.id).await.expect("att"),
        reply.attachments
    );
    assert!(event_kinds(&store, &m.message.id)
        .await
        .contains(&"replied".to_string()));
    // The sender's notification job is queued with the reply (plus the fixture's notify job).
    assert_eq!(counts(&store).await, (2, 0));

    // Policy `once`: a second reply is refused and leaves nothing behind.
    let second = fx::new_reply(&m, r0, true, T0.plus_secs(120));
    assert_eq!(
        store.insert_reply(&second).await.expect("insert_reply"),
        ReplyOutcome::AlreadyReplied
    );
    assert!(store
        .message_by_id(&second.message.id)
        .await
        .expect("lookup")
        .is_none());
    assert!(store
        .attachments_of(&second.message.id)
        .await
        .expect("att")
        .is_empty());
    assert_eq!(counts(&store).await, (2, 0));
    // Without `once` (policy unlimited) it is stored.
    let third = fx::new_reply(&m, r0, false, T0.plus_secs(180));
    assert_eq!(
        store.insert_reply(&third).await.expect("insert_reply"),
        ReplyOutcome::Stored
    );

    // The thread holds the message and both replies, oldest first.
    let thread: Vec<String> = store
        .thread_messages(&m.message.thread_id)
        .await
        .expect("thread")
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(
        thread,
        vec![
            m.message.id.clone(),
            reply.message.id.clone(),
            third.message.id.clone()
        ]
    );
    // Replies are in the sender's inbox (newest first), not in the sent list.
    let inbox: Vec<String> = store
        .inbox_replies(&sender.user.id, None, 10)
        .await
        .expect("inbox")
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(
        inbox,
        vec![third.message.id.clone(), reply.message.id.clone()]
    );
    let sent = store
        .list_messages(&sender.user.id, None, 10)
        .await
        .expect("list");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].id, m.message.id);

    store
        .mark_read(&reply.message.id, T0.plus_secs(300))
        .await
        .expect("mark_read");
    store
        .mark_read(&reply.message.id, T0.plus_secs(999))
        .await
        .expect("mark_read again");
    let read = store
        .message_by_id(&reply.message.id)
        .await
        .expect("lookup")
        .expect("exists");
    assert_eq!(read.read_at, Some(T0.plus_secs(300)));
}

async fn case_reply_to_destroyed_message_is_refused(store: DynStore) {
    let (_sender, m) = seeded_message(&store).await;
    assert!(store
        .destroy_message(
            &m.message.id,
            MessageState::Revoked,
            T0.plus_secs(10),
            "system"
        )
        .await
        .expect("destroy"));
    let reply = fx::new_reply(&m, &m.recipients[0], false, T0.plus_secs(60));
    assert_eq!(
        store.insert_reply(&reply).await.expect("insert_reply"),
        ReplyOutcome::NotActive
    );
    assert!(store
        .message_by_id(&reply.message.id)
        .await
        .expect("lookup")
        .is_none());
    assert_eq!(
        recipient(&store, &m.recipients[0].id).await.status,
        RecipientStatus::Revoked
    );
}

async fn case_concurrent_once_replies_store_one(store: DynStore) {
    let (_sender, m) = seeded_message(&store).await;
    let r0 = m.recipients[0].clone();
    let mut tasks = Vec::new();
    for i in 0..6 {
        let store = store.clone();
        let reply = fx::new_reply(&m, &r0, true, T0.plus_secs(60 + i));
        tasks.push(tokio::spawn(async move {
            store.insert_reply(&reply).await.expect("insert_reply")
        }));
    }
    let mut stored = 0;
    for t in tasks {
        if t.await.expect("join") == ReplyOutcome::Stored {
            stored += 1;
        }
    }
    assert_eq!(stored, 1);
    assert_eq!(store.reply_count(&r0.id).await.expect("count"), 1);
}

async fn case_forward_adds_recipient(store: DynStore) {
    let (sender, m) = seeded_message(&store).await;
    let by = &m.recipients[0];
    let f = fx::new_forward(&m, by, "huisarts@praktijk.example", T0.plus_secs(30));
    assert_eq!(
        store.insert_forward(&f).await.expect("insert_forward"),
        ForwardOutcome::Stored
    );
    let all = store
        .recipients_of(&m.message.id)
        .await
        .expect("recipients");
    assert_eq!(all.len(), 3);
    assert_eq!(all[2], f.recipient);
    let access = store
        .access_by_link_hash(&hash32(&f.recipient.link_hash))
        .await
        .expect("access")
        .expect("forwarded link works");
    assert_eq!(
        access.recipient.forwarded_by.as_deref(),
        Some(by.id.as_str())
    );
    let kinds = event_kinds(&store, &m.message.id).await;
    assert!(kinds.contains(&"forwarded".to_string()));
    let fw = store
        .inbox_forwards(&sender.user.id, None, 10)
        .await
        .expect("inbox_forwards");
    assert_eq!(fw.len(), 1);
    assert_eq!(fw[0].id, f.recipient.id);
    // A revoked message takes the forward with it, and cannot be forwarded again.
    assert!(store
        .destroy_message(
            &m.message.id,
            MessageState::Revoked,
            T0.plus_secs(60),
            "system"
        )
        .await
        .expect("destroy"));
    let gone = recipient(&store, &f.recipient.id).await;
    assert_eq!(gone.status, RecipientStatus::Revoked);
    assert!(gone.note_ct.is_none());
    let again = fx::new_forward(&m, by, "ander@praktijk.example", T0.plus_secs(90));
    assert_eq!(
        store.insert_forward(&again).await.expect("insert_forward"),
        ForwardOutcome::NotActive
    );
    assert!(store
        .recipient_by_id(&again.recipient.id)
        .await
        .expect("lookup")
        .is_none());
}

/// The duplicate check and the cap are decided inside the forward's transaction: eight
/// forwards racing to one address store one; racing forwards to new addresses stop exactly
/// at the cap; refused forwards leave nothing. The unique index on (message, address) also
/// refuses a second row for an address on any other path.
async fn case_forward_refuses_a_duplicate_and_past_the_cap_in_its_transaction(store: DynStore) {
    let (sender, m) = seeded_message(&store).await;
    let by = m.recipients[0].clone();
    let at = T0.plus_secs(30);
    // An address the message already has (the original recipient 1).
    let mut dup = fx::new_forward(&m, &by, &m.recipients[1].email, at);
    dup.max_recipients = 100;
    assert_eq!(
        store.insert_forward(&dup).await.expect("insert_forward"),
        ForwardOutcome::Duplicate
    );
    // Eight at once to one new address: one stored.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let f = fx::new_forward(&m, &by, "zelfde@praktijk.example", at);
            tokio::spawn(async move { store.insert_forward(&f).await.expect("insert_forward") })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.expect("join"));
    }
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == ForwardOutcome::Stored)
            .count(),
        1
    );
    assert!(outcomes
        .iter()
        .all(|o| matches!(o, ForwardOutcome::Stored | ForwardOutcome::Duplicate)));
    // Cap 6 with 3 recipients now: eight at once to new addresses store exactly three.
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            let mut f = fx::new_forward(&m, &by, &format!("nieuw{i}@praktijk.example"), at);
            f.max_recipients = 6;
            tokio::spawn(async move { store.insert_forward(&f).await.expect("insert_forward") })
        })
        .collect();
    let mut stored = 0;
    for t in tasks {
        match t.await.expect("join") {
            ForwardOutcome::Stored => stored += 1,
            ForwardOutcome::Full => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(stored, 3);
    let all = store
        .recipients_of(&m.message.id)
        .await
        .expect("recipients");
    assert_eq!(all.len(), 6);
    let mut emails: Vec<&str> = all.iter().map(|r| r.email.as_str()).collect();
    emails.sort_unstable();
    emails.dedup();
    assert_eq!(emails.len(), 6, "no address twice");
    let forwarded = event_kinds(&store, &m.message.id)
        .await
        .iter()
        .filter(|k| *k == "forwarded")
        .count();
    assert_eq!(forwarded, 4, "events only for the stored forwards");
    // Jobs: the fixture's notification and one per stored forward.
    assert_eq!(counts(&store).await, (5, 0));

    // The index itself: a new message naming one address twice is refused whole.
    let mut twice = fx::new_message(&sender, T0);
    twice.recipients[1].email = twice.recipients[0].email.clone();
    assert!(matches!(
        store.insert_message(&twice).await,
        Err(zegel_core::StoreError::Conflict(_))
    ));
    assert!(store
        .message_by_id(&twice.message.id)
        .await
        .expect("lookup")
        .is_none());
}

/// Revoking or expiring a message destroys its replies in the same transaction (they quote
/// its subject as "Re: ..."): their keys, subject, body, attachment meta and pending jobs go,
/// their blobs are queued, and the sender sees one event per reply on the message, for the
/// recipient who wrote it. Another message's reply, and a reply destroyed before, stay as
/// they are.
async fn case_destroy_message_destroys_its_replies(store: DynStore) {
    let (sender, m) = seeded_message(&store).await;
    let other = fx::new_message(&sender, T0);
    store.insert_message(&other).await.expect("insert other");
    let (r0, r1) = (&m.recipients[0], &m.recipients[1]);
    let replies = [
        fx::new_reply(&m, r0, false, T0.plus_secs(60)),
        fx::new_reply(&m, r1, false, T0.plus_secs(61)),
    ];
    let earlier = fx::new_reply(&m, r0, false, T0.plus_secs(62));
    let elsewhere = fx::new_reply(&other, &other.recipients[0], false, T0.plus_secs(63));
    for r in replies.iter().chain([&earlier, &elsewhere]) {
        assert_eq!(
            store.insert_reply(r).await.expect("insert_reply"),
            ReplyOutcome::Stored
        );
    }
    // A reply that expired on its own before, its blob already deleted.
    let before = T0.plus_secs(70);
    assert!(store
        .destroy_message(&earlier.message.id, MessageState::Expired, before, "system")
        .await
        .expect("destroy reply"));
    store
        .blob_deleted(&earlier.attachments[0].id)
        .await
        .expect("blob_deleted");
    // Two fixture jobs, three live replies' notifications.
    assert_eq!(counts(&store).await, (5, 0));
    let events_before = store.events_of(&m.message.id).await.expect("events").len();

    let at = T0.plus_secs(100);
    assert!(store
        .destroy_message(&m.message.id, MessageState::Revoked, at, "sender:s1")
        .await
        .expect("destroy"));
    for r in &replies {
        let id = &r.message.id;
        assert_eq!(store.message_key(id).await.expect("key"), None, "{id}");
        let row = store
            .message_by_id(id)
            .await
            .expect("reply")
            .expect("metadata kept");
        assert_eq!(
            (row.state, row.destroyed_at, &row.subject_ct, &row.body_ct),
            (MessageState::Revoked, Some(at), &None, &None)
        );
        let atts = store.attachments_of(id).await.expect("attachments");
        assert_eq!(atts.len(), 1);
        assert_eq!(atts[0].meta_ct, None);
    }
    let earlier_row = store
        .message_by_id(&earlier.message.id)
        .await
        .expect("reply")
        .expect("kept");
    assert_eq!(
        (earlier_row.state, earlier_row.destroyed_at),
        (MessageState::Expired, Some(before)),
        "a reply destroyed before keeps its own end"
    );
    let mut queued: Vec<String> = store
        .blobs_to_delete(100)
        .await
        .expect("blobs")
        .into_iter()
        .map(|b| b.attachment_id)
        .collect();
    queued.sort();
    let mut expected = vec![
        m.attachments[0].id.clone(),
        replies[0].attachments[0].id.clone(),
        replies[1].attachments[0].id.clone(),
    ];
    expected.sort();
    assert_eq!(
        queued, expected,
        "its blobs and its replies' blobs, no others"
    );
    // The replies' notifications are gone with them; the other message's stay.
    assert_eq!(counts(&store).await, (2, 0));
    for job in claim(&store, at, MINUTE_MS, 100).await {
        assert!(
            !replies.iter().any(|r| job.payload.contains(&r.message.id)),
            "a destroyed reply's job survived"
        );
    }
    // The sender sees: one event per recipient, one per destroyed reply (detail: its id).
    let events = store.events_of(&m.message.id).await.expect("events");
    let new: Vec<_> = events[events_before..].iter().map(|e| &e.event).collect();
    assert_eq!(new.len(), 4);
    assert!(new
        .iter()
        .all(|e| (e.kind, e.at, e.actor.as_str()) == (EventKind::Revoked, at, "sender:s1")));
    for (reply, by) in replies.iter().zip([r0, r1]) {
        assert!(
            new.iter()
                .any(|e| e.detail.as_deref() == Some(reply.message.id.as_str())
                    && e.recipient_id.as_deref() == Some(by.id.as_str())),
            "an event for reply {}",
            reply.message.id
        );
    }
    // The other message's reply is untouched, until its own message expires.
    assert!(store
        .message_key(&elsewhere.message.id)
        .await
        .expect("key")
        .is_some());
    assert!(store
        .destroy_message(&other.message.id, MessageState::Expired, at, "system")
        .await
        .expect("expire other"));
    let row = store
        .message_by_id(&elsewhere.message.id)
        .await
        .expect("reply")
        .expect("kept");
    assert_eq!((row.state, row.subject_ct), (MessageState::Expired, None));
    assert_eq!(
        store.message_key(&elsewhere.message.id).await.expect("key"),
        None
    );
    assert!(event_kinds(&store, &other.message.id)
        .await
        .iter()
        .all(|k| k != "revoked"));
}

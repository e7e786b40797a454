//! `ConversationStore`: replies and forwards.

use super::support::{counts, event_kinds, hash32, recipient, seeded_message};
use super::Case;
use crate::fixtures::{self as fx, T0};
use zegel_core::model::*;
use zegel_core::DynStore;

/// The cases of this section, run by `tests/store_suite.rs` on both backends.
pub(super) const CASES: &[Case] = &[
    case!(case_reply_roundtrip_once_and_thread),
    case!(case_reply_to_destroyed_message_is_refused),
    case!(case_concurrent_once_replies_store_one),
    case!(case_forward_adds_recipient),
    case!(case_forward_refuses_a_duplicate_and_past_the_cap_in_its_transaction),
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

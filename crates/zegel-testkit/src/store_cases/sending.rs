//! `SendingStore`: the organisation's address book, held messages and read receipts (issue 13).

use super::support::{counts, event_kinds};
use super::Case;
use crate::fixtures::{self as fx, MINUTE_MS, T0};
use zegel_core::model::*;
use zegel_core::DynStore;

/// The cases of this section, run by `tests/store_suite.rs` on both backends.
pub(super) const CASES: &[Case] = &[
    case!(case_address_book_counts_every_use_and_keeps_the_last),
    case!(case_address_book_counts_concurrent_sends),
    case!(case_concurrent_address_lookups_each_get_their_own_answer),
    case!(case_held_message_waits_and_is_released_once_by_its_sender),
    case!(case_held_message_cancelled_or_past_its_hold_is_destroyed),
    case!(case_read_receipt_is_queued_once_per_recipient_when_asked),
];

const HOUR_MS: i64 = 60 * MINUTE_MS;

fn uses(m: &NewMessage, at: Ts) -> Vec<AddressUse> {
    m.recipients
        .iter()
        .map(|r| AddressUse {
            org_id: m.message.org_id.clone(),
            address: r.email.clone(),
            verification: r.verification,
            phone: r.phone.clone(),
            at,
        })
        .collect()
}

/// A message to `address` (its first recipient) with an address book use for it.
fn message_to(sender: &fx::Sender, address: &str, v: Verification, at: Ts) -> NewMessage {
    let mut m = fx::new_message(sender, at);
    m.recipients.truncate(1);
    m.recipients[0].email = address.to_owned();
    m.recipients[0].verification = v;
    m.recipients[0].phone = (v == Verification::Sms).then(|| "+31612345678".to_owned());
    m.sending.address_book = uses(&m, at);
    m
}

/// A held message: its jobs never due, its expiry the end of a one-hour hold.
fn held(sender: &fx::Sender, at: Ts) -> NewMessage {
    let mut m = fx::new_message(sender, at);
    for j in &mut m.jobs {
        j.run_at = HELD_RUN_AT;
    }
    m.events.clear();
    m.message.expires_at = at.plus_millis(HOUR_MS);
    m.sending.hold = Some(Hold {
        expiry_ms: 7 * 24 * HOUR_MS,
    });
    m
}

async fn entry(store: &DynStore, org: &str, address: &str) -> Option<AddressEntry> {
    store
        .address_book(org, &[address.to_owned()])
        .await
        .expect("address_book")
        .into_iter()
        .next()
}

/// Each send counts; the last method and number are kept; other organisations see nothing.
async fn case_address_book_counts_every_use_and_keeps_the_last(store: DynStore) {
    let sender = fx::seed_sender(&store).await;
    let other = fx::seed_sender(&store).await;
    let a = "jan@voorbeeld.nl";
    assert_eq!(entry(&store, &sender.org.id, a).await, None);
    store
        .insert_message(&message_to(&sender, a, Verification::Sms, T0))
        .await
        .expect("insert");
    let e = entry(&store, &sender.org.id, a).await.expect("entry");
    assert_eq!(
        (e.verification, e.phone.as_deref(), e.uses, e.last_used_at),
        (Verification::Sms, Some("+31612345678"), 1, T0)
    );
    let later = T0.plus_millis(MINUTE_MS);
    store
        .insert_message(&message_to(&sender, a, Verification::Email, later))
        .await
        .expect("insert");
    let e = entry(&store, &sender.org.id, a).await.expect("entry");
    assert_eq!(
        (e.verification, e.phone, e.uses, e.last_used_at),
        (Verification::Email, None, 2, later)
    );
    assert_eq!(entry(&store, &other.org.id, a).await, None);
    // Unknown addresses give nothing; the recent list is newest first.
    store
        .insert_message(&message_to(
            &sender,
            "piet@voorbeeld.nl",
            Verification::Code,
            T0,
        ))
        .await
        .expect("insert");
    let both = store
        .address_book(
            &sender.org.id,
            &[
                a.to_owned(),
                "piet@voorbeeld.nl".into(),
                "nooit@x.nl".into(),
            ],
        )
        .await
        .expect("address_book");
    assert_eq!(both.len(), 2);
    assert_eq!(
        store
            .recent_addresses(&sender.org.id, 10)
            .await
            .expect("recent"),
        vec![a.to_owned(), "piet@voorbeeld.nl".to_owned()]
    );
    assert!(store
        .recent_addresses(&other.org.id, 10)
        .await
        .expect("recent")
        .is_empty());
    // A message without address book uses (a reply, an API fixture) changes nothing.
    store
        .insert_message(&fx::new_message(&sender, later))
        .await
        .expect("insert");
    assert_eq!(
        entry(&store, &sender.org.id, a).await.map(|e| e.uses),
        Some(2)
    );
}

/// Concurrent sends to one address (batched together or not) each count once.
async fn case_address_book_counts_concurrent_sends(store: DynStore) {
    let sender = fx::seed_sender(&store).await;
    let a = "druk@voorbeeld.nl";
    let mut tasks = Vec::new();
    for i in 0..12 {
        let store = store.clone();
        let m = message_to(&sender, a, Verification::Email, T0.plus_millis(i));
        tasks.push(tokio::spawn(async move { store.insert_message(&m).await }));
    }
    for t in tasks {
        t.await.expect("task").expect("insert");
    }
    let e = entry(&store, &sender.org.id, a).await.expect("entry");
    assert_eq!(e.uses, 12);
    assert_eq!(e.last_used_at, T0.plus_millis(11));
}

/// Many lookups at once, of two organisations and overlapping addresses (which a backend may
/// answer in one statement), each get what they asked, once each, in address order, as alone.
async fn case_concurrent_address_lookups_each_get_their_own_answer(store: DynStore) {
    let one = fx::seed_sender(&store).await;
    let two = fx::seed_sender(&store).await;
    let known = ["a@voorbeeld.nl", "b@voorbeeld.nl", "c@voorbeeld.nl"];
    for (i, a) in known.iter().enumerate() {
        let at = T0.plus_millis(i as i64);
        store
            .insert_message(&message_to(&one, a, Verification::Email, at))
            .await
            .expect("insert");
    }
    store
        .insert_message(&message_to(&two, known[1], Verification::Sms, T0))
        .await
        .expect("insert");
    let asks: Vec<(String, Vec<String>)> = [
        (&one, vec!["c@voorbeeld.nl", "a@voorbeeld.nl"]),
        (&one, vec!["b@voorbeeld.nl", "b@voorbeeld.nl", "nooit@x.nl"]),
        (&two, vec!["a@voorbeeld.nl", "b@voorbeeld.nl"]),
        (&two, vec!["nooit@x.nl"]),
        (
            &one,
            vec!["a@voorbeeld.nl", "b@voorbeeld.nl", "c@voorbeeld.nl"],
        ),
    ]
    .into_iter()
    .map(|(s, a)| (s.org.id.clone(), a.into_iter().map(String::from).collect()))
    .collect();
    let mut alone = Vec::new();
    for (org, addresses) in &asks {
        alone.push(store.address_book(org, addresses).await.expect("alone"));
    }
    let found = |i: usize| -> Vec<(String, Verification)> {
        alone[i]
            .iter()
            .map(|e| (e.address.clone(), e.verification))
            .collect()
    };
    let email = |a: &str| (a.to_owned(), Verification::Email);
    assert_eq!(found(0), vec![email(known[0]), email(known[2])]);
    assert_eq!(found(1), vec![email(known[1])]);
    assert_eq!(found(2), vec![(known[1].to_owned(), Verification::Sms)]);
    assert!(found(3).is_empty());
    assert_eq!(found(4).len(), 3);
    for _ in 0..3 {
        let mut tasks = Vec::new();
        for (org, addresses) in asks.clone() {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store.address_book(&org, &addresses).await
            }));
        }
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.await.expect("task").expect("lookup"), alone[i], "ask {i}");
        }
    }
}

/// A held message: no job is due, it is in no list, only its own sender releases it, once;
/// then its jobs are due, its events and address book written, its expiry counts from then.
async fn case_held_message_waits_and_is_released_once_by_its_sender(store: DynStore) {
    let sender = fx::seed_sender(&store).await;
    let other = fx::seed_sender(&store).await;
    let m = held(&sender, T0);
    let id = m.message.id.clone();
    store.insert_message(&m).await.expect("insert held");
    let h = store
        .held_message(&id)
        .await
        .expect("held")
        .expect("is held");
    assert_eq!(
        (h.sender_id.as_str(), h.state, h.expires_at),
        (
            sender.user.id.as_str(),
            MessageState::Active,
            T0.plus_millis(HOUR_MS)
        )
    );
    let later = T0.plus_millis(10 * MINUTE_MS);
    assert!(store
        .claim_jobs(later.plus_millis(1000 * HOUR_MS), MINUTE_MS, 10)
        .await
        .expect("claim")
        .is_empty());
    assert!(store
        .list_messages(&sender.user.id, None, 10)
        .await
        .expect("list")
        .is_empty());
    assert!(store
        .sent_page(&sender.user.id, None, 10)
        .await
        .expect("page")
        .is_empty());
    let r0 = &m.recipients[0];
    let release = |by: &str, now: Ts| Release {
        message_id: id.clone(),
        sender_id: by.to_owned(),
        now,
        events: vec![fx::event(&id, Some(&r0.id), "sent", now)],
        address_book: uses(&m, now),
    };
    // Another sender, or after the hold: refused, nothing changed.
    assert!(!store
        .release_held(&release(&other.user.id, later))
        .await
        .expect("release"));
    assert!(!store
        .release_held(&release(&sender.user.id, T0.plus_millis(HOUR_MS)))
        .await
        .expect("release"));
    assert!(entry(&store, &sender.org.id, &r0.email).await.is_none());
    assert!(event_kinds(&store, &id).await.is_empty());

    assert!(store
        .release_held(&release(&sender.user.id, later))
        .await
        .expect("release"));
    assert!(!store
        .release_held(&release(&sender.user.id, later))
        .await
        .expect("second release"));
    assert_eq!(store.held_message(&id).await.expect("held"), None);
    let row = store.message_by_id(&id).await.expect("by id").expect("row");
    assert_eq!(row.expires_at, later.plus_millis(7 * 24 * HOUR_MS));
    assert_eq!(event_kinds(&store, &id).await, vec!["sent"]);
    assert_eq!(
        entry(&store, &sender.org.id, &r0.email)
            .await
            .map(|e| e.uses),
        Some(1)
    );
    let listed = store
        .list_messages(&sender.user.id, None, 10)
        .await
        .expect("list");
    assert_eq!(listed.len(), 1);
    let jobs = store.claim_jobs(later, MINUTE_MS, 10).await.expect("claim");
    assert_eq!(jobs.len(), m.jobs.len());
    for j in jobs {
        store.complete_job(j.id).await.expect("complete");
    }
}

/// "Annuleren" (a destroy) and the end of the hold (the expiry sweep) destroy a held
/// message: key gone, blobs queued, jobs gone; it is never listed and cannot be released.
async fn case_held_message_cancelled_or_past_its_hold_is_destroyed(store: DynStore) {
    let sender = fx::seed_sender(&store).await;
    let cancelled = held(&sender, T0);
    let forgotten = held(&sender, T0);
    store.insert_message(&cancelled).await.expect("insert");
    store.insert_message(&forgotten).await.expect("insert");
    assert!(store
        .destroy_message(
            &cancelled.message.id,
            MessageState::Revoked,
            T0.plus_millis(1),
            "sender:x"
        )
        .await
        .expect("destroy"));
    assert_eq!(
        store.message_key(&cancelled.message.id).await.expect("key"),
        None
    );
    let h = store
        .held_message(&cancelled.message.id)
        .await
        .expect("held")
        .expect("still known as held");
    assert_eq!(h.state, MessageState::Revoked);
    // The hold ends: the expiry sweep finds the forgotten one.
    let end = T0.plus_millis(HOUR_MS);
    assert_eq!(
        store.expired_message_ids(end, 10).await.expect("expired"),
        vec![forgotten.message.id.clone()]
    );
    assert!(store
        .destroy_message(&forgotten.message.id, MessageState::Expired, end, "system")
        .await
        .expect("destroy"));
    let blobs = store.blobs_to_delete(10).await.expect("blobs");
    assert_eq!(blobs.len(), 2);
    assert_eq!(counts(&store).await, (0, 0));
    for m in [&cancelled, &forgotten] {
        assert!(!store
            .release_held(&Release {
                message_id: m.message.id.clone(),
                sender_id: sender.user.id.clone(),
                now: T0.plus_millis(2),
                events: Vec::new(),
                address_book: Vec::new(),
            })
            .await
            .expect("release"));
    }
    assert!(store
        .list_messages(&sender.user.id, None, 10)
        .await
        .expect("list")
        .is_empty());
}

/// Only a message that asked for read receipts gets them, one per recipient.
async fn case_read_receipt_is_queued_once_per_recipient_when_asked(store: DynStore) {
    let sender = fx::seed_sender(&store).await;
    let mut asked = fx::new_message(&sender, T0);
    asked.sending.read_receipt = true;
    asked.jobs.clear();
    let mut plain = fx::new_message(&sender, T0);
    plain.jobs.clear();
    store.insert_message(&asked).await.expect("insert");
    store.insert_message(&plain).await.expect("insert");
    let job = |m: &NewMessage, r: &RecipientRow| {
        fx::job(
            "read_receipt",
            serde_json::json!({ "message_id": m.message.id, "recipient_id": r.id }),
            T0,
        )
    };
    let (r0, r1) = (&asked.recipients[0], &asked.recipients[1]);
    assert!(store
        .queue_read_receipt(&r0.id, &job(&asked, r0), T0)
        .await
        .expect("queue"));
    assert!(!store
        .queue_read_receipt(&r0.id, &job(&asked, r0), T0.plus_millis(1))
        .await
        .expect("queue again"));
    assert!(store
        .queue_read_receipt(&r1.id, &job(&asked, r1), T0)
        .await
        .expect("queue"));
    let p0 = &plain.recipients[0];
    assert!(!store
        .queue_read_receipt(&p0.id, &job(&plain, p0), T0)
        .await
        .expect("queue"));
    assert!(!store
        .queue_read_receipt("no-such-recipient", &job(&plain, p0), T0)
        .await
        .expect("queue"));
    assert_eq!(counts(&store).await, (2, 0));
    // A destroyed message gets none.
    let mut gone = fx::new_message(&sender, T0);
    gone.sending.read_receipt = true;
    gone.jobs.clear();
    store.insert_message(&gone).await.expect("insert");
    store
        .destroy_message(&gone.message.id, MessageState::Revoked, T0, "system")
        .await
        .expect("destroy");
    let g0 = &gone.recipients[0];
    assert!(!store
        .queue_read_receipt(&g0.id, &job(&gone, g0), T0)
        .await
        .expect("queue"));
}

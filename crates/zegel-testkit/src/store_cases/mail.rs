//! `MailStore`: an organisation's own mail domains, direct deliveries, mail received from
//! another provider and a user's SMTP credentials (issue 15).

use super::Case;
use crate::fixtures::{self as fx, T0};
use zegel_core::mail_store::{DomainAdded, NewReceivedMail};
use zegel_core::model::*;
use zegel_core::signin::{AccountEvent, AccountEventKind};
use zegel_core::DynStore;

/// The cases of this section, run by `tests/store_suite.rs` on both backends.
pub(super) const CASES: &[Case] = &[
    case!(case_a_mail_domain_belongs_to_one_organisation),
    case!(case_a_direct_delivery_marks_the_recipient_delivered),
    case!(case_received_mail_and_html_bodies_are_stored_whole),
    case!(case_smtp_credentials_of_lists_the_live_ones_newest_first),
];

fn policy_event(at: Ts) -> AccountEvent {
    AccountEvent {
        user_id: None,
        kind: AccountEventKind::PolicyChanged,
        at,
        ip: None,
        user_agent: None,
        detail: Some("mail domain".into()),
    }
}

/// A domain is added once, to one organisation; removing it frees it.
async fn case_a_mail_domain_belongs_to_one_organisation(store: DynStore) {
    let a = fx::seed_sender(&store).await;
    let b = fx::seed_sender(&store).await;
    let ev = policy_event(T0);
    let add = |org: &str, d: &str| {
        let (store, org, d, ev) = (store.clone(), org.to_owned(), d.to_owned(), ev.clone());
        async move { store.add_org_domain(&org, &d, &ev).await.expect("add") }
    };
    assert_eq!(add(&a.org.id, "zkh.example").await, DomainAdded::Added);
    assert_eq!(add(&a.org.id, "alpha.example").await, DomainAdded::Added);
    assert_eq!(add(&a.org.id, "zkh.example").await, DomainAdded::Already);
    assert_eq!(
        add(&b.org.id, "zkh.example").await,
        DomainAdded::OtherOrganisation
    );
    assert_eq!(
        store.org_domains(&a.org.id).await.expect("domains"),
        vec!["alpha.example".to_owned(), "zkh.example".to_owned()]
    );
    assert!(store
        .org_domains(&b.org.id)
        .await
        .expect("domains")
        .is_empty());
    assert_eq!(
        store
            .org_of_domain("zkh.example")
            .await
            .expect("org_of_domain"),
        Some(a.org.id.clone())
    );
    assert!(!store
        .remove_org_domain(&b.org.id, "zkh.example", &ev)
        .await
        .expect("remove"));
    assert!(store
        .remove_org_domain(&a.org.id, "zkh.example", &ev)
        .await
        .expect("remove"));
    assert_eq!(
        store.org_of_domain("zkh.example").await.expect("lookup"),
        None
    );
    assert_eq!(add(&b.org.id, "zkh.example").await, DomainAdded::Added);
}

/// `mark_delivered_direct`: the recipient reads as `delivered` with `notified_at`, the event is
/// there and the job is gone, together; an unknown recipient changes nothing.
async fn case_a_direct_delivery_marks_the_recipient_delivered(store: DynStore) {
    let sender = fx::seed_sender(&store).await;
    let m = fx::new_message(&sender, T0);
    store.insert_message(&m).await.expect("insert_message");
    let jobs = store.claim_jobs(T0, 60_000, 10).await.expect("claim");
    assert_eq!(jobs.len(), 1);
    let r = &m.recipients[0];
    let at = T0.plus_millis(1_000);
    let ev = fx::event(&m.message.id, Some(&r.id), "delivered_direct", at);
    assert!(store
        .mark_delivered_direct("no-such-recipient", &ev, jobs[0].id)
        .await
        .is_err());
    store
        .mark_delivered_direct(&r.id, &ev, jobs[0].id)
        .await
        .expect("mark_delivered_direct");
    let after = store
        .recipient_by_id(&r.id)
        .await
        .expect("recipient")
        .expect("found");
    assert_eq!(after.status, RecipientStatus::Delivered);
    assert_eq!(after.notified_at, Some(at));
    let other = store
        .recipient_by_id(&m.recipients[1].id)
        .await
        .expect("recipient")
        .expect("found");
    assert_eq!(other.status, RecipientStatus::Queued, "only that recipient");
    let kinds: Vec<EventKind> = store
        .events_of(&m.message.id)
        .await
        .expect("events")
        .into_iter()
        .map(|e| e.event.kind)
        .collect();
    assert!(kinds.contains(&EventKind::DeliveredDirect), "{kinds:?}");
    let later = T0.plus_millis(10 * 60_000);
    assert!(store
        .claim_jobs(later, 60_000, 10)
        .await
        .expect("claim")
        .is_empty());
}

/// Mail from another provider is stored with its key, attachments, event and the user's
/// job, and reads back as written (sender address, verification, HTML ciphertext), in the
/// user's inbox; an HTML body also survives a sender's message. A row without a sending
/// address is refused and leaves nothing.
async fn case_received_mail_and_html_bodies_are_stored_whole(store: DynStore) {
    let sender = fx::seed_sender(&store).await;
    let mut sent = fx::new_message(&sender, T0);
    sent.message.html_ct = Some(fx::fake_bytes(90));
    store.insert_message(&sent).await.expect("insert_message");
    let back = store
        .message_by_id(&sent.message.id)
        .await
        .expect("read")
        .expect("found");
    assert_eq!(back, sent.message, "the sender's message with its HTML");

    let template = fx::new_message(&sender, T0.plus_millis(5));
    let id = template.message.id.clone();
    let message = MessageRow {
        kind: MessageKind::Reply,
        reply_policy: ReplyPolicy::Off,
        from_address: Some("collega@ander.example".into()),
        from_verified: true,
        html_ct: Some(fx::fake_bytes(120)),
        ..template.message.clone()
    };
    let received = NewReceivedMail {
        message: message.clone(),
        key: template.key.clone(),
        attachments: template.attachments.clone(),
        event: fx::event(&id, None, "mail_received", T0.plus_millis(5)),
        job: fx::job(
            "notify_sender",
            serde_json::json!({ "message_id": id }),
            T0.plus_millis(5),
        ),
    };
    let bad = NewReceivedMail {
        message: MessageRow {
            id: fx::new_id(),
            from_address: None,
            ..message.clone()
        },
        ..received.clone()
    };
    assert!(store.insert_received_mail(&bad).await.is_err());
    assert!(store
        .message_by_id(&bad.message.id)
        .await
        .expect("read")
        .is_none());
    store
        .insert_received_mail(&received)
        .await
        .expect("insert_received_mail");
    let back = store
        .message_by_id(&id)
        .await
        .expect("read")
        .expect("found");
    assert_eq!(back, message);
    assert_eq!(
        store.attachments_of(&id).await.expect("attachments").len(),
        1
    );
    let inbox = store
        .inbox_replies(&sender.user.id, None, 10)
        .await
        .expect("inbox");
    assert_eq!(
        inbox.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        vec![id.as_str()]
    );
    let kinds: Vec<EventKind> = store
        .events_of(&id)
        .await
        .expect("events")
        .into_iter()
        .map(|e| e.event.kind)
        .collect();
    assert_eq!(kinds, vec![EventKind::MailReceived]);
}

/// A user's live SMTP credentials, newest first; a revoked one is gone from the list.
async fn case_smtp_credentials_of_lists_the_live_ones_newest_first(store: DynStore) {
    let sender = fx::seed_sender(&store).await;
    let other = fx::seed_sender(&store).await;
    for (n, (user, name)) in [
        (&sender.user, "zegel-000000000001"),
        (&sender.user, "zegel-000000000002"),
        (&sender.user, "zegel-000000000003"),
        (&other.user, "zegel-000000000004"),
    ]
    .into_iter()
    .enumerate()
    {
        store
            .create_smtp_credential(&NewSmtpCredential {
                id: fx::new_id(),
                user_id: user.id.clone(),
                username: name.to_owned(),
                password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
                label: format!("label {n}"),
                created_at: T0.plus_millis(n as i64),
                ip: None,
                user_agent: None,
            })
            .await
            .expect("create");
    }
    assert!(store
        .revoke_smtp_credential("zegel-000000000002", T0.plus_millis(50))
        .await
        .expect("revoke"));
    let live = store
        .smtp_credentials_of(&sender.user.id)
        .await
        .expect("list");
    let names: Vec<&str> = live.iter().map(|c| c.username.as_str()).collect();
    assert_eq!(names, vec!["zegel-000000000003", "zegel-000000000001"]);
    assert_eq!(live[0].label, "label 2");
    assert_eq!(live[0].created_at, T0.plus_millis(2));
    assert_eq!(live[0].last_used_at, None);
}

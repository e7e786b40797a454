//! `AuditStore`: every event and account event becomes a chained entry in its own
//! transaction, also from many writers at once (group commits, batched statements, several
//! connections); entries keep the NEN 7513 fields; checkpoints are stored once.

use super::Case;
use crate::fixtures::{self as fx, T0};
use zegel_core::audit::{self, AuditCheckpoint, AuditFilter};
use zegel_core::audit_check::{self, CheckpointKeys};
use zegel_core::model::*;
use zegel_core::signin::{AccountEvent, AccountEventKind};
use zegel_core::DynStore;

/// The cases of this section, run by `tests/store_suite.rs` on both backends.
pub(super) const CASES: &[Case] = &[
    case!(case_audit_every_event_is_a_chained_entry),
    case!(case_audit_chain_holds_under_concurrent_writers),
    case!(case_audit_checkpoints_are_stored_once),
];

/// Accepts every signature: these cases check the chain, not the keys.
struct AnyKey;

impl CheckpointKeys for AnyKey {
    fn check(&self, _: &str, _: &str, _: &[u8], _: &[u8]) -> bool {
        true
    }
}

async fn assert_whole(store: &DynStore) -> audit_check::VerifyReport {
    let report = audit_check::verify(store, &AnyKey, &|c: &str| c.to_owned())
        .await
        .expect("verify");
    assert_eq!(report.problem, None, "{report:?}");
    report
}

fn account_event(user_id: Option<&str>, kind: AccountEventKind, at: Ts) -> AccountEvent {
    AccountEvent {
        user_id: user_id.map(str::to_owned),
        kind,
        at,
        ip: Some("192.0.2.7".into()),
        user_agent: None,
        detail: Some("test".into()),
    }
}

async fn case_audit_every_event_is_a_chained_entry(store: DynStore) {
    let sender = fx::seed_sender(&store).await;
    let m = fx::new_message(&sender, T0);
    store.insert_message(&m).await.expect("insert_message");
    let r = &m.recipients[0];
    let mut opened = fx::event(&m.message.id, Some(&r.id), "opened", T0.plus_secs(5));
    opened.actor = format!("recipient:{}", r.id);
    store
        .record_event(&opened, None)
        .await
        .expect("record_event");
    store
        .record_account_event(&account_event(
            Some(&sender.user.id),
            AccountEventKind::SignInFailed,
            T0.plus_secs(6),
        ))
        .await
        .expect("account event");
    store
        .record_account_event(&account_event(
            None,
            AccountEventKind::SignInFailed,
            T0.plus_secs(7),
        ))
        .await
        .expect("account event without a user");

    // Staged by each write, chained by the sequencer.
    audit_check::sequence_all(&store).await.expect("sequence");
    let heads = store.audit_heads().await.expect("heads");
    let org_head = heads
        .iter()
        .find(|h| h.chain == sender.org.id)
        .expect("the organisation's chain");
    let entries = store
        .audit_entries(&sender.org.id, 0, 1000)
        .await
        .expect("entries");
    assert_eq!(entries.len() as i64, org_head.seq);
    // user_created, the message's events, opened, the failed sign-in.
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions[0], "account.user_created");
    assert!(actions.contains(&"message.opened"), "{actions:?}");
    assert_eq!(*actions.last().unwrap(), "account.sign_in_failed");
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e.seq, i as i64 + 1);
        let prev = if i == 0 {
            audit::GENESIS
        } else {
            entries[i - 1].hash
        };
        assert_eq!(e.prev_hash, prev, "entry {} links to the one before", e.seq);
        assert_eq!(audit::entry_hash(e), e.hash);
        assert!(!e.node.is_empty());
    }
    let o = entries
        .iter()
        .find(|e| e.action == "message.opened")
        .unwrap();
    assert_eq!(o.user_role.as_deref(), Some("recipient"));
    assert_eq!(o.user_name.as_deref(), Some(r.email.as_str()));
    assert_eq!(o.recipient.as_deref(), Some(r.email.as_str()));
    assert_eq!(o.object.as_deref(), Some(m.message.id.as_str()));
    assert_eq!(o.on_behalf_of.as_deref(), Some(sender.org.name.as_str()));
    assert_eq!(o.address.as_deref(), Some("192.0.2.10"));
    assert_eq!(o.outcome, "success");
    let f = entries.last().unwrap();
    assert_eq!(f.outcome, "failure");
    assert_eq!(f.user_id.as_deref(), Some(sender.user.id.as_str()));
    assert!(f.user_name.as_deref().unwrap().contains(&sender.user.email));
    // Without a user: the installation's chain.
    let inst = store.audit_entries("", 0, 10).await.expect("installation");
    assert_eq!(inst.len(), 1);
    assert_eq!(inst[0].user_role.as_deref(), Some("system"));
    // The message's entries, and the export filters.
    let of_message = store
        .audit_of_message(&m.message.id)
        .await
        .expect("of message");
    assert!(of_message.iter().any(|e| e.action == "message.opened"));
    assert!(of_message
        .iter()
        .all(|e| e.object.as_deref() == Some(m.message.id.as_str())));
    let by_recipient = store
        .audit_export_page(
            &AuditFilter {
                recipient: Some(r.email.to_uppercase()),
                ..Default::default()
            },
            None,
            100,
        )
        .await
        .expect("export");
    assert!(!by_recipient.is_empty());
    assert!(by_recipient
        .iter()
        .all(|e| e.recipient.as_deref() == Some(r.email.as_str())));
    let later = store
        .audit_export_page(
            &AuditFilter {
                from: Some(T0.plus_secs(6)),
                ..Default::default()
            },
            None,
            100,
        )
        .await
        .expect("export");
    assert_eq!(later.len(), 2, "the two sign-in failures");
    // Paging: after the first entry of the period, the second.
    let next = store
        .audit_export_page(
            &AuditFilter {
                from: Some(T0.plus_secs(6)),
                ..Default::default()
            },
            Some((later[0].at, later[0].chain.clone(), later[0].seq)),
            100,
        )
        .await
        .expect("export");
    assert_eq!(next, later[1..].to_vec());
    let report = assert_whole(&store).await;
    assert_eq!(report.chains, 2);
}

async fn case_audit_chain_holds_under_concurrent_writers(store: DynStore) {
    let sender = fx::seed_sender(&store).await;
    let mut tasks = Vec::new();
    for i in 0..24i64 {
        let store = store.clone();
        let sender = sender.clone();
        tasks.push(tokio::spawn(async move {
            let m = fx::new_message(&sender, T0.plus_secs(i));
            store.insert_message(&m).await.expect("insert_message");
            let r = &m.recipients[0];
            let ev = fx::event(&m.message.id, Some(&r.id), "notified", T0.plus_secs(i + 1));
            store
                .mark_notified(&r.id, &ev, None)
                .await
                .expect("mark_notified");
            store
                .record_account_event(&account_event(
                    Some(&sender.user.id),
                    AccountEventKind::SignInOk,
                    T0.plus_secs(i),
                ))
                .await
                .expect("account event");
        }));
    }
    for t in tasks {
        t.await.expect("writer");
    }
    let report = assert_whole(&store).await;
    let events = fx_count(&store, &sender).await;
    assert_eq!(
        report.entries, events,
        "one entry per event and account event"
    );
}

/// Events of the sender's messages plus the sender's account events.
async fn fx_count(store: &DynStore, sender: &fx::Sender) -> u64 {
    let entries = store
        .audit_entries(&sender.org.id, 0, 10_000)
        .await
        .expect("entries");
    let accounts = store
        .account_events(&sender.user.id)
        .await
        .expect("account events")
        .len();
    let messages = entries
        .iter()
        .filter(|e| e.source == audit::SOURCE_EVENT)
        .count();
    assert_eq!(
        entries.len() - messages,
        accounts,
        "every account event is an entry"
    );
    // 24 messages: their own events plus one `notified` each.
    assert!(messages >= 48, "{messages} message entries");
    entries.len() as u64
}

async fn case_audit_checkpoints_are_stored_once(store: DynStore) {
    let sender = fx::seed_sender(&store).await;
    audit_check::sequence_all(&store).await.expect("sequence");
    let head = store
        .audit_heads()
        .await
        .expect("heads")
        .into_iter()
        .find(|h| h.chain == sender.org.id)
        .expect("chain");
    let cp = AuditCheckpoint {
        chain: head.chain.clone(),
        seq: head.seq,
        hash: head.hash,
        signed_at: T0,
        key_id: "k1".into(),
        signature: vec![7; 64],
    };
    assert!(store.add_audit_checkpoint(&cp).await.expect("add"));
    assert!(!store.add_audit_checkpoint(&cp).await.expect("again"));
    assert_eq!(
        store.audit_checkpoints(&head.chain).await.expect("list"),
        vec![cp.clone()]
    );
    assert_whole(&store).await;
    // A checkpoint that names another hash than the chain has: history was rewritten.
    store
        .record_account_event(&account_event(
            Some(&sender.user.id),
            AccountEventKind::SignOut,
            T0.plus_secs(1),
        ))
        .await
        .expect("account event");
    let forged = AuditCheckpoint {
        seq: head.seq + 1,
        hash: [9; 32],
        ..cp
    };
    assert!(store.add_audit_checkpoint(&forged).await.expect("add"));
    let report = audit_check::verify(&store, &AnyKey, &|c: &str| c.to_owned())
        .await
        .expect("verify");
    let problem = report.problem.expect("a forged checkpoint is found");
    assert!(
        problem.contains(&format!("entry {} of", head.seq + 1)) && problem.contains("checkpoint"),
        "{problem}"
    );
}

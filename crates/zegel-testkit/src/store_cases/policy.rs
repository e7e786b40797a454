//! `PolicyStore`: organisation policy and logo.

use super::Case;
use crate::fixtures::{self as fx};
use zegel_core::model::*;
use zegel_core::signin::{AccountEvent, AccountEventKind, StoredAccountEvent};
use zegel_core::DynStore;

/// The cases of this section, run by `tests/store_suite.rs` on both backends.
pub(super) const CASES: &[Case] = &[case!(case_org_policy_and_logo)];

async fn case_org_policy_and_logo(store: DynStore) {
    let sender = fx::seed_sender(&store).await;
    let org = &sender.org.id;
    assert_eq!(
        store.org_policy(org).await.expect("policy"),
        Some(OrgPolicy::default())
    );
    assert_eq!(store.org_policy("no-such-org").await.expect("policy"), None);
    let p = OrgPolicy {
        reply_default: ReplyPolicy::Unlimited,
        reply_locked: true,
        forward_allowed: false,
        device_days: 30,
        contact: Some("Polikliniek, 010 123 45 67".into()),
        has_logo: false,
        sms_per_day: 250,
        sms_countries: vec!["NL".into(), "LU".into()],
        default_availability_days: Some(30),
        max_availability_days: Some(180),
    };
    let event = AccountEvent {
        user_id: Some(sender.user.id.clone()),
        kind: AccountEventKind::PolicyChanged,
        at: fx::T0,
        ip: None,
        user_agent: None,
        detail: Some(format!("org={org} changed=max_availability_days")),
    };
    assert!(store.set_org_policy(org, &p, &event).await.expect("set"));
    assert_eq!(
        store.org_policy(org).await.expect("policy"),
        Some(p.clone())
    );
    // The change and its account event commit together; an unknown organisation: neither.
    // (The user's own `UserCreated` event is there too; only policy changes count here.)
    let policy_events = |recorded: Vec<StoredAccountEvent>| {
        recorded
            .into_iter()
            .map(|e| e.event)
            .filter(|e| e.kind == AccountEventKind::PolicyChanged)
            .collect::<Vec<_>>()
    };
    let recorded = store
        .account_events(&sender.user.id)
        .await
        .expect("account events");
    assert_eq!(policy_events(recorded), vec![event.clone()]);
    assert!(!store
        .set_org_policy("no-such-org", &p, &event)
        .await
        .expect("set"));
    assert_eq!(
        policy_events(
            store
                .account_events(&sender.user.id)
                .await
                .expect("account events")
        )
        .len(),
        1
    );
    // Back to the installation's values (NULL).
    let unset = OrgPolicy {
        default_availability_days: None,
        max_availability_days: None,
        ..p.clone()
    };
    assert!(store
        .set_org_policy(org, &unset, &event)
        .await
        .expect("set"));
    assert_eq!(store.org_policy(org).await.expect("policy"), Some(unset));
    assert!(store.set_org_policy(org, &p, &event).await.expect("set"));
    let usage = store.sms_usage(0).await.expect("sms_usage");
    assert_eq!(usage.len(), 1);
    assert_eq!(
        (usage[0].org_slug.as_str(), usage[0].per_day, usage[0].sent),
        (sender.org.slug.as_str(), 250, 0)
    );

    assert_eq!(store.org_logo(org).await.expect("logo"), None);
    assert!(store
        .set_org_logo(org, Some((b"\x89PNG fake", "image/png")))
        .await
        .expect("set logo"));
    assert_eq!(
        store.org_logo(org).await.expect("logo"),
        Some((b"\x89PNG fake".to_vec(), "image/png".to_string()))
    );
    let with_logo = store.org_policy(org).await.expect("policy").expect("org");
    assert!(with_logo.has_logo);
    assert_eq!(with_logo.contact, p.contact);
    assert!(store.set_org_logo(org, None).await.expect("unset"));
    assert_eq!(store.org_logo(org).await.expect("logo"), None);
}

//! `AccountStore`: organisations, users, API tokens and SMTP credentials.

use super::Case;
use crate::fixtures::{self as fx, T0};
use zegel_core::model::*;
use zegel_core::{DynStore, StoreError};

/// The cases of this section, run by `tests/store_suite.rs` on both backends.
pub(super) const CASES: &[Case] = &[
    case!(case_create_org_and_key),
    case!(case_keys_wrapped_under_a_rotated_master_key_are_refused),
    case!(case_user_create_and_lookup),
    case!(case_api_token_lookup),
    case!(case_smtp_credential_login),
];

/// An organisation and its key commit together; a taken slug is a conflict.
async fn case_create_org_and_key(store: DynStore) {
    let (zuid, zuid_key) = fx::org("zuid", "Ziekenhuis Zuid", T0);
    store
        .create_org(&zuid, &zuid_key, None)
        .await
        .expect("create_org");
    let (noord, noord_key) = fx::org("noord", "Huisartsen Noord", T0.plus_millis(1));
    store
        .create_org(&noord, &noord_key, None)
        .await
        .expect("create_org");

    assert_eq!(
        store.org_by_id(&zuid.id).await.expect("by id"),
        Some(zuid.clone())
    );
    assert_eq!(
        store.org_by_slug("zuid").await.expect("by slug"),
        Some(zuid.clone())
    );
    assert_eq!(store.org_by_slug("west").await.expect("by slug"), None);
    assert_eq!(store.org_by_id("nope").await.expect("by id"), None);
    assert_eq!(
        store.org_key(&zuid_key.id).await.expect("key"),
        Some(zuid_key.clone())
    );
    assert_eq!(store.org_key("kek_unknown").await.expect("key"), None);
    assert_eq!(
        store.list_orgs().await.expect("list"),
        vec![zuid.clone(), noord.clone()]
    );

    // Taken slug: conflict, and its key is not stored either.
    let (dup, dup_key) = fx::org("zuid", "Ander Zuid", T0.plus_millis(2));
    match store.create_org(&dup, &dup_key, None).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("taken slug must be a Conflict, got {other:?}"),
    }
    assert_eq!(store.org_key(&dup_key.id).await.expect("key"), None);
    assert_eq!(store.org_by_id(&dup.id).await.expect("by id"), None);

    // The key fails after the organisation row went in: the organisation is rolled back.
    let (west, mut west_key) = fx::org("west", "Zorg West", T0.plus_millis(3));
    west_key.id = zuid_key.id.clone();
    match store.create_org(&west, &west_key, None).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("taken key id must be a Conflict, got {other:?}"),
    }
    assert_eq!(store.org_by_slug("west").await.expect("by slug"), None);
    assert_eq!(store.list_orgs().await.expect("list").len(), 2);
}

/// A key wrapped under a master key that is no longer the database's (a node or command
/// started before `rotate-master`) is never stored: the organisation with its key, and a
/// signing key, are refused and leave nothing; under the current master key they are stored.
async fn case_keys_wrapped_under_a_rotated_master_key_are_refused(store: DynStore) {
    let current = [7u8; 32];
    let old = [9u8; 32];
    store
        .meta_init(zegel_core::keys::META_KEY_CHECK, &current)
        .await
        .expect("meta_init");
    let (late, late_key) = fx::org("laat", "Ziekenhuis Laat", T0);
    match store.create_org(&late, &late_key, Some(&old)).await {
        Err(StoreError::MasterKeyChanged) => {}
        other => panic!("an old master key must be refused, got {other:?}"),
    }
    assert_eq!(store.org_by_slug("laat").await.expect("by slug"), None);
    assert_eq!(store.org_key(&late_key.id).await.expect("key"), None);
    let signing = zegel_core::signing::SigningKeyRow {
        id: "sig_late".into(),
        org_id: late.id.clone(),
        public_key: vec![1; 32],
        wrapped_private: vec![2; 60],
        created_at: T0,
        retired_at: None,
    };
    match store.insert_signing_key(&signing, Some(&old)).await {
        Err(StoreError::MasterKeyChanged) => {}
        other => panic!("an old master key must be refused, got {other:?}"),
    }
    assert_eq!(
        store.current_signing_key(&late.id).await.expect("current"),
        None
    );
    store
        .create_org(&late, &late_key, Some(&current))
        .await
        .expect("create_org under the current master key");
    assert_eq!(
        store.org_by_slug("laat").await.expect("by slug"),
        Some(late.clone())
    );
    let stored = store
        .insert_signing_key(&signing, Some(&current))
        .await
        .expect("insert under the current master key");
    assert_eq!(stored.id, "sig_late");
}

/// Users by id and e-mail, listed oldest first; a taken e-mail is a conflict.
async fn case_user_create_and_lookup(store: DynStore) {
    let (org, key) = fx::org("zuid", "Ziekenhuis Zuid", T0);
    store
        .create_org(&org, &key, None)
        .await
        .expect("create_org");
    let mut a = fx::user(&org.id, "a.arts@zuid.example", "Dr. A. Arts", T0);
    a.password_hash = Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned());
    a.role = Role::Admin;
    let b = fx::user(
        &org.id,
        "b.bakker@zuid.example",
        "B. Bakker",
        T0.plus_millis(1),
    );
    store.create_user(&b).await.expect("create b");
    store.create_user(&a).await.expect("create a");

    assert_eq!(
        store.user_by_id(&a.id).await.expect("by id"),
        Some(a.clone())
    );
    assert_eq!(
        store
            .user_by_email("b.bakker@zuid.example")
            .await
            .expect("by email"),
        Some(b.clone())
    );
    assert_eq!(
        store
            .user_by_email("nobody@zuid.example")
            .await
            .expect("by email"),
        None
    );
    assert_eq!(store.user_by_id("nope").await.expect("by id"), None);
    assert_eq!(
        store.list_users(&org.id).await.expect("list"),
        vec![a.clone(), b.clone()]
    );
    assert_eq!(store.list_users("other-org").await.expect("list"), vec![]);

    let dup = fx::user(
        &org.id,
        "a.arts@zuid.example",
        "Someone Else",
        T0.plus_millis(2),
    );
    match store.create_user(&dup).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("taken e-mail must be a Conflict, got {other:?}"),
    }
    assert_eq!(store.user_by_id(&dup.id).await.expect("by id"), None);
}

/// An API token hash finds its user with the organisation and its current policy (a policy
/// change is seen by the next lookup); an unknown hash finds nothing; a hash is unique.
async fn case_api_token_lookup(store: DynStore) {
    let sender = fx::seed_sender(&store).await;
    let token = NewApiToken {
        id: fx::new_id(),
        user_id: sender.user.id.clone(),
        token_hash: fx::random_hash(),
        label: "cli".to_owned(),
        created_at: T0,
        ip: None,
        user_agent: None,
    };
    store
        .create_api_token(&token)
        .await
        .expect("create_api_token");
    assert_eq!(
        store
            .principal_by_token_hash(&token.token_hash, T0.plus_millis(5))
            .await
            .expect("lookup"),
        Some(Principal {
            user: sender.user.clone(),
            org: sender.org.clone(),
            policy: OrgPolicy::default(),
        })
    );
    let policy = OrgPolicy {
        reply_default: ReplyPolicy::Once,
        reply_locked: true,
        forward_allowed: false,
        device_days: 7,
        contact: Some("Balie, 010 000 00 00".into()),
        has_logo: false,
        sms_per_day: 3,
        sms_countries: vec!["BE".into()],
        default_availability_days: Some(14),
        max_availability_days: Some(60),
    };
    let event = zegel_core::signin::AccountEvent {
        user_id: None,
        kind: zegel_core::signin::AccountEventKind::PolicyChanged,
        at: T0,
        ip: None,
        user_agent: None,
        detail: None,
    };
    assert!(store
        .set_org_policy(&sender.org.id, &policy, &event)
        .await
        .expect("set policy"));
    assert!(store
        .set_org_logo(&sender.org.id, Some((b"\x89PNG fake", "image/png")))
        .await
        .expect("set logo"));
    let found = store
        .principal_by_token_hash(&token.token_hash, T0.plus_millis(6))
        .await
        .expect("lookup")
        .expect("token");
    assert_eq!(
        found.policy,
        OrgPolicy {
            has_logo: true,
            ..policy
        }
    );
    assert_eq!(found.org, sender.org);
    assert_eq!(
        store
            .principal_by_token_hash(&fx::random_hash(), T0)
            .await
            .expect("lookup"),
        None
    );
    let dup = NewApiToken {
        id: fx::new_id(),
        label: "again".to_owned(),
        ..token.clone()
    };
    match store.create_api_token(&dup).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("taken token hash must be a Conflict, got {other:?}"),
    }
}

/// An SMTP credential finds its user with the organisation and policy by user name, records
/// its creation as an account event in the same transaction, and `last_used_at` at most once
/// per resolution; an unknown or revoked name finds nothing; a user name is unique.
async fn case_smtp_credential_login(store: DynStore) {
    let sender = fx::seed_sender(&store).await;
    let cred = NewSmtpCredential {
        id: fx::new_id(),
        user_id: sender.user.id.clone(),
        username: "zegel-0123456789ab".to_owned(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        label: "Outlook".to_owned(),
        created_at: T0,
        ip: Some("192.0.2.7".into()),
        user_agent: None,
    };
    store
        .create_smtp_credential(&cred)
        .await
        .expect("create_smtp_credential");
    let login = store
        .smtp_login(&cred.username, T0.plus_millis(5))
        .await
        .expect("login")
        .expect("found");
    assert_eq!(login.credential_id, cred.id);
    assert_eq!(login.password_hash, cred.password_hash);
    assert_eq!(
        login.principal,
        Principal {
            user: sender.user.clone(),
            org: sender.org.clone(),
            policy: OrgPolicy::default(),
        }
    );
    assert!(store
        .smtp_login("zegel-ffffffffffff", T0)
        .await
        .expect("login")
        .is_none());
    // Its creation is an account event of the user, with the name and label, never the hash.
    let events = store
        .account_events(&sender.user.id)
        .await
        .expect("account events");
    let created: Vec<_> = events
        .iter()
        .filter(|e| e.event.kind == zegel_core::signin::AccountEventKind::SmtpCredentialCreated)
        .collect();
    assert_eq!(created.len(), 1, "{events:?}");
    assert_eq!(
        created[0].event.detail.as_deref(),
        Some("zegel-0123456789ab Outlook")
    );
    assert_eq!(created[0].event.ip.as_deref(), Some("192.0.2.7"));
    // A taken user name: a conflict, and no second event.
    let dup = NewSmtpCredential {
        id: fx::new_id(),
        ..cred.clone()
    };
    match store.create_smtp_credential(&dup).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("a taken user name must be a Conflict, got {other:?}"),
    }
    let again = store
        .account_events(&sender.user.id)
        .await
        .expect("account events");
    assert_eq!(again.len(), events.len());
    // A revoked credential finds nothing, and is revoked once.
    assert!(store
        .revoke_smtp_credential(&cred.username, T0.plus_millis(9))
        .await
        .expect("revoke"));
    assert!(!store
        .revoke_smtp_credential(&cred.username, T0.plus_millis(10))
        .await
        .expect("revoke"));
    let revoked: Vec<_> = store
        .account_events(&sender.user.id)
        .await
        .expect("account events")
        .into_iter()
        .filter(|e| e.event.kind == zegel_core::signin::AccountEventKind::SmtpCredentialRevoked)
        .collect();
    assert_eq!(revoked.len(), 1);
    assert!(store
        .smtp_login(&cred.username, T0)
        .await
        .expect("login")
        .is_none());
}

//! `SignInStore`: sender accounts (lockouts, throttle, TOTP, passkeys, WebAuthn ceremonies,
//! set-up links, account events, the second-factor policy, own API tokens).

use super::Case;
use crate::fixtures::{self as fx, T0};
use zegel_core::model::*;
use zegel_core::signin::*;
use zegel_core::{DynStore, StoreError};

/// The cases of this section, run by `tests/store_suite.rs` on both backends.
pub(super) const CASES: &[Case] = &[
    case!(case_account_lockout_after_failures),
    case!(case_account_throttle_per_address),
    case!(case_account_password_and_events),
    case!(case_account_totp_lifecycle),
    case!(case_account_passkeys),
    case!(case_account_ceremony_state_used_once),
    case!(case_account_setup_links),
    case!(case_account_reset_removes_factors),
    case!(case_account_policy_and_api_tokens),
];

async fn seeded(store: &DynStore) -> (Organisation, User) {
    let (org, key) = fx::org("zuid", "Ziekenhuis Zuid", T0);
    store
        .create_org(&org, &key, None)
        .await
        .expect("create_org");
    let user = fx::user(&org.id, "a.arts@zuid.example", "Dr. A. Arts", T0);
    store.create_user(&user).await.expect("create_user");
    (org, user)
}

fn ev(user: &User, kind: AccountEventKind, at: Ts) -> AccountEvent {
    AccountEvent {
        user_id: Some(user.id.clone()),
        kind,
        at,
        ip: Some("192.0.2.7".into()),
        user_agent: Some("test".into()),
        detail: None,
    }
}

/// The user's account events after `user_created` (which `create_user` records first; the
/// audit cases check it).
async fn kinds(store: &DynStore, user: &User) -> Vec<AccountEventKind> {
    let all: Vec<AccountEventKind> = store
        .account_events(&user.id)
        .await
        .expect("events")
        .into_iter()
        .map(|e| e.event.kind)
        .collect();
    assert_eq!(all.first(), Some(&AccountEventKind::UserCreated), "{all:?}");
    all[1..].to_vec()
}

/// Five wrong passwords lock the account for the lock time; while locked nothing is counted;
/// after the lock a new round starts; a success clears the count.
async fn case_account_lockout_after_failures(store: DynStore) {
    let (_, user) = seeded(&store).await;
    let fail = |at: Ts| {
        let store = store.clone();
        let e = ev(&user, AccountEventKind::SignInFailed, at);
        let id = user.id.clone();
        async move {
            store
                .sign_in_failed(&id, at, 5, 900_000, &e)
                .await
                .expect("failed")
        }
    };
    for i in 1..=4 {
        assert_eq!(
            fail(T0.plus_millis(i)).await,
            FailureOutcome::Counted { remaining: 5 - i }
        );
    }
    let acc = store
        .account_by_email("a.arts@zuid.example")
        .await
        .expect("account")
        .expect("known");
    assert_eq!(acc.failed_sign_ins, 4);
    assert_eq!(acc.locked_until, None);
    let until = T0.plus_millis(5).plus_millis(900_000);
    assert_eq!(
        fail(T0.plus_millis(5)).await,
        FailureOutcome::Locked { until }
    );
    // Locked: refused, nothing counted or recorded.
    assert_eq!(
        fail(T0.plus_millis(6)).await,
        FailureOutcome::Locked { until }
    );
    let acc = store
        .account_by_id(&user.id)
        .await
        .expect("account")
        .expect("known");
    assert_eq!(acc.locked_until, Some(until));
    assert_eq!(acc.failed_sign_ins, 0);
    let k = kinds(&store, &user).await;
    assert_eq!(k.len(), 6, "{k:?}");
    assert_eq!(k[5], AccountEventKind::Locked);
    // After the lock: counted again.
    assert_eq!(
        fail(until.plus_millis(1)).await,
        FailureOutcome::Counted { remaining: 4 }
    );
    store
        .sign_in_succeeded(&user.id, &ev(&user, AccountEventKind::SignInOk, until))
        .await
        .expect("ok");
    let acc = store
        .account_by_id(&user.id)
        .await
        .expect("account")
        .expect("known");
    assert_eq!((acc.failed_sign_ins, acc.locked_until), (0, None));
    assert!(!acc.totp_enabled);
    assert_eq!(acc.passkeys, 0);
    assert!(!acc.second_factor_required);
    assert_eq!(
        store.account_by_email("nobody@x.example").await.expect("a"),
        None
    );
    match store
        .sign_in_failed(
            "no-such-user",
            T0,
            5,
            1,
            &ev(&user, AccountEventKind::SignInFailed, T0),
        )
        .await
    {
        Err(StoreError::NotFound) => {}
        other => panic!("unknown user: {other:?}"),
    }
}

/// Failures per address are counted in a fixed window; over the maximum the address is
/// throttled until the window ends; a new window starts afresh; clear forgets.
async fn case_account_throttle_per_address(store: DynStore) {
    let w = 60_000;
    assert_eq!(
        store.throttled_until("ip:a", T0, w, 3).await.expect("t"),
        None
    );
    for i in 1..=3 {
        let n = store
            .throttle_note("ip:a", T0.plus_millis(i), w)
            .await
            .expect("note");
        assert_eq!(n, i);
    }
    assert_eq!(
        store.throttle_note("ip:b", T0, w).await.expect("note"),
        1,
        "addresses are counted apart"
    );
    assert_eq!(
        store
            .throttled_until("ip:a", T0.plus_millis(10), w, 3)
            .await
            .expect("t"),
        Some(T0.plus_millis(1).plus_millis(w))
    );
    assert_eq!(
        store.throttled_until("ip:b", T0, w, 3).await.expect("t"),
        None
    );
    // The window is over: not throttled, and the next failure starts a new window.
    let later = T0.plus_millis(w + 5);
    assert_eq!(
        store.throttled_until("ip:a", later, w, 3).await.expect("t"),
        None
    );
    assert_eq!(store.throttle_note("ip:a", later, w).await.expect("n"), 1);
    store.throttle_clear("ip:a").await.expect("clear");
    assert_eq!(
        store.throttle_note("ip:a", later, w).await.expect("n"),
        1,
        "cleared"
    );
}

/// The password hash is set and cleared with its event; events hold what they were given.
async fn case_account_password_and_events(store: DynStore) {
    let (_, user) = seeded(&store).await;
    let e = ev(&user, AccountEventKind::PasswordChanged, T0.plus_millis(1));
    assert!(store
        .set_password_hash(&user.id, Some("$argon2id$v=19$x"), &e)
        .await
        .expect("set"));
    let acc = store.account_by_id(&user.id).await.expect("a").expect("k");
    assert_eq!(acc.user.password_hash.as_deref(), Some("$argon2id$v=19$x"));
    assert!(!store
        .set_password_hash("nobody", None, &e)
        .await
        .expect("set"));
    let mut other = ev(&user, AccountEventKind::SignOut, T0.plus_millis(2));
    other.detail = Some("detail".into());
    store.record_account_event(&other).await.expect("record");
    let unknown = AccountEvent {
        user_id: None,
        ..ev(&user, AccountEventKind::SignInFailed, T0)
    };
    store.record_account_event(&unknown).await.expect("record");
    let events = store.account_events(&user.id).await.expect("events");
    assert_eq!(events.len(), 3, "user_created, then the two");
    assert_eq!(events[0].event.kind, AccountEventKind::UserCreated);
    let events = &events[1..];
    assert_eq!(events[0].event, e);
    assert_eq!(events[1].event, other);
    assert!(events[0].id < events[1].id);
}

/// TOTP: being set up, enabled by its first step, steps accepted once and only forward,
/// removed.
async fn case_account_totp_lifecycle(store: DynStore) {
    let (_, user) = seeded(&store).await;
    let row = TotpRow {
        user_id: user.id.clone(),
        secret_sealed: vec![1, 2, 3],
        created_at: T0,
        enabled_at: None,
        last_step: None,
    };
    assert!(store.totp_begin(&row).await.expect("begin"));
    // Not enrolled yet: no step accepted, and a new begin replaces the secret.
    assert!(!store.totp_use_step(&user.id, 10).await.expect("use"));
    let row2 = TotpRow {
        secret_sealed: vec![4, 5, 6],
        ..row.clone()
    };
    assert!(store.totp_begin(&row2).await.expect("begin"));
    assert_eq!(
        store.totp_of(&user.id).await.expect("of"),
        Some(row2.clone())
    );
    let acc = store.account_by_id(&user.id).await.expect("a").expect("k");
    assert!(!acc.totp_enabled);
    let e = ev(&user, AccountEventKind::TotpAdded, T0.plus_millis(5));
    assert!(store.totp_enable(&user.id, 100, &e).await.expect("enable"));
    assert!(!store.totp_enable(&user.id, 101, &e).await.expect("again"));
    let acc = store.account_by_id(&user.id).await.expect("a").expect("k");
    assert!(acc.totp_enabled && acc.has_second_factor());
    // Enrolled: a new begin is refused.
    assert!(!store.totp_begin(&row).await.expect("begin"));
    let t = store.totp_of(&user.id).await.expect("of").expect("row");
    assert_eq!(t.secret_sealed, vec![4, 5, 6]);
    assert_eq!(
        (t.enabled_at, t.last_step),
        (Some(T0.plus_millis(5)), Some(100))
    );
    // The enrolment step is used; older steps too; the next is accepted once.
    assert!(!store.totp_use_step(&user.id, 100).await.expect("use"));
    assert!(!store.totp_use_step(&user.id, 99).await.expect("use"));
    assert!(store.totp_use_step(&user.id, 101).await.expect("use"));
    assert!(!store.totp_use_step(&user.id, 101).await.expect("replay"));
    let r = ev(&user, AccountEventKind::TotpRemoved, T0.plus_millis(6));
    assert!(store.totp_remove(&user.id, &r).await.expect("remove"));
    assert!(!store.totp_remove(&user.id, &r).await.expect("remove"));
    assert_eq!(store.totp_of(&user.id).await.expect("of"), None);
    assert_eq!(
        kinds(&store, &user).await,
        vec![AccountEventKind::TotpAdded, AccountEventKind::TotpRemoved]
    );
}

/// Passkeys: added with their event, found by credential, used, removed only by their owner.
async fn case_account_passkeys(store: DynStore) {
    let (org, user) = seeded(&store).await;
    let other = fx::user(&org.id, "b@zuid.example", "B", T0);
    store.create_user(&other).await.expect("create_user");
    let pk = PasskeyRow {
        id: "pk1".into(),
        user_id: user.id.clone(),
        credential_id: vec![9; 16],
        passkey: "{\"cred\":1}".into(),
        name: "Laptop".into(),
        created_at: T0,
        last_used_at: None,
    };
    store
        .passkey_add(&pk, &ev(&user, AccountEventKind::PasskeyAdded, T0))
        .await
        .expect("add");
    let dup = PasskeyRow {
        id: "pk2".into(),
        ..pk.clone()
    };
    match store
        .passkey_add(&dup, &ev(&user, AccountEventKind::PasskeyAdded, T0))
        .await
    {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("a known credential id is a conflict: {other:?}"),
    }
    assert_eq!(
        store.passkeys_of(&user.id).await.expect("of"),
        vec![pk.clone()]
    );
    assert_eq!(
        store.passkey_by_credential(&[9; 16]).await.expect("by"),
        Some(pk.clone())
    );
    assert_eq!(
        store.passkey_by_credential(&[1; 16]).await.expect("by"),
        None
    );
    store
        .passkey_used("pk1", "{\"cred\":2}", T0.plus_millis(9))
        .await
        .expect("used");
    let used = store.passkeys_of(&user.id).await.expect("of");
    assert_eq!(used[0].passkey, "{\"cred\":2}");
    assert_eq!(used[0].last_used_at, Some(T0.plus_millis(9)));
    let acc = store.account_by_id(&user.id).await.expect("a").expect("k");
    assert_eq!(acc.passkeys, 1);
    assert!(acc.has_second_factor());
    let r = ev(&user, AccountEventKind::PasskeyRemoved, T0);
    assert!(!store
        .passkey_remove(&other.id, "pk1", &r)
        .await
        .expect("not theirs"));
    assert!(store.passkey_remove(&user.id, "pk1", &r).await.expect("rm"));
    assert!(store.passkeys_of(&user.id).await.expect("of").is_empty());
    assert_eq!(
        kinds(&store, &user).await,
        vec![
            AccountEventKind::PasskeyAdded,
            AccountEventKind::PasskeyRemoved
        ]
    );
}

/// A ceremony state is taken once, and not after it expired.
async fn case_account_ceremony_state_used_once(store: DynStore) {
    let (_, user) = seeded(&store).await;
    let now = Ts::now();
    let row = CeremonyRow {
        token_hash: [7; 32],
        user_id: Some(user.id.clone()),
        kind: CeremonyKind::Register,
        state: "{}".into(),
        expires_at: now.plus_secs(300),
    };
    store.ceremony_put(&row).await.expect("put");
    assert_eq!(
        store.ceremony_take(&[7; 32], now).await.expect("take"),
        Some(row.clone())
    );
    assert_eq!(
        store.ceremony_take(&[7; 32], now).await.expect("again"),
        None
    );
    let anon = CeremonyRow {
        token_hash: [8; 32],
        user_id: None,
        kind: CeremonyKind::Authenticate,
        ..row.clone()
    };
    store.ceremony_put(&anon).await.expect("put");
    assert_eq!(
        store
            .ceremony_take(&[8; 32], now.plus_secs(301))
            .await
            .expect("expired"),
        None
    );
}

/// Set-up links: used once, not after expiry; using one ends the user's other links.
async fn case_account_setup_links(store: DynStore) {
    let (_, user) = seeded(&store).await;
    let link = |h: u8, expires: Ts| SetupLinkRow {
        token_hash: [h; 32],
        user_id: user.id.clone(),
        created_at: T0,
        expires_at: expires,
        used_at: None,
    };
    let issued = ev(&user, AccountEventKind::SetupLinkIssued, T0);
    store
        .setup_link_create(&link(1, T0.plus_secs(100)), &issued)
        .await
        .expect("create");
    store
        .setup_link_create(&link(2, T0.plus_secs(100)), &issued)
        .await
        .expect("create");
    store
        .setup_link_create(&link(3, T0.plus_secs(1)), &issued)
        .await
        .expect("create");
    assert_eq!(
        store.setup_link(&[1; 32]).await.expect("get"),
        Some(link(1, T0.plus_secs(100)))
    );
    assert_eq!(store.setup_link(&[4; 32]).await.expect("get"), None);
    let used = ev(&user, AccountEventKind::SetupLinkUsed, T0.plus_secs(2));
    assert!(
        !store.setup_link_use(&[3; 32], &used).await.expect("use"),
        "expired"
    );
    assert!(store.setup_link_use(&[1; 32], &used).await.expect("use"));
    assert!(!store.setup_link_use(&[1; 32], &used).await.expect("twice"));
    assert!(
        !store.setup_link_use(&[2; 32], &used).await.expect("other"),
        "the user's other links stop working"
    );
    let l = store.setup_link(&[1; 32]).await.expect("get").expect("row");
    assert_eq!(l.used_at, Some(T0.plus_secs(2)));
    let k = kinds(&store, &user).await;
    assert_eq!(
        k.iter()
            .filter(|k| **k == AccountEventKind::SetupLinkUsed)
            .count(),
        1
    );
}

/// A reset removes TOTP, passkeys, the password and unused links, and issues the new link.
async fn case_account_reset_removes_factors(store: DynStore) {
    let (_, user) = seeded(&store).await;
    store
        .set_password_hash(
            &user.id,
            Some("$argon2id$x"),
            &ev(&user, AccountEventKind::PasswordChanged, T0),
        )
        .await
        .expect("pw");
    store
        .totp_begin(&TotpRow {
            user_id: user.id.clone(),
            secret_sealed: vec![1],
            created_at: T0,
            enabled_at: None,
            last_step: None,
        })
        .await
        .expect("totp");
    store
        .totp_enable(&user.id, 1, &ev(&user, AccountEventKind::TotpAdded, T0))
        .await
        .expect("enable");
    store
        .passkey_add(
            &PasskeyRow {
                id: "pk".into(),
                user_id: user.id.clone(),
                credential_id: vec![1, 2],
                passkey: "{}".into(),
                name: "Sleutel".into(),
                created_at: T0,
                last_used_at: None,
            },
            &ev(&user, AccountEventKind::PasskeyAdded, T0),
        )
        .await
        .expect("pk");
    let old = SetupLinkRow {
        token_hash: [1; 32],
        user_id: user.id.clone(),
        created_at: T0,
        expires_at: T0.plus_secs(1000),
        used_at: None,
    };
    store
        .setup_link_create(&old, &ev(&user, AccountEventKind::SetupLinkIssued, T0))
        .await
        .expect("old link");
    let new = SetupLinkRow {
        token_hash: [2; 32],
        ..old.clone()
    };
    store
        .reset_account(
            &user.id,
            &new,
            &ev(&user, AccountEventKind::FactorsReset, T0.plus_millis(1)),
            &ev(&user, AccountEventKind::SetupLinkIssued, T0.plus_millis(1)),
        )
        .await
        .expect("reset");
    let acc = store.account_by_id(&user.id).await.expect("a").expect("k");
    assert_eq!(acc.user.password_hash, None);
    assert!(!acc.has_second_factor());
    assert_eq!(store.totp_of(&user.id).await.expect("t"), None);
    assert_eq!(store.setup_link(&[1; 32]).await.expect("old"), None);
    assert_eq!(store.setup_link(&[2; 32]).await.expect("new"), Some(new));
    let k = kinds(&store, &user).await;
    assert_eq!(
        &k[k.len() - 2..],
        &[
            AccountEventKind::FactorsReset,
            AccountEventKind::SetupLinkIssued
        ]
    );
}

/// The second-factor policy per organisation; own API tokens listed and revoked only by
/// their owner.
async fn case_account_policy_and_api_tokens(store: DynStore) {
    let (org, user) = seeded(&store).await;
    assert!(store
        .set_second_factor_required(&org.id, true)
        .await
        .expect("set"));
    assert!(!store
        .set_second_factor_required("nope", true)
        .await
        .expect("set"));
    let acc = store.account_by_id(&user.id).await.expect("a").expect("k");
    assert!(acc.second_factor_required);
    store
        .set_second_factor_required(&org.id, false)
        .await
        .expect("set");
    let acc = store.account_by_id(&user.id).await.expect("a").expect("k");
    assert!(!acc.second_factor_required);

    let other = fx::user(&org.id, "b@zuid.example", "B", T0);
    store.create_user(&other).await.expect("create_user");
    for (id, label, at) in [("t1", "cli", T0), ("t2", "script", T0.plus_millis(1))] {
        store
            .create_api_token(&NewApiToken {
                id: id.into(),
                user_id: user.id.clone(),
                token_hash: [id.as_bytes()[1]; 32],
                label: label.into(),
                created_at: at,
                ip: Some("192.0.2.1".into()),
                user_agent: None,
            })
            .await
            .expect("token");
    }
    let list = store.api_tokens_of(&user.id).await.expect("list");
    assert_eq!(
        list.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        vec!["t2", "t1"]
    );
    assert_eq!(list[1].label, "cli");
    assert!(store.api_tokens_of(&other.id).await.expect("l").is_empty());
    let r = ev(&user, AccountEventKind::TokenRevoked, T0);
    assert!(!store
        .api_token_revoke(&other.id, "t1", &r)
        .await
        .expect("not theirs"));
    assert!(store
        .api_token_revoke(&user.id, "t1", &r)
        .await
        .expect("rv"));
    assert!(store
        .principal_by_token_hash(&[b'1'; 32], T0)
        .await
        .expect("p")
        .is_none());
    assert_eq!(store.api_tokens_of(&user.id).await.expect("l").len(), 1);
}

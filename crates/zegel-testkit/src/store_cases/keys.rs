//! `KeyStore`: organisation key rotation (re-wrapping message keys, retiring the old key) and
//! master key rotation (one all-or-nothing transaction).

use super::Case;
use crate::fixtures::{self as fx, T0};
use zegel_core::keys::META_KEY_CHECK;
use zegel_core::model::*;
use zegel_core::signin::{AccountEvent, AccountEventKind};
use zegel_core::store::{
    MasterRotation, MasterRotationOutcome, RetireOutcome, Rewrapped, RotationStart,
};
use zegel_core::DynStore;

/// The cases of this section, run by `tests/store_suite.rs` on both backends.
pub(super) const CASES: &[Case] = &[
    case!(case_org_key_rotation_rewraps_every_key_and_retires_the_old_one),
    case!(case_org_key_rotation_starts_only_from_the_expected_key_and_master),
    case!(case_master_rotation_swaps_everything_or_nothing),
];

fn system_event(kind: AccountEventKind) -> AccountEvent {
    AccountEvent {
        user_id: None,
        kind,
        at: T0,
        ip: None,
        user_agent: None,
        detail: Some(r#"{"org":"test"}"#.to_owned()),
    }
}

/// A new organisation key of `org` (fake wrapped bytes).
fn new_key(org: &Organisation, at: Ts) -> OrgKey {
    let (_, mut key) = fx::org("unused", "Unused", at);
    key.org_id = org.id.clone();
    key
}

/// What `rewrap_message_keys` gets: `rows` under `to` with new bytes.
fn rewrapped(rows: &[MessageKey], to: &str) -> Vec<MessageKey> {
    rows.iter()
        .map(|k| MessageKey {
            message_id: k.message_id.clone(),
            kek_id: to.to_owned(),
            wrapped_dek: fx::fake_bytes(60),
        })
        .collect()
}

/// Batches move message keys to the new key (compare-and-swap: a key moved or destroyed
/// meanwhile stays as it is); the old key is deleted only when nothing is under it, also not a
/// key stored under it after the last batch, and never while it is active. Afterwards no
/// message key can be stored under it.
async fn case_org_key_rotation_rewraps_every_key_and_retires_the_old_one(store: DynStore) {
    store
        .meta_init(META_KEY_CHECK, b"kcv")
        .await
        .expect("meta_init");
    let s = fx::seed_sender(&store).await;
    let other = fx::seed_sender(&store).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let m = fx::new_message(&s, T0.plus_millis(i));
        ids.push(m.message.id.clone());
        store.insert_message(&m).await.expect("insert_message");
    }
    let elsewhere = fx::new_message(&other, T0);
    store
        .insert_message(&elsewhere)
        .await
        .expect("insert_message");

    let old = s.key.id.clone();
    let k2 = new_key(&s.org, T0.plus_millis(10));
    assert_eq!(
        store
            .begin_org_key_rotation(&k2, &old, b"kcv")
            .await
            .expect("begin"),
        RotationStart::Started
    );
    let org = store.org_by_id(&s.org.id).await.expect("org").expect("org");
    assert_eq!(org.active_kek_id, k2.id);
    let keys: Vec<String> = store
        .org_keys_of(&s.org.id)
        .await
        .expect("org_keys_of")
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(keys, vec![old.clone(), k2.id.clone()]);

    let event = system_event(AccountEventKind::OrgKeyRotated);
    assert_eq!(
        store.retire_org_key(&k2.id, &event).await.expect("retire"),
        RetireOutcome::Active
    );
    assert_eq!(
        store.retire_org_key(&old, &event).await.expect("retire"),
        RetireOutcome::InUse { message_keys: 5 }
    );

    // One batch of two; the same rows again change nothing (they moved already).
    let batch = store.message_keys_under(&old, 2).await.expect("under");
    assert_eq!(batch.len(), 2);
    assert!(batch.iter().all(|k| k.kek_id == old));
    let moved = rewrapped(&batch, &k2.id);
    assert_eq!(
        store
            .rewrap_message_keys(&old, &moved)
            .await
            .expect("rewrap"),
        2
    );
    assert_eq!(
        store
            .rewrap_message_keys(&old, &rewrapped(&batch, &k2.id))
            .await
            .expect("rewrap again"),
        0
    );
    for k in &moved {
        assert_eq!(
            store
                .message_key(&k.message_id)
                .await
                .expect("key")
                .as_ref(),
            Some(k)
        );
    }

    // A message destroyed between the read and the swap stays destroyed.
    let rest = store.message_keys_under(&old, 100).await.expect("under");
    assert_eq!(rest.len(), 3);
    let destroyed = rest[0].message_id.clone();
    assert!(store
        .destroy_message(
            &destroyed,
            MessageState::Revoked,
            T0.plus_millis(20),
            "test"
        )
        .await
        .expect("destroy"));
    assert_eq!(
        store
            .rewrap_message_keys(&old, &rewrapped(&rest, &k2.id))
            .await
            .expect("rewrap"),
        2
    );
    assert_eq!(store.message_key(&destroyed).await.expect("key"), None);
    assert!(store
        .message_keys_under(&old, 100)
        .await
        .expect("under")
        .is_empty());

    // A send that stored its key under the old key after the last batch: not deleted yet.
    let mut late = fx::new_message(&s, T0.plus_millis(30));
    late.key.kek_id = old.clone();
    store.insert_message(&late).await.expect("late send");
    assert_eq!(
        store.retire_org_key(&old, &event).await.expect("retire"),
        RetireOutcome::InUse { message_keys: 1 }
    );
    let last = store.message_keys_under(&old, 100).await.expect("under");
    assert_eq!(
        store
            .rewrap_message_keys(&old, &rewrapped(&last, &k2.id))
            .await
            .expect("rewrap"),
        1
    );
    assert_eq!(
        store.retire_org_key(&old, &event).await.expect("retire"),
        RetireOutcome::Retired
    );
    assert_eq!(store.org_key(&old).await.expect("org_key"), None);
    assert_eq!(
        store.retire_org_key(&old, &event).await.expect("retire"),
        RetireOutcome::Missing
    );
    for id in ids.iter().filter(|id| **id != destroyed) {
        let k = store.message_key(id).await.expect("key").expect("a key");
        assert_eq!(k.kek_id, k2.id);
    }
    // The other organisation is untouched.
    assert_eq!(
        store
            .message_key(&elsewhere.message.id)
            .await
            .expect("key")
            .as_ref(),
        Some(&elsewhere.key)
    );

    // A message key under the deleted key cannot be stored: it would never open.
    let mut stale = fx::new_message(&s, T0.plus_millis(40));
    stale.key.kek_id = old.clone();
    assert!(store.insert_message(&stale).await.is_err());
    assert_eq!(
        store
            .message_by_id(&stale.message.id)
            .await
            .expect("message"),
        None
    );
    // Nor moved under it.
    let back = vec![MessageKey {
        kek_id: old.clone(),
        ..late.key.clone()
    }];
    assert!(store.rewrap_message_keys(&k2.id, &back).await.is_err());
}

/// A rotation starts only while the organisation's active key is the expected one (two
/// rotations at once: one wins) and the master key-check value is the caller's.
async fn case_org_key_rotation_starts_only_from_the_expected_key_and_master(store: DynStore) {
    store
        .meta_init(META_KEY_CHECK, b"kcv")
        .await
        .expect("meta_init");
    let s = fx::seed_sender(&store).await;
    let k2 = new_key(&s.org, T0.plus_millis(1));
    assert_eq!(
        store
            .begin_org_key_rotation(&k2, &s.key.id, b"other kcv")
            .await
            .expect("begin"),
        RotationStart::MasterKeyChanged
    );
    assert_eq!(
        store
            .begin_org_key_rotation(&k2, "kek_not_active", b"kcv")
            .await
            .expect("begin"),
        RotationStart::ActiveKeyChanged
    );
    assert_eq!(store.org_key(&k2.id).await.expect("org_key"), None);

    let racers: Vec<_> = (0..4)
        .map(|i| {
            let store = store.clone();
            let key = new_key(&s.org, T0.plus_millis(2 + i));
            let active = s.key.id.clone();
            tokio::spawn(async move {
                store
                    .begin_org_key_rotation(&key, &active, b"kcv")
                    .await
                    .map(|r| (r, key.id))
            })
        })
        .collect();
    let mut started = Vec::new();
    for r in racers {
        let (outcome, id) = r.await.expect("task").expect("begin");
        if outcome == RotationStart::Started {
            started.push(id);
        } else {
            assert_eq!(outcome, RotationStart::ActiveKeyChanged);
        }
    }
    assert_eq!(started.len(), 1, "exactly one concurrent start wins");
    let org = store.org_by_id(&s.org.id).await.expect("org").expect("org");
    assert_eq!(org.active_kek_id, started[0]);
    assert_eq!(store.org_keys_of(&s.org.id).await.expect("keys").len(), 2);
}

/// Nothing of a refused master key rotation is stored.
async fn assert_unchanged(store: &DynStore, a: &OrgKey, b: &OrgKey) {
    assert_eq!(
        store.meta_get(META_KEY_CHECK).await.expect("meta"),
        Some(b"old kcv".to_vec())
    );
    assert_eq!(
        store.meta_get("derived_key:test").await.expect("meta"),
        None
    );
    assert_eq!(store.org_key(&a.id).await.expect("key").as_ref(), Some(a));
    assert_eq!(store.org_key(&b.id).await.expect("key").as_ref(), Some(b));
}

/// A master key rotation checks the key-check value, swaps every organisation key (each must
/// still hold the bytes read, and none may be missing from the list), sets the kept keys and
/// the new key-check value: all of it or nothing.
async fn case_master_rotation_swaps_everything_or_nothing(store: DynStore) {
    store
        .meta_init(META_KEY_CHECK, b"old kcv")
        .await
        .expect("meta_init");
    let a = fx::seed_sender(&store).await;
    let b = fx::seed_sender(&store).await;
    let mut all = store.all_org_keys().await.expect("all_org_keys");
    all.sort_by(|x, y| x.id.cmp(&y.id));
    let mut expected = vec![a.key.clone(), b.key.clone()];
    expected.sort_by(|x, y| x.id.cmp(&y.id));
    assert_eq!(all, expected);

    let swap = |k: &OrgKey| Rewrapped {
        id: k.id.clone(),
        old: k.wrapped.clone(),
        new: fx::fake_bytes(60),
    };
    let full = MasterRotation {
        old_key_check: b"old kcv".to_vec(),
        new_key_check: b"new kcv".to_vec(),
        org_keys: all.iter().map(swap).collect(),
        signing_keys: Vec::new(),
        meta: vec![("derived_key:test".to_owned(), b"kept".to_vec())],
    };
    let event = system_event(AccountEventKind::MasterKeyRotated);
    let wrong_kcv = MasterRotation {
        old_key_check: b"another kcv".to_vec(),
        ..full.clone()
    };
    assert_eq!(
        store
            .rotate_master(&wrong_kcv, &event)
            .await
            .expect("rotate"),
        MasterRotationOutcome::KeyCheckChanged
    );
    assert_unchanged(&store, &a.key, &b.key).await;

    let missing_one = MasterRotation {
        org_keys: full.org_keys[..1].to_vec(),
        ..full.clone()
    };
    assert_eq!(
        store
            .rotate_master(&missing_one, &event)
            .await
            .expect("rotate"),
        MasterRotationOutcome::OrgKeysChanged
    );
    assert_unchanged(&store, &a.key, &b.key).await;

    // The second key changed since it was read: the first one's swap is rolled back too.
    let mut stale = full.clone();
    stale.org_keys[1].old = fx::fake_bytes(60);
    assert_eq!(
        store.rotate_master(&stale, &event).await.expect("rotate"),
        MasterRotationOutcome::OrgKeysChanged
    );
    assert_unchanged(&store, &a.key, &b.key).await;

    assert_eq!(
        store.rotate_master(&full, &event).await.expect("rotate"),
        MasterRotationOutcome::Rotated
    );
    assert_eq!(
        store.meta_get(META_KEY_CHECK).await.expect("meta"),
        Some(b"new kcv".to_vec())
    );
    assert_eq!(
        store.meta_get("derived_key:test").await.expect("meta"),
        Some(b"kept".to_vec())
    );
    for k in &full.org_keys {
        let stored = store
            .org_key(&k.id)
            .await
            .expect("key")
            .expect("still there");
        assert_eq!(stored.wrapped, k.new);
    }
    // Run again with the same (now stale) input: refused, the new state stays.
    assert_eq!(
        store.rotate_master(&full, &event).await.expect("rotate"),
        MasterRotationOutcome::KeyCheckChanged
    );
    // A second rotation from the new key-check value replaces the kept key.
    let second = MasterRotation {
        old_key_check: b"new kcv".to_vec(),
        new_key_check: b"third kcv".to_vec(),
        org_keys: full
            .org_keys
            .iter()
            .map(|k| Rewrapped {
                id: k.id.clone(),
                old: k.new.clone(),
                new: fx::fake_bytes(60),
            })
            .collect(),
        signing_keys: Vec::new(),
        meta: vec![("derived_key:test".to_owned(), b"kept again".to_vec())],
    };
    assert_eq!(
        store.rotate_master(&second, &event).await.expect("rotate"),
        MasterRotationOutcome::Rotated
    );
    assert_eq!(
        store.meta_get("derived_key:test").await.expect("meta"),
        Some(b"kept again".to_vec())
    );
}

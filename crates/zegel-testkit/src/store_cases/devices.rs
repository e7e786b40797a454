//! `DeviceStore`: remembered devices.

use super::support::{ev, hash32, recipient, seeded_message, set_code, wrong, LOCK_MS, MAX_TRIES};
use super::Case;
use crate::fixtures::{self as fx, T0};
use zegel_core::model::*;
use zegel_core::DynStore;

/// The cases of this section, run by `tests/store_suite.rs` on both backends.
pub(super) const CASES: &[Case] = &[case!(case_devices_accept_revoke_expire)];

async fn case_devices_accept_revoke_expire(store: DynStore) {
    let (_sender, m) = seeded_message(&store).await;
    let r = m.recipients[0].clone();
    let now = T0.plus_secs(100);
    let token = fx::random_hash();
    let d = DeviceRow {
        id: fx::new_id(),
        recipient_id: r.id.clone(),
        token_hash: token.to_vec(),
        user_agent: Some("Firefox".into()),
        created_at: now,
        expires_at: now.plus_secs(86_400),
        last_used_at: None,
        revoked_at: None,
    };
    store
        .create_device(&d, &ev(&r, "device_remembered", now))
        .await
        .expect("create_device");
    assert_eq!(
        store.device_by_id(&d.id).await.expect("by id"),
        Some(d.clone())
    );
    assert_eq!(
        store.devices_of_message(&m.message.id).await.expect("list"),
        vec![d.clone()]
    );
    // Right device, right recipient: a session.
    let later = now.plus_secs(60);
    let s1 = fx::session(&r.id, later, 60_000);
    assert!(store
        .accept_device(&token, &s1, &ev(&r, "opened", later), later)
        .await
        .expect("accept"));
    assert!(store
        .session_by_hash(&hash32(&s1.token_hash))
        .await
        .expect("session")
        .is_some());
    assert_eq!(
        recipient(&store, &r.id).await.status,
        RecipientStatus::Opened
    );
    let used = store
        .device_by_id(&d.id)
        .await
        .expect("by id")
        .expect("exists");
    assert_eq!(used.last_used_at, Some(later));
    // The same device for the other recipient: refused, no session.
    let other = &m.recipients[1];
    let s2 = fx::session(&other.id, later, 60_000);
    assert!(!store
        .accept_device(&token, &s2, &ev(other, "opened", later), later)
        .await
        .expect("accept"));
    assert!(store
        .session_by_hash(&hash32(&s2.token_hash))
        .await
        .expect("session")
        .is_none());
    // After expiry: refused.
    let after = now.plus_secs(86_401);
    let s3 = fx::session(&r.id, after, 60_000);
    assert!(!store
        .accept_device(&token, &s3, &ev(&r, "opened", after), after)
        .await
        .expect("accept"));
    // Locked recipient: refused.
    set_code(&store, &r, b"mac", later).await;
    for i in 0..MAX_TRIES {
        wrong(&store, &r, later.plus_secs(i)).await;
    }
    let s4 = fx::session(&r.id, later.plus_secs(10), 60_000);
    assert!(!store
        .accept_device(&token, &s4, &ev(&r, "opened", later), later.plus_secs(10))
        .await
        .expect("accept"));
    // Revoked: refused, and revoking twice says so.
    assert!(store
        .revoke_device(&d.id, later, &ev(&r, "device_revoked", later))
        .await
        .expect("revoke"));
    assert!(!store
        .revoke_device(&d.id, later, &ev(&r, "device_revoked", later))
        .await
        .expect("revoke again"));
    let unlocked = later.plus_millis(LOCK_MS + 10_000);
    let s5 = fx::session(&r.id, unlocked, 60_000);
    assert!(!store
        .accept_device(&token, &s5, &ev(&r, "opened", unlocked), unlocked)
        .await
        .expect("accept"));
    // Destroying the message deletes its devices.
    assert!(store
        .destroy_message(&m.message.id, MessageState::Expired, later, "system")
        .await
        .expect("destroy"));
    assert!(store
        .devices_of_message(&m.message.id)
        .await
        .expect("list")
        .is_empty());
}

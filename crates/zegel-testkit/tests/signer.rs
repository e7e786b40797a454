//! `KeyRing::signer` on both backends: an organisation's signing key is created on first use,
//! wrapped by the master key, cached, and the same on every node (two key rings on one store
//! stand for two nodes); organisation `""` (the installation) works; a wrong master key
//! cannot use a stored key.

use std::collections::HashSet;
use std::sync::Arc;
use zegel_core::keys::KeyRing;
use zegel_core::store::prelude::*;
use zegel_crypto::{verify_ed25519, MasterKey};

const MASTER: [u8; 32] = [7u8; 32];

async fn ring(store: &DynStore) -> Arc<KeyRing> {
    Arc::new(
        KeyRing::open(store, MasterKey::from_bytes(MASTER))
            .await
            .expect("open the key ring"),
    )
}

async fn signer_is_created_once_and_shared_by_nodes(store: DynStore) {
    let nodes = [ring(&store).await, ring(&store).await];
    // Both nodes ask for the same organisation's key at once, several times each.
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let node = nodes[i % 2].clone();
            let store = store.clone();
            tokio::spawn(async move { node.signer(&store, "org-1").await })
        })
        .collect();
    let mut ids = HashSet::new();
    let mut publics = HashSet::new();
    for t in tasks {
        let s = t.await.expect("task").expect("signer");
        ids.insert(s.key_id.clone());
        publics.insert(s.public_key());
    }
    assert_eq!(ids.len(), 1, "one key for the organisation: {ids:?}");
    assert_eq!(publics.len(), 1);
    let listed = store.signing_keys_of("org-1").await.expect("list");
    assert_eq!(listed.len(), 1, "one stored key");
    assert!(ids.contains(&listed[0].id));

    // Signatures verify under the stored (published) public key; the cache answers the same
    // signer.
    let s = nodes[0].signer(&store, "org-1").await.expect("signer");
    assert!(Arc::ptr_eq(
        &s,
        &nodes[0].signer(&store, "org-1").await.expect("signer")
    ));
    let sig = s.sign(b"receipt");
    assert!(verify_ed25519(&listed[0].public_key, b"receipt", &sig));
    assert!(!verify_ed25519(&listed[0].public_key, b"receipt!", &sig));
    // A node started later reads the stored key (no new one).
    let later = ring(&store).await;
    let again = later.signer(&store, "org-1").await.expect("signer");
    assert_eq!(again.key_id, s.key_id);
    assert_eq!(again.sign(b"receipt"), sig, "Ed25519 is deterministic");

    // The installation's own key: organisation "", its own key.
    let inst = nodes[1]
        .signer(&store, "")
        .await
        .expect("installation signer");
    assert_ne!(inst.key_id, s.key_id);
    assert_eq!(inst.org_id, "");
    let inst_keys = store.signing_keys_of("").await.expect("list");
    assert_eq!(inst_keys.len(), 1);
    assert_eq!(inst_keys[0].public_key, inst.public_key().to_vec());
    assert!(!verify_ed25519(&inst_keys[0].public_key, b"receipt", &sig));

    // The private key is stored only wrapped.
    let row = store
        .current_signing_key("org-1")
        .await
        .expect("current")
        .expect("stored");
    assert_eq!(row.wrapped_private.len(), 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signer_is_created_once_and_shared_by_nodes_on_sqlite() {
    let (store, _dir) = zegel_testkit::sqlite_store().await;
    signer_is_created_once_and_shared_by_nodes(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signer_is_created_once_and_shared_by_nodes_on_postgres() {
    let Some((store, _db)) = zegel_testkit::postgres_store().await else {
        return; // ZEGEL_TEST_SKIP_POSTGRES=1: said so on stderr.
    };
    signer_is_created_once_and_shared_by_nodes(store).await;
}

#[tokio::test]
async fn a_stored_signing_key_is_useless_without_its_master_key() {
    let (store, _dir) = zegel_testkit::sqlite_store().await;
    let s = ring(&store)
        .await
        .signer(&store, "org-1")
        .await
        .expect("signer");
    // Another master key cannot open this database at all (key-check value) ...
    assert!(KeyRing::open(&store, MasterKey::from_bytes([8; 32]))
        .await
        .is_err());
    // ... and the wrapped key does not open under it either.
    let row = store
        .current_signing_key("org-1")
        .await
        .expect("current")
        .expect("stored");
    assert_eq!(row.id, s.key_id);
    assert!(MasterKey::from_bytes([8; 32])
        .unwrap_signing_key(&row.id, &row.wrapped_private)
        .is_err());
    assert!(MasterKey::from_bytes(MASTER)
        .unwrap_signing_key(&row.id, &row.wrapped_private)
        .is_ok());
}

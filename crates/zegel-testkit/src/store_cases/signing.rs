//! `SigningStore`: organisation signing keys (and the installation's, organisation `""`).

use super::Case;
use std::collections::HashSet;
use zegel_core::model::Ts;
use zegel_core::signing::SigningKeyRow;
use zegel_core::DynStore;

/// The cases of this section, run by `tests/store_suite.rs` on both backends.
pub(super) const CASES: &[Case] = &[
    case!(case_signing_key_first_writer_wins_per_organisation),
    case!(case_signing_keys_are_listed_and_found_by_id),
];

fn key(id: &str, org_id: &str, at: i64) -> SigningKeyRow {
    SigningKeyRow {
        id: id.to_owned(),
        org_id: org_id.to_owned(),
        public_key: vec![at as u8; 32],
        wrapped_private: vec![0xAB; 60],
        created_at: Ts(at),
        retired_at: None,
    }
}

/// Only one current key per organisation, also when many callers create one at once; the
/// installation's organisation `""` works like any other and needs no organisation row.
async fn case_signing_key_first_writer_wins_per_organisation(store: DynStore) {
    assert_eq!(store.current_signing_key("").await.expect("current"), None);
    let first = key("sig_first", "", 1);
    assert_eq!(
        store
            .insert_signing_key(&first, None)
            .await
            .expect("insert"),
        first
    );
    // A second key for the same organisation is not stored; the first one is answered.
    let second = key("sig_second", "", 2);
    assert_eq!(
        store
            .insert_signing_key(&second, None)
            .await
            .expect("insert"),
        first
    );
    assert_eq!(
        store.current_signing_key("").await.expect("current"),
        Some(first.clone())
    );
    assert_eq!(
        store.public_signing_key("sig_second").await.expect("by id"),
        None
    );

    // Racing creators of one organisation's key all get the same key; one row is stored.
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .insert_signing_key(&key(&format!("sig_race{i}"), "org-race", 10 + i), None)
                    .await
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for t in tasks {
        seen.insert(t.await.expect("task").expect("insert_signing_key").id);
    }
    assert_eq!(seen.len(), 1, "racing inserts see one key: {seen:?}");
    let listed = store.signing_keys_of("org-race").await.expect("list");
    assert_eq!(listed.len(), 1);
    assert!(seen.contains(&listed[0].id));
    // Organisations do not share keys.
    assert_eq!(
        store.current_signing_key("").await.expect("current"),
        Some(first)
    );
    // Each key made is an audit entry (a system event, chain ""), the refused ones are not.
    zegel_core::audit_check::sequence_all(&store)
        .await
        .expect("sequence");
    let made: Vec<String> = store
        .audit_entries("", 0, 1000)
        .await
        .expect("entries")
        .into_iter()
        .filter(|e| e.action == "account.signing_key_created")
        .filter_map(|e| e.detail)
        .collect();
    assert_eq!(made.len(), 2, "{made:?}");
    assert!(made[0].contains(r#""key_id":"sig_first""#), "{made:?}");
    assert!(made[1].contains(r#""org_id":"org-race""#), "{made:?}");
}

/// The public keys of an organisation, oldest first, without the wrapped private key; any
/// key by id.
async fn case_signing_keys_are_listed_and_found_by_id(store: DynStore) {
    assert!(store
        .signing_keys_of("org-a")
        .await
        .expect("list")
        .is_empty());
    let a = key("sig_a", "org-a", 5);
    store.insert_signing_key(&a, None).await.expect("insert");
    store
        .insert_signing_key(&key("sig_b", "org-b", 6), None)
        .await
        .expect("insert");
    let listed = store.signing_keys_of("org-a").await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0], (&a).into());
    assert_eq!(listed[0].public_key, vec![5u8; 32]);
    assert_eq!(listed[0].retired_at, None);
    let b = store
        .public_signing_key("sig_b")
        .await
        .expect("by id")
        .expect("sig_b exists");
    assert_eq!((b.org_id.as_str(), b.created_at), ("org-b", Ts(6)));
    assert_eq!(
        store.public_signing_key("sig_none").await.expect("by id"),
        None
    );
}

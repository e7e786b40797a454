//! `MetaStore`: migrations and server metadata.

use super::support::seeded_message;
use super::Case;
use std::collections::HashSet;
use zegel_core::DynStore;

/// The cases of this section, run by `tests/store_suite.rs` on both backends.
pub(super) const CASES: &[Case] = &[
    case!(case_migrate_twice),
    case!(case_meta_init_first_writer_wins),
];

/// Migrations are idempotent and the store works after running them again.
async fn case_migrate_twice(store: DynStore) {
    assert!(matches!(store.backend(), "sqlite" | "postgres"));
    store.migrate().await.expect("second migrate");
    store.migrate().await.expect("third migrate");
    store.ping().await.expect("ping");
    let (_, m) = seeded_message(&store).await;
    assert!(store
        .message_by_id(&m.message.id)
        .await
        .expect("message_by_id")
        .is_some());
}

/// `meta_init` stores only the first value, also under concurrent callers.
async fn case_meta_init_first_writer_wins(store: DynStore) {
    assert_eq!(store.meta_get("kcv").await.expect("meta_get"), None);
    assert_eq!(
        store.meta_init("kcv", b"first").await.expect("init"),
        b"first"
    );
    assert_eq!(
        store.meta_init("kcv", b"second").await.expect("init"),
        b"first"
    );
    assert_eq!(
        store.meta_get("kcv").await.expect("meta_get"),
        Some(b"first".to_vec())
    );

    let tasks: Vec<_> = (0u8..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.meta_init("race", &[i; 4]).await })
        })
        .collect();
    let mut seen = HashSet::new();
    for t in tasks {
        seen.insert(t.await.expect("task").expect("meta_init"));
    }
    assert_eq!(seen.len(), 1, "all racing meta_init calls see one value");
    let stored = store.meta_get("race").await.expect("meta_get");
    assert_eq!(stored.as_ref(), seen.iter().next());
}

//! `SenderSessionStore`: the sender web app's server-side sessions.

use super::Case;
use crate::fixtures::{self as fx, T0};
use zegel_core::model::*;
use zegel_core::store::{SessionLimits, SESSION_SEEN_RESOLUTION_MS};
use zegel_core::DynStore;

/// The cases of this section, run by `tests/store_suite.rs` on both backends.
pub(super) const CASES: &[Case] = &[
    case!(case_sender_session_lookup_and_idle_limit),
    case!(case_sender_session_absolute_limit),
    case!(case_sender_sessions_end),
];

const LIMITS: SessionLimits = SessionLimits {
    idle_ms: 30 * 60_000,
    max_ms: 12 * 3_600_000,
};

/// A session finds its user with organisation and policy; requests keep it alive, a quiet
/// spell as long as the idle limit ends it for good.
async fn case_sender_session_lookup_and_idle_limit(store: DynStore) {
    let s = fx::seed_sender(&store).await;
    let hash = fx::random_hash();
    store
        .create_sender_session(&hash, &s.user.id, T0)
        .await
        .expect("create");
    let (p, created) = store
        .sender_session(&hash, T0, LIMITS)
        .await
        .expect("lookup")
        .expect("live session");
    assert_eq!(p.user, s.user);
    assert_eq!(p.org, s.org);
    assert_eq!(created, T0);
    assert_eq!(
        store
            .sender_session(&fx::random_hash(), T0, LIMITS)
            .await
            .expect("lookup"),
        None,
        "an unknown session"
    );

    // Used every 20 minutes, it lives past the 30-minute idle limit...
    let mut t = T0;
    for _ in 0..5 {
        t = t.plus_millis(20 * 60_000);
        assert!(
            store
                .sender_session(&hash, t, LIMITS)
                .await
                .expect("lookup")
                .is_some(),
            "a session in use stays alive"
        );
    }
    // ... but a use within the seen resolution records nothing, so the idle clock runs from
    // the last recorded use.
    let quiet = t.plus_millis(SESSION_SEEN_RESOLUTION_MS / 2);
    assert!(store
        .sender_session(&hash, quiet, LIMITS)
        .await
        .expect("lookup")
        .is_some());
    // 30 minutes after the last recorded use: gone, and it stays gone.
    let late = t.plus_millis(LIMITS.idle_ms);
    assert_eq!(
        store
            .sender_session(&hash, late, LIMITS)
            .await
            .expect("lookup"),
        None,
        "idle for 30 minutes"
    );
    assert_eq!(
        store
            .sender_session(&hash, t, LIMITS)
            .await
            .expect("lookup"),
        None,
        "an ended session does not come back"
    );
}

/// However busy, a session ends 12 hours after sign-in; pruning removes exactly the dead.
async fn case_sender_session_absolute_limit(store: DynStore) {
    let s = fx::seed_sender(&store).await;
    let busy = fx::random_hash();
    let fresh = fx::random_hash();
    store
        .create_sender_session(&busy, &s.user.id, T0)
        .await
        .expect("create");
    let mut t = T0;
    while t.0 + 10 * 60_000 < T0.0 + LIMITS.max_ms {
        t = t.plus_millis(10 * 60_000);
        assert!(store
            .sender_session(&busy, t, LIMITS)
            .await
            .expect("lookup")
            .is_some());
    }
    let end = T0.plus_millis(LIMITS.max_ms);
    store
        .create_sender_session(&fresh, &s.user.id, end)
        .await
        .expect("create");
    assert_eq!(
        store
            .prune_sender_sessions(end, LIMITS)
            .await
            .expect("prune"),
        1
    );
    assert_eq!(
        store
            .sender_session(&busy, end, LIMITS)
            .await
            .expect("lookup"),
        None,
        "12 hours after sign-in"
    );
    assert!(store
        .sender_session(&fresh, end, LIMITS)
        .await
        .expect("lookup")
        .is_some());
}

/// Sign-out ends one session; ending a user's sessions keeps the one asked for and touches
/// no other user's.
async fn case_sender_sessions_end(store: DynStore) {
    let s = fx::seed_sender(&store).await;
    let other = fx::seed_sender(&store).await;
    let [a, b, c, d] = [(); 4].map(|_| fx::random_hash());
    for h in [&a, &b, &c] {
        store
            .create_sender_session(h, &s.user.id, T0)
            .await
            .expect("create");
    }
    store
        .create_sender_session(&d, &other.user.id, T0)
        .await
        .expect("create");
    assert!(store.end_sender_session(&a).await.expect("end"));
    assert!(!store.end_sender_session(&a).await.expect("end twice"));
    assert_eq!(
        store.sender_session(&a, T0, LIMITS).await.expect("lookup"),
        None
    );

    assert_eq!(
        store
            .end_user_sender_sessions(&s.user.id, Some(&b))
            .await
            .expect("end others"),
        1
    );
    assert!(store
        .sender_session(&b, T0, LIMITS)
        .await
        .expect("lookup")
        .is_some());
    assert_eq!(
        store.sender_session(&c, T0, LIMITS).await.expect("lookup"),
        None
    );
    assert_eq!(
        store
            .end_user_sender_sessions(&s.user.id, None)
            .await
            .expect("end all"),
        1
    );
    assert_eq!(
        store.sender_session(&b, T0, LIMITS).await.expect("lookup"),
        None
    );
    let (p, _) = store
        .sender_session(&d, T0, LIMITS)
        .await
        .expect("lookup")
        .expect("the other user's session lives");
    assert_eq!(p.user.id, other.user.id);
    let _: &Principal = &p;
}

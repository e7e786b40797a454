//! The behaviour every `Store` backend must show, one `pub async fn case_*` per behaviour.
//! `store_suite!` runs each of them on SQLite and on PostgreSQL.
//!
//! Cases panic on failure (they are test bodies); each starts from an empty, migrated store.

use crate::fixtures::{self as fx, MINUTE_MS, T0};
use std::collections::HashSet;
use zegel_core::model::*;
use zegel_core::{DynStore, StoreError};

/// Lockout length used by the code cases.
const LOCK_MS: i64 = 15 * MINUTE_MS;
/// Wrong tries before the lockout.
const MAX_TRIES: i64 = 5;

/// Panics unless `listed` names exactly the `pub async fn case_*` functions of this module.
pub fn assert_every_case_listed(listed: &[&str]) {
    let source = include_str!("store_cases.rs");
    let defined: HashSet<&str> = source
        .lines()
        .filter_map(|line| line.strip_prefix("pub async fn "))
        .filter_map(|rest| rest.split('(').next())
        .collect();
    let listed_set: HashSet<&str> = listed.iter().copied().collect();
    let mut missing: Vec<_> = defined.difference(&listed_set).collect();
    missing.sort();
    let mut unknown: Vec<_> = listed_set.difference(&defined).collect();
    unknown.sort();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "store_suite! must list every store case: missing {missing:?}, unknown {unknown:?}"
    );
}

// ---- helpers ----

async fn seeded_message(store: &DynStore) -> (fx::Sender, NewMessage) {
    let sender = fx::seed_sender(store).await;
    let m = fx::new_message(&sender, T0);
    store.insert_message(&m).await.expect("insert_message");
    (sender, m)
}

async fn recipient(store: &DynStore, id: &str) -> RecipientRow {
    store
        .recipient_by_id(id)
        .await
        .expect("recipient_by_id")
        .expect("recipient exists")
}

async fn counts(store: &DynStore) -> (i64, i64) {
    store.job_counts().await.expect("job_counts")
}

async fn event_kinds(store: &DynStore, message_id: &str) -> Vec<String> {
    store
        .events_of(message_id)
        .await
        .expect("events_of")
        .into_iter()
        .map(|e| e.event.kind.as_str().to_owned())
        .collect()
}

fn hash32(bytes: &[u8]) -> [u8; 32] {
    bytes.try_into().expect("a 32-byte hash")
}

fn ev(r: &RecipientRow, kind: &str, at: Ts) -> NewEvent {
    fx::event(&r.message_id, Some(&r.id), kind, at)
}

async fn wrong(store: &DynStore, r: &RecipientRow, at: Ts) -> WrongCodeOutcome {
    store
        .record_wrong_code(&r.id, at, MAX_TRIES, LOCK_MS, &ev(r, "code_wrong", at))
        .await
        .expect("record_wrong_code")
}

async fn set_code(store: &DynStore, r: &RecipientRow, mac: &[u8], at: Ts) -> Result<(), Ts> {
    store
        .set_code(
            &r.id,
            mac,
            Some(at.plus_millis(15 * MINUTE_MS)),
            None,
            &ev(r, "code_sent", at),
            at,
        )
        .await
        .expect("set_code")
}

/// Locks `r` by `MAX_TRIES` wrong codes at `at + 1 ..= at + MAX_TRIES`; returns the lock end.
async fn lock_out(store: &DynStore, r: &RecipientRow, at: Ts) -> Ts {
    let mut last = None;
    for i in 1..=MAX_TRIES {
        last = wrong(store, r, at.plus_millis(i)).await.locked_until;
    }
    let until = last.expect("locked after MAX_TRIES wrong codes");
    assert_eq!(until, at.plus_millis(MAX_TRIES + LOCK_MS));
    until
}

async fn enqueue(store: &DynStore, payload: serde_json::Value, run_at: Ts) -> i64 {
    store
        .enqueue_job(&fx::job("notify_sender", payload, run_at))
        .await
        .expect("enqueue_job")
}

async fn claim(store: &DynStore, now: Ts, lease_ms: i64, max: u32) -> Vec<Job> {
    store
        .claim_jobs(now, lease_ms, max)
        .await
        .expect("claim_jobs")
}

fn ids(jobs: &[Job]) -> Vec<i64> {
    jobs.iter().map(|j| j.id).collect()
}

// ---- schema, metadata ----

/// Migrations are idempotent and the store works after running them again.
pub async fn case_migrate_twice(store: DynStore) {
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
pub async fn case_meta_init_first_writer_wins(store: DynStore) {
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

// ---- organisations, users, tokens ----

/// An organisation and its key commit together; a taken slug is a conflict.
pub async fn case_create_org_and_key(store: DynStore) {
    let (zuid, zuid_key) = fx::org("zuid", "Ziekenhuis Zuid", T0);
    store
        .create_org(&zuid, &zuid_key)
        .await
        .expect("create_org");
    let (noord, noord_key) = fx::org("noord", "Huisartsen Noord", T0.plus_millis(1));
    store
        .create_org(&noord, &noord_key)
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
    match store.create_org(&dup, &dup_key).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("taken slug must be a Conflict, got {other:?}"),
    }
    assert_eq!(store.org_key(&dup_key.id).await.expect("key"), None);
    assert_eq!(store.org_by_id(&dup.id).await.expect("by id"), None);

    // The key fails after the organisation row went in: the organisation is rolled back.
    let (west, mut west_key) = fx::org("west", "Zorg West", T0.plus_millis(3));
    west_key.id = zuid_key.id.clone();
    match store.create_org(&west, &west_key).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("taken key id must be a Conflict, got {other:?}"),
    }
    assert_eq!(store.org_by_slug("west").await.expect("by slug"), None);
    assert_eq!(store.list_orgs().await.expect("list").len(), 2);
}

/// Users by id and e-mail, listed oldest first; a taken e-mail is a conflict.
pub async fn case_user_create_and_lookup(store: DynStore) {
    let (org, key) = fx::org("zuid", "Ziekenhuis Zuid", T0);
    store.create_org(&org, &key).await.expect("create_org");
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
pub async fn case_api_token_lookup(store: DynStore) {
    let sender = fx::seed_sender(&store).await;
    let token = NewApiToken {
        id: fx::new_id(),
        user_id: sender.user.id.clone(),
        token_hash: fx::random_hash(),
        label: "cli".to_owned(),
        created_at: T0,
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
    };
    assert!(store
        .set_org_policy(&sender.org.id, &policy)
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

// ---- messages ----

/// Everything `insert_message` stores reads back unchanged.
pub async fn case_insert_message_roundtrip(store: DynStore) {
    let (sender, m) = seeded_message(&store).await;
    let id = &m.message.id;
    assert_eq!(
        store.message_by_id(id).await.expect("message"),
        Some(m.message.clone())
    );
    assert_eq!(store.message_by_id("nope").await.expect("message"), None);
    assert_eq!(
        store.message_key(id).await.expect("key"),
        Some(m.key.clone())
    );
    assert_eq!(
        store.recipients_of(id).await.expect("recipients"),
        m.recipients
    );
    assert_eq!(
        store
            .recipient_by_id(&m.recipients[1].id)
            .await
            .expect("recipient"),
        Some(m.recipients[1].clone())
    );
    assert_eq!(
        store.attachments_of(id).await.expect("attachments"),
        m.attachments
    );
    let events = store.events_of(id).await.expect("events");
    assert_eq!(
        events.iter().map(|e| e.event.clone()).collect::<Vec<_>>(),
        m.events
    );
    assert_eq!(counts(&store).await, (1, 0));
    assert_eq!(
        store
            .list_messages(&sender.user.id, None, 10)
            .await
            .expect("list"),
        vec![m.message.clone()]
    );

    // The same message again: conflict, nothing added.
    match store.insert_message(&m).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("a duplicate message must be a Conflict, got {other:?}"),
    }
    assert_eq!(counts(&store).await, (1, 0));
    assert_eq!(
        store.events_of(id).await.expect("events").len(),
        events.len()
    );
}

/// A failing part (a duplicate link hash) leaves nothing of the message behind.
pub async fn case_insert_message_is_all_or_nothing(store: DynStore) {
    let sender = fx::seed_sender(&store).await;
    let mut m = fx::new_message(&sender, T0);
    m.recipients[1].link_hash = m.recipients[0].link_hash.clone();
    match store.insert_message(&m).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("a duplicate link hash must be a Conflict, got {other:?}"),
    }
    let id = &m.message.id;
    assert_eq!(store.message_by_id(id).await.expect("message"), None);
    assert_eq!(store.message_key(id).await.expect("key"), None);
    assert!(store
        .recipients_of(id)
        .await
        .expect("recipients")
        .is_empty());
    assert_eq!(
        store.recipient_by_id(&m.recipients[0].id).await.expect("r"),
        None
    );
    assert!(store
        .attachments_of(id)
        .await
        .expect("attachments")
        .is_empty());
    assert!(store.events_of(id).await.expect("events").is_empty());
    assert_eq!(counts(&store).await, (0, 0));

    // Across messages too: a link hash is unique in the whole store.
    let first = fx::new_message(&sender, T0);
    store.insert_message(&first).await.expect("insert first");
    let mut second = fx::new_message(&sender, T0.plus_millis(1));
    second.recipients[0].link_hash = first.recipients[1].link_hash.clone();
    match store.insert_message(&second).await {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("a link hash of another message must be a Conflict, got {other:?}"),
    }
    assert_eq!(
        store.message_by_id(&second.message.id).await.expect("m"),
        None
    );
    assert_eq!(counts(&store).await, (1, 0));
    assert_eq!(
        store
            .list_messages(&sender.user.id, None, 10)
            .await
            .expect("list"),
        vec![first.message]
    );
}

/// A sender's messages come newest first, paged by `before`, never another sender's.
pub async fn case_list_messages_order_and_paging(store: DynStore) {
    let sender = fx::seed_sender(&store).await;
    let other = fx::seed_sender(&store).await;
    let mut mine = Vec::new();
    for i in 0..5 {
        let m = fx::new_message(&sender, T0.plus_millis(i * 1000));
        store.insert_message(&m).await.expect("insert");
        mine.push(m.message.id.clone());
    }
    let theirs = fx::new_message(&other, T0.plus_millis(2500));
    store.insert_message(&theirs).await.expect("insert");

    let list = |before: Option<Ts>, limit: u32| {
        let store = store.clone();
        let sender_id = sender.user.id.clone();
        async move {
            store
                .list_messages(&sender_id, before, limit)
                .await
                .expect("list_messages")
                .into_iter()
                .map(|m| m.id)
                .collect::<Vec<_>>()
        }
    };
    let newest_first: Vec<String> = mine.iter().rev().cloned().collect();
    assert_eq!(list(None, 10).await, newest_first);
    assert_eq!(list(None, 2).await, newest_first[..2]);
    assert_eq!(
        list(Some(T0.plus_millis(3000)), 2).await,
        newest_first[2..4]
    );
    assert_eq!(list(Some(T0.plus_millis(1000)), 2).await, newest_first[4..]);
    assert!(list(Some(T0), 2).await.is_empty());
    assert_eq!(
        store
            .list_messages(&other.user.id, None, 10)
            .await
            .expect("list")
            .into_iter()
            .map(|m| m.id)
            .collect::<Vec<_>>(),
        vec![theirs.message.id]
    );
}

/// A link hash (or recipient id) finds recipient, message, sender name and organisation name;
/// the meta read gives the same without the subject and body ciphertext.
pub async fn case_access_by_link_hash(store: DynStore) {
    let (sender, m) = seeded_message(&store).await;
    let r = &m.recipients[1];
    let access = store
        .access_by_link_hash(&hash32(&r.link_hash))
        .await
        .expect("access_by_link_hash")
        .expect("known link");
    assert_eq!(access.recipient, *r);
    assert_eq!(access.message, m.message);
    assert_eq!(access.sender_name, sender.user.name);
    assert_eq!(access.org_name, sender.org.name);
    assert!(access.message.subject_ct.is_some() && access.message.body_ct.is_some());
    assert_eq!(
        store
            .access_meta_by_recipient(&r.id)
            .await
            .expect("access_meta_by_recipient"),
        Some(RecipientAccess {
            message: MessageRow {
                subject_ct: None,
                body_ct: None,
                ..access.message.clone()
            },
            ..access.clone()
        })
    );
    assert_eq!(
        store
            .access_by_recipient(&r.id)
            .await
            .expect("access_by_recipient"),
        Some(access)
    );
    assert_eq!(
        store
            .access_meta_by_recipient("nope")
            .await
            .expect("lookup"),
        None
    );
    assert_eq!(
        store
            .access_by_link_hash(&fx::random_hash())
            .await
            .expect("lookup"),
        None
    );
    assert_eq!(
        store.access_by_recipient("nope").await.expect("lookup"),
        None
    );
}

// ---- codes ----

/// A new code replaces the previous one and its delivery job commits with it; the wrong-try
/// counter is not reset by a new code.
pub async fn case_set_code_replaces_code_and_enqueues_job(store: DynStore) {
    let (_, m) = seeded_message(&store).await;
    let r = &m.recipients[0];
    let job = fx::job(
        "send_code",
        serde_json::json!({ "message_id": r.message_id, "recipient_id": r.id }),
        T0,
    );
    let expires = T0.plus_millis(15 * MINUTE_MS);
    let result = store
        .set_code(
            &r.id,
            b"mac-1",
            Some(expires),
            Some(&job),
            &ev(r, "code_sent", T0),
            T0,
        )
        .await
        .expect("set_code");
    assert_eq!(result, Ok(()));
    let row = recipient(&store, &r.id).await;
    assert_eq!(row.code_mac.as_deref(), Some(&b"mac-1"[..]));
    assert_eq!(row.code_expires_at, Some(expires));
    assert_eq!(counts(&store).await, (2, 0));

    wrong(&store, r, T0.plus_millis(1)).await;
    wrong(&store, r, T0.plus_millis(2)).await;
    let later = T0.plus_millis(MINUTE_MS);
    assert_eq!(set_code(&store, r, b"mac-2", later).await, Ok(()));
    let row = recipient(&store, &r.id).await;
    assert_eq!(row.code_mac.as_deref(), Some(&b"mac-2"[..]));
    assert_eq!(row.code_expires_at, Some(later.plus_millis(15 * MINUTE_MS)));
    assert_eq!(
        row.failed_attempts, 2,
        "a new code does not reset the wrong-try counter"
    );
    assert_eq!(counts(&store).await, (2, 0), "no job given, none enqueued");
    let kinds = event_kinds(&store, &r.message_id).await;
    assert_eq!(kinds.iter().filter(|k| *k == "code_sent").count(), 2);

    // The job is really there, with its payload.
    let jobs = claim(&store, T0, MINUTE_MS, 10).await;
    assert!(jobs
        .iter()
        .any(|j| j.kind == "send_code" && j.payload == job.payload));
}

/// While locked, `set_code` changes nothing and returns the lock end; after it, the lockout
/// and the counter are cleared.
pub async fn case_set_code_refused_while_locked(store: DynStore) {
    let (_, m) = seeded_message(&store).await;
    let r = &m.recipients[0];
    assert_eq!(set_code(&store, r, b"mac-1", T0).await, Ok(()));
    let until = lock_out(&store, r, T0).await;
    let jobs_before = counts(&store).await;
    let events_before = event_kinds(&store, &r.message_id).await.len();

    let job = fx::notify_job(&r.message_id, &r.id, T0);
    for at in [T0.plus_millis(MAX_TRIES + 1), until] {
        let result = store
            .set_code(
                &r.id,
                b"mac-2",
                Some(at),
                Some(&job),
                &ev(r, "code_sent", at),
                at,
            )
            .await
            .expect("set_code");
        assert_eq!(result, Err(until), "locked at {at:?}");
    }
    let row = recipient(&store, &r.id).await;
    assert_eq!(row.code_mac.as_deref(), Some(&b"mac-1"[..]));
    assert_eq!(row.locked_until, Some(until));
    assert_eq!(counts(&store).await, jobs_before);
    assert_eq!(
        event_kinds(&store, &r.message_id).await.len(),
        events_before
    );

    let after = until.plus_millis(1);
    let result = store
        .set_code(
            &r.id,
            b"mac-3",
            Some(after),
            Some(&job),
            &ev(r, "code_sent", after),
            after,
        )
        .await
        .expect("set_code");
    assert_eq!(result, Ok(()));
    let row = recipient(&store, &r.id).await;
    assert_eq!(row.code_mac.as_deref(), Some(&b"mac-3"[..]));
    assert_eq!(row.failed_attempts, 0);
    assert_eq!(row.locked_until, None);
    assert_eq!(counts(&store).await, (jobs_before.0 + 1, jobs_before.1));
}

/// Wrong codes count 1..max, the last one locks; a running lock is not extended; once the lock
/// has passed the count restarts at 1.
pub async fn case_record_wrong_code_counts_and_locks(store: DynStore) {
    let (_, m) = seeded_message(&store).await;
    let r = &m.recipients[0];
    for i in 1..MAX_TRIES {
        let out = wrong(&store, r, T0.plus_millis(i)).await;
        assert_eq!(out.failed_attempts, i);
        assert_eq!(out.locked_until, None);
    }
    let until = T0.plus_millis(MAX_TRIES + LOCK_MS);
    let out = wrong(&store, r, T0.plus_millis(MAX_TRIES)).await;
    assert_eq!(out.failed_attempts, MAX_TRIES);
    assert_eq!(out.locked_until, Some(until));
    let row = recipient(&store, &r.id).await;
    assert_eq!(row.failed_attempts, MAX_TRIES);
    assert_eq!(row.locked_until, Some(until));

    // A racing wrong try during the lock keeps the lock as it is.
    let out = wrong(&store, r, T0.plus_millis(MINUTE_MS)).await;
    assert_eq!(out.locked_until, Some(until));
    assert_eq!(recipient(&store, &r.id).await.locked_until, Some(until));

    // After the lock: a fresh count.
    let out = wrong(&store, r, until.plus_millis(1)).await;
    assert_eq!(out.failed_attempts, 1);
    assert_eq!(out.locked_until, None);
    let row = recipient(&store, &r.id).await;
    assert_eq!(row.failed_attempts, 1);
    assert_eq!(row.locked_until, None);

    let kinds = event_kinds(&store, &r.message_id).await;
    assert_eq!(
        kinds.iter().filter(|k| *k == "code_wrong").count(),
        usize::try_from(MAX_TRIES + 2).expect("small")
    );
    // Counters are per recipient.
    assert_eq!(
        recipient(&store, &m.recipients[1].id).await.failed_attempts,
        0
    );
}

/// A code that was replaced is refused: no session, nothing changed.
pub async fn case_accept_code_stale_mac(store: DynStore) {
    let (_, m) = seeded_message(&store).await;
    let r = &m.recipients[0];
    assert_eq!(set_code(&store, r, b"mac-1", T0).await, Ok(()));
    assert_eq!(
        set_code(&store, r, b"mac-2", T0.plus_millis(1)).await,
        Ok(())
    );
    let events_before = event_kinds(&store, &r.message_id).await;
    let session = fx::session(&r.id, T0.plus_millis(2), 30 * MINUTE_MS);
    let accepted = store
        .accept_code(
            &r.id,
            b"mac-1",
            true,
            &session,
            &ev(r, "opened", T0),
            T0.plus_millis(2),
        )
        .await
        .expect("accept_code");
    assert!(!accepted);
    assert_eq!(
        store
            .session_by_hash(&hash32(&session.token_hash))
            .await
            .expect("session"),
        None
    );
    let row = recipient(&store, &r.id).await;
    assert_eq!(row.status, RecipientStatus::Queued);
    assert_eq!(row.code_mac.as_deref(), Some(&b"mac-2"[..]));
    assert_eq!(event_kinds(&store, &r.message_id).await, events_before);
}

/// The right code resets the counter, uses up a one-time code, creates the session, opens the
/// recipient and records the event, all at once.
pub async fn case_accept_code_success(store: DynStore) {
    let (_, m) = seeded_message(&store).await;
    let r = &m.recipients[0];
    assert_eq!(set_code(&store, r, b"mac-1", T0).await, Ok(()));
    wrong(&store, r, T0.plus_millis(1)).await;
    wrong(&store, r, T0.plus_millis(2)).await;
    assert_eq!(recipient(&store, &r.id).await.failed_attempts, 2);

    let now = T0.plus_millis(3);
    let session = fx::session(&r.id, now, 30 * MINUTE_MS);
    let accepted = store
        .accept_code(&r.id, b"mac-1", true, &session, &ev(r, "opened", now), now)
        .await
        .expect("accept_code");
    assert!(accepted);
    let row = recipient(&store, &r.id).await;
    assert_eq!(row.failed_attempts, 0);
    assert_eq!(row.code_mac, None);
    assert_eq!(row.code_expires_at, None);
    assert_eq!(row.status, RecipientStatus::Opened);
    assert_eq!(
        store
            .session_by_hash(&hash32(&session.token_hash))
            .await
            .expect("session"),
        Some(session.clone())
    );
    assert_eq!(
        store
            .session_by_hash(&fx::random_hash())
            .await
            .expect("session"),
        None
    );
    assert_eq!(
        event_kinds(&store, &r.message_id)
            .await
            .last()
            .map(String::as_str),
        Some("opened")
    );

    // Used up: the same code again is refused.
    let again = fx::session(&r.id, now, 30 * MINUTE_MS);
    let accepted = store
        .accept_code(&r.id, b"mac-1", true, &again, &ev(r, "opened", now), now)
        .await
        .expect("accept_code");
    assert!(!accepted);
    assert_eq!(
        store
            .session_by_hash(&hash32(&again.token_hash))
            .await
            .expect("session"),
        None
    );
}

/// A code the sender gave (`one_time = false`) stays valid after use.
pub async fn case_accept_code_fixed_code_is_kept(store: DynStore) {
    let (_, m) = seeded_message(&store).await;
    let r = &m.recipients[1];
    let mac = r
        .code_mac
        .clone()
        .expect("fixture gives recipient 1 a fixed code");
    store
        .mark_notified(&r.id, &ev(r, "notified", T0), None)
        .await
        .expect("mark_notified");
    for i in 1..=2 {
        let now = T0.plus_millis(i);
        let session = fx::session(&r.id, now, 30 * MINUTE_MS);
        let accepted = store
            .accept_code(&r.id, &mac, false, &session, &ev(r, "opened", now), now)
            .await
            .expect("accept_code");
        assert!(accepted, "fixed code accepted on visit {i}");
        assert!(store
            .session_by_hash(&hash32(&session.token_hash))
            .await
            .expect("session")
            .is_some());
    }
    let row = recipient(&store, &r.id).await;
    assert_eq!(row.code_mac, Some(mac));
    assert_eq!(row.status, RecipientStatus::Opened);
}

/// Even the right code is refused while locked (inclusive of the lock end), and accepted after.
pub async fn case_accept_code_while_locked(store: DynStore) {
    let (_, m) = seeded_message(&store).await;
    let r = &m.recipients[0];
    assert_eq!(set_code(&store, r, b"mac-1", T0).await, Ok(()));
    let until = lock_out(&store, r, T0).await;
    for now in [T0.plus_millis(MINUTE_MS), until] {
        let session = fx::session(&r.id, now, 30 * MINUTE_MS);
        let accepted = store
            .accept_code(&r.id, b"mac-1", true, &session, &ev(r, "opened", now), now)
            .await
            .expect("accept_code");
        assert!(!accepted, "locked at {now:?}");
        assert_eq!(
            store
                .session_by_hash(&hash32(&session.token_hash))
                .await
                .expect("session"),
            None
        );
    }
    let row = recipient(&store, &r.id).await;
    assert_eq!(row.status, RecipientStatus::Queued);
    assert_eq!(row.code_mac.as_deref(), Some(&b"mac-1"[..]));

    let now = until.plus_millis(1);
    let session = fx::session(&r.id, now, 30 * MINUTE_MS);
    let accepted = store
        .accept_code(&r.id, b"mac-1", true, &session, &ev(r, "opened", now), now)
        .await
        .expect("accept_code");
    assert!(accepted);
    let row = recipient(&store, &r.id).await;
    assert_eq!(row.failed_attempts, 0);
    assert_eq!(row.locked_until, None);
}

/// Eight simultaneous verifications of one one-time code: exactly one session.
pub async fn case_accept_code_race_has_one_winner(store: DynStore) {
    let (_, m) = seeded_message(&store).await;
    let r = m.recipients[0].clone();
    assert_eq!(set_code(&store, &r, b"mac-1", T0).await, Ok(()));
    let now = T0.plus_millis(1);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let r = r.clone();
            tokio::spawn(async move {
                let session = fx::session(&r.id, now, 30 * MINUTE_MS);
                let ok = store
                    .accept_code(&r.id, b"mac-1", true, &session, &ev(&r, "opened", now), now)
                    .await
                    .expect("accept_code");
                (ok, session)
            })
        })
        .collect();
    let mut winners = 0;
    let mut sessions = 0;
    for t in tasks {
        let (ok, session) = t.await.expect("task");
        winners += usize::from(ok);
        let found = store
            .session_by_hash(&hash32(&session.token_hash))
            .await
            .expect("session");
        assert_eq!(
            found.is_some(),
            ok,
            "a session exists exactly for the winner"
        );
        sessions += usize::from(found.is_some());
    }
    assert_eq!(winners, 1);
    assert_eq!(sessions, 1);
    let kinds = event_kinds(&store, &r.message_id).await;
    assert_eq!(kinds.iter().filter(|k| *k == "opened").count(), 1);
}

/// Code and notification calls on an unknown recipient: NotFound (accept: false).
pub async fn case_unknown_recipient_is_not_found(store: DynStore) {
    let (_, m) = seeded_message(&store).await;
    let mut ghost = m.recipients[0].clone();
    ghost.id = fx::new_id();
    let e = ev(&ghost, "notified", T0);
    assert!(matches!(
        store.set_code(&ghost.id, b"mac", None, None, &e, T0).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .record_wrong_code(&ghost.id, T0, MAX_TRIES, LOCK_MS, &e)
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.mark_notified(&ghost.id, &e, None).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.mark_failed(&ghost.id, "550", &e).await,
        Err(StoreError::NotFound)
    ));
    let session = fx::session(&ghost.id, T0, MINUTE_MS);
    assert!(!store
        .accept_code(&ghost.id, b"mac", true, &session, &e, T0)
        .await
        .expect("accept_code"));
    assert_eq!(counts(&store).await, (1, 0));
    assert_eq!(
        event_kinds(&store, &m.message.id).await,
        vec!["sent".to_owned()]
    );
}

/// `record_event` always records; a status moves only out of queued/notified/failed/opened.
pub async fn case_record_event_status_transitions(store: DynStore) {
    use RecipientStatus::*;
    let (sender, m) = seeded_message(&store).await;
    let (r0, r1) = (&m.recipients[0], &m.recipients[1]);
    let step = |r: &RecipientRow, kind: &str, status: Option<RecipientStatus>| {
        let store = store.clone();
        let event = ev(r, kind, T0);
        let id = r.id.clone();
        async move {
            store
                .record_event(&event, status)
                .await
                .expect("record_event");
            recipient(&store, &id).await.status
        }
    };
    assert_eq!(step(r0, "notified", Some(Notified)).await, Notified);
    assert_eq!(step(r0, "opened", Some(Opened)).await, Opened);
    assert_eq!(step(r0, "viewed", None).await, Opened);
    assert_eq!(step(r0, "replied", Some(Replied)).await, Replied);
    assert_eq!(
        step(r0, "opened", Some(Opened)).await,
        Replied,
        "never out of replied"
    );
    assert_eq!(step(r1, "failed", Some(Failed)).await, Failed);
    assert_eq!(
        step(r1, "opened", Some(Opened)).await,
        Opened,
        "failed -> opened"
    );

    // A message-level event with a status touches no recipient.
    let message_event = fx::event(&m.message.id, None, "downloaded", T0);
    store
        .record_event(&message_event, Some(Queued))
        .await
        .expect("record_event");
    assert_eq!(recipient(&store, &r1.id).await.status, Opened);

    assert!(store
        .destroy_message(
            &m.message.id,
            MessageState::Revoked,
            T0.plus_millis(1),
            "sender:x"
        )
        .await
        .expect("destroy"));
    for status in [Queued, Notified, Opened, Failed] {
        assert_eq!(
            step(r1, "deferred", Some(status)).await,
            Revoked,
            "never out of revoked"
        );
    }

    let expired = fx::new_message(&sender, T0);
    store.insert_message(&expired).await.expect("insert");
    assert!(store
        .destroy_message(&expired.message.id, MessageState::Expired, T0, "system")
        .await
        .expect("destroy"));
    let er = &expired.recipients[0];
    assert_eq!(
        step(er, "deferred", Some(Notified)).await,
        Expired,
        "never out of expired"
    );

    let kinds = event_kinds(&store, &m.message.id).await;
    for kind in [
        "notified",
        "viewed",
        "replied",
        "failed",
        "downloaded",
        "deferred",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "event {kind} recorded");
    }
    assert_eq!(kinds.iter().filter(|k| *k == "deferred").count(), 4);
}

// ---- jobs ----

/// Only due jobs are claimed, oldest `run_at` first, at most `max`, each once per lease.
pub async fn case_claim_jobs_respects_run_at_and_max(store: DynStore) {
    let lease = 10 * MINUTE_MS;
    let a = enqueue(&store, serde_json::json!({ "n": "a" }), T0).await;
    let b = enqueue(&store, serde_json::json!({ "n": "b" }), T0.plus_millis(10)).await;
    let c = enqueue(&store, serde_json::json!({ "n": "c" }), T0.plus_millis(20)).await;
    let future = enqueue(
        &store,
        serde_json::json!({ "n": "f" }),
        T0.plus_millis(MINUTE_MS),
    )
    .await;
    let d = enqueue(&store, serde_json::json!({ "n": "d" }), T0).await;
    assert_eq!(counts(&store).await, (5, 0));

    let now = T0.plus_millis(20);
    assert!(claim(&store, now, lease, 0).await.is_empty());
    assert!(claim(&store, T0.plus_millis(-1), lease, 10)
        .await
        .is_empty());
    let first = claim(&store, now, lease, 2).await;
    assert_eq!(ids(&first), vec![a, d]);
    for j in &first {
        assert_eq!(j.attempts, 1);
        assert_eq!(j.max_attempts, 5);
        assert_eq!(j.kind, "notify_sender");
    }
    assert_eq!(
        first[0].payload,
        serde_json::json!({ "n": "a" }).to_string()
    );
    assert_eq!(ids(&claim(&store, now, lease, 10).await), vec![b, c]);
    assert!(claim(&store, now, lease, 10).await.is_empty());
    let later = T0.plus_millis(MINUTE_MS);
    assert_eq!(ids(&claim(&store, later, lease, 10).await), vec![future]);
    assert_eq!(
        counts(&store).await,
        (5, 0),
        "claimed jobs are still pending"
    );
}

/// A claimed job is claimed again only once its lease has run out, with `attempts` + 1.
pub async fn case_claimed_job_lease_expires(store: DynStore) {
    let lease = 30_000;
    let id = enqueue(&store, serde_json::json!({}), T0).await;
    let jobs = claim(&store, T0, lease, 10).await;
    assert_eq!(ids(&jobs), vec![id]);
    assert_eq!(jobs[0].attempts, 1);
    assert!(claim(&store, T0.plus_millis(lease - 1), lease, 10)
        .await
        .is_empty());
    let jobs = claim(&store, T0.plus_millis(lease), lease, 10).await;
    assert_eq!(ids(&jobs), vec![id]);
    assert_eq!(jobs[0].attempts, 2);
    assert!(claim(&store, T0.plus_millis(lease + 1), lease, 10)
        .await
        .is_empty());
}

/// Eight workers claiming at once over 200 jobs: every job exactly once.
pub async fn case_concurrent_claimers_never_share_a_job(store: DynStore) {
    const JOBS: usize = 200;
    let mut all = HashSet::new();
    for i in 0..JOBS {
        all.insert(enqueue(&store, serde_json::json!({ "i": i }), T0).await);
    }
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let jobs = store
                        .claim_jobs(T0, 10 * MINUTE_MS, 7)
                        .await
                        .expect("claim_jobs");
                    if jobs.is_empty() {
                        break;
                    }
                    for j in jobs {
                        assert_eq!(j.attempts, 1, "job {} claimed twice", j.id);
                        mine.push(j.id);
                    }
                    tokio::task::yield_now().await;
                }
                mine
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for w in workers {
        claimed.extend(w.await.expect("worker"));
    }
    let unique: HashSet<i64> = claimed.iter().copied().collect();
    assert_eq!(unique.len(), claimed.len(), "a job was handed out twice");
    assert_eq!(unique, all, "every job claimed");
    assert!(claim(&store, T0, MINUTE_MS, 10).await.is_empty());
}

/// Retry releases the lease and reschedules, kill makes a job dead and unclaimable, complete
/// deletes it; `job_counts` follows. Calls on a job that is gone are harmless.
pub async fn case_retry_kill_complete_and_counts(store: DynStore) {
    let lease = 60 * MINUTE_MS;
    let a = enqueue(&store, serde_json::json!({ "n": "a" }), T0).await;
    let b = enqueue(&store, serde_json::json!({ "n": "b" }), T0).await;
    let c = enqueue(&store, serde_json::json!({ "n": "c" }), T0).await;
    assert_eq!(ids(&claim(&store, T0, lease, 10).await), vec![a, b, c]);

    let retry_at = T0.plus_millis(5 * MINUTE_MS);
    store
        .retry_job(a, retry_at, "421 try later")
        .await
        .expect("retry");
    assert!(claim(&store, retry_at.plus_millis(-1), lease, 10)
        .await
        .is_empty());
    let again = claim(&store, retry_at, lease, 10).await;
    assert_eq!(
        ids(&again),
        vec![a],
        "retried job due again, its lease released"
    );
    assert_eq!(again[0].attempts, 2);

    store.kill_job(b, "550 no such user").await.expect("kill");
    assert_eq!(counts(&store).await, (2, 1));
    let much_later = T0.plus_millis(3 * lease);
    assert_eq!(
        ids(&claim(&store, much_later, lease, 10).await),
        vec![c, a],
        "by run_at: c (T0) before the retried a"
    );

    store.complete_job(c).await.expect("complete");
    assert_eq!(counts(&store).await, (1, 1));
    store.complete_job(c).await.expect("complete twice");
    store
        .retry_job(c, T0, "gone")
        .await
        .expect("retry gone job");
    store.kill_job(c, "gone").await.expect("kill gone job");
    assert_eq!(counts(&store).await, (1, 1), "a gone job stays gone");
    store.complete_job(a).await.expect("complete");
    assert_eq!(counts(&store).await, (0, 1));
    assert!(claim(&store, T0.plus_millis(10 * lease), lease, 10)
        .await
        .is_empty());
}

/// `mark_notified` sets `notified_at` the first time only and `notified` only from `queued`.
pub async fn case_mark_notified_sets_notified_at_once(store: DynStore) {
    let (_, m) = seeded_message(&store).await;
    let (r0, r1) = (&m.recipients[0], &m.recipients[1]);
    let t1 = T0.plus_millis(1);
    store
        .mark_notified(&r0.id, &ev(r0, "notified", t1), None)
        .await
        .expect("mark");
    let row = recipient(&store, &r0.id).await;
    assert_eq!(row.status, RecipientStatus::Notified);
    assert_eq!(row.notified_at, Some(t1));
    store
        .mark_notified(&r0.id, &ev(r0, "notified", T0.plus_millis(2)), None)
        .await
        .expect("mark again");
    let row = recipient(&store, &r0.id).await;
    assert_eq!(row.notified_at, Some(t1), "first time only");
    assert_eq!(row.status, RecipientStatus::Notified);

    store
        .record_event(&ev(r1, "opened", T0), Some(RecipientStatus::Opened))
        .await
        .expect("record_event");
    let t3 = T0.plus_millis(3);
    store
        .mark_notified(&r1.id, &ev(r1, "notified", t3), None)
        .await
        .expect("mark");
    let row = recipient(&store, &r1.id).await;
    assert_eq!(row.status, RecipientStatus::Opened, "only from queued");
    assert_eq!(row.notified_at, Some(t3));

    let kinds = event_kinds(&store, &m.message.id).await;
    assert_eq!(kinds.iter().filter(|k| *k == "notified").count(), 3);
}

/// Many messages inserted at once (SQLite commits them together) each land whole or not at
/// all: one that clashes half-way (its second recipient reuses another message's link) gets
/// `Conflict` and leaves no row behind, and the others are all there.
pub async fn case_concurrent_inserts_fail_alone(store: DynStore) {
    let sender = fx::seed_sender(&store).await;
    let mut messages: Vec<NewMessage> = (0..24).map(|_| fx::new_message(&sender, T0)).collect();
    let clash = messages[3].recipients[0].link_hash.clone();
    messages[7].recipients[1].link_hash = clash;
    let (pending_before, _) = counts(&store).await;
    let tasks: Vec<_> = messages
        .iter()
        .cloned()
        .map(|m| {
            let store = store.clone();
            tokio::spawn(async move { store.insert_message(&m).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.expect("insert task"));
    }
    // Which of the two clashing messages wins depends on the order they ran in.
    let failed: Vec<usize> = (0..outcomes.len())
        .filter(|i| outcomes[*i].is_err())
        .collect();
    assert_eq!(failed.len(), 1, "exactly one clash: {failed:?}");
    let loser = failed[0];
    assert!(loser == 3 || loser == 7, "{loser}");
    assert!(matches!(outcomes[loser], Err(StoreError::Conflict(_))));
    for (i, m) in messages.iter().enumerate() {
        let stored = store.message_by_id(&m.message.id).await.expect("read");
        let recipients = store.recipients_of(&m.message.id).await.expect("read");
        let attachments = store.attachments_of(&m.message.id).await.expect("read");
        if i == loser {
            assert!(stored.is_none(), "nothing of the failed insert is kept");
            assert!(recipients.is_empty() && attachments.is_empty());
            assert!(event_kinds(&store, &m.message.id).await.is_empty());
        } else {
            assert!(stored.is_some(), "message {i} kept");
            // Rows written together still belong to their own message, in their own order.
            assert_eq!(recipients, m.recipients, "message {i}");
            assert_eq!(attachments, m.attachments, "message {i}");
            let kinds: Vec<String> = m
                .events
                .iter()
                .map(|e| e.kind.as_str().to_owned())
                .collect();
            assert_eq!(
                event_kinds(&store, &m.message.id).await,
                kinds,
                "message {i}"
            );
        }
    }
    assert_eq!(
        counts(&store).await.0,
        pending_before + 23,
        "one notification job per kept message"
    );
}

/// Many notification marks at once (both stores write them together) each get their own
/// answer: a known recipient is marked with its event and its job ended; an unknown one gets
/// `NotFound`, writes no event and keeps its job.
pub async fn case_concurrent_marks_answer_alone(store: DynStore) {
    let sender = fx::seed_sender(&store).await;
    let messages: Vec<NewMessage> = (0..12).map(|_| fx::new_message(&sender, T0)).collect();
    for m in &messages {
        store.insert_message(m).await.expect("insert_message");
    }
    let mut jobs = Vec::new();
    for i in 0..16 {
        jobs.push(enqueue(&store, serde_json::json!({ "n": i }), T0).await);
    }
    let (pending, dead) = counts(&store).await;
    let tasks: Vec<_> = (0..16_usize)
        .map(|i| {
            let store = store.clone();
            let (rid, event) = match messages.get(i) {
                Some(m) => {
                    let r = &m.recipients[0];
                    (r.id.clone(), ev(r, "notified", T0.plus_millis(i as i64)))
                }
                // An unknown recipient whose event names a real message.
                None => (
                    format!("ghost-{i}"),
                    ev(&messages[0].recipients[1], "notified", T0),
                ),
            };
            let job = jobs[i];
            tokio::spawn(async move { store.mark_notified(&rid, &event, Some(job)).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.expect("mark task"));
    }
    for (i, outcome) in outcomes.iter().enumerate() {
        if i < messages.len() {
            assert!(outcome.is_ok(), "mark {i}: {outcome:?}");
            let r = recipient(&store, &messages[i].recipients[0].id).await;
            assert_eq!(r.status, RecipientStatus::Notified, "recipient {i}");
            assert_eq!(
                r.notified_at,
                Some(T0.plus_millis(i as i64)),
                "recipient {i}"
            );
            let kinds = event_kinds(&store, &messages[i].message.id).await;
            assert_eq!(
                kinds.iter().filter(|k| *k == "notified").count(),
                1,
                "message {i}: {kinds:?}"
            );
        } else {
            assert!(
                matches!(outcome, Err(StoreError::NotFound)),
                "mark {i}: {outcome:?}"
            );
        }
    }
    assert_eq!(
        recipient(&store, &messages[0].recipients[1].id)
            .await
            .status,
        RecipientStatus::Queued,
        "an unknown recipient's mark touches nobody else"
    );
    assert_eq!(counts(&store).await, (pending - 12, dead), "12 jobs ended");
    let claimed = ids(&claim(&store, T0, MINUTE_MS, 100).await);
    for (i, job) in jobs.iter().enumerate() {
        assert_eq!(claimed.contains(job), i >= 12, "job {i}");
    }
}

/// `mark_notified` with its job ends that job in the same transaction; when the recipient is
/// unknown nothing changes, the job included.
pub async fn case_mark_notified_completes_its_job(store: DynStore) {
    let (_, m) = seeded_message(&store).await;
    let r = &m.recipients[0];
    let lease = MINUTE_MS;
    let job = enqueue(&store, serde_json::json!({ "n": "notify" }), T0).await;
    let other = enqueue(&store, serde_json::json!({ "n": "other" }), T0).await;
    // The seeded message has its own notification jobs too.
    let claimed = ids(&claim(&store, T0, lease, 10).await);
    assert!(
        claimed.contains(&job) && claimed.contains(&other),
        "{claimed:?}"
    );
    let (pending, dead) = counts(&store).await;
    let ghost = RecipientRow {
        id: "no-such-recipient".into(),
        ..r.clone()
    };
    assert!(matches!(
        store
            .mark_notified(&ghost.id, &ev(r, "notified", T0), Some(job))
            .await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        counts(&store).await,
        (pending, dead),
        "a failed mark keeps the job"
    );
    store
        .mark_notified(&r.id, &ev(r, "notified", T0.plus_millis(1)), Some(job))
        .await
        .expect("mark with job");
    assert_eq!(counts(&store).await, (pending - 1, dead), "the job is gone");
    assert_eq!(
        recipient(&store, &r.id).await.status,
        RecipientStatus::Notified
    );
    let again = ids(&claim(&store, T0.plus_millis(2 * lease), lease, 10).await);
    assert!(
        again.contains(&other) && !again.contains(&job),
        "only the other jobs come back after the lease: {again:?}"
    );
}

/// `mark_failed` sets `failed` with the server's reason and records the event; it never
/// overwrites a recipient who has already opened the message.
pub async fn case_mark_failed(store: DynStore) {
    let (_, m) = seeded_message(&store).await;
    let (r0, r1) = (&m.recipients[0], &m.recipients[1]);
    let reason = "550 5.1.1 <patient@mail.example>: user unknown";
    let mut event = ev(r0, "failed", T0.plus_millis(1));
    event.detail = Some(reason.to_owned());
    store
        .mark_failed(&r0.id, reason, &event)
        .await
        .expect("mark_failed");
    let row = recipient(&store, &r0.id).await;
    assert_eq!(row.status, RecipientStatus::Failed);
    assert_eq!(row.failed_reason.as_deref(), Some(reason));
    let events = store.events_of(&m.message.id).await.expect("events");
    assert_eq!(events.last().map(|e| &e.event), Some(&event));

    store
        .record_event(&ev(r1, "opened", T0), Some(RecipientStatus::Opened))
        .await
        .expect("record_event");
    store
        .mark_failed(&r1.id, "550 late", &ev(r1, "failed", T0.plus_millis(2)))
        .await
        .expect("mark_failed");
    assert_eq!(
        recipient(&store, &r1.id).await.status,
        RecipientStatus::Opened
    );
    let kinds = event_kinds(&store, &m.message.id).await;
    assert_eq!(kinds.iter().filter(|k| *k == "failed").count(), 2);
}

// ---- destruction ----

/// Revoking shreds the key and ciphertext, ends sessions, drops the message's pending jobs
/// (only its own), marks recipients, records events, queues blobs; a second call is a no-op.
pub async fn case_destroy_message_revoke(store: DynStore) {
    let (sender, m) = seeded_message(&store).await;
    let other = fx::new_message(&sender, T0.plus_millis(1));
    store.insert_message(&other).await.expect("insert other");
    let (r0, r1) = (&m.recipients[0], &m.recipients[1]);
    let id = m.message.id.clone();

    // A code job (set_code), a session (the fixed code), plain jobs for both messages, one job
    // without a message id and one dead job of the message.
    let code_job = fx::job(
        "send_code",
        serde_json::json!({ "recipient_id": r0.id }),
        T0,
    );
    let set = store
        .set_code(
            &r0.id,
            b"mac-1",
            Some(T0.plus_millis(MINUTE_MS)),
            Some(&code_job),
            &ev(r0, "code_sent", T0),
            T0,
        )
        .await
        .expect("set_code");
    assert_eq!(set, Ok(()));
    let session = fx::session(&r1.id, T0, 30 * MINUTE_MS);
    let mac = r1.code_mac.clone().expect("fixed code");
    assert!(store
        .accept_code(&r1.id, &mac, false, &session, &ev(r1, "opened", T0), T0)
        .await
        .expect("accept_code"));
    enqueue(&store, serde_json::json!({ "message_id": id, "n": 1 }), T0).await;
    enqueue(
        &store,
        serde_json::json!({ "message_id": other.message.id }),
        T0,
    )
    .await;
    enqueue(&store, serde_json::json!({ "n": "unrelated" }), T0).await;
    let dead = enqueue(
        &store,
        serde_json::json!({ "message_id": id, "n": "dead" }),
        T0,
    )
    .await;
    store.kill_job(dead, "gave up").await.expect("kill");
    // Mine: fixture job, code job, plain job (+1 dead); other: fixture job, plain job; 1 free.
    assert_eq!(counts(&store).await, (6, 1));
    let events_before = store.events_of(&id).await.expect("events").len();

    let at = T0.plus_millis(100);
    assert!(store
        .destroy_message(&id, MessageState::Revoked, at, "sender:s1")
        .await
        .expect("destroy"));

    assert_eq!(store.message_key(&id).await.expect("key"), None);
    let msg = store
        .message_by_id(&id)
        .await
        .expect("message")
        .expect("kept");
    assert_eq!(msg.state, MessageState::Revoked);
    assert_eq!(msg.destroyed_at, Some(at));
    assert_eq!(msg.subject_ct, None);
    assert_eq!(msg.body_ct, None);
    assert_eq!(
        (msg.sender_id.as_str(), msg.expires_at, msg.created_at),
        (
            m.message.sender_id.as_str(),
            m.message.expires_at,
            m.message.created_at
        ),
        "metadata kept"
    );
    for r in store.recipients_of(&id).await.expect("recipients") {
        assert_eq!(r.status, RecipientStatus::Revoked);
        assert_eq!(r.code_mac, None);
        assert_eq!(r.code_hint_ct, None);
        assert_eq!(r.code_expires_at, None);
    }
    assert_eq!(
        store
            .session_by_hash(&hash32(&session.token_hash))
            .await
            .expect("session"),
        None
    );
    assert_eq!(
        counts(&store).await,
        (3, 1),
        "only this message's pending jobs deleted"
    );
    for job in claim(&store, T0.plus_millis(MINUTE_MS), MINUTE_MS, 100).await {
        assert!(
            !job.payload.contains(&id),
            "a job of the revoked message survived"
        );
        assert!(
            !job.payload.contains(&r0.id),
            "the code job of the revoked message survived"
        );
    }
    let events = store.events_of(&id).await.expect("events");
    assert_eq!(events.len(), events_before + 2);
    let revoked: Vec<_> = events[events_before..].iter().map(|e| &e.event).collect();
    let mut about: Vec<_> = revoked
        .iter()
        .filter_map(|e| e.recipient_id.clone())
        .collect();
    about.sort();
    let mut expected = vec![r0.id.clone(), r1.id.clone()];
    expected.sort();
    assert_eq!(about, expected);
    for e in revoked {
        assert_eq!(
            (e.kind.as_str(), e.at, e.actor.as_str()),
            ("revoked", at, "sender:s1")
        );
    }
    let attachments = store.attachments_of(&id).await.expect("attachments");
    assert_eq!(attachments.len(), 1);
    assert_eq!(attachments[0].meta_ct, None);
    assert_eq!(attachments[0].size, m.attachments[0].size);
    assert_eq!(
        store.blobs_to_delete(10).await.expect("blobs"),
        vec![BlobToDelete {
            attachment_id: m.attachments[0].id.clone(),
            blob_key: m.attachments[0].blob_key.clone(),
        }]
    );

    // The other message is untouched.
    assert_eq!(
        store.message_key(&other.message.id).await.expect("key"),
        Some(other.key.clone())
    );
    assert_eq!(
        store
            .recipients_of(&other.message.id)
            .await
            .expect("recipients"),
        other.recipients
    );

    // Second call: nothing happens.
    for state in [MessageState::Revoked, MessageState::Expired] {
        assert!(!store
            .destroy_message(&id, state, at.plus_millis(1), "system")
            .await
            .expect("destroy again"));
    }
    assert_eq!(
        store.events_of(&id).await.expect("events").len(),
        events_before + 2
    );
    let msg = store
        .message_by_id(&id)
        .await
        .expect("message")
        .expect("kept");
    assert_eq!(
        (msg.state, msg.destroyed_at),
        (MessageState::Revoked, Some(at))
    );
    assert!(!store
        .destroy_message("nope", MessageState::Revoked, at, "system")
        .await
        .expect("destroy unknown"));
}

/// Expiry destroys like revocation, with state and statuses `expired`.
pub async fn case_destroy_message_expire(store: DynStore) {
    let (_, m) = seeded_message(&store).await;
    let id = &m.message.id;
    let at = m.message.expires_at;
    assert!(store
        .destroy_message(id, MessageState::Expired, at, "system")
        .await
        .expect("destroy"));
    let msg = store
        .message_by_id(id)
        .await
        .expect("message")
        .expect("kept");
    assert_eq!(msg.state, MessageState::Expired);
    assert_eq!(msg.destroyed_at, Some(at));
    assert_eq!(store.message_key(id).await.expect("key"), None);
    for r in store.recipients_of(id).await.expect("recipients") {
        assert_eq!(r.status, RecipientStatus::Expired);
    }
    let kinds = event_kinds(&store, id).await;
    assert_eq!(kinds, vec!["sent", "expired", "expired"]);
    assert_eq!(counts(&store).await, (0, 0));
    assert!(!store
        .destroy_message(id, MessageState::Revoked, at, "sender:x")
        .await
        .expect("destroy again"));
}

/// Active messages at or past their expiry, soonest first, at most `limit`.
pub async fn case_expired_message_ids(store: DynStore) {
    let sender = fx::seed_sender(&store).await;
    let mut ids = Vec::new();
    for i in 1..=3 {
        let mut m = fx::new_message(&sender, T0);
        m.message.expires_at = T0.plus_millis(i * 1000);
        store.insert_message(&m).await.expect("insert");
        ids.push(m.message.id.clone());
    }
    let expired = |now: i64, limit: u32| {
        let store = store.clone();
        async move {
            store
                .expired_message_ids(T0.plus_millis(now), limit)
                .await
                .expect("expired_message_ids")
        }
    };
    assert!(expired(999, 10).await.is_empty());
    assert_eq!(expired(2000, 10).await, ids[..2], "expires_at <= now");
    assert_eq!(expired(5000, 1).await, ids[..1]);
    assert!(store
        .destroy_message(&ids[0], MessageState::Revoked, T0, "sender:x")
        .await
        .expect("destroy"));
    assert_eq!(expired(5000, 10).await, ids[1..], "only active messages");
}

/// Destroyed messages' blobs are listed until reported deleted; active ones never.
pub async fn case_blobs_to_delete(store: DynStore) {
    let sender = fx::seed_sender(&store).await;
    let one = fx::new_message(&sender, T0);
    let mut two = fx::new_message(&sender, T0);
    two.attachments.push(fx::attachment(&two.message.id, 1, T0));
    let active = fx::new_message(&sender, T0);
    for m in [&one, &two, &active] {
        store.insert_message(m).await.expect("insert");
    }
    assert!(store.blobs_to_delete(10).await.expect("blobs").is_empty());
    for m in [&one, &two] {
        assert!(store
            .destroy_message(&m.message.id, MessageState::Expired, T0, "system")
            .await
            .expect("destroy"));
    }
    let listed = store.blobs_to_delete(10).await.expect("blobs");
    let mut expected: Vec<String> = one
        .attachments
        .iter()
        .chain(&two.attachments)
        .map(|a| a.id.clone())
        .collect();
    expected.sort();
    let mut got: Vec<String> = listed.iter().map(|b| b.attachment_id.clone()).collect();
    got.sort();
    assert_eq!(got, expected);
    for b in &listed {
        let a = one
            .attachments
            .iter()
            .chain(&two.attachments)
            .find(|a| a.id == b.attachment_id)
            .expect("listed attachment");
        assert_eq!(b.blob_key, a.blob_key);
    }
    assert_eq!(store.blobs_to_delete(2).await.expect("blobs").len(), 2);

    store
        .blob_deleted(&listed[0].attachment_id)
        .await
        .expect("blob_deleted");
    store
        .blob_deleted("unknown")
        .await
        .expect("blob_deleted unknown");
    let left = store.blobs_to_delete(10).await.expect("blobs");
    assert_eq!(left.len(), 2);
    assert!(left
        .iter()
        .all(|b| b.attachment_id != listed[0].attachment_id));
    for b in &left {
        store
            .blob_deleted(&b.attachment_id)
            .await
            .expect("blob_deleted");
    }
    assert!(store.blobs_to_delete(10).await.expect("blobs").is_empty());
}

// ---- conversations ----

pub async fn case_reply_roundtrip_once_and_thread(store: DynStore) {
    let (sender, m) = seeded_message(&store).await;
    let r0 = &m.recipients[0];
    let reply = fx::new_reply(&m, r0, true, T0.plus_secs(60));
    assert_eq!(
        store.insert_reply(&reply).await.expect("insert_reply"),
        ReplyOutcome::Stored
    );
    assert_eq!(
        recipient(&store, &r0.id).await.status,
        RecipientStatus::Replied
    );
    assert_eq!(store.reply_count(&r0.id).await.expect("reply_count"), 1);
    assert_eq!(
        store.reply_count(&m.recipients[1].id).await.expect("count"),
        0
    );
    let got = store
        .message_by_id(&reply.message.id)
        .await
        .expect("message_by_id")
        .expect("reply stored");
    assert_eq!(got, reply.message);
    assert_eq!(
        store.attachments_of(&reply.message.id).await.expect("att"),
        reply.attachments
    );
    assert!(event_kinds(&store, &m.message.id)
        .await
        .contains(&"replied".to_string()));
    // The sender's notification job is queued with the reply (plus the fixture's notify job).
    assert_eq!(counts(&store).await, (2, 0));

    // Policy `once`: a second reply is refused and leaves nothing behind.
    let second = fx::new_reply(&m, r0, true, T0.plus_secs(120));
    assert_eq!(
        store.insert_reply(&second).await.expect("insert_reply"),
        ReplyOutcome::AlreadyReplied
    );
    assert!(store
        .message_by_id(&second.message.id)
        .await
        .expect("lookup")
        .is_none());
    assert!(store
        .attachments_of(&second.message.id)
        .await
        .expect("att")
        .is_empty());
    assert_eq!(counts(&store).await, (2, 0));
    // Without `once` (policy unlimited) it is stored.
    let third = fx::new_reply(&m, r0, false, T0.plus_secs(180));
    assert_eq!(
        store.insert_reply(&third).await.expect("insert_reply"),
        ReplyOutcome::Stored
    );

    // The thread holds the message and both replies, oldest first.
    let thread: Vec<String> = store
        .thread_messages(&m.message.thread_id)
        .await
        .expect("thread")
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(
        thread,
        vec![
            m.message.id.clone(),
            reply.message.id.clone(),
            third.message.id.clone()
        ]
    );
    // Replies are in the sender's inbox (newest first), not in the sent list.
    let inbox: Vec<String> = store
        .inbox_replies(&sender.user.id, None, 10)
        .await
        .expect("inbox")
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(
        inbox,
        vec![third.message.id.clone(), reply.message.id.clone()]
    );
    let sent = store
        .list_messages(&sender.user.id, None, 10)
        .await
        .expect("list");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].id, m.message.id);

    store
        .mark_read(&reply.message.id, T0.plus_secs(300))
        .await
        .expect("mark_read");
    store
        .mark_read(&reply.message.id, T0.plus_secs(999))
        .await
        .expect("mark_read again");
    let read = store
        .message_by_id(&reply.message.id)
        .await
        .expect("lookup")
        .expect("exists");
    assert_eq!(read.read_at, Some(T0.plus_secs(300)));
}

pub async fn case_reply_to_destroyed_message_is_refused(store: DynStore) {
    let (_sender, m) = seeded_message(&store).await;
    assert!(store
        .destroy_message(
            &m.message.id,
            MessageState::Revoked,
            T0.plus_secs(10),
            "system"
        )
        .await
        .expect("destroy"));
    let reply = fx::new_reply(&m, &m.recipients[0], false, T0.plus_secs(60));
    assert_eq!(
        store.insert_reply(&reply).await.expect("insert_reply"),
        ReplyOutcome::NotActive
    );
    assert!(store
        .message_by_id(&reply.message.id)
        .await
        .expect("lookup")
        .is_none());
    assert_eq!(
        recipient(&store, &m.recipients[0].id).await.status,
        RecipientStatus::Revoked
    );
}

pub async fn case_concurrent_once_replies_store_one(store: DynStore) {
    let (_sender, m) = seeded_message(&store).await;
    let r0 = m.recipients[0].clone();
    let mut tasks = Vec::new();
    for i in 0..6 {
        let store = store.clone();
        let reply = fx::new_reply(&m, &r0, true, T0.plus_secs(60 + i));
        tasks.push(tokio::spawn(async move {
            store.insert_reply(&reply).await.expect("insert_reply")
        }));
    }
    let mut stored = 0;
    for t in tasks {
        if t.await.expect("join") == ReplyOutcome::Stored {
            stored += 1;
        }
    }
    assert_eq!(stored, 1);
    assert_eq!(store.reply_count(&r0.id).await.expect("count"), 1);
}

pub async fn case_forward_adds_recipient(store: DynStore) {
    let (sender, m) = seeded_message(&store).await;
    let by = &m.recipients[0];
    let f = fx::new_forward(&m, by, "huisarts@praktijk.example", T0.plus_secs(30));
    assert!(store.insert_forward(&f).await.expect("insert_forward"));
    let all = store
        .recipients_of(&m.message.id)
        .await
        .expect("recipients");
    assert_eq!(all.len(), 3);
    assert_eq!(all[2], f.recipient);
    let access = store
        .access_by_link_hash(&hash32(&f.recipient.link_hash))
        .await
        .expect("access")
        .expect("forwarded link works");
    assert_eq!(
        access.recipient.forwarded_by.as_deref(),
        Some(by.id.as_str())
    );
    let kinds = event_kinds(&store, &m.message.id).await;
    assert!(kinds.contains(&"forwarded".to_string()));
    let fw = store
        .inbox_forwards(&sender.user.id, None, 10)
        .await
        .expect("inbox_forwards");
    assert_eq!(fw.len(), 1);
    assert_eq!(fw[0].id, f.recipient.id);
    // A revoked message takes the forward with it, and cannot be forwarded again.
    assert!(store
        .destroy_message(
            &m.message.id,
            MessageState::Revoked,
            T0.plus_secs(60),
            "system"
        )
        .await
        .expect("destroy"));
    let gone = recipient(&store, &f.recipient.id).await;
    assert_eq!(gone.status, RecipientStatus::Revoked);
    assert!(gone.note_ct.is_none());
    let again = fx::new_forward(&m, by, "ander@praktijk.example", T0.plus_secs(90));
    assert!(!store.insert_forward(&again).await.expect("insert_forward"));
    assert!(store
        .recipient_by_id(&again.recipient.id)
        .await
        .expect("lookup")
        .is_none());
}

pub async fn case_org_policy_and_logo(store: DynStore) {
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
    };
    assert!(store.set_org_policy(org, &p).await.expect("set"));
    assert_eq!(
        store.org_policy(org).await.expect("policy"),
        Some(p.clone())
    );
    assert!(!store.set_org_policy("no-such-org", &p).await.expect("set"));

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

pub async fn case_devices_accept_revoke_expire(store: DynStore) {
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

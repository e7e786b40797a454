//! `TrackingStore`: the filtered, paged sent list; recipients with their downloads; a new
//! link; a longer availability.

use super::support::{counts, event_kinds, recipient};
use super::Case;
use crate::fixtures::{self as fx, MINUTE_MS, T0};
use zegel_core::model::*;
use zegel_core::store::{SentQuery, ShownStatus};
use zegel_core::DynStore;

/// The cases of this section, run by `tests/store_suite.rs` on both backends.
pub(super) const CASES: &[Case] = &[
    case!(case_tracking_sent_list_filters_by_address_and_status),
    case!(case_tracking_sent_list_pages_both_ways_with_ties),
    case!(case_tracking_recipients_know_their_downloads_and_events_keep_addresses),
    case!(case_tracking_renew_link_replaces_the_hash_and_ends_sessions),
    case!(case_tracking_extend_sets_expiry_only_while_active),
];

/// `n` messages of `sender`, one minute apart from `T0`, oldest first.
async fn messages(store: &DynStore, sender: &fx::Sender, n: usize) -> Vec<NewMessage> {
    let mut out = Vec::new();
    for i in 0..n {
        let m = fx::new_message(sender, T0.plus_millis(i as i64 * MINUTE_MS));
        store.insert_message(&m).await.expect("insert_message");
        out.push(m);
    }
    out
}

fn ids(page: &[zegel_core::store::SentMessage]) -> Vec<String> {
    page.iter().map(|s| s.message.id.clone()).collect()
}

async fn page(store: &DynStore, sender: &str, q: SentQuery, limit: u32) -> Vec<String> {
    ids(&store
        .sent_page_filtered(sender, &q, limit)
        .await
        .expect("sent_page_filtered"))
}

async fn case_tracking_sent_list_filters_by_address_and_status(store: DynStore) {
    let sender = fx::seed_sender(&store).await;
    let other = fx::seed_sender(&store).await;
    let ms = messages(&store, &sender, 4).await;
    let theirs = fx::new_message(&other, T0);
    store.insert_message(&theirs).await.expect("insert");
    let uid = sender.user.id.as_str();

    // No filter: all of this sender's, newest first, with keys and attachment counts.
    let all = store
        .sent_page_filtered(uid, &SentQuery::default(), 10)
        .await
        .expect("page");
    assert_eq!(
        ids(&all),
        ms.iter()
            .rev()
            .map(|m| m.message.id.clone())
            .collect::<Vec<_>>()
    );
    assert!(all
        .iter()
        .all(|s| s.key.is_some() && s.attachment_count == 1));
    assert!(all.iter().all(|s| s.message.body_ct.is_none()));

    // By address (stored lower case): exactly the message to it; not the other sender's.
    let to = ms[1].recipients[0].email.clone();
    let q = SentQuery {
        recipient: Some(to.clone()),
        ..SentQuery::default()
    };
    assert_eq!(
        page(&store, uid, q, 10).await,
        vec![ms[1].message.id.clone()]
    );
    let q = SentQuery {
        recipient: Some(theirs.recipients[0].email.clone()),
        ..SentQuery::default()
    };
    assert!(page(&store, uid, q, 10).await.is_empty());

    // By status: opened (no download), downloaded, failed; and both filters on one recipient.
    let r_open = &ms[0].recipients[0];
    let r_down = &ms[2].recipients[1];
    let r_fail = &ms[3].recipients[0];
    let at = T0.plus_secs(3600);
    store
        .record_event(
            &fx::event(&r_open.message_id, Some(&r_open.id), "opened", at),
            Some(RecipientStatus::Opened),
        )
        .await
        .expect("opened");
    store
        .record_event(
            &fx::event(&r_down.message_id, Some(&r_down.id), "opened", at),
            Some(RecipientStatus::Opened),
        )
        .await
        .expect("opened");
    store
        .record_event(
            &fx::event(&r_down.message_id, Some(&r_down.id), "downloaded", at),
            None,
        )
        .await
        .expect("downloaded");
    store
        .mark_failed(
            &r_fail.id,
            "550 no such user",
            &fx::event(&r_fail.message_id, Some(&r_fail.id), "failed", at),
        )
        .await
        .expect("failed");
    let by = |status| SentQuery {
        status: Some(status),
        ..SentQuery::default()
    };
    assert_eq!(
        page(&store, uid, by(ShownStatus::Opened), 10).await,
        vec![ms[0].message.id.clone()]
    );
    assert_eq!(
        page(&store, uid, by(ShownStatus::Downloaded), 10).await,
        vec![ms[2].message.id.clone()]
    );
    assert_eq!(
        page(&store, uid, by(ShownStatus::Failed), 10).await,
        vec![ms[3].message.id.clone()]
    );
    assert!(page(&store, uid, by(ShownStatus::Replied), 10)
        .await
        .is_empty());
    // Queued: every message still has a queued recipient.
    assert_eq!(
        page(&store, uid, by(ShownStatus::Queued), 10).await.len(),
        4
    );
    // Address and status on the same recipient.
    let both = |email: &str, status| SentQuery {
        recipient: Some(email.to_owned()),
        status: Some(status),
        ..SentQuery::default()
    };
    assert_eq!(
        page(
            &store,
            uid,
            both(&r_down.email, ShownStatus::Downloaded),
            10
        )
        .await,
        vec![ms[2].message.id.clone()]
    );
    assert!(page(
        &store,
        uid,
        both(&ms[2].recipients[0].email, ShownStatus::Downloaded),
        10
    )
    .await
    .is_empty());
    // Revoked: after destroy.
    store
        .destroy_message(&ms[1].message.id, MessageState::Revoked, at, "sender:x")
        .await
        .expect("destroy");
    assert_eq!(
        page(&store, uid, by(ShownStatus::Revoked), 10).await,
        vec![ms[1].message.id.clone()]
    );
    let (pending, _) = counts(&store).await;
    assert!(
        pending >= 3,
        "the notification jobs of the other messages stay"
    );
}

async fn case_tracking_sent_list_pages_both_ways_with_ties(store: DynStore) {
    let sender = fx::seed_sender(&store).await;
    let uid = sender.user.id.as_str();
    // Five messages, the middle three at the same millisecond (keyset ties on the id).
    let mut ms = Vec::new();
    for minute in [0, 1, 1, 1, 2] {
        let at = T0.plus_millis(minute * MINUTE_MS);
        let m = fx::new_message(&sender, at);
        store.insert_message(&m).await.expect("insert");
        ms.push(m);
    }
    let all = page(&store, uid, SentQuery::default(), 10).await;
    assert_eq!(all.len(), 5);
    // Forward, two at a time, by the last one's (time, id).
    let mut seen = Vec::new();
    let mut q = SentQuery::default();
    loop {
        let p = store.sent_page_filtered(uid, &q, 2).await.expect("page");
        if p.is_empty() {
            break;
        }
        seen.extend(ids(&p));
        let last = p.last().expect("a last one");
        q.before = Some((last.message.created_at, Some(last.message.id.clone())));
    }
    assert_eq!(seen, all, "keyset paging sees every message once, in order");
    // Backwards from the end: the two just newer than the fourth, newest first.
    let fourth = store
        .message_by_id(&all[3])
        .await
        .expect("by id")
        .expect("exists");
    let q = SentQuery {
        after: Some((fourth.created_at, fourth.id.clone())),
        ..SentQuery::default()
    };
    assert_eq!(page(&store, uid, q, 2).await, all[1..3].to_vec());
    // `before` without an id: strictly older.
    let q = SentQuery {
        before: Some((T0.plus_millis(MINUTE_MS), None)),
        ..SentQuery::default()
    };
    assert_eq!(
        page(&store, uid, q, 10).await,
        vec![ms[0].message.id.clone()]
    );
}

async fn case_tracking_recipients_know_their_downloads_and_events_keep_addresses(store: DynStore) {
    let sender = fx::seed_sender(&store).await;
    let ms = messages(&store, &sender, 2).await;
    let r = &ms[1].recipients[0];
    let mut e = fx::event(&r.message_id, Some(&r.id), "downloaded", T0.plus_secs(60));
    e.ip = Some("203.0.113.7".into());
    store.record_event(&e, None).await.expect("downloaded");
    let ids = vec![ms[1].message.id.clone(), ms[0].message.id.clone()];
    let t = store.recipients_tracked(&ids).await.expect("tracked");
    let got: Vec<(String, bool)> = t
        .iter()
        .map(|t| (t.recipient.id.clone(), t.downloaded))
        .collect();
    assert_eq!(
        got,
        vec![
            (ms[1].recipients[0].id.clone(), true),
            (ms[1].recipients[1].id.clone(), false),
            (ms[0].recipients[0].id.clone(), false),
            (ms[0].recipients[1].id.clone(), false),
        ]
    );
    assert!(store
        .recipients_tracked(&[])
        .await
        .expect("empty")
        .is_empty());
    // The event keeps the client address it came from.
    let events = store.events_of(&ms[1].message.id).await.expect("events");
    let d = events
        .iter()
        .find(|e| e.event.kind == EventKind::Downloaded)
        .expect("the download");
    assert_eq!(d.event.ip.as_deref(), Some("203.0.113.7"));
}

async fn case_tracking_renew_link_replaces_the_hash_and_ends_sessions(store: DynStore) {
    let sender = fx::seed_sender(&store).await;
    let ms = messages(&store, &sender, 1).await;
    let m = &ms[0];
    // The code recipient (a fixed code): a right code opens a session.
    let r = m.recipients[1].clone();
    let old = r.link_hash.clone();
    let s = fx::session(&r.id, T0, 30 * MINUTE_MS);
    let mac = r.code_mac.clone().expect("a fixed code");
    let verdict = store
        .check_code(&zegel_core::codes::CodeCheck {
            recipient_id: &r.id,
            presented_mac: Some(&mac),
            one_time: false,
            now: T0,
            policy: &super::support::lockout_policy(),
            session: &s,
            event: &fx::event(&m.message.id, Some(&r.id), "opened", T0),
        })
        .await
        .expect("check_code");
    assert!(
        matches!(verdict, zegel_core::codes::CodeVerdict::Accepted),
        "{verdict:?}"
    );
    assert!(store
        .session_by_hash(&s.token_hash.clone().try_into().expect("32 bytes"))
        .await
        .expect("session")
        .is_some());
    let (pending_before, _) = counts(&store).await;
    let new = fx::random_hash();
    let at = T0.plus_secs(120);
    let job = fx::notify_job(&m.message.id, &r.id, at);
    let ev = fx::event(&m.message.id, Some(&r.id), "link_renewed", at);
    assert!(store
        .renew_link(&r.id, &new, &job, &ev)
        .await
        .expect("renew"));
    let now = recipient(&store, &r.id).await;
    assert_eq!(now.link_hash, new.to_vec());
    assert_eq!(
        now.status,
        RecipientStatus::Opened,
        "a new link keeps what happened"
    );
    assert!(store
        .access_by_link_hash(&old.clone().try_into().expect("32 bytes"))
        .await
        .expect("lookup")
        .is_none());
    assert!(store
        .access_by_link_hash(&new)
        .await
        .expect("lookup")
        .is_some());
    assert!(store
        .session_by_hash(&s.token_hash.clone().try_into().expect("32 bytes"))
        .await
        .expect("session")
        .is_none());
    assert_eq!(counts(&store).await.0, pending_before + 1);
    assert!(event_kinds(&store, &m.message.id)
        .await
        .contains(&"link_renewed".to_owned()));
    // A recipient whose notification failed is queued again for the new one.
    let r0 = m.recipients[0].clone();
    store
        .mark_failed(
            &r0.id,
            "550",
            &fx::event(&m.message.id, Some(&r0.id), "failed", at),
        )
        .await
        .expect("failed");
    let job0 = fx::notify_job(&m.message.id, &r0.id, at);
    let ev0 = fx::event(&m.message.id, Some(&r0.id), "link_renewed", at);
    assert!(store
        .renew_link(&r0.id, &fx::random_hash(), &job0, &ev0)
        .await
        .expect("renew"));
    let now0 = recipient(&store, &r0.id).await;
    assert_eq!(
        (now0.status, now0.failed_reason),
        (RecipientStatus::Queued, None)
    );
    // Not once the message is destroyed: nothing changes.
    store
        .destroy_message(&m.message.id, MessageState::Revoked, at, "sender:x")
        .await
        .expect("destroy");
    let newer = fx::random_hash();
    assert!(!store
        .renew_link(&r.id, &newer, &job, &ev)
        .await
        .expect("renew"));
    assert_eq!(recipient(&store, &r.id).await.link_hash, new.to_vec());
    // Unknown recipient: false.
    assert!(!store
        .renew_link("nobody", &newer, &job, &ev)
        .await
        .expect("renew"));
}

async fn case_tracking_extend_sets_expiry_only_while_active(store: DynStore) {
    let sender = fx::seed_sender(&store).await;
    let ms = messages(&store, &sender, 2).await;
    let m = &ms[0].message;
    let later = m.expires_at.plus_secs(7 * 86_400);
    let evs: Vec<NewEvent> = ms[0]
        .recipients
        .iter()
        .map(|r| fx::event(&m.id, Some(&r.id), "extended", T0.plus_secs(5)))
        .collect();
    assert!(store
        .extend_message(&m.id, later, &evs)
        .await
        .expect("extend"));
    let got = store
        .message_by_id(&m.id)
        .await
        .expect("by id")
        .expect("exists");
    assert_eq!(got.expires_at, later);
    let kinds = event_kinds(&store, &m.id).await;
    assert_eq!(kinds.iter().filter(|k| *k == "extended").count(), 2);
    // The other message is untouched.
    let other = store
        .message_by_id(&ms[1].message.id)
        .await
        .expect("by id")
        .expect("exists");
    assert_eq!(other.expires_at, ms[1].message.expires_at);
    // The sweeper listed it as due before the extension: expiring it now changes nothing.
    assert!(!store
        .expire_message(&m.id, m.expires_at)
        .await
        .expect("expire"));
    let got = store
        .message_by_id(&m.id)
        .await
        .expect("by id")
        .expect("exists");
    assert_eq!(got.state, MessageState::Active);
    assert!(store.message_key(&m.id).await.expect("key").is_some());
    // Once the new time has come it expires.
    assert!(store.expire_message(&m.id, later).await.expect("expire"));
    // Destroyed: refused, nothing recorded.
    assert!(!store
        .extend_message(&m.id, later.plus_secs(86_400), &evs)
        .await
        .expect("extend"));
    let kinds = event_kinds(&store, &m.id).await;
    assert_eq!(kinds.iter().filter(|k| *k == "extended").count(), 2);
}

//! "Bewijs downloaden" on the sender's message page, on both backends: the page links to
//! `/berichten/{id}/bewijs`, which downloads the signed receipt (a compact JWS that verifies
//! under the organisation's stored public key and names the recipient's opened time); another
//! sender's message, a reply's id and a stranger get no receipt.

mod common;

use common::{Backend, TestApp};
use zegel_core::service::{verify_receipt, TrustedKey};

const PATIENT: &str = "patient@mail.example";

async fn get(app: &TestApp, cookie: Option<&str>, path: &str) -> reqwest::Response {
    let mut req = app.client.get(app.url(path));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.send().await.unwrap()
}

async fn the_message_page_offers_a_signed_receipt(backend: Backend) {
    let Some(app) = TestApp::new(backend).await else {
        return; // ZEGEL_TEST_SKIP_POSTGRES=1: said so on stderr.
    };
    let (id, link) = app.send_simple(PATIENT).await;
    app.open_by_email(&link, PATIENT).await;
    let cookie = app.sender_cookie(&app.sender.email).await;

    let page = get(&app, Some(&cookie), &format!("/berichten/{id}")).await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("Bewijs downloaden"), "{page}");
    assert!(
        page.contains(&format!("href=\"/berichten/{id}/bewijs\"")),
        "{page}"
    );

    let res = get(&app, Some(&cookie), &format!("/berichten/{id}/bewijs")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/jose");
    let cd = res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(cd.starts_with("attachment;") && cd.contains(".jws"), "{cd}");
    let jws = res.text().await.unwrap();
    let store = app.z.store.clone();
    let kid = zegel_core::jws::header(&jws).unwrap().kid.unwrap();
    let key = store.public_signing_key(&kid).await.unwrap().unwrap();
    assert_eq!(key.org_id, app.sender.org_id);
    let v = verify_receipt(&jws, |_| Some(TrustedKey::from_stored(&key))).expect("verifies");
    assert_eq!(v.receipt.message_id, id);
    assert_eq!(v.receipt.recipients.len(), 1);
    assert_eq!(v.receipt.recipients[0].address, PATIENT);
    assert_eq!(v.receipt.recipients[0].opened.len(), 1);
    assert_eq!(v.receipt.recipients[0].notified.len(), 1);
    assert!(v.receipt.recipients[0].downloaded.is_empty());
    assert!(v.receipt.content.body.is_some());
    assert!(v.receipt.content.attachments.is_empty());
    // The same key signs the next receipt (created once, then reused).
    let again = get(&app, Some(&cookie), &format!("/berichten/{id}/bewijs")).await;
    let again = again.text().await.unwrap();
    assert_eq!(zegel_core::jws::header(&again).unwrap().kid.unwrap(), kid);
    assert_eq!(
        store
            .signing_keys_of(&app.sender.org_id)
            .await
            .unwrap()
            .len(),
        1
    );
    let kinds: Vec<_> = store
        .events_of(&id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event.kind == zegel_core::model::EventKind::ReceiptIssued)
        .map(|e| (e.event.recipient_id, e.event.detail, e.event.actor))
        .collect();
    assert_eq!(kinds.len(), 2);
    assert_eq!(
        kinds[0],
        (None, Some(kid.clone()), format!("sender:{}", app.sender.id))
    );

    // Another sender of the same organisation: 404, no receipt, nothing recorded.
    app.z
        .create_user(zegel_core::service::NewUserReq {
            email: "collega@ziekenhuis.example".into(),
            name: "Collega".into(),
            org_slug: Some("default".into()),
            password: None,
            role: zegel_core::model::Role::Sender,
        })
        .await
        .unwrap();
    let other = app.sender_cookie("collega@ziekenhuis.example").await;
    let res = get(&app, Some(&other), &format!("/berichten/{id}/bewijs")).await;
    assert_eq!(res.status(), 404);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let res = get(&app, Some(&cookie), "/berichten/onbekend/bewijs").await;
    assert_eq!(res.status(), 404);
    // A stranger is sent to sign in.
    let res = get(&app, None, &format!("/berichten/{id}/bewijs")).await;
    assert!(res.status().is_redirection(), "{}", res.status());
    let issued = store
        .events_of(&id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event.kind == zegel_core::model::EventKind::ReceiptIssued)
        .count();
    assert_eq!(issued, 2);

    // After revocation the receipt still comes, saying so, without content hashes.
    app.z.revoke_message(&app.sender, &id).await.unwrap();
    let res = get(&app, Some(&cookie), &format!("/berichten/{id}/bewijs")).await;
    assert_eq!(res.status(), 200);
    let jws = res.text().await.unwrap();
    let v = verify_receipt(&jws, |_| Some(TrustedKey::from_stored(&key))).expect("verifies");
    assert_eq!(v.receipt.state, zegel_core::model::MessageState::Revoked);
    assert!(v.receipt.destroyed_at.is_some());
    assert_eq!(v.receipt.content.body, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_message_page_offers_a_signed_receipt_on_sqlite() {
    the_message_page_offers_a_signed_receipt(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_message_page_offers_a_signed_receipt_on_postgres() {
    the_message_page_offers_a_signed_receipt(Backend::Postgres).await;
}

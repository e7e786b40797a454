//! Issue 13 through the JSON API: the checks before sending (`POST /api/v1/messages/check`),
//! the organisation's address book they read, and read receipts (`read_receipt`).

#[macro_use]
mod common;

use common::{Backend, TestApp};
use serde_json::{json, Value};

backend_tests!(
    check_warns_about_a_first_message_until_the_organisation_has_sent_there,
    check_asks_did_you_mean_for_typos_and_counts_recipients,
    check_refuses_what_a_send_would_refuse,
    read_receipts_go_to_the_sender_once_per_recipient_without_content,
    no_read_receipt_unless_asked,
);

async fn check(app: &TestApp, body: Value) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/messages/check"))
        .header("authorization", app.auth())
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn to(emails: &[&str]) -> Value {
    json!({
        "subject": "Uitslag",
        "body": "Tekst",
        "recipients": emails.iter().map(|e| json!({"email": e, "verification": "email"})).collect::<Vec<_>>(),
    })
}

async fn warnings(app: &TestApp, emails: &[&str]) -> Vec<Value> {
    let res = check(app, to(emails)).await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    v["warnings"].as_array().unwrap().clone()
}

async fn check_warns_about_a_first_message_until_the_organisation_has_sent_there(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    assert_eq!(
        warnings(&app, &["Jan@Voorbeeld.nl"]).await,
        vec![json!({"kind": "first_message", "email": "jan@voorbeeld.nl"})]
    );
    // Checking stores nothing: still the first message.
    assert_eq!(warnings(&app, &["jan@voorbeeld.nl"]).await.len(), 1);
    app.send_simple("jan@voorbeeld.nl").await;
    assert!(warnings(&app, &["JAN@voorbeeld.nl"]).await.is_empty());
    let (pending, dead) = app.z.store.job_counts().await.unwrap();
    assert_eq!((pending, dead), (0, 0));
}

async fn check_asks_did_you_mean_for_typos_and_counts_recipients(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    app.send_simple("jan.jansen@ziekenhuis.nl").await;
    let w = warnings(&app, &["jan.jasen@ziekenhuis.nl", "piet@gmial.com"]).await;
    assert_eq!(
        w,
        vec![
            json!({"kind": "first_message", "email": "jan.jasen@ziekenhuis.nl"}),
            json!({"kind": "did_you_mean", "email": "jan.jasen@ziekenhuis.nl", "suggestion": "jan.jansen@ziekenhuis.nl"}),
            json!({"kind": "first_message", "email": "piet@gmial.com"}),
            json!({"kind": "did_you_mean", "email": "piet@gmial.com", "suggestion": "piet@gmail.com"}),
        ]
    );
    let six: Vec<String> = (0..6).map(|i| format!("p{i}@praktijk.nl")).collect();
    let six: Vec<&str> = six.iter().map(String::as_str).collect();
    let w = warnings(&app, &six).await;
    assert_eq!(w.len(), 7);
    assert_eq!(w[6], json!({"kind": "many_recipients", "count": 6}));
}

async fn check_refuses_what_a_send_would_refuse(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    // SMS without a number: 422, as a send.
    let res = check(
        &app,
        json!({"subject": "S", "recipients": [{"email": "a@b.nl", "verification": "sms"}]}),
    )
    .await;
    assert_eq!(res.status(), 422);
    // A missing field: 400; not JSON: 415; no token: 401.
    let res = check(&app, json!({"recipients": []})).await;
    assert_eq!(res.status(), 400);
    let res = app
        .client
        .post(app.url("/api/v1/messages/check"))
        .header("authorization", app.auth())
        .body("subject=x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    let res = app
        .client
        .post(app.url("/api/v1/messages/check"))
        .json(&to(&["a@b.nl"]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

fn receipts(app: &TestApp) -> Vec<String> {
    app.outbox("mail")
        .into_iter()
        .filter(|m| m.contains("To: arts@ziekenhuis.example") && m.contains("Leesbevestiging"))
        .collect()
}

async fn read_receipts_go_to_the_sender_once_per_recipient_without_content(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let res = app
        .send_json(json!({
            "subject": "Geheime diagnose",
            "body": "Vertrouwelijke inhoud",
            "read_receipt": true,
            "recipients": [
                {"email": "een@voorbeeld.nl", "verification": "email"},
                {"email": "twee@voorbeeld.nl", "verification": "email"},
            ],
        }))
        .await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    app.run_jobs().await;
    assert!(receipts(&app).is_empty());
    let link = app.link_token("een@voorbeeld.nl");
    app.open_by_email(&link, "een@voorbeeld.nl").await;
    app.run_jobs().await;
    let first = receipts(&app);
    assert_eq!(first.len(), 1);
    let mail = &first[0];
    assert!(
        mail.contains("een@voorbeeld.nl heeft uw beveiligd bericht geopend") || {
            let parsed = mail_parser::MessageParser::default()
                .parse(mail.as_bytes())
                .unwrap();
            parsed
                .body_text(0)
                .unwrap()
                .contains("een@voorbeeld.nl heeft uw beveiligd bericht geopend")
        }
    );
    assert!(mail.contains(&format!("/berichten/{id}")));
    assert!(!mail.contains("Geheime") && !mail.contains("Vertrouwelijke"));
    let rid = created["recipients"][0]["id"].as_str().unwrap();
    assert!(mail.contains(&format!("zegel.receipt.{rid}@")));
    // Opening again: no second receipt.
    app.open_by_email(&link, "een@voorbeeld.nl").await;
    app.run_jobs().await;
    assert_eq!(receipts(&app).len(), 1);
    // The other recipient: one of their own.
    let link2 = app.link_token("twee@voorbeeld.nl");
    app.open_by_email(&link2, "twee@voorbeeld.nl").await;
    app.run_jobs().await;
    assert_eq!(receipts(&app).len(), 2);
}

async fn no_read_receipt_unless_asked(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let (_, link) = app.send_simple("stil@voorbeeld.nl").await;
    app.open_by_email(&link, "stil@voorbeeld.nl").await;
    app.run_jobs().await;
    assert!(receipts(&app).is_empty());
}

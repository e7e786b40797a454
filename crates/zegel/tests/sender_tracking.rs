//! The sender's pages for following sent messages and the inbox (issue 13, helper C), on
//! both backends: `/berichten` (statuses, filters, paging), `/berichten/{id}` (statuses, a
//! timeline with client addresses, revoke behind a confirmation and CSRF, a new link, a longer
//! availability), `/inbox` (unread marks, a reply, an answer in the same thread), and the
//! API's new filters and routes. Another sender's ids are 404.

mod common;

use common::{Backend, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

const PATIENT: &str = "patient@mail.example";

/// A signed-in page client: the sender's session cookie on every request.
struct Pages<'a> {
    app: &'a TestApp,
    cookie: String,
}

impl<'a> Pages<'a> {
    async fn new(app: &'a TestApp) -> Pages<'a> {
        let cookie = app.sender_cookie(&app.sender.email).await;
        Pages { app, cookie }
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let res = self
            .app
            .client
            .get(self.app.url(path))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        let status = res.status();
        (status, res.text().await.unwrap())
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (StatusCode, String, String) {
        let res = self
            .app
            .client
            .post(self.app.url(path))
            .header("cookie", &self.cookie)
            .form(form)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let location = res
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (status, location, res.text().await.unwrap())
    }

    /// The CSRF token of a page's forms.
    async fn csrf(&self, path: &str) -> String {
        let (status, page) = self.get(path).await;
        assert_eq!(status, 200, "{path}");
        common::csrf_of(&page)
    }
}

/// Sends a message with one attachment to PATIENT (e-mail code) and runs the notification.
async fn send_with_attachment(app: &TestApp) -> Value {
    let form = reqwest::multipart::Form::new()
        .part(
            "message",
            reqwest::multipart::Part::text(
                json!({
                    "subject": "Uitslag bloedonderzoek",
                    "body": "De uitslag is goed.",
                    "recipients": [{"email": PATIENT, "verification": "email"}],
                    "reply": "unlimited",
                })
                .to_string(),
            )
            .mime_str("application/json")
            .unwrap(),
        )
        .part(
            "attachment",
            reqwest::multipart::Part::bytes(b"%PDF-1.4 uitslag".to_vec())
                .file_name("uitslag.pdf")
                .mime_str("application/pdf")
                .unwrap(),
        );
    let res = app
        .client
        .post(app.url("/api/v1/messages"))
        .header("authorization", app.auth())
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let v: Value = res.json().await.unwrap();
    app.run_jobs().await;
    v
}

async fn api_get(app: &TestApp, path: &str) -> (StatusCode, Value) {
    let res = app
        .client
        .get(app.url(path))
        .header("authorization", app.auth())
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn api_post(app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    let res = app
        .client
        .post(app.url(path))
        .header("authorization", app.auth())
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// The patient reads the message and downloads its attachment (access API).
async fn patient_reads_and_downloads(app: &TestApp, link: &str) -> String {
    let at = app.open_by_email(link, PATIENT).await;
    let res = app
        .client
        .get(app.url(&format!("/api/v1/access/{link}/message")))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let m: Value = res.json().await.unwrap();
    let aid = m["attachments"][0]["id"].as_str().unwrap().to_string();
    let res = app
        .client
        .get(app.url(&format!("/api/v1/access/{link}/attachments/{aid}")))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    at
}

async fn pages_need_a_session_and_another_senders_ids_are_404(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let sent = send_with_attachment(&app).await;
    let id = sent["id"].as_str().unwrap();
    // Signed out: to the sign-in page.
    for path in ["/berichten", &format!("/berichten/{id}"), "/inbox"] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 303, "{path}");
        let to = res.headers()["location"].to_str().unwrap().to_string();
        assert!(to.starts_with("/inloggen"), "{path}: {to}");
    }
    // Another sender of the same organisation: 404 on every page and action of the message.
    let other = app
        .z
        .create_user(zegel_core::service::NewUserReq {
            email: "collega@ziekenhuis.example".into(),
            name: "Dr. Collega".into(),
            org_slug: Some("default".into()),
            password: None,
            role: zegel_core::model::Role::Sender,
        })
        .await
        .unwrap();
    let theirs = Pages {
        app: &app,
        cookie: app.sender_cookie(&other.email).await,
    };
    let csrf = theirs.csrf("/berichten").await;
    assert_eq!(theirs.get(&format!("/berichten/{id}")).await.0, 404);
    assert_eq!(
        theirs.get(&format!("/berichten/{id}/intrekken")).await.0,
        404
    );
    let (status, _, _) = theirs
        .post(&format!("/berichten/{id}/intrekken"), &[("csrf", &csrf)])
        .await;
    assert_eq!(status, 404);
    let rid = sent["recipients"][0]["id"].as_str().unwrap();
    let (status, _, _) = theirs
        .post(
            &format!("/berichten/{id}/ontvangers/{rid}/nieuwe-link"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(status, 404);
    let (status, _, _) = theirs
        .post(
            &format!("/berichten/{id}/verlengen"),
            &[("csrf", &csrf), ("days", "1")],
        )
        .await;
    assert_eq!(status, 404);
    let (_, list) = theirs.get("/berichten").await;
    assert!(!list.contains(id), "another sender's list does not show it");
    // Still active for its own sender.
    let (_, v) = api_get(&app, &format!("/api/v1/messages/{id}")).await;
    assert_eq!(v["state"], "active");
}

async fn the_message_page_shows_opened_downloaded_and_where_from(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let p = Pages::new(&app).await;
    let sent = send_with_attachment(&app).await;
    let id = sent["id"].as_str().unwrap();
    let (status, page) = p.get(&format!("/berichten/{id}")).await;
    assert_eq!(status, 200);
    assert!(page.contains("Verstuurd"), "{page}");
    assert!(page.contains("Uitslag bloedonderzoek"));
    let link = app.link_token(PATIENT);
    let at = app.open_by_email(&link, PATIENT).await;
    let (_, page) = p.get(&format!("/berichten/{id}")).await;
    assert!(page.contains(">Geopend<"), "{page}");
    drop(at);
    patient_reads_and_downloads(&app, &link).await;
    let (_, page) = p.get(&format!("/berichten/{id}")).await;
    assert!(page.contains(">Gedownload<"), "{page}");
    assert!(page.contains("Bijlage gedownload"));
    assert!(
        page.contains("vanaf 127.0.0.1"),
        "the client address: {page}"
    );
    assert!(page.contains("Europe") || page.contains("<time datetime="));
    // English.
    let (_, page) = p.get(&format!("/berichten/{id}?lang=en")).await;
    assert!(page.contains(">Downloaded<"));
    assert!(page.contains("from 127.0.0.1"));
    // The list shows it too, and the status filter finds it.
    let (_, list) = p.get("/berichten?status=downloaded").await;
    assert!(list.contains(id) && list.contains("Gedownload"), "{list}");
    let (_, list) = p.get("/berichten?status=opened").await;
    assert!(!list.contains(id));
    // The API: the events carry the address; the filters work.
    let (_, v) = api_get(&app, &format!("/api/v1/messages/{id}")).await;
    let events = v["recipients"][0]["events"].as_array().unwrap();
    assert!(events
        .iter()
        .any(|e| e["type"] == "downloaded" && e["ip"] == "127.0.0.1"));
    let (s, v) = api_get(
        &app,
        "/api/v1/messages?status=downloaded&recipient=PATIENT@mail.example",
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["messages"].as_array().unwrap().len(), 1);
    let (s, v) = api_get(&app, "/api/v1/messages?status=failed").await;
    assert_eq!(s, 200);
    assert!(v["messages"].as_array().unwrap().is_empty());
    let (s, _) = api_get(&app, "/api/v1/messages?status=gelezen").await;
    assert_eq!(s, 422);
    // An empty status is not "any status" on the API (schemathesis: the enum has no "").
    let (s, _) = api_get(&app, "/api/v1/messages?status=").await;
    assert_eq!(s, 422);
}

async fn the_sent_list_filters_and_pages(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let p = Pages::new(&app).await;
    for i in 0..27 {
        let res = app
            .send_json(json!({
                "subject": format!("Bericht {i:02}"),
                "recipients": [{"email": format!("p{i}@mail.example"), "verification": "email"}],
            }))
            .await;
        assert_eq!(res.status(), 201);
    }
    let (status, page) = p.get("/berichten").await;
    assert_eq!(status, 200);
    assert!(page.contains("In de wachtrij"));
    assert!(page.contains("Bericht 26") && page.contains("Bericht 02"));
    assert!(!page.contains("Bericht 01"), "25 per page");
    assert!(page.contains(">Volgende<") && !page.contains(">Vorige<"));
    let next = regex::Regex::new(r#"href="(/berichten\?na=[^"]+)""#)
        .unwrap()
        .captures(&page)
        .unwrap()[1]
        .replace("&amp;", "&");
    let (_, page2) = p.get(&next).await;
    assert!(page2.contains("Bericht 01") && page2.contains("Bericht 00"));
    assert!(!page2.contains("Bericht 02"));
    assert!(page2.contains(">Vorige<") && !page2.contains(">Volgende<"));
    let prev = regex::Regex::new(r#"href="(/berichten\?voor=[^"]+)""#)
        .unwrap()
        .captures(&page2)
        .unwrap()[1]
        .replace("&amp;", "&");
    let (_, back) = p.get(&prev).await;
    assert!(back.contains("Bericht 26") && back.contains("Bericht 02"));
    assert!(!back.contains("Bericht 01"));
    // Recipient filter: exact, case-insensitive.
    let (_, page) = p.get("/berichten?ontvanger=P7%40MAIL.EXAMPLE").await;
    assert!(page.contains("Bericht 07"));
    assert!(!page.contains("Bericht 17") && !page.contains("Bericht 08"));
    let (_, page) = p.get("/berichten?ontvanger=p7%40mail").await;
    assert!(!page.contains("Bericht 07"), "exact, not a prefix");
    // Status filter: nothing failed; a bad value is an error tied to the field.
    let (_, page) = p.get("/berichten?status=failed").await;
    assert!(page.contains("Geen berichten gevonden"));
    let (status, page) = p.get("/berichten?status=kapot").await;
    assert_eq!(status, 422);
    assert!(page.contains(r#"aria-describedby="filter-fout""#));
    app.run_jobs().await;
}

async fn revoke_needs_confirmation_and_csrf(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let p = Pages::new(&app).await;
    let sent = send_with_attachment(&app).await;
    let id = sent["id"].as_str().unwrap();
    let link = app.link_token(PATIENT);
    // The message page links to the confirmation; GET changes nothing.
    let (_, page) = p.get(&format!("/berichten/{id}")).await;
    assert!(page.contains(&format!(r#"href="/berichten/{id}/intrekken""#)));
    assert!(page.contains(">Intrekken<"));
    let (status, confirm) = p.get(&format!("/berichten/{id}/intrekken")).await;
    assert_eq!(status, 200);
    assert!(confirm.contains("Weet u zeker"));
    let (_, v) = api_get(&app, &format!("/api/v1/messages/{id}")).await;
    assert_eq!(v["state"], "active");
    // Without or with a wrong CSRF token: refused, nothing revoked.
    let (status, _, _) = p.post(&format!("/berichten/{id}/intrekken"), &[]).await;
    assert_eq!(status, 403);
    let (status, _, _) = p
        .post(&format!("/berichten/{id}/intrekken"), &[("csrf", "wrong")])
        .await;
    assert_eq!(status, 403);
    let (_, v) = api_get(&app, &format!("/api/v1/messages/{id}")).await;
    assert_eq!(v["state"], "active");
    // With it: revoked; the patient's link is gone (410); the page says so.
    let csrf = common::csrf_of(&confirm);
    let (status, location, _) = p
        .post(&format!("/berichten/{id}/intrekken"), &[("csrf", &csrf)])
        .await;
    assert_eq!(status, 303);
    assert_eq!(location, format!("/berichten/{id}?ingetrokken=1"));
    let (_, page) = p.get(&location).await;
    assert!(page.contains(">Ingetrokken<"));
    assert!(
        !page.contains("nieuwe-link"),
        "no actions on a revoked message"
    );
    let res = app
        .client
        .get(app.url(&format!("/m/{link}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 410);
}

async fn a_new_link_makes_the_old_one_stop_working(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let p = Pages::new(&app).await;
    let sent = send_with_attachment(&app).await;
    let id = sent["id"].as_str().unwrap();
    let rid = sent["recipients"][0]["id"].as_str().unwrap();
    let old = app.link_token(PATIENT);
    let old_session = app.open_by_email(&old, PATIENT).await;
    let mails = app.outbox("mail").len();
    let path = format!("/berichten/{id}/ontvangers/{rid}/nieuwe-link");
    let (status, _, _) = p.post(&path, &[("csrf", "nope")]).await;
    assert_eq!(status, 403);
    let csrf = p.csrf(&format!("/berichten/{id}")).await;
    let (status, location, _) = p.post(&path, &[("csrf", &csrf)]).await;
    assert_eq!(status, 303);
    app.run_jobs().await;
    assert_eq!(
        app.outbox("mail").len(),
        mails + 1,
        "a new notification went out"
    );
    let new = app.link_token(PATIENT);
    assert_ne!(new, old);
    let res = app
        .client
        .get(app.url(&format!("/m/{old}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404, "the old link is unknown now");
    let res = app
        .client
        .get(app.url(&format!("/api/v1/access/{old}/message")))
        .bearer_auth(&old_session)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = app
        .client
        .get(app.url(&format!("/m/{new}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (_, page) = p.get(&location).await;
    assert!(page.contains("Nieuwe link gestuurd"));
    // The API's route does the same.
    let (status, v) = api_post(
        &app,
        &format!("/api/v1/messages/{id}/recipients/{rid}/link"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    app.run_jobs().await;
    let newest = app.link_token(PATIENT);
    assert_ne!(newest, new);
    let res = app
        .client
        .get(app.url(&format!("/m/{new}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert!(common::event_types(&v, 0).contains(&"link_renewed".to_string()));
    // Another message's recipient: 404.
    let other = send_with_attachment(&app).await;
    let orid = other["recipients"][0]["id"].as_str().unwrap();
    let (status, _) = api_post(
        &app,
        &format!("/api/v1/messages/{id}/recipients/{orid}/link"),
        json!({}),
    )
    .await;
    assert_eq!(status, 404);
}

async fn extend_changes_expiry_within_the_maximum(b: Backend) {
    // An installation whose organisations may keep messages up to a year (the default, 90
    // days both ways, leaves nothing to extend by).
    let Some(app) = TestApp::builder(b)
        .settings(|s| s.max_expiry_days = 365)
        .build()
        .await
    else {
        return;
    };
    let p = Pages::new(&app).await;
    let sent = send_with_attachment(&app).await;
    let id = sent["id"].as_str().unwrap();
    let expiry = |v: &Value| {
        time::OffsetDateTime::parse(
            v["expires_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    let (_, before) = api_get(&app, &format!("/api/v1/messages/{id}")).await;
    let csrf = p.csrf(&format!("/berichten/{id}")).await;
    let path = format!("/berichten/{id}/verlengen");
    let (status, _, _) = p.post(&path, &[("days", "5")]).await;
    assert_eq!(status, 403, "CSRF");
    let (status, location, _) = p.post(&path, &[("csrf", &csrf), ("days", "5")]).await;
    assert_eq!(status, 303);
    let (_, after) = api_get(&app, &format!("/api/v1/messages/{id}")).await;
    assert_eq!(expiry(&after) - expiry(&before), time::Duration::days(5));
    assert!(common::event_types(&after, 0).contains(&"extended".to_string()));
    let (_, page) = p.get(&location).await;
    assert!(page.contains("Beschikbaarheid verlengd"));
    // Beyond the maximum (365 days from sending): refused with an error on the field.
    let (status, _, page) = p.post(&path, &[("csrf", &csrf), ("days", "400")]).await;
    assert_eq!(status, 422);
    assert!(
        page.contains(r#"id="verlengen-fout""#) && page.contains("verlengen-uitleg verlengen-fout")
    );
    let (status, _, _) = p.post(&path, &[("csrf", &csrf), ("days", "0")]).await;
    assert_eq!(status, 422);
    let (_, same) = api_get(&app, &format!("/api/v1/messages/{id}")).await;
    assert_eq!(expiry(&same), expiry(&after));
    // The API: 1 day more; beyond: 422; a missing field: 400.
    let (status, v) = api_post(
        &app,
        &format!("/api/v1/messages/{id}/extend"),
        json!({"days": 1}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(expiry(&v) - expiry(&after), time::Duration::days(1));
    let (status, _) = api_post(
        &app,
        &format!("/api/v1/messages/{id}/extend"),
        json!({"days": 365}),
    )
    .await;
    assert_eq!(status, 422);
    let (status, _) = api_post(&app, &format!("/api/v1/messages/{id}/extend"), json!({})).await;
    assert_eq!(status, 400);
    // Revoked: gone.
    let (status, _) = api_post(&app, &format!("/api/v1/messages/{id}/revoke"), json!({})).await;
    assert_eq!(status, 200);
    let (status, _) = api_post(
        &app,
        &format!("/api/v1/messages/{id}/extend"),
        json!({"days": 1}),
    )
    .await;
    assert_eq!(status, 410);
}

async fn the_inbox_marks_unread_and_an_answer_lands_in_the_thread(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let p = Pages::new(&app).await;
    send_with_attachment(&app).await;
    let link = app.link_token(PATIENT);
    let at = app.open_by_email(&link, PATIENT).await;
    let form = reqwest::multipart::Form::new()
        .part(
            "message",
            reqwest::multipart::Part::text(json!({"body": "Wat betekent dit?"}).to_string())
                .mime_str("application/json")
                .unwrap(),
        )
        .part(
            "attachment",
            reqwest::multipart::Part::bytes(b"vraag".to_vec())
                .file_name("../vraag.txt")
                .mime_str("text/plain")
                .unwrap(),
        );
    let res = app
        .client
        .post(app.url(&format!("/api/v1/access/{link}/replies")))
        .bearer_auth(&at)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let reply: Value = res.json().await.unwrap();
    let reply_id = reply["id"].as_str().unwrap();
    app.run_jobs().await;
    let (status, inbox) = p.get("/inbox").await;
    assert_eq!(status, 200);
    assert!(inbox.contains(">Ongelezen<"), "{inbox}");
    assert!(inbox.contains(&format!("/inbox/{reply_id}")));
    let (status, page) = p.get(&format!("/inbox/{reply_id}")).await;
    assert_eq!(status, 200);
    assert!(page.contains("Wat betekent dit?"));
    let (_, inbox) = p.get("/inbox").await;
    assert!(!inbox.contains(">Ongelezen<"), "read now");
    // The reply's attachment: a download with a safe name.
    let aid = regex::Regex::new(&format!(r#"/inbox/{reply_id}/bijlage/([0-9a-f-]+)"#))
        .unwrap()
        .captures(&page)
        .unwrap()[1]
        .to_string();
    let res = app
        .client
        .get(app.url(&format!("/inbox/{reply_id}/bijlage/{aid}")))
        .header("cookie", &p.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cd = res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(cd.starts_with("attachment"), "{cd}");
    assert!(
        !cd.contains('/') && cd.contains("vraag.txt"),
        "a safe name: {cd}"
    );
    assert_eq!(res.bytes().await.unwrap().as_ref(), b"vraag");
    // The answer: CSRF first, then the text and a file.
    let csrf = common::csrf_of(&page);
    let answer = |csrf: String| {
        reqwest::multipart::Form::new()
            .text("csrf", csrf)
            .text("body", "Dat is een goede uitslag.")
            .part(
                "attachment",
                reqwest::multipart::Part::bytes(b"toelichting".to_vec())
                    .file_name("toelichting.txt")
                    .mime_str("text/plain")
                    .unwrap(),
            )
    };
    let post = |form| {
        app.client
            .post(app.url(&format!("/inbox/{reply_id}/antwoord")))
            .header("cookie", &p.cookie)
            .multipart(form)
            .send()
    };
    let res = post(answer("fout".into())).await.unwrap();
    assert_eq!(res.status(), 403);
    let res = post(answer(csrf)).await.unwrap();
    assert_eq!(res.status(), 303);
    app.run_jobs().await;
    // The patient sees it in the same thread (their session of the first message).
    let res = app
        .client
        .get(app.url(&format!("/api/v1/access/{link}/thread")))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let thread: Value = res.json().await.unwrap();
    let items = thread["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{thread}");
    assert_eq!(items[2]["body"], "Dat is een goede uitslag.");
    assert_eq!(items[2]["subject"], "Re: Uitslag bloedonderzoek");
    assert_eq!(items[2]["attachments"][0]["name"], "toelichting.txt");
    // And got a notification for it with a link of its own.
    let answer_link = app.link_token(PATIENT);
    assert_ne!(answer_link, link);
    // Another sender: 404 on the reply, its attachment and the answer.
    let other = app
        .z
        .create_user(zegel_core::service::NewUserReq {
            email: "collega@ziekenhuis.example".into(),
            name: "Dr. Collega".into(),
            org_slug: Some("default".into()),
            password: None,
            role: zegel_core::model::Role::Sender,
        })
        .await
        .unwrap();
    let theirs = Pages {
        app: &app,
        cookie: app.sender_cookie(&other.email).await,
    };
    assert_eq!(theirs.get(&format!("/inbox/{reply_id}")).await.0, 404);
    assert_eq!(
        theirs
            .get(&format!("/inbox/{reply_id}/bijlage/{aid}"))
            .await
            .0,
        404
    );
    let (_, their_inbox) = theirs.get("/inbox").await;
    assert!(!their_inbox.contains(reply_id));
}

backend_tests!(
    pages_need_a_session_and_another_senders_ids_are_404,
    the_message_page_shows_opened_downloaded_and_where_from,
    the_sent_list_filters_and_pages,
    revoke_needs_confirmation_and_csrf,
    a_new_link_makes_the_old_one_stop_working,
    extend_changes_expiry_within_the_maximum,
    the_inbox_marks_unread_and_an_answer_lands_in_the_thread,
);

//! The HTTP contract (DESIGN.md) end to end through the real router, on SQLite and PostgreSQL.

mod common;

use common::{csrf_of, event_types, random_bytes, Backend, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn app(b: Backend) -> Option<TestApp> {
    TestApp::new(b).await
}

fn multipart_message(msg: &Value) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new().part(
        "message",
        reqwest::multipart::Part::text(msg.to_string())
            .mime_str("application/json")
            .unwrap(),
    )
}

fn file_part(name: &str, bytes: Vec<u8>, ct: &str) -> reqwest::multipart::Part {
    reqwest::multipart::Part::bytes(bytes)
        .file_name(name.to_string())
        .mime_str(ct)
        .unwrap()
}

async fn status_of(app: &TestApp, id: &str) -> Value {
    let res = app
        .client
        .get(app.url(&format!("/api/v1/messages/{id}")))
        .header("authorization", app.auth())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn sender_sends_and_recipient_reads_with_an_email_code(b: Backend) {
    let Some(app) = app(b).await else { return };
    let res = app
        .send_json(json!({
            "subject": "Uitslag MRI knie",
            "body": "Beste Jan,\nDe MRI is goed.",
            "recipients": [{"email": "Jan@Example.nl", "verification": "email"}],
            "reply": "once",
            "expires_in_days": 7
        }))
        .await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["recipients"][0]["email"], "jan@example.nl");
    assert_eq!(created["recipients"][0]["status"], "queued");
    assert!(created["expires_at"].as_str().unwrap().ends_with('Z'));
    assert!(created["recipients"][0].get("code").is_none());

    assert_eq!(app.run_jobs().await, 1);
    let mails = app.outbox("mail");
    assert_eq!(mails.len(), 1);
    let raw = &mails[0];
    let msg = mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .unwrap();
    assert_eq!(
        msg.from().unwrap().first().unwrap().name().unwrap(),
        "Ziekenhuis Test"
    );
    assert!(raw.contains("Auto-Submitted: auto-generated"));
    assert_eq!(
        msg.reply_to().unwrap().first().unwrap().address().unwrap(),
        "zegel@ziekenhuis.example"
    );
    assert!(msg.message_id().is_some());
    let text = msg.body_text(0).unwrap();
    let html = msg.body_html(0).unwrap();
    assert!(text.contains("Dr. Test") && text.contains("Ziekenhuis Test"));
    assert!(html.contains("Bericht lezen"));
    for m in [raw.as_str(), &text, &html] {
        assert!(!m.contains("MRI"), "notification leaks the subject or body");
        assert!(!m.contains("Uitslag"), "notification leaks the subject");
    }
    let link = app.link_token("jan@example.nl");
    assert!(text.contains(&format!("{}/m/{link}", app.base)));

    let status = status_of(&app, &id).await;
    assert_eq!(status["recipients"][0]["status"], "notified");
    assert_eq!(status["subject"], "Uitslag MRI knie");

    let res = app
        .client
        .post(app.url(&format!("/api/v1/access/{link}/challenge")))
        .json(&json!({"method": "email"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let ch: Value = res.json().await.unwrap();
    assert_eq!(ch["method"], "email");
    assert_eq!(ch["masked_destination"], "j***@example.nl");
    assert_eq!(ch["expires_in_seconds"], 900);
    app.run_jobs().await;
    let code = app.last_code("jan@example.nl");
    let code_mail = app.outbox("mail").pop().unwrap();
    assert!(!code_mail.contains("MRI") && !code_mail.contains("Uitslag"));

    let res = app
        .client
        .post(app.url(&format!("/api/v1/access/{link}/verify")))
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let grant: Value = res.json().await.unwrap();
    let at = grant["access_token"].as_str().unwrap();
    assert!(grant["expires_in_seconds"].as_i64().unwrap() > 0);

    let res = app
        .client
        .get(app.url(&format!("/api/v1/access/{link}/message")))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let m: Value = res.json().await.unwrap();
    assert_eq!(m["subject"], "Uitslag MRI knie");
    assert_eq!(m["body"], "Beste Jan,\nDe MRI is goed.");
    assert_eq!(m["sender"]["name"], "Dr. Test");
    assert_eq!(m["sender"]["organisation"], "Ziekenhuis Test");
    assert_eq!(m["reply_allowed"], true);
    assert_eq!(m["attachments"], json!([]));
    assert!(m["sent_at"].is_string() && m["expires_at"].is_string());

    let status = status_of(&app, &id).await;
    assert_eq!(status["recipients"][0]["status"], "opened");
    let types = event_types(&status, 0);
    for t in ["notified", "opened", "viewed"] {
        assert!(
            types.contains(&t.to_string()),
            "missing event {t} in {types:?}"
        );
    }
    // Events never carry codes or tokens.
    let all = status.to_string();
    assert!(!common::holds_code(&all, &code) && !all.contains(&link));
}

async fn attachments_stream_in_encrypted_and_download_intact(b: Backend) {
    let Some(app) = app(b).await else { return };
    let big = random_bytes(3 * 1024 * 1024 + 17);
    let small = b"kleine bijlage".to_vec();
    let form = multipart_message(&json!({
        "subject": "Scan",
        "body": "Zie bijlagen",
        "recipients": [{"email": "p@example.nl", "verification": "email"}]
    }))
    .part(
        "attachment",
        file_part("scan knie.bin", big.clone(), "application/octet-stream"),
    )
    .part(
        "attachment",
        file_part("verslag é.pdf", small.clone(), "application/pdf"),
    );
    let res = app
        .client
        .post(app.url("/api/v1/messages"))
        .header("authorization", app.auth())
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    app.run_jobs().await;
    let blobs = app.blob_keys().await;
    assert_eq!(blobs.len(), 2);
    // Ciphertext only: the stored blob is not the plaintext.
    let stored = std::fs::read(app.dir.path().join("blobs").join(&blobs[0])).unwrap();
    assert!(
        stored.len() as u64 == zegel_crypto::ciphertext_len(big.len() as u64)
            || stored.len() as u64 == zegel_crypto::ciphertext_len(small.len() as u64)
    );
    assert!(!stored.windows(32).any(|w| w == &big[1000..1032]));

    let link = app.link_token("p@example.nl");
    let at = app.open_by_email(&link, "p@example.nl").await;
    let m: Value = app
        .client
        .get(app.url(&format!("/api/v1/access/{link}/message")))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let atts = m["attachments"].as_array().unwrap();
    assert_eq!(atts.len(), 2);
    assert_eq!(atts[0]["name"], "scan knie.bin");
    assert_eq!(atts[0]["size"], big.len());
    assert_eq!(atts[1]["name"], "verslag é.pdf");
    assert_eq!(atts[1]["content_type"], "application/pdf");
    for (att, expected) in atts.iter().zip([&big, &small]) {
        let res = app
            .client
            .get(app.url(&format!(
                "/api/v1/access/{link}/attachments/{}",
                att["id"].as_str().unwrap()
            )))
            .bearer_auth(&at)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let cd = res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(cd.starts_with("attachment;"), "{cd}");
        assert_eq!(res.headers()["content-type"], "application/octet-stream");
        assert_eq!(res.bytes().await.unwrap().as_ref(), expected.as_slice());
    }
    let res = app
        .client
        .get(app.url(&format!("/api/v1/access/{link}/attachments/nope")))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

async fn sms_verification_masks_the_number_and_sends_a_code(b: Backend) {
    let Some(app) = app(b).await else { return };
    let res = app
        .send_json(json!({
            "subject": "s", "body": "b",
            "recipients": [{"email": "sms@example.nl", "phone": "06 1234 5678", "verification": "sms"}]
        }))
        .await;
    assert_eq!(res.status(), 201);
    app.run_jobs().await;
    let link = app.link_token("sms@example.nl");
    let wrong = app
        .client
        .post(app.url(&format!("/api/v1/access/{link}/challenge")))
        .json(&json!({"method": "email"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 422);
    let res = app
        .client
        .post(app.url(&format!("/api/v1/access/{link}/challenge")))
        .json(&json!({"method": "sms"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let ch: Value = res.json().await.unwrap();
    assert_eq!(ch["masked_destination"], "06-****-**78");
    app.run_jobs().await;
    let sms: Value = serde_json::from_str(&app.outbox("sms").pop().unwrap()).unwrap();
    assert_eq!(sms["to"], "+31612345678");
    let code = app.last_code("+31612345678");
    assert_eq!(
        regex::Regex::new(r"\d{6}")
            .unwrap()
            .find_iter(sms["body"].as_str().unwrap())
            .count(),
        1
    );
    let res = app
        .client
        .post(app.url(&format!("/api/v1/access/{link}/verify")))
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

async fn code_from_the_sender_works_and_a_generated_one_is_returned_once(b: Backend) {
    let Some(app) = app(b).await else { return };
    let res = app
        .send_json(json!({
            "subject": "s", "body": "b",
            "recipients": [
                {"email": "a@example.nl", "verification": "code", "code": "246810", "code_hint": "de code die ik u telefonisch gaf"},
                {"email": "b@example.nl", "verification": "code"}
            ]
        }))
        .await;
    assert_eq!(res.status(), 201);
    let v: Value = res.json().await.unwrap();
    assert!(v["recipients"][0].get("code").is_none());
    let generated = v["recipients"][1]["code"].as_str().unwrap().to_string();
    assert_eq!(generated.len(), 6);
    app.run_jobs().await;
    let link_a = app.link_token("a@example.nl");
    let res = app
        .client
        .post(app.url(&format!("/api/v1/access/{link_a}/challenge")))
        .json(&json!({"method": "sms"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let page = app
        .client
        .get(app.url(&format!("/m/{link_a}/code")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("de code die ik u telefonisch gaf"));
    let verify = |link: String, code: &'static str| {
        let app = &app;
        async move {
            app.client
                .post(app.url(&format!("/api/v1/access/{link}/verify")))
                .json(&json!({"code": code}))
                .send()
                .await
                .unwrap()
        }
    };
    let res = verify(link_a.clone(), "111111").await;
    assert_eq!(res.status(), 401);
    assert_eq!(res.json::<Value>().await.unwrap()["remaining_attempts"], 4);
    assert_eq!(verify(link_a.clone(), "246810").await.status(), 200);
    // The sender's code works on a later visit too.
    assert_eq!(verify(link_a.clone(), "246810").await.status(), 200);
    let link_b = app.link_token("b@example.nl");
    let res = app
        .client
        .post(app.url(&format!("/api/v1/access/{link_b}/verify")))
        .json(&json!({"code": generated}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // A hint with personal data is refused.
    let res = app
        .send_json(json!({"subject": "s", "recipients": [{"email": "c@example.nl", "verification": "code", "code_hint": "uw geboortedatum"}]}))
        .await;
    assert_eq!(res.status(), 422);
}

async fn wrong_codes_count_down_then_lock_even_the_right_code(b: Backend) {
    let Some(app) = app(b).await else { return };
    let (_, link) = app.send_simple("lock@example.nl").await;
    let res = app
        .client
        .post(app.url(&format!("/api/v1/access/{link}/challenge")))
        .json(&json!({"method": "email"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    app.run_jobs().await;
    let code = app.last_code("lock@example.nl");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for expected in [4, 3, 2, 1, 0] {
        let res = app
            .client
            .post(app.url(&format!("/api/v1/access/{link}/verify")))
            .json(&json!({"code": wrong}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["error"], "wrong_code");
        assert_eq!(v["remaining_attempts"], expected);
    }
    let res = app
        .client
        .post(app.url(&format!("/api/v1/access/{link}/verify")))
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 800 && retry <= 900, "{retry}");
    let res = app
        .client
        .post(app.url(&format!("/api/v1/access/{link}/challenge")))
        .json(&json!({"method": "email"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    // The lockout is in the database, so every node and a restart see it.
    let a = app
        .z
        .store
        .access_by_link_hash(&zegel_crypto::token_hash(&link))
        .await
        .unwrap()
        .unwrap();
    assert!(a.recipient.locked_until.is_some());
    let page = app
        .client
        .get(app.url(&format!("/m/{link}/code")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 429);
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("Te vaak een verkeerde code"));
}

async fn a_new_challenge_replaces_the_code_and_codes_are_one_time(b: Backend) {
    let Some(app) = app(b).await else { return };
    let (_, link) = app.send_simple("one@example.nl").await;
    let challenge = || async {
        let res = app
            .client
            .post(app.url(&format!("/api/v1/access/{link}/challenge")))
            .json(&json!({"method": "email"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 202);
        app.run_jobs().await;
        app.last_code("one@example.nl")
    };
    let (app, link) = (&app, &link);
    let verify = |code: String| async move {
        app.client
            .post(app.url(&format!("/api/v1/access/{link}/verify")))
            .json(&json!({"code": code}))
            .send()
            .await
            .unwrap()
            .status()
    };
    let first = challenge().await;
    let mut second = challenge().await;
    while second == first {
        second = challenge().await;
    }
    assert_eq!(verify(first).await, StatusCode::UNAUTHORIZED);
    assert_eq!(verify(second.clone()).await, StatusCode::OK);
    assert_eq!(verify(second).await, StatusCode::UNAUTHORIZED);
}

async fn unknown_links_are_404_and_revoked_or_expired_links_410(b: Backend) {
    let Some(app) = app(b).await else { return };
    let unknown = zegel_crypto::random_token();
    for path in [
        format!("/api/v1/access/{unknown}/verify"),
        format!("/api/v1/access/{unknown}/challenge"),
    ] {
        let res = app
            .client
            .post(app.url(&path))
            .json(&json!({"code": "123456", "method": "email"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{path}");
    }
    let res = app
        .client
        .get(app.url(&format!("/m/{unknown}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert!(res.text().await.unwrap().contains("Deze link werkt niet"));

    let (id, link) = app.send_simple("rev@example.nl").await;
    let at = app.open_by_email(&link, "rev@example.nl").await;
    let res = app
        .client
        .post(app.url(&format!("/api/v1/messages/{id}/revoke")))
        .header("authorization", app.auth())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["state"], "revoked");
    assert_eq!(v["subject"], Value::Null);
    assert_eq!(v["recipients"][0]["status"], "revoked");
    assert!(
        app.z.store.message_key(&id).await.unwrap().is_none(),
        "key must be destroyed"
    );
    let res = app
        .client
        .get(app.url(&format!("/api/v1/access/{link}/message")))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 410);
    let res = app
        .client
        .post(app.url(&format!("/api/v1/access/{link}/verify")))
        .json(&json!({"code": "123456"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 410);
    let res = app
        .client
        .get(app.url(&format!("/m/{link}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 410);
    let page = res.text().await.unwrap();
    assert!(page.contains("ingetrokken") && page.contains("Dr. Test"));

    let (id2, link2) = app.send_simple("exp@example.nl").await;
    assert!(app
        .z
        .store
        .destroy_message(
            &id2,
            zegel_core::model::MessageState::Expired,
            zegel_core::model::Ts::now(),
            "system"
        )
        .await
        .unwrap());
    let res = app
        .client
        .get(app.url(&format!("/m/{link2}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 410);
    assert!(res.text().await.unwrap().contains("verlopen"));
    let res = app
        .client
        .post(app.url(&format!("/api/v1/access/{link2}/challenge")))
        .json(&json!({"method": "email"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 410);
    // Another sender cannot see or revoke it.
    let other = app.z.ensure_user("ander@ziekenhuis.example").await.unwrap();
    let other_token = app.z.create_api_token(&other, "t").await.unwrap();
    let res = app
        .client
        .get(app.url(&format!("/api/v1/messages/{id2}")))
        .bearer_auth(&other_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

async fn the_access_api_needs_the_session_of_that_recipient(b: Backend) {
    let Some(app) = app(b).await else { return };
    let res = app
        .send_json(json!({"subject": "s", "body": "b", "recipients": [
            {"email": "x@example.nl", "verification": "email"},
            {"email": "y@example.nl", "verification": "email"}]}))
        .await;
    assert_eq!(res.status(), 201);
    app.run_jobs().await;
    let link_x = app.link_token("x@example.nl");
    let link_y = app.link_token("y@example.nl");
    let at_x = app.open_by_email(&link_x, "x@example.nl").await;
    let get = |link: &str, bearer: Option<&str>| {
        let mut r = app
            .client
            .get(app.url(&format!("/api/v1/access/{link}/message")));
        if let Some(b) = bearer {
            r = r.bearer_auth(b);
        }
        r.send()
    };
    assert_eq!(get(&link_x, None).await.unwrap().status(), 401);
    assert_eq!(get(&link_x, Some(&app.token)).await.unwrap().status(), 401);
    assert_eq!(get(&link_x, Some("garbage")).await.unwrap().status(), 401);
    let cross = get(&link_y, Some(&at_x)).await.unwrap().status();
    assert!(cross == 401 || cross == 403, "{cross}");
    assert_eq!(get(&link_x, Some(&at_x)).await.unwrap().status(), 200);
    // The sender API refuses access tokens and garbage.
    let res = app
        .client
        .get(app.url("/api/v1/messages"))
        .bearer_auth(&at_x)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = app
        .client
        .get(app.url("/api/v1/messages"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "unauthorized");
}

async fn bad_input_gets_a_clear_error_and_stores_nothing(b: Backend) {
    let Some(app) = app(b).await else { return };
    let ok_recipient = json!({"email": "p@example.nl", "verification": "email"});
    let many: Vec<Value> = (0..51)
        .map(|i| json!({"email": format!("p{i}@example.nl"), "verification": "email"}))
        .collect();
    let cases: Vec<(&str, Value, u16)> = vec![
        ("missing recipients", json!({"subject": "s"}), 400),
        (
            "recipients not a list",
            json!({"subject": "s", "recipients": "p@example.nl"}),
            422,
        ),
        (
            "unknown verification",
            json!({"subject": "s", "recipients": [{"email": "p@example.nl", "verification": "fax"}]}),
            422,
        ),
        (
            "invalid e-mail",
            json!({"subject": "s", "recipients": [{"email": "not-an-address", "verification": "email"}]}),
            422,
        ),
        (
            "header injection in e-mail",
            json!({"subject": "s", "recipients": [{"email": "p@example.nl\r\nBcc: x@example.nl", "verification": "email"}]}),
            422,
        ),
        (
            "sms without phone",
            json!({"subject": "s", "recipients": [{"email": "p@example.nl", "verification": "sms"}]}),
            422,
        ),
        (
            "invalid phone",
            json!({"subject": "s", "recipients": [{"email": "p@example.nl", "phone": "12", "verification": "sms"}]}),
            422,
        ),
        (
            "too many recipients",
            json!({"subject": "s", "recipients": many}),
            422,
        ),
        (
            "no recipients",
            json!({"subject": "s", "recipients": []}),
            422,
        ),
        (
            "empty subject",
            json!({"subject": "  ", "recipients": [ok_recipient.clone()]}),
            422,
        ),
        (
            "bad reply policy",
            json!({"subject": "s", "recipients": [ok_recipient.clone()], "reply": "all"}),
            422,
        ),
        (
            "expiry out of range",
            json!({"subject": "s", "recipients": [ok_recipient.clone()], "expires_in_days": 0}),
            422,
        ),
        (
            "code of 5 digits",
            json!({"subject": "s", "recipients": [{"email": "p@example.nl", "verification": "code", "code": "12345"}]}),
            422,
        ),
        (
            "unknown field",
            json!({"subject": "s", "recipients": [ok_recipient.clone()], "bcc": "x"}),
            422,
        ),
    ];
    for (what, body, status) in cases {
        let res = app.send_json(body).await;
        assert_eq!(res.status().as_u16(), status, "{what}");
        let v: Value = res.json().await.unwrap();
        assert!(v["error"].is_string(), "{what}: {v}");
    }
    // Not JSON at all.
    let res = app
        .client
        .post(app.url("/api/v1/messages"))
        .header("authorization", app.auth())
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "bad_request");
    let res = app
        .client
        .post(app.url("/api/v1/messages"))
        .header("authorization", app.auth())
        .header("content-type", "text/plain")
        .body("hallo")
        .send()
        .await
        .unwrap();
    // DESIGN.md "Hostile clients": not JSON (nor multipart) is 415, no longer 400.
    assert_eq!(res.status(), 415);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "unsupported_media_type"
    );
    // Multipart whose first part is not `message`.
    let form = reqwest::multipart::Form::new()
        .part(
            "attachment",
            file_part("a.txt", b"abc".to_vec(), "text/plain"),
        )
        .part(
            "message",
            reqwest::multipart::Part::text(
                json!({"subject": "s", "recipients": [ok_recipient.clone()]}).to_string(),
            ),
        );
    let res = app
        .client
        .post(app.url("/api/v1/messages"))
        .header("authorization", app.auth())
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    // A valid message followed by an unexpected part: 400 and the attachment before it is removed.
    let form = multipart_message(&json!({"subject": "s", "recipients": [ok_recipient.clone()]}))
        .part(
            "attachment",
            file_part("a.txt", b"abc".to_vec(), "text/plain"),
        )
        .part("other", reqwest::multipart::Part::text("x"));
    let res = app
        .client
        .post(app.url("/api/v1/messages"))
        .header("authorization", app.auth())
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    // Broken multipart framing.
    let res = app
        .client
        .post(app.url("/api/v1/messages"))
        .header("authorization", app.auth())
        .header("content-type", "multipart/form-data; boundary=XYZ")
        .body("--XYZ\r\nContent-Disposition: form-data; name=\"message\"\r\n\r\n{\"subject\":")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    // Nothing was stored by any of these.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(app.sent_messages().await, Vec::<Value>::new());
    assert_eq!(app.blob_keys().await, Vec::<String>::new());
    assert_eq!(app.z.store.job_counts().await.unwrap(), (0, 0));
}

async fn crlf_in_the_subject_never_reaches_a_header(b: Backend) {
    let Some(app) = app(b).await else { return };
    let res = app
        .send_json(
            json!({"subject": "Hallo\r\nBcc: evil@example.nl", "body": "b",
            "recipients": [{"email": "crlf@example.nl", "verification": "email"}]}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let st = status_of(&app, &id).await;
    let subject = st["subject"].as_str().unwrap();
    assert!(!subject.contains('\r') && !subject.contains('\n'));
    app.run_jobs().await;
    assert!(!app.outbox("mail")[0].contains("evil@example.nl"));
}

async fn an_oversize_upload_is_refused_while_streaming_and_leaves_nothing(b: Backend) {
    let Some(app) = TestApp::builder(b)
        .settings(|s| s.max_upload_bytes = 1024 * 1024)
        .build()
        .await
    else {
        return;
    };
    let msg = json!({"subject": "s", "recipients": [{"email": "big@example.nl", "verification": "email"}]});
    // With Content-Length.
    let form = multipart_message(&msg)
        .part(
            "attachment",
            file_part(
                "a.bin",
                random_bytes(600 * 1024),
                "application/octet-stream",
            ),
        )
        .part(
            "attachment",
            file_part(
                "b.bin",
                random_bytes(600 * 1024),
                "application/octet-stream",
            ),
        );
    let res = app
        .client
        .post(app.url("/api/v1/messages"))
        .header("authorization", app.auth())
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "too_large");
    // Chunked, without Content-Length, far over every limit.
    let boundary = "zegelgrens";
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"message\"\r\nContent-Type: application/json\r\n\r\n{msg}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"attachment\"; filename=\"groot.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    );
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = std::iter::once(Ok(head.into_bytes()))
        .chain((0..64).map(|_| Ok(vec![b'x'; 256 * 1024])))
        .chain(std::iter::once(Ok(
            format!("\r\n--{boundary}--\r\n").into_bytes()
        )))
        .collect();
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let res = app
        .client
        .post(app.url("/api/v1/messages"))
        .header("authorization", app.auth())
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await;
    // The server may answer 413 and close before reading everything.
    if let Ok(res) = res {
        assert_eq!(res.status(), 413);
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        app.blob_keys().await,
        Vec::<String>::new(),
        "no orphan blobs"
    );
    assert_eq!(app.sent_messages().await, Vec::<Value>::new());
    // Just under the limit still works.
    let form = multipart_message(&msg).part(
        "attachment",
        file_part(
            "ok.bin",
            random_bytes(1000 * 1024),
            "application/octet-stream",
        ),
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
    assert_eq!(
        app.run_jobs().await,
        1,
        "one notification, for the one message kept"
    );
}

async fn the_landing_page_changes_nothing(b: Backend) {
    let Some(app) = app(b).await else { return };
    let (id, link) = app.send_simple("scan@example.nl").await;
    let before = status_of(&app, &id).await;
    for _ in 0..3 {
        let res = app
            .client
            .get(app.url(&format!("/m/{link}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let page = res.text().await.unwrap();
        assert!(page.contains("Bericht openen") && page.contains("Dr. Test"));
        assert!(!page.contains("Uitslag"), "no content before verification");
    }
    let res = app
        .client
        .get(app.url(&format!("/m/{link}/send")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let after = status_of(&app, &id).await;
    assert_eq!(before["recipients"], after["recipients"]);
    assert_eq!(app.run_jobs().await, 0, "a GET queued no job");
    assert!(app.outbox("mail").len() == 1, "no code was sent by a GET");
}

async fn the_html_viewer_flow_works_with_csrf_and_a_session_cookie(b: Backend) {
    let Some(app) = app(b).await else { return };
    let (_, link) = app.send_simple("html@example.nl").await;
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let c = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = c
        .get(app.url(&format!("/m/{link}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_of(&page);
    // Without the CSRF token: refused.
    let res = c
        .post(app.url(&format!("/m/{link}/start")))
        .form(&[("csrf", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = app
        .client
        .post(app.url(&format!("/m/{link}/start")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "token without its cookie is refused");
    let res = c
        .post(app.url(&format!("/m/{link}/start")))
        .header("origin", "https://evil.example")
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "foreign origin is refused");
    let res = c
        .post(app.url(&format!("/m/{link}/start")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], format!("/m/{link}/send"));
    let page = c
        .get(app.url(&format!("/m/{link}/send")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("h***@example.nl"));
    let res = c
        .post(app.url(&format!("/m/{link}/send")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    app.run_jobs().await;
    let code = app.last_code("html@example.nl");
    let page = c
        .get(app.url(&format!("/m/{link}/code")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(r#"name="code""#)
            && page.contains(r#"autocomplete="one-time-code""#)
            && page.contains(r#"inputmode="numeric""#)
    );
    let wrong = if code == "999999" { "111111" } else { "999999" };
    let res = c
        .post(app.url(&format!("/m/{link}/verify")))
        .form(&[("csrf", csrf.as_str()), ("code", wrong)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.text().await.unwrap().contains("nog 4 keer"));
    let res = c
        .post(app.url(&format!("/m/{link}/verify")))
        .form(&[("csrf", csrf.as_str()), ("code", code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let set_cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(set_cookie.starts_with("zegel_"), "{set_cookie}");
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    let res = c
        .get(app.url(&format!("/m/{link}/bericht")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(page.contains("Uitslag") && page.contains("Alles goed."));
    // Without the cookie, the message page sends you back to the start.
    let res = app
        .client
        .get(app.url(&format!("/m/{link}/bericht")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
}

async fn every_response_carries_the_security_headers(b: Backend) {
    let Some(app) = app(b).await else { return };
    let (_, link) = app.send_simple("hdr@example.nl").await;
    let responses = vec![
        app.client.get(app.url("/healthz")).send().await.unwrap(),
        app.client.get(app.url("/readyz")).send().await.unwrap(),
        app.client
            .get(app.url("/api/v1/messages"))
            .header("authorization", app.auth())
            .send()
            .await
            .unwrap(),
        app.client
            .get(app.url("/api/v1/nope"))
            .send()
            .await
            .unwrap(),
        app.client
            .get(app.url(&format!("/m/{link}")))
            .send()
            .await
            .unwrap(),
        app.client.get(app.url("/m/unknown")).send().await.unwrap(),
        app.client
            .get(app.url("/api/v1/openapi.json"))
            .send()
            .await
            .unwrap(),
    ];
    for res in responses {
        let h = res.headers();
        assert_eq!(
            h["content-security-policy"],
            "default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
        );
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["cache-control"], "no-store");
    }
    let openapi: Value = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(openapi["paths"]["/api/v1/messages"]["post"].is_object());
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("zegel_jobs_pending 0"), "{metrics}");
    let twos: u64 = regex::Regex::new(r#"zegel_http_requests_total\{class="2xx"\} (\d+)"#)
        .unwrap()
        .captures(&metrics)
        .unwrap()[1]
        .parse()
        .unwrap();
    assert!(twos >= 5, "{metrics}");
}

async fn nothing_a_user_wrote_is_stored_in_plaintext(b: Backend) {
    let Some(app) = app(b).await else { return };
    let marker = |what: &str| format!("ZEGELMARKER{what}9f3a");
    let form = multipart_message(&json!({
        "subject": marker("SUBJECT"),
        "body": marker("BODY"),
        "recipients": [{"email": "plain@example.nl", "verification": "code", "code": "135790", "code_hint": marker("HINT")}]
    }))
    .part("attachment", file_part(&format!("{}.pdf", marker("FILENAME")), marker("CONTENT").repeat(1000).into_bytes(), "application/pdf"));
    let res = app
        .client
        .post(app.url("/api/v1/messages"))
        .header("authorization", app.auth())
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    app.run_jobs().await;
    let link = app.link_token("plain@example.nl");
    let res = app
        .client
        .post(app.url(&format!("/api/v1/access/{link}/verify")))
        .json(&json!({"code": "135790"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut haystacks: Vec<(String, Vec<u8>)> = Vec::new();
    for entry in walk(app.dir.path()) {
        if !entry.to_string_lossy().contains("outbox") {
            haystacks.push((entry.display().to_string(), std::fs::read(&entry).unwrap()));
        }
    }
    haystacks.push(("database".into(), common::dump_database(&app).await));
    // Positive control: the scan does see what is stored in clear on purpose (the address).
    let db = &haystacks.last().unwrap().1;
    assert!(
        db.windows(16).any(|w| w == b"plain@example.nl"),
        "the database scan reads nothing"
    );
    for what in ["SUBJECT", "BODY", "HINT", "FILENAME", "CONTENT"] {
        let m = marker(what);
        for (name, bytes) in &haystacks {
            assert!(
                !bytes.windows(m.len()).any(|w| w == m.as_bytes()),
                "{what} found in plaintext in {name}"
            );
        }
    }
    // The codes and link tokens are not stored either.
    for (name, bytes) in &haystacks {
        assert!(
            !bytes.windows(6).any(|w| w == b"135790"),
            "code found in {name}"
        );
        assert!(
            !bytes.windows(link.len()).any(|w| w == link.as_bytes()),
            "link token found in {name}"
        );
        assert!(
            !bytes
                .windows(app.token.len())
                .any(|w| w == app.token.as_bytes()),
            "API token found in {name}"
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

async fn a_job_held_by_a_dead_worker_runs_again_after_its_lease(b: Backend) {
    let Some(app) = TestApp::builder(b)
        .settings(|s| s.job_lease_ms = 500)
        .build()
        .await
    else {
        return;
    };
    let res = app
        .send_json(json!({"subject": "s", "body": "b", "recipients": [{"email": "lease@example.nl", "verification": "email"}]}))
        .await;
    assert_eq!(res.status(), 201);
    let id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // A worker claims the job and dies before sending.
    let claimed = app
        .z
        .store
        .claim_jobs(zegel_core::model::Ts::now(), 500, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(app.run_jobs().await, 0, "the lease is still held");
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert_eq!(app.run_jobs().await, 1);
    assert_eq!(
        status_of(&app, &id).await["recipients"][0]["status"],
        "notified"
    );
    assert_eq!(app.outbox("mail").len(), 1);
    assert_eq!(app.z.store.job_counts().await.unwrap(), (0, 0));
}

async fn the_sent_list_pages_newest_first(b: Backend) {
    let Some(app) = app(b).await else { return };
    for i in 0..3 {
        let res = app.send_json(json!({"subject": format!("bericht {i}"), "recipients": [{"email": "l@example.nl", "verification": "email"}]})).await;
        assert_eq!(res.status(), 201);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let list: Value = app
        .client
        .get(app.url("/api/v1/messages?limit=2"))
        .header("authorization", app.auth())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let msgs = list["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0]["subject"], "bericht 2");
    assert_eq!(msgs[1]["subject"], "bericht 1");
    let before = msgs[1]["sent_at"].as_str().unwrap();
    let list: Value = app
        .client
        .get(app.url(&format!("/api/v1/messages?before={before}")))
        .header("authorization", app.auth())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["messages"][0]["subject"], "bericht 0");
    assert_eq!(list["messages"].as_array().unwrap().len(), 1);
    assert_eq!(app.run_jobs().await, 3);
}

async fn strangers_are_rate_limited_per_address_with_retry_after(b: Backend) {
    let opts = zegel::http::HttpOptions {
        rate_limit_per_minute: 60,
        rate_limit_burst: 5,
        ..common::default_http()
    };
    let Some(app) = TestApp::builder(b).http(opts).build().await else {
        return;
    };
    let unknown = zegel_crypto::random_token();
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let res = app
            .client
            .post(app.url(&format!("/api/v1/access/{unknown}/verify")))
            .json(&json!({"code": "123456"}))
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
        if res.status() == 429 {
            let retry: u64 = res.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=60).contains(&retry));
            assert_eq!(res.json::<Value>().await.unwrap()["error"], "rate_limited");
        }
    }
    assert_eq!(&statuses[..5], &[404; 5]);
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    // The viewer shares the limit and answers with a page in the browser's language.
    let res = app
        .client
        .get(app.url(&format!("/m/{unknown}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    assert!(res.text().await.unwrap().contains("Even geduld"));
    // ... and in English to a browser that asks for English.
    let res = app
        .client
        .get(app.url(&format!("/m/{unknown}")))
        .header("accept-language", "en-GB,en;q=0.9")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("<html lang=\"en\">") && page.contains("Please wait a moment"),
        "{page}"
    );
    // Health checks and the sender API are not limited as strangers.
    assert_eq!(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    app.sent_messages().await; // answers 200
}

async fn an_upload_cut_off_midway_leaves_no_blob_behind(b: Backend) {
    let Some(app) = app(b).await else { return };
    let boundary = "zegelgrens";
    let msg = json!({"subject": "s", "recipients": [{"email": "cut@example.nl", "verification": "email"}]});
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"message\"\r\nContent-Type: application/json\r\n\r\n{msg}\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"attachment\"; filename=\"half.bin\"\r\n\r\n"
    );
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = std::iter::once(Ok(head.into_bytes()))
        .chain((0..40).map(|_| Ok(vec![b'y'; 256 * 1024])))
        .chain(std::iter::once(Err(std::io::Error::other(
            "client went away",
        ))))
        .collect();
    let res = app
        .client
        .post(app.url("/api/v1/messages"))
        .header("authorization", app.auth())
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await;
    assert!(res.is_err() || res.unwrap().status().is_client_error());
    let blob_dir = app.dir.path().join("blobs");
    let mut left = walk(&blob_dir);
    for _ in 0..50 {
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        left = walk(&blob_dir);
    }
    assert!(left.is_empty(), "files left behind: {left:?}");
    assert_eq!(app.sent_messages().await, Vec::<Value>::new());
}

async fn notifications_are_dkim_signed_with_rsa_or_ed25519(b: Backend) {
    use zegel_core::dkim::Dkim;
    let keys = [
        ("ed25519", zegel_testkit::dkim::ed25519_key()),
        ("rsa pkcs8", zegel_testkit::dkim::rsa_key(false)),
        ("rsa pkcs1", zegel_testkit::dkim::rsa_key(true)),
    ];
    for (what, (pem, record)) in keys {
        let dkim = Dkim::from_pem(pem.as_bytes(), "ziekenhuis.example", "zegel2026").unwrap();
        let Some(app) = TestApp::builder(b)
            .dkim(std::sync::Arc::new(dkim))
            .build()
            .await
        else {
            return;
        };
        app.send_simple("dkim@example.nl").await;
        let raw = app.outbox("mail").pop().unwrap();
        assert!(raw.starts_with("DKIM-Signature:"), "{what}");
        zegel_testkit::dkim::verify(raw.as_bytes(), "zegel2026", "ziekenhuis.example", &record)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        // Tampering breaks it; another key does not verify it.
        let tampered = raw.replace("Bericht lezen", "Bericht lezen!");
        assert!(
            zegel_testkit::dkim::verify(
                tampered.as_bytes(),
                "zegel2026",
                "ziekenhuis.example",
                &record
            )
            .await
            .is_err(),
            "{what}"
        );
        let (_, other) = zegel_testkit::dkim::ed25519_key();
        assert!(
            zegel_testkit::dkim::verify(raw.as_bytes(), "zegel2026", "ziekenhuis.example", &other)
                .await
                .is_err(),
            "{what}"
        );
    }
    // A key file that is not a key is refused at start-up.
    assert!(Dkim::from_pem(
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        "a.nl",
        "s"
    )
    .is_err());
    assert!(Dkim::from_pem(b"hello", "a.nl", "s").is_err());
}

async fn a_tampered_or_truncated_blob_never_downloads_as_wrong_bytes(b: Backend) {
    let Some(app) = app(b).await else { return };
    let data = random_bytes(300 * 1024);
    let form = multipart_message(&json!({"subject": "s", "recipients": [{"email": "t@example.nl", "verification": "email"}]}))
        .part("attachment", file_part("a.bin", data.clone(), "application/octet-stream"));
    let res = app
        .client
        .post(app.url("/api/v1/messages"))
        .header("authorization", app.auth())
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    app.run_jobs().await;
    let link = app.link_token("t@example.nl");
    let at = app.open_by_email(&link, "t@example.nl").await;
    let m: Value = app
        .client
        .get(app.url(&format!("/api/v1/access/{link}/message")))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let aid = m["attachments"][0]["id"].as_str().unwrap().to_string();
    let blob = app.dir.path().join("blobs").join(&app.blob_keys().await[0]);
    let original = std::fs::read(&blob).unwrap();
    let download = || async {
        match app
            .client
            .get(app.url(&format!("/api/v1/access/{link}/attachments/{aid}")))
            .bearer_auth(&at)
            .send()
            .await
        {
            Ok(res) => res.bytes().await.map(|b| b.to_vec()).ok(),
            Err(_) => None,
        }
    };
    assert_eq!(download().await.as_deref(), Some(data.as_slice()));
    // Truncated by one chunk's tail: the final chunk is missing.
    std::fs::write(&blob, &original[..original.len() - 100]).unwrap();
    let got = download().await;
    assert!(
        got.as_deref() != Some(data.as_slice()),
        "a truncated blob downloaded as the full file"
    );
    // One flipped bit in the middle.
    let mut flipped = original.clone();
    flipped[150 * 1024] ^= 1;
    std::fs::write(&blob, &flipped).unwrap();
    let got = download().await;
    assert!(
        got.as_deref() != Some(data.as_slice()),
        "a tampered blob downloaded as the original"
    );
    if let Some(bytes) = got {
        // Whatever arrived before the error is a verified prefix, never altered bytes.
        assert!(bytes.len() < data.len() && data.starts_with(&bytes));
    }
}

/// A send whose caller goes away while it commits (a client closing its connection drops the
/// request there) still ends whole: the message with its attachment blob, or nothing.
async fn a_commit_whose_caller_goes_away_stores_the_message_whole(b: Backend) {
    let Some(app) = app(b).await else { return };
    let principal = app.z.authenticate_api_token(&app.token).await.unwrap();
    let req: zegel_core::service::NewMessageReq = serde_json::from_value(json!({
        "subject": "Uitslag",
        "body": "Zie bijlage.",
        "recipients": [{"email": "p@example.nl", "verification": "email"}]
    }))
    .unwrap();
    let mut draft = app.z.begin_message(&principal, req).await.unwrap();
    let data = random_bytes(200 * 1024);
    let chunks = vec![Ok(bytes::Bytes::from(data.clone()))];
    draft
        .add_attachment(
            "uitslag.pdf",
            "application/pdf",
            futures::stream::iter(chunks),
        )
        .await
        .unwrap();
    let keys = app.blob_keys().await;
    assert_eq!(keys.len(), 1, "one blob after the upload");
    let ctx = zegel_core::ClientCtx {
        ip: None,
        user_agent: None,
    };
    // Polled once and dropped at its first wait, once the write is under way: a caller going
    // away. (A zero timeout raced the write: the timer's millisecond tick let a fast commit
    // finish on a second poll.)
    let cut = futures::FutureExt::now_or_never(draft.commit(&ctx));
    assert!(cut.is_none(), "the commit finished in its first poll");
    let mut listed = Vec::new();
    for _ in 0..100 {
        listed = app.sent_messages().await;
        if !listed.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(listed.len(), 1, "the message was stored");
    // Give a wrongly spawned clean-up the time to run, then check the blob is still there.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(app.blob_keys().await, keys);
    let id = listed[0]["id"].as_str().unwrap();
    assert_eq!(
        status_of(&app, id).await["recipients"][0]["status"],
        "queued"
    );
    // Its notification goes out like any other.
    assert_eq!(app.run_jobs().await, 1);
}

backend_tests!(
    a_commit_whose_caller_goes_away_stores_the_message_whole,
    a_tampered_or_truncated_blob_never_downloads_as_wrong_bytes,
    notifications_are_dkim_signed_with_rsa_or_ed25519,
    an_upload_cut_off_midway_leaves_no_blob_behind,
    strangers_are_rate_limited_per_address_with_retry_after,
    sender_sends_and_recipient_reads_with_an_email_code,
    attachments_stream_in_encrypted_and_download_intact,
    sms_verification_masks_the_number_and_sends_a_code,
    code_from_the_sender_works_and_a_generated_one_is_returned_once,
    wrong_codes_count_down_then_lock_even_the_right_code,
    a_new_challenge_replaces_the_code_and_codes_are_one_time,
    unknown_links_are_404_and_revoked_or_expired_links_410,
    the_access_api_needs_the_session_of_that_recipient,
    bad_input_gets_a_clear_error_and_stores_nothing,
    crlf_in_the_subject_never_reaches_a_header,
    an_oversize_upload_is_refused_while_streaming_and_leaves_nothing,
    the_landing_page_changes_nothing,
    the_html_viewer_flow_works_with_csrf_and_a_session_cookie,
    every_response_carries_the_security_headers,
    nothing_a_user_wrote_is_stored_in_plaintext,
    a_job_held_by_a_dead_worker_runs_again_after_its_lease,
    the_sent_list_pages_newest_first,
);

//! Conversations end to end through the real router, on SQLite and PostgreSQL: secure replies
//! (policy once / unlimited / off, the organisation's default and lock), the sender's inbox and
//! threads, answering in the same thread, secure forwards, remembered devices.

mod common;

use common::{
    browser, csrf_of, event_types as events, finish_in_viewer, open_in_viewer, page, random_bytes,
    start_in_viewer, Backend, TestApp,
};
use mail_parser::MimeHeaders;
use reqwest::StatusCode;
use serde_json::{json, Value};
use zegel_core::service::PolicyDoc;

const PATIENT: &str = "patient@mail.example";

fn reply_form(body: &str, files: Vec<(&str, Vec<u8>)>) -> reqwest::multipart::Form {
    let mut form = reqwest::multipart::Form::new().part(
        "message",
        reqwest::multipart::Part::text(json!({ "body": body }).to_string())
            .mime_str("application/json")
            .unwrap(),
    );
    for (name, bytes) in files {
        form = form.part(
            "attachment",
            reqwest::multipart::Part::bytes(bytes)
                .file_name(name.to_string())
                .mime_str("application/pdf")
                .unwrap(),
        );
    }
    form
}

async fn send(app: &TestApp, extra: Value) -> Value {
    let mut msg = json!({
        "subject": "Uitslag bloedonderzoek",
        "body": "De uitslag is goed.",
        "recipients": [{"email": PATIENT, "verification": "email"}],
    });
    for (k, v) in extra.as_object().unwrap() {
        msg[k] = v.clone();
    }
    let res = app.send_json(msg).await;
    let status = res.status();
    let v: Value = res.json().await.unwrap();
    assert_eq!(status, 201, "{v}");
    app.run_jobs().await;
    v
}

async fn reply(
    app: &TestApp,
    link: &str,
    at: &str,
    form: reqwest::multipart::Form,
) -> (StatusCode, Value) {
    let res = app
        .client
        .post(app.url(&format!("/api/v1/access/{link}/replies")))
        .bearer_auth(at)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn get(app: &TestApp, path: &str) -> (StatusCode, Value) {
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

async fn access_get(app: &TestApp, link: &str, at: &str, what: &str) -> (StatusCode, Value) {
    let res = app
        .client
        .get(app.url(&format!("/api/v1/access/{link}/{what}")))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn set_policy(app: &TestApp, doc: Value) {
    let doc: PolicyDoc = serde_json::from_value(doc).unwrap();
    app.z
        .set_org_policy_of(&app.sender.org_id, doc)
        .await
        .unwrap();
}

async fn a_reply_reaches_only_the_sender_and_the_conversation_continues(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let sent = send(
        &app,
        json!({
            "reply": "unlimited",
            "recipients": [
                {"email": PATIENT, "verification": "email"},
                {"email": "partner@mail.example", "verification": "email"}
            ]
        }),
    )
    .await;
    let mid = sent["id"].as_str().unwrap().to_string();
    assert_eq!(sent["thread_id"], mid.as_str());
    let link = app.link_token(PATIENT);
    let at = app.open_by_email(&link, PATIENT).await;
    let mails_before = app.outbox("mail").len();

    let scan = random_bytes(300_000);
    let (status, created) = reply(
        &app,
        &link,
        &at,
        reply_form(
            "Dank u, ik heb nog een vraag over mijn medicijnen.",
            vec![
                ("vragenlijst.pdf", scan.clone()),
                ("foto.pdf", vec![1, 2, 3]),
            ],
        ),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["attachment_count"], 2);
    assert_eq!(created["thread_id"], mid.as_str());
    let reply_id = created["id"].as_str().unwrap().to_string();

    // The sender's status: the patient replied; the other recipient did not.
    let (_, st) = get(&app, &format!("/api/v1/messages/{mid}")).await;
    assert_eq!(st["recipients"][0]["status"], "replied");
    assert!(events(&st, 0).contains(&"replied".to_string()));
    assert_ne!(st["recipients"][1]["status"], "replied");

    // Exactly one notification, to the sender only, with no content in it.
    app.run_jobs().await;
    let mails = app.outbox("mail");
    let new: Vec<&String> = mails[mails_before..].iter().collect();
    assert_eq!(new.len(), 1, "one mail: the sender's notification");
    let note = new[0];
    assert!(note.contains("To: arts@ziekenhuis.example"), "{note}");
    assert!(note.contains("beveiligd antwoord"));
    assert!(
        !note.contains("medicijnen") && !note.contains("vragenlijst") && !note.contains("Uitslag")
    );
    assert!(!note.contains("partner@mail.example"));

    // The inbox: one unread reply with its subject.
    let (status, inbox) = get(&app, "/api/v1/inbox").await;
    assert_eq!(status, 200);
    let items = inbox["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["type"], "reply");
    assert_eq!(items[0]["id"], reply_id.as_str());
    assert_eq!(items[0]["from"]["email"], PATIENT);
    assert_eq!(items[0]["subject"], "Re: Uitslag bloedonderzoek");
    assert_eq!(items[0]["read"], false);
    assert_eq!(items[0]["attachment_count"], 2);

    // Reading it: body, attachments; now read; the download is the exact bytes.
    let (status, r) = get(&app, &format!("/api/v1/inbox/{reply_id}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        r["body"],
        "Dank u, ik heb nog een vraag over mijn medicijnen."
    );
    assert_eq!(r["in_reply_to"], mid.as_str());
    let att = r["attachments"][0].clone();
    assert_eq!(att["name"], "vragenlijst.pdf");
    assert_eq!(att["size"], 300_000);
    let res = app
        .client
        .get(app.url(&format!(
            "/api/v1/inbox/{reply_id}/attachments/{}",
            att["id"].as_str().unwrap()
        )))
        .header("authorization", app.auth())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap().to_vec(), scan);
    let (_, inbox) = get(&app, "/api/v1/inbox").await;
    assert_eq!(inbox["items"][0]["read"], true);
    let (_, st) = get(&app, &format!("/api/v1/messages/{mid}")).await;
    let ev = events(&st, 0);
    assert!(ev.contains(&"reply_read".to_string()) && ev.contains(&"reply_downloaded".to_string()));

    // A reply is not in the sent list, and not readable as a sent message.
    let (_, list) = get(&app, "/api/v1/messages").await;
    assert_eq!(list["messages"].as_array().unwrap().len(), 1);
    let (status, _) = get(&app, &format!("/api/v1/messages/{reply_id}")).await;
    assert_eq!(status, 404);

    // The sender answers in the same thread; the patient gets a new notification.
    let answer = send(
        &app,
        json!({
            "subject": "Re: Uitslag bloedonderzoek",
            "body": "U kunt de medicijnen blijven nemen.",
            "in_reply_to": reply_id,
        }),
    )
    .await;
    assert_eq!(answer["thread_id"], mid.as_str());
    let link2 = app.link_token(PATIENT);
    assert_ne!(link2, link);
    let at2 = app.open_by_email(&link2, PATIENT).await;
    let (status, thread) = access_get(&app, &link2, &at2, "thread").await;
    assert_eq!(status, 200);
    let items = thread["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{thread}");
    assert_eq!(items[0]["kind"], "message");
    assert_eq!(items[0]["body"], "De uitslag is goed.");
    assert_eq!(items[1]["kind"], "reply");
    assert_eq!(items[1]["mine"], true);
    assert_eq!(items[2]["current"], true);
    assert_eq!(items[2]["body"], "U kunt de medicijnen blijven nemen.");
    // The patient can still download their own reply's attachment through the new link.
    let own = items[1]["attachments"][1]["id"].as_str().unwrap();
    let res = app
        .client
        .get(app.url(&format!("/api/v1/access/{link2}/attachments/{own}")))
        .bearer_auth(&at2)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap().to_vec(), vec![1, 2, 3]);

    // The other recipient of the first message never sees the patient's reply.
    let link_p = app.link_token("partner@mail.example");
    let at_p = app.open_by_email(&link_p, "partner@mail.example").await;
    let (_, thread_p) = access_get(&app, &link_p, &at_p, "thread").await;
    let items_p = thread_p["items"].as_array().unwrap();
    assert_eq!(items_p.len(), 1, "{thread_p}");
    assert_eq!(items_p[0]["kind"], "message");
    let res = app
        .client
        .get(app.url(&format!("/api/v1/access/{link_p}/attachments/{own}")))
        .bearer_auth(&at_p)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    // Nothing the patient wrote is in the database or the blobs in plaintext.
    let dump = common::dump_database(&app).await;
    let hay = String::from_utf8_lossy(&dump);
    for secret in ["medicijnen", "vragenlijst.pdf", "Re: Uitslag"] {
        assert!(!hay.contains(secret), "{secret} in the database");
    }
    for key in app.blob_keys().await {
        let path = app.dir.path().join("blobs").join(&key);
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !bytes.windows(scan.len().min(64)).any(|w| w == &scan[..64]),
            "attachment bytes in plaintext"
        );
    }

    // The sender's view of the thread.
    let (status, t) = get(&app, &format!("/api/v1/threads/{mid}")).await;
    assert_eq!(status, 200);
    let kinds: Vec<&str> = t["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["message", "reply", "message"]);

    // in_reply_to must be one's own conversation.
    let res = app
        .send_json(json!({
            "subject": "x", "body": "y", "in_reply_to": "no-such-message",
            "recipients": [{"email": PATIENT, "verification": "email"}],
        }))
        .await;
    assert_eq!(res.status(), 422);
}

async fn reply_policies_once_off_and_the_organisations_lock(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    // Default: once.
    let sent = send(&app, json!({})).await;
    let (_, st) = get(
        &app,
        &format!("/api/v1/messages/{}", sent["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(st["reply"], "once");
    let link = app.link_token(PATIENT);
    let at = app.open_by_email(&link, PATIENT).await;
    let (_, m) = access_get(&app, &link, &at, "message").await;
    assert_eq!(m["reply_allowed"], true);
    let (status, _) = reply(&app, &link, &at, reply_form("Eerste antwoord", vec![])).await;
    assert_eq!(status, 201);
    let (status, err) = reply(&app, &link, &at, reply_form("Tweede antwoord", vec![])).await;
    assert_eq!(status, 409, "{err}");
    let (_, m) = access_get(&app, &link, &at, "message").await;
    assert_eq!(m["reply_allowed"], false);
    // Plain JSON works too (and is refused the same way).
    let res = app
        .client
        .post(app.url(&format!("/api/v1/access/{link}/replies")))
        .bearer_auth(&at)
        .json(&json!({"body": "nog eens"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);

    // Off: 403 with the reason; nothing stored.
    send(&app, json!({"reply": "off", "recipients": [{"email": "b@mail.example", "verification": "email"}]})).await;
    let link_b = app.link_token("b@mail.example");
    let at_b = app.open_by_email(&link_b, "b@mail.example").await;
    let (_, m) = access_get(&app, &link_b, &at_b, "message").await;
    assert_eq!(m["reply_allowed"], false);
    let (status, err) = reply(
        &app,
        &link_b,
        &at_b,
        reply_form("Mag dit?", vec![("a.pdf", vec![9; 10])]),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(err["error"], "not_allowed");
    let (_, inbox) = get(&app, "/api/v1/inbox").await;
    assert_eq!(inbox["items"].as_array().unwrap().len(), 1);

    // Unlimited: several replies.
    send(&app, json!({"reply": "unlimited", "recipients": [{"email": "c@mail.example", "verification": "email"}]})).await;
    let link_c = app.link_token("c@mail.example");
    let at_c = app.open_by_email(&link_c, "c@mail.example").await;
    for i in 0..3 {
        let (status, _) = reply(
            &app,
            &link_c,
            &at_c,
            reply_form(&format!("antwoord {i}"), vec![]),
        )
        .await;
        assert_eq!(status, 201);
    }

    // A sender may not set the organisation's policy (admins only).
    let res = app
        .client
        .put(app.url("/api/v1/organisation/policy"))
        .header("authorization", app.auth())
        .json(&json!({"reply_default": "off", "reply_locked": true, "forward_allowed": true, "device_days": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);

    // The organisation's default and lock.
    set_policy(&app, json!({"reply_default": "unlimited", "reply_locked": true, "forward_allowed": true, "device_days": 0})).await;
    let (status, p) = get(&app, "/api/v1/organisation/policy").await;
    assert_eq!(status, 200);
    assert_eq!(p["reply_default"], "unlimited");
    let res = app
        .send_json(json!({
            "subject": "x", "body": "y", "reply": "off",
            "recipients": [{"email": PATIENT, "verification": "email"}],
        }))
        .await;
    assert_eq!(res.status(), 403);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"], "not_allowed");
    let sent = send(&app, json!({})).await;
    let (_, st) = get(
        &app,
        &format!("/api/v1/messages/{}", sent["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(st["reply"], "unlimited");
    let sent = send(&app, json!({"reply": "unlimited"})).await;
    assert!(sent["id"].is_string());
}

async fn a_bad_reply_gets_a_clear_error_and_leaves_nothing(b: Backend) {
    let Some(app) = TestApp::builder(b)
        .settings(|s| {
            s.max_reply_attachments = 2;
            s.max_upload_bytes = 100_000;
        })
        .build()
        .await
    else {
        return;
    };
    send(&app, json!({"reply": "unlimited"})).await;
    let link = app.link_token(PATIENT);
    let at = app.open_by_email(&link, PATIENT).await;
    let blobs_before = app.blob_keys().await.len();

    let three = vec![
        ("a.pdf", vec![1; 10]),
        ("b.pdf", vec![2; 10]),
        ("c.pdf", vec![3; 10]),
    ];
    let (status, err) = reply(&app, &link, &at, reply_form("te veel", three)).await;
    assert_eq!(status, 422, "{err}");
    let (status, _) = reply(
        &app,
        &link,
        &at,
        reply_form("te groot", vec![("big.pdf", random_bytes(150_000))]),
    )
    .await;
    assert_eq!(status, 413);
    let (status, _) = reply(&app, &link, &at, reply_form("   ", vec![])).await;
    assert_eq!(status, 422);
    // The `message` part must come first.
    let form = reqwest::multipart::Form::new().part(
        "attachment",
        reqwest::multipart::Part::bytes(vec![1, 2]).file_name("a.pdf"),
    );
    let (status, _) = reply(&app, &link, &at, form).await;
    assert_eq!(status, 400);
    // Without a session: 401; a sender token is not a session.
    let (status, _) = reply(&app, &link, &app.token.clone(), reply_form("hallo", vec![])).await;
    assert_eq!(status, 401);

    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        app.blob_keys().await.len(),
        blobs_before,
        "no blob left behind"
    );
    let (_, inbox) = get(&app, "/api/v1/inbox").await;
    assert!(inbox["items"].as_array().unwrap().is_empty());

    // After a revoke, replying is 410.
    let (_, list) = get(&app, "/api/v1/messages").await;
    let mid = list["messages"][0]["id"].as_str().unwrap().to_string();
    let res = app
        .client
        .post(app.url(&format!("/api/v1/messages/{mid}/revoke")))
        .header("authorization", app.auth())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (status, _) = reply(&app, &link, &at, reply_form("nog er?", vec![])).await;
    assert_eq!(status, 410);
}

async fn a_forward_goes_to_a_new_recipient_who_verifies_on_their_own(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let sent = send(&app, json!({})).await;
    let mid = sent["id"].as_str().unwrap().to_string();
    let link = app.link_token(PATIENT);
    let at = app.open_by_email(&link, PATIENT).await;

    let res = app
        .client
        .post(app.url(&format!("/api/v1/access/{link}/forwards")))
        .bearer_auth(&at)
        .json(&json!({"email": "huisarts@praktijk.example", "phone": "06 87654321", "note": "Voor mijn huisarts, graag bekijken."}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let f: Value = res.json().await.unwrap();
    assert_eq!(f["verification"], "sms");
    assert_eq!(f["masked_destination"], "06-****-**21");

    let (_, st) = get(&app, &format!("/api/v1/messages/{mid}")).await;
    assert!(events(&st, 0).contains(&"forwarded".to_string()));
    assert_eq!(st["recipients"][1]["email"], "huisarts@praktijk.example");
    assert_eq!(
        st["recipients"][1]["forwarded_by"],
        st["recipients"][0]["id"]
    );
    let (_, inbox) = get(&app, "/api/v1/inbox").await;
    assert_eq!(inbox["items"][0]["type"], "forward");
    assert_eq!(
        inbox["items"][0]["to"]["email"],
        "huisarts@praktijk.example"
    );
    assert_eq!(inbox["items"][0]["from"]["email"], PATIENT);

    // The new recipient gets their own link and verifies by SMS on their own.
    app.run_jobs().await;
    let link_h = app.link_token("huisarts@praktijk.example");
    assert_ne!(link_h, link);
    let note_mail = app
        .outbox("mail")
        .into_iter()
        .find(|m| m.contains("To: huisarts@praktijk.example"))
        .unwrap();
    let parsed = mail_parser::MessageParser::default()
        .parse(note_mail.as_bytes())
        .unwrap();
    let text = parsed.body_text(0).unwrap();
    assert!(
        text.contains(&format!(
            "{PATIENT} heeft u een beveiligd bericht van Dr. Test"
        )),
        "{text}"
    );
    assert!(!text.contains("Voor mijn huisarts") && !text.contains("Uitslag"));
    let (status, _) = access_get(&app, &link_h, &at, "message").await;
    assert!(
        status == 401 || status == 403,
        "the patient's session does not open it"
    );
    let res = app
        .client
        .post(app.url(&format!("/api/v1/access/{link_h}/challenge")))
        .json(&json!({"method": "sms"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    app.run_jobs().await;
    let code = app.last_code("+31687654321");
    let res = app
        .client
        .post(app.url(&format!("/api/v1/access/{link_h}/verify")))
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let at_h: Value = res.json().await.unwrap();
    let at_h = at_h["access_token"].as_str().unwrap();
    let (status, m) = access_get(&app, &link_h, at_h, "message").await;
    assert_eq!(status, 200);
    assert_eq!(m["subject"], "Uitslag bloedonderzoek");
    let perm = {
        let s = app.z.recipient_session(&link_h, at_h).await.unwrap();
        app.z.permissions(&s).await.unwrap()
    };
    assert_eq!(
        perm.forward_note.as_deref(),
        Some("Voor mijn huisarts, graag bekijken.")
    );
    assert_eq!(perm.forwarded_by.as_deref(), Some(PATIENT));

    // Twice to the same address: 403 with the answer the forward cap gives too (issue 12:
    // it must not tell whether an address has the message). A bad address: 422.
    let res = app
        .client
        .post(app.url(&format!("/api/v1/access/{link}/forwards")))
        .bearer_auth(&at)
        .json(&json!({"email": "huisarts@praktijk.example"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let v: Value = res.json().await.unwrap();
    assert_eq!(
        v,
        json!({"error": "not_allowed", "detail": "this message cannot be forwarded to this address"})
    );
    let res = app
        .client
        .post(app.url(&format!("/api/v1/access/{link}/forwards")))
        .bearer_auth(&at)
        .json(&json!({"email": "geen-adres"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);

    // The organisation may turn forwarding off.
    set_policy(&app, json!({"reply_default": "once", "reply_locked": false, "forward_allowed": false, "device_days": 0})).await;
    let res = app
        .client
        .post(app.url(&format!("/api/v1/access/{link}/forwards")))
        .bearer_auth(&at)
        .json(&json!({"email": "ander@mail.example"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let (_, st) = get(&app, &format!("/api/v1/messages/{mid}")).await;
    assert_eq!(st["recipients"].as_array().unwrap().len(), 2);

    // Replies and notes are never stored in plaintext.
    let dump = common::dump_database(&app).await;
    let hay = String::from_utf8_lossy(&dump);
    assert!(!hay.contains("Voor mijn huisarts"));
}

async fn a_remembered_device_skips_the_code_until_revoked(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let sent = send(&app, json!({})).await;
    let mid = sent["id"].as_str().unwrap().to_string();
    let link = app.link_token(PATIENT);
    let at = app.open_by_email(&link, PATIENT).await;
    let ctx = zegel_core::ClientCtx {
        ip: Some("127.0.0.1".into()),
        user_agent: Some("Test browser".into()),
    };
    let s = app.z.recipient_session(&link, &at).await.unwrap();
    // Off by default.
    assert!(app.z.remember_device(&s, &ctx).await.unwrap().is_none());
    set_policy(&app, json!({"reply_default": "once", "reply_locked": false, "forward_allowed": true, "device_days": 30})).await;
    let (device, days) = app.z.remember_device(&s, &ctx).await.unwrap().unwrap();
    assert_eq!(days, 30);
    let grant = app
        .z
        .open_with_device(&link, &device, &ctx)
        .await
        .unwrap()
        .unwrap();
    let (status, _) = access_get(&app, &link, &grant.access_token, "message").await;
    assert_eq!(status, 200);
    // Bound to that recipient: another recipient's link does not open with it, nor does a
    // made-up device token.
    let (_, other) = app.send_simple("ander@mail.example").await;
    assert!(app
        .z
        .open_with_device(&other, &device, &ctx)
        .await
        .unwrap()
        .is_none());
    assert!(app
        .z
        .open_with_device(&link, "x".repeat(43).as_str(), &ctx)
        .await
        .unwrap()
        .is_none());

    // The sender sees and revokes it.
    let (_, st) = get(&app, &format!("/api/v1/messages/{mid}")).await;
    let devices = st["recipients"][0]["devices"].as_array().unwrap().clone();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0]["user_agent"], "Test browser");
    let id = devices[0]["id"].as_str().unwrap();
    let res = app
        .client
        .delete(app.url(&format!("/api/v1/devices/{id}")))
        .header("authorization", app.auth())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(app
        .z
        .open_with_device(&link, &device, &ctx)
        .await
        .unwrap()
        .is_none());
    let (_, st) = get(&app, &format!("/api/v1/messages/{mid}")).await;
    assert!(st["recipients"][0]["devices"][0]["revoked_at"].is_string());
    assert!(events(&st, 0).contains(&"device_revoked".to_string()));
    let res = app
        .client
        .delete(app.url("/api/v1/devices/no-such-device"))
        .header("authorization", app.auth())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    // Turning the policy off stops remembered devices at once.
    let (device2, _) = app.z.remember_device(&s, &ctx).await.unwrap().unwrap();
    set_policy(&app, json!({"reply_default": "once", "reply_locked": false, "forward_allowed": true, "device_days": 0})).await;
    assert!(app
        .z
        .open_with_device(&link, &device2, &ctx)
        .await
        .unwrap()
        .is_none());
}

async fn the_organisations_logo_is_checked_and_served(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let org = app.sender.org_id.clone();
    let res = app
        .client
        .get(app.url(&format!("/logo/{org}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend_from_slice(&[0u8; 64]);
    app.z.set_org_logo(&org, Some(&png)).await.unwrap();
    let res = app
        .client
        .get(app.url(&format!("/logo/{org}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/png");
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert_eq!(res.bytes().await.unwrap().to_vec(), png);
    assert!(app.z.org_policy(&org).await.unwrap().has_logo);
    // Every recipient page of that organisation shows it next to its name.
    send(&app, json!({})).await;
    let link = app.link_token(PATIENT);
    let res = app
        .client
        .get(app.url(&format!("/m/{link}")))
        .send()
        .await
        .unwrap();
    let landing = res.text().await.unwrap();
    let img = format!("<img class=\"logo\" src=\"/logo/{org}\" alt=\"\"");
    assert!(landing.contains(&img), "{landing}");
    // ... also the pages that say the message is gone.
    let (_, list) = get(&app, "/api/v1/messages").await;
    let mid = list["messages"][0]["id"].as_str().unwrap().to_string();
    let res = app
        .client
        .post(app.url(&format!("/api/v1/messages/{mid}/revoke")))
        .header("authorization", app.auth())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .client
        .get(app.url(&format!("/m/{link}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 410);
    assert!(res.text().await.unwrap().contains(&img));
    // An SVG (it could carry script) or anything else is refused; too large too.
    let svg = b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>";
    assert!(matches!(
        app.z.set_org_logo(&org, Some(svg)).await,
        Err(zegel_core::Error::Invalid(_))
    ));
    let mut big = png.clone();
    big.resize(300 * 1024, 0);
    assert!(matches!(
        app.z.set_org_logo(&org, Some(&big)).await,
        Err(zegel_core::Error::TooLarge(_))
    ));
    app.z.set_org_logo(&org, None).await.unwrap();
    let res = app
        .client
        .get(app.url(&format!("/logo/{org}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

async fn the_recipient_downloads_the_conversation_as_an_eml_file(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    send(
        &app,
        json!({"reply": "unlimited", "subject": "Uitslag één"}),
    )
    .await;
    let link = app.link_token(PATIENT);
    let at = app.open_by_email(&link, PATIENT).await;
    let big = random_bytes(200_001);
    let (status, _) = reply(
        &app,
        &link,
        &at,
        reply_form(
            "Mijn vraag staat in de bijlage.",
            vec![("vraag é.pdf", big.clone())],
        ),
    )
    .await;
    assert_eq!(status, 201);
    let res = app
        .client
        .get(app.url(&format!("/api/v1/access/{link}/copy")))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "message/rfc822");
    assert!(res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment;"));
    let raw = res.bytes().await.unwrap();
    assert!(raw.len() > 200_001 * 4 / 3, "the attachment is in it");
    let msg = mail_parser::MessageParser::default()
        .parse(&raw[..])
        .unwrap();
    assert_eq!(msg.subject(), Some("Uitslag één"));
    let text = msg.body_text(0).unwrap();
    assert!(text.contains("De uitslag is goed."), "{text}");
    assert!(text.contains("Mijn vraag staat in de bijlage."));
    let atts: Vec<_> = msg.attachments().collect();
    assert_eq!(atts.len(), 1);
    assert_eq!(atts[0].attachment_name(), Some("vraag é.pdf"));
    assert_eq!(atts[0].contents(), &big[..]);
    // Without a session: 401.
    let res = app
        .client
        .get(app.url(&format!("/api/v1/access/{link}/copy")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(app.run_jobs().await, 1, "the sender's reply notification");
}

async fn the_viewer_replies_forwards_and_remembers_a_device(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    set_policy(&app, json!({"reply_default": "once", "reply_locked": false, "forward_allowed": true, "device_days": 30, "contact": "Polikliniek 010 123 45 67"})).await;
    let sent = send(&app, json!({})).await;
    let mid = sent["id"].as_str().unwrap().to_string();
    let link = app.link_token(PATIENT);
    let c = browser();
    // The code page offers "remember this device" because the organisation allows it.
    let csrf = start_in_viewer(&app, &c, &link).await;
    let (_, code_page) = page(&c, app.url(&format!("/m/{link}/code"))).await;
    assert!(code_page.contains(r#"name="remember""#) && code_page.contains("30 dagen"));
    let device = finish_in_viewer(&app, &c, &link, PATIENT, &csrf, true)
        .await
        .expect("a device cookie");
    let device = device.split(';').next().unwrap().to_string();

    let (status, msg) = page(&c, app.url(&format!("/m/{link}/bericht"))).await;
    assert_eq!(status, 200);
    assert!(msg.contains(&format!(r#"href="/m/{link}/antwoord""#)));
    assert!(msg.contains(&format!(r#"href="/m/{link}/doorsturen""#)));
    assert!(msg.contains(&format!(r#"href="/m/{link}/kopie""#)));
    assert!(msg.contains("Polikliniek 010 123 45 67"));

    // Reply through the HTML form: the CSRF field first, then the text, then a file.
    let (status, form_page) = page(&c, app.url(&format!("/m/{link}/antwoord"))).await;
    assert_eq!(status, 200);
    assert!(
        form_page.contains(r#"enctype="multipart/form-data""#)
            && form_page.contains(r#"for="body""#)
    );
    let form = |csrf: &str, body: &str, file: Option<Vec<u8>>| {
        let mut f = reqwest::multipart::Form::new()
            .text("csrf", csrf.to_string())
            .text("body", body.to_string());
        f = match file {
            Some(bytes) => f.part(
                "attachment",
                reqwest::multipart::Part::bytes(bytes).file_name("scan.pdf"),
            ),
            // A browser sends an empty file part when nothing was chosen.
            None => f.part(
                "attachment",
                reqwest::multipart::Part::bytes(Vec::new()).file_name(""),
            ),
        };
        f
    };
    let res = c
        .post(app.url(&format!("/m/{link}/antwoord")))
        .multipart(form("wrong", "hallo", None))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "no CSRF token, no reply");
    let res = c
        .post(app.url(&format!("/m/{link}/antwoord")))
        .multipart(form(&csrf, "  ", None))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains(r#"role="alert""#));
    let res = c
        .post(app.url(&format!("/m/{link}/antwoord")))
        .multipart(form(&csrf, "Dank, zie bijlage", Some(vec![5; 1000])))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(
        res.headers()["location"],
        format!("/m/{link}/bericht?beantwoord=1").as_str()
    );
    let (_, msg) = page(&c, app.url(&format!("/m/{link}/bericht?beantwoord=1"))).await;
    assert!(msg.contains(r#"role="status""#));
    assert!(
        msg.contains("Dank, zie bijlage"),
        "the reply is in the thread"
    );
    assert!(
        msg.contains("reply-refused") && !msg.contains(&format!(r#"href="/m/{link}/antwoord""#)),
        "once: no second reply"
    );
    let (status, _) = page(&c, app.url(&format!("/m/{link}/antwoord"))).await;
    assert_eq!(status, 409);
    let (_, inbox) = get(&app, "/api/v1/inbox").await;
    assert_eq!(inbox["items"][0]["attachment_count"], 1);

    // Forward through the form: a bad address comes back with the error; a good one works.
    let res = c
        .post(app.url(&format!("/m/{link}/doorsturen")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", "geen adres"),
            ("phone", ""),
            ("note", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let long_note = "x".repeat(2001);
    let res = c
        .post(app.url(&format!("/m/{link}/doorsturen")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", "zus@mail.example"),
            ("phone", ""),
            ("note", long_note.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("De notitie is te lang"));
    let res = c
        .post(app.url(&format!("/m/{link}/doorsturen")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", "zus@mail.example"),
            ("phone", ""),
            ("note", "Lees jij even mee?"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    app.run_jobs().await;
    let link_z = app.link_token("zus@mail.example");
    let cz = browser();
    open_in_viewer(&app, &cz, &link_z, "zus@mail.example").await;
    let (_, msg_z) = page(&cz, app.url(&format!("/m/{link_z}/bericht"))).await;
    assert!(msg_z.contains("forward-note") && msg_z.contains("Lees jij even mee?"));
    assert!(
        !msg_z.contains("Dank, zie bijlage"),
        "the forwarded recipient does not see the patient's reply"
    );

    // Own copy.
    let res = c
        .get(app.url(&format!("/m/{link}/kopie")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "message/rfc822");

    // A new visit from a browser holding only the device cookie opens without a code (no
    // code job is queued).
    let fresh = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = fresh
        .get(app.url(&format!("/m/{link}")))
        .send()
        .await
        .unwrap();
    let csrf_cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .find(|v| v.starts_with("zegel_csrf="))
        .unwrap();
    let fresh_csrf = csrf_of(&res.text().await.unwrap());
    let res = fresh
        .post(app.url(&format!("/m/{link}/start")))
        .header("cookie", format!("{csrf_cookie}; {device}"))
        .form(&[("csrf", fresh_csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["location"],
        format!("/m/{link}/bericht").as_str()
    );
    assert_eq!(app.run_jobs().await, 0, "no code was requested");
    let (_, st) = get(&app, &format!("/api/v1/messages/{mid}")).await;
    assert_eq!(st["recipients"][0]["devices"].as_array().unwrap().len(), 1);

    // "Not my number": whom to ask, no form, no code sent.
    let mails = app.outbox("mail").len();
    let (status, p) = page(&c, app.url(&format!("/m/{link}/ander-nummer"))).await;
    assert_eq!(status, 200);
    assert!(p.contains("Dr. Test") && !p.contains("<form"));
    app.run_jobs().await;
    assert_eq!(app.outbox("mail").len(), mails);

    // A revoked message's page names the organisation's contact line.
    let res = app
        .client
        .post(app.url(&format!("/api/v1/messages/{mid}/revoke")))
        .header("authorization", app.auth())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (status, gone) = page(&c, app.url(&format!("/m/{link}"))).await;
    assert_eq!(status, 410);
    assert!(gone.contains("Polikliniek 010 123 45 67"));

    // "Not my number" on a revoked link: the revoked page.
    let (status, _) = page(&c, app.url(&format!("/m/{link}/ander-nummer"))).await;
    assert_eq!(status, 410);
    let (status, _) = page(&cz, app.url(&format!("/m/{link_z}/ander-nummer"))).await;
    assert_eq!(status, 410, "the forward went with it");
}

backend_tests!(
    the_viewer_replies_forwards_and_remembers_a_device,
    the_recipient_downloads_the_conversation_as_an_eml_file,
    the_organisations_logo_is_checked_and_served,
    a_reply_reaches_only_the_sender_and_the_conversation_continues,
    reply_policies_once_off_and_the_organisations_lock,
    a_bad_reply_gets_a_clear_error_and_leaves_nothing,
    a_forward_goes_to_a_new_recipient_who_verifies_on_their_own,
    a_remembered_device_skips_the_code_until_revoked,
);

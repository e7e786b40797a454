//! Issue 12, "Hostile clients", the checks in the service logic, end to end through the real
//! router on SQLite and PostgreSQL: SMS only to mobile numbers; attachment names without
//! invisible or reserved parts; a thread shows only what the session's verification may see.

mod common;
#[allow(dead_code)]
mod common_bin;

use common::{browser, csrf_of, open_in_viewer, page, Backend, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

const PATIENT: &str = "patient@mail.example";

async fn post_json(app: &TestApp, path: &str, bearer: &str, body: Value) -> (StatusCode, Value) {
    let res = app
        .client
        .post(app.url(path))
        .bearer_auth(bearer)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// A multipart form as a browser sends it: the `message` JSON part, then files whose names
/// go out as raw UTF-8 (no percent-encoding).
fn form_with_files(message: &Value, files: &[&str]) -> reqwest::multipart::Form {
    let mut form = reqwest::multipart::Form::new().percent_encode_noop().part(
        "message",
        reqwest::multipart::Part::text(message.to_string())
            .mime_str("application/json")
            .unwrap(),
    );
    for name in files {
        form = form.part(
            "attachment",
            reqwest::multipart::Part::bytes(name.as_bytes().to_vec())
                .file_name(name.to_string())
                .mime_str("text/plain")
                .unwrap(),
        );
    }
    form
}

async fn access_get(app: &TestApp, link: &str, at: &str, what: &str) -> reqwest::Response {
    app.client
        .get(app.url(&format!("/api/v1/access/{link}/{what}")))
        .bearer_auth(at)
        .send()
        .await
        .unwrap()
}

/// Characters of the hostile names that must never come out again.
const INVISIBLE: [char; 3] = ['\u{202e}', '\u{200b}', '\u{feff}'];

async fn issue_12_sms_codes_go_only_to_mobile_numbers(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let token = app.token.clone();
    let to = |phone: &str, verification: &str| {
        json!({
            "subject": "Uitslag",
            "body": "Alles goed.",
            "recipients": [{"email": PATIENT, "phone": phone, "verification": verification}],
        })
    };
    // Premium rate, fixed line, toll free, VoIP: 422 with the reason, nothing stored.
    for phone in [
        "+31900123456",
        "+31201234567",
        "0800 1234567",
        "085 123 4567",
    ] {
        let (status, v) = post_json(&app, "/api/v1/messages", &token, to(phone, "sms")).await;
        assert_eq!(status, 422, "{phone}: {v}");
        assert_eq!(v["error"], "invalid");
        assert!(
            v["detail"]
                .as_str()
                .unwrap()
                .contains("not a mobile number"),
            "{phone}: {v}"
        );
        // The phone field is only ever used for SMS, so it is checked with any verification.
        let (status, _) = post_json(&app, "/api/v1/messages", &token, to(phone, "email")).await;
        assert_eq!(status, 422, "{phone} with e-mail verification");
    }
    assert!(app.sent_messages().await.is_empty());
    // Not a number at all keeps its own reason.
    let (status, v) = post_json(&app, "/api/v1/messages", &token, to("12", "sms")).await;
    assert_eq!(status, 422);
    assert!(v["detail"]
        .as_str()
        .unwrap()
        .contains("invalid phone number"));
    // Mobiles are accepted: Dutch 06, Belgian 04xx, German 015x/016x/017x.
    for phone in [
        "06 12345678",
        "+32 470 12 34 56",
        "+49 151 23456789",
        "+49 176 12345678",
    ] {
        let (status, v) = post_json(&app, "/api/v1/messages", &token, to(phone, "sms")).await;
        assert_eq!(status, 201, "{phone}: {v}");
        app.run_jobs().await;
    }

    // A forward with a phone number: the same rule, in the API and in the viewer's form.
    let (_, link) = app.send_simple(PATIENT).await;
    let at = app.open_by_email(&link, PATIENT).await;
    let forwards = format!("/api/v1/access/{link}/forwards");
    for phone in ["0900 1234567", "020 123 4567"] {
        let body = json!({"email": "huisarts@praktijk.example", "phone": phone});
        let (status, v) = post_json(&app, &forwards, &at, body).await;
        assert_eq!(status, 422, "{phone}: {v}");
        assert!(v["detail"]
            .as_str()
            .unwrap()
            .contains("not a mobile number"));
    }
    let c = browser();
    let csrf = open_in_viewer(&app, &c, &link, PATIENT).await;
    let forward = |phone: &'static str, lang: &'static str| {
        c.post(app.url(&format!("/m/{link}/doorsturen")))
            .header("accept-language", lang)
            .form(&[
                ("csrf", csrf.as_str()),
                ("email", "huisarts@praktijk.example"),
                ("phone", phone),
                ("note", ""),
            ])
            .send()
    };
    let res = forward("0900 1234567", "nl").await.unwrap();
    assert_eq!(res.status(), 422);
    let text = res.text().await.unwrap();
    assert!(text.contains("Dit is geen mobiel nummer"), "{text}");
    assert!(!text.contains("Dit telefoonnummer klopt niet"));
    let res = forward("020 123 4567", "en").await.unwrap();
    assert_eq!(res.status(), 422);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("This is not a mobile number"));
    let res = forward("06 87654321", "nl").await.unwrap();
    assert_eq!(res.status(), 303);
    app.run_jobs().await;
}

async fn issue_12_attachment_names_lose_invisible_characters_and_device_names(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let hostile = [
        "rapport\u{202e}fdp.exe\u{200b}.txt",
        "CON.txt",
        "\u{feff}uitslag.pdf. . .",
    ];
    let cleaned = ["rapportfdp.exe.txt", "_CON.txt", "uitslag.pdf"];
    let msg = json!({
        "subject": "Uitslag",
        "body": "Zie bijlagen.",
        "recipients": [{"email": PATIENT, "verification": "email"}],
    });
    let res = app
        .client
        .post(app.url("/api/v1/messages"))
        .header("authorization", app.auth())
        .multipart(form_with_files(&msg, &hostile))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    app.run_jobs().await;
    let link = app.link_token(PATIENT);
    let at = app.open_by_email(&link, PATIENT).await;

    // Listed: the JSON message and the thread.
    let m: Value = access_get(&app, &link, &at, "message")
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = m["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, cleaned);
    let thread = access_get(&app, &link, &at, "thread")
        .await
        .text()
        .await
        .unwrap();
    assert!(thread.contains("rapportfdp.exe.txt") && !thread.contains(INVISIBLE));

    // Served: Content-Disposition with the clean name, plain and RFC 6266.
    let expected = [
        "attachment; filename=\"rapportfdp.exe.txt\"; filename*=UTF-8''rapportfdp%2Eexe%2Etxt",
        "attachment; filename=\"_CON.txt\"; filename*=UTF-8''%5FCON%2Etxt",
        "attachment; filename=\"uitslag.pdf\"; filename*=UTF-8''uitslag%2Epdf",
    ];
    for (att, cd) in m["attachments"].as_array().unwrap().iter().zip(expected) {
        let id = att["id"].as_str().unwrap();
        let res = access_get(&app, &link, &at, &format!("attachments/{id}")).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-disposition"], cd);
    }

    // The viewer's page and the .eml copy.
    let c = browser();
    open_in_viewer(&app, &c, &link, PATIENT).await;
    let (status, html) = page(&c, app.url(&format!("/m/{link}/bericht"))).await;
    assert_eq!(status, 200);
    for name in cleaned {
        assert!(html.contains(name), "{name} on the page");
    }
    assert!(!html.contains(INVISIBLE));
    let eml = access_get(&app, &link, &at, "copy")
        .await
        .text()
        .await
        .unwrap();
    assert!(eml.contains("filename=\"rapportfdp.exe.txt\""), "{eml}");
    assert!(eml.contains("_CON.txt") && !eml.contains(INVISIBLE));

    // A recipient's reply: the same rules for the names the sender gets.
    let res = app
        .client
        .post(app.url(&format!("/api/v1/access/{link}/replies")))
        .bearer_auth(&at)
        .multipart(form_with_files(
            &json!({"body": "Zie scan."}),
            &["nul.tar.gz", "scan\u{2067}fdp.exe"],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    app.run_jobs().await;
    let inbox: Value = app
        .client
        .get(app.url("/api/v1/inbox"))
        .header("authorization", app.auth())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let reply_id = inbox["items"][0]["id"].as_str().unwrap();
    let reply: Value = app
        .client
        .get(app.url(&format!("/api/v1/inbox/{reply_id}")))
        .header("authorization", app.auth())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = reply["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["_nul.tar.gz", "scanfdp.exe"]);
}

/// An `.eml` with every part decoded (the text part and attachments are base64).
fn eml_decoded(eml: &str) -> String {
    let msg = mail_parser::MessageParser::default()
        .parse(eml.as_bytes())
        .unwrap();
    let mut all = eml.to_string();
    for part in &msg.parts {
        all.push_str(&String::from_utf8_lossy(part.contents()));
    }
    all
}

/// The ids of the items in a recipient's thread.
async fn thread_ids(app: &TestApp, link: &str, at: &str) -> (String, Vec<String>) {
    let res = access_get(app, link, at, "thread").await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let ids = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    (text, ids)
}

/// Sends a message with one attachment (`name`, contents = `body`) and returns its id.
async fn send_with_file(app: &TestApp, msg: Value, name: &str) -> String {
    let res = app
        .client
        .post(app.url("/api/v1/messages"))
        .header("authorization", app.auth())
        .multipart(form_with_files(&msg, &[name]))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let v: Value = res.json().await.unwrap();
    assert_eq!(status, 201, "{v}");
    app.run_jobs().await;
    v["id"].as_str().unwrap().to_string()
}

async fn issue_12_a_thread_shows_only_what_the_sessions_verification_may_see(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    app.z
        .set_org_policy_of(
            &app.sender.org_id,
            serde_json::from_value(json!({"reply_default": "unlimited", "reply_locked": false,
                "forward_allowed": true, "device_days": 30}))
            .unwrap(),
        )
        .await
        .unwrap();
    const PHONE: &str = "+31612345678";
    // Message 1: e-mail code. Message 2, in the same conversation to the same address: SMS.
    let m1 = send_with_file(
        &app,
        json!({"subject": "Afspraak", "body": "Uw afspraak is dinsdag.",
            "recipients": [{"email": PATIENT, "verification": "email"}]}),
        "afspraak-dinsdag.txt",
    )
    .await;
    let link1 = app.link_token(PATIENT);
    let m2 = send_with_file(
        &app,
        json!({"subject": "Uitslag biopsie", "body": "GEHEIM-SMS-UITSLAG",
            "in_reply_to": m1,
            "recipients": [{"email": PATIENT, "phone": PHONE, "verification": "sms"}]}),
        "GEHEIM-SMS-BIJLAGE.txt",
    )
    .await;
    let link2 = app.link_token(PATIENT);
    assert_ne!(link1, link2);
    let secrets = ["GEHEIM-SMS", "Uitslag biopsie", m2.as_str()];

    // The SMS session sees both messages (an e-mail code is weaker, so message 1 is fine).
    let res = app
        .client
        .post(app.url(&format!("/api/v1/access/{link2}/challenge")))
        .json(&json!({"method": "sms"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    app.run_jobs().await;
    let code = app.last_code(PHONE);
    let res = app
        .client
        .post(app.url(&format!("/api/v1/access/{link2}/verify")))
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let at2: Value = res.json().await.unwrap();
    let at2 = at2["access_token"].as_str().unwrap().to_string();
    let (_, ids) = thread_ids(&app, &link2, &at2).await;
    assert_eq!(ids, [m1.as_str(), m2.as_str()]);
    // It answers; that reply belongs to the SMS-verified part of the conversation.
    let res = app
        .client
        .post(app.url(&format!("/api/v1/access/{link2}/replies")))
        .bearer_auth(&at2)
        .multipart(form_with_files(
            &json!({"body": "GEHEIM-SMS-ANTWOORD"}),
            &[],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    app.run_jobs().await;
    let (_, ids) = thread_ids(&app, &link2, &at2).await;
    assert_eq!(ids.len(), 3, "message 1, message 2 and the reply");
    let m2_view: Value = access_get(&app, &link2, &at2, "message")
        .await
        .json()
        .await
        .unwrap();
    let att2 = m2_view["attachments"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();

    // Opened with message 1's e-mail code: only message 1, in all three ways out.
    let at1 = app.open_by_email(&link1, PATIENT).await;
    let (text, ids) = thread_ids(&app, &link1, &at1).await;
    assert_eq!(ids, [m1.as_str()]);
    assert!(text.contains("Uw afspraak is dinsdag"));
    for s in secrets {
        assert!(!text.contains(s), "thread JSON shows {s}");
    }
    let res = access_get(&app, &link1, &at1, &format!("attachments/{att2}")).await;
    assert_eq!(res.status(), 404, "message 2's attachment");
    let m1_view: Value = access_get(&app, &link1, &at1, "message")
        .await
        .json()
        .await
        .unwrap();
    let att1 = m1_view["attachments"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let res = access_get(&app, &link1, &at1, &format!("attachments/{att1}")).await;
    assert_eq!(res.status(), 200, "its own attachment");
    let res = access_get(&app, &link1, &at1, "copy").await;
    assert_eq!(res.status(), 200);
    let eml = eml_decoded(&res.text().await.unwrap());
    assert!(eml.contains("Uw afspraak is dinsdag") && eml.contains("afspraak-dinsdag.txt"));
    for s in secrets {
        assert!(!eml.contains(s), ".eml copy holds {s}");
    }

    // The viewer, with "remember this device": the page, the download and the copy.
    let c = browser();
    let (_, landing) = page(&c, app.url(&format!("/m/{link1}"))).await;
    let csrf = csrf_of(&landing);
    for step in ["start", "send"] {
        let res = c
            .post(app.url(&format!("/m/{link1}/{step}")))
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
    }
    app.run_jobs().await;
    let code = app.last_code(PATIENT);
    let res = c
        .post(app.url(&format!("/m/{link1}/verify")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("code", code.as_str()),
            ("remember", "1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let device = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .find(|v| v.starts_with("zegel_device="))
        .expect("a device cookie");
    let viewer_shows_only_message_1 = |c: reqwest::Client| {
        let app = &app;
        let (link1, att2) = (link1.clone(), att2.clone());
        async move {
            let (status, html) = page(&c, app.url(&format!("/m/{link1}/bericht"))).await;
            assert_eq!(status, 200);
            assert!(html.contains("Uw afspraak is dinsdag"));
            for s in secrets {
                assert!(!html.contains(s), "viewer page shows {s}");
            }
            let (status, _) = page(&c, app.url(&format!("/m/{link1}/bijlage/{att2}"))).await;
            assert_eq!(status, 404, "viewer download of message 2's attachment");
            let res = c
                .get(app.url(&format!("/m/{link1}/kopie")))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            let eml = eml_decoded(&res.text().await.unwrap());
            for s in secrets {
                assert!(!eml.contains(s), "viewer copy holds {s}");
            }
        }
    };
    viewer_shows_only_message_1(c).await;

    // A browser holding only that device cookie opens message 1 with the strength of the
    // recipient it was remembered for: still only message 1; message 2's link wants its code.
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    jar.add_cookie_str(&device, &app.base.parse().unwrap());
    let fresh = reqwest::Client::builder()
        .cookie_provider(jar)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (link, opens) in [(&link2, false), (&link1, true)] {
        let (_, landing) = page(&fresh, app.url(&format!("/m/{link}"))).await;
        let csrf = csrf_of(&landing);
        let res = fresh
            .post(app.url(&format!("/m/{link}/start")))
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        let to_message = res.headers()["location"] == format!("/m/{link}/bericht").as_str();
        assert_eq!(to_message, opens, "{link}");
    }
    assert_eq!(app.run_jobs().await, 0, "no code was sent");
    viewer_shows_only_message_1(fresh).await;
}

/// A code mail refused by a relay that quotes it back (a content filter): the code reaches
/// neither the logs, nor the job's `last_error`, nor the sender's events. (The SMS side of the
/// same rule is in `tests/sms.rs`.)
async fn issue_12_a_relay_quoting_the_code_mail_leaves_no_code_behind(b: Backend) {
    use zegel_core::outbound::{SmtpMailer, SmtpSettings, SmtpTls};
    let logs = common::captured_logs();
    let dir = tempfile::tempdir().unwrap();
    let port = common_bin::free_port();
    let sink =
        common_bin::SmtpSink::start_mode(port, &dir.path().join("mail"), "quotecode550").await;
    let mailer = SmtpMailer::new(&SmtpSettings {
        url: url_of(&format!("smtp://127.0.0.1:{port}")),
        tls: SmtpTls::None,
        ca_pem: None,
        from_addr: "zegel@ziekenhuis.example".into(),
        timeout: std::time::Duration::from_secs(10),
        dkim: None,
    })
    .unwrap();
    // The dead code job is the point.
    let Some(app) = TestApp::builder(b)
        .mailer(std::sync::Arc::new(mailer))
        .leave_jobs()
        .build()
        .await
    else {
        return;
    };
    let res = app
        .send_json(json!({"subject": "Uitslag", "body": "Alles goed.",
            "recipients": [{"email": PATIENT, "verification": "email"}]}))
        .await;
    assert_eq!(res.status(), 201);
    let id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.run_jobs().await;
    let token = regex::Regex::new(r"/m/([A-Za-z0-9_-]{43})").unwrap();
    let notification = sink.mails()[0].text_parts.join("\n");
    let link = token.captures(&notification).unwrap()[1].to_string();
    let res = app
        .client
        .post(app.url(&format!("/api/v1/access/{link}/challenge")))
        .json(&json!({"method": "email"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    app.run_jobs().await;
    let mails = sink.mails();
    assert_eq!(mails.len(), 2, "the code mail reached the relay");
    let code = regex::Regex::new(r"\b(\d{6})\b")
        .unwrap()
        .captures(&mails[1].text_parts.join("\n"))
        .unwrap()[1]
        .to_string();

    let errors = app.job_errors().await;
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("550") && errors[0].contains("Rejected by content filter"),
        "the relay's words stay, for the operator: {errors:?}"
    );
    let status = app
        .client
        .get(app.url(&format!("/api/v1/messages/{id}")))
        .header("authorization", app.auth())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(status.contains("code_failed"));
    let logs = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(logs.contains("job failed permanently"));
    for (what, text) in [
        ("last_error", &errors[0]),
        ("events", &status),
        ("logs", &logs),
    ] {
        assert!(
            !common::holds_code(text, &code),
            "the code is in the {what}"
        );
    }
}

fn url_of(s: &str) -> url::Url {
    url::Url::parse(s).unwrap()
}

backend_tests!(
    issue_12_sms_codes_go_only_to_mobile_numbers,
    issue_12_attachment_names_lose_invisible_characters_and_device_names,
    issue_12_a_thread_shows_only_what_the_sessions_verification_may_see,
    issue_12_a_relay_quoting_the_code_mail_leaves_no_code_behind,
);

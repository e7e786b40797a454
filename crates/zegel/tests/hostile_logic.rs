//! Issue 12, "Hostile clients", the checks in the service logic, end to end through the real
//! router on SQLite and PostgreSQL: SMS only to mobile numbers; attachment names without
//! invisible or reserved parts; a thread shows only what the session's verification may see.

mod common;

use common::{browser, csrf_of, Backend, TestApp};
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

async fn page(c: &reqwest::Client, url: String) -> (StatusCode, String) {
    let res = c.get(url).send().await.unwrap();
    (res.status(), res.text().await.unwrap())
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
    let (_, landing) = page(&c, app.url(&format!("/m/{link}"))).await;
    let csrf = csrf_of(&landing);
    for step in ["start", "send"] {
        let res = c
            .post(app.url(&format!("/m/{link}/{step}")))
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
    }
    app.run_jobs().await;
    let code = app.last_code(PATIENT);
    let res = c
        .post(app.url(&format!("/m/{link}/verify")))
        .form(&[("csrf", csrf.as_str()), ("code", code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
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
    let (_, landing) = page(&c, app.url(&format!("/m/{link}"))).await;
    let csrf = csrf_of(&landing);
    for step in ["start", "send"] {
        let res = c
            .post(app.url(&format!("/m/{link}/{step}")))
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
    }
    app.run_jobs().await;
    let code = app.last_code(PATIENT);
    let res = c
        .post(app.url(&format!("/m/{link}/verify")))
        .form(&[("csrf", csrf.as_str()), ("code", code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
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

backend_tests!(
    issue_12_sms_codes_go_only_to_mobile_numbers,
    issue_12_attachment_names_lose_invisible_characters_and_device_names,
);

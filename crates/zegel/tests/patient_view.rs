//! The patient's view (issue 14, NEN 7513 right of inspection), on both backends: the
//! recipient's message page under `/m/{token}` lists "Wie heeft dit bericht bekeken?", newest
//! first, in plain words: their own accesses (opened, viewed, attachment downloaded, copy
//! downloaded, forwarded), the sender's (the message opened in the web app or the API's
//! conversation: `sender_viewed`) and those of the person they forwarded it to (masked).
//! Never another recipient the sender chose, never content, file names or network addresses.

mod common;

use common::{browser, open_in_viewer, page, Backend, TestApp};
use serde_json::{json, Value};

const PATIENT: &str = "patient@mail.example";
const OTHER: &str = "huisarts@praktijk.example";
const SISTER: &str = "zus@mail.example";
const FILE_NAME: &str = "uitslag-hiv-test.pdf";

/// The "Wie heeft dit bericht bekeken?" section of a message page.
fn access_section(page: &str) -> &str {
    let start = page
        .find(r#"<section class="access-log""#)
        .expect("the access section on the message page");
    let end = page[start..].find("</section>").expect("its end") + start;
    &page[start..end]
}

/// The rows of the section as (who, what), newest first, HTML entities decoded.
fn access_rows(page: &str) -> Vec<(String, String)> {
    let re = regex::Regex::new(
        r#"<li><time datetime="[^"]+">[^<]+</time> <span class="access-who">([^<]*)</span>: <span class="access-what">([^<]*)</span></li>"#,
    )
    .unwrap();
    let unescape = |s: &str| {
        s.replace("&#x27;", "'")
            .replace("&#39;", "'")
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    };
    re.captures_iter(access_section(page))
        .map(|c| (unescape(&c[1]), unescape(&c[2])))
        .collect()
}

fn rows(want: &[(&str, &str)]) -> Vec<(String, String)> {
    want.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

async fn send_to_two(app: &TestApp) -> Value {
    let form = reqwest::multipart::Form::new()
        .part(
            "message",
            reqwest::multipart::Part::text(
                json!({
                    "subject": "Uitslag bloedonderzoek",
                    "body": "De uitslag is goed.",
                    "recipients": [
                        {"email": PATIENT, "verification": "email"},
                        {"email": OTHER, "verification": "email"},
                    ],
                })
                .to_string(),
            )
            .mime_str("application/json")
            .unwrap(),
        )
        .part(
            "attachment",
            reqwest::multipart::Part::bytes(b"%PDF-1.4 uitslag".to_vec())
                .file_name(FILE_NAME)
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
    let status = res.status();
    let v: Value = res.json().await.unwrap();
    assert_eq!(status, 201, "{v}");
    app.run_jobs().await;
    v
}

async fn the_patient_sees_who_accessed_the_message(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let sent = send_to_two(&app).await;
    let id = sent["id"].as_str().unwrap().to_string();
    let link = app.link_token(PATIENT);

    // Another recipient the sender chose opens and reads it: never on the patient's page.
    let other = browser();
    let other_link = app.link_token(OTHER);
    open_in_viewer(&app, &other, &other_link, OTHER).await;
    let (status, _) = page(&other, app.url(&format!("/m/{other_link}/bericht"))).await;
    assert_eq!(status, 200);

    // The patient opens, reads, downloads the attachment and the copy, forwards.
    let c = browser();
    let csrf = open_in_viewer(&app, &c, &link, PATIENT).await;
    let (status, msg) = page(&c, app.url(&format!("/m/{link}/bericht"))).await;
    assert_eq!(status, 200);
    assert!(msg.contains("Wie heeft dit bericht bekeken?"));
    assert_eq!(
        access_rows(&msg),
        rows(&[("U", "bekeken"), ("U", "geopend met de code")]),
        "the visit that shows the page is in it"
    );
    let att = regex::Regex::new(&format!(r#"href="/m/{link}/bijlage/([^"]+)""#))
        .unwrap()
        .captures(&msg)
        .expect("an attachment link")[1]
        .to_string();
    let res = c
        .get(app.url(&format!("/m/{link}/bijlage/{att}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.unwrap().as_ref(), b"%PDF-1.4 uitslag");
    let res = c
        .get(app.url(&format!("/m/{link}/kopie")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = c
        .post(app.url(&format!("/m/{link}/doorsturen")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", SISTER),
            ("phone", ""),
            ("note", "Lees jij mee?"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    app.run_jobs().await;

    // The sister opens and reads it.
    let z = browser();
    let z_link = app.link_token(SISTER);
    open_in_viewer(&app, &z, &z_link, SISTER).await;
    let (status, z_page) = page(&z, app.url(&format!("/m/{z_link}/bericht"))).await;
    assert_eq!(status, 200);
    // Her own page: only her own accesses (not the patient's, who forwarded it to her).
    assert_eq!(
        access_rows(&z_page),
        rows(&[("U", "bekeken"), ("U", "geopend met de code")])
    );

    // The sender opens the message in the web app: `sender_viewed` for each recipient, not on
    // the sender's own timeline.
    let cookie = app.sender_cookie(&app.sender.email).await;
    let res = app
        .client
        .get(app.url(&format!("/berichten/{id}")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let tracking = res.text().await.unwrap();
    assert!(!tracking.contains("Door u bekeken"));
    let status = app.message_status(&id).await;
    for r in 0..3 {
        assert!(
            common::event_types(&status, r).contains(&"sender_viewed".to_string()),
            "recipient {r}: {status}"
        );
    }

    let (status, msg) = page(&c, app.url(&format!("/m/{link}/bericht"))).await;
    assert_eq!(status, 200);
    let forwardee = "Iemand aan wie u het bericht hebt doorgestuurd (z***@mail.example)";
    assert_eq!(
        access_rows(&msg),
        rows(&[
            ("U", "bekeken"),
            ("De afzender, Dr. Test (Ziekenhuis Test)", "bekeken"),
            (forwardee, "bekeken"),
            (forwardee, "geopend met de code"),
            ("U", "doorgestuurd aan z***@mail.example"),
            ("U", "gedownload als e-mail (kopie)"),
            ("U", "bijlage gedownload"),
            ("U", "bekeken"),
            ("U", "geopend met de code"),
        ])
    );
    let section = access_section(&msg);
    for secret in [
        OTHER,
        "h***@praktijk.example",
        "praktijk",
        SISTER,
        FILE_NAME,
        "uitslag-hiv",
        "Uitslag bloedonderzoek",
        "De uitslag is goed",
        "Lees jij mee",
        "127.0.0.1",
    ] {
        assert!(!section.contains(secret), "{secret} in the access list");
    }
    // Dates in Dutch, Europe/Amsterdam, as elsewhere on the page.
    assert!(section.contains(r#"<time datetime=""#));

    // English by the same switch as the rest of the viewer.
    let (_, en) = page(&c, app.url(&format!("/m/{link}/bericht?lang=en"))).await;
    assert!(en.contains("Who has viewed this message?"));
    assert_eq!(
        access_rows(&en)[..2],
        rows(&[("You", "viewed"), ("You", "viewed"),])[..]
    );
    assert!(access_rows(&en).contains(&(
        "The sender, Dr. Test (Ziekenhuis Test)".to_string(),
        "viewed".to_string()
    )));

    // The sender reads the conversation through the API: another `sender_viewed`.
    let thread_id = status_thread_id(&app, &id).await;
    let res = app
        .client
        .get(app.url(&format!("/api/v1/threads/{thread_id}")))
        .header("authorization", app.auth())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (_, msg) = page(&c, app.url(&format!("/m/{link}/bericht?lang=nl"))).await;
    let senders = access_rows(&msg)
        .iter()
        .filter(|(who, _)| who.starts_with("De afzender"))
        .count();
    assert_eq!(senders, 2, "the web app and the API");
}

/// The conversation id of one's own message (`GET /api/v1/messages/{id}`).
async fn status_thread_id(app: &TestApp, id: &str) -> String {
    let v = app.message_status(id).await;
    v["thread_id"]
        .as_str()
        .unwrap_or_else(|| panic!("thread_id in {v}"))
        .to_string()
}

/// A destroyed message's page is the "gone" page; the sender's view of a destroyed message
/// shows no content and records no `sender_viewed`.
async fn no_sender_view_is_recorded_without_content(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let res = app
        .send_json(json!({
            "subject": "Uitslag",
            "body": "Alles goed.",
            "recipients": [{"email": PATIENT, "verification": "email"}],
        }))
        .await;
    assert_eq!(res.status(), 201);
    let id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.run_jobs().await;
    let res = app
        .client
        .post(app.url(&format!("/api/v1/messages/{id}/revoke")))
        .header("authorization", app.auth())
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cookie = app.sender_cookie(&app.sender.email).await;
    let res = app
        .client
        .get(app.url(&format!("/berichten/{id}")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let kinds: Vec<_> = app
        .z
        .store
        .events_of(&id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event.kind.as_str())
        .collect();
    assert!(!kinds.contains(&"sender_viewed"), "{kinds:?}");
}

backend_tests!(
    the_patient_sees_who_accessed_the_message,
    no_sender_view_is_recorded_without_content,
);

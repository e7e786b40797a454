//! Issue 13: composing in the browser (`/berichten/nieuw`), without JavaScript: the form, the
//! per-field errors (nothing stored for anybody), the confirmation step for warnings (held
//! messages: released by "Toch versturen", destroyed by "Annuleren"), 413, CSRF, and another
//! sender's held message (404).

#[macro_use]
mod common;

use common::{csrf_of, Backend, TestApp};
use reqwest::multipart::{Form, Part};
use zegel_core::model::Role;
use zegel_core::service::NewUserReq;

backend_tests!(
    the_compose_page_needs_a_session_and_has_every_field,
    missing_verification_data_gives_per_field_errors_and_stores_nothing,
    a_first_message_waits_for_toch_versturen_and_only_then_notifies,
    a_known_address_is_sent_at_once,
    annuleren_destroys_the_held_message_and_its_blobs,
    an_upload_over_the_limit_is_413_and_leaves_nothing,
    a_post_without_csrf_is_403_and_stores_nothing,
    another_sender_cannot_see_release_or_cancel_a_held_message,
    ontvanger_toevoegen_without_javascript_keeps_what_was_typed,
    a_typo_of_a_known_address_asks_did_you_mean,
    an_upload_the_client_breaks_off_leaves_nothing,
);

const SENDER: &str = "arts@ziekenhuis.example";

async fn get(app: &TestApp, cookie: &str, path: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

/// The compose form with its CSRF token.
async fn form_csrf(app: &TestApp, cookie: &str) -> String {
    let res = get(app, cookie, "/berichten/nieuw").await;
    assert_eq!(res.status(), 200);
    csrf_of(&res.text().await.unwrap())
}

/// One recipient row: (email, method, phone, code).
type Row<'a> = (&'a str, &'a str, &'a str, &'a str);

fn compose_form(csrf: &str, rows: &[Row<'_>], files: &[(&str, Vec<u8>)]) -> Form {
    let mut f = Form::new().text("csrf", csrf.to_owned());
    for (i, (email, method, phone, code)) in rows.iter().enumerate() {
        f = f
            .text(format!("email_{i}"), email.to_string())
            .text(format!("method_{i}"), method.to_string())
            .text(format!("phone_{i}"), phone.to_string())
            .text(format!("code_{i}"), code.to_string())
            .text(format!("hint_{i}"), String::new());
    }
    f = f
        .text("subject", "Uitslag bloedonderzoek")
        .text("body", "Zie de bijlage.")
        .text("reply", "once")
        .text("days", "14")
        .text("read_receipt", "1");
    for (name, bytes) in files {
        f = f.part(
            "attachment",
            Part::bytes(bytes.clone())
                .file_name(name.to_string())
                .mime_str("application/pdf")
                .unwrap(),
        );
    }
    f
}

async fn post_form(app: &TestApp, cookie: &str, form: Form) -> reqwest::Response {
    app.client
        .post(app.url("/berichten/nieuw"))
        .header("cookie", cookie)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .expect("a redirect")
        .to_str()
        .unwrap()
        .to_owned()
}

/// Nothing of a message is stored: no message, no job, no blob.
async fn nothing_stored(app: &TestApp) {
    assert!(app
        .z
        .store
        .list_messages(&app.sender.id, None, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(app.z.store.job_counts().await.unwrap(), (0, 0));
    assert!(
        app.blob_keys().await.is_empty(),
        "{:?}",
        app.blob_keys().await
    );
}

/// Composes to `email` (e-mail code) with one attachment; returns the redirect target.
async fn compose_to(app: &TestApp, cookie: &str, email: &str) -> String {
    let csrf = form_csrf(app, cookie).await;
    let res = post_form(
        app,
        cookie,
        compose_form(
            &csrf,
            &[(email, "email", "", "")],
            &[("uitslag.pdf", b"%PDF-1.4 uitslag".to_vec())],
        ),
    )
    .await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    location(&res)
}

async fn the_compose_page_needs_a_session_and_has_every_field(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let res = app
        .client
        .get(app.url("/berichten/nieuw"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert!(location(&res).starts_with("/inloggen"));
    let cookie = app.sender_cookie(SENDER).await;
    let res = get(&app, &cookie, "/berichten/nieuw").await;
    assert_eq!(res.status(), 200);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'"));
    let page = res.text().await.unwrap();
    for label in [
        ">Aan<",
        ">Controle<",
        ">Sms-code<",
        ">E-mailcode<",
        ">Eigen code<",
        ">Mobiel nummer<",
        ">Code<",
        ">Hint<",
        ">Onderwerp<",
        ">Bericht<",
        ">Bijlagen<",
        ">Antwoorden<",
        ">Beschikbaar (dagen)<",
        ">Leesbevestiging<",
        ">Versturen<",
        ">Ontvanger toevoegen<",
    ] {
        assert!(page.contains(label), "{label}");
    }
    assert!(page.contains(r#"<script src="/static/compose.js" defer></script>"#));
    assert!(!page.contains("<script>") && !page.contains(" style="));
    let js = app
        .client
        .get(app.url("/static/compose.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), 200);
    assert!(js.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    assert!(js.text().await.unwrap().contains("xhr.abort()"));
}

async fn missing_verification_data_gives_per_field_errors_and_stores_nothing(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let cookie = app.sender_cookie(SENDER).await;
    let csrf = form_csrf(&app, &cookie).await;
    let res = post_form(
        &app,
        &cookie,
        compose_form(
            &csrf,
            &[
                ("goed@voorbeeld.nl", "email", "", ""),
                ("sms@voorbeeld.nl", "sms", "", ""),
                ("vast@voorbeeld.nl", "sms", "020 123 4567", ""),
                ("eigen@voorbeeld.nl", "code", "", ""),
            ],
            &[("scan.pdf", vec![7u8; 50_000])],
        ),
    )
    .await;
    assert_eq!(res.status(), 422);
    let page = res.text().await.unwrap();
    assert!(page.contains(r#"id="fouten" role="alert" tabindex="-1""#));
    for (field, text) in [
        ("phone_1", "Vul het mobiele nummer van ontvanger 2 in"),
        (
            "phone_2",
            "Het nummer van ontvanger 3 is geen mobiel nummer",
        ),
        ("code_3", "Vul de code voor ontvanger 4 in"),
    ] {
        assert!(
            page.contains(&format!(r##"<a href="#{field}">"##)),
            "{field}"
        );
        assert!(page.contains(text), "{text}");
        assert!(
            page.contains(&format!(
                r#"aria-invalid="true" aria-describedby="{field}-fout"#
            )),
            "{field}"
        );
    }
    // What was typed stays.
    assert!(page.contains(r#"value="vast@voorbeeld.nl""#));
    assert!(page.contains("Uitslag bloedonderzoek"));
    nothing_stored(&app).await;
    assert!(app.outbox("mail").is_empty());
    // The refused send is in the audit trail, as one through the API is.
    assert_eq!(app.refused_sends().await, vec!["HTTP 422".to_owned()]);
}

async fn a_first_message_waits_for_toch_versturen_and_only_then_notifies(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let cookie = app.sender_cookie(SENDER).await;
    let to = compose_to(&app, &cookie, "nieuw@voorbeeld.nl").await;
    let id = to
        .strip_prefix("/berichten/nieuw/")
        .and_then(|r| r.strip_suffix("/controle"))
        .unwrap_or_else(|| panic!("held, not {to}"))
        .to_owned();
    // Held: the blob is there, but no notification goes out and it is in no list.
    assert_eq!(app.blob_keys().await.len(), 1);
    assert_eq!(app.run_jobs().await, 0);
    assert!(app.outbox("mail").is_empty());
    assert!(app.sent_messages().await.is_empty());
    let res = get(&app, &cookie, &to).await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(page.contains("Eerste bericht aan dit adres"));
    assert!(page.contains("nieuw@voorbeeld.nl"));
    assert!(page.contains(">Toch versturen<") && page.contains(">Annuleren<"));
    let csrf = csrf_of(&page);
    let res = app
        .client
        .post(app.url(&format!("/berichten/nieuw/{id}/versturen")))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("/berichten/{id}"));
    // Now the notification goes, with the attachment uploaded before the confirmation.
    assert_eq!(app.run_jobs().await, 1);
    let link = app.link_token("nieuw@voorbeeld.nl");
    let access = app.open_by_email(&link, "nieuw@voorbeeld.nl").await;
    let msg: serde_json::Value = app
        .client
        .get(app.url(&format!("/api/v1/access/{link}/message")))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(msg["subject"], "Uitslag bloedonderzoek");
    assert_eq!(msg["attachments"][0]["name"], "uitslag.pdf");
    // The read receipt asked for on the form.
    app.run_jobs().await;
    assert!(app
        .outbox("mail")
        .iter()
        .any(|m| m.contains(&format!("To: {SENDER}")) && m.contains("Leesbevestiging")));
    assert_eq!(app.sent_messages().await.len(), 1);
    // Released once: the confirmation page is gone.
    assert_eq!(get(&app, &cookie, &to).await.status(), 404);
}

async fn a_known_address_is_sent_at_once(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    app.send_simple("bekend@voorbeeld.nl").await;
    let cookie = app.sender_cookie(SENDER).await;
    let to = compose_to(&app, &cookie, "Bekend@Voorbeeld.nl").await;
    let id = to.strip_prefix("/berichten/").unwrap();
    assert!(!id.contains('/'), "{to}");
    assert_eq!(app.run_jobs().await, 1);
    let status: serde_json::Value = app
        .client
        .get(app.url(&format!("/api/v1/messages/{id}")))
        .header("authorization", app.auth())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["recipients"][0]["status"], "notified");
}

async fn annuleren_destroys_the_held_message_and_its_blobs(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let cookie = app.sender_cookie(SENDER).await;
    let to = compose_to(&app, &cookie, "weg@voorbeeld.nl").await;
    let page = get(&app, &cookie, &to).await.text().await.unwrap();
    let csrf = csrf_of(&page);
    let cancel = to.replace("/controle", "/annuleren");
    let res = app
        .client
        .post(app.url(&cancel))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/berichten/nieuw");
    assert!(app.blob_keys().await.is_empty());
    assert_eq!(app.z.store.job_counts().await.unwrap(), (0, 0));
    assert_eq!(get(&app, &cookie, &to).await.status(), 404);
    let release = to.replace("/controle", "/versturen");
    let res = app
        .client
        .post(app.url(&release))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert!(app.sent_messages().await.is_empty());
    assert!(app.outbox("mail").is_empty());
}

async fn an_upload_over_the_limit_is_413_and_leaves_nothing(b: Backend) {
    let Some(app) = TestApp::builder(b)
        .settings(|s| s.max_upload_bytes = 64 * 1024)
        .build()
        .await
    else {
        return;
    };
    let cookie = app.sender_cookie(SENDER).await;
    let csrf = form_csrf(&app, &cookie).await;
    let res = post_form(
        &app,
        &cookie,
        compose_form(
            &csrf,
            &[("groot@voorbeeld.nl", "email", "", "")],
            &[("a.pdf", vec![1u8; 40_000]), ("b.pdf", vec![2u8; 40_000])],
        ),
    )
    .await;
    assert_eq!(res.status(), 413);
    let page = res.text().await.unwrap();
    assert!(page.contains("De bijlagen zijn samen te groot"));
    assert!(page.contains(r##"<a href="#attachment">"##));
    nothing_stored(&app).await;
    assert_eq!(app.refused_sends().await, vec!["HTTP 413".to_owned()]);
}

async fn a_post_without_csrf_is_403_and_stores_nothing(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let cookie = app.sender_cookie(SENDER).await;
    for csrf in ["", "wrong-token"] {
        let res = post_form(
            &app,
            &cookie,
            compose_form(
                csrf,
                &[("x@voorbeeld.nl", "email", "", "")],
                &[("a.pdf", vec![1u8; 1000])],
            ),
        )
        .await;
        assert_eq!(res.status(), 403);
    }
    // Another session's token is no good either.
    let other = app.sender_cookie(SENDER).await;
    let other_csrf = form_csrf(&app, &other).await;
    let res = post_form(
        &app,
        &cookie,
        compose_form(&other_csrf, &[("x@voorbeeld.nl", "email", "", "")], &[]),
    )
    .await;
    assert_eq!(res.status(), 403);
    nothing_stored(&app).await;
}

async fn another_sender_cannot_see_release_or_cancel_a_held_message(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    app.z
        .create_user(NewUserReq {
            email: "ander@ziekenhuis.example".into(),
            name: "Dr. Ander".into(),
            org_slug: Some("default".into()),
            password: None,
            role: Role::Sender,
        })
        .await
        .unwrap();
    let cookie = app.sender_cookie(SENDER).await;
    let to = compose_to(&app, &cookie, "privé@voorbeeld.nl").await;
    let other = app.sender_cookie("ander@ziekenhuis.example").await;
    assert_eq!(get(&app, &other, &to).await.status(), 404);
    let other_csrf = form_csrf(&app, &other).await;
    for action in ["/versturen", "/annuleren"] {
        let res = app
            .client
            .post(app.url(&to.replace("/controle", action)))
            .header("cookie", &other)
            .form(&[("csrf", other_csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{action}");
    }
    // Still held for its own sender; cancelled here so no job is left.
    let page = get(&app, &cookie, &to).await.text().await.unwrap();
    assert!(page.contains("Toch versturen"));
    let res = app
        .client
        .post(app.url(&to.replace("/controle", "/annuleren")))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf_of(&page).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
}

async fn ontvanger_toevoegen_without_javascript_keeps_what_was_typed(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let cookie = app.sender_cookie(SENDER).await;
    let csrf = form_csrf(&app, &cookie).await;
    let form = Form::new()
        .text("csrf", csrf)
        .text("email_0", "een@voorbeeld.nl")
        .text("method_0", "sms")
        .text("phone_0", "06 1234 5678")
        .text("code_0", "")
        .text("hint_0", "")
        .text("add", "1")
        .text("subject", "Onderwerp hier")
        .text("body", "Tekst hier")
        .text("reply", "off")
        .text("days", "7");
    let res = post_form(&app, &cookie, form).await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(page.contains(r#"value="een@voorbeeld.nl""#));
    assert!(page.contains(r#"value="06 1234 5678""#));
    assert!(page.contains(r#"<option value="sms" selected>"#));
    assert!(page.contains(r#"id="email_1""#) && !page.contains(r#"id="email_2""#));
    assert!(page.contains("Ontvanger 2"));
    assert!(page.contains("Onderwerp hier") && page.contains("Tekst hier"));
    assert!(page.contains(r#"<option value="off" selected>"#));
    assert!(page.contains(r#"value="7""#));
    nothing_stored(&app).await;
}

async fn a_typo_of_a_known_address_asks_did_you_mean(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    app.send_simple("jan.jansen@ziekenhuis.nl").await;
    let cookie = app.sender_cookie(SENDER).await;
    let to = compose_to(&app, &cookie, "jan.jasen@ziekenhuis.nl").await;
    let page = get(&app, &cookie, &to).await.text().await.unwrap();
    assert!(
        page.contains("Bedoelde u jan.jansen@ziekenhuis.nl?"),
        "{page}"
    );
    assert!(page.contains("Eerste bericht aan dit adres"));
    // The remembered method is proposed on the form for a known address.
    let res = app
        .client
        .get(app.url("/berichten/nieuw/adres?email=Jan.Jansen@ziekenhuis.nl"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = res.json().await.unwrap();
    assert_eq!(v["verification"], "email");
    let res = app
        .client
        .post(app.url(&to.replace("/controle", "/annuleren")))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf_of(&page).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
}

async fn an_upload_the_client_breaks_off_leaves_nothing(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let cookie = app.sender_cookie(SENDER).await;
    let csrf = form_csrf(&app, &cookie).await;
    let boundary = "XyZzY";
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"email_0\"\r\n\r\nafgebroken@voorbeeld.nl\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"method_0\"\r\n\r\nemail\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"subject\"\r\n\r\nAfgebroken\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"days\"\r\n\r\n7\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"attachment\"; filename=\"half.bin\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    );
    // The head, 2 MiB of the file, then the client goes away (the body stream fails).
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = std::iter::once(Ok(head.into_bytes()))
        .chain((0..32).map(|_| Ok(vec![7u8; 64 * 1024])))
        .chain(std::iter::once(Err(std::io::Error::other(
            "client went away",
        ))))
        .collect();
    let res = app
        .client
        .post(app.url("/berichten/nieuw"))
        .header("cookie", &cookie)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await;
    assert!(res.is_err() || !res.unwrap().status().is_success());
    // The server notices, deletes what it wrote and stores nothing.
    for _ in 0..100 {
        if app.blob_keys().await.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    nothing_stored(&app).await;
}

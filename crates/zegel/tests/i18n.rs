//! Recipient texts in Dutch and English: page language negotiation (`?lang=`, the `zegel_lang`
//! cookie, `Accept-Language`), the language switch, e-mails and SMS in the recipient's stored
//! language, and the accessibility basics of every recipient page.

mod common;

use common::{browser as cookie_client, csrf_of, Backend, TestApp};
use serde_json::{json, Value};

async fn get(c: &reqwest::Client, url: &str, accept: Option<&str>) -> (u16, String, Vec<String>) {
    let mut req = c.get(url);
    if let Some(a) = accept {
        req = req.header("accept-language", a);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let cookies = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    (status, res.text().await.unwrap(), cookies)
}

fn lang_cookie(cookies: &[String]) -> Option<&String> {
    cookies.iter().find(|c| c.starts_with("zegel_lang="))
}

/// Checks that hold on every recipient page: CSP-safe, one h1, a main landmark, labelled
/// fields, the language switch in the other language.
fn assert_accessible(page: &str, lang: &str) {
    assert!(
        page.contains(&format!("<html lang=\"{lang}\">")),
        "html lang {lang}: {page}"
    );
    assert!(!page.contains("style="), "no inline styles: {page}");
    assert!(!page.contains("<script"), "no scripts");
    assert_eq!(page.matches("<h1").count(), 1, "one h1: {page}");
    assert!(page.contains("<main"), "main landmark");
    let other = if lang == "nl" { "en" } else { "nl" };
    let switch = regex::Regex::new(&format!(
        r#"<a class="lang-switch" href="([^"]*\?lang={other})" lang="{other}" hreflang="{other}">(English|Nederlands)</a>"#
    ))
    .unwrap();
    assert!(switch.is_match(page), "language switch to {other}: {page}");
    let inputs = regex::Regex::new(r#"<input id="([^"]+)""#).unwrap();
    for cap in inputs.captures_iter(page) {
        assert!(
            page.contains(&format!("<label for=\"{}\"", &cap[1])),
            "label for {}",
            &cap[1]
        );
    }
    assert!(!page.contains('\u{2068}'), "no bidi isolation marks");
}

async fn send(app: &TestApp, recipient: Value) -> String {
    let email = recipient["email"].as_str().unwrap().to_string();
    let res = app
        .send_json(json!({
            "subject": "Uitslag bloedonderzoek",
            "body": "Alles goed.",
            "recipients": [recipient],
        }))
        .await;
    assert_eq!(res.status(), 201);
    app.run_jobs().await;
    app.link_token(&email)
}

async fn accept_language_en_gives_an_english_landing_page(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let link = send(
        &app,
        json!({"email": "al@example.nl", "verification": "email"}),
    )
    .await;
    let c = cookie_client();
    let url = app.url(&format!("/m/{link}"));
    let (status, page, cookies) = get(&c, &url, Some("en-GB,en;q=0.9,nl;q=0.8")).await;
    assert_eq!(status, 200);
    assert_accessible(&page, "en");
    assert!(page.contains("You have a secure message"), "{page}");
    assert!(page.contains(">Open message</button>"));
    assert!(page.contains("<strong>Dr. Test</strong> of <strong>Ziekenhuis Test</strong>"));
    assert!(page.contains(&format!(r#"href="/m/{link}?lang=nl""#)));
    assert!(page.contains(">Nederlands</a>"));
    assert!(
        lang_cookie(&cookies).is_none(),
        "Accept-Language sets no cookie"
    );
    // Dutch first: German plus Dutch gives Dutch, and an unknown language gives Dutch.
    for accept in ["de-DE,nl;q=0.5,en;q=0.3", "fr-FR,de", ""] {
        let (_, page, _) = get(&c, &url, Some(accept)).await;
        assert_accessible(&page, "nl");
        assert!(page.contains("Bericht openen") && page.contains(">English</a>"));
    }
    // Every page of the flow is English, including the code page and its errors.
    let page = c
        .get(app.url(&format!("/m/{link}/send")))
        .header("accept-language", "en")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_accessible(&page, "en");
    assert!(page.contains("Send me the code"), "{page}");
}

async fn the_lang_query_sets_a_cookie_that_later_pages_follow(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let link = send(
        &app,
        json!({"email": "q@example.nl", "verification": "email"}),
    )
    .await;
    let c = cookie_client();
    let (status, page, cookies) =
        get(&c, &app.url(&format!("/m/{link}?lang=en")), Some("nl")).await;
    assert_eq!(status, 200);
    assert_accessible(&page, "en");
    let cookie = lang_cookie(&cookies).expect("zegel_lang is set");
    for part in [
        "zegel_lang=en",
        "Path=/",
        "SameSite=Lax",
        "HttpOnly",
        "Max-Age=31536000",
    ] {
        assert!(cookie.contains(part), "{part} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "http public URL: {cookie}");
    // Later pages without the query stay English (the cookie beats Accept-Language) ...
    let (_, page, cookies) = get(&c, &app.url(&format!("/m/{link}")), Some("nl")).await;
    assert_accessible(&page, "en");
    assert!(lang_cookie(&cookies).is_none());
    let (_, page, _) = get(&c, &app.url(&format!("/m/{link}/code")), Some("nl")).await;
    assert_accessible(&page, "en");
    assert!(page.contains("Enter code"));
    // ... also the problem page of an unknown link.
    let unknown = zegel_crypto::random_token();
    let (status, page, _) = get(&c, &app.url(&format!("/m/{unknown}")), None).await;
    assert_eq!(status, 404);
    assert_accessible(&page, "en");
    assert!(page.contains("This link does not work"));
    // Unknown values are ignored: still English, no new cookie.
    let (_, page, cookies) = get(&c, &app.url(&format!("/m/{link}?lang=de")), None).await;
    assert_accessible(&page, "en");
    assert!(lang_cookie(&cookies).is_none());
    let (_, page, cookies) = get(&c, &app.url(&format!("/m/{link}?lang=%3Cscript%3E")), None).await;
    assert_accessible(&page, "en");
    assert!(lang_cookie(&cookies).is_none());
    // And back to Dutch.
    let (_, page, cookies) = get(&c, &app.url(&format!("/m/{link}?lang=nl")), None).await;
    assert_accessible(&page, "nl");
    assert!(lang_cookie(&cookies).unwrap().starts_with("zegel_lang=nl"));
    let (_, page, _) = get(&c, &app.url(&format!("/m/{link}")), Some("en")).await;
    assert_accessible(&page, "nl");
    // A fresh client with an unknown value and no other hint: Dutch, no cookie.
    let (_, page, cookies) = get(
        &cookie_client(),
        &app.url(&format!("/m/{link}?lang=xx")),
        None,
    )
    .await;
    assert_accessible(&page, "nl");
    assert!(lang_cookie(&cookies).is_none());
}

async fn the_unknown_path_fallback_honours_the_language(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let c = cookie_client();
    let (status, page, _) = get(&c, &app.url("/nergens?lang=en"), None).await;
    assert_eq!(status, 404);
    assert_accessible(&page, "en");
    assert!(
        page.contains(r#"href="?lang=nl""#),
        "query-only switch: {page}"
    );
    let (_, page, _) = get(&c, &app.url("/nergens"), None).await;
    assert_accessible(&page, "nl");
    assert!(page.contains("Deze link werkt niet"));
}

async fn an_english_recipient_gets_english_mail_and_codes(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let link = send(
        &app,
        json!({"email": "en@example.nl", "verification": "email", "language": "en"}),
    )
    .await;
    let mails = app.outbox("mail");
    assert_eq!(mails.len(), 1);
    let msg = mail_parser::MessageParser::default()
        .parse(mails[0].as_bytes())
        .unwrap();
    assert_eq!(
        msg.subject().unwrap(),
        "Secure message from Ziekenhuis Test"
    );
    let text = msg.body_text(0).unwrap().replace("\r\n", "\n");
    let html = msg.body_html(0).unwrap();
    assert!(
        text.contains("Dr. Test of Ziekenhuis Test has sent you a secure message."),
        "{text}"
    );
    assert!(text.contains(&format!("Read message:\n{}/m/{link}\n", app.base)));
    assert!(html.contains("<html lang=\"en\">") && html.contains(">Read message</a>"));
    assert!(!text.contains("Bericht lezen"));
    for m in [mails[0].as_str(), &text, &html] {
        assert!(!m.contains("Uitslag") && !m.contains("bloedonderzoek"));
        assert!(!m.contains("Alles goed"));
    }
    // The code by e-mail is English too, and the code is its only run of digits.
    let res = app
        .client
        .post(app.url(&format!("/api/v1/access/{link}/challenge")))
        .json(&json!({"method": "email"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    app.run_jobs().await;
    let mails = app.outbox("mail");
    let code_mail = mail_parser::MessageParser::default()
        .parse(mails.last().unwrap().as_bytes())
        .unwrap();
    assert_eq!(
        code_mail.subject().unwrap(),
        "Your access code for the message from Ziekenhuis Test"
    );
    let body = code_mail.body_text(0).unwrap();
    let digits: String = body.chars().filter(|c| c.is_ascii_digit()).collect();
    assert_eq!(digits.len(), 6, "{body}");
    assert!(body.contains(&format!("Your one-time access code is: {digits}")));
    let res = app
        .client
        .post(app.url(&format!("/api/v1/access/{link}/verify")))
        .json(&json!({"code": digits}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // SMS in English for an English recipient, in Dutch for the default.
    for (email, lang, expect) in [
        (
            "sms-en@example.nl",
            Some("en"),
            "Your code for the secure message",
        ),
        (
            "sms-nl@example.nl",
            None,
            "Uw code voor het beveiligde bericht",
        ),
    ] {
        let mut r = json!({"email": email, "phone": "+31612345678", "verification": "sms"});
        if let Some(l) = lang {
            r["language"] = json!(l);
        }
        let link = send(&app, r).await;
        let before = app.outbox("sms").len();
        let res = app
            .client
            .post(app.url(&format!("/api/v1/access/{link}/challenge")))
            .json(&json!({"method": "sms"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 202);
        app.run_jobs().await;
        let sms = app.outbox("sms");
        assert_eq!(sms.len(), before + 1);
        let v: Value = serde_json::from_str(sms.last().unwrap()).unwrap();
        assert!(v["body"].as_str().unwrap().starts_with(expect), "{v}");
    }
}

async fn the_english_viewer_flow_is_accessible_end_to_end(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let form = reqwest::multipart::Form::new()
        .part(
            "message",
            reqwest::multipart::Part::text(
                json!({
                    "subject": "Scan",
                    "body": "See the attachment.",
                    "recipients": [{"email": "flow@example.nl", "verification": "email"}]
                })
                .to_string(),
            )
            .mime_str("application/json")
            .unwrap(),
        )
        .part(
            "attachment",
            reqwest::multipart::Part::bytes(vec![7u8; 3 * 1024 * 1024 / 2])
                .file_name("een-heel-lange-bestandsnaam-zonder-spaties-die-moet-afbreken.pdf")
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
    app.run_jobs().await;
    let link = app.link_token("flow@example.nl");
    let c = cookie_client();
    let (_, page, _) = get(&c, &app.url(&format!("/m/{link}?lang=en")), None).await;
    let csrf = csrf_of(&page);
    let res = c
        .post(app.url(&format!("/m/{link}/start")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let (_, page, _) = get(&c, &app.url(&format!("/m/{link}/send")), None).await;
    assert_accessible(&page, "en");
    assert!(
        page.contains(r#"<strong class="addr">f***@example.nl</strong>"#),
        "{page}"
    );
    let res = c
        .post(app.url(&format!("/m/{link}/send")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    app.run_jobs().await;
    let (_, page, _) = get(&c, &app.url(&format!("/m/{link}/code?verstuurd=1")), None).await;
    assert_accessible(&page, "en");
    assert!(page.contains("We have sent the code by e-mail"));
    for attr in [
        r#"name="code""#,
        r#"autocomplete="one-time-code""#,
        r#"inputmode="numeric""#,
        r#"pattern="[0-9]*""#,
        r#"maxlength="6""#,
        r#"<label for="code">Code (6 digits)</label>"#,
    ] {
        assert!(page.contains(attr), "{attr}: {page}");
    }
    // A wrong code: English error, linked to the field, announced.
    let res = c
        .post(app.url(&format!("/m/{link}/verify")))
        .form(&[("csrf", csrf.as_str()), ("code", "000000")])
        .send()
        .await
        .unwrap();
    let page = res.text().await.unwrap();
    let code = {
        // The code mail went to a Dutch-default recipient: read its digits.
        let mails = app.outbox("mail");
        let m = mail_parser::MessageParser::default()
            .parse(mails.last().unwrap().as_bytes())
            .unwrap();
        let t = m.body_text(0).unwrap();
        t.chars().filter(|c| c.is_ascii_digit()).collect::<String>()
    };
    if code != "000000" {
        assert_accessible(&page, "en");
        assert!(page.contains("This code is not correct. You can try 4 more times."));
        assert!(page.contains(r#"role="alert" id="code-fout""#));
        assert!(page.contains(r#"aria-invalid="true" aria-describedby="code-fout""#));
        // A POST response links the switch to the landing page.
        assert!(
            page.contains(&format!(r#"href="/m/{link}?lang=nl""#)),
            "{page}"
        );
    }
    let res = c
        .post(app.url(&format!("/m/{link}/verify")))
        .form(&[("csrf", csrf.as_str()), ("code", code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let (status, page, _) = get(&c, &app.url(&format!("/m/{link}/bericht")), None).await;
    assert_eq!(status, 200);
    assert_accessible(&page, "en");
    assert!(page.contains("<dt>From</dt><dd>Dr. Test (Ziekenhuis Test)</dd>"));
    assert!(page.contains("<h2>Attachments</h2>"));
    assert!(page.contains(
        r#"<span class="file-name">een-heel-lange-bestandsnaam-zonder-spaties-die-moet-afbreken.pdf</span> <span class="file-meta">PDF document, 1.5 MB</span>"#
    ), "{page}");
    assert!(page.contains(&format!(r#"href="/m/{link}/bericht?lang=nl""#)));
    // The same page in Dutch.
    let (_, page, _) = get(&c, &app.url(&format!("/m/{link}/bericht?lang=nl")), None).await;
    assert_accessible(&page, "nl");
    assert!(page.contains("<dt>Van</dt>") && page.contains("PDF-document, 1,5 MB"));
}

async fn problem_pages_speak_the_page_language(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let (id, link) = app.send_simple("gone@example.nl").await;
    assert!(app
        .z
        .store
        .destroy_message(
            &id,
            zegel_core::model::MessageState::Expired,
            zegel_core::model::Ts::now(),
            "system"
        )
        .await
        .unwrap());
    let c = cookie_client();
    let (status, page, _) = get(&c, &app.url(&format!("/m/{link}")), Some("en")).await;
    assert_eq!(status, 410);
    assert_accessible(&page, "en");
    assert!(page.contains("This message has expired"));
    assert!(page.contains("This message was available until "));
    assert!(page.contains("Then contact Dr. Test of Ziekenhuis Test."));
    let (_, page, _) = get(&c, &app.url(&format!("/m/{link}")), None).await;
    assert_accessible(&page, "nl");
    assert!(page.contains("Dit bericht is verlopen"));
    assert!(page.contains("Neem dan contact op met Dr. Test van Ziekenhuis Test."));
    // The CSRF page (a POST response) links back to the start.
    let (_, link2) = app.send_simple("csrf@example.nl").await;
    let res = c
        .post(app.url(&format!("/m/{link2}/start")))
        .header("accept-language", "en")
        .form(&[("csrf", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let page = res.text().await.unwrap();
    assert_accessible(&page, "en");
    assert!(page.contains("This page has expired"));
    assert!(page.contains(&format!(r#"href="/m/{link2}">Back to the start</a>"#)));
}

backend_tests!(
    accept_language_en_gives_an_english_landing_page,
    the_lang_query_sets_a_cookie_that_later_pages_follow,
    the_unknown_path_fallback_honours_the_language,
    an_english_recipient_gets_english_mail_and_codes,
    the_english_viewer_flow_is_accessible_end_to_end,
    problem_pages_speak_the_page_language,
);

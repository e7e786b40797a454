//! The SMTP submission gateway (issue 15) with a real mail client (Python's smtplib) over
//! STARTTLS with a certificate from a throw-away CA: an Outlook-shaped mail becomes a secure
//! message the patient opens and downloads byte for byte; AUTH before STARTTLS, a wrong
//! password, an oversize mail, winmail.dat and recipients Zegel cannot verify are refused with
//! nothing kept. Both backends.

mod common;
#[allow(dead_code)]
mod common_bin;

use base64::Engine as _;
use common::{random_bytes, Backend, TestApp};
use common_bin::internal_ca;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zegel::smtp::SubmissionSettings;
use zegel_core::outbound::{SmtpMailer, SmtpSettings, SmtpTls};

const PATIENT: &str = "patient@example.nl";

/// A running gateway on the test app's Zegel, with a credential for the app's sender.
struct Gateway {
    port: u16,
    ca: PathBuf,
    user: String,
    password: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn gateway(app: &TestApp, max_bytes: usize) -> Gateway {
    let ca_dir = app.dir.path().join("ca");
    std::fs::create_dir_all(&ca_dir).unwrap();
    let (ca, cert, key) = internal_ca(&ca_dir);
    let settings = SubmissionSettings {
        listen: "127.0.0.1:0".into(),
        cert_pem: std::fs::read(cert).unwrap(),
        key_pem: std::fs::read(key).unwrap(),
        max_bytes,
        per_minute: 600,
        hostname: "zegel.test".into(),
    };
    let listener = zegel::smtp::bind(&settings).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let z = app.z.clone();
    tokio::spawn(async move {
        zegel::smtp::serve(listener, z, settings, async {
            let _ = stopped.await;
        })
        .await
    });
    let c = app
        .z
        .create_smtp_credential(&app.sender, "outlook", None)
        .await
        .unwrap();
    Gateway {
        port,
        ca,
        user: c.username,
        password: c.password,
        stop: Some(stop),
    }
}

/// Runs the Python client with these steps; the replies as (code, text).
async fn client(gw: &Gateway, steps: Value) -> Vec<(Value, String)> {
    common_bin::smtp_client(gw.port, &gw.ca, steps).await
}

fn codes(replies: &[(Value, String)]) -> Vec<Value> {
    replies.iter().map(|(c, _)| c.clone()).collect()
}

/// The steps of one authenticated submission of the mail in `path`.
fn submit_steps(gw: &Gateway, mech: &str, rcpts: &[&str], path: &Path) -> Value {
    submit_steps_as(&gw.user, &gw.password, mech, rcpts, path)
}

fn submit_steps_as(user: &str, password: &str, mech: &str, rcpts: &[&str], path: &Path) -> Value {
    let mut steps = vec![
        json!(["ehlo"]),
        json!(["starttls"]),
        json!(["ehlo"]),
        json!(["auth", mech, user, password]),
        json!(["mail", "arts@ziekenhuis.example", null]),
    ];
    for r in rcpts {
        steps.push(json!(["rcpt", r]));
    }
    steps.push(json!(["data", path]));
    steps.push(json!(["quit"]));
    Value::Array(steps)
}

fn b64_lines(data: &[u8]) -> String {
    let b = base64::engine::general_purpose::STANDARD.encode(data);
    b.as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// Outlook's shape: multipart/mixed( multipart/related( multipart/alternative(text, html),
/// inline image ), attachment with an RFC 2047 name, attachment with an RFC 2231 name ).
/// The header's To, Cc and Bcc name other people than the envelope.
fn outlook_mail(image: &[u8], pdf: &[u8], doc: &[u8]) -> Vec<u8> {
    let mail = format!(
        "From: Dr. Test <arts@ziekenhuis.example>\r\n\
To: Mevrouw Jansen <{PATIENT}>, iemand-anders@example.nl\r\n\
Cc: collega@ziekenhuis.example\r\n\
Bcc: stiekem@example.nl\r\n\
Subject: [beveiligd] Uitslag onderzoek =?utf-8?q?=C3=A9=C3=A9n?=\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"_mixed_\"\r\n\
\r\n\
--_mixed_\r\n\
Content-Type: multipart/related; boundary=\"_related_\"; type=\"multipart/alternative\"\r\n\
\r\n\
--_related_\r\n\
Content-Type: multipart/alternative; boundary=\"_alt_\"\r\n\
\r\n\
--_alt_\r\n\
Content-Type: text/plain; charset=\"utf-8\"\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
Beste mevrouw Jansen,=0D=0A=0D=0ADe uitslag is binnen: geen bijzonderheden. Met vri=\r\n\
endelijke groet, Dr. Test\r\n\
\r\n\
--_alt_\r\n\
Content-Type: text/html; charset=\"utf-8\"\r\n\
\r\n\
<html><body><p>Beste mevrouw Jansen,</p><p>De uitslag is binnen: <b>geen bijzonderheden</b>.</p>\
<img src=\"cid:logo@zh\"><script>alert(1)</script><a href=\"javascript:x()\" onclick=\"x()\">hier</a>\
</body></html>\r\n\
--_alt_--\r\n\
\r\n\
--_related_\r\n\
Content-Type: image/png; name=\"image001.png\"\r\n\
Content-Disposition: inline; filename=\"image001.png\"\r\n\
Content-ID: <logo@zh>\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
{image}\r\n\
--_related_--\r\n\
\r\n\
--_mixed_\r\n\
Content-Type: application/pdf; name=\"=?utf-8?B?{pdf_name}?=\"\r\n\
Content-Disposition: attachment; filename=\"=?utf-8?B?{pdf_name}?=\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
{pdf}\r\n\
--_mixed_\r\n\
Content-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document\r\n\
Content-Disposition: attachment; filename*=utf-8''Verwijsbrief%20huisarts%20%E2%80%93%20d%C3%A9finitief.docx\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
{doc}\r\n\
--_mixed_--\r\n",
        image = b64_lines(image),
        pdf = b64_lines(pdf),
        doc = b64_lines(doc),
        pdf_name = base64::engine::general_purpose::STANDARD.encode("Uitslag bloedonderzoek – Jansen.pdf"),
    );
    mail.into_bytes()
}

fn write_mail(app: &TestApp, name: &str, mail: &[u8]) -> PathBuf {
    let p = app.dir.path().join(name);
    std::fs::write(&p, mail).unwrap();
    p
}

async fn an_outlook_mail_becomes_a_secure_message_the_patient_downloads_byte_for_byte(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let gw = gateway(&app, 10 << 20).await;
    let image = random_bytes(3_000);
    let pdf = random_bytes(200_000);
    let doc = random_bytes(70_001);
    let path = write_mail(&app, "outlook.eml", &outlook_mail(&image, &pdf, &doc));
    let replies = client(&gw, submit_steps(&gw, "PLAIN", &[PATIENT], &path)).await;
    let (code, text) = &replies[6];
    assert_eq!(code, &json!(250), "{replies:?}");
    assert!(text.contains("Beveiligd verstuurd"), "{text}");

    // One message, to the envelope recipient only (never the header's To, Cc or Bcc).
    let sent = app.sent_messages().await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    let id = sent[0]["id"].as_str().unwrap().to_owned();
    assert!(text.contains(&id), "{text}");
    let status = app.message_status(&id).await;
    let rcpts: Vec<&str> = status["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["email"].as_str().unwrap())
        .collect();
    assert_eq!(rcpts, vec![PATIENT]);
    assert_eq!(status["recipients"][0]["verification"], "email");

    // The notification carries no content; the patient opens the message.
    app.run_jobs().await;
    let notification = app.outbox("mail").join("\n");
    assert!(
        !notification.contains("Uitslag onderzoek"),
        "{notification}"
    );
    let link = app.link_token(PATIENT);
    let at = app.open_by_email(&link, PATIENT).await;
    let m = app.access_message(&link, &at).await;
    assert_eq!(m["subject"], "Uitslag onderzoek één", "{m}");
    let body = m["body"].as_str().unwrap();
    assert!(body.contains("geen bijzonderheden"), "{body}");
    assert!(body.contains("Met vriendelijke groet"), "{body}");
    // The HTML body is kept and shown only sanitised: markup stays, script, handlers,
    // javascript: links and images go.
    let html = m["html"]
        .as_str()
        .unwrap_or_else(|| panic!("an HTML body: {m}"));
    assert!(
        html.contains("<p>De uitslag is binnen: <b>geen bijzonderheden</b>.</p>"),
        "{html}"
    );
    for gone in ["<script", "alert", "onclick", "javascript", "<img", "cid:"] {
        assert!(!html.contains(gone), "{gone} in {html}");
    }
    // The patient's page shows the sanitised HTML (and still not the script).
    let c = common::browser();
    common::open_in_viewer(&app, &c, &link, PATIENT).await;
    let (status, shown) = common::page(&c, app.url(&format!("/m/{link}/bericht"))).await;
    assert_eq!(status, 200);
    assert!(
        shown.contains("<div class=\"body html-body\"><p>Beste mevrouw Jansen,</p>"),
        "{shown}"
    );
    assert!(
        !shown.contains("alert(1)") && !shown.contains("onclick"),
        "{shown}"
    );
    let atts = m["attachments"].as_array().unwrap();
    let names: Vec<&str> = atts.iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        vec![
            "image001.png",
            "Uitslag bloedonderzoek – Jansen.pdf",
            "Verwijsbrief huisarts – définitief.docx"
        ]
    );
    assert_eq!(atts[1]["content_type"], "application/pdf");
    for (att, expected) in atts.iter().zip([&image, &pdf, &doc]) {
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
        assert_eq!(res.bytes().await.unwrap().as_ref(), expected.as_slice());
    }
    // Blobs hold ciphertext only.
    for key in app.blob_keys().await {
        let stored = std::fs::read(app.dir.path().join("blobs").join(&key)).unwrap();
        assert!(!stored.windows(32).any(|w| w == &pdf[5000..5032]));
    }
    app.run_jobs().await;
}

async fn auth_needs_starttls_and_the_right_password(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let gw = gateway(&app, 1 << 20).await;
    let plain =
        base64::engine::general_purpose::STANDARD.encode(format!("\0{}\0{}", gw.user, gw.password));
    // Before STARTTLS: no AUTH offered, AUTH refused even with the right password, no MAIL.
    let replies = client(
        &gw,
        json!([
            ["ehlo"],
            ["raw", format!("AUTH PLAIN {plain}")],
            ["mail", "arts@ziekenhuis.example", null],
            ["quit"]
        ]),
    )
    .await;
    assert_eq!(
        codes(&replies),
        vec![json!(250), json!(530), json!(530), json!(221)]
    );
    assert!(replies[0].1.contains("STARTTLS"), "{replies:?}");
    assert!(!replies[0].1.contains("AUTH"), "{replies:?}");
    assert!(replies[1].1.contains("STARTTLS"), "{replies:?}");

    // After STARTTLS: AUTH offered; a wrong password 535 (and an audit entry); MAIL still
    // refused; then LOGIN with the right one.
    let replies = client(
        &gw,
        json!([
            ["ehlo"],
            ["starttls"],
            ["ehlo"],
            ["auth", "PLAIN", gw.user, "not-the-password"],
            ["mail", "arts@ziekenhuis.example", null],
            ["auth", "LOGIN", gw.user, gw.password],
            ["mail", "arts@ziekenhuis.example", null],
            ["quit"]
        ]),
    )
    .await;
    assert_eq!(
        codes(&replies),
        vec![
            json!(250),
            json!(220),
            json!(250),
            json!(535),
            json!(530),
            json!(235),
            json!(250),
            json!(221)
        ],
        "{replies:?}"
    );
    assert!(replies[2].1.contains("AUTH PLAIN LOGIN"), "{replies:?}");
    let events = app.z.store.account_events(&app.sender.id).await.unwrap();
    let failed: Vec<_> = events
        .iter()
        .filter(|e| {
            e.event.kind == zegel_core::signin::AccountEventKind::SignInFailed
                && e.event.detail.as_deref() == Some("smtp")
        })
        .collect();
    assert_eq!(failed.len(), 1, "{events:?}");
    assert_eq!(failed[0].event.ip.as_deref(), Some("127.0.0.1"));

    // An unknown user name is refused the same way; three failures close the session.
    let replies = client(
        &gw,
        json!([
            ["ehlo"],
            ["starttls"],
            ["ehlo"],
            ["auth", "PLAIN", "zegel-000000000000", gw.password],
            ["auth", "PLAIN", gw.user, "x"],
            ["auth", "LOGIN", gw.user, "y"],
            ["noop"]
        ]),
    )
    .await;
    assert_eq!(
        codes(&replies)[3..],
        [json!(535), json!(535), json!(421), json!("closed")],
        "{replies:?}"
    );
    assert!(app.sent_messages().await.is_empty());
}

/// A system that opens a session for each mail pays the Argon2id verification once: the same
/// user name and password within the time to live are not verified again; a wrong password
/// always is, and a revoked credential is refused even though its login was remembered.
async fn a_system_that_logs_in_again_is_verified_once(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let gw = gateway(&app, 1 << 20).await;
    let login = |user: &str, password: &str| {
        json!([
            ["ehlo"],
            ["starttls"],
            ["ehlo"],
            ["auth", "PLAIN", user, password],
            ["quit"]
        ])
    };
    let hashed = || app.z.smtp_logins.verifications();
    let before = hashed();
    for _ in 0..3 {
        let replies = client(&gw, login(&gw.user, &gw.password)).await;
        assert_eq!(replies[3].0, json!(235), "{replies:?}");
    }
    assert_eq!(hashed() - before, 1, "three logins, one verification");
    for _ in 0..2 {
        let replies = client(&gw, login(&gw.user, "not-the-password")).await;
        assert_eq!(replies[3].0, json!(535), "{replies:?}");
    }
    assert_eq!(
        hashed() - before,
        3,
        "a wrong password is verified every time"
    );

    // Another credential of the same user is verified on its own.
    let other = app
        .z
        .create_smtp_credential(&app.sender, "hix", None)
        .await
        .unwrap();
    let replies = client(&gw, login(&other.username, &other.password)).await;
    assert_eq!(replies[3].0, json!(235), "{replies:?}");
    assert_eq!(hashed() - before, 4);

    // Revoked: the remembered login no longer opens a session.
    assert!(app.z.revoke_smtp_credential(&gw.user).await.unwrap());
    let replies = client(&gw, login(&gw.user, &gw.password)).await;
    assert_eq!(replies[3].0, json!(535), "{replies:?}");
    let replies = client(&gw, login(&other.username, &other.password)).await;
    assert_eq!(replies[3].0, json!(235), "{replies:?}");
}

async fn an_oversize_mail_is_refused_while_streaming_and_nothing_is_kept(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let max = 100_000;
    let gw = gateway(&app, max).await;
    let big = outlook_mail(&random_bytes(10), &random_bytes(200_000), &random_bytes(10));
    let big_path = write_mail(&app, "big.eml", &big);
    let small = outlook_mail(&random_bytes(10), &random_bytes(1_000), &random_bytes(10));
    let small_path = write_mail(&app, "small.eml", &small);
    let replies = client(
        &gw,
        json!([
            ["ehlo"],
            ["starttls"],
            ["ehlo"],
            ["auth", "PLAIN", gw.user, gw.password],
            // Announced too big: refused before any data.
            ["mail", "arts@ziekenhuis.example", big.len()],
            // Not announced: refused once the data passes the limit, and the session goes on.
            ["mail", "arts@ziekenhuis.example", null],
            ["rcpt", PATIENT],
            ["data", big_path],
            ["mail", "arts@ziekenhuis.example", null],
            ["rcpt", PATIENT],
            ["data", small_path],
            ["quit"]
        ]),
    )
    .await;
    assert_eq!(
        codes(&replies)[4..11],
        [
            json!(552),
            json!(250),
            json!(250),
            json!(552),
            json!(250),
            json!(250),
            json!(250)
        ],
        "{replies:?}"
    );
    assert!(replies[2].1.contains(&format!("SIZE {max}")), "{replies:?}");
    assert!(replies[7].1.contains("te groot"), "{replies:?}");
    // Only the small one is kept: one message, its three blobs.
    let sent = app.sent_messages().await;
    assert_eq!(sent.len(), 1);
    assert_eq!(app.blob_keys().await.len(), 3);
    // Both refusals are failed sends in the audit trail, with the reply's codes.
    assert_eq!(
        app.refused_sends().await,
        ["SMTP 552 5.3.4", "SMTP 552 5.3.4"]
    );
    app.run_jobs().await;
}

async fn recipients_are_verified_as_the_organisation_last_did(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let gw = gateway(&app, 1 << 20).await;
    // The organisation sent to these before: by SMS (with the number) and by a phone code.
    for r in [
        json!({"email": "sms@example.nl", "phone": "06 12345678", "verification": "sms"}),
        json!({"email": "code@example.nl", "verification": "code", "code": "482913"}),
    ] {
        let res = app
            .send_json(json!({"subject": "eerder", "body": "b", "recipients": [r]}))
            .await;
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    }
    app.run_jobs().await;
    let mail = outlook_mail(&random_bytes(10), &random_bytes(100), &random_bytes(10));
    let path = write_mail(&app, "m.eml", &mail);

    // The SMS recipient gets an SMS code to the remembered number.
    let replies = client(&gw, submit_steps(&gw, "PLAIN", &["SMS@example.nl"], &path)).await;
    assert_eq!(replies[6].0, json!(250), "{replies:?}");
    let id = replies[6].1.rsplit(' ').next().unwrap().to_owned();
    let status = app.message_status(&id).await;
    assert_eq!(status["recipients"][0]["email"], "sms@example.nl");
    assert_eq!(status["recipients"][0]["verification"], "sms", "{status}");

    // A recipient who gets a code by phone cannot be sent to by mail: 550 naming the address,
    // in Dutch and English, and nothing is stored (also not for the other recipient).
    let before = app.sent_messages().await.len();
    let replies = client(
        &gw,
        submit_steps(&gw, "LOGIN", &["new@example.nl", "code@example.nl"], &path),
    )
    .await;
    let (code, text) = &replies[7];
    assert_eq!(code, &json!(550), "{replies:?}");
    assert!(text.contains("code@example.nl"), "{text}");
    assert!(text.contains("webapp"), "{text}");
    assert!(text.contains("web app"), "{text}");
    assert_eq!(app.sent_messages().await.len(), before);
    app.run_jobs().await;
}

async fn winmail_dat_and_unreadable_mail_bounce_with_a_reason(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let gw = gateway(&app, 1 << 20).await;
    let tnef = format!(
        "From: a@ziekenhuis.example\r\nSubject: x\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nzie bijlage\r\n\
--b\r\nContent-Type: application/ms-tnef; name=\"winmail.dat\"\r\n\
Content-Disposition: attachment; filename=\"winmail.dat\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
        b64_lines(&random_bytes(500))
    );
    let path = write_mail(&app, "tnef.eml", tnef.as_bytes());
    let replies = client(&gw, submit_steps(&gw, "PLAIN", &[PATIENT], &path)).await;
    let (code, text) = &replies[6];
    assert_eq!(code, &json!(554), "{replies:?}");
    assert!(text.contains("winmail.dat"), "{text}");
    // A subject-less mail: refused as the API refuses it.
    let path = write_mail(&app, "nosubject.eml", b"From: a@b.nl\r\n\r\nhallo\r\n");
    let replies = client(&gw, submit_steps(&gw, "PLAIN", &[PATIENT], &path)).await;
    assert_eq!(replies[6].0, json!(554), "{replies:?}");
    assert!(app.sent_messages().await.is_empty());
    assert!(app.blob_keys().await.is_empty());
    assert_eq!(
        app.refused_sends().await,
        ["SMTP 554 5.6.0", "SMTP 554 5.6.0"]
    );
}

/// A submitted mail whose notification fails for good comes back to the sender's mail client
/// as a delivery status notification (RFC 3464), with the null sender and no content; a
/// message sent in the web app or the API gets none (its sender sees the failure there).
async fn a_notification_that_fails_for_good_comes_back_as_a_dsn(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let port = common_bin::free_port();
    let sink = common_bin::SmtpSink::start_mode(
        port,
        &dir.path().join("relay"),
        &format!("reject550to:{PATIENT}"),
    )
    .await;
    let mailer = Arc::new(
        SmtpMailer::new(&SmtpSettings {
            url: url::Url::parse(&format!("smtp://127.0.0.1:{port}")).unwrap(),
            tls: SmtpTls::None,
            ca_pem: None,
            from_addr: "zegel@ziekenhuis.example".into(),
            timeout: std::time::Duration::from_secs(10),
            dkim: None,
        })
        .unwrap(),
    );
    let Some(app) = TestApp::builder(b)
        .mailer(mailer)
        .leave_jobs()
        .build()
        .await
    else {
        return;
    };
    let gw = gateway(&app, 1 << 20).await;
    let path = write_mail(
        &app,
        "kort.eml",
        "From: arts@ziekenhuis.example\r\nSubject: Uitslag Jansen\r\n\r\nGeen bijzonderheden.\r\n"
            .as_bytes(),
    );
    let replies = client(&gw, submit_steps(&gw, "PLAIN", &[PATIENT], &path)).await;
    assert_eq!(replies[6].0, json!(250), "{replies:?}");
    let by_api = app
        .send_json(json!({"subject": "Via de API", "body": "x",
            "recipients": [{"email": PATIENT, "verification": "email"}]}))
        .await;
    assert_eq!(by_api.status(), 201);
    // The notifications fail (550), then the report goes out.
    app.run_jobs().await;
    app.run_jobs().await;
    for m in app.sent_messages().await {
        let st = app.message_status(m["id"].as_str().unwrap()).await;
        assert_eq!(st["recipients"][0]["status"], "failed", "{st}");
    }
    let reports: Vec<std::path::PathBuf> = common_bin::files_in(&sink.dir)
        .into_iter()
        .filter(|p| common_bin::Mail::read(p).to.as_deref() == Some(app.sender.email.as_str()))
        .collect();
    assert_eq!(reports.len(), 1, "one report, for the submitted mail only");
    let raw = std::fs::read(&reports[0]).unwrap();
    let text = String::from_utf8_lossy(&raw);
    use mail_parser::MimeHeaders;
    let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
    let ct = parsed.content_type().unwrap();
    assert_eq!((ct.ctype(), ct.subtype()), ("multipart", Some("report")));
    assert_eq!(ct.attribute("report-type"), Some("delivery-status"));
    assert!(
        text.contains(&format!("Final-Recipient: rfc822; {PATIENT}")),
        "{text}"
    );
    assert!(
        text.contains("Status: 5.1.1") && text.contains("Action: failed"),
        "{text}"
    );
    assert!(
        !text.contains("Uitslag Jansen") && !text.contains("bijzonderheden"),
        "no content: {text}"
    );
    let name = reports[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let meta: Value =
        serde_json::from_slice(&std::fs::read(sink.dir.join(format!(".{name}.json"))).unwrap())
            .unwrap();
    assert_eq!(meta["mail_from"], "<>", "the null reverse-path");
    // A repeat of the job would carry the same Message-ID.
    assert!(parsed.message_id().unwrap().starts_with("zegel.dsn."));
}

/// The contract end to end on the binary: `zegel admin smtp-credential create` prints the user
/// name and password; `zegel serve` with `ZEGEL_SUBMISSION_*` takes a mail and notifies; the
/// listener without a certificate does not start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_credential_submits_through_zegel_serve() {
    let mut env = common_bin::Env::new();
    let (ca, cert, key) = internal_ca(&env.scratch("ca"));
    env.set("ZEGEL_SUBMISSION_LISTEN", "127.0.0.1:0");
    let out = env.run(&["serve"]).await;
    assert!(!out.status.success());
    assert!(
        out.stderr.contains("ZEGEL_SUBMISSION_TLS_CERT"),
        "{}",
        out.stderr
    );
    env.set("ZEGEL_SUBMISSION_TLS_CERT", cert.to_str().unwrap())
        .set("ZEGEL_SUBMISSION_TLS_KEY", key.to_str().unwrap());

    let line = env
        .run_ok(&[
            "admin",
            "smtp-credential",
            "create",
            "--email",
            "arts@ziekenhuis.example",
        ])
        .await;
    let parts: Vec<&str> = line.trim().split(' ').collect();
    assert_eq!(parts.len(), 2, "{line}");
    let (user, password) = (parts[0], parts[1]);
    assert!(user.starts_with("zegel-"), "{user}");
    assert!(password.len() >= 32, "{password}");

    // The NTA 7516 record to publish: this month for a year, mail to this installation's host.
    env.set("ZEGEL_PUBLIC_URL", "https://zegel.ziekenhuis.example");
    let record = env
        .run_ok(&["admin", "nta", "record", "--org", "default"])
        .await;
    let parsed = zegel_core::nta::NtaRecord::parse(record.trim()).expect("a valid record");
    let now = zegel_core::nta::YearMonth::of_millis(zegel_core::model::Ts::now().0);
    assert!(
        parsed.holds_in(now) && parsed.holds_in(now.plus_months(11)),
        "{record}"
    );
    assert!(!parsed.holds_in(now.plus_months(13)), "{record}");
    assert_eq!(parsed.mx, vec![(10, "zegel.ziekenhuis.example".to_owned())]);
    let out = env.run(&["admin", "nta", "record", "--org", "nope"]).await;
    assert!(!out.status.success());
    assert!(out.stderr.contains("nope"), "{}", out.stderr);

    let server = env.start(&["serve"]).await;
    let port: u16 = server
        .stdout()
        .iter()
        .find_map(|l| l.strip_prefix("smtp submission listening on "))
        .and_then(|a| a.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .expect("the smtp listening line");
    let mail = env.dir.path().join("m.eml");
    std::fs::write(
        &mail,
        "From: arts@ziekenhuis.example\r\nSubject: [secure] Uitslag\r\n\r\nAlles goed.\r\n",
    )
    .unwrap();
    let replies = common_bin::smtp_client(
        port,
        &ca,
        submit_steps_as(user, password, "PLAIN", &[PATIENT], &mail),
    )
    .await;
    assert_eq!(replies[6].0, json!(250), "{replies:?}");
    let files = common_bin::wait_for_files(
        &env.data().join("outbox/mail"),
        1,
        std::time::Duration::from_secs(20),
    )
    .await;
    let notification = common_bin::Mail::read(&files[0]);
    assert!(notification.everything().contains(PATIENT));
    assert!(!notification.everything().contains("Uitslag"));
    server.assert_logs_never_contain(&[password, "Uitslag", "Alles goed"]);

    // Revoked: the same user name and password no longer log in.
    let out = env
        .run_ok(&["admin", "smtp-credential", "revoke", "--user", user])
        .await;
    assert!(out.contains("revoked"), "{out}");
    let replies = common_bin::smtp_client(
        port,
        &ca,
        json!([
            ["ehlo"],
            ["starttls"],
            ["ehlo"],
            ["auth", "PLAIN", user, password]
        ]),
    )
    .await;
    assert_eq!(replies[3].0, json!(535), "{replies:?}");
    let again = env
        .run(&["admin", "smtp-credential", "revoke", "--user", user])
        .await;
    assert!(!again.status.success());
}

backend_tests!(
    an_outlook_mail_becomes_a_secure_message_the_patient_downloads_byte_for_byte,
    auth_needs_starttls_and_the_right_password,
    a_system_that_logs_in_again_is_verified_once,
    an_oversize_mail_is_refused_while_streaming_and_nothing_is_kept,
    recipients_are_verified_as_the_organisation_last_did,
    winmail_dat_and_unreadable_mail_bounce_with_a_reason,
    a_notification_that_fails_for_good_comes_back_as_a_dsn,
);

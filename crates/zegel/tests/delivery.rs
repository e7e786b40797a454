//! Delivery through a real SMTP server (aiosmtpd on 127.0.0.1): permanent and temporary
//! failures, a server that is down and comes back, a server that hangs, TLS (STARTTLS and
//! smtps), connection reuse and a relay that closes reused connections. Both backends.

mod common;
#[allow(dead_code)]
mod common_bin;

use common::{Backend, TestApp};
use common_bin::{free_port, internal_ca, SmtpSink};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use zegel_core::outbound::{SmtpMailer, SmtpSettings, SmtpTls};

fn smtp(port: u16, timeout_secs: u64) -> Arc<SmtpMailer> {
    smtp_tls(port, timeout_secs, SmtpTls::None, None)
}

fn smtp_tls(
    port: u16,
    timeout_secs: u64,
    tls: SmtpTls,
    ca_pem: Option<Vec<u8>>,
) -> Arc<SmtpMailer> {
    smtp_with(
        &format!("smtp://127.0.0.1:{port}"),
        timeout_secs,
        tls,
        ca_pem,
        None,
    )
}

fn smtp_with(
    url: &str,
    timeout_secs: u64,
    tls: SmtpTls,
    ca_pem: Option<Vec<u8>>,
    dkim: Option<Arc<zegel_core::dkim::Dkim>>,
) -> Arc<SmtpMailer> {
    Arc::new(
        SmtpMailer::new(&SmtpSettings {
            url: url::Url::parse(url).unwrap(),
            tls,
            ca_pem,
            from_addr: "zegel@ziekenhuis.example".into(),
            timeout: Duration::from_secs(timeout_secs),
            dkim,
        })
        .unwrap(),
    )
}

async fn send_one(app: &TestApp, email: &str) -> String {
    let res = app
        .send_json(json!({"subject": "s", "body": "b", "recipients": [{"email": email, "verification": "email"}]}))
        .await;
    assert_eq!(res.status(), 201);
    res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn recipient_status(app: &TestApp, id: &str) -> Value {
    app.client
        .get(app.url(&format!("/api/v1/messages/{id}")))
        .header("authorization", app.auth())
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["recipients"][0]
        .clone()
}

fn events(r: &Value) -> Vec<(String, String)> {
    r["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_string(),
                e["detail"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

async fn a_550_reply_fails_the_recipient_with_the_server_text(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _sink = SmtpSink::start_mode(port, &dir.path().join("mail"), "reject550").await;
    let Some(app) = TestApp::builder(b)
        .mailer(smtp(port, 10))
        .leave_jobs()
        .build()
        .await
    else {
        return;
    };
    let id = send_one(&app, "nobody@example.nl").await;
    app.run_jobs().await;
    let r = recipient_status(&app, &id).await;
    assert_eq!(r["status"], "failed");
    assert!(
        r["failed_reason"]
            .as_str()
            .unwrap()
            .contains("User unknown"),
        "{r}"
    );
    let ev = events(&r);
    assert!(
        ev.iter()
            .any(|(t, d)| t == "failed" && d.contains("550") && d.contains("User unknown")),
        "{ev:?}"
    );
    assert_eq!(
        app.z.store.job_counts().await.unwrap(),
        (0, 1),
        "one dead job, nothing pending"
    );
}

async fn a_451_reply_is_deferred_and_retried(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let sink = SmtpSink::start_mode(port, &dir.path().join("mail"), "tempfail451").await;
    let Some(app) = TestApp::builder(b)
        .mailer(smtp(port, 10))
        .settings(|s| s.retry_first_ms = 300)
        .build()
        .await
    else {
        return;
    };
    let id = send_one(&app, "later@example.nl").await;
    app.run_jobs().await;
    let r = recipient_status(&app, &id).await;
    assert_eq!(r["status"], "queued");
    assert!(
        events(&r)
            .iter()
            .any(|(t, d)| t == "deferred" && d.contains("451")),
        "{r}"
    );
    assert_eq!(app.z.store.job_counts().await.unwrap(), (1, 0));
    drop(sink);
    let _ok = SmtpSink::start(port, &dir.path().join("mail2")).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.run_jobs().await;
    assert_eq!(recipient_status(&app, &id).await["status"], "notified");
}

async fn a_dead_server_that_comes_back_gets_the_notification(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let Some(app) = TestApp::builder(b)
        .mailer(smtp(port, 5))
        .settings(|s| s.retry_first_ms = 300)
        .build()
        .await
    else {
        return;
    };
    let id = send_one(&app, "back@example.nl").await;
    app.run_jobs().await;
    let r = recipient_status(&app, &id).await;
    assert_eq!(r["status"], "queued");
    assert!(events(&r).iter().any(|(t, _)| t == "deferred"), "{r}");
    // Not due yet: nothing runs before the backoff.
    assert_eq!(app.run_jobs().await, 0);
    let sink = SmtpSink::start(port, &dir.path().join("mail")).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(app.run_jobs().await, 1);
    assert_eq!(recipient_status(&app, &id).await["status"], "notified");
    let mails = sink.mails();
    assert_eq!(mails.len(), 1);
    assert!(mails[0].everything().contains("/m/"));
}

async fn a_hanging_server_times_out_instead_of_blocking(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _sink = SmtpSink::start_mode(port, &dir.path().join("mail"), "slow:30").await;
    let Some(app) = TestApp::builder(b)
        .mailer(smtp(port, 1))
        .leave_jobs()
        .build()
        .await
    else {
        return;
    };
    let id = send_one(&app, "slow@example.nl").await;
    let started = std::time::Instant::now();
    app.run_jobs().await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the send did not time out: {:?}",
        started.elapsed()
    );
    let r = recipient_status(&app, &id).await;
    assert_eq!(r["status"], "queued");
    assert!(events(&r).iter().any(|(t, _)| t == "deferred"), "{r}");
}

/// Runs the job worker until `sink` holds `n` mails or `limit` has passed, then stops it;
/// how long that took.
async fn run_worker_until(app: &TestApp, sink: &SmtpSink, n: usize, limit: Duration) -> Duration {
    let (tx, rx) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(zegel_core::service::Worker::new(app.z.clone()).run(rx));
    let started = std::time::Instant::now();
    while sink.mails().len() < n && started.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = started.elapsed();
    tx.send(true).unwrap();
    worker.await.unwrap();
    took
}

async fn several_deliveries_run_in_parallel(b: Backend) {
    // Ten notifications to a server that needs 2 s per mail: one after another that is 20 s;
    // the worker runs them side by side.
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let sink = SmtpSink::start_mode(port, &dir.path().join("mail"), "slow:2").await;
    let Some(app) = TestApp::builder(b).mailer(smtp(port, 20)).build().await else {
        return;
    };
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(send_one(&app, &format!("p{i}@example.nl")).await);
    }
    let took = run_worker_until(&app, &sink, 10, Duration::from_secs(15)).await;
    assert_eq!(sink.mails().len(), 10, "after {took:?}");
    assert!(
        took < Duration::from_secs(12),
        "deliveries ran one by one: {took:?}"
    );
    for id in ids {
        assert_eq!(recipient_status(&app, &id).await["status"], "notified");
    }
}

async fn more_jobs_than_the_worker_runs_at_once_all_go(b: Backend) {
    // 45 notifications, more than the worker's 32 slots: the first claim fills them, and
    // jobs that end make room for the rest (a claim that filled every slot may have left
    // some behind), with no wake-up or tick needed in between.
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let sink = SmtpSink::start(port, &dir.path().join("mail")).await;
    let Some(app) = TestApp::builder(b).mailer(smtp(port, 20)).build().await else {
        return;
    };
    let mut ids = Vec::new();
    for i in 0..45 {
        ids.push(send_one(&app, &format!("m{i}@example.nl")).await);
    }
    run_worker_until(&app, &sink, 45, Duration::from_secs(30)).await;
    assert_eq!(sink.mails().len(), 45);
    for id in ids {
        assert_eq!(recipient_status(&app, &id).await["status"], "notified");
    }
}

async fn starttls_with_a_trusted_ca_delivers(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = internal_ca(dir.path());
    let port = free_port();
    let mode = format!("starttls:{}:{}", cert.display(), key.display());
    let sink = SmtpSink::start_mode(port, &dir.path().join("mail"), &mode).await;
    let ca = std::fs::read(&ca).unwrap();
    let Some(app) = TestApp::builder(b)
        .mailer(smtp_tls(port, 10, SmtpTls::Required, Some(ca)))
        .build()
        .await
    else {
        return;
    };
    let id = send_one(&app, "tls@example.nl").await;
    app.run_jobs().await;
    let r = recipient_status(&app, &id).await;
    assert_eq!(r["status"], "notified", "{r}");
    assert_eq!(sink.mails().len(), 1);
}

async fn required_tls_never_falls_back_to_plain_text(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    // A relay that does not offer STARTTLS.
    let port = free_port();
    let plain = SmtpSink::start(port, &dir.path().join("plain")).await;
    let Some(app) = TestApp::builder(b)
        .mailer(smtp_tls(port, 10, SmtpTls::Required, None))
        .leave_jobs()
        .build()
        .await
    else {
        return;
    };
    let id = send_one(&app, "notls@example.nl").await;
    app.run_jobs().await;
    let r = recipient_status(&app, &id).await;
    assert_eq!(
        r["status"], "queued",
        "a missing STARTTLS is temporary: {r}"
    );
    assert!(events(&r).iter().any(|(t, _)| t == "deferred"), "{r}");
    assert!(plain.mails().is_empty(), "nothing may go out in plain text");
    // A relay whose certificate is not trusted.
    let (_, cert, key) = internal_ca(dir.path());
    let port2 = free_port();
    let mode = format!("starttls:{}:{}", cert.display(), key.display());
    let untrusted = SmtpSink::start_mode(port2, &dir.path().join("untrusted"), &mode).await;
    let Some(app2) = TestApp::builder(b)
        .mailer(smtp_tls(port2, 10, SmtpTls::Required, None))
        .leave_jobs()
        .build()
        .await
    else {
        return;
    };
    let id2 = send_one(&app2, "untrusted@example.nl").await;
    app2.run_jobs().await;
    let r2 = recipient_status(&app2, &id2).await;
    assert_eq!(r2["status"], "queued", "{r2}");
    assert!(untrusted.mails().is_empty());
}

async fn relay_mail_is_dkim_signed_and_verifies_on_arrival(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let sink = SmtpSink::start(port, &dir.path().join("mail")).await;
    let (pem, record) = zegel_testkit::dkim::rsa_key(false);
    let dkim = Arc::new(
        zegel_core::dkim::Dkim::from_pem(pem.as_bytes(), "ziekenhuis.example", "zegel").unwrap(),
    );
    let mailer = smtp_with(
        &format!("smtp://127.0.0.1:{port}"),
        10,
        SmtpTls::None,
        None,
        Some(dkim),
    );
    let Some(app) = TestApp::builder(b).mailer(mailer).build().await else {
        return;
    };
    send_one(&app, "signed@example.nl").await;
    app.run_jobs().await;
    let files = common_bin::files_in(&sink.dir);
    assert_eq!(files.len(), 1);
    let raw = std::fs::read(&files[0]).unwrap();
    zegel_testkit::dkim::verify(&raw, "zegel", "ziekenhuis.example", &record)
        .await
        .unwrap();
    let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
    assert!(parsed.body_text(0).unwrap().contains("/m/"));
    assert!(parsed.body_html(0).unwrap().contains("Bericht lezen"));
}

async fn smtp_auth_credentials_from_the_url_are_used(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let sink = SmtpSink::start_mode(
        port,
        &dir.path().join("mail"),
        "auth:zegel:ge+heim/wachtwoord",
    )
    .await;
    // Percent-encoded in the URL, as a password with '+' and '/' must be.
    let good = smtp_with(
        &format!("smtp://zegel:ge%2Bheim%2Fwachtwoord@127.0.0.1:{port}"),
        10,
        SmtpTls::None,
        None,
        None,
    );
    let Some(app) = TestApp::builder(b).mailer(good).build().await else {
        return;
    };
    let id = send_one(&app, "auth@example.nl").await;
    app.run_jobs().await;
    assert_eq!(recipient_status(&app, &id).await["status"], "notified");
    assert_eq!(sink.mails().len(), 1);
    // Wrong password: the relay answers 535, a permanent failure.
    let bad = smtp_with(
        &format!("smtp://zegel:fout@127.0.0.1:{port}"),
        10,
        SmtpTls::None,
        None,
        None,
    );
    let Some(app2) = TestApp::builder(b).mailer(bad).leave_jobs().build().await else {
        return;
    };
    let id2 = send_one(&app2, "auth2@example.nl").await;
    app2.run_jobs().await;
    let r = recipient_status(&app2, &id2).await;
    assert_ne!(r["status"], "notified", "{r}");
    assert_eq!(sink.mails().len(), 1);
}

/// An `smtps://` relay whose certificate the internal CA signed, and an app that trusts that
/// CA (`trust_ca`) or only the system roots.
async fn smtps_app(b: Backend, trust_ca: bool) -> Option<(tempfile::TempDir, SmtpSink, TestApp)> {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = internal_ca(dir.path());
    let port = free_port();
    let mode = format!("smtps:{}:{}", cert.display(), key.display());
    let sink = SmtpSink::start_mode(port, &dir.path().join("mail"), &mode).await;
    let mailer = smtp_with(
        &format!("smtps://127.0.0.1:{port}"),
        10,
        SmtpTls::Required,
        trust_ca.then(|| std::fs::read(&ca).unwrap()),
        None,
    );
    // An untrusted server leaves its notification queued (deferred): that is the point.
    let app = TestApp::builder(b).mailer(mailer);
    let app = if trust_ca { app } else { app.leave_jobs() };
    let app = app.build().await?;
    Some((dir, sink, app))
}

async fn smtps_with_a_trusted_ca_delivers_over_tls_on_one_connection(b: Backend) {
    let Some((_dir, sink, app)) = smtps_app(b, true).await else {
        return;
    };
    let ids = [
        send_one(&app, "tls1@example.nl").await,
        send_one(&app, "tls2@example.nl").await,
    ];
    app.run_jobs().await;
    for id in &ids {
        let r = recipient_status(&app, id).await;
        assert_eq!(r["status"], "notified", "{r}");
    }
    let arrivals = sink.arrivals();
    assert_eq!(arrivals.len(), 2);
    assert!(arrivals.iter().all(|a| a.tls), "{arrivals:?}");
    assert_eq!(
        sink.sessions(),
        1,
        "the second mail reuses the TLS connection"
    );
}

async fn smtps_with_an_untrusted_certificate_is_deferred_and_sends_nothing(b: Backend) {
    let Some((_dir, sink, app)) = smtps_app(b, false).await else {
        return;
    };
    let id = send_one(&app, "untrusted@example.nl").await;
    app.run_jobs().await;
    let r = recipient_status(&app, &id).await;
    assert_eq!(r["status"], "queued", "{r}");
    assert!(
        events(&r)
            .iter()
            .any(|(t, d)| t == "deferred" && d.contains("TLS")),
        "{r}"
    );
    assert!(sink.mails().is_empty());
}

async fn opportunistic_starttls_encrypts_when_offered_and_sends_plain_otherwise(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = internal_ca(dir.path());
    let ca = std::fs::read(&ca).unwrap();
    // A relay that offers STARTTLS with a trusted certificate: the mail goes encrypted.
    let port = free_port();
    let mode = format!("starttls:{}:{}", cert.display(), key.display());
    let tls_sink = SmtpSink::start_mode(port, &dir.path().join("tls"), &mode).await;
    let mailer = smtp_tls(port, 10, SmtpTls::Opportunistic, Some(ca.clone()));
    let Some(app) = TestApp::builder(b).mailer(mailer).build().await else {
        return;
    };
    let id = send_one(&app, "offered@example.nl").await;
    app.run_jobs().await;
    assert_eq!(recipient_status(&app, &id).await["status"], "notified");
    assert_eq!(tls_sink.arrivals().len(), 1);
    assert!(
        tls_sink.arrivals()[0].tls,
        "STARTTLS was offered and not used"
    );
    // A relay that offers no STARTTLS: delivered in plain text.
    let port2 = free_port();
    let plain_sink = SmtpSink::start(port2, &dir.path().join("plain")).await;
    let mailer2 = smtp_tls(port2, 10, SmtpTls::Opportunistic, Some(ca));
    let Some(app2) = TestApp::builder(b).mailer(mailer2).build().await else {
        return;
    };
    let id2 = send_one(&app2, "plain@example.nl").await;
    app2.run_jobs().await;
    assert_eq!(recipient_status(&app2, &id2).await["status"], "notified");
    assert_eq!(plain_sink.arrivals().len(), 1);
    assert!(!plain_sink.arrivals()[0].tls);
}

/// Sends `n` notifications (`<prefix><i>@example.nl`), runs the jobs one after another
/// (`run_jobs` drains serially), and checks that each arrived exactly once without a
/// `deferred` or `failed` event.
async fn send_and_expect_each_once(app: &TestApp, sink: &SmtpSink, prefix: &str, n: usize) {
    let mut ids = Vec::new();
    let mut expected = Vec::new();
    for i in 0..n {
        let email = format!("{prefix}{i}@example.nl");
        ids.push(send_one(app, &email).await);
        expected.push(email);
    }
    app.run_jobs().await;
    for id in &ids {
        let r = recipient_status(app, id).await;
        assert_eq!(r["status"], "notified", "{r}");
        assert!(
            events(&r)
                .iter()
                .all(|(t, _)| t != "deferred" && t != "failed"),
            "{r}"
        );
    }
    let mut got: Vec<String> = sink
        .mails()
        .iter()
        .map(|m| m.to.clone().unwrap_or_default())
        .collect();
    got.sort();
    expected.sort();
    assert_eq!(got, expected, "every mail once, no duplicate");
}

/// Sends 10 notifications through a sink in `mode`: each arrives exactly once, over
/// `sessions` SMTP sessions.
async fn relay_gets_each_once(b: Backend, mode: &str, prefix: &str, sessions: usize) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let sink = SmtpSink::start_mode(port, &dir.path().join("mail"), mode).await;
    let Some(app) = TestApp::builder(b).mailer(smtp(port, 10)).build().await else {
        return;
    };
    send_and_expect_each_once(&app, &sink, prefix, 10).await;
    assert_eq!(sink.sessions(), sessions, "{:?}", sink.arrivals());
}

async fn notifications_reuse_one_relay_connection(b: Backend) {
    // One job after the other: every mail after the first takes the idle connection.
    relay_gets_each_once(b, "accept", "reuse", 1).await;
}

async fn a_relay_that_answers_421_after_some_mails_still_gets_each_mail_once(b: Backend) {
    // 3 + 3 + 3 + 1: each 421 sends the mail at once over a new connection.
    relay_gets_each_once(b, "maxper:3", "limit", 4).await;
}

async fn a_relay_that_closes_the_connection_after_some_mails_still_gets_each_mail_once(b: Backend) {
    relay_gets_each_once(b, "closeafter:3", "closed", 4).await;
}

fn out_mail(i: usize) -> zegel_core::outbound::OutMail {
    zegel_core::outbound::OutMail {
        to: format!("r{i}@example.nl"),
        from_name: "Ziekenhuis".into(),
        subject: "Nieuw bericht".into(),
        text: "Lees het bericht.".into(),
        html: "<p>Lees het bericht.</p>".into(),
        message_id: format!("m{i}@ziekenhuis.example"),
    }
}

async fn wait_for_quits(sink: &SmtpSink, n: usize) -> Vec<u16> {
    let started = std::time::Instant::now();
    while sink.quits().len() < n && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sink.quits()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_retires_after_100_mails_and_close_quits_the_idle_ones() {
    use zegel_core::outbound::Mailer;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let sink = SmtpSink::start(port, &dir.path().join("mail")).await;
    let mailer = smtp(port, 10);
    for i in 0..101 {
        mailer.send(&out_mail(i)).await.unwrap();
    }
    let arrivals = sink.arrivals();
    assert_eq!(arrivals.len(), 101);
    let first = arrivals[0].peer_port;
    assert!(arrivals[..100].iter().all(|a| a.peer_port == first));
    assert_ne!(
        arrivals[100].peer_port, first,
        "the 101st mail needs a new connection"
    );
    // The worn-out connection said QUIT.
    assert_eq!(wait_for_quits(&sink, 1).await, vec![first]);
    // Closing QUITs the idle connection; the next mail opens a new one.
    mailer.close().await;
    assert_eq!(
        wait_for_quits(&sink, 2).await,
        vec![first, arrivals[100].peer_port]
    );
    mailer.send(&out_mail(101)).await.unwrap();
    let last = sink.arrivals()[101].peer_port;
    assert!(last != first && last != arrivals[100].peer_port);
}

#[test]
fn a_bad_ca_file_is_refused_at_start_up_for_smtp_and_smtps() {
    for scheme in ["smtp", "smtps"] {
        for pem in [
            &b"not a certificate"[..],
            b"",
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        ] {
            let err = SmtpMailer::new(&SmtpSettings {
                url: url::Url::parse(&format!("{scheme}://127.0.0.1:2525")).unwrap(),
                tls: SmtpTls::Required,
                ca_pem: Some(pem.to_vec()),
                from_addr: "zegel@ziekenhuis.example".into(),
                timeout: Duration::from_secs(10),
                dkim: None,
            })
            .unwrap_err();
            assert!(err.contains("ZEGEL_SMTP_CA_FILE"), "{scheme}: {err}");
        }
    }
}

/// A process whose shutdown signal task died (its sender dropped) used to spin: `changed()`
/// answers at once when the sender is gone, so the worker claimed jobs in a tight loop (two cores
/// busy for an hour, seen with an orphaned `zegel serve`). Now a dropped sender is a stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_and_the_sweeper_stop_when_their_shutdown_sender_is_gone() {
    let Some(app) = TestApp::new(Backend::Sqlite).await else {
        return;
    };
    let (tx, rx) = tokio::sync::watch::channel(false);
    drop(tx);
    let worker = zegel_core::service::Worker::new(app.z.clone()).run(rx.clone());
    tokio::time::timeout(Duration::from_secs(10), worker)
        .await
        .expect("the worker stops instead of spinning");
    let sweeper = app.z.run_sweeper(Duration::from_secs(3600), rx);
    tokio::time::timeout(Duration::from_secs(10), sweeper)
        .await
        .expect("the sweeper stops");
}

backend_tests!(
    relay_mail_is_dkim_signed_and_verifies_on_arrival,
    smtp_auth_credentials_from_the_url_are_used,
    starttls_with_a_trusted_ca_delivers,
    required_tls_never_falls_back_to_plain_text,
    a_550_reply_fails_the_recipient_with_the_server_text,
    a_451_reply_is_deferred_and_retried,
    a_dead_server_that_comes_back_gets_the_notification,
    a_hanging_server_times_out_instead_of_blocking,
    several_deliveries_run_in_parallel,
    more_jobs_than_the_worker_runs_at_once_all_go,
    smtps_with_a_trusted_ca_delivers_over_tls_on_one_connection,
    smtps_with_an_untrusted_certificate_is_deferred_and_sends_nothing,
    opportunistic_starttls_encrypts_when_offered_and_sends_plain_otherwise,
    notifications_reuse_one_relay_connection,
    a_relay_that_answers_421_after_some_mails_still_gets_each_mail_once,
    a_relay_that_closes_the_connection_after_some_mails_still_gets_each_mail_once,
);

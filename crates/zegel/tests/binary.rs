//! End-to-end tests on the real `zegel` binary: each runs the process on a fresh data directory
//! with `ZEGEL_LISTEN=127.0.0.1:0`, waits for the `listening on http://ADDR` contract line and
//! `/readyz`, and kills it when done. The SMTP tests need Python's `aiosmtpd`
//! (scripts/test.sh installs it); the PostgreSQL variant needs `ZEGEL_TEST_POSTGRES_URL`.

mod common_bin;

use common_bin::{
    assert_no_content, files_in, free_port, message, use_smtp, wait_for_files, Env, Mail, Server,
    SmtpSink, MAIL_FROM,
};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const CSP: &str = "default-src 'self'; script-src 'self'; object-src 'none'; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Base64 of 32 bytes (100..=131) that are not the key any test created.
const OTHER_MASTER_KEY: &str = "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=";

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test]
async fn demo_starts_serves_and_sends_the_sample_notification() {
    let env = Env::new();
    let demo = env.start(&["demo"]).await;
    let printed = demo.stdout().join("\n");
    let token = regex::Regex::new(r"\bzgl_[A-Za-z0-9_-]{43}\b")
        .unwrap()
        .find(&printed)
        .unwrap_or_else(|| demo.fail("the demo printed no zgl_ API token"))
        .as_str()
        .to_string();
    let link = regex::Regex::new(r"https?://\S+/m/[A-Za-z0-9_-]{43}")
        .unwrap()
        .find(&printed)
        .unwrap_or_else(|| demo.fail("the demo printed no /m/ link"))
        .as_str()
        .to_string();
    assert!(
        link.starts_with(&format!("{}/m/", demo.base)),
        "the link {link} does not point at this server {}",
        demo.base
    );
    // The demo sender's e-mail address and a password that signs in.
    let password = regex::Regex::new(r"Wachtwoord:\s+(\S+)")
        .unwrap()
        .captures(&printed)
        .unwrap_or_else(|| demo.fail("the demo printed no password"))[1]
        .to_string();
    assert!(printed.contains("demo.arts@zegel.localhost"), "{printed}");
    assert_eq!(
        sign_in_status(&demo.base, "demo.arts@zegel.localhost", &password).await,
        303
    );

    let health = demo.client.get(demo.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    let outbox = env.data().join("outbox").join("mail");
    let files = wait_for_files(&outbox, 1, Duration::from_secs(15)).await;
    let emls: Vec<_> = files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    assert_eq!(emls.len(), 1, "one notification .eml expected: {files:?}");
    let mail = Mail::read(emls[0]);
    assert!(
        mail.links().contains(&link),
        "the notification does not carry the printed link {link}:\n{}",
        mail.raw
    );
    assert!(
        mail.html_parts.iter().any(|h| h.contains(&link)),
        "the HTML part does not carry the link:\n{}",
        mail.raw
    );
    assert_no_content(
        &mail,
        &[
            "Uitslag bloedonderzoek",
            "bloedonderzoek",
            "mevrouw Jansen",
            "De uitslag van uw",
            "Hb 8,4",
            "uitslag-bloedonderzoek.txt",
        ],
    );

    // The landing page carries the security baseline and changes nothing.
    let landing = demo.client.get(&link).send().await.unwrap();
    assert_eq!(landing.status(), 200);
    assert_eq!(header(&landing, "content-security-policy"), CSP);
    assert_eq!(header(&landing, "x-content-type-options"), "nosniff");
    assert_eq!(header(&landing, "referrer-policy"), "no-referrer");
    assert!(
        header(&landing, "cache-control").contains("no-store"),
        "cache-control: {:?}",
        header(&landing, "cache-control")
    );

    // The printed token is a working sender token for the sample message.
    let list: Value = demo
        .get_auth("/api/v1/messages", &token)
        .await
        .json()
        .await
        .unwrap();
    let messages = list["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 1, "{list}");
    let id = messages[0]["id"].as_str().unwrap().to_string();
    demo.wait_all_notified(&token, std::slice::from_ref(&id), Duration::from_secs(15))
        .await;
    let status = demo.message_status(&token, &id).await;
    let events: Vec<&str> = status["recipients"][0]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    assert!(
        !events.contains(&"opened") && !events.contains(&"viewed"),
        "GET /m/... recorded an access: {events:?}"
    );
    let link_token = link.rsplit('/').next().unwrap();
    demo.assert_logs_never_contain(&[&token, link_token, "bloedonderzoek", "Jansen"]);
}

#[tokio::test]
async fn admin_token_create_prints_only_the_token() {
    let env = Env::new();
    let out = env
        .run(&["admin", "token", "create", "--email", "a@example.nl"])
        .await;
    assert!(
        out.status.success(),
        "{}\n{}\n{}",
        out.status,
        out.stdout,
        out.stderr
    );
    let re = regex::Regex::new(r"^zgl_[A-Za-z0-9_-]{43}$").unwrap();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "stdout must be one line: {:?}", out.stdout);
    assert!(re.is_match(lines[0]), "not a token: {:?}", lines[0]);
    assert_eq!(out.stdout, format!("{}\n", lines[0]));
    let token = lines[0].to_string();
    let key_file = env.data().join("master.key");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&key_file)
            .expect("the first run creates <data>/master.key")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "master.key mode {mode:o}");

    let server = env.start(&["serve"]).await;
    let ok = server.get_auth("/api/v1/messages", &token).await;
    assert_eq!(ok.status(), 200);
    let made_up = format!("zgl_{}", "A".repeat(43));
    assert_eq!(
        server.get_auth("/api/v1/messages", &made_up).await.status(),
        401
    );
    let none = server
        .client
        .get(server.url("/api/v1/messages"))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 401);

    // A second token for the same sender works too and differs from the first.
    let second = env.token("a@example.nl").await;
    assert_ne!(second, token);
    assert_eq!(
        server.get_auth("/api/v1/messages", &second).await.status(),
        200
    );
}

#[tokio::test]
async fn restart_keeps_data() {
    let env = Env::new();
    let token = env.token("arts@example.nl").await;
    let first = env.start(&["serve"]).await;
    let created = first
        .send_message(
            &token,
            &json!({"subject":"s","body":"b","recipients":[{"email":"p@example.nl","verification":"email"}]}),
        )
        .await;
    let id = created["id"].as_str().expect("id").to_string();
    first
        .wait_all_notified(&token, std::slice::from_ref(&id), Duration::from_secs(15))
        .await;
    let status = first.terminate().await;
    assert!(status.success(), "SIGTERM should stop cleanly: {status}");

    let second = env.start(&["serve"]).await;
    let list: Value = second
        .get_auth("/api/v1/messages", &token)
        .await
        .json()
        .await
        .unwrap();
    let messages = list["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 1, "{list}");
    assert_eq!(messages[0]["id"], id.as_str());
    // The subject is encrypted at rest: reading it back proves the keys survived as well.
    assert_eq!(messages[0]["subject"], "s");
    let status = second.message_status(&token, &id).await;
    assert_eq!(status["recipients"][0]["email"], "p@example.nl");
    assert_eq!(status["recipients"][0]["status"], "notified");
    assert_eq!(
        files_in(&env.data().join("outbox").join("mail")).len(),
        1,
        "the restart must not send the notification again"
    );
}

#[tokio::test]
async fn wrong_master_key_refuses_to_start() {
    let mut env = Env::new();
    let token = env.token("arts@example.nl").await;
    let first = env.start(&["serve"]).await;
    first
        .send_message(&token, &message("s", "b", "p@example.nl"))
        .await;
    assert!(first.terminate().await.success());
    let key_file = env.data().join("master.key");
    assert!(
        key_file.exists(),
        "the first start creates <data>/master.key"
    );

    env.set("ZEGEL_MASTER_KEY", OTHER_MASTER_KEY);
    let started = Instant::now();
    let out = env.run(&["serve"]).await;
    assert!(
        !out.status.success(),
        "a wrong ZEGEL_MASTER_KEY must not start:\n{}",
        out.stderr
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "refusing took {:?}",
        started.elapsed()
    );
    assert!(
        out.stderr.to_lowercase().contains("master key"),
        "stderr should name the master key:\n{}",
        out.stderr
    );
    assert!(!out.stdout.contains("listening on"), "{}", out.stdout);

    // The admin commands refuse as well (they could otherwise mint tokens on wrong keys).
    let admin = env
        .run(&["admin", "token", "create", "--email", "x@example.nl"])
        .await;
    assert!(
        !admin.status.success(),
        "admin with a wrong key: {}",
        admin.stdout
    );
    assert!(!admin.stdout.contains("zgl_"), "{}", admin.stdout);

    // A missing key file for an initialised database is an error, never a new key.
    env.unset("ZEGEL_MASTER_KEY");
    std::fs::remove_file(&key_file).unwrap();
    let out = env.run(&["serve"]).await;
    assert!(
        !out.status.success(),
        "a missing master.key must not start:\n{}",
        out.stderr
    );
    assert!(
        out.stderr.to_lowercase().contains("master key"),
        "stderr should name the master key:\n{}",
        out.stderr
    );
    assert!(
        !key_file.exists(),
        "a new master.key was created for an existing database"
    );
}

#[tokio::test]
async fn smtp_relay_receives_the_notification() {
    let mut env = Env::new();
    let port = free_port();
    let sink = SmtpSink::start(port, &env.scratch("smtp")).await;
    use_smtp(&mut env, port);
    let org = "Zorggroep Fryslân";
    env.run_ok(&[
        "admin",
        "org",
        "create",
        "--slug",
        "zorggroep",
        "--name",
        org,
    ])
    .await;
    env.run_ok(&[
        "admin",
        "user",
        "create",
        "--email",
        "arts@zorggroep.example",
        "--name",
        "Dr. Bakker",
        "--org",
        "zorggroep",
    ])
    .await;
    let token = env.token("arts@zorggroep.example").await;
    let server = env.start(&["serve"]).await;

    let subject = "Uitslag biopsie mevrouw Visser";
    let body = "Geheime inhoud: de biopsie toont geen afwijkingen.";
    let created = server
        .send_message(&token, &message(subject, body, "p@example.nl"))
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    let files = wait_for_files(&sink.dir, 1, Duration::from_secs(20)).await;
    server
        .wait_all_notified(&token, &[id], Duration::from_secs(15))
        .await;
    assert_eq!(files.len(), 1, "one notification expected: {files:?}");
    let mail = Mail::read(&files[0]);

    assert_eq!(mail.from_name.as_deref(), Some(org), "{}", mail.raw);
    assert_eq!(mail.from_addr.as_deref(), Some(MAIL_FROM), "{}", mail.raw);
    assert_eq!(mail.to.as_deref(), Some("p@example.nl"), "{}", mail.raw);
    assert_eq!(
        mail.auto_submitted.as_deref(),
        Some("auto-generated"),
        "{}",
        mail.raw
    );
    assert!(
        mail.message_id.as_deref().is_some_and(|m| !m.is_empty()),
        "no Message-ID:\n{}",
        mail.raw
    );
    assert!(mail.has_date, "no Date:\n{}", mail.raw);
    assert_eq!(mail.text_parts.len(), 1, "one text part:\n{}", mail.raw);
    assert_eq!(mail.html_parts.len(), 1, "one HTML part:\n{}", mail.raw);
    let links = mail.links();
    assert_eq!(links.len(), 1, "one /m/ link in the text part: {links:?}");
    let link = &links[0];
    assert!(link.starts_with(&format!("{}/m/", server.base)), "{link}");
    assert!(mail.html_parts[0].contains(link.as_str()), "{}", mail.raw);
    assert!(
        mail.subject.as_deref().is_some_and(|s| s.contains(org)),
        "the subject names the organisation: {:?}",
        mail.subject
    );
    assert_no_content(&mail, &[subject, "biopsie", "Visser", body, "Geheime"]);

    // The link in the mail opens the landing page on this server.
    let landing = server.client.get(link).send().await.unwrap();
    assert_eq!(landing.status(), 200);
    let link_token = link.rsplit('/').next().unwrap();
    server.assert_logs_never_contain(&[&token, link_token, subject, "biopsie", body]);
}

/// Sends 20 messages while the relay is down, kills the process with SIGKILL, starts it again
/// with the relay up: every notification arrives.
async fn kill_9_loses_nothing(mut env: Env) {
    let port = free_port();
    use_smtp(&mut env, port);
    // The first attempts fail while the relay is down; retry soon after the restart.
    env.set("ZEGEL_RETRY_FIRST_SECS", "1");
    let token = env.token("arts@example.nl").await;
    let first = env.start(&["serve"]).await;
    let mut ids = Vec::new();
    let mut emails = Vec::new();
    for i in 0..20 {
        let email = format!("patient{i:02}@example.nl");
        let created = first
            .send_message(&token, &message(&format!("s{i}"), "b", &email))
            .await;
        ids.push(created["id"].as_str().unwrap().to_string());
        emails.push(email);
    }
    first.kill9().await;

    let sink = SmtpSink::start(port, &env.scratch("smtp")).await;
    let second: Server = env.start(&["serve"]).await;
    let started = Instant::now();
    second
        .wait_all_notified(&token, &ids, Duration::from_secs(120))
        .await;
    eprintln!(
        "kill -9: all 20 notifications arrived {:?} after the restart",
        started.elapsed()
    );
    // Files are renamed into place before the 250 reply, so they are all there by now.
    let mails = sink.mails();
    let mut got: Vec<String> = mails.iter().filter_map(|m| m.to.clone()).collect();
    got.sort();
    got.dedup();
    assert_eq!(got, emails, "every recipient gets a notification");
    // At-least-once: a repeat carries the same Message-ID.
    for email in &emails {
        let mut mids: Vec<_> = mails
            .iter()
            .filter(|m| m.to.as_deref() == Some(email.as_str()))
            .map(|m| m.message_id.clone())
            .collect();
        mids.sort();
        mids.dedup();
        assert_eq!(mids.len(), 1, "{email}: Message-IDs {mids:?}");
    }
}

#[tokio::test]
async fn kill_9_between_commit_and_send_loses_nothing() {
    kill_9_loses_nothing(Env::new()).await;
}

#[tokio::test]
async fn kill_9_between_commit_and_send_loses_nothing_on_postgres() {
    let Some(db) = zegel_testkit::PgDb::create().await else {
        return; // ZEGEL_TEST_SKIP_POSTGRES=1: PgDb said so on stderr.
    };
    let mut env = Env::new();
    env.set("ZEGEL_DATABASE_URL", db.url());
    kill_9_loses_nothing(env).await;
    drop(db);
}

#[tokio::test]
async fn admin_org_policy_sets_the_sms_budget_and_countries() {
    let env = Env::new();
    env.run_ok(&["admin", "token", "create", "--email", "a@example.nl"])
        .await;
    let out = env
        .run_ok(&[
            "admin",
            "org",
            "policy",
            "--sms-per-day",
            "5",
            "--sms-countries",
            "nl,BE",
        ])
        .await;
    let doc: Value = serde_json::from_str(&out).expect("the policy as JSON");
    assert_eq!(doc["sms_per_day"], 5);
    assert_eq!(doc["sms_countries"], json!(["NL", "BE"]));
    // Kept when not given; a country code that is none is refused with its reason.
    let doc: Value = serde_json::from_str(
        &env.run_ok(&["admin", "org", "policy", "--forward", "false"])
            .await,
    )
    .expect("JSON");
    assert_eq!(
        (
            doc["sms_per_day"].as_i64(),
            doc["forward_allowed"].as_bool()
        ),
        (Some(5), Some(false))
    );
    let bad = env
        .run(&["admin", "org", "policy", "--sms-countries", "Nederland"])
        .await;
    assert!(!bad.status.success());
    assert!(bad.stderr.contains("Nederland"), "{}", bad.stderr);
}

/// Signs in on `/inloggen` with a cookie-keeping client: the status of the POST.
async fn sign_in_status(base: &str, email: &str, password: &str) -> u16 {
    let c = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = c
        .get(format!("{base}/inloggen"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = regex::Regex::new(r#"name="csrf" value="([^"]+)""#)
        .unwrap()
        .captures(&page)
        .expect("a CSRF token on the sign-in page")[1]
        .to_string();
    c.post(format!("{base}/inloggen"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The `/welkom/{token}` path of a printed set-up link (the only line printed).
fn setup_path(stdout: &str) -> String {
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "only the set-up link: {stdout:?}");
    let re = regex::Regex::new(r"^https?://[^/]+(/welkom/[A-Za-z0-9_-]{43})$").unwrap();
    re.captures(lines[0])
        .unwrap_or_else(|| panic!("not a set-up link: {:?}", lines[0]))[1]
        .to_string()
}

#[tokio::test]
async fn admin_user_invite_and_reset_print_only_a_set_up_link() {
    let env = Env::new();
    let first = setup_path(
        &env.run_ok(&["admin", "user", "invite", "--email", "nieuw@example.nl"])
            .await,
    );
    let server = env.start(&["serve"]).await;
    let page = server.client.get(server.url(&first)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    // The user exists now (the invite created it) and has a password after this.
    let set = env
        .run_with_stdin(
            &["admin", "user", "password", "--email", "nieuw@example.nl"],
            "paarse olifant danst op het dak\n",
        )
        .await;
    assert!(set.status.success(), "{}\n{}", set.stdout, set.stderr);
    assert_eq!(
        sign_in_status(
            &server.base,
            "nieuw@example.nl",
            "paarse olifant danst op het dak"
        )
        .await,
        303
    );
    // Reset: factors and password gone, the old link gone, a new one works.
    let second = setup_path(
        &env.run_ok(&["admin", "user", "reset", "--email", "nieuw@example.nl"])
            .await,
    );
    assert_ne!(first, second);
    let old = server.client.get(server.url(&first)).send().await.unwrap();
    assert_eq!(old.status(), 404);
    let new = server.client.get(server.url(&second)).send().await.unwrap();
    assert_eq!(new.status(), 200);
    assert_eq!(
        sign_in_status(
            &server.base,
            "nieuw@example.nl",
            "paarse olifant danst op het dak"
        )
        .await,
        401,
        "no password after a reset"
    );
    let unknown = env
        .run(&["admin", "user", "reset", "--email", "niemand@example.nl"])
        .await;
    assert!(!unknown.status.success());
    server.assert_logs_never_contain(&[
        first.trim_start_matches("/welkom/"),
        second.trim_start_matches("/welkom/"),
        "paarse olifant",
    ]);
}

#[tokio::test]
async fn admin_user_password_reads_standard_input_and_refuses_weak_ones() {
    let env = Env::new();
    env.run_ok(&["admin", "user", "invite", "--email", "a@example.nl"])
        .await;
    let weak = env
        .run_with_stdin(
            &["admin", "user", "password", "--email", "a@example.nl"],
            "wachtwoord1\n",
        )
        .await;
    assert!(!weak.status.success());
    assert!(weak.stderr.contains("12 characters"), "{}", weak.stderr);
    let common = env
        .run_with_stdin(
            &["admin", "user", "password", "--email", "a@example.nl"],
            "password1234",
        )
        .await;
    assert!(!common.status.success());
    assert!(
        common.stderr.contains("too easy to guess"),
        "{}",
        common.stderr
    );
    let ok = env
        .run_with_stdin(
            &["admin", "user", "password", "--email", "a@example.nl"],
            "groene giraf leest de krant\r\n",
        )
        .await;
    assert!(ok.status.success(), "{}", ok.stderr);
    assert!(!ok.stdout.contains("giraf") && !ok.stderr.contains("giraf"));
    let server = env.start(&["serve"]).await;
    assert_eq!(
        sign_in_status(&server.base, "a@example.nl", "groene giraf leest de krant").await,
        303
    );
}

#[tokio::test]
async fn admin_org_policy_sets_second_factor_required() {
    let env = Env::new();
    env.run_ok(&["admin", "user", "invite", "--email", "a@example.nl"])
        .await;
    env.run_with_stdin(
        &["admin", "user", "password", "--email", "a@example.nl"],
        "groene giraf leest de krant",
    )
    .await;
    let doc: Value = serde_json::from_str(
        &env.run_ok(&["admin", "org", "policy", "--second-factor-required", "true"])
            .await,
    )
    .expect("the policy as JSON");
    assert_eq!(doc["second_factor_required"], true);
    let server = env.start(&["serve"]).await;
    assert_eq!(
        sign_in_status(&server.base, "a@example.nl", "groene giraf leest de krant").await,
        403,
        "a password alone is not enough any more"
    );
}

/// A log collector that goes away (its end of stderr closed) must not take the server with it:
/// every request logs a line, and a failed log write used to panic the request (tracing's own
/// error report went to the same closed stderr), so every client got an empty reply.
#[tokio::test]
async fn a_closed_log_pipe_does_not_stop_serving() {
    use tokio::io::AsyncBufReadExt;
    let env = Env::new();
    let token = env.token("arts@ziekenhuis.example").await;
    let mut child = env.spawn(&["serve"]);
    let stdout = child.stdout.take().expect("piped stdout");
    // The reader of stderr goes away at once.
    drop(child.stderr.take());
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let addr = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(a) = line.strip_prefix("listening on http://") {
                return a.trim().to_owned();
            }
        }
        panic!("no listening line");
    })
    .await
    .expect("listening within 60 s");
    let c = common_bin::client();
    for _ in 0..3 {
        let res = c
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .expect("an answer, not an empty reply");
        assert_eq!(res.status(), 200);
    }
    let res = c
        .post(format!("http://{addr}/api/v1/messages"))
        .bearer_auth(&token)
        .json(&message("Uitslag", "Alles goed.", "p@example.nl"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(res.status(), 201);
    let res = c
        .get(format!("http://{addr}/readyz"))
        .send()
        .await
        .expect("an answer");
    assert_eq!(res.status(), 200);
    let _ = child.start_kill();
}

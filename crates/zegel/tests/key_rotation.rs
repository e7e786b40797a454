//! Key rotation on the real binary, on SQLite and PostgreSQL:
//! - `zegel admin keys rotate --org S` while the server serves: every message (subject, body,
//!   attachment) still opens, also an upload that began before the rotation and ended after
//!   it; the old organisation key row and every message key wrapped under it are gone from the
//!   database; the audit trail has the rotation.
//! - Killed (`kill -9`) halfway: every message still opens, messages sent meanwhile too, and a
//!   second run finishes the job.
//! - `zegel admin keys rotate-master --new-key-file F`: after a restart with F everything still
//!   opens, a sender's code and a pending e-mail code still verify, TOTP sign-in still works;
//!   the old key file is refused with the key-check error; a second master rotation and an
//!   organisation key rotation after it keep everything readable.

#[allow(dead_code)]
mod common_bin;

use common_bin::{files_in, Env, Mail, Server};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};

const SENDER: &str = "arts@ziekenhuis.example";
/// The sender's own code for every `code` recipient.
const CODE: &str = "493817";
const PASSWORD: &str = "paarse olifant danst op het dak";

/// The database of a test: its URL (for direct queries) and whether it is PostgreSQL.
struct Db {
    url: String,
    pg: bool,
    _pg: Option<zegel_testkit::PgDb>,
}

impl Db {
    /// The database for `env`: SQLite in its data directory, or a fresh PostgreSQL database
    /// (`None`: PostgreSQL skipped on purpose, PgDb said so).
    async fn new(env: &mut Env, pg: bool) -> Option<Db> {
        // Many opens from one address in a short time: the rate limit is not what is tested.
        env.set("ZEGEL_RATE_LIMIT_PER_MINUTE", "100000")
            .set("ZEGEL_RATE_LIMIT_BURST", "100000");
        if pg {
            let db = zegel_testkit::PgDb::create().await?;
            env.set("ZEGEL_DATABASE_URL", db.url());
            Some(Db {
                url: db.url().to_string(),
                pg: true,
                _pg: Some(db),
            })
        } else {
            Some(Db {
                url: format!("sqlite://{}", env.data().join("zegel.db").display()),
                pg: false,
                _pg: None,
            })
        }
    }

    /// The text values of the one column `sql` selects (NULLs left out).
    async fn texts(&self, sql: &str) -> Vec<String> {
        zegel_testkit::select_texts(&self.url, sql)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// `col` (a BLOB/BYTEA column) as hex text.
    fn hex(&self, col: &str) -> String {
        if self.pg {
            format!("encode({col}, 'hex')")
        } else {
            format!("lower(hex({col}))")
        }
    }

    /// The default organisation's active key id.
    async fn active_key(&self) -> String {
        let keys = self
            .texts("SELECT active_kek_id FROM organisations WHERE slug = 'default'")
            .await;
        assert_eq!(keys.len(), 1, "{keys:?}");
        keys[0].clone()
    }

    /// How many message keys are wrapped under `kek_id`.
    async fn keys_under(&self, kek_id: &str) -> usize {
        self.texts(&format!(
            "SELECT message_id FROM message_keys WHERE kek_id = '{kek_id}'"
        ))
        .await
        .len()
    }

    /// Every wrapped message key, as hex.
    async fn wrapped_deks(&self) -> Vec<String> {
        self.texts(&format!(
            "SELECT {} FROM message_keys ORDER BY message_id",
            self.hex("wrapped_dek")
        ))
        .await
    }

    /// Every signing key: (id, wrapped private key as hex), by id.
    async fn signing_keys(&self) -> Vec<(String, String)> {
        let ids = self.texts("SELECT id FROM signing_keys ORDER BY id").await;
        let wrapped = self
            .texts(&format!(
                "SELECT {} FROM signing_keys ORDER BY id",
                self.hex("wrapped_private")
            ))
            .await;
        ids.into_iter().zip(wrapped).collect()
    }

    /// The details of the account events of `kind` (user id NULL).
    async fn system_events(&self, kind: &str) -> Vec<String> {
        self.texts(&format!(
            "SELECT detail FROM account_events WHERE kind = '{kind}' AND user_id IS NULL \
             ORDER BY id"
        ))
        .await
    }
}

/// A message as its recipient sees it.
#[derive(Debug, PartialEq, Eq)]
struct Opened {
    subject: String,
    body: String,
    attachment: Vec<u8>,
}

/// A message sent in a test: its link token and what it must show.
struct Sent {
    link: String,
    expected: Opened,
}

/// `n` bytes that differ per `seed`.
fn file_bytes(seed: u32, n: usize) -> Vec<u8> {
    (0..n as u32)
        .map(|i| ((i.wrapping_mul(31) ^ seed.wrapping_mul(7919)) % 251) as u8)
        .collect()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

fn message_json(subject: &str, email: &str) -> Value {
    json!({
        "subject": subject,
        "body": format!("Tekst van {subject}"),
        "recipients": [{"email": email, "verification": "code", "code": CODE}],
    })
}

/// Sends a message with one attachment to `email` (the sender's own code) and waits for its
/// notification.
async fn send(server: &Server, data: &Path, token: &str, n: u32) -> Sent {
    let subject = format!("Uitslag {n}");
    let email = format!("patient{n}@example.nl");
    let file = file_bytes(n, 100_000 + n as usize);
    let form = reqwest::multipart::Form::new()
        .part(
            "message",
            reqwest::multipart::Part::text(message_json(&subject, &email).to_string())
                .mime_str("application/json")
                .unwrap(),
        )
        .part(
            "attachment",
            reqwest::multipart::Part::bytes(file.clone())
                .file_name("uitslag.pdf")
                .mime_str("application/pdf")
                .unwrap(),
        );
    let res = client()
        .post(server.url("/api/v1/messages"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        201,
        "{}",
        res.text().await.unwrap_or_default()
    );
    Sent {
        link: link_for(data, &email).await,
        expected: Opened {
            body: format!("Tekst van {subject}"),
            subject,
            attachment: file,
        },
    }
}

/// The newest mail to `email` in the outbox of `data` that satisfies `pick`.
async fn mail_to(data: &Path, email: &str, pick: impl Fn(&Mail) -> bool) -> Mail {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = files_in(&data.join("outbox/mail"))
            .iter()
            .rev()
            .map(|p| Mail::read(p))
            .find(|m| m.to.as_deref() == Some(email) && pick(m));
        if let Some(m) = found {
            return m;
        }
        assert!(Instant::now() < deadline, "no mail to {email}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The link token in the notification to `email`.
async fn link_for(data: &Path, email: &str) -> String {
    let mail = mail_to(data, email, |m| !m.links().is_empty()).await;
    mail.links()[0].rsplit('/').next().unwrap().to_string()
}

/// Verifies `code` for `link`: the status and the access token.
async fn verify(server: &Server, link: &str, code: &str) -> (u16, Option<String>) {
    let res = client()
        .post(server.url(&format!("/api/v1/access/{link}/verify")))
        .json(&json!({ "code": code }))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let v: Value = res.json().await.unwrap_or(Value::Null);
    (status, v["access_token"].as_str().map(str::to_string))
}

/// Opens a message as its recipient (verify, message, attachment); asserts every step is 200.
async fn open_with(server: &Server, link: &str, code: &str) -> Opened {
    let (status, at) = verify(server, link, code).await;
    assert_eq!(status, 200, "verify {link}");
    let at = at.unwrap();
    let c = client();
    let res = c
        .get(server.url(&format!("/api/v1/access/{link}/message")))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let m: Value = res.json().await.unwrap();
    let att = m["attachments"][0]["id"].as_str().unwrap().to_string();
    let res = c
        .get(server.url(&format!("/api/v1/access/{link}/attachments/{att}")))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    Opened {
        subject: m["subject"].as_str().unwrap().to_string(),
        body: m["body"].as_str().unwrap().to_string(),
        attachment: res.bytes().await.unwrap().to_vec(),
    }
}

/// Every message opens with its subject, body and attachment.
async fn assert_all_open(server: &Server, sent: &[Sent]) {
    for s in sent {
        let got = open_with(server, &s.link, CODE).await;
        assert_eq!(got.subject, s.expected.subject);
        assert_eq!(got.body, s.expected.body);
        assert!(
            got.attachment == s.expected.attachment,
            "attachment of {}",
            s.expected.subject
        );
    }
}

/// Every file under `dir`, at any depth.
fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// An upload held open: the message part and the first part of its attachment are sent, the
/// rest waits for [`SlowUpload::finish`].
struct SlowUpload {
    tx: tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>,
    rest: Vec<u8>,
    response: tokio::task::JoinHandle<reqwest::Response>,
    expected: Opened,
    email: String,
}

const BOUNDARY: &str = "zegel-grens-7d41";

impl SlowUpload {
    /// Starts the upload and waits until the server writes the attachment's blob (so its
    /// message key exists and the organisation key was read).
    async fn start(server: &Server, data: &Path, token: &str) -> SlowUpload {
        let subject = "Traag verstuurd".to_string();
        let email = "traag@example.nl".to_string();
        let file = file_bytes(99, 300_000);
        let head = format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"message\"\r\n\
             Content-Type: application/json\r\n\r\n{}\r\n--{BOUNDARY}\r\n\
             Content-Disposition: form-data; name=\"attachment\"; filename=\"traag.pdf\"\r\n\
             Content-Type: application/pdf\r\n\r\n",
            message_json(&subject, &email)
        );
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let body = reqwest::Body::wrap_stream(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        }));
        let blobs_before = all_files(&data.join("blobs")).len();
        let req = client()
            .post(server.url("/api/v1/messages"))
            .bearer_auth(token)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(body);
        let response = tokio::spawn(async move { req.send().await.unwrap() });
        let mut first = head.into_bytes();
        first.extend_from_slice(&file[..150_000]);
        tx.send(Ok(first)).await.unwrap();
        // The blob file appears once the draft exists and the attachment streams in.
        let deadline = Instant::now() + Duration::from_secs(20);
        while all_files(&data.join("blobs")).len() <= blobs_before {
            assert!(
                Instant::now() < deadline,
                "the held upload never reached the blob store"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        SlowUpload {
            tx,
            rest: file[150_000..].to_vec(),
            response,
            expected: Opened {
                body: format!("Tekst van {subject}"),
                subject,
                attachment: file,
            },
            email,
        }
    }

    /// Sends the rest; the upload must be stored (201).
    async fn finish(self, data: &Path) -> Sent {
        let mut rest = self.rest;
        rest.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
        self.tx.send(Ok(rest)).await.unwrap();
        drop(self.tx);
        let res = self.response.await.unwrap();
        let status = res.status();
        assert_eq!(status, 201, "{}", res.text().await.unwrap_or_default());
        Sent {
            link: link_for(data, &self.email).await,
            expected: self.expected,
        }
    }
}

async fn org_key_rotation_while_serving(pg: bool) {
    let mut env = Env::new();
    let Some(db) = Db::new(&mut env, pg).await else {
        return;
    };
    let data = env.data();
    let token = env.token(SENDER).await;
    let server = env.start(&["serve"]).await;
    let mut sent = Vec::new();
    for n in 0..7 {
        sent.push(send(&server, &data, &token, n).await);
    }
    let old = db.active_key().await;
    assert_eq!(db.keys_under(&old).await, 7);
    let old_wrapped = db.wrapped_deks().await;
    assert_all_open(&server, &sent).await;

    // An upload that began under the old key and ends after the old key is destroyed.
    let slow = SlowUpload::start(&server, &data, &token).await;

    let out = env
        .run_ok(&[
            "admin",
            "keys",
            "rotate",
            "--org",
            "default",
            "--batch-size",
            "3",
        ])
        .await;
    let new = db.active_key().await;
    assert_ne!(new, old);
    assert!(
        out.contains(&format!("7 message keys re-wrapped under {new}")),
        "{out}"
    );
    assert!(out.contains(&format!("old key {old} destroyed")), "{out}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("batch ")).count(),
        3,
        "batches of 3: {out}"
    );

    sent.push(slow.finish(&data).await);
    sent.push(send(&server, &data, &token, 7).await);
    // The server that cached the old key opens everything.
    assert_all_open(&server, &sent).await;

    // In the database: only the new key, every message key under it, none of the old bytes.
    assert_eq!(
        db.texts("SELECT id FROM org_keys").await,
        vec![new.clone()],
        "the old organisation key row is gone"
    );
    assert_eq!(db.keys_under(&old).await, 0);
    assert_eq!(db.keys_under(&new).await, 9);
    let now_wrapped = db.wrapped_deks().await;
    for w in &old_wrapped {
        assert!(
            !now_wrapped.contains(w),
            "an old wrapped message key is left"
        );
    }
    let events = db.system_events("org_key_rotated").await;
    assert_eq!(events.len(), 1, "{events:?}");
    let detail: Value = serde_json::from_str(&events[0]).unwrap();
    assert_eq!(
        detail,
        json!({"org": "default", "old_key": old, "new_key": new})
    );

    // The rotation is in the audit trail, and the trail is whole.
    env.run_ok(&["audit", "verify"]).await;
    let export = env.run_ok(&["audit", "export"]).await;
    assert!(export.contains("org_key_rotated"), "{export}");

    // A fresh process (no cached keys) opens everything too.
    drop(server);
    let server = env.start(&["serve"]).await;
    assert_all_open(&server, &sent).await;

    // An unknown organisation: a clear error, nothing changed.
    let bad = env
        .run(&["admin", "keys", "rotate", "--org", "nergens"])
        .await;
    assert!(!bad.status.success());
    assert!(
        bad.stderr.contains("no organisation \"nergens\""),
        "{}",
        bad.stderr
    );
    assert_eq!(db.active_key().await, new);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn org_key_rotation_while_serving_keeps_every_message_and_destroys_the_old_key() {
    org_key_rotation_while_serving(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn org_key_rotation_while_serving_keeps_every_message_and_destroys_the_old_key_on_postgres() {
    org_key_rotation_while_serving(true).await;
}

/// Starts `zegel ARGS` and waits for a stdout line starting with `prefix`; returns the child
/// (still running) and the lines so far.
async fn spawn_until(
    env: &Env,
    args: &[&str],
    prefix: &str,
) -> (tokio::process::Child, Vec<String>) {
    let mut child = env.spawn(args);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, lines.next_line()).await {
            Ok(Ok(Some(line))) => {
                let done = line.starts_with(prefix);
                seen.push(line);
                if done {
                    return (child, seen);
                }
            }
            other => {
                let _ = child.start_kill();
                panic!(
                    "`zegel {}`: no line {prefix:?} ({other:?}); got {seen:?}",
                    args.join(" ")
                );
            }
        }
    }
}

async fn interrupted_rotation_resumes(pg: bool) {
    let mut env = Env::new();
    let Some(db) = Db::new(&mut env, pg).await else {
        return;
    };
    let data = env.data();
    let token = env.token(SENDER).await;
    let server = env.start(&["serve"]).await;
    let mut sent = Vec::new();
    for n in 0..7 {
        sent.push(send(&server, &data, &token, n).await);
    }
    let old = db.active_key().await;

    // Two batches of two, then the process stops (a hidden test switch) and is killed.
    let (mut rotation, lines) = spawn_until(
        &env,
        &[
            "admin",
            "keys",
            "rotate",
            "--org",
            "default",
            "--batch-size",
            "2",
            "--pause-after-batches",
            "2",
        ],
        "paused after 2 batches",
    )
    .await;
    assert_eq!(lines.len(), 3, "{lines:?}");
    let new = db.active_key().await;
    assert_ne!(new, old);
    assert_eq!(db.keys_under(&old).await, 3);
    assert_eq!(db.keys_under(&new).await, 4);
    // Halfway: every message opens, and new messages are stored under the new key.
    assert_all_open(&server, &sent).await;
    sent.push(send(&server, &data, &token, 7).await);
    sent.push(send(&server, &data, &token, 8).await);
    assert_eq!(db.keys_under(&new).await, 6);

    rotation.start_kill().unwrap();
    rotation.wait().await.unwrap();
    assert_eq!(
        db.texts("SELECT id FROM org_keys ORDER BY id").await.len(),
        2
    );
    assert_all_open(&server, &sent).await;
    assert!(db.system_events("org_key_rotated").await.is_empty());

    // Run again: it carries on with the same new key and finishes.
    let out = env
        .run_ok(&["admin", "keys", "rotate", "--org", "default"])
        .await;
    assert!(
        out.contains("rotation resumed, 3 message keys re-wrapped"),
        "{out}"
    );
    assert_eq!(db.active_key().await, new);
    assert_eq!(db.texts("SELECT id FROM org_keys").await, vec![new.clone()]);
    assert_eq!(db.keys_under(&old).await, 0);
    assert_eq!(db.keys_under(&new).await, 9);
    assert_eq!(db.system_events("org_key_rotated").await.len(), 1);
    assert_all_open(&server, &sent).await;
    drop(server);
    let server = env.start(&["serve"]).await;
    assert_all_open(&server, &sent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_killed_halfway_leaves_every_message_readable_and_a_second_run_finishes() {
    interrupted_rotation_resumes(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_killed_halfway_leaves_every_message_readable_and_a_second_run_finishes_on_postgres(
) {
    interrupted_rotation_resumes(true).await;
}

/// A cookie-keeping client that does not follow redirects.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

fn csrf_of(page: &str) -> String {
    regex::Regex::new(r#"name="csrf" value="([^"]+)""#)
        .unwrap()
        .captures(page)
        .unwrap_or_else(|| panic!("a CSRF token in {page}"))[1]
        .to_string()
}

fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn page(c: &reqwest::Client, url: &str) -> String {
    let res = c.get(url).send().await.unwrap();
    assert_eq!(res.status(), 200, "GET {url}");
    res.text().await.unwrap()
}

/// Sets up `email` from its invite link with a password and TOTP: the TOTP.
async fn set_up_with_totp(env: &Env, server: &Server, email: &str) -> totp_rs::TOTP {
    let link = env
        .run_ok(&["admin", "user", "invite", "--email", email])
        .await;
    let path = format!("/welkom/{}", link.trim().rsplit('/').next().unwrap());
    let c = browser();
    let p = page(&c, &server.url(&path)).await;
    let res = c
        .post(server.url(&path))
        .form(&[("csrf", csrf_of(&p).as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let p = page(&c, &server.url(&path)).await;
    let uri = regex::Regex::new(r#"<code class="totp-uri">([^<]+)</code>"#)
        .unwrap()
        .captures(&p)
        .expect("the otpauth URI")[1]
        .replace("&amp;", "&");
    let totp = totp_rs::TOTP::from_url_unchecked(uri).unwrap();
    let res = c
        .post(server.url(&format!("{path}/totp")))
        .form(&[
            ("csrf", csrf_of(&p).as_str()),
            ("code", totp.generate(now_secs()).as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let p = page(&c, &server.url(&path)).await;
    let res = c
        .post(server.url(&format!("{path}/klaar")))
        .form(&[("csrf", csrf_of(&p).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    totp
}

/// Signs in with the password and the TOTP code of the next step (the current one was used
/// at the set-up): the final status and where it leads.
async fn sign_in_with_totp(server: &Server, email: &str, totp: &totp_rs::TOTP) -> (u16, String) {
    let c = browser();
    let p = page(&c, &server.url("/inloggen")).await;
    let res = c
        .post(server.url("/inloggen"))
        .form(&[
            ("csrf", csrf_of(&p).as_str()),
            ("email", email),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let to = location(&res);
    assert!(to.starts_with("/inloggen/code"), "{to}");
    let p = page(&c, &server.url(&to)).await;
    let code = totp.generate(now_secs() + 30);
    let res = c
        .post(server.url("/inloggen/code"))
        .form(&[("csrf", csrf_of(&p).as_str()), ("code", code.as_str())])
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), location(&res))
}

/// Sends a message to `email` verified by an e-mail code and asks for the code (not used
/// yet): the link token and the code.
async fn pending_email_code(
    server: &Server,
    data: &Path,
    token: &str,
    email: &str,
) -> (String, String) {
    let msg = json!({
        "subject": "Met e-mailcode",
        "body": "Tekst met e-mailcode",
        "recipients": [{"email": email, "verification": "email"}],
    });
    server.send_message(token, &msg).await;
    let link = link_for(data, email).await;
    let res = client()
        .post(server.url(&format!("/api/v1/access/{link}/challenge")))
        .json(&json!({"method": "email"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    // The second mail to this address (after the notification) holds the code.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mail = loop {
        let mut mails: Vec<Mail> = files_in(&data.join("outbox/mail"))
            .iter()
            .map(|p| Mail::read(p))
            .filter(|m| m.to.as_deref() == Some(email))
            .collect();
        if mails.len() >= 2 {
            break mails.pop().unwrap();
        }
        assert!(Instant::now() < deadline, "no code mail to {email}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let code = regex::Regex::new(r"\b(\d{6})\b")
        .unwrap()
        .captures(&mail.text_parts.join("\n"))
        .expect("a 6-digit code in the code mail")[1]
        .to_string();
    (link, code)
}

async fn master_key_rotation(pg: bool) {
    let mut env = Env::new();
    let Some(db) = Db::new(&mut env, pg).await else {
        return;
    };
    let data = env.data();
    let token = env.token(SENDER).await;
    let server = env.start(&["serve"]).await;
    let mut sent = Vec::new();
    for n in 0..3 {
        sent.push(send(&server, &data, &token, n).await);
    }
    let totp_user = "totp@ziekenhuis.example";
    let totp = set_up_with_totp(&env, &server, totp_user).await;
    let (code_link, email_code) =
        pending_email_code(&server, &data, &token, "mail@example.nl").await;
    let org_keys_before = db
        .texts(&format!("SELECT {} FROM org_keys", db.hex("wrapped")))
        .await;
    let kcv_before = db
        .texts(&format!(
            "SELECT {} FROM meta WHERE key = 'master_key_check'",
            db.hex("value")
        ))
        .await;

    // Signing keys exist (audit checkpoints are signed with them).
    env.run_ok(&["audit", "checkpoint"]).await;
    let signing_before = db.signing_keys().await;
    assert!(!signing_before.is_empty(), "no signing key to re-wrap");

    // Online: the server keeps serving while the master key is rotated.
    let new_key = env.dir.path().join("nieuw.key");
    let out = env
        .run_ok(&[
            "admin",
            "keys",
            "rotate-master",
            "--new-key-file",
            &new_key.to_string_lossy(),
        ])
        .await;
    assert!(out.contains("created the new master key file"), "{out}");
    assert!(
        out.contains("master key rotated: 1 organisation keys"),
        "{out}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&new_key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Before its restart the server still holds the old key. An organisation made meanwhile
    // with the new key has an audit chain the server's sweeper signs; making that chain's
    // signing key under the old master key is refused, and nothing is stored (a key under a
    // master key that is about to be destroyed would be lost).
    let old_key_file = data.join("master.key");
    env.set("ZEGEL_MASTER_KEY_FILE", &new_key.to_string_lossy());
    env.run_ok(&[
        "admin",
        "org",
        "create",
        "--slug",
        "nieuw",
        "--name",
        "Kliniek Nieuw",
    ])
    .await;
    env.run_ok(&[
        "admin",
        "user",
        "create",
        "--email",
        "arts@nieuw.example",
        "--org",
        "nieuw",
    ])
    .await;
    env.set("ZEGEL_MASTER_KEY_FILE", &old_key_file.to_string_lossy());
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !server
        .stderr()
        .contains("the master key of this database was rotated")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the old node's checkpoint was not refused: {}",
            server.stderr()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let new_org_keys = "SELECT id FROM signing_keys WHERE org_id = \
                        (SELECT id FROM organisations WHERE slug = 'nieuw')";
    assert!(db.texts(new_org_keys).await.is_empty());
    drop(server);

    // The old key file no longer opens the database.
    let refused = env.run(&["serve"]).await;
    assert!(!refused.status.success());
    assert!(
        refused
            .stderr
            .contains("the master key does not match this database"),
        "{}",
        refused.stderr
    );

    let new_key_text = std::fs::read_to_string(&new_key).unwrap();
    let old_key_text = std::fs::read_to_string(data.join("master.key")).unwrap();
    assert_ne!(new_key_text, old_key_text);
    env.set("ZEGEL_MASTER_KEY_FILE", &new_key.to_string_lossy());
    let server = env.start(&["serve"]).await;
    assert_all_open(&server, &sent).await;
    // The pending code (a MAC under the kept code key) verifies.
    assert_eq!(verify(&server, &code_link, &email_code).await.0, 200);
    // TOTP (its secret sealed under the kept seal key) still signs in.
    assert_eq!(
        sign_in_with_totp(&server, totp_user, &totp).await,
        (303, "/berichten".to_string())
    );
    // New messages, new notifications (sealed links) work too.
    sent.push(send(&server, &data, &token, 3).await);
    assert_all_open(&server, &sent).await;

    // In the database: the organisation key and the key check changed; the derived keys are
    // kept; the audit trail has the rotation; no key bytes in it.
    let org_keys_after = db
        .texts(&format!(
            "SELECT {} FROM org_keys WHERE org_id = \
             (SELECT id FROM organisations WHERE slug = 'default')",
            db.hex("wrapped")
        ))
        .await;
    assert_eq!(org_keys_after.len(), 1);
    assert_ne!(org_keys_after, org_keys_before);
    let kcv_after = db
        .texts(&format!(
            "SELECT {} FROM meta WHERE key = 'master_key_check'",
            db.hex("value")
        ))
        .await;
    assert_ne!(kcv_after, kcv_before);
    let kept = db
        .texts("SELECT key FROM meta WHERE key LIKE 'derived_key:%' ORDER BY key")
        .await;
    assert_eq!(
        kept,
        vec![
            "derived_key:zegel access-code mac v1".to_string(),
            "derived_key:zegel job seal v1".to_string()
        ]
    );
    let events = db.system_events("master_key_rotated").await;
    assert_eq!(events.len(), 1);
    let detail: Value = serde_json::from_str(&events[0]).unwrap();
    assert_eq!(detail["org_keys"], json!([db.active_key().await]));
    // The signing keys (audit checkpoints, receipts) were re-wrapped too: they still sign.
    assert_eq!(
        detail["signing_keys"],
        json!(signing_before.iter().map(|(id, _)| id).collect::<Vec<_>>())
    );
    // (The restarted server may have made more signing keys since, under the new key.)
    let signing_after = db.signing_keys().await;
    for (id, wrapped) in &signing_before {
        let (_, now) = signing_after
            .iter()
            .find(|(i, _)| i == id)
            .unwrap_or_else(|| panic!("signing key {id} kept"));
        assert_ne!(wrapped, now, "signing key {id} re-wrapped");
    }
    env.run_ok(&["audit", "checkpoint"]).await;
    env.run_ok(&["audit", "verify"]).await;
    // With the new key the new organisation's chain is signed.
    assert_eq!(db.texts(new_org_keys).await.len(), 1);

    // The same key again: refused.
    let same = env
        .run(&[
            "admin",
            "keys",
            "rotate-master",
            "--new-key-file",
            &new_key.to_string_lossy(),
        ])
        .await;
    assert!(!same.status.success());
    assert!(
        same.stderr.contains("is the current master key"),
        "{}",
        same.stderr
    );

    // A second master rotation (from the kept keys) and an organisation key rotation after it.
    let third_key = env.dir.path().join("derde.key");
    env.run_ok(&[
        "admin",
        "keys",
        "rotate-master",
        "--new-key-file",
        &third_key.to_string_lossy(),
    ])
    .await;
    drop(server);
    env.set("ZEGEL_MASTER_KEY_FILE", &third_key.to_string_lossy());
    env.run_ok(&["admin", "keys", "rotate", "--org", "default"])
        .await;
    let server = env.start(&["serve"]).await;
    // The senders' codes are MACs under the kept code key: they still verify.
    assert_all_open(&server, &sent).await;
    assert_eq!(db.system_events("master_key_rotated").await.len(), 2);
    let export = env.run_ok(&["audit", "export"]).await;
    assert!(export.contains("master_key_rotated"), "{export}");
    env.run_ok(&["audit", "verify"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_key_rotation_keeps_messages_codes_and_totp_and_refuses_the_old_key() {
    master_key_rotation(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_key_rotation_keeps_messages_codes_and_totp_and_refuses_the_old_key_on_postgres() {
    master_key_rotation(true).await;
}

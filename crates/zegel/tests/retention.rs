//! Retention and destruction (issue 14) on the real binary, on SQLite and PostgreSQL: an
//! organisation's default and maximum availability set with `zegel admin org policy` (checked,
//! recorded as an account event `policy_changed`), applied by the API (the default when no
//! expiry is given, 422 above the maximum), the cap of "extend"; and a message whose expiry
//! passed is destroyed by the running server within a minute: its key row is gone, every
//! recipient has an event `expired`, its blobs are deleted.

#[allow(dead_code)]
mod common_bin;

use common_bin::{Env, Server};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};
use zegel_core::model::Ts;
use zegel_core::DynStore;

const SENDER: &str = "arts@ziekenhuis.example";

/// The database of `env`: its URL (for `select_texts`) and a store on it (for what the test
/// changes directly: an expiry in the past).
async fn database(env: &Env, pg: Option<&str>) -> (String, DynStore) {
    match pg {
        Some(url) => (
            url.to_string(),
            std::sync::Arc::new(
                zegel_store_postgres::PgStore::connect(url)
                    .await
                    .expect("connect to the test database"),
            ),
        ),
        None => {
            let path = env.data().join("zegel.db");
            (
                format!("sqlite://{}", path.display()),
                std::sync::Arc::new(
                    zegel_store_sqlite::SqliteStore::connect(&path.to_string_lossy())
                        .await
                        .expect("open the SQLite database"),
                ),
            )
        }
    }
}

fn rfc3339(v: &Value) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(
        v.as_str().expect("a time"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("RFC 3339")
}

/// Every file under `dir`, at any depth.
fn files_under(dir: &Path) -> usize {
    let mut n = 0;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                todo.push(e.path());
            } else {
                n += 1;
            }
        }
    }
    n
}

/// A cookie-keeping client signed in on `/inloggen`.
async fn signed_in(base: &str, email: &str, password: &str) -> reqwest::Client {
    let c = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let page = c
        .get(format!("{base}/inloggen"))
        .send()
        .await
        .expect("sign-in page")
        .text()
        .await
        .expect("text");
    let csrf = regex::Regex::new(r#"name="csrf" value="([^"]+)""#)
        .expect("regex")
        .captures(&page)
        .expect("a CSRF token on the sign-in page")[1]
        .to_string();
    let res = c
        .post(format!("{base}/inloggen"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await
        .expect("sign in");
    assert_eq!(res.status(), 303, "signed in");
    c
}

async fn post(server: &Server, token: &str, path: &str, body: Value) -> (u16, Value) {
    let res = server
        .client
        .post(server.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("POST");
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn retention(env: Env, pg: Option<&str>) {
    let token = env.token(SENDER).await;

    // The policy on the command line: refused with a clear reason, nothing recorded.
    for (args, why) in [
        (
            vec!["--default-availability-days", "0"],
            "availability days must be from 1 to 3650",
        ),
        (
            vec![
                "--default-availability-days",
                "100",
                "--max-availability-days",
                "30",
            ],
            "the default (100) at most the maximum (30)",
        ),
        (vec!["--max-availability-days", "4000"], "from 1 to 3650"),
    ] {
        let mut cmd = vec!["admin", "org", "policy", "--slug", "default"];
        cmd.extend(args.iter().copied());
        let out = env.run(&cmd).await;
        assert!(!out.status.success(), "{cmd:?} must fail");
        assert!(out.stderr.contains(why), "{cmd:?}: {}", out.stderr);
    }
    // Shown without a change: the installation's 90 days both ways.
    let shown: Value =
        serde_json::from_str(&env.run_ok(&["admin", "org", "policy"]).await).expect("JSON");
    assert_eq!(
        (
            shown["default_availability_days"].as_i64(),
            shown["max_availability_days"].as_i64()
        ),
        (Some(90), Some(90))
    );
    let set: Value = serde_json::from_str(
        &env.run_ok(&[
            "admin",
            "org",
            "policy",
            "--slug",
            "default",
            "--default-availability-days",
            "10",
            "--max-availability-days",
            "20",
        ])
        .await,
    )
    .expect("JSON");
    assert_eq!(
        (
            set["default_availability_days"].as_i64(),
            set["max_availability_days"].as_i64()
        ),
        (Some(10), Some(20))
    );
    // One alone keeps the other.
    let set: Value = serde_json::from_str(
        &env.run_ok(&[
            "admin",
            "org",
            "policy",
            "--default-availability-days",
            "15",
        ])
        .await,
    )
    .expect("JSON");
    assert_eq!(
        (
            set["default_availability_days"].as_i64(),
            set["max_availability_days"].as_i64()
        ),
        (Some(15), Some(20))
    );
    let (db_url, store) = database(&env, pg).await;
    let events = zegel_testkit::select_texts(
        &db_url,
        "SELECT detail FROM account_events WHERE kind = 'policy_changed' AND user_id IS NULL \
         ORDER BY id",
    )
    .await;
    assert_eq!(
        events.len(),
        2,
        "one event per change, none for a refusal: {events:?}"
    );
    let last = events[1].as_deref().unwrap_or_default();
    assert!(
        last.contains("default_availability_days=15")
            && last.contains("max_availability_days=20")
            && last.contains("changed=default_availability_days"),
        "{last}"
    );

    let set = env
        .run_with_stdin(
            &["admin", "user", "password", "--email", SENDER],
            "paarse olifant danst op het dak\n",
        )
        .await;
    assert!(set.status.success(), "{}", set.stderr);

    let server = env.start(&["serve"]).await;
    // The compose form shows the organisation's default and offers up to its maximum.
    let web = signed_in(&server.base, SENDER, "paarse olifant danst op het dak").await;
    let compose = web
        .get(server.url("/berichten/nieuw"))
        .send()
        .await
        .expect("compose page")
        .text()
        .await
        .expect("text");
    assert!(
        compose.contains(r#"name="days" type="number" min="1" max="20""#)
            && compose.contains(r#"value="15""#)
            && compose.contains("Standaard 15 dagen; u kunt tot 20 dagen kiezen"),
        "{compose}"
    );
    // The policy as the API shows it.
    let doc: Value = server
        .get_auth("/api/v1/organisation/policy", &token)
        .await
        .json()
        .await
        .expect("policy JSON");
    assert_eq!(doc["default_availability_days"], 15);
    assert_eq!(doc["max_availability_days"], 20);

    // No expiry given: the organisation's default.
    let msg = json!({
        "subject": "Uitslag",
        "body": "Goed.",
        "recipients": [{"email": "patient@mail.example", "verification": "code", "code": "493817"}],
    });
    let before = time::OffsetDateTime::now_utc();
    let created = server.send_message(&token, &msg).await;
    let expires = rfc3339(&created["expires_at"]);
    let want = before + time::Duration::days(15);
    assert!(
        (expires - want).abs() < time::Duration::minutes(1),
        "expires_at {expires}, want about {want}"
    );
    // Above the maximum: 422 with a JSON error that names it; at the maximum: fine.
    let mut above = msg.clone();
    above["expires_in_days"] = json!(21);
    let (status, err) = post(&server, &token, "/api/v1/messages", above).await;
    assert_eq!(status, 422, "{err}");
    assert!(
        err["error"].as_str().is_some_and(|e| !e.is_empty())
            && err.to_string().contains("between 1 and 20"),
        "{err}"
    );
    let mut at_max = msg.clone();
    at_max["expires_in_days"] = json!(20);
    server.send_message(&token, &at_max).await;

    // Extend: at most the maximum (20 days) from the sending, so 5 more days and no more.
    let id = created["id"].as_str().expect("id").to_string();
    let extend = format!("/api/v1/messages/{id}/extend");
    let (status, err) = post(&server, &token, &extend, json!({"days": 6})).await;
    assert_eq!(status, 422, "{err}");
    assert!(err.to_string().contains("at most 20 days"), "{err}");
    let (status, v) = post(&server, &token, &extend, json!({"days": 5})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(rfc3339(&v["expires_at"]) - expires, time::Duration::days(5));
    let (status, _) = post(&server, &token, &extend, json!({"days": 1})).await;
    assert_eq!(status, 422);
    let tracking = web
        .get(server.url(&format!("/berichten/{id}")))
        .send()
        .await
        .expect("status page")
        .text()
        .await
        .expect("text");
    assert!(tracking.contains("Dit bericht kan niet langer beschikbaar blijven."));
    assert!(
        !tracking.contains(&format!("/berichten/{id}/verlengen")),
        "no extend form at the maximum: {tracking}"
    );

    // Expiry: a message with an attachment to two recipients, whose expiry comes in 2 s; the
    // running server destroys it within a minute.
    let blobs_before = files_under(&env.data().join("blobs"));
    let form = reqwest::multipart::Form::new()
        .part(
            "message",
            reqwest::multipart::Part::text(
                json!({
                    "subject": "Verloopt",
                    "body": "Tekst die verdwijnt.",
                    "recipients": [
                        {"email": "een@mail.example", "verification": "code", "code": "493817"},
                        {"email": "twee@mail.example", "verification": "code", "code": "493817"},
                    ],
                })
                .to_string(),
            )
            .mime_str("application/json")
            .expect("mime"),
        )
        .part(
            "attachment",
            reqwest::multipart::Part::bytes(vec![7u8; 100_000])
                .file_name("scan.pdf")
                .mime_str("application/pdf")
                .expect("mime"),
        );
    let res = server
        .client
        .post(server.url("/api/v1/messages"))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 201);
    let doomed: Value = res.json().await.expect("JSON");
    let doomed_id = doomed["id"].as_str().expect("id").to_string();
    assert!(files_under(&env.data().join("blobs")) > blobs_before);
    let key_sql = format!("SELECT message_id FROM message_keys WHERE message_id = '{doomed_id}'");
    let key_rows = || zegel_testkit::select_texts(&db_url, &key_sql);
    assert_eq!(key_rows().await.len(), 1);
    let expires_at = Ts::now().plus_millis(2_000);
    assert!(store
        .extend_message(&doomed_id, expires_at, &[])
        .await
        .expect("set the expiry"));
    let expired_at = Instant::now() + Duration::from_secs(2);
    loop {
        if key_rows().await.is_empty() {
            break;
        }
        assert!(
            Instant::now() < expired_at + Duration::from_secs(60),
            "the key of an expired message still exists a minute after its expiry\n{}",
            server.stderr()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let took = Instant::now().saturating_duration_since(expired_at);
    eprintln!("key destroyed {took:?} after the expiry");
    // Every recipient has an event `expired` (written with the key's deletion).
    let mut expired_for = zegel_testkit::select_texts(
        &db_url,
        &format!(
            "SELECT recipient_id FROM events WHERE message_id = '{doomed_id}' \
             AND kind = 'expired' AND actor = 'system'"
        ),
    )
    .await;
    expired_for.sort();
    let mut recipients: Vec<Option<String>> = doomed["recipients"]
        .as_array()
        .expect("recipients")
        .iter()
        .map(|r| r["id"].as_str().map(str::to_owned))
        .collect();
    recipients.sort();
    assert_eq!(expired_for, recipients);
    let status = server.message_status(&token, &doomed_id).await;
    for r in status["recipients"].as_array().expect("recipients") {
        assert_eq!(r["status"], "expired", "{status}");
    }
    assert!(
        status["subject"].is_null(),
        "no subject once destroyed: {status}"
    );
    // The blobs go with the same sweep.
    let deadline = Instant::now() + Duration::from_secs(30);
    while files_under(&env.data().join("blobs")) > blobs_before {
        assert!(
            Instant::now() < deadline,
            "the blobs of an expired message are still there"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    server.assert_logs_never_contain(&["Tekst die verdwijnt", "scan.pdf", &token]);
}

#[tokio::test]
async fn retention_policy_applies_and_expired_messages_are_destroyed_within_a_minute() {
    retention(Env::new(), None).await;
}

#[tokio::test]
async fn retention_policy_applies_and_expired_messages_are_destroyed_within_a_minute_on_postgres() {
    let Some(db) = zegel_testkit::PgDb::create().await else {
        return; // ZEGEL_TEST_SKIP_POSTGRES=1: PgDb said so on stderr.
    };
    let mut env = Env::new();
    env.set("ZEGEL_DATABASE_URL", db.url());
    retention(env, Some(db.url())).await;
    drop(db);
}

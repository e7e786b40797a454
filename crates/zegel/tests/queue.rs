//! The durable notification queue under real processes: two `zegel serve` nodes on one
//! PostgreSQL database sharing the queue, and a SIGKILL in the middle of a burst of sends
//! (SQLite and PostgreSQL). Real binaries, a real SMTP server (aiosmtpd), no mocks.
//!
//! Needs Python's `aiosmtpd` and `ZEGEL_TEST_POSTGRES_URL` (or `ZEGEL_TEST_SKIP_POSTGRES=1`).

#[allow(dead_code)]
mod common_bin;

use common_bin::{free_port, message, use_smtp, Env, Mail, Server, SmtpSink, POLL};
use futures::StreamExt;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Base64 of the 32 bytes 0..=31: a fixed master key both nodes share.
const SHARED_MASTER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const MAIL_DOMAIN: &str = "ziekenhuis.example";

/// A Message-ID without the angle brackets, whichever way the parser hands it out.
fn mid(mail: &Mail) -> String {
    mail.message_id
        .as_deref()
        .unwrap_or_default()
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string()
}

/// The Message-ID the contract fixes for a recipient's notification.
fn notify_mid(recipient_id: &str) -> String {
    format!("zegel.notify.{recipient_id}@{MAIL_DOMAIN}")
}

fn is_notification(mail: &Mail) -> bool {
    mid(mail).starts_with("zegel.notify.")
}

/// `(message id, recipient id)` from a 201 body of `POST /api/v1/messages`.
fn ids_of(created: &Value) -> (String, String) {
    let id = created["id"]
        .as_str()
        .expect("201 carries an id")
        .to_string();
    let rid = created["recipients"][0]["id"]
        .as_str()
        .expect("201 carries the recipient id")
        .to_string();
    (id, rid)
}

async fn assert_ready(server: &Server, name: &str) {
    let r = server
        .client
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap_or_else(|e| server.fail(&format!("{name}: GET /readyz: {e}")));
    if r.status() != 200 {
        server.fail(&format!("{name}: /readyz answered {}", r.status()));
    }
}

/// Polls the sink until a code mail (`zegel.code.*`) for `email` is there; its 6-digit code.
async fn wait_for_code(sink: &SmtpSink, email: &str, within: Duration) -> String {
    let re = regex::Regex::new(r"\b(\d{6})\b").expect("regex");
    let deadline = Instant::now() + within;
    loop {
        let code = sink
            .mails()
            .iter()
            .filter(|m| mid(m).starts_with("zegel.code.") && m.to.as_deref() == Some(email))
            .find_map(|m| {
                m.text_parts
                    .iter()
                    .find_map(|t| re.captures(t).map(|c| c[1].to_string()))
            });
        if let Some(code) = code {
            return code;
        }
        assert!(
            Instant::now() < deadline,
            "no access-code mail for {email} within {within:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test]
async fn two_nodes_on_one_postgres_database_share_the_queue_and_deliver_each_notification_once() {
    let Some(db) = zegel_testkit::PgDb::create().await else {
        return; // ZEGEL_TEST_SKIP_POSTGRES=1: PgDb said so on stderr.
    };
    let port = free_port();
    let mut env_a = Env::new();
    let mut env_b = Env::new();
    let sink = SmtpSink::start(port, &env_a.scratch("smtp")).await;
    // Separate data directories, one shared blob store.
    let blobs = env_a.scratch("shared-blobs");
    let blob_url = format!("file://{}", blobs.display());
    for env in [&mut env_a, &mut env_b] {
        env.set("ZEGEL_DATABASE_URL", db.url())
            .set("ZEGEL_MASTER_KEY", SHARED_MASTER_KEY)
            .set("ZEGEL_BLOB_URL", &blob_url);
        use_smtp(env, port);
    }
    let token = env_a.token("arts@example.nl").await;
    let a = env_a.start(&["serve"]).await;
    let b = env_b.start(&["serve"]).await;
    assert_ne!(a.base, b.base);
    assert_ready(&a, "node A").await;
    assert_ready(&b, "node B").await;
    let nodes = [&a, &b];

    // 60 messages, alternating between the nodes, 8 requests in flight at a time.
    const N: usize = 60;
    let started = Instant::now();
    let mut sent: Vec<(usize, String, String, String)> = futures::stream::iter(0..N)
        .map(|i| {
            let node = nodes[i % 2];
            let token = token.clone();
            async move {
                let email = format!("patient{i:02}@example.nl");
                let created = node
                    .send_message(&token, &message(&format!("Uitslag {i}"), "Inhoud", &email))
                    .await;
                let (id, rid) = ids_of(&created);
                (i, id, rid, email)
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    sent.sort();
    let ids: Vec<String> = sent.iter().map(|(_, id, _, _)| id.clone()).collect();
    // Either node reports the status of every message: one system.
    b.wait_all_notified(&token, &ids, Duration::from_secs(60))
        .await;
    eprintln!(
        "two nodes: {N} notifications delivered {:?} after the first send",
        started.elapsed()
    );

    // A message sent via node A is readable via node B's access API.
    let (_, first_id, first_rid, first_email) = &sent[0];
    let first_mail = sink
        .mails()
        .into_iter()
        .find(|m| is_notification(m) && m.to.as_deref() == Some(first_email.as_str()))
        .expect("the notification for the first message is in the sink");
    let link = first_mail
        .links()
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no /m/ link in\n{}", first_mail.raw));
    let link_token = link.rsplit('/').next().expect("token").to_string();
    let challenge = b
        .client
        .post(b.url(&format!("/api/v1/access/{link_token}/challenge")))
        .json(&json!({"method": "email"}))
        .send()
        .await
        .expect("challenge on node B");
    assert_eq!(challenge.status(), 202, "challenge on node B");
    let code = wait_for_code(&sink, first_email, Duration::from_secs(30)).await;
    let verify = b
        .client
        .post(b.url(&format!("/api/v1/access/{link_token}/verify")))
        .json(&json!({"code": code}))
        .send()
        .await
        .expect("verify on node B");
    assert_eq!(verify.status(), 200, "verify on node B");
    let session: Value = verify.json().await.expect("verify body is JSON");
    let access = session["access_token"]
        .as_str()
        .expect("access_token")
        .to_string();
    let read = b
        .client
        .get(b.url(&format!("/api/v1/access/{link_token}/message")))
        .bearer_auth(&access)
        .send()
        .await
        .expect("GET message on node B");
    assert_eq!(read.status(), 200, "GET message on node B");
    let read: Value = read.json().await.expect("message is JSON");
    assert_eq!(read["subject"], "Uitslag 0", "{read}");
    assert_eq!(read["body"], "Inhoud", "{read}");
    let status = a.message_status(&token, first_id).await;
    assert_eq!(status["recipients"][0]["id"], first_rid.as_str());

    // Exactly one notification per message. Anything a double claim could still send has had
    // the whole access round trip above to arrive; watch the sink one more second on top.
    let settle = Instant::now() + Duration::from_secs(1);
    let mails = loop {
        let mails: Vec<Mail> = sink.mails().into_iter().filter(is_notification).collect();
        assert!(
            mails.len() <= N,
            "{} notifications for {N} messages",
            mails.len()
        );
        if Instant::now() > settle {
            break mails;
        }
        tokio::time::sleep(POLL).await;
    };
    assert_eq!(mails.len(), N, "one notification per message");
    let distinct: BTreeSet<String> = mails.iter().map(mid).collect();
    assert_eq!(distinct.len(), N, "{N} distinct Message-IDs: {distinct:?}");
    let mut per_address: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for m in &mails {
        per_address
            .entry(m.to.clone().unwrap_or_default())
            .or_default()
            .push(mid(m));
    }
    for (_, _, rid, email) in &sent {
        let got = per_address.get(email).cloned().unwrap_or_default();
        assert_eq!(got, vec![notify_mid(rid)], "{email}: notifications {got:?}");
    }
    assert_eq!(per_address.len(), N, "{:?}", per_address.keys());

    // The link names the node whose worker sent the mail: both nodes took jobs.
    let by_a = mails
        .iter()
        .filter(|m| {
            m.links()
                .iter()
                .any(|l| l.starts_with(&format!("{}/m/", a.base)))
        })
        .count();
    let by_b = mails
        .iter()
        .filter(|m| {
            m.links()
                .iter()
                .any(|l| l.starts_with(&format!("{}/m/", b.base)))
        })
        .count();
    eprintln!("two nodes: node A sent {by_a}, node B sent {by_b} of {N} notifications");
    assert_eq!(by_a + by_b, N, "every link points at one of the nodes");
    assert!(
        by_a > 0 && by_b > 0,
        "both nodes should take jobs from the shared queue (A {by_a}, B {by_b})"
    );
    drop((a, b));
    drop(db);
}

/// What one request of the burst ended as.
enum Sent {
    /// 201 with the message and recipient ids.
    Acked {
        id: String,
        rid: String,
        email: String,
    },
    /// An HTTP answer other than 201 (from a live process).
    Status(u16, String),
    /// No complete answer: the connection failed (the kill).
    Lost(String),
}

async fn post_message(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    email: &str,
    i: usize,
) -> Sent {
    let r = client
        .post(format!("{base}/api/v1/messages"))
        .bearer_auth(token)
        .json(&message(&format!("Burst {i}"), "Inhoud", email))
        .send()
        .await;
    let r = match r {
        Ok(r) => r,
        Err(e) => return Sent::Lost(e.to_string()),
    };
    let status = r.status().as_u16();
    let body = match r.text().await {
        Ok(b) => b,
        Err(e) => return Sent::Lost(format!("{status}, body lost: {e}")),
    };
    if status != 201 {
        return Sent::Status(status, body);
    }
    let created: Value = match serde_json::from_str(&body) {
        Ok(v) => v,
        Err(e) => return Sent::Lost(format!("201 with a bad body: {e}")),
    };
    let (id, rid) = ids_of(&created);
    Sent::Acked {
        id,
        rid,
        email: email.to_string(),
    }
}

/// Fires 200 sends (8 in flight), SIGKILLs the server after 100 acknowledgements, restarts it
/// on the same data: every acknowledged message is notified; repeats keep their Message-ID.
async fn kill_9_during_a_burst(mut env: Env, label: &str) {
    const TOTAL: usize = 200;
    const KILL_AFTER: usize = 100;
    let port = free_port();
    use_smtp(&mut env, port);
    // Each mail takes 0.2 s in the relay: deliveries are surely in flight at the kill.
    let sink = SmtpSink::start_mode(port, &env.scratch("smtp"), "slow:0.2").await;
    let token = env.token("arts@example.nl").await;
    let first = env.start(&["serve"]).await;

    let acked = Arc::new(Mutex::new(0usize));
    let burst = {
        let client = first.client.clone();
        let base = first.base.clone();
        let token = token.clone();
        let acked = acked.clone();
        tokio::spawn(async move {
            futures::stream::iter(0..TOTAL)
                .map(|i| {
                    let (client, base, token, acked) =
                        (client.clone(), base.clone(), token.clone(), acked.clone());
                    async move {
                        let email = format!("burst{i:03}@example.nl");
                        let sent = post_message(&client, &base, &token, &email, i).await;
                        if matches!(sent, Sent::Acked { .. }) {
                            *acked.lock().expect("acked lock") += 1;
                        }
                        sent
                    }
                })
                .buffer_unordered(8)
                .collect::<Vec<Sent>>()
                .await
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let at_kill = loop {
        let n = *acked.lock().expect("acked lock");
        if n >= KILL_AFTER {
            break n;
        }
        if burst.is_finished() || Instant::now() > deadline {
            first.fail(&format!(
                "only {n} of {TOTAL} sends acknowledged, expected {KILL_AFTER} before the kill"
            ));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let killed_stderr = first.stderr();
    first.kill9().await;
    let mailed_before_kill = common_bin::files_in(&sink.dir).len();
    let results = tokio::time::timeout(Duration::from_secs(60), burst)
        .await
        .expect("the burst ends once the process is gone")
        .expect("the burst task");

    let mut sent: Vec<(String, String, String)> = Vec::new();
    let mut lost = Vec::new();
    let mut refused = Vec::new();
    for r in results {
        match r {
            Sent::Acked { id, rid, email } => sent.push((id, rid, email)),
            Sent::Lost(why) => lost.push(why),
            Sent::Status(s, body) => refused.push(format!("{s} {body}")),
        }
    }
    assert!(
        refused.is_empty(),
        "{label}: a live server answered sends with an error:\n{}\n--- stderr ---\n{killed_stderr}",
        refused.join("\n")
    );
    eprintln!(
        "{label}: killed after {at_kill} acknowledgements ({mailed_before_kill} notifications \
         in the sink at that moment); {} acknowledged in all, {} lost (first: {:?})",
        sent.len(),
        lost.len(),
        lost.first()
    );

    let second = env.start(&["serve"]).await;
    let restarted = Instant::now();
    let ids: Vec<String> = sent.iter().map(|(id, _, _)| id.clone()).collect();
    second
        .wait_all_notified(&token, &ids, Duration::from_secs(90))
        .await;
    eprintln!(
        "{label}: all {} acknowledged messages notified {:?} after the restart",
        ids.len(),
        restarted.elapsed()
    );

    // Every acknowledged message got its notification; repeats carry the same Message-ID.
    let mails: Vec<Mail> = sink.mails().into_iter().filter(is_notification).collect();
    let mut per_address: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for m in &mails {
        per_address
            .entry(m.to.clone().unwrap_or_default())
            .or_default()
            .push(mid(m));
    }
    let mut duplicates = 0;
    for (id, rid, email) in &sent {
        let got = per_address.get(email).cloned().unwrap_or_default();
        assert!(
            !got.is_empty(),
            "{label}: acknowledged message {id} ({email}) got no notification"
        );
        let want = notify_mid(rid);
        assert!(
            got.iter().all(|m| *m == want),
            "{label}: {email}: Message-IDs {got:?}, every copy should be {want}"
        );
        duplicates += got.len() - 1;
    }
    eprintln!(
        "{label}: duplicates: {duplicates} ({} notification mails for {} acknowledged messages)",
        mails.len(),
        sent.len()
    );

    // No half state: every message the API lists has its recipient (commits are atomic).
    let list = second.get_auth("/api/v1/messages?limit=200", &token).await;
    assert_eq!(list.status(), 200);
    let list: Value = list.json().await.expect("list is JSON");
    let listed = list["messages"].as_array().expect("messages");
    for m in listed {
        let n = m["recipients"].as_array().map_or(0, Vec::len);
        assert!(n >= 1, "{label}: a listed message without recipients: {m}");
    }
    let listed_ids: BTreeSet<&str> = listed.iter().filter_map(|m| m["id"].as_str()).collect();
    for id in &ids {
        assert!(
            listed_ids.contains(id.as_str()),
            "{label}: acknowledged message {id} is not listed"
        );
    }
    assert!(listed.len() <= TOTAL);
    eprintln!(
        "{label}: {} messages listed ({} committed without an acknowledgement)",
        listed.len(),
        listed.len() - ids.len()
    );
}

#[tokio::test]
async fn kill_9_during_a_burst_of_200_sends_loses_no_acknowledged_message() {
    kill_9_during_a_burst(Env::new(), "sqlite").await;
}

#[tokio::test]
async fn kill_9_during_a_burst_of_200_sends_loses_no_acknowledged_message_on_postgres() {
    let Some(db) = zegel_testkit::PgDb::create().await else {
        return; // ZEGEL_TEST_SKIP_POSTGRES=1: PgDb said so on stderr.
    };
    let mut env = Env::new();
    env.set("ZEGEL_DATABASE_URL", db.url());
    kill_9_during_a_burst(env, "postgres").await;
    drop(db);
}

//! The NEN 7513 audit trail on the real binary, on SQLite and on PostgreSQL: every event of a
//! send, a patient's visit and an account becomes a chained entry with the NEN 7513 fields;
//! `zegel audit verify` passes while the server serves, and fails naming the entry when an
//! entry is changed, removed, inserted or reordered, when the end of a chain is cut off, or
//! when an event row is changed or inserted around Zegel; `zegel audit export` filters by
//! period and recipient, writes JSON lines or CSV, holds no content and is audited itself.

#[allow(dead_code)]
mod common_bin;

use common_bin::{download_first, link_of, open_message, send_with_file, Env, Server};
use serde_json::{json, Value};
use zegel_testkit::{execute_sql, select_texts};

const SENDER: &str = "arts@ziekenhuis.example";
const SUBJECT: &str = "Uitslag MRI knie";
const BODY: &str = "Geen afwijkingen gevonden.";

async fn send(server: &Server, token: &str, email: &str) -> String {
    send_with_file(
        server,
        token,
        (SUBJECT, BODY),
        email,
        ("verslag-knie.pdf", b"verslag"),
    )
    .await
}

/// The patient: one wrong code, then the right one; reads the message and downloads the file.
async fn visit(server: &Server, link: &str) {
    let res = server
        .client
        .post(server.url(&format!("/api/v1/access/{link}/verify")))
        .json(&json!({ "code": "000000" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let (m, at) = open_message(server, link)
        .await
        .expect("the right code opens");
    download_first(server, link, &m, &at).await;
}

/// `zegel audit verify`: (exit code, stdout, stderr).
async fn verify(env: &Env) -> (i32, String, String) {
    let out = env.run(&["audit", "verify"]).await;
    (out.status.code().unwrap_or(-1), out.stdout, out.stderr)
}

async fn assert_whole(env: &Env, when: &str) {
    let (code, out, err) = verify(env).await;
    assert_eq!(code, 0, "{when}: verify failed: {out} {err}");
    assert!(out.contains("audit trail whole"), "{when}: {out}");
}

async fn assert_broken(env: &Env, what: &str, expect: &[&str]) {
    let (code, out, err) = verify(env).await;
    assert_eq!(code, 1, "{what}: verify did not fail: {out} {err}");
    for e in expect {
        assert!(err.contains(e), "{what}: {err:?} does not say {e:?}");
    }
}

async fn export(env: &Env, args: &[&str]) -> String {
    let mut all = vec!["audit", "export"];
    all.extend_from_slice(args);
    env.run_ok(&all).await
}

fn lines(jsonl: &str) -> Vec<Value> {
    jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

async fn the_trail_is_provable(env: Env, url: String) {
    let token = env.token(SENDER).await;
    let server = env.start(&["serve"]).await;
    send(&server, &token, "a@example.nl").await;
    let link = link_of(&env.data(), "a@example.nl", 1).await;
    send(&server, &token, "b@example.nl").await;
    link_of(&env.data(), "b@example.nl", 2).await;
    visit(&server, &link).await;
    // A refused send (no recipients: 422) is an entry too.
    let res = reqwest::Client::new()
        .post(server.url("/api/v1/messages"))
        .bearer_auth(&token)
        .json(&json!({"subject": SUBJECT, "body": BODY, "recipients": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);

    // While the server serves.
    assert_whole(&env, "while serving").await;

    // The entries: NEN 7513 fields, no content.
    let all = export(&env, &[]).await;
    for secret in [SUBJECT, BODY, "verslag-knie", "493817"] {
        assert!(!all.contains(secret), "the export holds {secret:?}");
    }
    let entries = lines(&all);
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "account.user_created",
        "account.token_created",
        "message.sent",
        "message.notified",
        "message.code_wrong",
        "message.opened",
        "message.downloaded",
        "account.send_failed",
    ] {
        assert!(actions.contains(&a), "no {a} in {actions:?}");
    }
    let wrong = entries
        .iter()
        .find(|e| e["action"] == "message.code_wrong")
        .unwrap();
    assert_eq!(wrong["outcome"], "failure");
    let refused = entries
        .iter()
        .find(|e| e["action"] == "account.send_failed")
        .unwrap();
    assert_eq!(refused["outcome"], "failure");
    assert_eq!(refused["detail"], "HTTP 422");
    assert!(refused["user_name"].as_str().unwrap().contains(SENDER));
    assert_eq!(wrong["user_role"], "recipient");
    assert_eq!(wrong["recipient"], "a@example.nl");
    assert!(wrong["network_address"]
        .as_str()
        .unwrap()
        .contains("127.0.0.1"));
    let sent = entries
        .iter()
        .find(|e| e["action"] == "message.sent")
        .unwrap();
    assert_eq!(sent["outcome"], "success");
    assert!(
        sent["user_name"].as_str().unwrap().contains(SENDER),
        "{sent}"
    );
    assert!(sent["on_behalf_of"].as_str().is_some(), "{sent}");
    assert!(sent["object"].as_str().is_some(), "{sent}");
    assert!(!sent["source_node"].as_str().unwrap().is_empty());
    assert_eq!(sent["prev_hash"].as_str().unwrap().len(), 64);
    // Two chains: the organisation's, and the installation's ("") with what no organisation's
    // user did (the signing keys made for the checkpoints). Each numbered from 1.
    let chains: std::collections::BTreeSet<&str> = entries
        .iter()
        .map(|e| e["chain"].as_str().unwrap())
        .collect();
    assert_eq!(chains.len(), 2, "{chains:?}");
    assert!(chains.contains(""), "{chains:?}");
    for chain in chains {
        let mut seqs: Vec<i64> = entries
            .iter()
            .filter(|e| e["chain"] == chain)
            .map(|e| e["seq"].as_i64().unwrap())
            .collect();
        seqs.sort();
        assert_eq!(
            seqs,
            (1..=seqs.len() as i64).collect::<Vec<_>>(),
            "{chain:?}"
        );
    }
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "account.signing_key_created" && e["chain"] == ""),
        "{all}"
    );

    // By recipient: only what concerns them.
    let only_a = lines(&export(&env, &["--recipient", "A@example.nl"]).await);
    assert!(only_a.len() >= 5, "{only_a:?}");
    assert!(only_a.iter().all(|e| e["recipient"] == "a@example.nl"));
    // By period: nothing tomorrow, nothing before yesterday, everything today.
    let tomorrow = (time::OffsetDateTime::now_utc() + time::Duration::days(2)).date();
    let long_ago = (time::OffsetDateTime::now_utc() - time::Duration::days(2)).date();
    let none = export(&env, &["--from", &tomorrow.to_string()]).await;
    assert_eq!(none, "");
    let none = export(&env, &["--to", &long_ago.to_string()]).await;
    assert_eq!(none, "");
    let around = export(
        &env,
        &[
            "--from",
            &long_ago.to_string(),
            "--to",
            &tomorrow.to_string(),
        ],
    )
    .await;
    assert!(lines(&around).len() >= entries.len());
    // CSV: a header and one line per entry (none of these fields holds a line break).
    let csv = export(&env, &["--format", "csv"]).await;
    let mut csv_lines = csv.lines();
    assert!(csv_lines
        .next()
        .unwrap()
        .starts_with("chain,seq,event_id,time,action,outcome,user_id,user_name,user_role"));
    assert!(csv_lines.count() >= entries.len());
    // Exports are audited themselves.
    let again = lines(&export(&env, &[]).await);
    assert!(again
        .iter()
        .any(|e| e["action"] == "account.audit_exported"));
    drop(server);
    assert_whole(&env, "after the exports").await;

    // The signing keys the checkpoints need are made (an audit entry each, in the
    // installation's chain) before the copy below, so nothing is added to the log after it.
    env.run_ok(&["audit", "checkpoint"]).await;
    assert_whole(&env, "after the first checkpoints").await;

    // Tampering, each undone before the next. The chain is the organisation's.
    let n: i64 = select_texts(&url, "SELECT CAST(MAX(seq) AS TEXT) FROM audit_log").await[0]
        .as_deref()
        .unwrap()
        .parse()
        .unwrap();
    assert!(n >= 10, "{n} entries");
    execute_sql(&url, "CREATE TABLE audit_copy AS SELECT * FROM audit_log").await;
    let restore = "DELETE FROM audit_log; INSERT INTO audit_log SELECT * FROM audit_copy";
    let cases: Vec<(&str, String, Vec<String>)> = vec![
        (
            "an entry changed",
            "UPDATE audit_log SET address = '10.6.6.6' WHERE seq = 3".into(),
            vec!["entry 3 of".into(), "was changed".into()],
        ),
        (
            "an entry removed",
            "DELETE FROM audit_log WHERE seq = 3".into(),
            vec!["entry 3 of".into(), "missing".into()],
        ),
        (
            "an entry inserted",
            "UPDATE audit_log SET seq = seq + 100000 WHERE seq >= 3; \
             UPDATE audit_log SET seq = seq - 99999 WHERE seq >= 100003; \
             INSERT INTO audit_log SELECT chain, 3, source, source_id + 100000, at, action, \
             outcome, user_id, user_name, user_role, on_behalf_of, recipient, object, node, \
             address, detail, prev_hash, hash FROM audit_copy WHERE seq = 2"
                .into(),
            vec!["entry 3 of".into(), "does not follow entry 2".into()],
        ),
        (
            "two entries reordered",
            "UPDATE audit_log SET seq = -3 WHERE seq = 3; \
             UPDATE audit_log SET seq = 3 WHERE seq = 4; \
             UPDATE audit_log SET seq = 4 WHERE seq = -3"
                .into(),
            vec!["entry 3 of".into(), "does not follow entry 2".into()],
        ),
        (
            "the last entry removed",
            format!("DELETE FROM audit_log WHERE seq = {n}"),
            vec![format!("ends at entry {}", n - 1)],
        ),
    ];
    for (what, sql, expect) in &cases {
        execute_sql(&url, sql).await;
        let expect: Vec<&str> = expect.iter().map(String::as_str).collect();
        assert_broken(&env, what, &expect).await;
        execute_sql(&url, restore).await;
        assert_whole(&env, &format!("after undoing {what}")).await;
    }

    // Someone who recomputes the hashes after a change (and the head) keeps the chain whole,
    // but not the signed checkpoints: the organisation's key is under the master key.
    let out = env.run_ok(&["audit", "checkpoint"]).await;
    assert!(out.contains("checkpoints signed"), "{out}");
    let (code, out, err) = verify(&env).await;
    assert_eq!(code, 0, "{out} {err}");
    assert!(!out.contains(" 0 signed checkpoints"), "{out}");
    rewrite_history(&url, 3).await;
    assert_broken(
        &env,
        "history rewritten with new hashes",
        &["signed checkpoint", "rewritten"],
    )
    .await;
    execute_sql(&url, restore).await;
    execute_sql(&url, &restore_head(&url).await).await;
    assert_whole(&env, "after undoing the rewrite").await;

    // The events behind the entries: changed, or inserted around Zegel.
    let first = select_texts(&url, "SELECT CAST(MIN(id) AS TEXT) FROM events").await[0]
        .clone()
        .unwrap();
    execute_sql(
        &url,
        &format!("UPDATE events SET kind = 'downloaded' WHERE id = {first}"),
    )
    .await;
    assert_broken(
        &env,
        "an event changed",
        &[&format!("event {first} differs"), "changed"],
    )
    .await;
    execute_sql(
        &url,
        &format!("UPDATE events SET kind = 'sent' WHERE id = {first}"),
    )
    .await;
    assert_whole(&env, "after undoing the event change").await;
    execute_sql(
        &url,
        "INSERT INTO events (message_id, recipient_id, kind, at, actor) \
         SELECT message_id, recipient_id, 'downloaded', at, actor FROM events \
         WHERE kind = 'opened'",
    )
    .await;
    assert_broken(&env, "an event inserted", &["has no audit entry"]).await;
}

/// A bytes literal for `url`'s database.
fn blob(url: &str, bytes: &[u8]) -> String {
    let hex = zegel_core::audit::hex(bytes);
    if url.starts_with("sqlite:") {
        format!("X'{hex}'")
    } else {
        format!("'\\x{hex}'::bytea")
    }
}

async fn open_store(url: &str) -> zegel_core::DynStore {
    if let Some(path) = url.strip_prefix("sqlite://") {
        std::sync::Arc::new(
            zegel_store_sqlite::SqliteStore::connect(path)
                .await
                .unwrap(),
        )
    } else {
        std::sync::Arc::new(zegel_store_postgres::PgStore::connect(url).await.unwrap())
    }
}

/// Changes entry `seq` of the busiest chain and recomputes every hash after it and the head,
/// as an attacker with write access to the database (but not the master key) can.
async fn rewrite_history(url: &str, seq: i64) {
    let store = open_store(url).await;
    let head = store
        .audit_heads()
        .await
        .unwrap()
        .into_iter()
        .max_by_key(|h| h.seq)
        .unwrap();
    let mut entries = store.audit_entries(&head.chain, 0, 100_000).await.unwrap();
    let mut sql = String::new();
    let mut prev = zegel_core::audit::GENESIS;
    for e in entries.iter_mut() {
        if e.seq == seq {
            e.address = Some("10.6.6.6".into());
        }
        if e.seq >= seq {
            e.prev_hash = prev;
            e.hash = zegel_core::audit::entry_hash(e);
            sql.push_str(&format!(
                "UPDATE audit_log SET address = {}, prev_hash = {}, hash = {} \
                 WHERE chain = '{}' AND seq = {};",
                e.address
                    .as_ref()
                    .map_or("NULL".to_owned(), |a| format!("'{a}'")),
                blob(url, &e.prev_hash),
                blob(url, &e.hash),
                e.chain,
                e.seq
            ));
        }
        prev = e.hash;
    }
    sql.push_str(&format!(
        "UPDATE audit_heads SET hash = {} WHERE chain = '{}';",
        blob(url, &prev),
        head.chain
    ));
    execute_sql(url, &sql).await;
}

/// Statements that put the heads back to the last entries of `audit_copy`.
async fn restore_head(url: &str) -> String {
    let store = open_store(url).await;
    let mut sql = String::new();
    for h in store.audit_heads().await.unwrap() {
        let last = store
            .audit_entries(&h.chain, h.seq - 1, 1)
            .await
            .unwrap()
            .pop()
            .unwrap();
        sql.push_str(&format!(
            "UPDATE audit_heads SET hash = {} WHERE chain = '{}';",
            blob(url, &last.hash),
            h.chain
        ));
    }
    sql
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_trail_is_provable_on_sqlite() {
    let env = Env::new();
    let url = format!("sqlite://{}", env.data().join("zegel.db").display());
    the_trail_is_provable(env, url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_trail_is_provable_on_postgres() {
    let Some(db) = zegel_testkit::PgDb::create().await else {
        return; // ZEGEL_TEST_SKIP_POSTGRES=1: PgDb said so on stderr.
    };
    let mut env = Env::new();
    env.set("ZEGEL_DATABASE_URL", db.url());
    the_trail_is_provable(env, db.url().to_string()).await;
    drop(db);
}

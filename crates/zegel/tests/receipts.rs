//! Signed receipts end to end on the real binary, on SQLite and on PostgreSQL: a sender sends
//! a message with an attachment, the recipient opens it and downloads the attachment, the
//! sender downloads the receipt (`GET /api/v1/messages/{id}/receipt`), and `zegel receipt
//! verify` accepts it with the JWK Set from `zegel admin keys public` (and with the keys in the
//! database); a receipt with one byte of its payload changed, another organisation's receipt
//! and a receipt whose header names another organisation's key are refused (exit 1); another
//! sender's message is 404; the public keys are also served at
//! `/.well-known/zegel/keys/{slug}.json`.

#[allow(dead_code)]
mod common_bin;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use common_bin::{download_first, link_of, open_message, send_with_file, Env, Server};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

const SENDER: &str = "arts@ziekenhuis.example";
const OTHER_SENDER: &str = "huisarts@kliniek-oost.example";
const RECIPIENT: &str = "patient@example.nl";
const SUBJECT: &str = "Uitslag bloedonderzoek";
const BODY: &str = "Beste mevrouw Jansen, de waarden zijn goed.";
const FILE_NAME: &str = "uitslag-jansen.pdf";

/// Sends a message with one attachment to `email` (verification by the sender's own code).
async fn send(server: &Server, token: &str, email: &str, file: &[u8]) -> String {
    send_with_file(server, token, (SUBJECT, BODY), email, (FILE_NAME, file)).await
}

/// Opens the message as its recipient and downloads its attachment.
async fn open_and_download(server: &Server, link: &str) -> Vec<u8> {
    let (m, at) = open_message(server, link).await.expect("the code opens");
    download_first(server, link, &m, &at).await
}

/// `GET /api/v1/messages/{id}/receipt` with `token`: (status, content type, disposition, body).
async fn receipt(server: &Server, token: &str, id: &str) -> (u16, String, String, String) {
    let res = server
        .get_auth(&format!("/api/v1/messages/{id}/receipt"), token)
        .await;
    let header = |h: &str| {
        res.headers()
            .get(h)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let (ct, cd) = (header("content-type"), header("content-disposition"));
    (
        res.status().as_u16(),
        ct,
        cd,
        res.text().await.unwrap_or_default(),
    )
}

/// The payload of a compact JWS, decoded (not verified).
fn payload(jws: &str) -> Value {
    let p = jws.trim().split('.').nth(1).expect("a payload part");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).expect("base64url")).expect("JSON")
}

/// `jws` with its header's `kid` replaced (the signature left as it is).
fn with_kid(jws: &str, kid: &str) -> String {
    let parts: Vec<&str> = jws.trim().split('.').collect();
    let header = json!({"alg": "EdDSA", "typ": "JOSE", "kid": kid});
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        parts[1],
        parts[2]
    )
}

/// `jws` with one byte of its payload changed (re-encoded, so the token stays well-formed).
fn with_payload_byte_changed(jws: &str, needle: &str) -> String {
    let parts: Vec<&str> = jws.trim().split('.').collect();
    let mut bytes = URL_SAFE_NO_PAD.decode(parts[1]).unwrap();
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .expect("the needle is in the payload")
        + needle.len()
        - 1;
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(&bytes),
        parts[2]
    )
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Runs `zegel receipt verify ARGS`; (exit code, stdout, stderr).
async fn verify(env: &Env, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["receipt", "verify"];
    all.extend_from_slice(args);
    let out = env.run(&all).await;
    (out.status.code().unwrap_or(-1), out.stdout, out.stderr)
}

/// Every stored blob under the data directory's blob store.
fn blob_files(dir: &Path) -> Vec<PathBuf> {
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

async fn signed_receipts_verify_offline(env: Env, db_url: &str) {
    let scratch = env.scratch("receipts");
    let token = env.token(SENDER).await;
    env.run_ok(&[
        "admin",
        "org",
        "create",
        "--slug",
        "oost",
        "--name",
        "Kliniek Oost",
    ])
    .await;
    env.run_ok(&[
        "admin",
        "user",
        "create",
        "--email",
        OTHER_SENDER,
        "--org",
        "oost",
    ])
    .await;
    let other_token = env.token(OTHER_SENDER).await;
    let server = env.start(&["serve"]).await;

    let file: Vec<u8> = (0..150_000u32).map(|i| (i * 13 % 251) as u8).collect();
    let id = send(&server, &token, RECIPIENT, &file).await;
    let link = link_of(&env.data(), RECIPIENT, 1).await;
    assert_eq!(open_and_download(&server, &link).await, file);

    // The sender's receipt: a compact JWS, as a download.
    let (status, ct, cd, jws) = receipt(&server, &token, &id).await;
    assert_eq!(status, 200, "{jws}");
    assert_eq!(ct, "application/jose");
    assert!(cd.starts_with("attachment;"), "{cd}");
    assert!(cd.contains(&format!("zegel-bewijs-{id}.jws")), "{cd}");
    assert_eq!(jws.split('.').count(), 3);
    let p = payload(&jws);
    assert_eq!(p["type"], "zegel-receipt/1");
    assert_eq!(p["message_id"], id.as_str());
    assert_eq!(p["organisation"]["slug"], "default");
    assert_eq!(p["sender"]["email"], SENDER);
    let r = &p["recipients"][0];
    assert_eq!(r["address"], RECIPIENT);
    for what in ["notified", "opened", "downloaded"] {
        assert_eq!(r[what].as_array().map(Vec::len), Some(1), "{what}: {p:#}");
    }
    assert_eq!(p["content"]["hash_alg"], "sha-256");
    assert_eq!(p["content"]["hash_of"], "ciphertext");
    assert!(p["content"]["body"].as_str().is_some_and(|h| h.len() == 64));
    assert_eq!(p["content"]["attachments"][0]["size"], file.len());
    // Never content or file names; the attachment hash is that of the stored ciphertext.
    let text = p.to_string();
    for secret in [SUBJECT, BODY, FILE_NAME] {
        assert!(!text.contains(secret), "the receipt holds {secret:?}");
    }
    let att_hash = p["content"]["attachments"][0]["sha256"].as_str().unwrap();
    let blobs = blob_files(&env.data().join("blobs"));
    assert!(
        blobs
            .iter()
            .any(|b| format!("{:x}", Sha256::digest(std::fs::read(b).unwrap())) == att_hash),
        "no stored blob has the receipt's attachment hash"
    );

    // Another sender (of another organisation) gets 404 for this message.
    let (status, _, _, body) = receipt(&server, &other_token, &id).await;
    assert_eq!(status, 404, "{body}");
    let (status, ..) = receipt(&server, &token, "00000000-0000-7000-8000-000000000000").await;
    assert_eq!(status, 404);
    // Without a token: 401.
    let res = server
        .client
        .get(server.url(&format!("/api/v1/messages/{id}/receipt")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // The download is recorded as an event of the message (of no recipient), naming the key.
    let issued = zegel_testkit::select_texts(
        db_url,
        &format!("SELECT detail FROM events WHERE message_id = '{id}' AND kind = 'receipt_issued'"),
    )
    .await;
    assert_eq!(issued, vec![Some(payload_kid(&jws))]);

    // The organisation's public keys: the CLI and the well-known URL give the same JWK Set.
    let jwks_text = env
        .run_ok(&["admin", "keys", "public", "--org", "default"])
        .await;
    let jwks: Value = serde_json::from_str(&jwks_text).expect("a JWK Set");
    let key = &jwks["keys"][0];
    assert_eq!(
        (&key["kty"], &key["crv"], &key["alg"]),
        (&json!("OKP"), &json!("Ed25519"), &json!("EdDSA"))
    );
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    let res = server
        .client
        .get(server.url("/.well-known/zegel/keys/default.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "application/jwk-set+json"
    );
    let served: Value = res.json().await.unwrap();
    assert_eq!(served, jwks);
    let res = server
        .client
        .get(server.url("/.well-known/zegel/keys/nobody.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let jwks_file = write(&scratch, "default.jwks.json", &jwks_text);
    let jwks_arg = jwks_file.to_string_lossy().into_owned();

    // Verified offline with the published keys: exit 0 and the summary.
    let receipt_file = write(&scratch, "bewijs.jws", &jws);
    let receipt_arg = receipt_file.to_string_lossy().into_owned();
    let (code, out, err) = verify(&env, &[&receipt_arg, "--key", &jwks_arg]).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("signature valid"), "{out}");
    assert!(out.contains(&id), "{out}");
    assert!(out.contains(RECIPIENT), "{out}");
    let (code, out, err) = verify(&env, &[&receipt_arg, "--key", &jwks_arg, "--json"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), p);
    // And with the keys in the installation's own database.
    let (code, out, err) = verify(&env, &[&receipt_arg]).await;
    assert_eq!(code, 0, "{out}\n{err}");

    // One byte of the payload changed: refused.
    let forged = write(
        &scratch,
        "changed.jws",
        &with_payload_byte_changed(&jws, &format!("\"message_id\":\"{}", &id[..id.len() - 1])),
    );
    let forged_arg = forged.to_string_lossy().into_owned();
    let (code, out, err) = verify(&env, &[&forged_arg, "--key", &jwks_arg]).await;
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("bad signature"), "{err}");
    let (code, _, err) = verify(&env, &[&forged_arg]).await;
    assert_eq!(code, 1);
    assert!(err.contains("bad signature"), "{err}");
    // Not a receipt at all.
    let junk = write(&scratch, "junk.jws", "not a receipt");
    let (code, _, err) = verify(&env, &[&junk.to_string_lossy(), "--key", &jwks_arg]).await;
    assert_eq!(code, 1);
    assert!(err.contains("malformed"), "{err}");

    // A receipt signed by another organisation's key.
    let other_id = send(&server, &other_token, "tweede@example.nl", b"oost").await;
    let (status, _, _, other_jws) = receipt(&server, &other_token, &other_id).await;
    assert_eq!(status, 200);
    let other_kid = payload_kid(&other_jws);
    assert_ne!(other_kid, key["kid"].as_str().unwrap());
    let other_file = write(&scratch, "oost.jws", &other_jws);
    let other_arg = other_file.to_string_lossy().into_owned();
    // ... is unknown to this organisation's keys,
    let (code, _, err) = verify(&env, &[&other_arg, "--key", &jwks_arg]).await;
    assert_eq!(code, 1);
    assert!(err.contains("unknown key id"), "{err}");
    // ... and does not verify under this organisation's key id either,
    let swapped = write(
        &scratch,
        "swapped.jws",
        &with_kid(&other_jws, key["kid"].as_str().unwrap()),
    );
    let (code, _, err) = verify(&env, &[&swapped.to_string_lossy(), "--key", &jwks_arg]).await;
    assert_eq!(code, 1);
    assert!(err.contains("bad signature"), "{err}");
    // ... while it verifies with its own organisation's keys (and the database's).
    let oost = env
        .run_ok(&["admin", "keys", "public", "--org", "oost"])
        .await;
    let oost_file = write(&scratch, "oost.jwks.json", &oost);
    let (code, _, err) = verify(&env, &[&other_arg, "--key", &oost_file.to_string_lossy()]).await;
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = verify(&env, &[&other_arg]).await;
    assert_eq!(code, 0, "{err}");
    // A JWK Set of one organisation does not vouch for a receipt naming another, even with
    // the right key in it.
    let mut mixed: Value = serde_json::from_str(&oost).unwrap();
    mixed["organisation"] = jwks["organisation"].clone();
    let mixed_file = write(&scratch, "mixed.jwks.json", &mixed.to_string());
    let (code, _, err) = verify(&env, &[&other_arg, "--key", &mixed_file.to_string_lossy()]).await;
    assert_eq!(code, 1);
    assert!(err.contains("organisation"), "{err}");

    server.assert_logs_never_contain(&[SUBJECT, BODY, FILE_NAME, &link]);
}

fn payload_kid(jws: &str) -> String {
    let h = jws.split('.').next().unwrap();
    let h: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).unwrap()).unwrap();
    h["kid"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_receipts_verify_offline_on_sqlite() {
    let env = Env::new();
    let url = format!("sqlite://{}", env.data().join("zegel.db").display());
    signed_receipts_verify_offline(env, &url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_receipts_verify_offline_on_postgres() {
    let Some(db) = zegel_testkit::PgDb::create().await else {
        return; // ZEGEL_TEST_SKIP_POSTGRES=1: PgDb said so on stderr.
    };
    let mut env = Env::new();
    env.set("ZEGEL_DATABASE_URL", db.url());
    signed_receipts_verify_offline(env, db.url()).await;
    drop(db);
}

#[tokio::test]
async fn verify_without_keys_or_installation_explains_what_to_give() {
    let env = Env::new();
    let scratch = env.scratch("r");
    let f = write(
        &scratch,
        "bewijs.jws",
        "eyJhbGciOiJFZERTQSIsImtpZCI6InNpZ194In0.e30.AAAA",
    );
    let (code, _, err) = verify(&env, &[&f.to_string_lossy()]).await;
    assert_eq!(code, 1);
    assert!(err.contains("--key"), "{err}");
    let (code, _, err) = verify(&env, &["/nonexistent/bewijs.jws"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("cannot read"), "{err}");
    let (code, _, err) = verify(&env, &[&f.to_string_lossy(), "--key", &f.to_string_lossy()]).await;
    assert_eq!(code, 1);
    assert!(err.contains("not a JWK Set"), "{err}");
}

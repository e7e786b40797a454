//! `zegel backup` and `zegel restore` on the real binary (SQLite and local blobs): a backup
//! taken while the server serves; messages sent before it open after a restore into a new
//! data directory (text and attachment, through the recipient's access API), messages sent
//! after it do not exist; the master key is never in a backup and a restore without it, or
//! with another key, leaves nothing behind; a damaged backup is refused whole; PostgreSQL is
//! refused with the advice.

#[allow(dead_code)]
mod common_bin;

use common_bin::{download_first, link_of, open_message, send_with_file, Env, Server};
use serde_json::Value;
use std::path::{Path, PathBuf};

const SENDER: &str = "arts@ziekenhuis.example";

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
    out.sort();
    out
}

/// Sends a message with one attachment to `email` (verification by the sender's own code).
async fn send(server: &Server, token: &str, subject: &str, email: &str, file: &[u8]) -> String {
    let body = format!("Tekst van {subject}");
    send_with_file(
        server,
        token,
        (subject, &body),
        email,
        ("uitslag.pdf", file),
    )
    .await
}

/// Opens a message as its recipient: (status of verify, subject, attachment bytes).
async fn open(server: &Server, link: &str) -> (u16, Option<(String, Vec<u8>)>) {
    match open_message(server, link).await {
        Err(status) => (status, None),
        Ok((m, at)) => {
            let bytes = download_first(server, link, &m, &at).await;
            (
                200,
                Some((m["subject"].as_str().unwrap().to_string(), bytes)),
            )
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_serving_restores_into_a_new_installation() {
    let env = Env::new();
    let token = env.token(SENDER).await;
    let server = env.start(&["serve"]).await;
    let first: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let id_a = send(&server, &token, "Voor de backup", "a@example.nl", &first).await;
    let link_a = link_of(&env.data(), "a@example.nl", 1).await;

    let backup = env.dir.path().join("backup");
    let out = env
        .run_ok(&["backup", "--to", &backup.to_string_lossy()])
        .await;
    assert!(out.contains("1 blobs"), "{out}");
    // Sent after the backup: not in it.
    let id_b = send(&server, &token, "Na de backup", "b@example.nl", b"later").await;
    let link_b = link_of(&env.data(), "b@example.nl", 2).await;
    drop(server);

    // What a backup holds: the manifest, the database, the blob; never the master key and
    // never plaintext.
    let files = all_files(&backup);
    assert_eq!(files.len(), 3, "manifest, database and one blob: {files:?}");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(backup.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["format"], "zegel-backup/1");
    assert_eq!(manifest["master_key"], "not included");
    assert_eq!(manifest["blobs"].as_array().unwrap().len(), 1);
    let key = std::fs::read(env.data().join("master.key")).unwrap();
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        // The key file is base64 text: its first 32 characters.
        let probe = &key[..key.len().min(32)];
        assert!(
            !bytes.windows(probe.len()).any(|w| w == probe),
            "{} holds the master key",
            f.display()
        );
        for plain in [&b"Voor de backup"[..], &b"Tekst van"[..], &first[..4096]] {
            assert!(
                !bytes.windows(plain.len()).any(|w| w == plain),
                "{} holds plaintext",
                f.display()
            );
        }
    }

    // A new installation: without the master key, restore refuses and writes nothing.
    let fresh = Env::new();
    let out = fresh
        .run(&["restore", "--from", &backup.to_string_lossy()])
        .await;
    assert!(!out.status.success());
    assert!(out.stderr.contains("master key"), "{}", out.stderr);
    assert!(!fresh.data().join("zegel.db").exists());

    // With another master key: refused, nothing left behind.
    std::fs::create_dir_all(fresh.data()).unwrap();
    // Base64 of 32 bytes that are not the key (the key file's format).
    std::fs::write(
        fresh.data().join("master.key"),
        "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=\n",
    )
    .unwrap();
    let out = fresh
        .run(&["restore", "--from", &backup.to_string_lossy()])
        .await;
    assert!(!out.status.success(), "{}", out.stdout);
    assert!(out.stderr.contains("master key"), "{}", out.stderr);
    assert!(!fresh.data().join("zegel.db").exists());
    assert!(all_files(&fresh.data().join("blobs")).is_empty());

    // With the right key: restored; the first message opens, the later one does not exist.
    std::fs::write(fresh.data().join("master.key"), &key).unwrap();
    fresh
        .run_ok(&["restore", "--from", &backup.to_string_lossy()])
        .await;
    let restored = fresh.start(&["serve"]).await;
    let (status, content) = open(&restored, &link_a).await;
    assert_eq!(status, 200);
    let (subject, bytes) = content.unwrap();
    assert_eq!(subject, "Voor de backup");
    assert_eq!(bytes, first);
    let (status, _) = open(&restored, &link_b).await;
    assert_eq!(
        status, 404,
        "a message sent after the backup does not exist"
    );
    let c = reqwest::Client::new();
    for (id, want) in [(&id_a, 200), (&id_b, 404)] {
        let res = c
            .get(restored.url(&format!("/api/v1/messages/{id}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), want, "message {id}");
    }
    // The restored audit trail is whole, holds the backup itself and not what came after.
    let out = fresh.run_ok(&["audit", "verify"]).await;
    assert!(out.contains("audit trail whole"), "{out}");
    let trail = fresh.run_ok(&["audit", "export"]).await;
    assert!(trail.contains("account.backup_made"), "{trail}");
    assert!(trail.contains(&id_a) && !trail.contains(&id_b), "{trail}");

    // Restoring over an installation that has data: refused.
    let out = fresh
        .run(&["restore", "--from", &backup.to_string_lossy()])
        .await;
    assert!(!out.status.success());
    assert!(out.stderr.contains("exists"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_backup_is_refused_whole() {
    let env = Env::new();
    let token = env.token(SENDER).await;
    let server = env.start(&["serve"]).await;
    send(&server, &token, "Een", "a@example.nl", b"attachment bytes").await;
    drop(server);
    let backup = env.dir.path().join("backup");
    env.run_ok(&["backup", "--to", &backup.to_string_lossy()])
        .await;
    // A backup never goes into a directory that has something in it.
    let out = env
        .run(&["backup", "--to", &backup.to_string_lossy()])
        .await;
    assert!(!out.status.success());

    // One flipped byte in the blob: the restore checks everything first and writes nothing.
    let blob = all_files(&backup.join("blobs")).pop().unwrap();
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[0] ^= 1;
    std::fs::write(&blob, bytes).unwrap();
    let fresh = Env::new();
    std::fs::create_dir_all(fresh.data()).unwrap();
    std::fs::copy(
        env.data().join("master.key"),
        fresh.data().join("master.key"),
    )
    .unwrap();
    let out = fresh
        .run(&["restore", "--from", &backup.to_string_lossy()])
        .await;
    assert!(!out.status.success());
    assert!(out.stderr.contains("does not match"), "{}", out.stderr);
    assert!(!fresh.data().join("zegel.db").exists());
    assert!(all_files(&fresh.data().join("blobs")).is_empty());
}

#[tokio::test]
async fn postgres_installations_get_the_advice() {
    let mut env = Env::new();
    env.set(
        "ZEGEL_DATABASE_URL",
        "postgres://postgres@127.0.0.1:5432/postgres",
    );
    let backup = env.dir.path().join("backup");
    let out = env
        .run(&["backup", "--to", &backup.to_string_lossy()])
        .await;
    assert!(!out.status.success());
    assert!(out.stderr.contains("pg_dump"), "{}", out.stderr);
    assert!(!backup.exists());
}

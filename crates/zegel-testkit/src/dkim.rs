//! DKIM checks for tests: verify a signed message against a public key record given
//! directly (no DNS), and make throwaway Ed25519 / RSA signing keys.

use base64::Engine;
use mail_auth::common::crypto::Ed25519Key;
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::common::verify::DomainKey;
use mail_auth::DkimResult;
use mail_auth::{AuthenticatedMessage, MessageAuthenticator, Parameters, ResolverCache, Txt};
use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Default)]
struct TxtCache(Mutex<HashMap<Box<str>, Txt>>);

impl ResolverCache<Box<str>, Txt> for TxtCache {
    fn get<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.0.lock().ok()?.get(name).cloned()
    }
    fn remove<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.0.lock().ok()?.remove(name)
    }
    fn insert(&self, key: Box<str>, value: Txt, _: Instant) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(key, value);
        }
    }
}

/// Verifies the DKIM signature of `raw` with the key record `record` published (here: given)
/// at `selector._domainkey.domain`. `Ok` only for a pass.
pub async fn verify(raw: &[u8], selector: &str, domain: &str, record: &str) -> Result<(), String> {
    let auth = MessageAuthenticator::new_cloudflare().map_err(|e| e.to_string())?;
    let msg = AuthenticatedMessage::parse(raw).ok_or("not an RFC 5322 message")?;
    let key = DomainKey::parse(record.as_bytes()).map_err(|e| format!("record: {e}"))?;
    let cache = TxtCache::default();
    cache.insert(
        format!("{selector}._domainkey.{domain}.").into_boxed_str(),
        Txt::DomainKey(Arc::new(key)),
        Instant::now(),
    );
    let out = auth
        .verify_dkim(Parameters::new(&msg).with_txt_cache(&cache))
        .await;
    match out.first() {
        Some(o) if o.result() == &DkimResult::Pass => Ok(()),
        Some(o) => Err(format!("DKIM result: {:?}", o.result())),
        None => Err("no DKIM-Signature".into()),
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// A new Ed25519 key: (PKCS#8 PEM, DNS record `v=DKIM1; k=ed25519; p=...`).
pub fn ed25519_key() -> (String, String) {
    let der = Ed25519Key::generate_pkcs8().expect("ed25519 key");
    let public = Ed25519Key::from_pkcs8_der(&der)
        .expect("ed25519 key")
        .public_key();
    (
        pem("PRIVATE KEY", &der),
        format!(
            "v=DKIM1; k=ed25519; p={}",
            base64::engine::general_purpose::STANDARD.encode(public)
        ),
    )
}

/// A new RSA-2048 key made by `openssl`: (PEM in the requested form, DNS record).
/// `pkcs1` = true gives `BEGIN RSA PRIVATE KEY`.
pub fn rsa_key(pkcs1: bool) -> (String, String) {
    let run = |args: &[&str], input: Option<&[u8]>| -> Vec<u8> {
        use std::io::Write;
        let mut child = std::process::Command::new("openssl")
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("openssl is installed");
        if let Some(i) = input {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(i)
                .expect("write");
        }
        drop(child.stdin.take());
        let out = child.wait_with_output().expect("openssl runs");
        assert!(out.status.success(), "openssl {args:?} failed");
        out.stdout
    };
    let pkcs8 = run(
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ],
        None,
    );
    let public_der = run(&["pkey", "-pubout", "-outform", "DER"], Some(&pkcs8));
    let key = if pkcs1 {
        run(&["rsa", "-traditional"], Some(&pkcs8))
    } else {
        pkcs8
    };
    (
        String::from_utf8(key).expect("PEM is text"),
        format!(
            "v=DKIM1; k=rsa; p={}",
            base64::engine::general_purpose::STANDARD.encode(public_der)
        ),
    )
}

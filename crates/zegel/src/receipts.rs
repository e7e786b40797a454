//! Signed receipts on the command line: `zegel admin keys public` (an organisation's public
//! signing keys as a JWK Set, to publish) and `zegel receipt verify` (checks a receipt
//! offline against a JWK Set, or against the keys in the configured installation's database).

use crate::app;
use crate::config::{Config, DatabaseUrl};
use anyhow::{bail, Context};
use std::path::Path;
use zegel_core::service::{verify_receipt, Receipt, TrustedKey, VerifiedReceipt};
use zegel_core::signing::JwkSet;
use zegel_core::Zegel;

/// `zegel admin keys public --org S` (or `--installation`): the JWK Set, pretty JSON. The
/// current key is created first when there is none, so it can be published before the first
/// receipt.
pub async fn public_keys(
    z: &Zegel,
    org: Option<&str>,
    installation: bool,
) -> anyhow::Result<String> {
    let set = match (org, installation) {
        (Some(slug), false) => z
            .public_keys_of_slug(slug, true)
            .await
            .map_err(|e| match e {
                zegel_core::Error::NotFound => anyhow::anyhow!("no organisation {slug}"),
                e => e.into(),
            })?,
        (None, true) => z.installation_public_keys().await?,
        _ => bail!("give --org SLUG or --installation"),
    };
    Ok(serde_json::to_string_pretty(&set)?)
}

/// Why `zegel receipt verify` did not accept a receipt (exit status 1, the reason on stderr).
#[derive(Debug, thiserror::Error)]
#[error("receipt NOT verified: {0}")]
pub struct NotVerified(pub String);

/// `zegel receipt verify FILE [--key JWKS]`: the verified receipt, or [`NotVerified`].
pub async fn verify(
    cfg: &Config,
    file: &Path,
    jwks: Option<&Path>,
) -> anyhow::Result<VerifiedReceipt> {
    let token = std::fs::read_to_string(file)
        .map_err(|e| NotVerified(format!("cannot read {}: {e}", file.display())))?;
    let key = match jwks {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| NotVerified(format!("cannot read {}: {e}", path.display())))?;
            let set: JwkSet = serde_json::from_str(&text)
                .map_err(|e| NotVerified(format!("{} is not a JWK Set: {e}", path.display())))?;
            KeySource::Jwks(set)
        }
        None => KeySource::Database(stored_key(cfg, &token).await?),
    };
    verify_receipt(&token, |kid| match key {
        KeySource::Jwks(set) => TrustedKey::from_jwks(&set, kid),
        KeySource::Database(k) => k,
    })
    .map_err(|e| NotVerified(e.to_string()).into())
}

enum KeySource {
    Jwks(JwkSet),
    Database(Option<TrustedKey>),
}

/// The key the token names, from the configured installation's database.
async fn stored_key(cfg: &Config, token: &str) -> anyhow::Result<Option<TrustedKey>> {
    let kid = match zegel_core::jws::header(token).map(|h| h.kid) {
        Ok(Some(kid)) => kid,
        // verify_receipt names what is wrong.
        _ => return Ok(None),
    };
    if let DatabaseUrl::Sqlite(path) = &cfg.database {
        if !path.exists() {
            return Err(NotVerified(format!(
                "no installation database at {} to read the keys from; give --key JWKS_FILE",
                path.display()
            ))
            .into());
        }
    }
    let store = app::open_store(cfg)
        .await
        .context("opening the installation's database for its public keys")?;
    Ok(store
        .public_signing_key(&kid)
        .await?
        .as_ref()
        .map(TrustedKey::from_stored))
}

/// What `zegel receipt verify` prints for a verified receipt.
pub fn summary(v: &VerifiedReceipt) -> String {
    let r: &Receipt = &v.receipt;
    let mut out = String::new();
    let mut line = |k: &str, v: String| out.push_str(&format!("{k:<14}{v}\n"));
    line("verified:", format!("signature valid, key {}", v.kid));
    line(
        "organisation:",
        format!(
            "{} ({}, {})",
            r.organisation.name, r.organisation.slug, r.organisation.id
        ),
    );
    line("issuer:", r.issuer.clone());
    line("message:", r.message_id.clone());
    line("sender:", format!("{} <{}>", r.sender.name, r.sender.email));
    line("sent:", r.created_at.clone());
    line("available:", format!("until {}", r.expires_at));
    let mut state = r.state.as_str().to_string();
    if let Some(d) = &r.destroyed_at {
        state.push_str(&format!(" at {d}"));
    }
    line("state:", state);
    for rec in &r.recipients {
        let first = |times: &[String]| times.first().cloned().unwrap_or_else(|| "-".into());
        line(
            "recipient:",
            format!(
                "{}{}: notified {}, opened {}, downloaded {} ({}x)",
                rec.address,
                if rec.forwarded_by.is_some() {
                    " (forwarded)"
                } else {
                    ""
                },
                first(&rec.notified),
                first(&rec.opened),
                first(&rec.downloaded),
                rec.downloaded.len()
            ),
        );
    }
    let c = &r.content;
    let hash = |h: &Option<String>| h.clone().unwrap_or_else(|| "(destroyed)".into());
    line(
        "content:",
        format!("{} of the {} ({})", c.hash_alg, c.hash_of, c.alg),
    );
    line("  subject:", hash(&c.subject));
    line("  body:", hash(&c.body));
    for a in &c.attachments {
        line(
            "  attachment:",
            format!("{} ({} bytes) {}", a.id, a.size, hash(&a.sha256)),
        );
    }
    line("issued:", r.issued_at.clone());
    out
}

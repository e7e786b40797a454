//! The SMTP submission gateway (issue 15, RFC 6409): mail clients (Outlook's "Beveiligd
//! versturen") and hospital systems (HiX, Epic) submit mail here; every accepted mail becomes
//! a secure message from the credential's user ([`zegel_core::Zegel::submit_mail`]).
//!
//! - STARTTLS is always offered, with the configured certificate (rustls); AUTH PLAIN and LOGIN
//!   only after it, and MAIL only after AUTH. Bytes a client pipelined behind STARTTLS are
//!   thrown away, never read as commands inside the TLS session (CVE-2011-0411).
//! - SIZE is announced in EHLO, checked on MAIL FROM and enforced while receiving: past the
//!   limit the rest of the data is read and dropped, and the mail refused (552).
//! - 250 only after the message is stored durably; 4xx when the store is unavailable; 5xx with
//!   a Dutch and an English reason for what can never work.
//! - Rate limits: AUTH attempts per client address, and mails per credential.
//! - A mail is held in memory while it is received and parsed (never on disk), at most
//!   `ZEGEL_SUBMISSION_MAX_BYTES` each and [`MAX_DATA_AT_ONCE`] at a time; its attachments
//!   stream into encrypted blobs as through the API.
//!
//! The protocol parsing is `smtp-proto`'s (Stalwart), the MIME parsing `mail-parser`'s.

mod session;

use anyhow::Context;
use governor::{DefaultKeyedRateLimiter, Quota};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::future::Future;
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;
use zegel_core::Zegel;

/// Mails being received or parsed at once (each at most the size limit in memory); a further
/// DATA waits for one to finish (up to 30 s, then 452).
pub const MAX_DATA_AT_ONCE: usize = 16;
/// Connections at once; a further one is told to come back later (421).
pub const MAX_CONNECTIONS: usize = 500;
/// AUTH attempts per client address per minute, and at once: each costs an Argon2id
/// verification, and a generated password is never guessed at any rate.
const AUTH_PER_MINUTE: u32 = 60;
const AUTH_BURST: u32 = 30;

/// The listener's settings (`ZEGEL_SUBMISSION_*`).
#[derive(Debug, Clone)]
pub struct SubmissionSettings {
    /// `ZEGEL_SUBMISSION_LISTEN`.
    pub listen: String,
    /// `ZEGEL_SUBMISSION_TLS_CERT` (PEM chain).
    pub cert_pem: Vec<u8>,
    /// `ZEGEL_SUBMISSION_TLS_KEY` (PEM).
    pub key_pem: Vec<u8>,
    /// `ZEGEL_SUBMISSION_MAX_BYTES`: the largest mail.
    pub max_bytes: usize,
    /// `ZEGEL_SUBMISSION_PER_MINUTE`: mails per credential per minute (and at once).
    pub per_minute: u32,
    /// The name in the greeting and EHLO reply.
    pub hostname: String,
}

/// What every session shares.
pub(crate) struct Gateway {
    pub(crate) z: Arc<Zegel>,
    pub(crate) tls: TlsAcceptor,
    pub(crate) max_bytes: usize,
    pub(crate) hostname: String,
    pub(crate) data_slots: Arc<Semaphore>,
    pub(crate) auth_attempts: crate::http::ratelimit::Limiter,
    pub(crate) per_credential: DefaultKeyedRateLimiter<String>,
}

/// The rustls server configuration of a PEM certificate chain and key.
pub fn tls_config(cert_pem: &[u8], key_pem: &[u8]) -> anyhow::Result<Arc<ServerConfig>> {
    let certs = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .context("ZEGEL_SUBMISSION_TLS_CERT: not a PEM certificate chain")?;
    if certs.is_empty() {
        anyhow::bail!("ZEGEL_SUBMISSION_TLS_CERT holds no certificate");
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .context("ZEGEL_SUBMISSION_TLS_KEY: not a PEM private key")?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("ZEGEL_SUBMISSION_TLS_CERT and _KEY do not make a certificate and its key")?;
    Ok(Arc::new(config))
}

/// Reads the PEM files named by the settings.
pub fn read_pem(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("{what} {}", path.display()))
}

/// Binds the listener (before serving, so a taken port fails start-up).
pub async fn bind(settings: &SubmissionSettings) -> anyhow::Result<TcpListener> {
    TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("ZEGEL_SUBMISSION_LISTEN: listening on {}", settings.listen))
}

/// Accepts submissions until `stop` resolves; sessions in progress finish on their own.
pub async fn serve(
    listener: TcpListener,
    z: Arc<Zegel>,
    settings: SubmissionSettings,
    stop: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let tls = TlsAcceptor::from(tls_config(&settings.cert_pem, &settings.key_pem)?);
    let per_minute = NonZeroU32::new(settings.per_minute).unwrap_or(NonZeroU32::MIN);
    let gateway = Arc::new(Gateway {
        z,
        tls,
        max_bytes: settings.max_bytes,
        hostname: settings.hostname.clone(),
        data_slots: Arc::new(Semaphore::new(MAX_DATA_AT_ONCE)),
        auth_attempts: crate::http::ratelimit::Limiter::new(AUTH_PER_MINUTE, AUTH_BURST),
        per_credential: DefaultKeyedRateLimiter::keyed(
            Quota::per_minute(per_minute).allow_burst(per_minute),
        ),
    });
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(stop);
    loop {
        let (tcp, peer) = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "smtp accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let gateway = gateway.clone();
        let permit = connections.clone().try_acquire_owned().ok();
        tokio::spawn(async move {
            session::run(gateway, tcp, peer, permit.is_some()).await;
            drop(permit);
        });
    }
    Ok(())
}

//! DKIM signing of outgoing notifications (mail-auth), with an RSA (PKCS#1 or PKCS#8) or
//! Ed25519 (PKCS#8) key from a PEM file, read and checked at start-up.

use mail_auth::common::crypto::{DkimKey, Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::{DkimSigner, Done};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;

/// Headers covered by the signature (those a notification carries).
const SIGNED_HEADERS: [&str; 9] = [
    "From",
    "Reply-To",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "Auto-Submitted",
];

/// A ready DKIM signer.
pub struct Dkim {
    signer: DkimSigner<DkimKey, Done>,
    algorithm: &'static str,
}

impl std::fmt::Debug for Dkim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Dkim({})", self.algorithm)
    }
}

impl Dkim {
    /// Parses the PEM key (`BEGIN PRIVATE KEY` for RSA or Ed25519, `BEGIN RSA PRIVATE KEY`).
    pub fn from_pem(pem: &[u8], domain: &str, selector: &str) -> Result<Self, String> {
        if domain.trim().is_empty() || selector.trim().is_empty() {
            return Err("ZEGEL_DKIM_DOMAIN and ZEGEL_DKIM_SELECTOR must both be set".into());
        }
        let der = PrivateKeyDer::from_pem_slice(pem)
            .map_err(|e| format!("ZEGEL_DKIM_KEY_FILE is not a PEM private key: {e}"))?;
        let (key, algorithm): (DkimKey, &'static str) = match der {
            PrivateKeyDer::Pkcs1(_) => (
                RsaKey::<Sha256>::from_key_der(der)
                    .map_err(|e| format!("ZEGEL_DKIM_KEY_FILE: RSA key refused: {e}"))?
                    .into(),
                "rsa-sha256",
            ),
            PrivateKeyDer::Pkcs8(p8) => {
                let bytes = p8.secret_pkcs8_der().to_vec();
                match RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs8(p8)) {
                    Ok(k) => (k.into(), "rsa-sha256"),
                    Err(_) => (
                        Ed25519Key::from_pkcs8_maybe_unchecked_der(&bytes)
                            .map_err(|e| {
                                format!(
                                    "ZEGEL_DKIM_KEY_FILE: neither an RSA nor an Ed25519 key: {e}"
                                )
                            })?
                            .into(),
                        "ed25519-sha256",
                    ),
                }
            }
            _ => {
                return Err("ZEGEL_DKIM_KEY_FILE: unsupported key type (use RSA or Ed25519)".into())
            }
        };
        let signer = DkimSigner::from_key(key)
            .domain(domain.trim())
            .selector(selector.trim())
            .headers(SIGNED_HEADERS);
        let dkim = Dkim { signer, algorithm };
        // Fail at start-up, not at the first notification.
        dkim.sign(b"From: a@example.nl\r\nTo: b@example.nl\r\nSubject: check\r\n\r\ncheck\r\n")?;
        Ok(dkim)
    }

    /// `rsa-sha256` or `ed25519-sha256`.
    pub fn algorithm(&self) -> &'static str {
        self.algorithm
    }

    /// Signs a message written in chunks (never whole in memory): feed it with
    /// [`DkimStream::write`], then [`DkimStream::header`] gives the `DKIM-Signature` header
    /// to put in front of it.
    pub fn stream(&self) -> DkimStream<'_> {
        DkimStream(self.signer.sign_streaming())
    }

    /// The message with a `DKIM-Signature` header prepended.
    pub fn sign(&self, raw: &[u8]) -> Result<Vec<u8>, String> {
        let sig = self
            .signer
            .sign(raw)
            .map_err(|e| format!("DKIM signing failed: {e}"))?;
        let header = sig.to_header();
        let mut out = Vec::with_capacity(header.len() + raw.len());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(raw);
        Ok(out)
    }
}

/// A signature under way (see [`Dkim::stream`]).
pub struct DkimStream<'a>(mail_auth::dkim::DkimSigningStream<'a, DkimKey>);

impl DkimStream<'_> {
    /// The next bytes of the message.
    pub fn write(&mut self, chunk: &[u8]) {
        self.0.write(chunk);
    }

    /// The `DKIM-Signature` header (with its line end) for the bytes written.
    pub fn header(self) -> Result<String, String> {
        self.0
            .finish()
            .map(|sig| sig.to_header())
            .map_err(|e| format!("DKIM signing failed: {e}"))
    }
}

//! JWS compact serialization (RFC 7515) with `alg` EdDSA (RFC 8037): an encoding around the
//! organisation's Ed25519 [`Signer`]; the signature itself is ring's.
//!
//! `BASE64URL(header) "." BASE64URL(payload) "." BASE64URL(signature)`, unpadded base64url,
//! the signature over the ASCII of the first two parts. Verification accepts exactly this:
//! three parts, `alg` EdDSA, a `kid`, no `crit`, and a 64-byte signature that ring accepts
//! for the key the `kid` names.

use crate::signing::Signer;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// The protected header of a Zegel JWS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwsHeader {
    /// `EdDSA`.
    pub alg: String,
    /// `JOSE` (compact serialization).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    /// The signing key's id.
    #[serde(default)]
    pub kid: Option<String>,
    /// Critical extensions: none are understood, so a token naming any is refused.
    #[serde(default, skip_serializing)]
    pub crit: Option<serde_json::Value>,
}

/// Why a JWS is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    /// Not a JWS in compact serialization (the part that is wrong).
    #[error("malformed: {0}")]
    Malformed(&'static str),
    /// An algorithm other than EdDSA.
    #[error("unsupported algorithm {0:?} (only EdDSA)")]
    UnsupportedAlg(String),
    /// Critical header extensions (none are supported).
    #[error("unsupported critical header extensions")]
    Critical,
    /// No key with this id among the trusted keys.
    #[error("unknown key id {0:?}")]
    UnknownKid(String),
    /// The signature does not verify under the named key: the token was changed, or signed
    /// with another key.
    #[error("bad signature")]
    BadSignature,
}

/// A verified token: its key id and payload bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The key that signed it.
    pub kid: String,
    /// The payload (for Zegel receipts: JSON).
    pub payload: Vec<u8>,
}

/// Signs `payload` as a compact JWS with `signer` (`alg` EdDSA, `typ` JOSE, `kid`).
pub fn sign_compact(signer: &Signer, payload: &[u8]) -> String {
    let header = JwsHeader {
        alg: "EdDSA".into(),
        typ: Some("JOSE".into()),
        kid: Some(signer.key_id.clone()),
        crit: None,
    };
    // A struct of strings always serialises.
    let header = serde_json::to_vec(&header).unwrap_or_default();
    let mut out = URL_SAFE_NO_PAD.encode(header);
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(payload));
    let sig = signer.sign(out.as_bytes());
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(sig));
    out
}

fn b64(part: &str, what: &'static str) -> Result<Vec<u8>, JwsError> {
    URL_SAFE_NO_PAD
        .decode(part.as_bytes())
        .map_err(|_| JwsError::Malformed(what))
}

/// The parts of a compact JWS (surrounding whitespace ignored), its header parsed.
fn split(token: &str) -> Result<(JwsHeader, &str, &str, &str), JwsError> {
    let token = token.trim();
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwsError::Malformed("not three dot-separated parts"));
    };
    let header: JwsHeader = serde_json::from_slice(&b64(h, "header is not base64url")?)
        .map_err(|_| JwsError::Malformed("header is not a JSON object with alg"))?;
    Ok((header, h, p, s))
}

/// The header of a token, unverified (to name its key before looking the key up).
pub fn header(token: &str) -> Result<JwsHeader, JwsError> {
    split(token).map(|(h, ..)| h)
}

/// Verifies a compact JWS: `key_for(kid)` gives the trusted 32-byte Ed25519 public key with
/// that id, or `None`. The signature is checked before the payload is decoded or read.
pub fn verify_compact(
    token: &str,
    key_for: impl FnOnce(&str) -> Option<Vec<u8>>,
) -> Result<Verified, JwsError> {
    let (header, h, p, s) = split(token)?;
    if header.alg != "EdDSA" {
        return Err(JwsError::UnsupportedAlg(header.alg));
    }
    if header.crit.is_some() {
        return Err(JwsError::Critical);
    }
    let kid = header.kid.ok_or(JwsError::Malformed("header has no kid"))?;
    let sig = b64(s, "signature is not base64url")?;
    let public = key_for(&kid).ok_or_else(|| JwsError::UnknownKid(kid.clone()))?;
    // The signing input is the token's own text of the first two parts (h "." p).
    let input_len = h.len() + 1 + p.len();
    let input = &token.trim().as_bytes()[..input_len];
    if !zegel_crypto::verify_ed25519(&public, input, &sig) {
        return Err(JwsError::BadSignature);
    }
    Ok(Verified {
        kid,
        payload: b64(p, "payload is not base64url")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use zegel_crypto::SigningKey;

    fn signer() -> Signer {
        Signer::new("org", SigningKey::generate())
    }

    #[test]
    fn a_signed_token_verifies_and_any_change_is_refused() {
        let s = signer();
        let key = s.public_key().to_vec();
        let token = sign_compact(&s, br#"{"message_id":"m1"}"#);
        assert_eq!(token.split('.').count(), 3);
        let h = header(&token).expect("header");
        assert_eq!(
            (h.alg.as_str(), h.typ.as_deref(), h.kid.as_deref()),
            ("EdDSA", Some("JOSE"), Some(s.key_id.as_str()))
        );
        let ok = verify_compact(&format!("{token}\n"), |kid| {
            (kid == s.key_id).then(|| key.clone())
        })
        .expect("verifies");
        assert_eq!(ok.payload, br#"{"message_id":"m1"}"#);
        assert_eq!(ok.kid, s.key_id);

        // One byte of the payload changed (re-encoded, so the token is well-formed).
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(br#"{"message_id":"m2"}"#),
            parts[2]
        );
        assert_eq!(
            verify_compact(&forged, |_| Some(key.clone())),
            Err(JwsError::BadSignature)
        );
        // Another key.
        let other = signer().public_key().to_vec();
        assert_eq!(
            verify_compact(&token, |_| Some(other.clone())),
            Err(JwsError::BadSignature)
        );
        // Unknown kid.
        assert_eq!(
            verify_compact(&token, |_| None),
            Err(JwsError::UnknownKid(s.key_id.clone()))
        );
        // Malformed.
        for bad in ["", "a.b", "a.b.c.d", "!!.e30.AA", &format!("{token}x=")] {
            assert!(
                matches!(
                    verify_compact(bad, |_| Some(key.clone())),
                    Err(JwsError::Malformed(_) | JwsError::BadSignature)
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn other_algorithms_and_critical_headers_are_refused() {
        let s = signer();
        let key = s.public_key().to_vec();
        let token = sign_compact(&s, b"{}");
        let rest = token.split_once('.').expect("parts").1;
        for (header, want) in [
            (
                r#"{"alg":"none","kid":"k"}"#,
                JwsError::UnsupportedAlg("none".into()),
            ),
            (
                r#"{"alg":"HS256","kid":"k"}"#,
                JwsError::UnsupportedAlg("HS256".into()),
            ),
            (
                r#"{"alg":"EdDSA","kid":"k","crit":["exp"]}"#,
                JwsError::Critical,
            ),
            (
                r#"{"alg":"EdDSA"}"#,
                JwsError::Malformed("header has no kid"),
            ),
        ] {
            let t = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header));
            assert_eq!(verify_compact(&t, |_| Some(key.clone())), Err(want));
        }
    }
}

//! Signed receipts (NTA 7516 6.1.5/6.1.7, issue 14): a sender's proof of what happened to a
//! sent message, signed with the organisation's signing key as a compact JWS (EdDSA), and the
//! organisation's public keys as a JWK Set for whoever verifies one.
//!
//! CONTRACT (the payload, [`Receipt`]): message id, organisation, sender, times, recipients
//! with their notified / opened / downloaded times (from the events), SHA-256 of the stored
//! ciphertext of subject, body and each attachment, the issue time. Never a subject, body or
//! file name.

use super::events;
use super::{ClientCtx, Zegel};
use crate::blobs::BlobError;
use crate::error::{Error, Result};
use crate::jws;
use crate::model::*;
use crate::signing::{JwkSet, JwksOrganisation, PublicSigningKey};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `type` of a receipt payload (CONTRACT).
pub const RECEIPT_TYPE: &str = "zegel-receipt/1";

/// The payload of a signed receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// [`RECEIPT_TYPE`].
    #[serde(rename = "type")]
    pub kind: String,
    /// The installation that issued it (its public URL; its keys are at
    /// `{issuer}/.well-known/zegel/keys/{organisation slug}.json`).
    pub issuer: String,
    /// The message.
    pub message_id: String,
    /// The sending organisation.
    pub organisation: ReceiptOrganisation,
    /// The sender.
    pub sender: ReceiptSender,
    /// Sent at (RFC 3339).
    pub created_at: String,
    /// Available until (RFC 3339).
    pub expires_at: String,
    /// `active`, `revoked` or `expired` when issued.
    pub state: MessageState,
    /// Revoked or expired at (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destroyed_at: Option<String>,
    /// Every recipient (forwarded ones too), in order.
    pub recipients: Vec<ReceiptRecipient>,
    /// Hashes of the stored content.
    pub content: ReceiptContent,
    /// Issued at (RFC 3339).
    pub issued_at: String,
}

/// The organisation in a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptOrganisation {
    /// Id.
    pub id: String,
    /// Slug.
    pub slug: String,
    /// Name.
    pub name: String,
}

/// The sender in a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptSender {
    /// User id.
    pub id: String,
    /// E-mail address.
    pub email: String,
    /// Display name.
    pub name: String,
}

/// One recipient in a receipt: when the notification went out, when they opened the message
/// and downloaded attachments (every time, oldest first, RFC 3339).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptRecipient {
    /// Recipient id.
    pub id: String,
    /// E-mail address.
    pub address: String,
    /// For a recipient added by a forward: the recipient (id) who forwarded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarded_by: Option<String>,
    /// Events `notified`.
    pub notified: Vec<String>,
    /// Events `opened`.
    pub opened: Vec<String>,
    /// Events `downloaded`.
    pub downloaded: Vec<String>,
}

/// Hashes of the stored content: of the ciphertext as stored (so they can be checked
/// against the database and the blobs without decrypting); `null` once destroyed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptContent {
    /// `sha-256`.
    pub hash_alg: String,
    /// `ciphertext`.
    pub hash_of: String,
    /// The content algorithm of the ciphertext (`zegel_crypto::ALG_STREAM`).
    pub alg: String,
    /// Of the subject (hex).
    pub subject: Option<String>,
    /// Of the body (hex).
    pub body: Option<String>,
    /// Of each attachment, by position.
    pub attachments: Vec<ReceiptAttachment>,
}

/// One attachment's hash in a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptAttachment {
    /// Attachment id.
    pub id: String,
    /// Plaintext size in bytes.
    pub size: i64,
    /// Of the stored ciphertext (hex); `null` once destroyed.
    pub sha256: Option<String>,
}

/// A signed receipt: the compact JWS and what it says.
#[derive(Debug, Clone)]
pub struct SignedReceipt {
    /// `header.payload.signature`.
    pub jws: String,
    /// The signing key's id.
    pub kid: String,
    /// The payload.
    pub receipt: Receipt,
}

fn gone(e: &BlobError) -> bool {
    matches!(e, BlobError::Store(object_store::Error::NotFound { .. }))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn times(evs: &[Event], recipient_id: &str, kind: EventKind) -> Vec<String> {
    evs.iter()
        .filter(|e| e.event.kind == kind && e.event.recipient_id.as_deref() == Some(recipient_id))
        .map(|e| e.event.at.to_rfc3339())
        .collect()
}

impl Zegel {
    /// The SHA-256 of a stored blob, read as a stream; `None` when the blob is gone (the
    /// message was destroyed meanwhile).
    async fn blob_sha256(&self, key: &str) -> Result<Option<String>> {
        let mut stream = match self.blobs.read(key).await {
            Ok(s) => s,
            Err(e) if gone(&e) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut h = Sha256::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(c) => h.update(&c),
                Err(e) if gone(&e) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Some(hex(&h.finalize())))
    }

    /// The receipt payload of message `m` as it stands now.
    async fn receipt_of(&self, who: &Principal, m: &MessageRow, now: Ts) -> Result<Receipt> {
        let recipients = self.store.recipients_of(&m.id).await?;
        let evs = self.store.events_of(&m.id).await?;
        let live = m.state == MessageState::Active;
        let mut attachments = Vec::new();
        for a in self.store.attachments_of(&m.id).await? {
            let sha256 = if live {
                self.blob_sha256(&a.blob_key).await?
            } else {
                None
            };
            attachments.push(ReceiptAttachment {
                id: a.id,
                size: a.size,
                sha256,
            });
        }
        let digest = |ct: &Option<Vec<u8>>| ct.as_deref().map(|c| hex(&Sha256::digest(c)));
        Ok(Receipt {
            kind: RECEIPT_TYPE.into(),
            issuer: self.settings.public_url.clone(),
            message_id: m.id.clone(),
            organisation: ReceiptOrganisation {
                id: who.org.id.clone(),
                slug: who.org.slug.clone(),
                name: who.org.name.clone(),
            },
            sender: ReceiptSender {
                id: who.user.id.clone(),
                email: who.user.email.clone(),
                name: who.user.name.clone(),
            },
            created_at: m.created_at.to_rfc3339(),
            expires_at: m.expires_at.to_rfc3339(),
            state: m.state,
            destroyed_at: m.destroyed_at.map(Ts::to_rfc3339),
            recipients: recipients
                .iter()
                .map(|r| ReceiptRecipient {
                    id: r.id.clone(),
                    address: r.email.clone(),
                    forwarded_by: r.forwarded_by.clone(),
                    notified: times(&evs, &r.id, EventKind::Notified),
                    opened: times(&evs, &r.id, EventKind::Opened),
                    downloaded: times(&evs, &r.id, EventKind::Downloaded),
                })
                .collect(),
            content: ReceiptContent {
                hash_alg: "sha-256".into(),
                hash_of: "ciphertext".into(),
                alg: m.alg.clone(),
                subject: digest(&m.subject_ct),
                body: digest(&m.body_ct),
                attachments,
            },
            issued_at: now.to_rfc3339(),
        })
    }

    /// `GET /api/v1/messages/{id}/receipt`, "Bewijs downloaden": a signed receipt for one's
    /// own sent message (another sender's, a reply or an unknown id: `NotFound`), signed
    /// with the organisation's current signing key; recorded as an event `receipt_issued`.
    pub async fn message_receipt(
        &self,
        who: &Principal,
        id: &str,
        ctx: &ClientCtx,
    ) -> Result<SignedReceipt> {
        let m = match self.store.message_by_id(id).await? {
            Some(m)
                if m.sender_id == who.user.id
                    && m.org_id == who.org.id
                    && m.kind == MessageKind::Message =>
            {
                m
            }
            _ => return Err(Error::NotFound),
        };
        let now = Ts::now();
        let receipt = self.receipt_of(who, &m, now).await?;
        let payload = serde_json::to_vec(&receipt)
            .map_err(|e| Error::Internal(format!("receipt payload: {e}")))?;
        let signer = self.keys.signer(&self.store, &m.org_id).await?;
        let jws = jws::sign_compact(&signer, &payload);
        let event = events::by_sender(
            &who.user,
            &m.id,
            None,
            EventKind::ReceiptIssued,
            now,
            ctx,
            Some(signer.key_id.clone()),
        );
        self.store.record_event(&event, None).await?;
        tracing::info!(message_id = %m.id, kid = %signer.key_id, "receipt issued");
        Ok(SignedReceipt {
            jws,
            kid: signer.key_id.clone(),
            receipt,
        })
    }

    /// The public signing keys of the organisation `slug` as a JWK Set (current and retired,
    /// oldest first). With `create`, the current key is created first when the organisation
    /// has none yet (so it can be published before the first receipt; the admin CLI), else
    /// nothing is written (the public HTTP endpoint). `NotFound` for an unknown slug.
    pub async fn public_keys_of_slug(&self, slug: &str, create: bool) -> Result<JwkSet> {
        let org = self.store.org_by_slug(slug).await?.ok_or(Error::NotFound)?;
        if create {
            self.keys.signer(&self.store, &org.id).await?;
        }
        let keys = self.store.signing_keys_of(&org.id).await?;
        Ok(JwkSet::of(&keys).for_organisation(JwksOrganisation {
            id: org.id,
            slug: Some(org.slug),
            name: Some(org.name),
        }))
    }

    /// The installation's own public signing keys (organisation `""`) as a JWK Set; the
    /// current key is created first when there is none.
    pub async fn installation_public_keys(&self) -> Result<JwkSet> {
        let org = crate::signing::INSTALLATION_ORG;
        self.keys.signer(&self.store, org).await?;
        let keys = self.store.signing_keys_of(org).await?;
        Ok(JwkSet::of(&keys).for_organisation(JwksOrganisation {
            id: org.to_owned(),
            slug: None,
            name: None,
        }))
    }
}

/// A public key a verifier trusts, with what is known of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    /// The 32-byte Ed25519 public key.
    pub public_key: Vec<u8>,
    /// The organisation it belongs to, when known (the database, or a JWK Set that names it).
    pub org_id: Option<String>,
    /// When it was retired, if it was: receipts issued after that are refused.
    pub retired_at: Option<Ts>,
}

impl TrustedKey {
    /// The key `kid` of a published JWK Set (its organisation when the set names one);
    /// `None` when the set has no such Ed25519 key.
    pub fn from_jwks(set: &JwkSet, kid: &str) -> Option<TrustedKey> {
        let public_key = set.ed25519_key(kid)?;
        let jwk = set.keys.iter().find(|k| k.kid == kid)?;
        Some(TrustedKey {
            public_key,
            org_id: set.organisation.as_ref().map(|o| o.id.clone()),
            retired_at: jwk.retired_at.as_deref().and_then(parse_rfc3339),
        })
    }

    /// A key from the installation's own database.
    pub fn from_stored(k: &PublicSigningKey) -> TrustedKey {
        TrustedKey {
            public_key: k.public_key.clone(),
            org_id: Some(k.org_id.clone()),
            retired_at: k.retired_at,
        }
    }
}

/// Why a receipt is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// The JWS is malformed, names an unknown key, or its signature does not verify.
    #[error("{0}")]
    Jws(#[from] jws::JwsError),
    /// The signature verifies, but the payload is not a Zegel receipt.
    #[error("malformed payload: {0}")]
    Payload(String),
    /// The signing key belongs to another organisation than the receipt names.
    #[error(
        "signed with a key of organisation {key_org:?}, but the receipt names organisation {receipt_org:?}"
    )]
    OtherOrganisation {
        /// The key's organisation id.
        key_org: String,
        /// The receipt's organisation id.
        receipt_org: String,
    },
    /// Issued after its key was retired.
    #[error("signed with key {kid} after it was retired ({retired_at})")]
    RetiredKey {
        /// The key.
        kid: String,
        /// When it was retired (RFC 3339).
        retired_at: String,
    },
}

/// A receipt whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedReceipt {
    /// The signing key's id.
    pub kid: String,
    /// The payload.
    pub receipt: Receipt,
}

fn parse_rfc3339(s: &str) -> Option<Ts> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000)
        .ok()
        .map(Ts)
}

/// Verifies a receipt (a compact JWS) offline: `key_for(kid)` gives the trusted key with
/// that id. Checks the signature first, then that the payload is a receipt
/// ([`RECEIPT_TYPE`]), that the key belongs to the organisation the receipt names (when the
/// key's organisation is known), and that the key was not retired before the receipt was
/// issued.
pub fn verify_receipt(
    token: &str,
    key_for: impl FnOnce(&str) -> Option<TrustedKey>,
) -> Result<VerifiedReceipt, ReceiptError> {
    let kid = jws::header(token)?
        .kid
        .ok_or(jws::JwsError::Malformed("header has no kid"))?;
    let key = key_for(&kid);
    let public = key.as_ref().map(|k| k.public_key.clone());
    let verified = jws::verify_compact(token, |_| public)?;
    let Some(key) = key else {
        // verify_compact answered UnknownKid already; kept for the type's sake.
        return Err(jws::JwsError::UnknownKid(kid).into());
    };
    let receipt: Receipt = serde_json::from_slice(&verified.payload)
        .map_err(|e| ReceiptError::Payload(e.to_string()))?;
    if receipt.kind != RECEIPT_TYPE {
        return Err(ReceiptError::Payload(format!(
            "type {:?} is not {RECEIPT_TYPE:?}",
            receipt.kind
        )));
    }
    if let Some(org) = &key.org_id {
        if *org != receipt.organisation.id {
            return Err(ReceiptError::OtherOrganisation {
                key_org: org.clone(),
                receipt_org: receipt.organisation.id.clone(),
            });
        }
    }
    if let Some(retired) = key.retired_at {
        let issued = parse_rfc3339(&receipt.issued_at)
            .ok_or_else(|| ReceiptError::Payload("issued_at is not RFC 3339".into()))?;
        if issued > retired {
            return Err(ReceiptError::RetiredKey {
                kid: verified.kid,
                retired_at: retired.to_rfc3339(),
            });
        }
    }
    Ok(VerifiedReceipt {
        kid: verified.kid,
        receipt,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::Signer;
    use zegel_crypto::SigningKey;

    fn receipt(org: &str) -> Receipt {
        Receipt {
            kind: RECEIPT_TYPE.into(),
            issuer: "https://zegel.example".into(),
            message_id: "m1".into(),
            organisation: ReceiptOrganisation {
                id: org.into(),
                slug: "zuid".into(),
                name: "Ziekenhuis Zuid".into(),
            },
            sender: ReceiptSender {
                id: "u1".into(),
                email: "arts@zuid.example".into(),
                name: "Dr. A".into(),
            },
            created_at: Ts(1_000).to_rfc3339(),
            expires_at: Ts(2_000).to_rfc3339(),
            state: MessageState::Active,
            destroyed_at: None,
            recipients: vec![],
            content: ReceiptContent {
                hash_alg: "sha-256".into(),
                hash_of: "ciphertext".into(),
                alg: "A256GCM-STREAM64K-1".into(),
                subject: None,
                body: None,
                attachments: vec![],
            },
            issued_at: Ts(1_500).to_rfc3339(),
        }
    }

    fn signed(s: &Signer, r: &Receipt) -> String {
        jws::sign_compact(s, &serde_json::to_vec(r).expect("json"))
    }

    fn trusted(s: &Signer, org: Option<&str>, retired_at: Option<Ts>) -> TrustedKey {
        TrustedKey {
            public_key: s.public_key().to_vec(),
            org_id: org.map(str::to_owned),
            retired_at,
        }
    }

    #[test]
    fn a_receipt_verifies_under_its_organisations_key_only() {
        let a = Signer::new("org-a", SigningKey::generate());
        let b = Signer::new("org-b", SigningKey::generate());
        let token = signed(&a, &receipt("org-a"));
        let ok = verify_receipt(&token, |kid| {
            (kid == a.key_id).then(|| trusted(&a, Some("org-a"), None))
        })
        .expect("verifies");
        assert_eq!(ok.receipt, receipt("org-a"));
        assert_eq!(ok.kid, a.key_id);
        // Unknown key (the JWK Set of another organisation).
        assert!(matches!(
            verify_receipt(&token, |_| None),
            Err(ReceiptError::Jws(jws::JwsError::UnknownKid(_)))
        ));
        // Another organisation's key under this kid.
        assert_eq!(
            verify_receipt(&token, |_| Some(trusted(&b, None, None))),
            Err(ReceiptError::Jws(jws::JwsError::BadSignature))
        );
        // Organisation B's key signing a receipt that names organisation A.
        let forged = signed(&b, &receipt("org-a"));
        assert_eq!(
            verify_receipt(&forged, |_| Some(trusted(&b, Some("org-b"), None))),
            Err(ReceiptError::OtherOrganisation {
                key_org: "org-b".into(),
                receipt_org: "org-a".into()
            })
        );
    }

    #[test]
    fn a_key_retired_before_the_receipt_or_a_payload_that_is_no_receipt_is_refused() {
        let a = Signer::new("org-a", SigningKey::generate());
        let token = signed(&a, &receipt("org-a"));
        assert!(verify_receipt(&token, |_| Some(trusted(&a, None, Some(Ts(1_500))))).is_ok());
        assert!(matches!(
            verify_receipt(&token, |_| Some(trusted(&a, None, Some(Ts(1_499))))),
            Err(ReceiptError::RetiredKey { .. })
        ));
        let mut other = receipt("org-a");
        other.kind = "something-else".into();
        let token = signed(&a, &other);
        assert!(matches!(
            verify_receipt(&token, |_| Some(trusted(&a, None, None))),
            Err(ReceiptError::Payload(_))
        ));
        let token = jws::sign_compact(&a, b"[1,2]");
        assert!(matches!(
            verify_receipt(&token, |_| Some(trusted(&a, None, None))),
            Err(ReceiptError::Payload(_))
        ));
    }
}

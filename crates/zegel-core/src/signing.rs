//! Organisation signing keys (Ed25519): what the store keeps of them, the store section that
//! keeps them, the [`Signer`] the key ring hands out ([`crate::keys::KeyRing::signer`]) and the
//! published form of the public keys (a JWK Set, RFC 7517 / RFC 8037).
//!
//! Organisation id `""` is the installation's own key (audit entries that belong to no
//! organisation).

use crate::error::StoreResult;
use crate::model::Ts;
use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use zegel_crypto::SigningKey;

/// The organisation id of the installation's own signing key.
pub const INSTALLATION_ORG: &str = "";

/// A signing key as stored: the public key in clear, the private key (its 32-byte seed)
/// wrapped by the master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRow {
    /// Key id (`sig_...`), the `kid` of everything signed with it.
    pub id: String,
    /// Owning organisation (`""`: the installation).
    pub org_id: String,
    /// The 32-byte Ed25519 public key.
    pub public_key: Vec<u8>,
    /// `MasterKey::wrap_signing_key` output (AAD `zegel-sig:<id>`).
    pub wrapped_private: Vec<u8>,
    /// Created at.
    pub created_at: Ts,
    /// No longer used for new signatures since; still valid for old ones.
    pub retired_at: Option<Ts>,
}

/// A public signing key, for publishing and verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicSigningKey {
    /// Key id (`kid`).
    pub id: String,
    /// Owning organisation (`""`: the installation).
    pub org_id: String,
    /// The 32-byte Ed25519 public key.
    pub public_key: Vec<u8>,
    /// Created at.
    pub created_at: Ts,
    /// Retired at (signatures made before stay valid).
    pub retired_at: Option<Ts>,
}

impl From<&SigningKeyRow> for PublicSigningKey {
    fn from(r: &SigningKeyRow) -> Self {
        PublicSigningKey {
            id: r.id.clone(),
            org_id: r.org_id.clone(),
            public_key: r.public_key.clone(),
            created_at: r.created_at,
            retired_at: r.retired_at,
        }
    }
}

/// Signing keys of organisations (and of the installation, organisation `""`).
#[async_trait]
pub trait SigningStore: Send + Sync + 'static {
    /// The organisation's current (not retired) key, if it has one.
    async fn current_signing_key(&self, org_id: &str) -> StoreResult<Option<SigningKeyRow>>;
    /// Stores `key` (its `retired_at` is ignored) as its organisation's current key unless the organisation has one
    /// already (a unique index on the current key per organisation decides between nodes
    /// racing here); returns the current key: `key`, or the one stored first. `key_check`: as
    /// for [`crate::store::AccountStore::create_org`] (the master key that wrapped `key` must
    /// still be the database's).
    async fn insert_signing_key(
        &self,
        key: &SigningKeyRow,
        key_check: Option<&[u8]>,
    ) -> StoreResult<SigningKeyRow>;
    /// The organisation's keys, current and retired, oldest first.
    async fn signing_keys_of(&self, org_id: &str) -> StoreResult<Vec<PublicSigningKey>>;
    /// A public key by key id, of any organisation.
    async fn public_signing_key(&self, id: &str) -> StoreResult<Option<PublicSigningKey>>;
}

/// An organisation's current signing key, unwrapped, as [`crate::keys::KeyRing::signer`]
/// hands it out (cached, shared).
pub struct Signer {
    /// The key id: the `kid` to put beside every signature.
    pub key_id: String,
    /// The organisation (`""`: the installation).
    pub org_id: String,
    key: SigningKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("key_id", &self.key_id)
            .field("org_id", &self.org_id)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer for `org_id` with this (unwrapped) key.
    pub(crate) fn new(org_id: &str, key: SigningKey) -> Self {
        Signer {
            key_id: key.id().to_owned(),
            org_id: org_id.to_owned(),
            key,
        }
    }

    /// The Ed25519 signature (64 bytes) of `msg`.
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.key.sign(msg)
    }

    /// The 32-byte Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.public_key()
    }
}

/// One public key as a JWK (RFC 8037: `kty` OKP, `crv` Ed25519, `x` the public key in
/// unpadded base64url).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// `OKP`.
    pub kty: String,
    /// `Ed25519`.
    pub crv: String,
    /// The public key, unpadded base64url.
    pub x: String,
    /// The key id.
    pub kid: String,
    /// `EdDSA`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// `sig`.
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// Created at (RFC 3339; informational, not part of RFC 7517).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Retired at (RFC 3339): signatures made before it stay valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<String>,
}

/// A JWK Set (RFC 7517 section 5), with the organisation the keys belong to (an extra
/// member, which other JWKS readers ignore as RFC 7517 says).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwkSet {
    /// The keys.
    pub keys: Vec<Jwk>,
    /// Whose keys these are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation: Option<JwksOrganisation>,
}

/// The organisation of a published JWK Set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwksOrganisation {
    /// Organisation id (`""`: the installation's own keys).
    pub id: String,
    /// Slug.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl From<&PublicSigningKey> for Jwk {
    fn from(k: &PublicSigningKey) -> Self {
        Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: URL_SAFE_NO_PAD.encode(&k.public_key),
            kid: k.id.clone(),
            alg: Some("EdDSA".into()),
            use_: Some("sig".into()),
            created_at: Some(k.created_at.to_rfc3339()),
            retired_at: k.retired_at.map(Ts::to_rfc3339),
        }
    }
}

impl JwkSet {
    /// The set of these keys.
    pub fn of(keys: &[PublicSigningKey]) -> Self {
        JwkSet {
            keys: keys.iter().map(Jwk::from).collect(),
            organisation: None,
        }
    }

    /// The set, naming the organisation the keys belong to.
    pub fn for_organisation(mut self, org: JwksOrganisation) -> Self {
        self.organisation = Some(org);
        self
    }

    /// The Ed25519 public key with id `kid`: `None` when the set has no such key, or when
    /// it is not an Ed25519 key of 32 bytes.
    pub fn ed25519_key(&self, kid: &str) -> Option<Vec<u8>> {
        let k = self.keys.iter().find(|k| k.kid == kid)?;
        if k.kty != "OKP" || k.crv != "Ed25519" {
            return None;
        }
        let x = URL_SAFE_NO_PAD.decode(k.x.as_bytes()).ok()?;
        (x.len() == zegel_crypto::ED25519_PUBLIC_KEY_LEN).then_some(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jwk_set_round_trips_and_finds_keys_by_kid() {
        let k = SigningKey::generate();
        let public = PublicSigningKey {
            id: k.id().to_owned(),
            org_id: "org".into(),
            public_key: k.public_key().to_vec(),
            created_at: Ts(1_700_000_000_000),
            retired_at: None,
        };
        let set = JwkSet::of(std::slice::from_ref(&public));
        let json = serde_json::to_value(&set).expect("json");
        assert_eq!(json["keys"][0]["kty"], "OKP");
        assert_eq!(json["keys"][0]["crv"], "Ed25519");
        assert_eq!(json["keys"][0]["kid"], k.id());
        assert_eq!(json["keys"][0]["use"], "sig");
        assert!(json["keys"][0].get("retired_at").is_none());
        let back: JwkSet = serde_json::from_value(json).expect("parse");
        assert_eq!(back, set);
        assert_eq!(back.ed25519_key(k.id()), Some(k.public_key().to_vec()));
        assert_eq!(back.ed25519_key("sig_unknown"), None);
        // A key of another type or length is no Ed25519 key.
        let mut other = back.clone();
        other.keys[0].crv = "X25519".into();
        assert_eq!(other.ed25519_key(k.id()), None);
        let mut short = back;
        short.keys[0].x = URL_SAFE_NO_PAD.encode([1u8; 31]);
        assert_eq!(short.ed25519_key(k.id()), None);
    }
}

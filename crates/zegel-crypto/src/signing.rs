//! Ed25519 signing keys (ring): an organisation's key for signed receipts and audit
//! checkpoints, stored only wrapped by the master key, and the matching verification.

use std::fmt;

use rand::rngs::OsRng;
use rand::RngCore;
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};

use crate::CryptoError;
use zeroize::Zeroizing;

/// A 32-byte Ed25519 seed, wiped on drop (the same type as the crate's other key bytes).
type KeyBytes = Zeroizing<[u8; 32]>;

fn random_key() -> KeyBytes {
    let mut seed = Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(seed.as_mut());
    seed
}

/// Length of an Ed25519 public key.
pub const ED25519_PUBLIC_KEY_LEN: usize = 32;
/// Length of an Ed25519 signature.
pub const ED25519_SIGNATURE_LEN: usize = 64;

/// An Ed25519 signing key with its id (`sig_` + 16 lowercase hex characters).
///
/// Only its 32-byte seed is ever stored, wrapped by the master key
/// ([`MasterKey::wrap_signing_key`](crate::MasterKey::wrap_signing_key), AAD
/// `zegel-sig:<id>`). Not `Clone`; `Debug` shows only the id and the public key; the seed is
/// wiped on drop.
pub struct SigningKey {
    id: String,
    seed: KeyBytes,
    pair: Ed25519KeyPair,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("id", &self.id)
            .field("public_key", &self.public_key())
            .field("seed", &"<redacted>")
            .finish()
    }
}

impl SigningKey {
    /// A new random key (seed from the OS) with a new random id.
    pub fn generate() -> Self {
        let id = format!("sig_{:016x}", OsRng.next_u64());
        match Self::from_seed(id, random_key()) {
            Ok(k) => k,
            // ring accepts every 32-byte Ed25519 seed.
            Err(_) => unreachable!("ring refused a 32-byte Ed25519 seed"),
        }
    }

    /// The key `id` with this seed (after unwrapping).
    pub(crate) fn from_seed(id: String, seed: KeyBytes) -> Result<Self, CryptoError> {
        let pair = Ed25519KeyPair::from_seed_unchecked(seed.as_ref())
            .map_err(|_| CryptoError::Format("not an Ed25519 seed".into()))?;
        Ok(Self { id, seed, pair })
    }

    /// The key id, stored beside the wrapped key and named (`kid`) in every signature's header.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The seed (for wrapping only).
    pub(crate) fn seed(&self) -> &[u8; 32] {
        &self.seed
    }

    /// The 32-byte Ed25519 public key.
    pub fn public_key(&self) -> [u8; ED25519_PUBLIC_KEY_LEN] {
        let mut out = [0u8; ED25519_PUBLIC_KEY_LEN];
        out.copy_from_slice(self.pair.public_key().as_ref());
        out
    }

    /// The Ed25519 signature (RFC 8032, 64 bytes) of `msg`.
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.pair.sign(msg).as_ref().to_vec()
    }
}

/// Whether `sig` is a valid Ed25519 signature of `msg` under the 32-byte `public_key`.
/// A key or signature of the wrong length is simply not valid.
pub fn verify_ed25519(public_key: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    if public_key.len() != ED25519_PUBLIC_KEY_LEN || sig.len() != ED25519_SIGNATURE_LEN {
        return false;
    }
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(msg, sig)
        .is_ok()
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;
    use crate::MasterKey;

    #[test]
    fn a_signature_verifies_only_for_its_message_and_key() {
        let k = SigningKey::generate();
        assert!(
            k.id().starts_with("sig_") && k.id().len() == 20,
            "{}",
            k.id()
        );
        let sig = k.sign(b"bericht 1");
        assert_eq!(sig.len(), ED25519_SIGNATURE_LEN);
        assert!(verify_ed25519(&k.public_key(), b"bericht 1", &sig));
        assert!(!verify_ed25519(&k.public_key(), b"bericht 2", &sig));
        let other = SigningKey::generate();
        assert!(!verify_ed25519(&other.public_key(), b"bericht 1", &sig));
        let mut bad = sig.clone();
        bad[10] ^= 1;
        assert!(!verify_ed25519(&k.public_key(), b"bericht 1", &bad));
        assert!(!verify_ed25519(&k.public_key()[..31], b"bericht 1", &sig));
        assert!(!verify_ed25519(&k.public_key(), b"bericht 1", &sig[..63]));
        assert!(!verify_ed25519(&[], b"", &[]));
    }

    #[test]
    fn rfc8032_test_vector_1() {
        // RFC 8032, section 7.1, TEST 1 (empty message).
        let hex = |s: &str| -> Vec<u8> {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
                .collect()
        };
        let seed = hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
        let public = hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
        let sig = hex(concat!(
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155",
            "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        ));
        let mut s = zeroize::Zeroizing::new([0u8; 32]);
        s.copy_from_slice(&seed);
        let k = SigningKey::from_seed("sig_test".into(), s).expect("seed");
        assert_eq!(k.public_key().to_vec(), public);
        assert_eq!(k.sign(b""), sig);
        assert!(verify_ed25519(&public, b"", &sig));
    }

    #[test]
    fn a_wrapped_key_unwraps_only_with_its_master_key_and_id() {
        let master = MasterKey::from_bytes([7; 32]);
        let k = SigningKey::generate();
        let wrapped = master.wrap_signing_key(&k);
        assert_eq!(wrapped.len(), 60);
        assert!(!wrapped.windows(32).any(|w| w == k.seed()));
        let back = master.unwrap_signing_key(k.id(), &wrapped).expect("unwrap");
        assert_eq!(back.public_key(), k.public_key());
        assert_eq!(back.sign(b"x"), k.sign(b"x"));
        assert!(matches!(
            master.unwrap_signing_key("sig_0000000000000000", &wrapped),
            Err(CryptoError::Decrypt)
        ));
        assert!(matches!(
            MasterKey::from_bytes([8; 32]).unwrap_signing_key(k.id(), &wrapped),
            Err(CryptoError::Decrypt)
        ));
        assert!(matches!(
            master.unwrap_signing_key(k.id(), &wrapped[..59]),
            Err(CryptoError::Format(_))
        ));
        // A signing key is not an organisation key: the wrappings do not mix.
        assert!(master.unwrap_kek(k.id(), &wrapped).is_err());
        let dbg = format!("{k:?}");
        assert!(dbg.contains("redacted") && dbg.contains(k.id()));
    }
}

//! Tokens, one-time codes, password hashes and constant-time comparison.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::rngs::OsRng;
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::CryptoError;

/// 32 random bytes from the OS, as unpadded base64url (43 characters).
///
/// For link tokens and session tokens. Store only [`token_hash`] of it.
pub fn random_token() -> String {
    let mut bytes = Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(bytes.as_mut());
    URL_SAFE_NO_PAD.encode(bytes.as_ref())
}

/// SHA-256 of a presented token string (its UTF-8 bytes): the only form a token is stored in.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A uniformly random 6-digit code, zero-padded (`"004211"`).
pub fn random_code() -> String {
    // `gen_range` samples uniformly (rejection sampling, no modulo bias).
    let n: u32 = OsRng.gen_range(0..1_000_000);
    format!("{n:06}")
}

/// Hashes a password with Argon2id (the argon2 crate's default parameters) and a random salt.
///
/// Returns the PHC string (`$argon2id$v=19$m=...`).
pub fn hash_password(pw: &str) -> Result<String, CryptoError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(pw.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| CryptoError::Password(e.to_string()))
}

/// Checks a password against a PHC string made by [`hash_password`].
///
/// False for a wrong password and for a malformed or unsupported PHC string.
pub fn verify_password(pw: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .and_then(|hash| Argon2::default().verify_password(pw.as_bytes(), &hash))
        .is_ok()
}

/// Constant-time equality of byte slices.
///
/// The time depends only on the lengths (which are not secret here), never on the contents;
/// slices of different lengths are unequal.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

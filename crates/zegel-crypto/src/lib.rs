#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(
    missing_debug_implementations,
    clippy::unwrap_used,
    clippy::expect_used
)]

mod error;
mod keyfile;
mod keys;
mod ring_gcm;
mod secrets;
mod signing;
mod stream;
mod verified;

pub use error::CryptoError;
pub use keys::{Dek, Kek, MasterKey, SecretKey};
pub use secrets::{ct_eq, hash_password, random_code, random_token, token_hash, verify_password};
pub use signing::{verify_ed25519, SigningKey, ED25519_PUBLIC_KEY_LEN, ED25519_SIGNATURE_LEN};
pub use stream::{ciphertext_len, StreamDecryptor, StreamEncryptor, ALG_STREAM, CHUNK_SIZE};
pub use verified::VerifiedPasswords;

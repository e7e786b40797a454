//! The crate's error type.

/// Everything that can go wrong in `zegel-crypto`.
///
/// No variant ever carries key material, plaintext or the text of a presented secret.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// An I/O error outside the master key file handling.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),

    /// Authentication failed: wrong key, wrong object or message id (AAD), a flipped bit,
    /// chunks reordered, duplicated or moved, or a truncated stream.
    /// Deliberately carries no detail.
    #[error("decryption failed: wrong key or ciphertext altered or truncated")]
    Decrypt,

    /// Encryption refused because a limit of the construction was reached
    /// (more than 2^32 chunks in one stream, or an AES-GCM message over 64 GiB).
    #[error("encryption failed: {0}")]
    Encrypt(&'static str),

    /// The ciphertext or wrapped key is not in the expected format (bad magic, wrong length).
    #[error("bad ciphertext format: {0}")]
    Format(String),

    /// The master key (key file or base64 text) could not be read, created or parsed.
    /// The message names the path where there is one, never the key.
    #[error("master key: {0}")]
    KeyFile(String),

    /// Password hashing failed (the argon2 crate reported an error).
    #[error("password hashing failed: {0}")]
    Password(String),
}

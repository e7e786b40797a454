//! The contract outcomes of every service call.

/// Errors of the service layer. Each variant is one outcome the HTTP layer maps to a status
/// (DESIGN.md "Contract details"); `Internal` is the only one whose text never reaches a client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Unknown id or token (404).
    #[error("not found")]
    NotFound,
    /// Expired or revoked (410).
    #[error("gone: {0}")]
    Gone(GoneReason),
    /// A wrong access code (401 with `remaining_attempts`).
    #[error("wrong code")]
    WrongCode {
        /// Tries left before the lockout.
        remaining: u32,
    },
    /// Too many wrong codes or requests (429 with `Retry-After`).
    #[error("locked")]
    Locked {
        /// Seconds until a new try is accepted.
        retry_after_secs: u64,
    },
    /// The code expired or was never requested (401, a new code must be requested).
    #[error("code expired")]
    CodeExpired,
    /// Over a size limit (413).
    #[error("too large: {0}")]
    TooLarge(String),
    /// Malformed input (400).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Well-formed input with invalid values (422).
    #[error("invalid: {0}")]
    Invalid(String),
    /// A state conflict (409).
    #[error("conflict: {0}")]
    Conflict(String),
    /// No or bad credentials (401).
    #[error("unauthorized")]
    Unauthorized,
    /// Credentials that do not allow this (403).
    #[error("forbidden")]
    Forbidden,
    /// Not allowed by the message's or the organisation's policy (403 with the reason).
    #[error("not allowed: {0}")]
    NotAllowed(String),
    /// Anything else (500); logged, never shown.
    #[error("internal: {0}")]
    Internal(String),
}

/// Why a message can no longer be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoneReason {
    /// Past its expiry date.
    Expired,
    /// Revoked by the sender.
    Revoked,
}

impl std::fmt::Display for GoneReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GoneReason::Expired => "expired",
            GoneReason::Revoked => "revoked",
        })
    }
}

/// Errors of a Store implementation.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint was violated.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A row that must exist does not.
    #[error("not found")]
    NotFound,
    /// Database failure (connection, SQL, migration).
    #[error("database: {0}")]
    Database(String),
}

/// Result of a Store call.
pub type StoreResult<T> = Result<T, StoreError>;

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => Error::Conflict(m),
            StoreError::NotFound => Error::NotFound,
            StoreError::Database(m) => Error::Internal(format!("store: {m}")),
        }
    }
}

impl From<zegel_crypto::CryptoError> for Error {
    fn from(e: zegel_crypto::CryptoError) -> Self {
        Error::Internal(format!("crypto: {e}"))
    }
}

/// Result of a service call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

//! The contract outcomes of every service call.
//!
//! Each [`Error`] variant is one outcome the HTTP layer maps to a status; the reasons inside
//! (`Invalid`, `TooLarge`, `Conflict`, `NotAllowed`) are enums with fields, so a caller decides
//! on a variant, never on a sentence. Their `Display` is the English detail the JSON API sends.

use crate::model::{ReplyPolicy, Verification};

/// Errors of the service layer (DESIGN.md "Contract details"); `Internal` is the only one
/// whose text never reaches a client.
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
    /// Too many wrong codes in total: blocked until the sender unblocks the recipient (429
    /// with `Retry-After`, error `blocked`).
    #[error("blocked")]
    Blocked,
    /// Too many codes requested in a short time (429 with `Retry-After`).
    #[error("too many codes requested")]
    TooManyCodes {
        /// Seconds until a new code may be requested.
        retry_after_secs: u64,
    },
    /// The organisation's SMS codes for today are spent (503 with `Retry-After`).
    #[error("the organisation's SMS budget for today is spent")]
    SmsBudgetSpent {
        /// Seconds until the next day (UTC) starts.
        retry_after_secs: u64,
    },
    /// The code expired or was never requested (401, a new code must be requested).
    #[error("code expired")]
    CodeExpired,
    /// Over a size limit (413).
    #[error("too large: {0}")]
    TooLarge(TooLarge),
    /// Malformed input (400): the parser's own words.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A body of another media type than the endpoint reads (415).
    #[error("unsupported media type: expected {expected}")]
    UnsupportedMediaType {
        /// What the endpoint reads, e.g. `application/json`.
        expected: &'static str,
    },
    /// Well-formed input with invalid values (422).
    #[error("invalid: {0}")]
    Invalid(Invalid),
    /// A state conflict (409).
    #[error("conflict: {0}")]
    Conflict(Conflict),
    /// No or bad credentials (401).
    #[error("unauthorized")]
    Unauthorized,
    /// Credentials that do not allow this (403).
    #[error("forbidden")]
    Forbidden,
    /// Not allowed by the message's or the organisation's policy (403 with the reason).
    #[error("not allowed: {0}")]
    NotAllowed(NotAllowed),
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

/// What was over which limit (413).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TooLarge {
    /// The text of a message or reply.
    #[error("body is over {max} bytes")]
    Body {
        /// The limit in bytes.
        max: usize,
    },
    /// All attachments of one request together (`ZEGEL_MAX_UPLOAD_BYTES`).
    #[error("attachments are over {max} bytes")]
    Attachments {
        /// The limit in bytes.
        max: u64,
    },
    /// The request body as a whole (the HTTP layer's limit).
    #[error("request body over the upload limit")]
    Request,
    /// A JSON body.
    #[error("JSON body over {max} bytes")]
    Json {
        /// The limit in bytes.
        max: usize,
    },
    /// A JSON body with more values (array elements, members) than the parser allows.
    #[error("JSON body with more than {max} values")]
    JsonValues {
        /// The limit.
        max: usize,
    },
    /// A named multipart part that is read whole (JSON or a form field, never a file).
    #[error("part `{name}` over {max} bytes")]
    Part {
        /// The part's name.
        name: String,
        /// The limit in bytes.
        max: usize,
    },
    /// The boundary and headers of a multipart part (with what arrived with them).
    #[error("multipart part headers over {max} bytes")]
    PartHeaders {
        /// The limit in bytes.
        max: usize,
    },
    /// A text field of an HTML form.
    #[error("form field over {max} bytes")]
    FormField {
        /// The limit in bytes.
        max: usize,
    },
    /// An organisation's logo.
    #[error("a logo is at most {} KiB", max / 1024)]
    Logo {
        /// The limit in bytes.
        max: usize,
    },
}

/// Which value was invalid, and why (422).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// A message without a subject.
    #[error("subject is required")]
    SubjectRequired,
    /// A subject over the mail header limit.
    #[error("subject is longer than {max} bytes")]
    SubjectTooLong {
        /// The limit in bytes.
        max: usize,
    },
    /// A message without recipients.
    #[error("at least one recipient is required")]
    NoRecipients,
    /// Too many recipients in one message.
    #[error("at most {max} recipients per message")]
    TooManyRecipients {
        /// The limit.
        max: usize,
    },
    /// An availability outside the organisation's range.
    #[error(
        "expires_in_days must be between 1 and {max} (the organisation's longest availability)"
    )]
    ExpiryDays {
        /// The longest availability in days.
        max: i64,
    },
    /// The same address twice in one message.
    #[error("recipient {email} is listed twice")]
    DuplicateRecipient {
        /// The address.
        email: String,
    },
    /// SMS verification without a phone number.
    #[error("recipient {email}: sms needs a phone number")]
    SmsNeedsPhone {
        /// The recipient's address.
        email: String,
    },
    /// A `code` given with another verification than `code`.
    #[error("recipient {email}: code is only for verification \"code\"")]
    CodeNotForMethod {
        /// The recipient's address.
        email: String,
    },
    /// A `code_hint` given with another verification than `code`.
    #[error("recipient {email}: code_hint is only for verification \"code\"")]
    HintNotForMethod {
        /// The recipient's address.
        email: String,
    },
    /// A recipient language Zegel does not speak.
    #[error("language must be nl or en")]
    Language,
    /// Too many attachments for one message or reply.
    #[error("at most {max} attachments per message")]
    TooManyAttachments {
        /// The limit.
        max: usize,
    },
    /// A reply with neither text nor attachment.
    #[error("a reply needs a text or an attachment")]
    EmptyReply,
    /// Not an e-mail address (`input`: its first 40 characters, never logged).
    #[error("invalid e-mail address: {input}")]
    Email {
        /// The start of what was given.
        input: String,
    },
    /// Not a phone number.
    #[error("invalid phone number: {input}")]
    Phone {
        /// The start of what was given.
        input: String,
    },
    /// A valid phone number that is not a mobile one, given where an SMS is to go (fixed
    /// line, premium rate, toll free, VoIP, ...).
    #[error("not a mobile number (a code by SMS needs one): {input}")]
    NotMobile {
        /// The start of what was given.
        input: String,
    },
    /// A sender's code that is not 6 digits.
    #[error("code must be exactly 6 digits")]
    SenderCode,
    /// A code hint over the length limit.
    #[error("code_hint is longer than {max} characters")]
    HintTooLong {
        /// The limit in characters.
        max: usize,
    },
    /// A code hint that looks like personal data.
    #[error("code_hint must not refer to personal data (birth date, BSN, address, numbers)")]
    HintPersonalData,
    /// A forward's note over the length limit.
    #[error("the note is longer than {max} characters")]
    NoteTooLong {
        /// The limit in characters.
        max: usize,
    },
    /// A phone number, for an SMS code, in a country the organisation does not send SMS to.
    #[error("SMS codes go only to numbers from {}; this number is from {country}", allowed.join(", "))]
    SmsCountry {
        /// The number's country (ISO 3166 alpha-2; `??` when unknown).
        country: String,
        /// The organisation's countries.
        allowed: Vec<String>,
    },
    /// An SMS country list entry that is not an ISO 3166 alpha-2 code with phone numbers.
    #[error("sms_countries: {input} is not a country code such as NL")]
    SmsCountryCode {
        /// The entry (its first 40 characters).
        input: String,
    },
    /// An SMS budget below zero.
    #[error("sms_per_day must be 0 or more")]
    SmsPerDay,
    /// `in_reply_to` that is not one of the sender's messages or replies.
    #[error("in_reply_to: no message {id} of yours")]
    InReplyTo {
        /// The id given.
        id: String,
    },
    /// A challenge for a recipient who verifies with the sender's code.
    #[error("this message uses a code from the sender; no challenge is needed")]
    NoChallengeNeeded,
    /// A challenge by another method than the sender chose.
    #[error("this recipient verifies by {}", expected.as_str())]
    WrongMethod {
        /// The method the sender chose.
        expected: Verification,
    },
    /// "Remember this device" days outside the allowed range.
    #[error("device_days must be between 0 and {max}")]
    DeviceDays {
        /// The longest allowed.
        max: i64,
    },
    /// An organisation's retention out of range: both from 1 to `limit` days, the default at
    /// most the maximum.
    #[error("availability days must be from 1 to {limit}, and the default ({default}) at most the maximum ({max})")]
    AvailabilityDays {
        /// The default availability asked for.
        default: i64,
        /// The maximum availability asked for.
        max: i64,
        /// The largest value either may have.
        limit: i64,
    },
    /// A logo that is not PNG, JPEG or WebP.
    #[error("a logo must be a PNG, JPEG or WebP image")]
    LogoFormat,
    /// An organisation slug with other characters than letters, digits and `-`.
    #[error("slug: letters, digits and '-' only")]
    Slug,
    /// An organisation without a name.
    #[error("organisation name is required")]
    OrgName,
    /// A role other than sender or admin.
    #[error("role must be sender or admin")]
    Role,
    /// A password under the minimum length.
    #[error("password: at least {min} characters")]
    PasswordTooShort {
        /// The minimum in characters.
        min: usize,
    },
    /// A paging cursor that is not an RFC 3339 time.
    #[error("before must be an RFC 3339 time")]
    Before,
    /// An extension that is no whole number of days from 1, or that would keep the message
    /// longer than the longest availability from its sending.
    #[error("days must be at least 1, and the message available at most {max} days from its sending ({left} more at most)")]
    ExtendDays {
        /// The longest availability in days.
        max: i64,
        /// Whole days the message may still be extended by.
        left: i64,
    },
    /// A sent-list status filter that is not a status.
    #[error("status must be one of queued, notified, opened, downloaded, replied, failed, revoked, expired")]
    StatusFilter,
    /// The master key given at start-up does not belong to this database.
    #[error(
        "the master key does not match this database (wrong ZEGEL_MASTER_KEY / master.key file \
         for this data)"
    )]
    MasterKeyMismatch,
    /// A JSON value of the wrong type or an unknown variant or field: the parser's words.
    #[error("{0}")]
    Json(String),
}

/// Which state conflict (409).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    /// Reply policy `once`, and the reply was sent.
    #[error("this message allows one reply, and it was sent")]
    ReplyUsed,
    /// A user with this e-mail address exists.
    #[error("a user with this e-mail exists")]
    UserExists,
    /// A unique constraint of the store (the store's words: constraint names, never values).
    #[error("{0}")]
    Store(String),
}

/// Which policy forbids it (403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAllowed {
    /// The sender turned replies off for this message.
    #[error("the sender does not accept replies to this message")]
    RepliesOff,
    /// The organisation does not allow secure forwarding.
    #[error("the organisation does not allow forwarding")]
    ForwardingOff,
    /// A forward refused: to an address that has the message already, or past the
    /// message's cap. One answer for both, so a forward never tells who else has it.
    #[error("this message cannot be forwarded to this address")]
    ForwardRefused,
    /// The organisation fixes the reply policy.
    #[error("the organisation sets the reply policy to \"{}\"", policy.as_str())]
    ReplyPolicyLocked {
        /// The organisation's policy.
        policy: ReplyPolicy,
    },
}

impl From<TooLarge> for Error {
    fn from(e: TooLarge) -> Self {
        Error::TooLarge(e)
    }
}

impl From<Invalid> for Error {
    fn from(e: Invalid) -> Self {
        Error::Invalid(e)
    }
}

impl From<Conflict> for Error {
    fn from(e: Conflict) -> Self {
        Error::Conflict(e)
    }
}

impl From<NotAllowed> for Error {
    fn from(e: NotAllowed) -> Self {
        Error::NotAllowed(e)
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
    /// Database failure (connection, SQL, migration, a stored value of unknown meaning).
    #[error("database: {0}")]
    Database(String),
    /// A key wrapped under the master key was to be stored, but the database's master key is
    /// another now (`rotate-master` ran since this process started): nothing is stored.
    #[error("the master key of this database was rotated: restart with the new key")]
    MasterKeyChanged,
}

/// Result of a Store call.
pub type StoreResult<T> = Result<T, StoreError>;

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => Error::Conflict(Conflict::Store(m)),
            StoreError::NotFound => Error::NotFound,
            StoreError::Database(m) => Error::Internal(format!("store: {m}")),
            e @ StoreError::MasterKeyChanged => Error::Internal(e.to_string()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_read_as_before() {
        // The JSON API's `detail` is the reason's Display: the texts clients have seen so far.
        assert_eq!(
            Invalid::TooManyAttachments { max: 20 }.to_string(),
            "at most 20 attachments per message"
        );
        assert_eq!(
            TooLarge::Logo { max: 256 * 1024 }.to_string(),
            "a logo is at most 256 KiB"
        );
        assert_eq!(
            NotAllowed::ReplyPolicyLocked {
                policy: ReplyPolicy::Off
            }
            .to_string(),
            "the organisation sets the reply policy to \"off\""
        );
        assert_eq!(
            Invalid::WrongMethod {
                expected: Verification::Sms
            }
            .to_string(),
            "this recipient verifies by sms"
        );
        assert_eq!(
            Error::from(Invalid::SubjectRequired).to_string(),
            "invalid: subject is required"
        );
    }
}

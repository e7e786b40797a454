//! Sending from the browser (issue 13): address book, held messages, read receipts.

use super::*;

/// What a new message carries beside its rows (the default: sent at once, no read receipt,
/// no address book update).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendOptions {
    /// Mail the sender (no content) when each recipient first opens the message.
    pub read_receipt: bool,
    /// Store the message held (see [`Hold`]): its jobs must then have `run_at` =
    /// [`HELD_RUN_AT`], its `expires_at` is the end of the hold, and `address_book` is empty
    /// (the release writes it).
    pub hold: Option<Hold>,
    /// The organisation's address book entries this message updates, in the same transaction.
    pub address_book: Vec<AddressUse>,
}

/// A held message: stored with its attachments, waiting for its sender's confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold {
    /// The availability the message gets when released, in milliseconds from the release.
    pub expiry_ms: i64,
}

/// The `run_at` of a held message's jobs: never due until the release sets it.
pub const HELD_RUN_AT: Ts = Ts(i64::MAX);

/// One use of an address by an organisation (an address book upsert).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressUse {
    /// The organisation.
    pub org_id: String,
    /// The lower-cased address.
    pub address: String,
    /// The verification chosen this time.
    pub verification: Verification,
    /// The mobile number used this time (kept as a recipient's phone is).
    pub phone: Option<String>,
    /// When.
    pub at: Ts,
}

/// An organisation's address book entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressEntry {
    /// The lower-cased address.
    pub address: String,
    /// The last verification method.
    pub verification: Verification,
    /// The last mobile number.
    pub phone: Option<String>,
    /// Last used.
    pub last_used_at: Ts,
    /// How many messages went to it.
    pub uses: i64,
}

/// What the store knows of a held message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldMessage {
    /// The message.
    pub id: String,
    /// Its sender.
    pub sender_id: String,
    /// `active` while it can still be released.
    pub state: MessageState,
    /// The end of the hold.
    pub expires_at: Ts,
}

/// The release of a held message ([`crate::store::SendingStore::release_held`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// The message.
    pub message_id: String,
    /// Only its own sender releases it.
    pub sender_id: String,
    /// Now: its jobs become due, its expiry counts from here.
    pub now: Ts,
    /// Events to record (`sent`, one per recipient).
    pub events: Vec<NewEvent>,
    /// Address book entries to update.
    pub address_book: Vec<AddressUse>,
}

/// A new SMTP submission credential (issue 15). Only the Argon2id hash of its password is
/// stored.
#[derive(Debug, Clone)]
pub struct NewSmtpCredential {
    /// Id (UUID text).
    pub id: String,
    /// The user it submits as.
    pub user_id: String,
    /// The SMTP user name (unique).
    pub username: String,
    /// Argon2id PHC string of the password.
    pub password_hash: String,
    /// Free label, e.g. "Outlook" or "HiX".
    pub label: String,
    /// Created at.
    pub created_at: Ts,
    /// The client that asked for it (web), for its audit entry; `None` from the CLI.
    pub ip: Option<String>,
    /// Its user agent (truncated).
    pub user_agent: Option<String>,
}

/// A live SMTP credential as its owner sees it in the settings (never the password or hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpCredentialInfo {
    /// Id.
    pub id: String,
    /// The SMTP user name.
    pub username: String,
    /// What it is for (Outlook, the EHR ...).
    pub label: String,
    /// Created at.
    pub created_at: Ts,
    /// Last used to sign in at.
    pub last_used_at: Option<Ts>,
}

/// A live SMTP credential as a submission signs in: its password hash and who it submits as.
#[derive(Debug, Clone)]
pub struct SmtpLogin {
    /// Credential id.
    pub credential_id: String,
    /// Argon2id PHC string of the password.
    pub password_hash: String,
    /// The credential's user, organisation and policy.
    pub principal: Principal,
}

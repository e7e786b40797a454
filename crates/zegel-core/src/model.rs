//! Domain types shared by the service layer and the Store implementations.
//!
//! Everything here is what the database holds: user content only ever appears as ciphertext
//! (`*_ct` fields), secrets only as hashes (`*_hash`, `*_mac`).

use serde::{Deserialize, Serialize};

/// A point in time: milliseconds since the Unix epoch (UTC). Stored as a 64-bit integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Ts(pub i64);

impl Ts {
    /// The current time.
    pub fn now() -> Self {
        let now = time::OffsetDateTime::now_utc();
        Ts((now.unix_timestamp_nanos() / 1_000_000) as i64)
    }
    /// This time plus a number of seconds.
    pub fn plus_secs(self, secs: i64) -> Self {
        Ts(self.0.saturating_add(secs.saturating_mul(1000)))
    }
    /// This time plus a number of milliseconds.
    pub fn plus_millis(self, ms: i64) -> Self {
        Ts(self.0.saturating_add(ms))
    }
    /// Whole seconds from `self` until `later`, rounded up, at least 0.
    pub fn secs_until(self, later: Ts) -> u64 {
        let ms = later.0.saturating_sub(self.0).max(0);
        (ms as u64).div_ceil(1000)
    }
    /// The time as an `OffsetDateTime` in UTC.
    pub fn to_datetime(self) -> time::OffsetDateTime {
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
    }
    /// RFC 3339, e.g. `2026-11-23T09:25:30.123Z`.
    pub fn to_rfc3339(self) -> String {
        self.to_datetime()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    }
}

/// A language recipients can read Zegel in.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Lang {
    /// Dutch, the default.
    #[default]
    Nl,
    /// English.
    En,
}

impl Lang {
    /// Every supported language.
    pub const ALL: [Lang; 2] = [Lang::Nl, Lang::En];

    /// The BCP 47 tag: `nl` or `en`.
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Nl => "nl",
            Lang::En => "en",
        }
    }

    /// `nl` or `en` (case-insensitive, surrounding whitespace ignored); anything else `None`.
    pub fn parse(s: &str) -> Option<Lang> {
        match s.trim().to_ascii_lowercase().as_str() {
            "nl" => Some(Lang::Nl),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// A stored language (`RecipientRow.language`): unknown or empty values fall back to Dutch.
    pub fn from_stored(s: &str) -> Lang {
        Lang::parse(s).unwrap_or_default()
    }

    /// The other language (for the language switch).
    pub fn other(self) -> Lang {
        match self {
            Lang::Nl => Lang::En,
            Lang::En => Lang::Nl,
        }
    }

    /// The decimal separator for numbers such as `1,5 MB`.
    pub fn decimal_separator(self) -> char {
        match self {
            Lang::Nl => ',',
            Lang::En => '.',
        }
    }
}

/// Defines an enum whose values are stored as fixed strings, with `as_str` (the stored and JSON
/// form) and `parse`, which answers `None` for a value of unknown meaning: a row mapper turns
/// that into an error instead of guessing.
macro_rules! stored_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )*
        }
    ) => {
        $(#[$meta])*
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The stored form (also the JSON form).
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )*
                }
            }

            /// Parses the stored form; `None` for anything else.
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $( $text => Some($name::$variant), )*
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

stored_enum! {
    /// How a recipient proves who they are.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum Verification {
        /// A code by SMS to the recipient's phone.
        Sms = "sms",
        /// A code by e-mail to the recipient's address.
        Email = "email",
        /// A code the sender gave by phone or letter.
        Code = "code",
    }
}

/// How strongly a verified visit proves that the visitor is the recipient, ordered weakest
/// first (see [`Verification::strength`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VerificationStrength {
    /// Control of the mailbox the link went to: the code comes through the same channel as
    /// the link, so whoever reads that mailbox has both.
    Mailbox,
    /// A second channel besides the mailbox: a phone that receives SMS, or a code the sender
    /// handed over by phone or letter.
    OutOfBand,
}

impl Verification {
    /// The one place that orders verification methods: `email` < `sms` = `code`.
    ///
    /// An e-mail code proves only control of the mailbox that also received the link, so it
    /// adds no second factor. An SMS code proves possession of the recipient's phone, and a
    /// code the sender gave by phone or letter was handed over out of band as well; neither
    /// can be had from the mailbox alone, so they rank the same. A recipient session (and a
    /// remembered device, which opens a session for the recipient it was remembered for) sees
    /// in its conversation only the messages whose recipient was verified at least this
    /// strongly: a message sent with SMS verification stays hidden from a visit that only
    /// proved the mailbox.
    pub fn strength(self) -> VerificationStrength {
        match self {
            Verification::Email => VerificationStrength::Mailbox,
            Verification::Sms | Verification::Code => VerificationStrength::OutOfBand,
        }
    }
}

stored_enum! {
    /// Who may reply, and how often.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
    #[serde(rename_all = "lowercase")]
    pub enum ReplyPolicy {
        /// One reply per recipient.
        #[default]
        Once = "once",
        /// Any number of replies.
        Unlimited = "unlimited",
        /// No replies.
        Off = "off",
    }
}

stored_enum! {
    /// A recipient's delivery / access status (DESIGN.md contract strings).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum RecipientStatus {
        /// Notification not sent yet.
        Queued = "queued",
        /// Notification handed to the mail relay / outbox.
        Notified = "notified",
        /// Notification failed permanently.
        Failed = "failed",
        /// The whole message went directly to the recipient's own secure-mail provider (NTA
        /// 7516), not as a portal notification. Stored as `notified` with `direct_at` set;
        /// readers derive this status.
        Delivered = "delivered",
        /// The recipient verified and opened the message.
        Opened = "opened",
        /// The recipient replied.
        Replied = "replied",
        /// The sender revoked the message.
        Revoked = "revoked",
        /// The message expired.
        Expired = "expired",
    }
}

stored_enum! {
    /// What a message row is.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum MessageKind {
        /// Written by a sender (care worker) to recipients.
        Message = "message",
        /// Written by a recipient to the sender of the message it answers; it has no recipient
        /// rows, its `sender_id` is the addressee.
        Reply = "reply",
    }
}

stored_enum! {
    /// A message's lifecycle state.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum MessageState {
        /// Readable by its recipients.
        Active = "active",
        /// Revoked by the sender; key destroyed.
        Revoked = "revoked",
        /// Past its expiry; key destroyed.
        Expired = "expired",
    }
}

stored_enum! {
    /// What an account may do.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum Role {
        /// A care worker who sends messages.
        Sender = "sender",
        /// A sender who also sets the organisation's policy and manages its devices.
        Admin = "admin",
    }
}

stored_enum! {
    /// What an event records (NEN 7513). CONTRACT: the stored strings are the `type` of the
    /// sender API's events.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum EventKind {
        /// The message was sent to this recipient (or forwarded to them).
        Sent = "sent",
        /// The notification went out.
        Notified = "notified",
        /// A delivery attempt failed for now; it is retried.
        Deferred = "deferred",
        /// The notification failed for good.
        Failed = "failed",
        /// The whole message was delivered directly to the recipient's provider (NTA 7516;
        /// `detail`: the provider and the host that took it).
        DeliveredDirect = "delivered_direct",
        /// Direct delivery (NTA 7516) did not work; a portal notification goes instead
        /// (`detail`: why).
        DirectFailed = "direct_failed",
        /// Mail from another provider (NTA 7516) was received for a user (on the received
        /// message; `detail`: the sending address).
        MailReceived = "mail_received",
        /// The recipient asked for a code.
        CodeRequested = "code_requested",
        /// The code went out.
        CodeSent = "code_sent",
        /// The code could not be delivered.
        CodeFailed = "code_failed",
        /// A wrong code was tried.
        CodeWrong = "code_wrong",
        /// Too many wrong codes: locked.
        Locked = "locked",
        /// Too many wrong codes in total: blocked until the sender unblocks.
        Blocked = "blocked",
        /// The sender reset the recipient's wrong-code counters, lockout and block.
        Unblocked = "unblocked",
        /// The recipient verified and opened the message.
        Opened = "opened",
        /// The message text was shown.
        Viewed = "viewed",
        /// An attachment was downloaded.
        Downloaded = "downloaded",
        /// The recipient downloaded the conversation as `.eml`.
        Exported = "exported",
        /// The recipient replied.
        Replied = "replied",
        /// The sender was told about a reply.
        ReplyNotified = "reply_notified",
        /// The sender read a reply.
        ReplyRead = "reply_read",
        /// The sender downloaded a reply's attachment.
        ReplyDownloaded = "reply_downloaded",
        /// The recipient forwarded the message.
        Forwarded = "forwarded",
        /// The recipient's browser was remembered.
        DeviceRemembered = "device_remembered",
        /// A remembered browser was revoked.
        DeviceRevoked = "device_revoked",
        /// The sender sent the recipient a new link (the old one stopped working).
        LinkRenewed = "link_renewed",
        /// The sender extended the message's availability (`detail`: the new expiry).
        Extended = "extended",
        /// The sender revoked the message.
        Revoked = "revoked",
        /// The message expired.
        Expired = "expired",
        /// The sender downloaded a signed receipt (`detail`: the signing key's id).
        ReceiptIssued = "receipt_issued",
        /// The sender opened the message's decrypted content (subject, body) in the web app
        /// or the API's conversation; recorded for each recipient (the patient concerned).
        SenderViewed = "sender_viewed",
    }
}

stored_enum! {
    /// What a queued job does; the stored `kind` of its row.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum JobKind {
        /// Send a recipient the notification with their link.
        NotifyRecipient = "notify_recipient",
        /// Send a recipient a one-time code.
        SendCode = "send_code",
        /// Tell a sender a reply arrived.
        NotifySender = "notify_sender",
        /// Tell a sender a recipient opened the message (read receipt).
        ReadReceipt = "read_receipt",
        /// Tell a sender by mail (RFC 3464) that a recipient could not be notified.
        DeliveryReport = "delivery_report",
    }
}

impl From<MessageState> for EventKind {
    /// The event of a destroyed message's recipients.
    fn from(s: MessageState) -> Self {
        match s {
            MessageState::Revoked => EventKind::Revoked,
            MessageState::Expired | MessageState::Active => EventKind::Expired,
        }
    }
}

/// An organisation (hospital, practice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organisation {
    /// Id (UUID text).
    pub id: String,
    /// Unique short name, e.g. `default`.
    pub slug: String,
    /// Display name, e.g. "Ziekenhuis Zuid".
    pub name: String,
    /// The key id of the organisation key used for new messages.
    pub active_kek_id: String,
    /// Created at.
    pub created_at: Ts,
}

/// An organisation key, wrapped by the master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgKey {
    /// Key id (`kek_...`).
    pub id: String,
    /// Owning organisation.
    pub org_id: String,
    /// `MasterKey::wrap_kek` output.
    pub wrapped: Vec<u8>,
    /// Created at.
    pub created_at: Ts,
}

/// A sender (care worker) or admin account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Id (UUID text).
    pub id: String,
    /// Organisation.
    pub org_id: String,
    /// Login e-mail, lower-cased, unique.
    pub email: String,
    /// Display name shown to recipients.
    pub name: String,
    /// Argon2id PHC string, when a password is set.
    pub password_hash: Option<String>,
    /// What the account may do.
    pub role: Role,
    /// Created at.
    pub created_at: Ts,
}

/// Who an API request acts as: the token's user with its organisation and that
/// organisation's policy, read together in one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's owner.
    pub user: User,
    /// The owner's organisation.
    pub org: Organisation,
    /// The organisation's policy.
    pub policy: OrgPolicy,
}

/// A new API token row (only the hash of the token is stored).
#[derive(Debug, Clone)]
pub struct NewApiToken {
    /// Id (UUID text).
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// SHA-256 of the presented token.
    pub token_hash: [u8; 32],
    /// Free label, e.g. "cli".
    pub label: String,
    /// Created at.
    pub created_at: Ts,
    /// The client that asked for it (web), for its audit entry; `None` from the CLI.
    pub ip: Option<String>,
    /// Its user agent (truncated).
    pub user_agent: Option<String>,
}

/// A message as stored. Subject and body are ciphertext under the message key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRow {
    /// Id (UUID v7 text).
    pub id: String,
    /// Organisation.
    pub org_id: String,
    /// Sender (user id).
    pub sender_id: String,
    /// Encrypted subject (object id `<message id>/subject`); `None` once destroyed.
    pub subject_ct: Option<Vec<u8>>,
    /// Encrypted body (object id `<message id>/body`); `None` once destroyed.
    pub body_ct: Option<Vec<u8>>,
    /// Content algorithm, `zegel_crypto::ALG_STREAM`.
    pub alg: String,
    /// Reply policy.
    pub reply_policy: ReplyPolicy,
    /// Lifecycle state.
    pub state: MessageState,
    /// Created (sent) at.
    pub created_at: Ts,
    /// Expires at.
    pub expires_at: Ts,
    /// Revoked or expired at.
    pub destroyed_at: Option<Ts>,
    /// A message from a sender, or a recipient's reply.
    pub kind: MessageKind,
    /// The conversation: the id of its first message (a new conversation: this message's id).
    pub thread_id: String,
    /// For a reply: the message it answers.
    pub parent_id: Option<String>,
    /// For a reply: the recipient (of `parent_id`) who wrote it. Its addressee is `sender_id`.
    pub from_recipient_id: Option<String>,
    /// For mail received from another provider (NTA 7516): the sender's address.
    pub from_address: Option<String>,
    /// For such mail: the sender's domain vouched for it (aligned DKIM pass).
    pub from_verified: bool,
    /// HTML body ciphertext (object id `<message id>/html`), when the mail had one; `None`
    /// after destruction.
    pub html_ct: Option<Vec<u8>>,
    /// For a reply: when the addressee first read it.
    pub read_at: Option<Ts>,
}

/// The wrapped message key. Deleting this row is crypto-shredding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageKey {
    /// Message.
    pub message_id: String,
    /// The organisation key that wraps it.
    pub kek_id: String,
    /// `Kek::wrap_dek` output (AAD = message id).
    pub wrapped_dek: Vec<u8>,
}

/// A recipient of a message, with its access state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientRow {
    /// Id (UUID text).
    pub id: String,
    /// Message.
    pub message_id: String,
    /// E-mail address (lower-cased).
    pub email: String,
    /// Phone in E.164, for SMS.
    pub phone: Option<String>,
    /// Verification method.
    pub verification: Verification,
    /// Encrypted code hint (object id `<message id>/hint/<recipient id>`).
    pub code_hint_ct: Option<Vec<u8>>,
    /// SHA-256 of the link token.
    pub link_hash: Vec<u8>,
    /// Status.
    pub status: RecipientStatus,
    /// Server's reason for `failed`.
    pub failed_reason: Option<String>,
    /// HMAC of the current code (one-time for sms/email; the sender's fixed code for `code`).
    pub code_mac: Option<Vec<u8>>,
    /// When the current code stops being valid (`None` for the sender's fixed code).
    pub code_expires_at: Option<Ts>,
    /// Wrong tries since the last success or the end of the last lockout.
    pub failed_attempts: i64,
    /// Locked until (inclusive of now => locked).
    pub locked_until: Option<Ts>,
    /// Wrong tries since the last success or unblock (the end of a lockout does not reset it).
    pub wrong_total: i64,
    /// Blocked (too many wrong tries in total) since; until the sender unblocks.
    pub blocked_at: Option<Ts>,
    /// Language for notifications.
    pub language: Lang,
    /// First notification handed over at.
    pub notified_at: Option<Ts>,
    /// Created at.
    pub created_at: Ts,
    /// For a recipient added by a forward: the recipient who forwarded.
    pub forwarded_by: Option<String>,
    /// The forwarder's note (object id `<message id>/note/<recipient id>`).
    pub note_ct: Option<Vec<u8>>,
}

/// An attachment as stored; its name and content type are ciphertext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentRow {
    /// Id (UUID text); also the object id of its content.
    pub id: String,
    /// Message.
    pub message_id: String,
    /// Position in the message (0-based).
    pub position: i64,
    /// Blob key in the blob store.
    pub blob_key: String,
    /// Encrypted JSON `{"name","content_type"}` (object id `<attachment id>/meta`).
    pub meta_ct: Option<Vec<u8>>,
    /// Plaintext size in bytes.
    pub size: i64,
    /// Content algorithm.
    pub alg: String,
    /// Created at.
    pub created_at: Ts,
}

/// A new message with everything that commits with it in one transaction.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// The message row.
    pub message: MessageRow,
    /// Its wrapped key.
    pub key: MessageKey,
    /// Recipients.
    pub recipients: Vec<RecipientRow>,
    /// Attachments (blobs already written).
    pub attachments: Vec<AttachmentRow>,
    /// Events to record (e.g. `created`).
    pub events: Vec<NewEvent>,
    /// Jobs (notifications) to enqueue.
    pub jobs: Vec<NewJob>,
    /// Read receipt, hold and address book (issue 13).
    pub sending: SendOptions,
}

/// An audit event (NEN 7513): what, when, who, from where. Never content, codes, tokens or
/// file names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// Message the event is about.
    pub message_id: String,
    /// Recipient the event is about, if any.
    pub recipient_id: Option<String>,
    /// What happened.
    pub kind: EventKind,
    /// When.
    pub at: Ts,
    /// Who: `sender:<user id>`, `recipient:<recipient id>`, `system`.
    pub actor: String,
    /// Client IP address, when from a request.
    pub ip: Option<String>,
    /// Client user agent, when from a request (truncated).
    pub user_agent: Option<String>,
    /// Extra detail (e.g. an SMTP reply; never user content).
    pub detail: Option<String>,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Sequence number.
    pub id: i64,
    /// The event.
    pub event: NewEvent,
}

/// A recipient session (after a verified code). Only the token hash is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// SHA-256 of the session token.
    pub token_hash: Vec<u8>,
    /// Recipient it is bound to.
    pub recipient_id: String,
    /// Created at.
    pub created_at: Ts,
    /// Expires at.
    pub expires_at: Ts,
}

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// What the job does.
    pub kind: JobKind,
    /// JSON payload (secrets inside are sealed, never plain).
    pub payload: String,
    /// Not before.
    pub run_at: Ts,
    /// Attempts after which the job is dead.
    pub max_attempts: i64,
}

/// A claimed job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Id (sequence).
    pub id: i64,
    /// The stored kind (parsed by the worker, which gives up loudly on an unknown one).
    pub kind: String,
    /// JSON payload.
    pub payload: String,
    /// Attempts so far, including the current one.
    pub attempts: i64,
    /// Attempts after which the job is dead.
    pub max_attempts: i64,
    /// Created at.
    pub created_at: Ts,
}

/// Everything the recipient pages need about a link, in one lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientAccess {
    /// The recipient.
    pub recipient: RecipientRow,
    /// The message.
    pub message: MessageRow,
    /// The sender's display name.
    pub sender_name: String,
    /// The organisation's display name.
    pub org_name: String,
    /// Whether the organisation has a logo (at `/logo/{org_id}`).
    pub org_has_logo: bool,
}

/// A blob that must be deleted (its message was destroyed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobToDelete {
    /// Attachment id.
    pub attachment_id: String,
    /// Blob key.
    pub blob_key: String,
}

/// An organisation's rules for its recipients' pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgPolicy {
    /// The reply policy of a message whose sender does not choose one.
    pub reply_default: ReplyPolicy,
    /// Senders may not choose another reply policy than `reply_default`.
    pub reply_locked: bool,
    /// Recipients may forward messages securely.
    pub forward_allowed: bool,
    /// "Remember this device" for this many days; 0 = a code on every visit.
    pub device_days: i64,
    /// Public contact line for the recipient pages (e.g. "Polikliniek, 010 123 45 67").
    pub contact: Option<String>,
    /// Whether a logo is set (read only; `Store::set_org_logo` sets it).
    pub has_logo: bool,
    /// SMS codes the organisation sends per day (UTC) at most; 0: none.
    pub sms_per_day: i64,
    /// Countries (ISO 3166 alpha-2, upper case) whose phone numbers may get an SMS code.
    pub sms_countries: Vec<String>,
    /// Days a new message stays available when its sender chooses nothing; `None`: the
    /// installation's default (`ZEGEL_DEFAULT_EXPIRY_DAYS`).
    pub default_availability_days: Option<i64>,
    /// The longest availability a sender may choose (or extend to), counted from the
    /// sending; `None`: the installation's maximum (`ZEGEL_MAX_EXPIRY_DAYS`).
    pub max_availability_days: Option<i64>,
}

/// The default [`OrgPolicy::sms_per_day`].
pub const DEFAULT_SMS_PER_DAY: i64 = 1000;
/// The default [`OrgPolicy::sms_countries`].
pub const DEFAULT_SMS_COUNTRIES: [&str; 3] = ["NL", "BE", "DE"];

impl Default for OrgPolicy {
    fn default() -> Self {
        Self {
            reply_default: ReplyPolicy::Once,
            reply_locked: false,
            forward_allowed: true,
            device_days: 0,
            contact: None,
            has_logo: false,
            sms_per_day: DEFAULT_SMS_PER_DAY,
            sms_countries: DEFAULT_SMS_COUNTRIES.map(String::from).to_vec(),
            default_availability_days: None,
            max_availability_days: None,
        }
    }
}

/// A remembered device: a revocable credential bound to one recipient. Only the hash of the
/// cookie's token is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRow {
    /// Id (UUID text).
    pub id: String,
    /// The recipient it opens.
    pub recipient_id: String,
    /// SHA-256 of the device token.
    pub token_hash: Vec<u8>,
    /// The browser that was remembered (truncated user agent).
    pub user_agent: Option<String>,
    /// Created at.
    pub created_at: Ts,
    /// Expires at.
    pub expires_at: Ts,
    /// Last used at.
    pub last_used_at: Option<Ts>,
    /// Revoked at (by the sender, an admin or the recipient).
    pub revoked_at: Option<Ts>,
}

/// A recipient's reply, with everything that commits with it in one transaction.
#[derive(Debug, Clone)]
pub struct NewReply {
    /// The reply (kind `Reply`, `parent_id` and `from_recipient_id` set).
    pub message: MessageRow,
    /// Its wrapped key.
    pub key: MessageKey,
    /// Attachments (blobs already written).
    pub attachments: Vec<AttachmentRow>,
    /// Refuse when this recipient has replied before (policy `once`).
    pub once: bool,
    /// The `replied` event on the parent message.
    pub event: NewEvent,
    /// The addressee's notification.
    pub job: NewJob,
}

/// What became of a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyOutcome {
    /// Stored; the recipient's status is `replied`.
    Stored,
    /// Policy `once` and the recipient has replied before; nothing stored.
    AlreadyReplied,
    /// The parent message is no longer active; nothing stored.
    NotActive,
}

/// A recipient added by a forward, with its events and notification.
#[derive(Debug, Clone)]
pub struct NewForward {
    /// The new recipient (`forwarded_by` set).
    pub recipient: RecipientRow,
    /// `forwarded` on the forwarder, `sent` on the new recipient.
    pub events: Vec<NewEvent>,
    /// The new recipient's notification.
    pub job: NewJob,
    /// Refuse when the message has this many recipients already (forwards included).
    pub max_recipients: i64,
}

/// What became of a forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardOutcome {
    /// Stored with its events and notification.
    Stored,
    /// The message is no longer active; nothing stored.
    NotActive,
    /// The address already has the message; nothing stored.
    Duplicate,
    /// The message has `max_recipients` recipients already; nothing stored.
    Full,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_email_code_is_weaker_than_sms_and_a_senders_code() {
        use Verification::*;
        assert!(Email.strength() < Sms.strength());
        assert!(Email.strength() < Code.strength());
        assert_eq!(Sms.strength(), Code.strength());
    }

    /// The JSON form of every stored enum is its stored form, and `parse` reads it back.
    fn roundtrips<T>(all: &[T], as_str: fn(T) -> &'static str, parse: fn(&str) -> Option<T>)
    where
        T: Copy + PartialEq + std::fmt::Debug + Serialize,
    {
        for &v in all {
            let json = serde_json::to_value(v).expect("serialise");
            assert_eq!(json, serde_json::Value::from(as_str(v)), "{v:?}");
            assert_eq!(parse(as_str(v)), Some(v));
        }
    }

    #[test]
    fn stored_enums_roundtrip_and_refuse_unknown_values() {
        roundtrips(Verification::ALL, Verification::as_str, Verification::parse);
        roundtrips(ReplyPolicy::ALL, ReplyPolicy::as_str, ReplyPolicy::parse);
        roundtrips(
            RecipientStatus::ALL,
            RecipientStatus::as_str,
            RecipientStatus::parse,
        );
        roundtrips(MessageKind::ALL, MessageKind::as_str, MessageKind::parse);
        roundtrips(MessageState::ALL, MessageState::as_str, MessageState::parse);
        roundtrips(Role::ALL, Role::as_str, Role::parse);
        roundtrips(EventKind::ALL, EventKind::as_str, EventKind::parse);
        roundtrips(JobKind::ALL, JobKind::as_str, JobKind::parse);
        // An unknown stored value is never guessed into a known one.
        assert_eq!(RecipientStatus::parse("bounced"), None);
        assert_eq!(RecipientStatus::parse(""), None);
        assert_eq!(MessageState::parse("archived"), None);
        assert_eq!(EventKind::parse("Opened"), None);
        assert_eq!(JobKind::parse("send_fax"), None);
    }
}

mod sending;
pub use sending::*;

//! The service layer: every use case of Zegel, called by the API and the viewer alike.

// Layers (a module imports only from layers below it; no cycles among siblings):
//   leaves:   objects (stored names, CONTRACT), payloads (job payloads, CONTRACT), events,
//             validate, file_names (attachment names), notify (mail texts)
//   reading:  content (keys, decryption, attachment streams)
//   writing:  drafts (streamed uploads), policy
//   use cases: access (link, code, session, what the page offers), messages (send),
//             status (the sender's view, revoke), replies, forwards, thread, inbox, devices,
//             export, admin, sweeper, jobs (the worker), sessions (the sender web app's),
//             inspection (the patient's view of who accessed their message), submission
//             (mail submitted over SMTP)
mod access;
mod admin;
mod audit_trail;
pub mod checks;
mod compose;
mod content;
mod devices;
mod direct;
mod domains;
mod drafts;
mod dsn;
mod events;
mod export;
mod file_names;
mod forwards;
mod inbox;
mod inspection;
mod jobs;
mod key_rotation;
mod messages;
mod notify;
mod objects;
mod passkeys;
mod payloads;
mod policy;
mod receipts;
mod receive;
mod replies;
mod sessions;
mod signin;
mod status;
mod submission;
mod sweeper;
mod thread;
mod totp;
mod tracking;
mod validate;

pub use access::{
    Challenge, LinkInfo, LinkState, MessageView, Permissions, RecipientSession, ReplyRefusal,
    SenderView, SessionGrant,
};
pub use admin::{DemoSetup, NewUserReq, API_TOKEN_PREFIX, DEFAULT_ORG_SLUG};
pub use checks::SendWarning;
pub use compose::{
    recipient_problems, FieldProblem, HeldView, RecipientField, RecipientProblem,
    RememberedAddress, HOLD_MS,
};
pub use content::AttachmentView;
pub use drafts::Uploads;
pub use file_names::{file_name, UNNAMED};
pub use forwards::{ForwardCreated, ForwardReq};
pub use inbox::{InboxItem, InboxKind, PartyView, ReplyView};
pub use inspection::{AccessEntry, AccessLog, Accessor, MAX_ACCESS_ENTRIES};
pub use jobs::Worker;
pub use key_rotation::{
    MasterKeyRotation, OrgKeyRotation, RotateOptions, RotationError, RotationProgress,
    DEFAULT_ROTATION_BATCH,
};
pub use messages::{
    MessageCreated, MessageDraft, NewMessageReq, NewRecipientReq, RecipientCreated,
};
pub use passkeys::MAX_PASSKEY_NAME;
pub use policy::{Availability, PolicyDoc, MAX_AVAILABILITY_DAYS, MAX_DEVICE_DAYS};
pub use receipts::{
    verify_receipt, Receipt, ReceiptAttachment, ReceiptContent, ReceiptError, ReceiptOrganisation,
    ReceiptRecipient, ReceiptSender, SignedReceipt, TrustedKey, VerifiedReceipt, RECEIPT_TYPE,
};
pub use replies::{ReplyCreated, ReplyDraft};
pub use sessions::{SenderSession, SENDER_SESSION_LIMITS};
pub use signin::{
    check_password, AccountError, PasswordOutcome, SetupInfo, WeakPassword, ADDRESS_MAX_FAILURES,
    MAX_SIGN_IN_FAILURES, SETUP_LINK_SECS, SIGN_IN_LOCK_SECS,
};
pub use status::{DeviceView, EventView, MessageStatus, RecipientStatusView};
pub use submission::{strip_secure_tag, MailRefused, SmtpCredentialCreated, SMTP_USER_PREFIX};
pub use sweeper::SWEEP_INTERVAL;
pub use thread::{ThreadItem, ThreadView};
pub use totp::{TotpSetup, TOTP_STEP_SECS};
pub use tracking::{SentPage, TimelineEvent, TrackedMessage, TrackedRecipientView};
pub use validate::{mask_email, mask_phone, mobile_phone, normalise_phone};

use crate::blobs::Blobs;
use crate::keys::KeyRing;
use crate::outbound::{Mailer, SmsSender};
use crate::store::DynStore;
use std::sync::Arc;
use tokio::sync::Notify;

/// Policy and limits of a running Zegel (from configuration).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Base URL for links in notifications, e.g. `https://zegel.example.nl` (no trailing slash).
    pub public_url: String,
    /// Max bytes of one upload request (all attachments together).
    pub max_upload_bytes: u64,
    /// Max body text bytes.
    pub max_body_bytes: usize,
    /// Max recipients per message.
    pub max_recipients: usize,
    /// Max attachments per message.
    pub max_attachments: usize,
    /// Max attachments per recipient reply.
    pub max_reply_attachments: usize,
    /// Default availability in days of an organisation that set none
    /// ([`OrgPolicy::default_availability_days`](crate::model::OrgPolicy)).
    pub default_expiry_days: i64,
    /// Longest availability in days of an organisation that set none
    /// ([`OrgPolicy::max_availability_days`](crate::model::OrgPolicy)).
    pub max_expiry_days: i64,
    /// Code validity in seconds (15 minutes).
    pub code_ttl_secs: i64,
    /// Wrong tries before a lockout.
    pub max_code_attempts: i64,
    /// The first, second, ... lockout in seconds; the last repeats (15 min, 1 h, 4 h, 24 h).
    pub lockout_steps_secs: Vec<i64>,
    /// Wrong tries in total (since the last right code) that block the recipient until the
    /// sender unblocks them (20; 0: never).
    pub max_wrong_total: i64,
    /// Codes sent per recipient per window at most (5) ...
    pub max_codes_per_window: i64,
    /// ... of this many seconds (15 minutes).
    pub code_window_secs: i64,
    /// Recipient session lifetime in seconds.
    pub session_ttl_secs: i64,
    /// Lease of a claimed job in milliseconds (a dead worker's job runs again after it).
    pub job_lease_ms: i64,
    /// Domain part for Message-IDs.
    pub mail_domain: String,
    /// Delay before the first retry of a failed delivery, in milliseconds (doubles up to 15
    /// minutes).
    pub retry_first_ms: i64,
    /// Attempts of a notification before it is `failed` (120 = at least 24 hours of retries).
    pub notify_max_attempts: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            public_url: "http://127.0.0.1:8080".into(),
            max_upload_bytes: 100 * 1024 * 1024,
            max_body_bytes: 1024 * 1024,
            max_recipients: 50,
            max_attachments: 20,
            max_reply_attachments: 10,
            default_expiry_days: 90,
            max_expiry_days: 90,
            code_ttl_secs: 15 * 60,
            max_code_attempts: 5,
            lockout_steps_secs: vec![15 * 60, 60 * 60, 4 * 3600, 24 * 3600],
            max_wrong_total: 20,
            max_codes_per_window: 5,
            code_window_secs: 15 * 60,
            session_ttl_secs: 30 * 60,
            job_lease_ms: 45_000,
            mail_domain: "zegel.localhost".into(),
            retry_first_ms: 30_000,
            notify_max_attempts: 120,
        }
    }
}

impl Settings {
    /// How wrong codes are counted and locked out.
    pub fn lockout_policy(&self) -> crate::codes::LockoutPolicy {
        crate::codes::LockoutPolicy {
            max_attempts: self.max_code_attempts,
            steps_ms: self
                .lockout_steps_secs
                .iter()
                .map(|s| s.saturating_mul(1000))
                .collect(),
            block_after: self.max_wrong_total,
        }
    }
}

/// The request context an event records (NEN 7513: who and from where).
#[derive(Debug, Clone, Default)]
pub struct ClientCtx {
    /// Client IP.
    pub ip: Option<String>,
    /// User agent (truncated to 200 characters).
    pub user_agent: Option<String>,
}

/// Everything the services need; share it as `Arc<Zegel>`.
pub struct Zegel {
    /// Persistence.
    pub store: DynStore,
    /// Ciphertext blobs.
    pub blobs: Blobs,
    /// Keys.
    pub keys: KeyRing,
    /// Outgoing e-mail.
    pub mailer: Arc<dyn Mailer>,
    /// Outgoing SMS.
    pub sms: Arc<dyn SmsSender>,
    /// NTA 7516 direct delivery to other providers (`ZEGEL_NTA7516=on`).
    pub direct: Option<Arc<crate::outbound::direct::Direct>>,
    /// DNS for mail between providers: NTA 7516 records, DKIM of mail received from one.
    pub mail_dns: Option<Arc<crate::mail_dns::MailDns>>,
    /// Policy.
    pub settings: Settings,
    /// Wakes the job worker after an enqueue.
    pub job_wakeup: Arc<Notify>,
    /// SMTP logins verified a short while ago ([`SMTP_LOGIN_TTL`]): a system that opens a
    /// session for each mail pays the Argon2id verification once, not each time.
    pub smtp_logins: Arc<zegel_crypto::VerifiedPasswords>,
}

/// How long a verified SMTP login is remembered (Dovecot's authentication cache keeps one an
/// hour by default).
pub const SMTP_LOGIN_TTL: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// How many verified SMTP logins are remembered at most.
pub const SMTP_LOGINS_KEPT: usize = 10_000;

/// The set of remembered SMTP logins a new [`Zegel`] starts with.
pub fn smtp_logins() -> Arc<zegel_crypto::VerifiedPasswords> {
    Arc::new(zegel_crypto::VerifiedPasswords::new(
        SMTP_LOGIN_TTL,
        SMTP_LOGINS_KEPT,
    ))
}

impl std::fmt::Debug for Zegel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Zegel")
            .field("backend", &self.store.backend())
            .field("blobs", &self.blobs)
            .finish_non_exhaustive()
    }
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

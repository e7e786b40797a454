//! The Store trait: one per database backend, each method one unit of work in its own
//! transaction (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: default isolation plus row locks).

use crate::audit::{AuditCheckpoint, AuditEntry, AuditFilter, AuditHead, SourceFinding};
#[cfg(doc)]
use crate::codes::LockoutPolicy;
use crate::codes::{CodeCheck, CodeRequest, CodeRequestOutcome, CodeVerdict, SmsUsage};
use crate::error::StoreResult;
use crate::mail_store::MailStore;
use crate::model::*;
use crate::signin::*;
use crate::signing::SigningStore;
use async_trait::async_trait;
use std::sync::Arc;

/// Everything a caller needs in scope to call store methods on a [`DynStore`]:
/// `use zegel_core::store::prelude::*;`.
pub mod prelude {
    pub use super::{
        AccessStore, AccountStore, AuditStore, ConversationStore, DeviceStore, DynStore, JobStore,
        KeyStore, MessageStore, MetaStore, PolicyStore, SenderSessionStore, SendingStore,
        SignInStore, Store, TrackingStore,
    };
    pub use crate::mail_store::MailStore;
    pub use crate::signing::SigningStore;
}

pub use crate::key_store::{
    KeyStore, MasterRotation, MasterRotationOutcome, RetireOutcome, Rewrapped, RotationStart,
};

/// A shared handle to the store.
pub type DynStore = Arc<dyn Store>;

/// `api_tokens.last_used_at` is kept to this resolution (one minute).
pub const LAST_USED_RESOLUTION_MS: i64 = 60_000;

/// One row of the sender's list ([`MessageStore::sent_page`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    /// The message, without its body ciphertext (`body_ct` is `None`).
    pub message: MessageRow,
    /// Its wrapped key; `None` once the message is destroyed.
    pub key: Option<MessageKey>,
    /// How many attachments it has (also after destruction: the rows stay).
    pub attachment_count: i64,
}

/// The persistence boundary of Zegel. Implementations: `zegel-store-sqlite`, `zegel-store-postgres`.
///
/// One trait per section below; `Store` is all of them (implemented for every type that
/// implements each section). Methods are called through the section traits, so callers of a
/// [`DynStore`] import [`prelude`].
pub trait Store:
    MetaStore
    + AccountStore
    + MessageStore
    + AccessStore
    + ConversationStore
    + PolicyStore
    + DeviceStore
    + JobStore
    + SenderSessionStore
    + SignInStore
    + SendingStore
    + TrackingStore
    + AuditStore
    + KeyStore
    + SigningStore
    + MailStore
{
}

impl<T> Store for T where
    T: MetaStore
        + AccountStore
        + MessageStore
        + AccessStore
        + ConversationStore
        + PolicyStore
        + DeviceStore
        + JobStore
        + SenderSessionStore
        + SignInStore
        + SendingStore
        + TrackingStore
        + AuditStore
        + KeyStore
        + SigningStore
        + MailStore
{
}

/// The server itself and its metadata (key-check value, sealed server keys).
#[async_trait]
pub trait MetaStore: Send + Sync + 'static {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// Runs the migrations (idempotent).
    async fn migrate(&self) -> StoreResult<()>;
    /// Cheap round trip for `/readyz`.
    async fn ping(&self) -> StoreResult<()>;
    /// Reads a metadata value.
    async fn meta_get(&self, key: &str) -> StoreResult<Option<Vec<u8>>>;
    /// Sets a value only when the key is absent; returns the value now stored (the given one
    /// or the one another process stored first).
    async fn meta_init(&self, key: &str, value: &[u8]) -> StoreResult<Vec<u8>>;
}

/// Organisations, their keys, users and API tokens.
#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// Creates an organisation and its first key in one transaction. Conflict on a taken slug.
    /// `key_check`: the key-check value of the master key that wrapped `key`; when the database
    /// holds another (the master key was rotated meanwhile) nothing is stored and the answer is
    /// [`StoreError::MasterKeyChanged`]. `None` only in tests that have no master key.
    async fn create_org(
        &self,
        org: &Organisation,
        key: &OrgKey,
        key_check: Option<&[u8]>,
    ) -> StoreResult<()>;
    /// By id.
    async fn org_by_id(&self, id: &str) -> StoreResult<Option<Organisation>>;
    /// By slug.
    async fn org_by_slug(&self, slug: &str) -> StoreResult<Option<Organisation>>;
    /// All, oldest first.
    async fn list_orgs(&self) -> StoreResult<Vec<Organisation>>;
    /// An organisation key by key id.
    async fn org_key(&self, kek_id: &str) -> StoreResult<Option<OrgKey>>;
    /// Creates a user. Conflict on a taken e-mail.
    async fn create_user(&self, user: &User) -> StoreResult<()>;
    /// By id.
    async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>>;
    /// By (lower-cased) e-mail.
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    /// Users of an organisation, oldest first.
    async fn list_users(&self, org_id: &str) -> StoreResult<Vec<User>>;
    /// Stores an API token hash.
    async fn create_api_token(&self, token: &NewApiToken) -> StoreResult<()>;
    /// The user owning a token hash, with the user's organisation and its policy, in one
    /// read. Records `last_used_at` when the stored one is older than
    /// [`LAST_USED_RESOLUTION_MS`] (so a busy token costs no write per request).
    async fn principal_by_token_hash(
        &self,
        hash: &[u8; 32],
        now: Ts,
    ) -> StoreResult<Option<Principal>>;
    /// Stores an SMTP credential and its account event (`smtp_credential_created`) in one
    /// transaction. Conflict on a taken user name.
    async fn create_smtp_credential(&self, c: &NewSmtpCredential) -> StoreResult<()>;
    /// The live (not revoked) credential with this user name, with its user, organisation
    /// and policy in one read. Records `last_used_at` as [`Self::principal_by_token_hash`]
    /// does (at most once per [`LAST_USED_RESOLUTION_MS`]).
    async fn smtp_login(&self, username: &str, now: Ts) -> StoreResult<Option<SmtpLogin>>;
    /// Revokes the live credential with this user name and records `smtp_credential_revoked`
    /// for its user, in one transaction; false when there is none.
    async fn revoke_smtp_credential(&self, username: &str, at: Ts) -> StoreResult<bool>;
}

/// Messages: the unit of work that stores one, reads of it, its destruction.
#[async_trait]
pub trait MessageStore: Send + Sync + 'static {
    /// Message, key, recipients, attachments, events and jobs in ONE transaction.
    async fn insert_message(&self, m: &NewMessage) -> StoreResult<()>;
    /// By id.
    async fn message_by_id(&self, id: &str) -> StoreResult<Option<MessageRow>>;
    /// The wrapped message key; `None` once destroyed.
    async fn message_key(&self, message_id: &str) -> StoreResult<Option<MessageKey>>;
    /// A sender's messages (kind `message`), newest first; `before` = created_at strictly
    /// before (paging).
    async fn list_messages(
        &self,
        sender_id: &str,
        before: Option<Ts>,
        limit: u32,
    ) -> StoreResult<Vec<MessageRow>>;
    /// One page of the sender's list in one query: what [`MessageStore::list_messages`]
    /// returns (same filter, order and paging), each message with its key (`None` once
    /// destroyed) and its number of attachments. The message's `body_ct` is not read (always
    /// `None`): a list shows no body.
    async fn sent_page(
        &self,
        sender_id: &str,
        before: Option<Ts>,
        limit: u32,
    ) -> StoreResult<Vec<SentMessage>>;
    /// Recipients of a message, in insertion order.
    async fn recipients_of(&self, message_id: &str) -> StoreResult<Vec<RecipientRow>>;
    /// Recipients of several messages in one query: grouped by message in the order of
    /// `message_ids`, each message's recipients in insertion order (as
    /// [`MessageStore::recipients_of`]). Unknown ids give nothing; an empty slice runs no query.
    async fn recipients_of_messages(
        &self,
        message_ids: &[String],
    ) -> StoreResult<Vec<RecipientRow>>;
    /// A recipient by id.
    async fn recipient_by_id(&self, id: &str) -> StoreResult<Option<RecipientRow>>;
    /// Attachments of a message, by position.
    async fn attachments_of(&self, message_id: &str) -> StoreResult<Vec<AttachmentRow>>;
    /// Events of a message, oldest first.
    async fn events_of(&self, message_id: &str) -> StoreResult<Vec<Event>>;
    /// Destroys a message (revoke or expire) in one transaction: deletes its key row, clears
    /// subject/body/hint/attachment-meta ciphertext and codes, deletes its sessions and pending
    /// jobs and remembered devices, sets the message state, sets every recipient's status to `revoked`/`expired`,
    /// records one event per recipient (`kind` = "revoked"/"expired") and queues its blobs for
    /// deletion. Its replies (kind `reply`, `parent_id` = this message; they quote its subject)
    /// are destroyed with it in the same transaction: keys, subject, body and attachment meta,
    /// state, pending jobs, blobs queued; one event per destroyed reply on this message, for
    /// the recipient who wrote it (`detail` = the reply's id). Returns false (and changes
    /// nothing) if the message was not active.
    async fn destroy_message(
        &self,
        message_id: &str,
        state: MessageState,
        at: Ts,
        actor: &str,
    ) -> StoreResult<bool>;
    /// [`Self::destroy_message`] with state `expired`, only while the message is due
    /// (`expires_at <= at`): an extension that committed after the sweeper listed the message
    /// wins, and the message stays. Returns false (and changes nothing) otherwise.
    async fn expire_message(&self, message_id: &str, at: Ts) -> StoreResult<bool>;
    /// Ids of active messages whose `expires_at <= now` (at most `limit`).
    async fn expired_message_ids(&self, now: Ts, limit: u32) -> StoreResult<Vec<String>>;
    /// Blobs of destroyed messages still to delete.
    async fn blobs_to_delete(&self, limit: u32) -> StoreResult<Vec<BlobToDelete>>;
    /// The blob is gone; forget it.
    async fn blob_deleted(&self, attachment_id: &str) -> StoreResult<()>;
}

/// Recipient access: link lookups, one-time codes, sessions and events.
#[async_trait]
pub trait AccessStore: Send + Sync + 'static {
    /// Everything about a link token hash, in one lookup (by hash: timing does not depend on
    /// whether the token exists beyond the index lookup).
    async fn access_by_link_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<RecipientAccess>>;
    /// Everything about a recipient id.
    async fn access_by_recipient(&self, recipient_id: &str)
        -> StoreResult<Option<RecipientAccess>>;
    /// As [`AccessStore::access_by_recipient`], but without the message's subject and body
    /// ciphertext (`None`): what a notification or a code delivery needs, read without
    /// fetching the body.
    async fn access_meta_by_recipient(
        &self,
        recipient_id: &str,
    ) -> StoreResult<Option<RecipientAccess>>;
    /// A new one-time code, in ONE transaction that holds the recipient's row: refused,
    /// changing nothing, while the recipient is blocked or locked at `now` (a lockout that has
    /// passed is cleared: a new round of tries, the total goes on), or when `max_per_window`
    /// events of `req.event`'s kind were recorded for the recipient in the last `window_ms`
    /// (then `retry_at` is when the oldest of them leaves the window). With an SMS budget,
    /// the organisation's count for the day goes up by one, or, when it has reached
    /// `per_day`, only its refusals do and the request is refused. Else: sets the code
    /// (replacing any previous one), enqueues the job and records the event.
    async fn set_code(&self, req: &CodeRequest<'_>) -> StoreResult<CodeRequestOutcome>;
    /// Decides one verification in ONE transaction that holds the recipient's row (SQLite:
    /// `BEGIN IMMEDIATE`; PostgreSQL: `SELECT ... FOR UPDATE`): reads the code and counters,
    /// applies [`LockoutPolicy::decide`] (the constant-time comparison, counting, lockouts,
    /// the block), stores the new counters, and, when accepted, the session and status
    /// `opened` (from queued/notified/failed); records each of the verdict's
    /// [`CodeVerdict::event_kinds`]. Concurrent checks are decided one after another.
    /// NotFound for an unknown recipient.
    async fn check_code(&self, check: &CodeCheck<'_>) -> StoreResult<CodeVerdict>;
    /// The sender's reset: wrong-try counters to 0, lockout and block lifted, `event`
    /// recorded. Returns false (nothing recorded) when there was nothing to reset.
    async fn unblock_recipient(&self, recipient_id: &str, event: &NewEvent) -> StoreResult<bool>;
    /// A session by token hash (expired ones are returned too; the caller checks).
    async fn session_by_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<SessionRow>>;
    /// Records an event; when `status` is given, the recipient's status is set to it, but only
    /// from `queued`/`notified`/`failed`/`opened` (never back out of revoked/expired/replied).
    async fn record_event(
        &self,
        event: &NewEvent,
        status: Option<RecipientStatus>,
    ) -> StoreResult<()>;
    /// Records several events in one transaction (all or none); an empty slice does nothing.
    async fn record_events(&self, events: &[NewEvent]) -> StoreResult<()>;
}

/// Conversations: replies, forwards, the sender's inbox.
#[async_trait]
pub trait ConversationStore: Send + Sync + 'static {
    /// Stores a reply in one transaction: refuses (changing nothing) when the parent message is
    /// not active, or when `once` and the recipient replied before; else inserts the reply, its
    /// key and attachments, the event and the job, and sets the recipient's status `replied`
    /// (from any status but revoked/expired).
    async fn insert_reply(&self, r: &NewReply) -> StoreResult<ReplyOutcome>;
    /// How many replies a recipient has written.
    async fn reply_count(&self, recipient_id: &str) -> StoreResult<i64>;
    /// Adds a forwarded recipient with its events and notification job in one transaction
    /// that holds the message's row, so concurrent forwards are decided one after another:
    /// refuses (nothing stored) when the message is not active, when the address has the
    /// message already (also guaranteed by a unique index on recipients' message and
    /// address), or when the message has `max_recipients` recipients.
    async fn insert_forward(&self, f: &NewForward) -> StoreResult<ForwardOutcome>;
    /// The messages and replies of a conversation, oldest first.
    async fn thread_messages(&self, thread_id: &str) -> StoreResult<Vec<MessageRow>>;
    /// Replies addressed to a sender, newest first (`before`: created_at strictly before).
    async fn inbox_replies(
        &self,
        user_id: &str,
        before: Option<Ts>,
        limit: u32,
    ) -> StoreResult<Vec<MessageRow>>;
    /// Forwarded recipients of a sender's messages, newest first.
    async fn inbox_forwards(
        &self,
        user_id: &str,
        before: Option<Ts>,
        limit: u32,
    ) -> StoreResult<Vec<RecipientRow>>;
    /// Sets `read_at` of a reply the first time its addressee reads it.
    async fn mark_read(&self, message_id: &str, at: Ts) -> StoreResult<()>;
}

/// Organisation policy and logo.
#[async_trait]
pub trait PolicyStore: Send + Sync + 'static {
    /// The organisation's policy (defaults when never set); `None` for an unknown organisation.
    async fn org_policy(&self, org_id: &str) -> StoreResult<Option<OrgPolicy>>;
    /// Replaces the policy and records `event` (kind `policy_changed`) in the same
    /// transaction. Returns false (nothing recorded) for an unknown organisation.
    async fn set_org_policy(
        &self,
        org_id: &str,
        p: &OrgPolicy,
        event: &AccountEvent,
    ) -> StoreResult<bool>;
    /// The logo (`bytes`, `content type`), if any.
    async fn org_logo(&self, org_id: &str) -> StoreResult<Option<(Vec<u8>, String)>>;
    /// Sets or removes the logo. Returns false for an unknown organisation.
    async fn set_org_logo(&self, org_id: &str, logo: Option<(&[u8], &str)>) -> StoreResult<bool>;
    /// Every organisation's SMS budget and its use on `day` ([`crate::codes::utc_day`]).
    async fn sms_usage(&self, day: i64) -> StoreResult<Vec<SmsUsage>>;
}

/// Remembered devices of recipients.
#[async_trait]
pub trait DeviceStore: Send + Sync + 'static {
    /// Stores a device credential and its event.
    async fn create_device(&self, d: &DeviceRow, event: &NewEvent) -> StoreResult<()>;
    /// A device by id.
    async fn device_by_id(&self, id: &str) -> StoreResult<Option<DeviceRow>>;
    /// Devices of all recipients of a message, oldest first.
    async fn devices_of_message(&self, message_id: &str) -> StoreResult<Vec<DeviceRow>>;
    /// Opens a session with a remembered device, atomically: only when a device with this
    /// token hash belongs to `session.recipient_id`, is not revoked, has not expired at `now`,
    /// and the recipient is neither locked nor blocked. Records `last_used_at`, the session, status `opened`
    /// (like `check_code`) and the event. Returns false and changes nothing otherwise.
    async fn accept_device(
        &self,
        token_hash: &[u8; 32],
        session: &SessionRow,
        event: &NewEvent,
        now: Ts,
    ) -> StoreResult<bool>;
    /// Revokes a device and records the event. Returns false when it was already revoked.
    async fn revoke_device(&self, id: &str, at: Ts, event: &NewEvent) -> StoreResult<bool>;
}

/// The durable job queue (transactional outbox).
#[async_trait]
pub trait JobStore: Send + Sync + 'static {
    /// Enqueues a job outside any other unit of work.
    async fn enqueue_job(&self, job: &NewJob) -> StoreResult<i64>;
    /// Atomically claims up to `max` due jobs (`run_at <= now`, not dead, lease free or
    /// expired): sets `locked_until = now + lease_ms`, increments `attempts`. PostgreSQL:
    /// `FOR UPDATE SKIP LOCKED`; SQLite: one `UPDATE ... RETURNING`.
    async fn claim_jobs(&self, now: Ts, lease_ms: i64, max: u32) -> StoreResult<Vec<Job>>;
    /// The job succeeded: delete it.
    async fn complete_job(&self, id: i64) -> StoreResult<()>;
    /// Try again at `run_at`; the lease is released; `error` is kept for operators.
    async fn retry_job(&self, id: i64, run_at: Ts, error: &str) -> StoreResult<()>;
    /// Gives up: marks the job dead with `error`.
    async fn kill_job(&self, id: i64, error: &str) -> StoreResult<()>;
    /// The notification went out: sets `notified_at` (first time only), status `notified` if
    /// still `queued`, records the event and, when `job` is given, deletes that job (it is
    /// done). One transaction.
    async fn mark_notified(
        &self,
        recipient_id: &str,
        event: &NewEvent,
        job: Option<i64>,
    ) -> StoreResult<()>;
    /// The notification failed permanently: status `failed` with `reason` + the event.
    async fn mark_failed(
        &self,
        recipient_id: &str,
        reason: &str,
        event: &NewEvent,
    ) -> StoreResult<()>;
    /// Counts `(pending, dead)` jobs.
    async fn job_counts(&self) -> StoreResult<(i64, i64)>;
}

/// Sender accounts: sign-in state, lockouts, the per-address throttle, second factors,
/// set-up links, account events (issue 13). Every write is one transaction; the ones that
/// take an [`AccountEvent`] record it in that transaction.
#[async_trait]
pub trait SignInStore: Send + Sync + 'static {
    /// A user by (lower-cased) e-mail with its sign-in state.
    async fn account_by_email(&self, email: &str) -> StoreResult<Option<Account>>;
    /// A user by id with its sign-in state.
    async fn account_by_id(&self, user_id: &str) -> StoreResult<Option<Account>>;
    /// A wrong password (or code) for a known user, in one transaction holding the user's
    /// row: while locked at `now` nothing changes (answers `Locked`); else the count goes up
    /// and records `event`; at `max_failures` the account is locked until `now + lock_ms`,
    /// the count starts again and a `locked` event is recorded too.
    async fn sign_in_failed(
        &self,
        user_id: &str,
        now: Ts,
        max_failures: i64,
        lock_ms: i64,
        event: &AccountEvent,
    ) -> StoreResult<FailureOutcome>;
    /// A successful sign-in: the failure count to 0, the lockout lifted, `event` recorded.
    async fn sign_in_succeeded(&self, user_id: &str, event: &AccountEvent) -> StoreResult<()>;
    /// Counts one failure of `address` (a client address or another throttle key) in a fixed
    /// window of `window_ms` (a new window starts when the old one is over); returns the
    /// failures in the current window, this one included.
    async fn throttle_note(&self, address: &str, now: Ts, window_ms: i64) -> StoreResult<i64>;
    /// When `address` has `max` or more failures in its current window: the window's end.
    async fn throttled_until(
        &self,
        address: &str,
        now: Ts,
        window_ms: i64,
        max: i64,
    ) -> StoreResult<Option<Ts>>;
    /// Forgets the failures of `address` (after a successful sign-in of a throttle key).
    async fn throttle_clear(&self, address: &str) -> StoreResult<()>;
    /// Sets the password hash (`None`: no password) and records `event`. False for an
    /// unknown user.
    async fn set_password_hash(
        &self,
        user_id: &str,
        hash: Option<&str>,
        event: &AccountEvent,
    ) -> StoreResult<bool>;
    /// Records an event outside another unit of work.
    async fn record_account_event(&self, event: &AccountEvent) -> StoreResult<()>;
    /// A user's events, oldest first.
    async fn account_events(&self, user_id: &str) -> StoreResult<Vec<StoredAccountEvent>>;

    /// The user's TOTP row (enrolled or being set up).
    async fn totp_of(&self, user_id: &str) -> StoreResult<Option<TotpRow>>;
    /// Starts setting up TOTP: stores the sealed secret, replacing one that is being set up.
    /// False (nothing changed) when TOTP is enrolled already.
    async fn totp_begin(&self, row: &TotpRow) -> StoreResult<bool>;
    /// Enrols the secret being set up once its first code (time step `step`) was right:
    /// `enabled_at`, `last_step` and `event`. False when nothing is being set up.
    async fn totp_enable(
        &self,
        user_id: &str,
        step: i64,
        event: &AccountEvent,
    ) -> StoreResult<bool>;
    /// Accepts time step `step` of the enrolled secret once: true (and stored as the last
    /// step) only when it is later than the last accepted step. Concurrent uses of one step:
    /// one wins.
    async fn totp_use_step(&self, user_id: &str, step: i64) -> StoreResult<bool>;
    /// Removes TOTP (enrolled or not) and records `event` when one was enrolled. False when
    /// there was none.
    async fn totp_remove(&self, user_id: &str, event: &AccountEvent) -> StoreResult<bool>;

    /// Stores a passkey and records `event`. Conflict on a known credential id.
    async fn passkey_add(&self, row: &PasskeyRow, event: &AccountEvent) -> StoreResult<()>;
    /// The user's passkeys, oldest first.
    async fn passkeys_of(&self, user_id: &str) -> StoreResult<Vec<PasskeyRow>>;
    /// A passkey by credential id.
    async fn passkey_by_credential(&self, credential_id: &[u8]) -> StoreResult<Option<PasskeyRow>>;
    /// After a sign-in with it: the updated passkey (counter) and `last_used_at`.
    async fn passkey_used(&self, id: &str, passkey: &str, at: Ts) -> StoreResult<()>;
    /// Removes the user's passkey `id` and records `event`. False when the user has no such
    /// passkey.
    async fn passkey_remove(
        &self,
        user_id: &str,
        id: &str,
        event: &AccountEvent,
    ) -> StoreResult<bool>;

    /// Stores a WebAuthn ceremony state (and deletes expired ones).
    async fn ceremony_put(&self, row: &CeremonyRow) -> StoreResult<()>;
    /// Takes (reads and deletes) a ceremony state; `None` when unknown or expired at `now`.
    async fn ceremony_take(
        &self,
        token_hash: &[u8; 32],
        now: Ts,
    ) -> StoreResult<Option<CeremonyRow>>;

    /// Stores a set-up link and records `event`.
    async fn setup_link_create(&self, row: &SetupLinkRow, event: &AccountEvent) -> StoreResult<()>;
    /// A set-up link by token hash (used and expired ones too; the caller decides).
    async fn setup_link(&self, token_hash: &[u8; 32]) -> StoreResult<Option<SetupLinkRow>>;
    /// Uses a set-up link: only when unused and not expired at `event.at`; then `used_at`
    /// and `event`, and the user's other unused links stop working. False otherwise.
    async fn setup_link_use(
        &self,
        token_hash: &[u8; 32],
        event: &AccountEvent,
    ) -> StoreResult<bool>;
    /// An administrator's reset, in one transaction: TOTP, passkeys, the password and unused
    /// set-up links removed, the lockout lifted, the new link stored, both events recorded.
    async fn reset_account(
        &self,
        user_id: &str,
        link: &SetupLinkRow,
        reset: &AccountEvent,
        issued: &AccountEvent,
    ) -> StoreResult<()>;

    /// Sets the organisation's second-factor policy. False for an unknown organisation.
    async fn set_second_factor_required(&self, org_id: &str, required: bool) -> StoreResult<bool>;
    /// The user's API tokens, newest first.
    async fn api_tokens_of(&self, user_id: &str) -> StoreResult<Vec<ApiTokenInfo>>;
    /// Revokes (deletes) the user's API token `id` and records `event`. False when the user
    /// has no such token.
    async fn api_token_revoke(
        &self,
        user_id: &str,
        id: &str,
        event: &AccountEvent,
    ) -> StoreResult<bool>;
}

/// A sender session's `last_seen_at` is kept to this resolution (one minute), so a busy
/// session costs no write per request.
pub const SESSION_SEEN_RESOLUTION_MS: i64 = 60_000;

/// How long a sender session lives: idle and absolute limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// Ends after this long without a request (ms).
    pub idle_ms: i64,
    /// Ends this long after sign-in, whatever happens (ms).
    pub max_ms: i64,
}

/// The sender web app's server-side sessions (cookie `zegel_sender`; only the SHA-256 of
/// the cookie value is stored).
#[async_trait]
pub trait SenderSessionStore: Send + Sync + 'static {
    /// Stores a new session for `user_id`, signed in at `now`.
    async fn create_sender_session(
        &self,
        token_hash: &[u8; 32],
        user_id: &str,
        now: Ts,
    ) -> StoreResult<()>;
    /// The signed-in user (with organisation and policy) of a live session, and when it
    /// started; `None` for an unknown session or one past `limits` at `now` (which is then
    /// deleted). Records `last_seen_at` when the stored one is older than
    /// [`SESSION_SEEN_RESOLUTION_MS`].
    async fn sender_session(
        &self,
        token_hash: &[u8; 32],
        now: Ts,
        limits: SessionLimits,
    ) -> StoreResult<Option<(Principal, Ts)>>;
    /// Ends one session. Returns whether it existed.
    async fn end_sender_session(&self, token_hash: &[u8; 32]) -> StoreResult<bool>;
    /// Ends every session of a user except `keep` (the one making the change, if any).
    /// Returns how many ended.
    async fn end_user_sender_sessions(
        &self,
        user_id: &str,
        keep: Option<&[u8; 32]>,
    ) -> StoreResult<u64>;
    /// Deletes every session past `limits` at `now`. Returns how many.
    async fn prune_sender_sessions(&self, now: Ts, limits: SessionLimits) -> StoreResult<u64>;
}

/// Sending from the browser (issue 13): the organisation's address book, held messages, read
/// receipts.
#[async_trait]
pub trait SendingStore: Send + Sync + 'static {
    /// The organisation's entries for these (lower-cased) addresses; unknown ones give nothing.
    async fn address_book(
        &self,
        org_id: &str,
        addresses: &[String],
    ) -> StoreResult<Vec<AddressEntry>>;
    /// The organisation's addresses, most recently used first (at most `limit`).
    async fn recent_addresses(&self, org_id: &str, limit: u32) -> StoreResult<Vec<String>>;
    /// A held message (stored with [`SendOptions::hold`], not yet released), whatever its
    /// state; `None` for an unknown or a released message.
    async fn held_message(&self, message_id: &str) -> StoreResult<Option<HeldMessage>>;
    /// Releases a held message in one transaction: only when it is held, active, not past its
    /// hold and `r.sender_id` sent it (else false, nothing changed). Its jobs become due at
    /// `r.now`, its expiry becomes `r.now` plus the held availability, it leaves the hold
    /// (so it is listed), the events are recorded and the address book is updated.
    async fn release_held(&self, r: &Release) -> StoreResult<bool>;
    /// Queues the read receipt of a recipient who opened a message that asked for one: in one
    /// transaction, only the first time (`receipt_queued_at` unset), only when the message
    /// has `read_receipt` and is active; enqueues `job` then and returns true.
    async fn queue_read_receipt(
        &self,
        recipient_id: &str,
        job: &NewJob,
        now: Ts,
    ) -> StoreResult<bool>;
}

/// What a sender sees as a recipient's status on the message page and filters the sent list
/// by: the stored [`RecipientStatus`], with `opened` split in two: `downloaded` once the
/// recipient downloaded an attachment (an event `downloaded`), else `opened`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ShownStatus {
    /// In de wachtrij.
    Queued,
    /// Verstuurd.
    Notified,
    /// Geopend.
    Opened,
    /// Gedownload.
    Downloaded,
    /// Beantwoord.
    Replied,
    /// Rechtstreeks afgeleverd (NTA 7516).
    Delivered,
    /// Mislukt.
    Failed,
    /// Ingetrokken.
    Revoked,
    /// Verlopen.
    Expired,
}

impl ShownStatus {
    /// Every value, in the order a form lists them.
    pub const ALL: [ShownStatus; 9] = [
        ShownStatus::Queued,
        ShownStatus::Notified,
        ShownStatus::Delivered,
        ShownStatus::Opened,
        ShownStatus::Downloaded,
        ShownStatus::Replied,
        ShownStatus::Failed,
        ShownStatus::Revoked,
        ShownStatus::Expired,
    ];

    /// The query-string and JSON form.
    pub fn as_str(self) -> &'static str {
        match self {
            ShownStatus::Queued => "queued",
            ShownStatus::Notified => "notified",
            ShownStatus::Delivered => "delivered",
            ShownStatus::Opened => "opened",
            ShownStatus::Downloaded => "downloaded",
            ShownStatus::Replied => "replied",
            ShownStatus::Failed => "failed",
            ShownStatus::Revoked => "revoked",
            ShownStatus::Expired => "expired",
        }
    }

    /// Parses [`ShownStatus::as_str`]; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The shown status of a recipient with stored `status` who did (not) download.
    pub fn of(status: RecipientStatus, downloaded: bool) -> Self {
        match status {
            RecipientStatus::Queued => ShownStatus::Queued,
            RecipientStatus::Notified => ShownStatus::Notified,
            RecipientStatus::Delivered => ShownStatus::Delivered,
            RecipientStatus::Opened if downloaded => ShownStatus::Downloaded,
            RecipientStatus::Opened => ShownStatus::Opened,
            RecipientStatus::Replied => ShownStatus::Replied,
            RecipientStatus::Failed => ShownStatus::Failed,
            RecipientStatus::Revoked => ShownStatus::Revoked,
            RecipientStatus::Expired => ShownStatus::Expired,
        }
    }

    /// The stored status behind it.
    pub fn stored(self) -> RecipientStatus {
        match self {
            ShownStatus::Queued => RecipientStatus::Queued,
            // Stored as `notified` with `direct_at` set.
            ShownStatus::Notified | ShownStatus::Delivered => RecipientStatus::Notified,
            ShownStatus::Opened | ShownStatus::Downloaded => RecipientStatus::Opened,
            ShownStatus::Replied => RecipientStatus::Replied,
            ShownStatus::Failed => RecipientStatus::Failed,
            ShownStatus::Revoked => RecipientStatus::Revoked,
            ShownStatus::Expired => RecipientStatus::Expired,
        }
    }
}

/// Which of a sender's messages a page of the sent list holds ([`TrackingStore::sent_page_filtered`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SentQuery {
    /// Only messages with a recipient of this address (lower-cased by the caller: stored
    /// addresses are lower case, so the match is case-insensitive).
    pub recipient: Option<String>,
    /// Only messages with a recipient in this status (the same recipient as `recipient` when
    /// both are given).
    pub status: Option<ShownStatus>,
    /// Keyset paging: only messages before this one in the list's order (newest first):
    /// `created_at` strictly before, or equal with a smaller id when the id is given.
    pub before: Option<(Ts, Option<String>)>,
    /// Keyset paging backwards: only messages after this one in the list's order (newer),
    /// the `limit` oldest of them, still returned newest first.
    pub after: Option<(Ts, String)>,
}

/// A recipient with whether they downloaded an attachment ([`TrackingStore::recipients_tracked`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedRecipient {
    /// The recipient.
    pub recipient: RecipientRow,
    /// An event `downloaded` is recorded for them.
    pub downloaded: bool,
}

/// Following sent messages: the filtered sent list, a recipient's new link, a longer life.
#[async_trait]
pub trait TrackingStore: Send + Sync + 'static {
    /// One page of the sender's list (kind `message`, newest first by `created_at`, then id),
    /// filtered by `q`, in one query: as [`MessageStore::sent_page`]. With `q.after`, the
    /// `limit` messages just newer than it (the page before), newest first.
    async fn sent_page_filtered(
        &self,
        sender_id: &str,
        q: &SentQuery,
        limit: u32,
    ) -> StoreResult<Vec<SentMessage>>;
    /// Recipients of several messages in one query, with whether each downloaded: grouped
    /// by message in the order of `message_ids`, as [`MessageStore::recipients_of_messages`].
    async fn recipients_tracked(
        &self,
        message_ids: &[String],
    ) -> StoreResult<Vec<TrackedRecipient>>;
    /// A recipient's new link, in one transaction: only while the message is active (else
    /// false, nothing changed): replaces the link hash (the old link is then unknown),
    /// deletes the recipient's sessions, enqueues the notification `job` and records `event`.
    async fn renew_link(
        &self,
        recipient_id: &str,
        link_hash: &[u8; 32],
        job: &NewJob,
        event: &NewEvent,
    ) -> StoreResult<bool>;
    /// Sets an active message's `expires_at` and records `events`, in one transaction.
    /// False (nothing changed) when the message is not active.
    async fn extend_message(
        &self,
        message_id: &str,
        expires_at: Ts,
        events: &[NewEvent],
    ) -> StoreResult<bool>;
}

/// The audit trail (see [`crate::audit`]). Entries are written by the store itself, in the
/// transaction of every `events` and `account_events` row; these methods read them and add
/// checkpoints.
#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// Chains up to `max` entries that write transactions staged (oldest first) after their
    /// chains' heads, in one transaction serialised with every other node's: how many. 0 (and
    /// no write) when nothing is staged. See [`crate::audit`].
    async fn audit_sequence(&self, max: u32) -> StoreResult<u32>;
    /// The last entry of every chain, by chain.
    async fn audit_heads(&self) -> StoreResult<Vec<AuditHead>>;
    /// Up to `limit` entries of `chain` with `seq > after`, by `seq`.
    async fn audit_entries(
        &self,
        chain: &str,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<AuditEntry>>;
    /// The checkpoints of `chain`, by `seq`.
    async fn audit_checkpoints(&self, chain: &str) -> StoreResult<Vec<AuditCheckpoint>>;
    /// The `seq` and time of `chain`'s last checkpoint, if it has one.
    async fn audit_last_checkpoint(&self, chain: &str) -> StoreResult<Option<(i64, Ts)>>;
    /// Stores a checkpoint; false when `chain` already has one at that `seq`.
    async fn add_audit_checkpoint(&self, cp: &AuditCheckpoint) -> StoreResult<bool>;
    /// The first row of `events`/`account_events` that disagrees with the audit trail, if any.
    async fn audit_source_findings(&self) -> StoreResult<Option<SourceFinding>>;
    /// Up to `limit` entries matching `filter`, by (`at`, chain, seq), after the entry
    /// `(at, chain, seq)` of `after`.
    async fn audit_export_page(
        &self,
        filter: &AuditFilter,
        after: Option<(i64, String, i64)>,
        limit: u32,
    ) -> StoreResult<Vec<AuditEntry>>;
    /// Entries of the message `message_id`, oldest first (the patient's view and receipts).
    async fn audit_of_message(&self, message_id: &str) -> StoreResult<Vec<AuditEntry>>;
}

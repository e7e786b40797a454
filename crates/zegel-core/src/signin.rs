//! Sender accounts as stored: the sign-in state of a user, TOTP, passkeys, WebAuthn ceremony
//! state, set-up links, the per-address throttle and account events ([`crate::store::SignInStore`]).
//! Nothing here holds a password, a code or a token: only hashes and sealed secrets.

use crate::model::{Ts, User};

/// What happened to an account (`account_events.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountEventKind {
    /// Signed in.
    SignInOk,
    /// A wrong password, code or passkey (or an unknown e-mail: then without a user).
    SignInFailed,
    /// Too many failures: the account is locked for a while.
    Locked,
    /// Signed out.
    SignOut,
    /// The password was set or changed.
    PasswordChanged,
    /// TOTP enrolled.
    TotpAdded,
    /// TOTP removed.
    TotpRemoved,
    /// A passkey registered.
    PasskeyAdded,
    /// A passkey removed.
    PasskeyRemoved,
    /// An API token created.
    TokenCreated,
    /// An API token revoked.
    TokenRevoked,
    /// A set-up link issued (invite or reset).
    SetupLinkIssued,
    /// A set-up link used.
    SetupLinkUsed,
    /// The account's factors removed by an administrator (reset).
    FactorsReset,
    /// An organisation key was rotated: every message key re-wrapped under the new key and
    /// the old key destroyed (no user; `detail` names the organisation and the key ids).
    OrgKeyRotated,
    /// The master key was rotated: every key under it re-wrapped under a new master key (no
    /// user; `detail` names the re-wrapped key ids).
    MasterKeyRotated,
    /// A user account created (by the CLI or the demo).
    UserCreated,
    /// The audit trail exported (`zegel audit export`; `detail`: the filter and the count).
    AuditExported,
    /// A backup made (`zegel backup`; `detail`: the counts).
    BackupMade,
    /// A send refused (`detail`: the reply, `HTTP 422` or `SMTP 554 5.6.0`; nothing of the
    /// message).
    SendFailed,
    /// An organisation's policy changed (retention, replies, forwards, SMS ...): by the
    /// command line (no user) or an admin (`detail`: the organisation and what changed).
    PolicyChanged,
    /// An SMTP submission credential created (`detail`: its user name and label).
    SmtpCredentialCreated,
    /// An SMTP submission credential revoked (`detail`: its user name).
    SmtpCredentialRevoked,
    /// A signing key (an organisation's, or the installation's) was made and stored.
    SigningKeyCreated,
}

impl AccountEventKind {
    /// Every kind.
    pub const ALL: [AccountEventKind; 24] = [
        Self::SignInOk,
        Self::SignInFailed,
        Self::Locked,
        Self::SignOut,
        Self::PasswordChanged,
        Self::TotpAdded,
        Self::TotpRemoved,
        Self::PasskeyAdded,
        Self::PasskeyRemoved,
        Self::TokenCreated,
        Self::TokenRevoked,
        Self::SetupLinkIssued,
        Self::SetupLinkUsed,
        Self::FactorsReset,
        Self::OrgKeyRotated,
        Self::MasterKeyRotated,
        Self::UserCreated,
        Self::AuditExported,
        Self::BackupMade,
        Self::SendFailed,
        Self::PolicyChanged,
        Self::SmtpCredentialCreated,
        Self::SmtpCredentialRevoked,
        Self::SigningKeyCreated,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignInOk => "sign_in_ok",
            Self::SignInFailed => "sign_in_failed",
            Self::Locked => "locked",
            Self::SignOut => "sign_out",
            Self::PasswordChanged => "password_changed",
            Self::TotpAdded => "totp_added",
            Self::TotpRemoved => "totp_removed",
            Self::PasskeyAdded => "passkey_added",
            Self::PasskeyRemoved => "passkey_removed",
            Self::TokenCreated => "token_created",
            Self::TokenRevoked => "token_revoked",
            Self::SetupLinkIssued => "setup_link_issued",
            Self::SetupLinkUsed => "setup_link_used",
            Self::FactorsReset => "factors_reset",
            Self::OrgKeyRotated => "org_key_rotated",
            Self::MasterKeyRotated => "master_key_rotated",
            Self::UserCreated => "user_created",
            Self::AuditExported => "audit_exported",
            Self::BackupMade => "backup_made",
            Self::SendFailed => "send_failed",
            Self::PolicyChanged => "policy_changed",
            Self::SmtpCredentialCreated => "smtp_credential_created",
            Self::SmtpCredentialRevoked => "smtp_credential_revoked",
            Self::SigningKeyCreated => "signing_key_created",
        }
    }

    /// From the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// An account event to record. `detail` never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountEvent {
    /// The account, when known (`None` for a sign-in with an unknown e-mail).
    pub user_id: Option<String>,
    /// What happened.
    pub kind: AccountEventKind,
    /// When.
    pub at: Ts,
    /// Client address.
    pub ip: Option<String>,
    /// Client user agent (truncated).
    pub user_agent: Option<String>,
    /// Extra, e.g. which factor or the passkey's name; never a secret.
    pub detail: Option<String>,
}

/// A stored account event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAccountEvent {
    /// Sequence number.
    pub id: i64,
    /// The event.
    pub event: AccountEvent,
}

/// A user with its sign-in state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The user.
    pub user: User,
    /// Wrong passwords since the last sign-in or lockout.
    pub failed_sign_ins: i64,
    /// Locked until then (when in the future).
    pub locked_until: Option<Ts>,
    /// Whether TOTP is enrolled (enabled).
    pub totp_enabled: bool,
    /// How many passkeys the user has.
    pub passkeys: i64,
    /// Whether the organisation requires a second factor.
    pub second_factor_required: bool,
}

impl Account {
    /// Whether the account has a second factor (TOTP or a passkey).
    pub fn has_second_factor(&self) -> bool {
        self.totp_enabled || self.passkeys > 0
    }
}

/// The outcome of a wrong password ([`crate::store::SignInStore::sign_in_failed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureOutcome {
    /// Counted; this many tries are left before the lockout.
    Counted {
        /// Tries left.
        remaining: i64,
    },
    /// This failure locked the account (or it was locked already) until then.
    Locked {
        /// The lockout's end.
        until: Ts,
    },
}

/// A user's TOTP secret as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpRow {
    /// Owner.
    pub user_id: String,
    /// The secret, sealed with the server's seal key (AAD: `totp:{user_id}`).
    pub secret_sealed: Vec<u8>,
    /// Created at.
    pub created_at: Ts,
    /// Enrolled at; `None` while being set up.
    pub enabled_at: Option<Ts>,
    /// The last accepted time step.
    pub last_step: Option<i64>,
}

/// A passkey as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyRow {
    /// Id (UUID text).
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// The credential id (raw bytes).
    pub credential_id: Vec<u8>,
    /// The serialized webauthn-rs `Passkey` (JSON).
    pub passkey: String,
    /// The name the user gave it.
    pub name: String,
    /// Created at.
    pub created_at: Ts,
    /// Last used to sign in.
    pub last_used_at: Option<Ts>,
}

/// What a WebAuthn ceremony state is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CeremonyKind {
    /// Registering a passkey.
    Register,
    /// Signing in with a passkey alone (discoverable credential).
    Authenticate,
    /// A passkey as the second step after the password.
    SecondFactor,
}

impl CeremonyKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Authenticate => "authenticate",
            Self::SecondFactor => "second_factor",
        }
    }
    /// From the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Register, Self::Authenticate, Self::SecondFactor]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A WebAuthn ceremony under way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CeremonyRow {
    /// SHA-256 of the ceremony token (in the browser's cookie).
    pub token_hash: [u8; 32],
    /// The user, when known.
    pub user_id: Option<String>,
    /// What for.
    pub kind: CeremonyKind,
    /// The serialized webauthn-rs state (JSON).
    pub state: String,
    /// Usable until.
    pub expires_at: Ts,
}

/// A set-up link as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupLinkRow {
    /// SHA-256 of the token.
    pub token_hash: [u8; 32],
    /// The account it sets up.
    pub user_id: String,
    /// Issued at.
    pub created_at: Ts,
    /// Usable until.
    pub expires_at: Ts,
    /// Used at (then never again).
    pub used_at: Option<Ts>,
}

/// One of the user's API tokens (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTokenInfo {
    /// Id.
    pub id: String,
    /// The label.
    pub label: String,
    /// Created at.
    pub created_at: Ts,
    /// Last used (to a minute).
    pub last_used_at: Option<Ts>,
}

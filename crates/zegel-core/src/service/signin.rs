//! Sender accounts: passwords, sign-in with lockout and per-address throttle, the pending
//! second step, set-up links, the administrator's reset, the second-factor policy, own API
//! tokens, account events. TOTP is in `totp`, passkeys in `passkeys`.

use super::{new_id, ClientCtx, Zegel};
use crate::error::Error;
use crate::model::{Ts, User};
use crate::signin::*;
use crate::StoreError;

/// Wrong passwords (or codes) before the account is locked.
pub const MAX_SIGN_IN_FAILURES: i64 = 5;
/// How long a lockout lasts (15 minutes).
pub const SIGN_IN_LOCK_SECS: i64 = 15 * 60;
/// Failed sign-ins per client address ...
pub const ADDRESS_MAX_FAILURES: i64 = 30;
/// ... in this window (15 minutes).
pub const ADDRESS_WINDOW_SECS: i64 = 15 * 60;
/// A set-up link is valid this long (72 hours).
pub const SETUP_LINK_SECS: i64 = 72 * 3600;
/// The time between the password and the second step.
pub const PENDING_SECS: i64 = 5 * 60;
/// The URL path of set-up links: `{public_url}/welkom/{token}`.
pub const SETUP_PATH: &str = "/welkom/";

/// An Argon2id hash of a password nobody has (made once per process): verified against
/// when the e-mail is unknown, so the answer takes as long as for a wrong password.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        zegel_crypto::hash_password(&zegel_crypto::random_token()).unwrap_or_default()
    })
}

/// What can go wrong with an account action; each is one page or answer.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Unknown e-mail or wrong password: one answer for both.
    #[error("wrong e-mail address or password")]
    WrongCredentials,
    /// Too many failures: locked until then.
    #[error("account locked")]
    Locked {
        /// Seconds until a new try is accepted.
        retry_after_secs: u64,
    },
    /// Too many failed sign-ins from this address.
    #[error("too many sign-in attempts from this address")]
    Throttled {
        /// Seconds until a new try is accepted.
        retry_after_secs: u64,
    },
    /// A wrong or reused verification code; during sign-in, the token of the pending
    /// sign-in to try again with (it changes on every try).
    #[error("wrong code")]
    WrongCode {
        /// The new pending sign-in token, when signing in.
        pending: Option<String>,
    },
    /// The pending sign-in or ceremony is over (or unknown): start again.
    #[error("start again")]
    Expired,
    /// The organisation requires a second factor and the account has none.
    #[error("a second factor is required")]
    SecondFactorRequired,
    /// A password that is too short or too easy to guess.
    #[error("password too weak")]
    WeakPassword(WeakPassword),
    /// The current password given with a change was wrong.
    #[error("wrong current password")]
    WrongCurrentPassword,
    /// A set-up link that was used or has expired (410).
    #[error("set-up link gone")]
    LinkGone,
    /// The passkey could not be registered or did not verify.
    #[error("passkey failed")]
    PasskeyFailed,
    /// Anything from the service layer (unknown id: NotFound, store failures: Internal ...).
    #[error(transparent)]
    Core(#[from] Error),
}

impl From<StoreError> for AccountError {
    fn from(e: StoreError) -> Self {
        AccountError::Core(e.into())
    }
}

/// Why a password was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeakPassword {
    /// Fewer than 12 characters.
    TooShort,
    /// Common or easy to guess (zxcvbn score below 3).
    Guessable,
}

/// What a correct password leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordOutcome {
    /// Signed in: start a session for this user.
    SignedIn(User),
    /// A second step is needed: the token (for the browser's cookie) of the pending sign-in,
    /// and which factors the account has.
    SecondStep {
        /// The pending sign-in's token (shown to nobody but the browser; stored hashed).
        pending: String,
        /// TOTP is enrolled.
        totp: bool,
        /// The account has passkeys.
        passkey: bool,
    },
}

/// A set-up link's state, for its page.
#[derive(Debug, Clone)]
pub struct SetupInfo {
    /// The account.
    pub account: Account,
}

pub(super) type AResult<T> = std::result::Result<T, AccountError>;

pub(super) fn event(
    user_id: Option<&str>,
    kind: AccountEventKind,
    ctx: &ClientCtx,
    detail: Option<String>,
) -> AccountEvent {
    AccountEvent {
        user_id: user_id.map(str::to_owned),
        kind,
        at: Ts::now(),
        ip: ctx.ip.clone(),
        user_agent: ctx.user_agent.clone(),
        detail,
    }
}

/// Checks a new password: at least 12 characters and a zxcvbn score of 3 or more (the
/// e-mail address and the name count as known words).
pub fn check_password(password: &str, user: &User) -> Result<(), WeakPassword> {
    if password.chars().count() < super::admin::MIN_PASSWORD_CHARS {
        return Err(WeakPassword::TooShort);
    }
    let local = user.email.split('@').next().unwrap_or_default();
    let inputs = [user.email.as_str(), local, user.name.as_str(), "zegel"];
    let score: u8 = zxcvbn::zxcvbn(password, &inputs).score().into();
    if score < 3 {
        return Err(WeakPassword::Guessable);
    }
    Ok(())
}

async fn hash_password(password: &str) -> AResult<String> {
    let pw = zeroize::Zeroizing::new(password.to_owned());
    tokio::task::spawn_blocking(move || zegel_crypto::hash_password(&pw))
        .await
        .map_err(|e| Error::Internal(format!("password hashing: {e}")))?
        .map_err(|e| AccountError::Core(e.into()))
}

async fn verify_password(password: &str, phc: &str) -> AResult<bool> {
    let pw = zeroize::Zeroizing::new(password.to_owned());
    let phc = phc.to_owned();
    tokio::task::spawn_blocking(move || zegel_crypto::verify_password(&pw, &phc))
        .await
        .map_err(|e| AccountError::Core(Error::Internal(format!("password check: {e}"))))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn address_key(ctx: &ClientCtx) -> String {
    format!("ip:{}", ctx.ip.as_deref().unwrap_or("-"))
}

impl Zegel {
    /// The account with this e-mail, if any.
    pub async fn account_by_email(&self, email: &str) -> AResult<Option<Account>> {
        let email = email.trim().to_lowercase();
        Ok(self.store.account_by_email(&email).await?)
    }

    /// The account of a user id.
    pub async fn account(&self, user_id: &str) -> AResult<Account> {
        self.store
            .account_by_id(user_id)
            .await?
            .ok_or(AccountError::Core(Error::NotFound))
    }

    /// Refuses a client address that failed too often (before any password is checked).
    pub(super) async fn check_address(&self, ctx: &ClientCtx) -> AResult<()> {
        let now = Ts::now();
        if let Some(until) = self
            .store
            .throttled_until(
                &address_key(ctx),
                now,
                ADDRESS_WINDOW_SECS * 1000,
                ADDRESS_MAX_FAILURES,
            )
            .await?
        {
            return Err(AccountError::Throttled {
                retry_after_secs: now.secs_until(until).max(1),
            });
        }
        Ok(())
    }

    /// A failure of a known account (wrong password, code or passkey): counted on the account
    /// and the address; the error to answer with.
    pub(super) async fn account_failure(
        &self,
        user_id: &str,
        ctx: &ClientCtx,
        detail: &str,
        wrong: AccountError,
    ) -> AccountError {
        let now = Ts::now();
        if let Err(e) = self
            .store
            .throttle_note(&address_key(ctx), now, ADDRESS_WINDOW_SECS * 1000)
            .await
        {
            return e.into();
        }
        let ev = event(
            Some(user_id),
            AccountEventKind::SignInFailed,
            ctx,
            Some(detail.into()),
        );
        match self
            .store
            .sign_in_failed(
                user_id,
                now,
                MAX_SIGN_IN_FAILURES,
                SIGN_IN_LOCK_SECS * 1000,
                &ev,
            )
            .await
        {
            Ok(FailureOutcome::Counted { .. }) => wrong,
            Ok(FailureOutcome::Locked { until }) => {
                tracing::info!("sender account locked after failed sign-ins");
                AccountError::Locked {
                    retry_after_secs: now.secs_until(until).max(1),
                }
            }
            Err(e) => e.into(),
        }
    }

    fn locked(account: &Account) -> Option<AccountError> {
        let now = Ts::now();
        account
            .locked_until
            .filter(|u| u.0 > now.0)
            .map(|until| AccountError::Locked {
                retry_after_secs: now.secs_until(until).max(1),
            })
    }

    /// Signs in with e-mail and password. Unknown e-mail and wrong password give the same
    /// answer (and take as long: an unknown e-mail is checked against a dummy hash); 5
    /// failures lock the account for 15 minutes (also against the right password); too many
    /// failures from one address throttle it.
    pub async fn sign_in_password(
        &self,
        email: &str,
        password: &str,
        ctx: &ClientCtx,
    ) -> AResult<PasswordOutcome> {
        self.check_address(ctx).await?;
        let email = email.trim().to_lowercase();
        let account = self.store.account_by_email(&email).await?;
        let Some(account) = account.filter(|a| a.user.password_hash.is_some()) else {
            // An address without an account (or without a password) "locks" like an account
            // after 5 failures, so the answers never tell whether an account exists.
            let key = format!("acct:{}", hex(&zegel_crypto::token_hash(&email)));
            let now = Ts::now();
            let window = SIGN_IN_LOCK_SECS * 1000;
            if let Some(until) = self
                .store
                .throttled_until(&key, now, window, MAX_SIGN_IN_FAILURES)
                .await?
            {
                return Err(AccountError::Locked {
                    retry_after_secs: now.secs_until(until).max(1),
                });
            }
            let _ = verify_password(password, dummy_hash()).await?;
            self.store
                .throttle_note(&address_key(ctx), now, ADDRESS_WINDOW_SECS * 1000)
                .await?;
            let n = self.store.throttle_note(&key, now, window).await?;
            if n >= MAX_SIGN_IN_FAILURES {
                return Err(AccountError::Locked {
                    retry_after_secs: now.secs_until(now.plus_millis(window)).max(1),
                });
            }
            self.store
                .record_account_event(&event(
                    None,
                    AccountEventKind::SignInFailed,
                    ctx,
                    Some("unknown account".into()),
                ))
                .await?;
            return Err(AccountError::WrongCredentials);
        };
        if let Some(e) = Self::locked(&account) {
            return Err(e);
        }
        let phc = account.user.password_hash.clone().unwrap_or_default();
        if !verify_password(password, &phc).await? {
            return Err(self
                .account_failure(
                    &account.user.id,
                    ctx,
                    "password",
                    AccountError::WrongCredentials,
                )
                .await);
        }
        if account.has_second_factor() {
            let pending = self
                .put_pending(&account.user.id, CeremonyKind::SecondFactor, "{}".into())
                .await?;
            return Ok(PasswordOutcome::SecondStep {
                pending,
                totp: account.totp_enabled,
                passkey: account.passkeys > 0,
            });
        }
        if account.second_factor_required {
            return Err(AccountError::SecondFactorRequired);
        }
        self.signed_in(&account.user.id, ctx, "password").await?;
        Ok(PasswordOutcome::SignedIn(account.user))
    }

    /// Records a successful sign-in (the failure count cleared).
    pub(super) async fn signed_in(&self, user_id: &str, ctx: &ClientCtx, how: &str) -> AResult<()> {
        self.store
            .sign_in_succeeded(
                user_id,
                &event(
                    Some(user_id),
                    AccountEventKind::SignInOk,
                    ctx,
                    Some(how.into()),
                ),
            )
            .await?;
        Ok(())
    }

    /// Stores a pending step (second factor, WebAuthn ceremony) and returns its token.
    pub(super) async fn put_pending(
        &self,
        user_id: &str,
        kind: CeremonyKind,
        state: String,
    ) -> AResult<String> {
        let token = zegel_crypto::random_token();
        self.store
            .ceremony_put(&CeremonyRow {
                token_hash: zegel_crypto::token_hash(&token),
                user_id: (!user_id.is_empty()).then(|| user_id.to_owned()),
                kind,
                state,
                expires_at: Ts::now().plus_secs(PENDING_SECS),
            })
            .await?;
        Ok(token)
    }

    /// Takes a pending step of `kind` (used once).
    pub(super) async fn take_pending(
        &self,
        token: &str,
        kind: CeremonyKind,
    ) -> AResult<CeremonyRow> {
        if token.len() != 43 {
            return Err(AccountError::Expired);
        }
        match self
            .store
            .ceremony_take(&zegel_crypto::token_hash(token), Ts::now())
            .await?
        {
            Some(row) if row.kind == kind => Ok(row),
            _ => Err(AccountError::Expired),
        }
    }

    /// Records a refused send (NTA 7516 6.4.2), from the API, the compose form or the SMTP
    /// gateway: who, when, from where and the `reply` (`HTTP 422`, `SMTP 554 5.6.0`); nothing
    /// of the message. The send has failed already,
    /// so a failure to record it is logged, not returned.
    pub async fn record_refused_send(&self, user_id: &str, ctx: &ClientCtx, reply: &str) {
        let ev = event(
            Some(user_id),
            AccountEventKind::SendFailed,
            ctx,
            Some(reply.to_owned()),
        );
        if let Err(e) = self.store.record_account_event(&ev).await {
            tracing::error!(error = %e, "recording a refused send failed");
        }
    }

    /// Records that a user signed out.
    pub async fn record_sign_out(&self, user_id: &str, ctx: &ClientCtx) -> AResult<()> {
        self.store
            .record_account_event(&event(Some(user_id), AccountEventKind::SignOut, ctx, None))
            .await?;
        Ok(())
    }

    /// Sets a user's password (checked for strength) and records the change. Sessions are
    /// the caller's (the HTTP layer ends them).
    pub async fn set_password(&self, user: &User, password: &str, ctx: &ClientCtx) -> AResult<()> {
        check_password(password, user).map_err(AccountError::WeakPassword)?;
        let hash = hash_password(password).await?;
        let ev = event(Some(&user.id), AccountEventKind::PasswordChanged, ctx, None);
        if !self
            .store
            .set_password_hash(&user.id, Some(&hash), &ev)
            .await?
        {
            return Err(Error::NotFound.into());
        }
        Ok(())
    }

    /// Changes the password after checking the current one (a wrong one counts as a failed
    /// sign-in).
    pub async fn change_password(
        &self,
        user_id: &str,
        current: &str,
        new: &str,
        ctx: &ClientCtx,
    ) -> AResult<()> {
        let account = self.account(user_id).await?;
        if let Some(e) = Self::locked(&account) {
            return Err(e);
        }
        let phc = account.user.password_hash.clone().unwrap_or_default();
        if !verify_password(current, &phc).await? {
            return Err(self
                .account_failure(
                    user_id,
                    ctx,
                    "current password",
                    AccountError::WrongCurrentPassword,
                )
                .await);
        }
        self.set_password(&account.user, new, ctx).await
    }

    /// Sets a password without the strength check's context (the CLI's `admin user
    /// password`): still at least 12 characters and not guessable.
    pub async fn admin_set_password(&self, email: &str, password: &str) -> AResult<User> {
        let account = self
            .account_by_email(email)
            .await?
            .ok_or(AccountError::Core(Error::NotFound))?;
        self.set_password(&account.user, password, &ClientCtx::default())
            .await?;
        Ok(account.user)
    }

    fn setup_url(&self, token: &str) -> String {
        format!(
            "{}{SETUP_PATH}{token}",
            self.settings.public_url.trim_end_matches('/')
        )
    }

    fn new_link(user_id: &str) -> (String, SetupLinkRow) {
        let token = zegel_crypto::random_token();
        let now = Ts::now();
        let row = SetupLinkRow {
            token_hash: zegel_crypto::token_hash(&token),
            user_id: user_id.to_owned(),
            created_at: now,
            expires_at: now.plus_secs(SETUP_LINK_SECS),
            used_at: None,
        };
        (token, row)
    }

    /// `zegel admin user invite`: the user (created when missing) and a one-time set-up link
    /// `{public_url}/welkom/{token}`, valid 72 hours.
    pub async fn invite_user(&self, email: &str) -> AResult<String> {
        let user = self.ensure_user(email).await?;
        let (token, row) = Self::new_link(&user.id);
        let ev = event(
            Some(&user.id),
            AccountEventKind::SetupLinkIssued,
            &ClientCtx::default(),
            Some("invite".into()),
        );
        self.store.setup_link_create(&row, &ev).await?;
        Ok(self.setup_url(&token))
    }

    /// `zegel admin user reset`: removes the user's password, TOTP and passkeys and returns
    /// a new set-up link (the user's sessions are the caller's to end).
    pub async fn reset_user(&self, email: &str) -> AResult<(User, String)> {
        let account = self
            .account_by_email(email)
            .await?
            .ok_or(AccountError::Core(Error::NotFound))?;
        let (token, row) = Self::new_link(&account.user.id);
        let ctx = ClientCtx::default();
        let id = account.user.id.as_str();
        self.store
            .reset_account(
                id,
                &row,
                &event(Some(id), AccountEventKind::FactorsReset, &ctx, None),
                &event(
                    Some(id),
                    AccountEventKind::SetupLinkIssued,
                    &ctx,
                    Some("reset".into()),
                ),
            )
            .await?;
        Ok((account.user, self.setup_url(&token)))
    }

    /// A set-up link's account: NotFound for an unknown token, `LinkGone` for a used or
    /// expired one. Looked up by hash.
    pub async fn setup_link(&self, token: &str) -> AResult<SetupInfo> {
        if token.len() > 100 {
            return Err(Error::NotFound.into());
        }
        let row = self
            .store
            .setup_link(&zegel_crypto::token_hash(token))
            .await?
            .ok_or(AccountError::Core(Error::NotFound))?;
        if row.used_at.is_some() || row.expires_at.0 <= Ts::now().0 {
            return Err(AccountError::LinkGone);
        }
        Ok(SetupInfo {
            account: self.account(&row.user_id).await?,
        })
    }

    /// Finishes a set-up: the account has a password (and a second factor when the
    /// organisation requires one); the link is used up. Returns the user to sign in.
    pub async fn finish_setup(&self, token: &str, ctx: &ClientCtx) -> AResult<User> {
        let info = self.setup_link(token).await?;
        let account = info.account;
        if account.user.password_hash.is_none() {
            return Err(AccountError::WeakPassword(WeakPassword::TooShort));
        }
        if account.second_factor_required && !account.has_second_factor() {
            return Err(AccountError::SecondFactorRequired);
        }
        let ev = event(
            Some(&account.user.id),
            AccountEventKind::SetupLinkUsed,
            ctx,
            None,
        );
        if !self
            .store
            .setup_link_use(&zegel_crypto::token_hash(token), &ev)
            .await?
        {
            return Err(AccountError::LinkGone);
        }
        self.signed_in(&account.user.id, ctx, "set-up").await?;
        Ok(account.user)
    }

    /// `zegel admin org policy --second-factor-required`.
    pub async fn set_second_factor_required(&self, org_slug: &str, required: bool) -> AResult<()> {
        let org = self
            .store
            .org_by_slug(org_slug)
            .await?
            .ok_or(AccountError::Core(Error::NotFound))?;
        if !self
            .store
            .set_second_factor_required(&org.id, required)
            .await?
        {
            return Err(Error::NotFound.into());
        }
        Ok(())
    }

    /// The user's API tokens (never the tokens themselves), newest first.
    pub async fn own_api_tokens(&self, user_id: &str) -> AResult<Vec<ApiTokenInfo>> {
        Ok(self.store.api_tokens_of(user_id).await?)
    }

    /// A new API token for the signed-in user (shown once) and its event.
    pub async fn create_own_api_token(
        &self,
        user: &User,
        label: &str,
        ctx: &ClientCtx,
    ) -> AResult<String> {
        let label: String = label
            .chars()
            .filter(|c| !c.is_control())
            .take(100)
            .collect();
        let label = if label.trim().is_empty() {
            "web".to_owned()
        } else {
            label.trim().to_owned()
        };
        // The store records `token_created` with the token, in one transaction.
        Ok(self.create_api_token_for(user, &label, Some(ctx)).await?)
    }

    /// Revokes one of the user's API tokens; NotFound when the user has no such token.
    pub async fn revoke_own_api_token(
        &self,
        user_id: &str,
        token_id: &str,
        ctx: &ClientCtx,
    ) -> AResult<()> {
        let ev = event(Some(user_id), AccountEventKind::TokenRevoked, ctx, None);
        if self.store.api_token_revoke(user_id, token_id, &ev).await? {
            Ok(())
        } else {
            Err(Error::NotFound.into())
        }
    }

    /// A user's account events, oldest first.
    pub async fn account_events(&self, user_id: &str) -> AResult<Vec<StoredAccountEvent>> {
        Ok(self.store.account_events(user_id).await?)
    }

    /// Demo: sets the demo sender's password to a fresh random one and returns it.
    pub async fn demo_password(&self, user: &User) -> AResult<String> {
        let password = format!("demo-{}", zegel_crypto::random_token());
        let hash = hash_password(&password).await?;
        let ev = event(
            Some(&user.id),
            AccountEventKind::PasswordChanged,
            &ClientCtx::default(),
            Some("demo".into()),
        );
        self.store
            .set_password_hash(&user.id, Some(&hash), &ev)
            .await?;
        Ok(password)
    }
}

pub(super) fn new_passkey_id() -> String {
    new_id()
}

//! Passkeys (WebAuthn, `webauthn-rs`): registration of a named passkey, sign-in with one
//! (alone, or as the second step after the password), removal. The relying party is
//! `ZEGEL_PUBLIC_URL` (its host is the RP id). Ceremony state is kept server-side, in the
//! database, used once and for at most 5 minutes.

use super::signin::{event, new_passkey_id, AResult, AccountError};
use super::{ClientCtx, Zegel};
use crate::error::Error;
use crate::model::{Ts, User};
use crate::signin::*;
use webauthn_rs::prelude::*;

/// The longest passkey name.
pub const MAX_PASSKEY_NAME: usize = 60;

fn internal(what: &str, e: impl std::fmt::Display) -> AccountError {
    AccountError::Core(Error::Internal(format!("{what}: {e}")))
}

impl Zegel {
    fn webauthn(&self) -> AResult<Webauthn> {
        let url = Url::parse(&self.settings.public_url).map_err(|e| internal("public url", e))?;
        let host = url
            .host_str()
            .ok_or_else(|| internal("public url", "no host"))?
            .to_owned();
        WebauthnBuilder::new(&host, &url)
            .and_then(|b| b.rp_name("Zegel").build())
            .map_err(|e| internal("webauthn", e))
    }

    fn passkeys(rows: &[PasskeyRow]) -> Vec<Passkey> {
        rows.iter()
            .filter_map(|r| serde_json::from_str::<Passkey>(&r.passkey).ok())
            .collect()
    }

    /// The user's passkeys (name, dates), oldest first.
    pub async fn passkeys_of(&self, user_id: &str) -> AResult<Vec<PasskeyRow>> {
        Ok(self.store.passkeys_of(user_id).await?)
    }

    /// Starts registering a passkey: the ceremony token (for a cookie) and the options for
    /// `navigator.credentials.create` (JSON).
    pub async fn passkey_register_start(
        &self,
        user: &User,
    ) -> AResult<(String, serde_json::Value)> {
        let uid = Uuid::parse_str(&user.id).map_err(|e| internal("user id", e))?;
        let existing = self.store.passkeys_of(&user.id).await?;
        let exclude: Vec<CredentialID> = Self::passkeys(&existing)
            .iter()
            .map(|p| p.cred_id().clone())
            .collect();
        let (options, state) = self
            .webauthn()?
            .start_passkey_registration(uid, &user.email, &user.name, Some(exclude))
            .map_err(|e| internal("passkey registration", e))?;
        let state = serde_json::to_string(&state).map_err(|e| internal("state", e))?;
        let token = self
            .put_pending(&user.id, CeremonyKind::Register, state)
            .await?;
        let options = serde_json::to_value(&options).map_err(|e| internal("options", e))?;
        Ok((token, options))
    }

    /// Finishes registering a passkey under `name`.
    pub async fn passkey_register_finish(
        &self,
        user: &User,
        token: &str,
        name: &str,
        credential: &serde_json::Value,
        ctx: &ClientCtx,
    ) -> AResult<()> {
        let row = self.take_pending(token, CeremonyKind::Register).await?;
        if row.user_id.as_deref() != Some(user.id.as_str()) {
            return Err(AccountError::Expired);
        }
        let state: PasskeyRegistration =
            serde_json::from_str(&row.state).map_err(|e| internal("state", e))?;
        let reg: RegisterPublicKeyCredential =
            serde_json::from_value(credential.clone()).map_err(|_| AccountError::PasskeyFailed)?;
        let passkey = self
            .webauthn()?
            .finish_passkey_registration(&reg, &state)
            .map_err(|e| {
                tracing::info!(error = %e, "passkey registration refused");
                AccountError::PasskeyFailed
            })?;
        let name: String = name
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_PASSKEY_NAME)
            .collect();
        let name = match name.trim() {
            "" => "Passkey".to_owned(),
            n => n.to_owned(),
        };
        let stored = PasskeyRow {
            id: new_passkey_id(),
            user_id: user.id.clone(),
            credential_id: passkey.cred_id().as_ref().to_vec(),
            passkey: serde_json::to_string(&passkey).map_err(|e| internal("passkey", e))?,
            name: name.clone(),
            created_at: Ts::now(),
            last_used_at: None,
        };
        let ev = event(
            Some(&user.id),
            AccountEventKind::PasskeyAdded,
            ctx,
            Some(name),
        );
        match self.store.passkey_add(&stored, &ev).await {
            Ok(()) => Ok(()),
            Err(crate::StoreError::Conflict(_)) => Err(AccountError::PasskeyFailed),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes one of the user's passkeys; refused when the organisation requires a second
    /// factor and it is the last one.
    pub async fn passkey_remove(&self, user_id: &str, id: &str, ctx: &ClientCtx) -> AResult<()> {
        let account = self.account(user_id).await?;
        if account.second_factor_required && !account.totp_enabled && account.passkeys <= 1 {
            return Err(AccountError::SecondFactorRequired);
        }
        let ev = event(Some(user_id), AccountEventKind::PasskeyRemoved, ctx, None);
        if self.store.passkey_remove(user_id, id, &ev).await? {
            Ok(())
        } else {
            Err(Error::NotFound.into())
        }
    }

    /// Starts a sign-in with a passkey, for the account with this e-mail address, or for the
    /// pending sign-in after a password (its token). The ceremony token and the options for
    /// `navigator.credentials.get` (JSON). `PasskeyFailed` when there is no such account or
    /// it has no passkey.
    pub async fn passkey_sign_in_start(
        &self,
        email: Option<&str>,
        pending: Option<&str>,
        ctx: &ClientCtx,
    ) -> AResult<(String, serde_json::Value)> {
        self.check_address(ctx).await?;
        let account = match (pending, email) {
            (Some(p), _) => {
                let row = self.take_pending(p, CeremonyKind::SecondFactor).await?;
                let uid = row.user_id.ok_or(AccountError::Expired)?;
                Some(self.account(&uid).await?)
            }
            (None, Some(e)) => self.account_by_email(e).await?,
            (None, None) => None,
        };
        let Some(account) = account else {
            return Err(AccountError::PasskeyFailed);
        };
        let now = Ts::now();
        if let Some(until) = account.locked_until.filter(|u| u.0 > now.0) {
            return Err(AccountError::Locked {
                retry_after_secs: now.secs_until(until).max(1),
            });
        }
        let keys = Self::passkeys(&self.store.passkeys_of(&account.user.id).await?);
        if keys.is_empty() {
            return Err(AccountError::PasskeyFailed);
        }
        let (options, state) = self
            .webauthn()?
            .start_passkey_authentication(&keys)
            .map_err(|e| internal("passkey authentication", e))?;
        let state = serde_json::to_string(&state).map_err(|e| internal("state", e))?;
        let token = self
            .put_pending(&account.user.id, CeremonyKind::Authenticate, state)
            .await?;
        let options = serde_json::to_value(&options).map_err(|e| internal("options", e))?;
        Ok((token, options))
    }

    /// Finishes a sign-in with a passkey; a passkey that does not verify counts as a failed
    /// sign-in.
    pub async fn passkey_sign_in_finish(
        &self,
        token: &str,
        credential: &serde_json::Value,
        ctx: &ClientCtx,
    ) -> AResult<User> {
        let row = self.take_pending(token, CeremonyKind::Authenticate).await?;
        let user_id = row.user_id.ok_or(AccountError::Expired)?;
        let account = self.account(&user_id).await?;
        let state: PasskeyAuthentication =
            serde_json::from_str(&row.state).map_err(|e| internal("state", e))?;
        let cred: PublicKeyCredential = match serde_json::from_value(credential.clone()) {
            Ok(c) => c,
            Err(_) => {
                return Err(self
                    .account_failure(&user_id, ctx, "passkey", AccountError::PasskeyFailed)
                    .await)
            }
        };
        let result = match self
            .webauthn()?
            .finish_passkey_authentication(&cred, &state)
        {
            Ok(r) => r,
            Err(e) => {
                tracing::info!(error = %e, "passkey sign-in refused");
                return Err(self
                    .account_failure(&user_id, ctx, "passkey", AccountError::PasskeyFailed)
                    .await);
            }
        };
        let stored = self
            .store
            .passkey_by_credential(result.cred_id().as_ref())
            .await?
            .filter(|p| p.user_id == user_id)
            .ok_or(AccountError::PasskeyFailed)?;
        if let Ok(mut pk) = serde_json::from_str::<Passkey>(&stored.passkey) {
            pk.update_credential(&result);
            let json = serde_json::to_string(&pk).map_err(|e| internal("passkey", e))?;
            self.store
                .passkey_used(&stored.id, &json, Ts::now())
                .await?;
        }
        self.signed_in(&user_id, ctx, "passkey").await?;
        Ok(account.user)
    }
}

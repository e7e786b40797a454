//! Remembered devices: after a verified visit, when the organisation allows it, a revocable
//! credential (a cookie; only its hash is stored) that opens the message without a new code.

use super::access::{RecipientSession, SessionGrant};
use super::events;
use super::{new_id, ClientCtx, Zegel};
use crate::error::{Error, Result};
use crate::model::*;

impl Zegel {
    /// After a verified visit, when the organisation allows it: a device credential for this
    /// recipient (the token goes into a cookie; only its hash is stored). `None` when the
    /// organisation does not remember devices.
    pub async fn remember_device(
        &self,
        s: &RecipientSession,
        ctx: &ClientCtx,
    ) -> Result<Option<(String, i64)>> {
        let policy = self.org_policy(&s.access.message.org_id).await?;
        if policy.device_days <= 0 {
            return Ok(None);
        }
        let now = Ts::now();
        let token = zegel_crypto::random_token();
        let id = new_id();
        let d = DeviceRow {
            id: id.clone(),
            recipient_id: s.access.recipient.id.clone(),
            token_hash: zegel_crypto::token_hash(&token).to_vec(),
            user_agent: ctx.user_agent.clone(),
            created_at: now,
            expires_at: now.plus_secs(policy.device_days * 86_400),
            last_used_at: None,
            revoked_at: None,
        };
        self.store
            .create_device(
                &d,
                &events::by_recipient(&s.access, EventKind::DeviceRemembered, ctx, Some(id)),
            )
            .await?;
        Ok(Some((token, policy.device_days)))
    }

    /// Opens a session with a remembered device instead of a code. `Ok(None)` when the device
    /// is unknown, revoked, expired, for another recipient, or the recipient is locked: the
    /// caller then asks for a code as usual.
    pub async fn open_with_device(
        &self,
        token: &str,
        device_token: &str,
        ctx: &ClientCtx,
    ) -> Result<Option<SessionGrant>> {
        let a = self.active_access(token).await?;
        let policy = self.org_policy(&a.message.org_id).await?;
        if policy.device_days <= 0 {
            return Ok(None);
        }
        let now = Ts::now();
        let (grant, session) = self.new_session(&a.recipient.id, now);
        let ok = self
            .store
            .accept_device(
                &zegel_crypto::token_hash(device_token),
                &session,
                &events::by_recipient(&a, EventKind::Opened, ctx, Some("device".into())),
                now,
            )
            .await?;
        if ok {
            self.after_first_open(&a).await;
        }
        Ok(ok.then_some(grant))
    }

    /// Revokes a remembered device: by the sender of its message, or an admin of the
    /// organisation.
    pub async fn revoke_device(&self, user: &User, id: &str) -> Result<()> {
        let d = self.store.device_by_id(id).await?.ok_or(Error::NotFound)?;
        let a = self
            .store
            .access_by_recipient(&d.recipient_id)
            .await?
            .ok_or(Error::NotFound)?;
        let allowed = a.message.sender_id == user.id
            || (user.role == Role::Admin && user.org_id == a.message.org_id);
        if !allowed {
            return Err(Error::NotFound);
        }
        let ev = events::by_sender(
            user,
            &a.message.id,
            Some(&d.recipient_id),
            EventKind::DeviceRevoked,
            Ts::now(),
            &ClientCtx::default(),
            Some(d.id.clone()),
        );
        self.store.revoke_device(&d.id, Ts::now(), &ev).await?;
        tracing::info!(device_id = %d.id, "device revoked");
        Ok(())
    }
}

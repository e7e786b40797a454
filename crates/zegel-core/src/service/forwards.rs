//! Secure forwarding: a recipient adds a new recipient to the message they read, who gets their
//! own notification and verifies on their own (SMS when a phone number is given, else e-mail).

use super::access::RecipientSession;
use super::content::gone_reason;
use super::events;
use super::payloads::{JobPayload, NotifyRecipient};
use super::{new_id, objects, validate, ClientCtx, Zegel};
use crate::error::{Error, GoneReason, Invalid, NotAllowed, Result};
use crate::model::*;
use serde::{Deserialize, Serialize};

/// Max characters of a forward's note.
const MAX_NOTE_CHARS: usize = 2000;

/// A forward request from a recipient.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardReq {
    /// The new recipient's e-mail address (gets the notification). Required.
    pub email: Option<String>,
    /// Their phone number: when given, they verify by SMS, else by e-mail.
    #[serde(default)]
    pub phone: Option<String>,
    /// A note shown with the forwarded message (encrypted).
    #[serde(default)]
    pub note: Option<String>,
}

/// `201` body of a forward.
#[derive(Debug, Clone, Serialize)]
pub struct ForwardCreated {
    /// The new recipient's id.
    pub id: String,
    /// Their e-mail address.
    pub email: String,
    /// `sms` or `email`.
    pub verification: Verification,
    /// Where the code will go, masked.
    pub masked_destination: String,
}

impl ForwardReq {
    /// The first required field that is missing (a malformed request, 400), if any.
    pub fn missing_field(&self) -> Option<&'static str> {
        self.email.is_none().then_some("email")
    }
}

impl Zegel {
    /// Sends a secure forward of the session's message to a new recipient, who verifies on
    /// their own (SMS when a phone number is given, else e-mail).
    pub async fn forward(
        &self,
        s: &RecipientSession,
        req: ForwardReq,
        ctx: &ClientCtx,
    ) -> Result<ForwardCreated> {
        let a = &s.access;
        let m = &a.message;
        let policy = self.org_policy(&m.org_id).await?;
        if !policy.forward_allowed {
            return Err(NotAllowed::ForwardingOff.into());
        }
        let Some(raw_email) = req.email.as_deref() else {
            return Err(Error::BadRequest("missing field `email`".into()));
        };
        let email = validate::email(raw_email)?;
        let phone = match req.phone.as_deref().filter(|p| !p.trim().is_empty()) {
            Some(p) => Some(validate::mobile_phone(p)?),
            None => None,
        };
        if let Some(phone) = &phone {
            // A forward with a phone number verifies by SMS.
            validate::sms_country(phone, &policy.sms_countries)?;
        }
        let note = req
            .note
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty());
        if note
            .as_ref()
            .is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS)
        {
            return Err(Invalid::NoteTooLong {
                max: MAX_NOTE_CHARS,
            }
            .into());
        }
        let dek = self
            .dek_of(m)
            .await?
            .ok_or(Error::Gone(GoneReason::Revoked))?;
        let verification = if phone.is_some() {
            Verification::Sms
        } else {
            Verification::Email
        };
        let now = Ts::now();
        let rid = new_id();
        let token = zegel_crypto::random_token();
        let masked_destination = match &phone {
            Some(p) => validate::mask_phone(p),
            None => validate::mask_email(&email),
        };
        let recipient = RecipientRow {
            id: rid.clone(),
            message_id: m.id.clone(),
            email: email.clone(),
            phone,
            verification,
            code_hint_ct: None,
            link_hash: zegel_crypto::token_hash(&token).to_vec(),
            status: RecipientStatus::Queued,
            failed_reason: None,
            code_mac: None,
            code_expires_at: None,
            failed_attempts: 0,
            locked_until: None,
            language: a.recipient.language,
            notified_at: None,
            created_at: now,
            forwarded_by: Some(a.recipient.id.clone()),
            wrong_total: 0,
            blocked_at: None,
            note_ct: note
                .as_ref()
                .map(|n| dek.encrypt_small(&objects::note(&m.id, &rid), n.as_bytes())),
        };
        let sealed = self
            .keys
            .seal_key()
            .seal(objects::notify_aad(&rid).as_bytes(), token.as_bytes());
        let job = JobPayload::NotifyRecipient(NotifyRecipient {
            message_id: m.id.clone(),
            recipient_id: rid.clone(),
            token_sealed: objects::b64(&sealed),
            renewal: None,
            report_failure: false,
        })
        .into_job(now, self.settings.notify_max_attempts)?;
        let forwarded = events::by_recipient(a, EventKind::Forwarded, ctx, Some(rid.clone()));
        let sent = NewEvent {
            message_id: m.id.clone(),
            recipient_id: Some(rid.clone()),
            kind: EventKind::Sent,
            at: now,
            actor: events::recipient_actor(&a.recipient.id),
            ip: ctx.ip.clone(),
            user_agent: ctx.user_agent.clone(),
            detail: Some("forward".into()),
        };
        let outcome = self
            .store
            .insert_forward(&NewForward {
                recipient,
                events: vec![forwarded, sent],
                job,
                max_recipients: i64::try_from(self.settings.max_recipients.saturating_mul(2))
                    .unwrap_or(i64::MAX),
            })
            .await?;
        match outcome {
            ForwardOutcome::Stored => {}
            ForwardOutcome::NotActive => {
                return Err(Error::Gone(
                    gone_reason(m, now).unwrap_or(GoneReason::Revoked),
                ))
            }
            // One answer for both, decided in the store's transaction: a forward never tells
            // whether an address has the message already.
            ForwardOutcome::Duplicate | ForwardOutcome::Full => {
                return Err(NotAllowed::ForwardRefused.into())
            }
        }
        self.job_wakeup.notify_one();
        tracing::info!(message_id = %m.id, recipient_id = %rid, "message forwarded");
        Ok(ForwardCreated {
            id: rid,
            email,
            verification,
            masked_destination,
        })
    }
}

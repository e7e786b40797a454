//! Recipient access: the link, the code challenge, verification with lockout, the session,
//! reading and downloading. Shared by the JSON access API and the HTML viewer.

use super::content::{decrypt_text, gone_reason, AttachmentView};
use super::events::by_recipient as event;
use super::payloads::{JobPayload, SendCode};
use super::{objects, validate, ClientCtx, Zegel};
use crate::codes::{
    next_utc_day, utc_day, CodeCheck, CodeRequest, CodeRequestOutcome, CodeVerdict, SmsBudget,
};
use crate::error::{Conflict, Error, GoneReason, Invalid, NotAllowed, Result};
use crate::model::*;
use serde::{Deserialize, Serialize};

/// What a link leads to.
#[derive(Debug, Clone)]
pub enum LinkState {
    /// Readable after verification.
    Active(LinkInfo),
    /// Expired or revoked; the info says whom to contact.
    Gone(GoneReason, LinkInfo),
}

/// What the landing page may show (no message content).
#[derive(Debug, Clone)]
pub struct LinkInfo {
    /// Recipient id.
    pub recipient_id: String,
    /// Organisation id (for its logo at `/logo/{org_id}`).
    pub org_id: String,
    /// The organisation's policy: its contact line, logo, remembered devices.
    pub policy: OrgPolicy,
    /// Organisation display name.
    pub org_name: String,
    /// Sender display name.
    pub sender_name: String,
    /// Verification method.
    pub verification: Verification,
    /// Masked phone or e-mail where the code goes.
    pub masked_destination: Option<String>,
    /// The sender's hint for a `code` (decrypted), if any.
    pub hint: Option<String>,
    /// Sent at.
    pub sent_at: Ts,
    /// Expires at.
    pub expires_at: Ts,
    /// Locked until, when locked now.
    pub locked_until: Option<Ts>,
    /// Blocked (too many wrong codes in total) until the sender unblocks.
    pub blocked: bool,
    /// Whether a code is waiting (sms/email), valid now.
    pub code_pending: bool,
}

/// `202` body of a challenge (contract).
#[derive(Debug, Clone, Serialize)]
pub struct Challenge {
    /// `sms` or `email`.
    pub method: Verification,
    /// Where the code went, masked.
    pub masked_destination: String,
    /// Seconds the code is valid.
    pub expires_in_seconds: i64,
}

/// `200` body of a verify (contract); the token also goes into the viewer's cookie.
#[derive(Debug, Clone, Serialize)]
pub struct SessionGrant {
    /// Bearer token for the access API.
    pub access_token: String,
    /// Seconds the session lasts.
    pub expires_in_seconds: i64,
}

/// A verified recipient, bound to one recipient of one message.
#[derive(Debug, Clone)]
pub struct RecipientSession {
    /// The recipient and message.
    pub access: RecipientAccess,
    /// Session expiry.
    pub expires_at: Ts,
}

/// The message as its recipient reads it (contract for the JSON API).
#[derive(Debug, Clone, Serialize)]
pub struct MessageView {
    /// Subject.
    pub subject: String,
    /// Body text.
    pub body: String,
    /// The HTML body, sanitised, when the mail had one (submitted over SMTP).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// Sender.
    pub sender: SenderView,
    /// Sent at (RFC 3339).
    pub sent_at: String,
    /// Expires at (RFC 3339).
    pub expires_at: String,
    /// Attachments.
    pub attachments: Vec<AttachmentView>,
    /// Whether "Beantwoorden" is allowed.
    pub reply_allowed: bool,
}

/// The sender as the recipient sees them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SenderView {
    /// Name.
    pub name: String,
    /// Organisation.
    pub organisation: String,
}

/// What the recipient's message page may offer.
#[derive(Debug, Clone, Serialize)]
pub struct Permissions {
    /// "Beantwoorden" is possible now.
    pub reply_allowed: bool,
    /// Why not, when not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_refused: Option<ReplyRefusal>,
    /// "Doorsturen" is possible.
    pub forward_allowed: bool,
    /// "Remember this device" may be offered, for this many days.
    pub device_days: i64,
    /// The organisation's public contact line.
    pub contact: Option<String>,
    /// For a forwarded recipient: the note that came with it, and who forwarded.
    pub forward_note: Option<String>,
    /// Who forwarded it to this recipient.
    pub forwarded_by: Option<String>,
}

/// Why a recipient may not reply now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplyRefusal {
    /// The sender turned replies off for this message.
    Off,
    /// Policy `once`, and the reply was sent.
    Used,
}

impl From<ReplyRefusal> for Error {
    fn from(r: ReplyRefusal) -> Self {
        match r {
            ReplyRefusal::Off => NotAllowed::RepliesOff.into(),
            ReplyRefusal::Used => Conflict::ReplyUsed.into(),
        }
    }
}

impl Zegel {
    /// One lookup by hash for any presented link token; unknown and malformed tokens take the
    /// same path (a hash and an index lookup).
    async fn access(&self, token: &str) -> Result<RecipientAccess> {
        let hash = zegel_crypto::token_hash(token);
        let found = self.store.access_by_link_hash(&hash).await?;
        match found {
            Some(a) if token.len() == 43 => Ok(a),
            _ => Err(Error::NotFound),
        }
    }

    /// A new session for a recipient: the grant for the client, the row for the store.
    pub(crate) fn new_session(&self, recipient_id: &str, now: Ts) -> (SessionGrant, SessionRow) {
        let access_token = zegel_crypto::random_token();
        let row = SessionRow {
            token_hash: zegel_crypto::token_hash(&access_token).to_vec(),
            recipient_id: recipient_id.to_string(),
            created_at: now,
            expires_at: now.plus_secs(self.settings.session_ttl_secs),
        };
        let grant = SessionGrant {
            access_token,
            expires_in_seconds: self.settings.session_ttl_secs,
        };
        (grant, row)
    }

    /// Why this recipient may not reply now; `None` when a reply is allowed.
    pub(crate) async fn reply_refused(&self, a: &RecipientAccess) -> Result<Option<ReplyRefusal>> {
        Ok(match a.message.reply_policy {
            ReplyPolicy::Off => Some(ReplyRefusal::Off),
            ReplyPolicy::Unlimited => None,
            ReplyPolicy::Once if self.store.reply_count(&a.recipient.id).await? > 0 => {
                Some(ReplyRefusal::Used)
            }
            ReplyPolicy::Once => None,
        })
    }

    /// `GET /m/{token}`: what the landing page shows. Changes nothing.
    pub async fn link(&self, token: &str) -> Result<LinkState> {
        let a = self.access(token).await?;
        let now = Ts::now();
        let r = &a.recipient;
        let policy = self
            .store
            .org_policy(&a.message.org_id)
            .await?
            .unwrap_or_default();
        let mut info = LinkInfo {
            recipient_id: r.id.clone(),
            org_id: a.message.org_id.clone(),
            policy,
            org_name: a.org_name.clone(),
            sender_name: a.sender_name.clone(),
            verification: r.verification,
            masked_destination: match r.verification {
                Verification::Sms => r.phone.as_deref().map(validate::mask_phone),
                Verification::Email => Some(validate::mask_email(&r.email)),
                Verification::Code => None,
            },
            hint: None,
            sent_at: a.message.created_at,
            expires_at: a.message.expires_at,
            locked_until: r.locked_until.filter(|t| *t >= now),
            blocked: r.blocked_at.is_some(),
            code_pending: r.verification != Verification::Code
                && r.code_mac.is_some()
                && r.code_expires_at.is_some_and(|t| t > now),
        };
        if let Some(reason) = gone_reason(&a.message, now) {
            return Ok(LinkState::Gone(reason, info));
        }
        if let Some(ct) = &r.code_hint_ct {
            let dek = self.message_dek(&a.message).await?;
            info.hint = Some(decrypt_text(
                &dek,
                &objects::hint(&a.message.id, &r.id),
                ct,
            )?);
        }
        Ok(LinkState::Active(info))
    }

    pub(crate) async fn active_access(&self, token: &str) -> Result<RecipientAccess> {
        let a = self.access(token).await?;
        if let Some(reason) = gone_reason(&a.message, Ts::now()) {
            return Err(Error::Gone(reason));
        }
        Ok(a)
    }

    /// `POST .../challenge`: a new one-time code by SMS or e-mail (the previous one stops
    /// working). Refused while locked.
    pub async fn challenge(
        &self,
        token: &str,
        method: Verification,
        ctx: &ClientCtx,
    ) -> Result<Challenge> {
        let a = self.active_access(token).await?;
        let r = &a.recipient;
        if r.verification == Verification::Code {
            return Err(Invalid::NoChallengeNeeded.into());
        }
        if method != r.verification {
            return Err(Invalid::WrongMethod {
                expected: r.verification,
            }
            .into());
        }
        let masked = match r.verification {
            Verification::Sms => validate::mask_phone(r.phone.as_deref().unwrap_or_default()),
            _ => validate::mask_email(&r.email),
        };
        let now = Ts::now();
        let sms_budget = match r.verification {
            Verification::Sms => Some(self.org_policy(&a.message.org_id).await?.sms_per_day),
            _ => None,
        };
        let code = zegel_crypto::random_code();
        let mac = self
            .keys
            .code_key()
            .mac(objects::code_input(&r.id, &code).as_bytes());
        let expires_at = now.plus_secs(self.settings.code_ttl_secs);
        let sealed = self
            .keys
            .seal_key()
            .seal(objects::code_aad(&r.id).as_bytes(), code.as_bytes());
        let job = JobPayload::SendCode(SendCode {
            message_id: a.message.id.clone(),
            recipient_id: r.id.clone(),
            channel: r.verification,
            code_sealed: objects::b64(&sealed),
            expires_at,
        })
        .into_job(now, 10)?;
        let ev = event(
            &a,
            EventKind::CodeRequested,
            ctx,
            Some(r.verification.as_str().into()),
        );
        let req = CodeRequest {
            recipient_id: &r.id,
            code_mac: &mac,
            expires_at: Some(expires_at),
            job: Some(&job),
            event: &ev,
            now,
            // CONTRACT: at most 5 codes per recipient per 15 minutes, counted in the database.
            max_per_window: self.settings.max_codes_per_window,
            window_ms: self.settings.code_window_secs.saturating_mul(1000),
            sms_budget: sms_budget.map(|per_day| SmsBudget {
                org_id: &a.message.org_id,
                day: utc_day(now),
                per_day,
            }),
        };
        let wait = |until: Ts| Ts::now().secs_until(until).max(1);
        match self.store.set_code(&req).await? {
            CodeRequestOutcome::Stored => {
                self.job_wakeup.notify_one();
                Ok(Challenge {
                    method: r.verification,
                    masked_destination: masked,
                    expires_in_seconds: self.settings.code_ttl_secs,
                })
            }
            CodeRequestOutcome::Locked { until } => Err(Error::Locked {
                retry_after_secs: wait(until),
            }),
            CodeRequestOutcome::Blocked => Err(Error::Blocked),
            CodeRequestOutcome::TooMany { retry_at } => Err(Error::TooManyCodes {
                retry_after_secs: wait(retry_at),
            }),
            CodeRequestOutcome::SmsBudgetSpent => {
                tracing::warn!(
                    org_id = %a.message.org_id,
                    per_day = sms_budget.unwrap_or_default(),
                    "the organisation's SMS budget for today is spent; an SMS code was refused"
                );
                Err(Error::SmsBudgetSpent {
                    retry_after_secs: wait(next_utc_day(now)),
                })
            }
        }
    }

    /// `POST .../verify`: checks the code in one locked transaction (the check, the
    /// comparison and the count are one step, so concurrent tries are counted one after
    /// another): at most `max_code_attempts` wrong tries (401), then a lockout (429) that grows
    /// with each round, and after `max_wrong_total` a block until the sender unblocks. A right
    /// code gives a session. While locked or blocked, the right code gets the same answer as a
    /// wrong one.
    pub async fn verify(&self, token: &str, code: &str, ctx: &ClientCtx) -> Result<SessionGrant> {
        let a = self.active_access(token).await?;
        let r = &a.recipient;
        let now = Ts::now();
        // A fast refusal on the state just read, without the write transaction: a lockout or
        // a block only ends by time or by the sender, never by a request racing this one.
        if r.blocked_at.is_some() {
            return Err(Error::Blocked);
        }
        if let Some(until) = r.locked_until.filter(|t| *t >= now) {
            return Err(Error::Locked {
                retry_after_secs: now.secs_until(until).max(1),
            });
        }
        let code: String = code
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        let mac = self
            .keys
            .code_key()
            .mac(objects::code_input(&r.id, &code).as_bytes());
        let well_formed = code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit());
        let (grant, session) = self.new_session(&r.id, now);
        let policy = self.settings.lockout_policy();
        let check = CodeCheck {
            recipient_id: &r.id,
            presented_mac: well_formed.then_some(&mac[..]),
            one_time: r.verification != Verification::Code,
            now,
            policy: &policy,
            session: &session,
            event: &event(&a, EventKind::CodeWrong, ctx, None),
        };
        match self.store.check_code(&check).await? {
            CodeVerdict::Accepted => {
                self.after_first_open(&a).await;
                Ok(grant)
            }
            CodeVerdict::Wrong { remaining, .. } => Err(Error::WrongCode { remaining }),
            // Counted from the answer's time: this try may have waited for the one that locked.
            CodeVerdict::Locked { until } => Err(Error::Locked {
                retry_after_secs: Ts::now().secs_until(until).max(1),
            }),
            CodeVerdict::Blocked => Err(Error::Blocked),
            CodeVerdict::Expired => Err(Error::CodeExpired),
        }
    }

    /// Resolves a session token for a link: 401 when missing/expired, 403 when it belongs to
    /// another recipient, 410 when the message is gone.
    pub async fn recipient_session(
        &self,
        token: &str,
        access_token: &str,
    ) -> Result<RecipientSession> {
        let a = self.active_access(token).await?;
        let s = self
            .store
            .session_by_hash(&zegel_crypto::token_hash(access_token))
            .await?
            .ok_or(Error::Unauthorized)?;
        if s.expires_at <= Ts::now() {
            return Err(Error::Unauthorized);
        }
        if !zegel_crypto::ct_eq(s.recipient_id.as_bytes(), a.recipient.id.as_bytes()) {
            return Err(Error::Forbidden);
        }
        Ok(RecipientSession {
            access: a,
            expires_at: s.expires_at,
        })
    }

    /// The message for a verified recipient (records `viewed`).
    pub async fn read_message(&self, s: &RecipientSession, ctx: &ClientCtx) -> Result<MessageView> {
        let m = &s.access.message;
        let dek = self.message_dek(m).await?;
        let (subject, body) = super::content::decrypt_subject_body(&dek, m)?
            .ok_or(Error::Gone(GoneReason::Revoked))?;
        let html = super::content::decrypt_html(&dek, m)?;
        let attachments = self.attachment_views(&dek, m).await?;
        self.store
            .record_event(&event(&s.access, EventKind::Viewed, ctx, None), None)
            .await?;
        let reply_allowed = self.reply_refused(&s.access).await?.is_none();
        Ok(MessageView {
            subject,
            body,
            html,
            sender: SenderView {
                name: s.access.sender_name.clone(),
                organisation: s.access.org_name.clone(),
            },
            sent_at: m.created_at.to_rfc3339(),
            expires_at: m.expires_at.to_rfc3339(),
            attachments,
            reply_allowed,
        })
    }

    /// What the recipient's message page may offer.
    pub async fn permissions(&self, s: &RecipientSession) -> Result<Permissions> {
        let a = &s.access;
        let policy = self
            .store
            .org_policy(&a.message.org_id)
            .await?
            .unwrap_or_default();
        let reply_refused = self.reply_refused(a).await?;
        let mut forward_note = None;
        let forwarded_by = self.email_of(a.recipient.forwarded_by.as_deref()).await?;
        if forwarded_by.is_some() {
            if let (Some(ct), Some(dek)) = (&a.recipient.note_ct, self.dek_of(&a.message).await?) {
                let object = objects::note(&a.message.id, &a.recipient.id);
                forward_note = Some(decrypt_text(&dek, &object, ct)?);
            }
        }
        Ok(Permissions {
            reply_allowed: reply_refused.is_none(),
            reply_refused,
            forward_allowed: policy.forward_allowed,
            device_days: policy.device_days,
            contact: policy.contact,
            forward_note,
            forwarded_by,
        })
    }
}

//! Sending a message: the contract request, validation, the [`MessageDraft`] whose attachments
//! stream into encrypted blobs, and its commit with the notification jobs in one transaction.

use super::checks::SendWarning;
use super::compose::{address_uses, HOLD_MS};
use super::drafts::{RowHead, Uploads};
use super::events;
use super::payloads::{JobPayload, NotifyRecipient};
use super::{new_id, objects, validate, ClientCtx, Zegel};
use crate::error::{Error, Invalid, NotAllowed, Result, TooLarge};
use crate::model::*;
use bytes::Bytes;
use futures::Stream;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The longest subject, in bytes (a mail header line).
const MAX_SUBJECT_BYTES: usize = 998;

/// `POST /api/v1/messages` JSON (contract). `subject` and `recipients` are required: a
/// request without them is malformed (400), see [`NewMessageReq::missing_field`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMessageReq {
    /// Subject (encrypted; CR/LF stripped). Required.
    pub subject: Option<String>,
    /// Body text (encrypted).
    #[serde(default)]
    pub body: String,
    /// Recipients. Required.
    pub recipients: Option<Vec<NewRecipientReq>>,
    /// Reply policy; the organisation's default when absent.
    #[serde(default)]
    pub reply: Option<ReplyPolicy>,
    /// Days until expiry.
    #[serde(default)]
    pub expires_in_days: Option<i64>,
    /// Continue a conversation: the id of one of its messages (one's own message, or a reply
    /// addressed to one). The recipients get a new notification for the same thread.
    #[serde(default)]
    pub in_reply_to: Option<String>,
    /// Mail the sender (no content) when each recipient first opens the message.
    #[serde(default)]
    pub read_receipt: bool,
}

/// One recipient in a new message (contract). `email` and `verification` are required.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRecipientReq {
    /// E-mail address for the notification. Required.
    pub email: Option<String>,
    /// Phone number, required for `sms`.
    #[serde(default)]
    pub phone: Option<String>,
    /// How the recipient proves who they are. Required.
    pub verification: Option<Verification>,
    /// The code the sender gives by phone (`code`); generated and returned once when absent.
    #[serde(default)]
    pub code: Option<String>,
    /// A hint for the code (no personal data).
    #[serde(default)]
    pub code_hint: Option<String>,
    /// `nl` (default) or `en`.
    #[serde(default)]
    pub language: Option<String>,
}

impl NewMessageReq {
    /// The first required field that is missing (a malformed request, 400), if any.
    pub fn missing_field(&self) -> Option<&'static str> {
        if self.subject.is_none() {
            return Some("subject");
        }
        let Some(recipients) = &self.recipients else {
            return Some("recipients");
        };
        recipients.iter().find_map(|r| {
            if r.email.is_none() {
                Some("email")
            } else if r.verification.is_none() {
                Some("verification")
            } else {
                None
            }
        })
    }
}

/// `201` body of a created message (contract).
#[derive(Debug, Clone, Serialize)]
pub struct MessageCreated {
    /// Message id.
    pub id: String,
    /// Expiry (RFC 3339).
    pub expires_at: String,
    /// Recipients.
    pub recipients: Vec<RecipientCreated>,
    /// The conversation it belongs to.
    pub thread_id: String,
    /// Link URLs, for the demo only; never serialised.
    #[serde(skip)]
    pub links: Vec<String>,
}

/// A created recipient.
#[derive(Debug, Clone, Serialize)]
pub struct RecipientCreated {
    /// Recipient id.
    pub id: String,
    /// E-mail.
    pub email: String,
    /// Status (`queued`).
    pub status: RecipientStatus,
    /// The code Zegel generated for `code` verification (shown to the sender once).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

struct ValidRecipient {
    email: String,
    phone: Option<String>,
    verification: Verification,
    /// The code, and whether Zegel generated it.
    code: Option<(String, bool)>,
    hint: Option<String>,
    language: Lang,
}

/// A care worker's message being sent: validated, keyed, attachments streaming into encrypted
/// blobs. [`MessageDraft::commit`] stores it and its notification jobs in one transaction;
/// dropping it or [`MessageDraft::abort`] deletes every blob written so far.
pub struct MessageDraft {
    uploads: Uploads,
    sender: User,
    org_id: String,
    /// The organisation key active when the request began.
    kek_id: String,
    subject: String,
    body: String,
    reply: ReplyPolicy,
    expires_at: Ts,
    recipients: Vec<ValidRecipient>,
    thread_id: String,
    read_receipt: bool,
    days: i64,
    /// The HTML body of a mail submitted with one (SMTP); shown only through the sanitiser.
    html: Option<String>,
    /// Came in by SMTP: a notification that fails for good is reported to the sender by mail.
    report_failures: bool,
}

impl std::fmt::Debug for MessageDraft {
    /// Never the subject, body or addresses (a draft may end up in a log line).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MessageDraft({})", self.uploads.message_id())
    }
}

fn recipient_of(r: NewRecipientReq) -> Result<ValidRecipient> {
    let (Some(raw_email), Some(verification)) = (r.email, r.verification) else {
        return Err(Error::BadRequest(
            "missing field `email` or `verification`".into(),
        ));
    };
    let email = validate::email(&raw_email)?;
    let phone = match r.phone.as_deref().filter(|p| !p.trim().is_empty()) {
        Some(p) => Some(validate::mobile_phone(p)?),
        None => None,
    };
    if verification == Verification::Sms && phone.is_none() {
        return Err(Invalid::SmsNeedsPhone { email }.into());
    }
    let code = match (verification, r.code.as_deref()) {
        (Verification::Code, Some(c)) => Some((validate::sender_code(c)?, false)),
        (Verification::Code, None) => Some((zegel_crypto::random_code(), true)),
        (_, Some(_)) => return Err(Invalid::CodeNotForMethod { email }.into()),
        (_, None) => None,
    };
    let hint = match r.code_hint.as_deref() {
        Some(h) if verification == Verification::Code => {
            Some(validate::code_hint(h)?).filter(|h| !h.is_empty())
        }
        Some(_) => return Err(Invalid::HintNotForMethod { email }.into()),
        None => None,
    };
    let language = match r.language.as_deref() {
        None => Lang::Nl,
        Some(l) => Lang::parse(l)
            .filter(|p| p.as_str() == l)
            .ok_or(Invalid::Language)?,
    };
    Ok(ValidRecipient {
        email,
        phone,
        verification,
        code,
        hint,
        language,
    })
}

impl Zegel {
    /// Validates a new message and prepares its key. Nothing is stored yet.
    pub async fn begin_message(
        self: &Arc<Self>,
        principal: &Principal,
        req: NewMessageReq,
    ) -> Result<MessageDraft> {
        if let Some(field) = req.missing_field() {
            return Err(Error::BadRequest(format!("missing field `{field}`")));
        }
        let Principal {
            user: sender,
            org,
            policy,
        } = principal;
        let s = &self.settings;
        let subject = validate::single_line(req.subject.as_deref().unwrap_or_default());
        if subject.is_empty() {
            return Err(Invalid::SubjectRequired.into());
        }
        if subject.len() > MAX_SUBJECT_BYTES {
            return Err(Invalid::SubjectTooLong {
                max: MAX_SUBJECT_BYTES,
            }
            .into());
        }
        if req.body.len() > s.max_body_bytes {
            return Err(TooLarge::Body {
                max: s.max_body_bytes,
            }
            .into());
        }
        let requested = req.recipients.unwrap_or_default();
        if requested.is_empty() {
            return Err(Invalid::NoRecipients.into());
        }
        if requested.len() > s.max_recipients {
            return Err(Invalid::TooManyRecipients {
                max: s.max_recipients,
            }
            .into());
        }
        // The organisation's retention: its default when none is asked for, never above its
        // maximum.
        let availability = s.availability(policy);
        let days = req.expires_in_days.unwrap_or(availability.default_days);
        if !(1..=availability.max_days).contains(&days) {
            return Err(Invalid::ExpiryDays {
                max: availability.max_days,
            }
            .into());
        }
        let mut recipients: Vec<ValidRecipient> = Vec::with_capacity(requested.len());
        for r in requested {
            let valid = recipient_of(r)?;
            if let (Verification::Sms, Some(phone)) = (valid.verification, &valid.phone) {
                validate::sms_country(phone, &policy.sms_countries)?;
            }
            if recipients.iter().any(|v| v.email == valid.email) {
                return Err(Invalid::DuplicateRecipient { email: valid.email }.into());
            }
            recipients.push(valid);
        }
        let reply = match req.reply {
            None => policy.reply_default,
            Some(p) if policy.reply_locked && p != policy.reply_default => {
                return Err(NotAllowed::ReplyPolicyLocked {
                    policy: policy.reply_default,
                }
                .into())
            }
            Some(p) => p,
        };
        let uploads = Uploads::new(self.clone(), s.max_attachments);
        let thread_id = match req.in_reply_to.as_deref() {
            None => uploads.message_id().to_owned(),
            Some(id) => self.visible_to_sender(sender, id).await?.thread_id,
        };
        Ok(MessageDraft {
            uploads,
            sender: sender.clone(),
            org_id: org.id.clone(),
            kek_id: org.active_kek_id.clone(),
            subject,
            body: req.body,
            reply,
            expires_at: Ts::now().plus_secs(days * 86_400),
            recipients,
            thread_id,
            read_receipt: req.read_receipt,
            days,
            html: None,
            report_failures: false,
        })
    }

    /// A message or reply the sender may continue: their own message, or a reply addressed to
    /// them.
    async fn visible_to_sender(&self, sender: &User, id: &str) -> Result<MessageRow> {
        match self.store.message_by_id(id).await? {
            Some(m) if m.sender_id == sender.id => Ok(m),
            _ => Err(Invalid::InReplyTo { id: id.to_owned() }.into()),
        }
    }
}

impl MessageDraft {
    /// Keeps an HTML body with the text (a mail submitted over SMTP); at most the body limit.
    pub fn set_html(&mut self, html: String) -> Result<()> {
        super::drafts::check_body_sizes(&self.uploads.zegel().settings, "", Some(&html))?;
        self.html = Some(html);
        Ok(())
    }

    /// Reports a notification that fails for good to the sender by mail (RFC 3464), as a
    /// mail client expects of mail it submitted.
    pub fn report_failures_by_mail(&mut self) {
        self.report_failures = true;
    }

    /// The attachments, for streaming more in.
    pub fn uploads(&mut self) -> &mut Uploads {
        &mut self.uploads
    }

    /// Streams one attachment into an encrypted blob (see [`Uploads::add`]).
    pub async fn add_attachment<S>(&mut self, name: &str, content_type: &str, data: S) -> Result<()>
    where
        S: Stream<Item = Result<Bytes>> + Unpin,
    {
        self.uploads.add(name, content_type, data).await
    }

    /// Deletes every blob written so far.
    pub async fn abort(mut self) {
        self.uploads.abort().await;
    }

    /// The message's id.
    pub fn id(&self) -> &str {
        self.uploads.message_id()
    }

    /// The recipients' addresses (lower-cased), in the sender's order.
    pub fn addresses(&self) -> Vec<String> {
        self.recipients.iter().map(|r| r.email.clone()).collect()
    }

    /// The checks before sending (see [`super::checks`]) for this draft's recipients.
    pub async fn warnings(&self) -> Result<Vec<SendWarning>> {
        self.uploads
            .zegel()
            .send_warnings(&self.org_id, &self.addresses())
            .await
    }

    /// Stores the message, recipients and notification jobs in one transaction.
    pub async fn commit(self, ctx: &ClientCtx) -> Result<MessageCreated> {
        self.detached(ctx, false).await
    }

    /// Stores the message held (see [`crate::model::Hold`]): attachments and all, but its
    /// notifications wait for [`Zegel::release_message`]; unconfirmed, it is destroyed when
    /// the hold ends ([`HOLD_MS`]), or at once by [`Zegel::cancel_message`].
    pub async fn hold(self, ctx: &ClientCtx) -> Result<MessageCreated> {
        self.detached(ctx, true).await
    }

    /// [`Self::store`] on its own task: a caller that goes away while it runs (a client
    /// closing its connection drops the request) cannot cut it off between its awaits (an
    /// organisation key may be read from the store first), so the message ends whole or not
    /// at all.
    async fn detached(self, ctx: &ClientCtx, held: bool) -> Result<MessageCreated> {
        let ctx = ctx.clone();
        tokio::spawn(async move { self.store(&ctx, held).await })
            .await
            .map_err(|e| crate::error::Error::Internal(format!("the commit task failed: {e}")))?
    }

    async fn store(mut self, ctx: &ClientCtx, held: bool) -> Result<MessageCreated> {
        let z = self.uploads.zegel();
        let mid = self.uploads.message_id().to_owned();
        let now = Ts::now();
        let jobs_at = if held { HELD_RUN_AT } else { now };
        let mut recipients = Vec::new();
        let mut created = Vec::new();
        let mut jobs = Vec::new();
        let mut events = Vec::new();
        let mut links = Vec::new();
        for r in &self.recipients {
            let rid = new_id();
            let token = zegel_crypto::random_token();
            let code_mac = r.code.as_ref().map(|(c, _)| {
                z.keys
                    .code_key()
                    .mac(objects::code_input(&rid, c).as_bytes())
                    .to_vec()
            });
            recipients.push(RecipientRow {
                id: rid.clone(),
                message_id: mid.clone(),
                email: r.email.clone(),
                phone: r.phone.clone(),
                verification: r.verification,
                code_hint_ct: r
                    .hint
                    .as_ref()
                    .map(|h| self.uploads.encrypt_small(&objects::hint(&mid, &rid), h)),
                link_hash: zegel_crypto::token_hash(&token).to_vec(),
                status: RecipientStatus::Queued,
                failed_reason: None,
                code_mac,
                code_expires_at: None,
                failed_attempts: 0,
                locked_until: None,
                language: r.language,
                notified_at: None,
                created_at: now,
                forwarded_by: None,
                note_ct: None,
                wrong_total: 0,
                blocked_at: None,
            });
            let sealed = z
                .keys
                .seal_key()
                .seal(objects::notify_aad(&rid).as_bytes(), token.as_bytes());
            jobs.push(
                JobPayload::NotifyRecipient(NotifyRecipient {
                    message_id: mid.clone(),
                    recipient_id: rid.clone(),
                    token_sealed: objects::b64(&sealed),
                    renewal: None,
                    report_failure: self.report_failures,
                })
                // CONTRACT: retries go on for at least 24 hours (see Settings).
                .into_job(jobs_at, z.settings.notify_max_attempts)?,
            );
            events.push(events::by_sender(
                &self.sender,
                &mid,
                Some(&rid),
                EventKind::Sent,
                now,
                ctx,
                None,
            ));
            links.push(format!("{}/m/{}", z.settings.public_url, token));
            created.push(RecipientCreated {
                id: rid,
                email: r.email.clone(),
                status: RecipientStatus::Queued,
                code: r
                    .code
                    .as_ref()
                    .filter(|(_, generated)| *generated)
                    .map(|(c, _)| c.clone()),
            });
        }
        // The key is wrapped under the organisation key the request saw active; should a key
        // rotation have retired it since, `store_message` wraps it again under the new one.
        let kek = z.keys.kek(&z.store, &self.kek_id).await?;
        let sealed = self.uploads.sealed_row(
            &kek,
            RowHead {
                org_id: self.org_id.clone(),
                sender_id: self.sender.id.clone(),
                reply_policy: self.reply,
                created_at: now,
                expires_at: if held {
                    now.plus_millis(HOLD_MS)
                } else {
                    self.expires_at
                },
                kind: MessageKind::Message,
                thread_id: self.thread_id.clone(),
                parent_id: None,
                from_recipient_id: None,
                from_address: None,
                from_verified: false,
                html: self.html.clone(),
            },
            &self.subject,
            &self.body,
        );
        let mut address_book = if held {
            Vec::new()
        } else {
            address_uses(&self.org_id, &recipients, now)
        };
        address_book.sort_by(|a, b| a.address.cmp(&b.address));
        let m = NewMessage {
            message: sealed.row,
            key: sealed.key,
            recipients,
            attachments: self.uploads.rows().to_vec(),
            // A held message's `sent` events are recorded at its release.
            events: if held { Vec::new() } else { events },
            jobs,
            sending: SendOptions {
                read_receipt: self.read_receipt,
                hold: held.then_some(Hold {
                    expiry_ms: self.days.saturating_mul(86_400_000),
                }),
                address_book,
            },
        };
        let attachment_count = m.attachments.len();
        self.uploads.store_message(m).await?;
        if held {
            tracing::info!(message_id = %mid, recipients = created.len(), attachments = attachment_count, "message held for confirmation");
        } else {
            z.job_wakeup.notify_one();
            tracing::info!(message_id = %mid, recipients = created.len(), attachments = attachment_count, "message sent");
        }
        Ok(MessageCreated {
            id: mid,
            expires_at: self.expires_at.to_rfc3339(),
            recipients: created,
            thread_id: self.thread_id.clone(),
            links,
        })
    }
}

//! Conversations: a recipient's secure reply (to the original sender only), secure forwards,
//! the thread as each side sees it, the sender's inbox, remembered devices and the
//! organisation's policy. Shared by the JSON APIs and the HTML viewer.
//!
//! A reply is a message row of kind `reply` in the same thread, with its own key, written by a
//! recipient (`from_recipient_id`) and addressed to the sender of the message it answers
//! (`sender_id`). A forward adds a recipient (`forwarded_by`) to the forwarded message; the new
//! recipient verifies on their own.

use super::access::{event, gone_reason};
use super::messages::{
    b64, notify_aad, object_body, object_note, object_subject, AttachmentView, Draft, NotifyPayload,
};
use super::{new_id, validate, ClientCtx, Zegel};
use crate::error::{Error, GoneReason, Result};
use crate::model::*;
use bytes::Bytes;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::Arc;
use zegel_crypto::{Dek, ALG_STREAM};

/// Max characters of a forward's note.
const MAX_NOTE_CHARS: usize = 2000;

/// What a reply draft answers.
#[derive(Debug, Clone)]
pub(crate) struct ReplyTarget {
    parent: MessageRow,
    recipient: RecipientRow,
}

/// `201` body of a stored reply.
#[derive(Debug, Clone, Serialize)]
pub struct ReplyCreated {
    /// The reply's id.
    pub id: String,
    /// The conversation.
    pub thread_id: String,
    /// Stored at (RFC 3339).
    pub created_at: String,
    /// Attachments stored with it.
    pub attachment_count: usize,
}

/// A forward request from a recipient.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardReq {
    /// The new recipient's e-mail address (gets the notification).
    pub email: String,
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

/// One message or reply in a conversation, decrypted for its reader.
#[derive(Debug, Clone, Serialize)]
pub struct ThreadItem {
    /// Id.
    pub id: String,
    /// `message` (from a care worker) or `reply` (from a recipient).
    pub kind: MessageKind,
    /// Who wrote it: the sender's name, or the recipient's e-mail address.
    pub from: String,
    /// Written by the reader.
    pub mine: bool,
    /// The message the reader's link is for.
    pub current: bool,
    /// Sent at (RFC 3339).
    pub sent_at: String,
    /// Sent at.
    #[serde(skip)]
    pub sent_ts: Ts,
    /// Subject; `null` once destroyed.
    pub subject: Option<String>,
    /// Body text; `null` once destroyed.
    pub body: Option<String>,
    /// Attachments (none once destroyed).
    pub attachments: Vec<AttachmentView>,
    /// `revoked` or `expired` when its content is gone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gone: Option<String>,
}

/// A conversation.
#[derive(Debug, Clone, Serialize)]
pub struct ThreadView {
    /// Thread id (the first message's id).
    pub id: String,
    /// Oldest first.
    pub items: Vec<ThreadItem>,
}

/// Someone addressed in the inbox.
#[derive(Debug, Clone, Serialize)]
pub struct PartyView {
    /// E-mail address.
    pub email: String,
}

/// One entry of `GET /api/v1/inbox`: a reply to the sender, or a forward of one of the
/// sender's messages.
#[derive(Debug, Clone, Serialize)]
pub struct InboxItem {
    /// Reply id, or the forwarded recipient's id.
    pub id: String,
    /// `reply` or `forward`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The conversation.
    pub thread_id: String,
    /// The sender's message it concerns.
    pub message_id: String,
    /// The recipient who replied or forwarded.
    pub from: PartyView,
    /// For a forward: the new recipient.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<PartyView>,
    /// When (RFC 3339).
    pub received_at: String,
    #[serde(skip)]
    received_ts: Ts,
    /// Subject (decrypted); `null` once destroyed.
    pub subject: Option<String>,
    /// For a reply: whether the sender has read it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read: Option<bool>,
    /// For a reply: its number of attachments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachment_count: Option<usize>,
}

/// A reply as its addressee reads it (`GET /api/v1/inbox/{id}`).
#[derive(Debug, Clone, Serialize)]
pub struct ReplyView {
    /// Id.
    pub id: String,
    /// The conversation.
    pub thread_id: String,
    /// The message it answers.
    pub in_reply_to: String,
    /// The recipient who wrote it.
    pub from: PartyView,
    /// Received at (RFC 3339).
    pub received_at: String,
    /// Expires at (RFC 3339).
    pub expires_at: String,
    /// Subject.
    pub subject: String,
    /// Body text.
    pub body: String,
    /// Attachments.
    pub attachments: Vec<AttachmentView>,
}

/// What the recipient's message page may offer.
#[derive(Debug, Clone, Serialize)]
pub struct Permissions {
    /// "Beantwoorden" is possible now.
    pub reply_allowed: bool,
    /// Why not, when not: `off` (the sender turned replies off) or `used` (the one reply was
    /// sent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_refused: Option<&'static str>,
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

/// The organisation's policy as an admin sets it (`PUT /api/v1/organisation/policy`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDoc {
    /// Default reply policy.
    pub reply_default: ReplyPolicy,
    /// Senders may not change the reply policy.
    pub reply_locked: bool,
    /// Recipients may forward.
    pub forward_allowed: bool,
    /// "Remember this device" days (0 = off, at most 90).
    pub device_days: i64,
    /// Public contact line for the recipient pages.
    #[serde(default)]
    pub contact: Option<String>,
}

impl From<OrgPolicy> for PolicyDoc {
    fn from(p: OrgPolicy) -> Self {
        PolicyDoc {
            reply_default: p.reply_default,
            reply_locked: p.reply_locked,
            forward_allowed: p.forward_allowed,
            device_days: p.device_days,
            contact: p.contact,
        }
    }
}

/// The longest "remember this device" an organisation may allow.
pub const MAX_DEVICE_DAYS: i64 = 90;

fn json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Internal(e.to_string()))
}

/// Payload of a `notify_sender` job (a reply arrived).
#[derive(Serialize, Deserialize)]
pub(crate) struct SenderNotifyPayload {
    /// The reply.
    pub message_id: String,
}

impl Zegel {
    /// The organisation's policy (defaults when never set).
    pub async fn org_policy(&self, org_id: &str) -> Result<OrgPolicy> {
        Ok(self.store.org_policy(org_id).await?.unwrap_or_default())
    }

    /// Sets the organisation's policy (admins only).
    pub async fn set_org_policy(&self, admin: &User, doc: PolicyDoc) -> Result<PolicyDoc> {
        if admin.role != "admin" {
            return Err(Error::Forbidden);
        }
        self.set_org_policy_of(&admin.org_id, doc).await
    }

    /// Sets or removes an organisation's logo (PNG, JPEG or WebP, at most 256 KiB), shown on
    /// the recipient pages.
    pub async fn set_org_logo(&self, org_id: &str, logo: Option<&[u8]>) -> Result<()> {
        let with_type = match logo {
            None => None,
            Some(bytes) => {
                if bytes.len() > 256 * 1024 {
                    return Err(Error::TooLarge("a logo is at most 256 KiB".into()));
                }
                let ct = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
                    "image/png"
                } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
                    "image/jpeg"
                } else if bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
                    "image/webp"
                } else {
                    return Err(Error::Invalid(
                        "a logo must be a PNG, JPEG or WebP image".into(),
                    ));
                };
                Some((bytes, ct))
            }
        };
        if !self.store.set_org_logo(org_id, with_type).await? {
            return Err(Error::NotFound);
        }
        Ok(())
    }

    /// Sets an organisation's policy (CLI and admins).
    pub async fn set_org_policy_of(&self, org_id: &str, doc: PolicyDoc) -> Result<PolicyDoc> {
        if !(0..=MAX_DEVICE_DAYS).contains(&doc.device_days) {
            return Err(Error::Invalid(format!(
                "device_days must be between 0 and {MAX_DEVICE_DAYS}"
            )));
        }
        let contact = doc
            .contact
            .as_deref()
            .map(validate::single_line)
            .map(|c| c.chars().take(200).collect::<String>())
            .filter(|c| !c.trim().is_empty());
        let p = OrgPolicy {
            reply_default: doc.reply_default,
            reply_locked: doc.reply_locked,
            forward_allowed: doc.forward_allowed,
            device_days: doc.device_days,
            contact,
            has_logo: false,
        };
        if !self.store.set_org_policy(org_id, &p).await? {
            return Err(Error::NotFound);
        }
        tracing::info!(org_id = %org_id, "organisation policy changed");
        Ok(p.into())
    }

    /// A message or reply the sender may see: their own message, or a reply addressed to them.
    pub(crate) async fn visible_to_sender(&self, sender: &User, id: &str) -> Result<MessageRow> {
        match self.store.message_by_id(id).await? {
            Some(m) if m.sender_id == sender.id => Ok(m),
            _ => Err(Error::Invalid(format!(
                "in_reply_to: no message {id} of yours"
            ))),
        }
    }

    // ---------- the recipient's side ----------

    /// What the recipient's message page may offer.
    pub async fn permissions(&self, s: &super::RecipientSession) -> Result<Permissions> {
        let a = &s.access;
        let policy = self.org_policy(&a.message.org_id).await?;
        let reply_refused = self.reply_refused(a).await?;
        let mut forward_note = None;
        let forwarded_by = self.email_of(a.recipient.forwarded_by.as_deref()).await?;
        if forwarded_by.is_some() {
            if let (Some(ct), Some(dek)) = (&a.recipient.note_ct, self.dek_of(&a.message).await?) {
                let pt = dek.decrypt_small(&object_note(&a.message.id, &a.recipient.id), ct)?;
                forward_note = Some(String::from_utf8_lossy(&pt).into_owned());
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

    /// Starts a reply to the sender of the session's message (never to other recipients).
    /// Attachments stream in with `Draft::add_attachment`; `commit_reply` stores it.
    pub async fn begin_reply(
        self: &Arc<Self>,
        s: &super::RecipientSession,
        body: String,
    ) -> Result<Draft> {
        let a = &s.access;
        let parent = a.message.clone();
        match self.reply_refused(a).await? {
            Some("off") => {
                return Err(Error::NotAllowed(
                    "the sender does not accept replies to this message".into(),
                ))
            }
            Some(_) => {
                return Err(Error::Conflict(
                    "this message allows one reply, and it was sent".into(),
                ))
            }
            None => {}
        }
        if body.len() > self.settings.max_body_bytes {
            return Err(Error::TooLarge(format!(
                "body is over {} bytes",
                self.settings.max_body_bytes
            )));
        }
        let sender = self
            .store
            .user_by_id(&parent.sender_id)
            .await?
            .ok_or_else(|| Error::Internal("message without sender".into()))?;
        let org = self
            .store
            .org_by_id(&parent.org_id)
            .await?
            .ok_or_else(|| Error::Internal("message without organisation".into()))?;
        let subject = self
            .decrypt_subject(&parent)
            .await?
            .ok_or(Error::Gone(GoneReason::Revoked))?;
        let subject = if subject.to_lowercase().starts_with("re:") {
            subject
        } else {
            format!("Re: {subject}")
        };
        let subject: String = subject.chars().take(998).collect();
        let kek = self.keys.active_kek(&self.store, &org).await?;
        let now = Ts::now();
        Ok(Draft {
            z: self.clone(),
            sender,
            org,
            kek,
            dek: Dek::generate(),
            message_id: new_id(),
            subject,
            body,
            reply: ReplyPolicy::Off,
            expires_at: now.plus_secs(self.settings.default_expiry_days * 86_400),
            recipients: Vec::new(),
            attachments: Vec::new(),
            total_bytes: 0,
            max_attachments: self.settings.max_reply_attachments,
            thread_id: parent.thread_id.clone(),
            reply_to: Some(ReplyTarget {
                parent,
                recipient: a.recipient.clone(),
            }),
            done: false,
        })
    }

    /// Sends a secure forward of the session's message to a new recipient, who verifies on
    /// their own (SMS when a phone number is given, else e-mail).
    pub async fn forward(
        &self,
        s: &super::RecipientSession,
        req: ForwardReq,
        ctx: &ClientCtx,
    ) -> Result<ForwardCreated> {
        let a = &s.access;
        let m = &a.message;
        let policy = self.org_policy(&m.org_id).await?;
        if !policy.forward_allowed {
            return Err(Error::NotAllowed(
                "the organisation does not allow forwarding".into(),
            ));
        }
        let email = validate::email(&req.email)?;
        let phone = match req.phone.as_deref().filter(|p| !p.trim().is_empty()) {
            Some(p) => Some(validate::normalise_phone(p)?),
            None => None,
        };
        let note = req
            .note
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty());
        if note
            .as_ref()
            .is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS)
        {
            return Err(Error::Invalid(format!(
                "the note is longer than {MAX_NOTE_CHARS} characters"
            )));
        }
        let existing = self.store.recipients_of(&m.id).await?;
        if existing.iter().any(|r| r.email == email) {
            return Err(Error::Conflict(format!(
                "{email} has already received this message"
            )));
        }
        if existing.len() >= self.settings.max_recipients * 2 {
            return Err(Error::NotAllowed(
                "this message has been forwarded too often".into(),
            ));
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
            language: a.recipient.language.clone(),
            notified_at: None,
            created_at: now,
            forwarded_by: Some(a.recipient.id.clone()),
            note_ct: note
                .as_ref()
                .map(|n| dek.encrypt_small(&object_note(&m.id, &rid), n.as_bytes())),
        };
        let sealed = self
            .keys
            .seal_key()
            .seal(notify_aad(&rid).as_bytes(), token.as_bytes());
        let job = NewJob {
            kind: super::jobs::KIND_NOTIFY.into(),
            payload: json(&NotifyPayload {
                message_id: m.id.clone(),
                recipient_id: rid.clone(),
                token_sealed: b64(&sealed),
            })?,
            run_at: now,
            max_attempts: self.settings.notify_max_attempts,
        };
        let forwarded = event(a, "forwarded", ctx, Some(rid.clone()));
        let sent = NewEvent {
            message_id: m.id.clone(),
            recipient_id: Some(rid.clone()),
            kind: "sent".into(),
            at: now,
            actor: format!("recipient:{}", a.recipient.id),
            ip: ctx.ip.clone(),
            user_agent: ctx.user_agent.clone(),
            detail: Some("forward".into()),
        };
        let stored = self
            .store
            .insert_forward(&NewForward {
                recipient,
                events: vec![forwarded, sent],
                job,
            })
            .await?;
        if !stored {
            return Err(Error::Gone(
                gone_reason(m, now).unwrap_or(GoneReason::Revoked),
            ));
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

    /// The messages and replies of the conversation this recipient may see, oldest first, with
    /// whether they wrote it and who did; nothing is decrypted. Visible: every message of the
    /// thread addressed to their e-mail address, and every reply written from one of those
    /// recipient rows (a reply always follows its message in the thread).
    async fn visible_rows(&self, a: &RecipientAccess) -> Result<Vec<(MessageRow, bool, String)>> {
        let me = a.recipient.email.as_str();
        let mut mine_ids: HashSet<String> = HashSet::from([a.recipient.id.clone()]);
        let mut rows = Vec::new();
        for m in self.store.thread_messages(&a.message.thread_id).await? {
            match m.kind {
                MessageKind::Message => {
                    if m.id != a.message.id {
                        let before = mine_ids.len();
                        mine_ids.extend(
                            self.store
                                .recipients_of(&m.id)
                                .await?
                                .into_iter()
                                .filter(|r| r.email == me)
                                .map(|r| r.id),
                        );
                        if mine_ids.len() == before {
                            continue;
                        }
                    }
                    let from = if m.sender_id == a.message.sender_id {
                        a.sender_name.clone()
                    } else {
                        let user = self.store.user_by_id(&m.sender_id).await?;
                        user.map(|u| u.name).unwrap_or_default()
                    };
                    rows.push((m, false, from));
                }
                MessageKind::Reply => {
                    if m.from_recipient_id
                        .as_ref()
                        .is_some_and(|id| mine_ids.contains(id))
                    {
                        rows.push((m, true, me.to_string()));
                    }
                }
            }
        }
        Ok(rows)
    }

    /// The conversation as the session's recipient sees it (see `visible_rows`), decrypted.
    pub async fn recipient_thread(&self, s: &super::RecipientSession) -> Result<ThreadView> {
        let a = &s.access;
        let now = Ts::now();
        let mut items = Vec::new();
        for (m, mine, from) in self.visible_rows(a).await? {
            let current = m.id == a.message.id;
            items.push(self.thread_item(&m, mine, from, current, now).await?);
        }
        Ok(ThreadView {
            id: a.message.thread_id.clone(),
            items,
        })
    }

    async fn thread_item(
        &self,
        m: &MessageRow,
        mine: bool,
        from: String,
        current: bool,
        now: Ts,
    ) -> Result<ThreadItem> {
        let gone = gone_reason(m, now);
        let mut item = ThreadItem {
            id: m.id.clone(),
            kind: m.kind,
            from,
            mine,
            current,
            sent_at: m.created_at.to_rfc3339(),
            sent_ts: m.created_at,
            subject: None,
            body: None,
            attachments: Vec::new(),
            gone: gone.map(|g| g.to_string()),
        };
        if gone.is_some() {
            return Ok(item);
        }
        let Some(dek) = self.dek_of(m).await? else {
            item.gone = Some(GoneReason::Revoked.to_string());
            return Ok(item);
        };
        if let (Some(s), Some(b)) = (&m.subject_ct, &m.body_ct) {
            item.subject = Some(
                String::from_utf8_lossy(&dek.decrypt_small(&object_subject(&m.id), s)?)
                    .into_owned(),
            );
            item.body = Some(
                String::from_utf8_lossy(&dek.decrypt_small(&object_body(&m.id), b)?).into_owned(),
            );
        }
        item.attachments = self.attachment_views(&dek, m).await?;
        Ok(item)
    }

    /// An attachment of any message the recipient can see in their conversation (the
    /// message itself, earlier messages to them, their own replies), decrypted as a stream.
    /// Only the message that holds it is decrypted.
    pub async fn open_thread_attachment(
        &self,
        s: &super::RecipientSession,
        attachment_id: &str,
        ctx: &ClientCtx,
    ) -> Result<(AttachmentView, BoxStream<'static, Result<Bytes>>)> {
        let now = Ts::now();
        for (m, _, _) in self.visible_rows(&s.access).await? {
            if gone_reason(&m, now).is_some() {
                continue;
            }
            let atts = self.store.attachments_of(&m.id).await?;
            let Some(row) = atts.iter().find(|a| a.id == attachment_id) else {
                continue;
            };
            let dek = self.dek_of(&m).await?.ok_or(Error::NotFound)?;
            return self
                .stream_attachment(&m, &dek, row, |aid| {
                    event(&s.access, "downloaded", ctx, Some(aid))
                })
                .await;
        }
        Err(Error::NotFound)
    }

    // ---------- remembered devices ----------

    /// After a verified visit, when the organisation allows it: a device credential for this
    /// recipient (the token goes into a cookie; only its hash is stored). `None` when the
    /// organisation does not remember devices.
    pub async fn remember_device(
        &self,
        s: &super::RecipientSession,
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
            .create_device(&d, &event(&s.access, "device_remembered", ctx, Some(id)))
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
    ) -> Result<Option<super::SessionGrant>> {
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
                &event(&a, "opened", ctx, Some("device".into())),
                now,
            )
            .await?;
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
            || (user.role == "admin" && user.org_id == a.message.org_id);
        if !allowed {
            return Err(Error::NotFound);
        }
        let ev = NewEvent {
            message_id: a.message.id.clone(),
            recipient_id: Some(d.recipient_id.clone()),
            kind: "device_revoked".into(),
            at: Ts::now(),
            actor: format!("sender:{}", user.id),
            ip: None,
            user_agent: None,
            detail: Some(d.id.clone()),
        };
        self.store.revoke_device(&d.id, Ts::now(), &ev).await?;
        tracing::info!(device_id = %d.id, "device revoked");
        Ok(())
    }

    // ---------- the sender's side ----------

    /// `GET /api/v1/inbox`: replies to the sender and forwards of the sender's messages,
    /// newest first.
    pub async fn inbox(
        &self,
        sender: &User,
        before: Option<Ts>,
        limit: u32,
    ) -> Result<Vec<InboxItem>> {
        let limit = limit.clamp(1, 200);
        let mut items = Vec::new();
        for m in self.store.inbox_replies(&sender.id, before, limit).await? {
            let from = self.email_of(m.from_recipient_id.as_deref()).await?;
            items.push(InboxItem {
                id: m.id.clone(),
                kind: "reply",
                thread_id: m.thread_id.clone(),
                message_id: m.parent_id.clone().unwrap_or_default(),
                from: PartyView {
                    email: from.unwrap_or_default(),
                },
                to: None,
                received_at: m.created_at.to_rfc3339(),
                received_ts: m.created_at,
                subject: self.decrypt_subject(&m).await?,
                read: Some(m.read_at.is_some()),
                attachment_count: Some(self.store.attachments_of(&m.id).await?.len()),
            });
        }
        for r in self.store.inbox_forwards(&sender.id, before, limit).await? {
            let Some(m) = self.store.message_by_id(&r.message_id).await? else {
                continue;
            };
            let from = self.email_of(r.forwarded_by.as_deref()).await?;
            items.push(InboxItem {
                id: r.id.clone(),
                kind: "forward",
                thread_id: m.thread_id.clone(),
                message_id: m.id.clone(),
                from: PartyView {
                    email: from.unwrap_or_default(),
                },
                to: Some(PartyView { email: r.email }),
                received_at: r.created_at.to_rfc3339(),
                received_ts: r.created_at,
                subject: self.decrypt_subject(&m).await?,
                read: None,
                attachment_count: None,
            });
        }
        items.sort_by(|a, b| b.received_ts.cmp(&a.received_ts).then(b.id.cmp(&a.id)));
        items.truncate(limit as usize);
        Ok(items)
    }

    async fn own_reply(&self, sender: &User, id: &str) -> Result<MessageRow> {
        match self.store.message_by_id(id).await? {
            Some(m) if m.sender_id == sender.id && m.kind == MessageKind::Reply => Ok(m),
            _ => Err(Error::NotFound),
        }
    }

    fn reply_event(sender: &User, m: &MessageRow, kind: &str, detail: Option<String>) -> NewEvent {
        NewEvent {
            message_id: m.parent_id.clone().unwrap_or_else(|| m.id.clone()),
            recipient_id: m.from_recipient_id.clone(),
            kind: kind.into(),
            at: Ts::now(),
            actor: format!("sender:{}", sender.id),
            ip: None,
            user_agent: None,
            detail,
        }
    }

    /// `GET /api/v1/inbox/{id}`: a reply, decrypted for its addressee (records `reply_read`).
    pub async fn read_reply(&self, sender: &User, id: &str) -> Result<ReplyView> {
        let m = self.own_reply(sender, id).await?;
        if let Some(g) = gone_reason(&m, Ts::now()) {
            return Err(Error::Gone(g));
        }
        let dek = self
            .dek_of(&m)
            .await?
            .ok_or(Error::Gone(GoneReason::Expired))?;
        let (Some(s), Some(b)) = (&m.subject_ct, &m.body_ct) else {
            return Err(Error::Gone(GoneReason::Expired));
        };
        let subject =
            String::from_utf8_lossy(&dek.decrypt_small(&object_subject(&m.id), s)?).into_owned();
        let body =
            String::from_utf8_lossy(&dek.decrypt_small(&object_body(&m.id), b)?).into_owned();
        let attachments = self.attachment_views(&dek, &m).await?;
        let from = self.email_of(m.from_recipient_id.as_deref()).await?;
        let now = Ts::now();
        self.store.mark_read(&m.id, now).await?;
        self.store
            .record_event(
                &Self::reply_event(sender, &m, "reply_read", Some(m.id.clone())),
                None,
            )
            .await?;
        Ok(ReplyView {
            id: m.id.clone(),
            thread_id: m.thread_id.clone(),
            in_reply_to: m.parent_id.clone().unwrap_or_default(),
            from: PartyView {
                email: from.unwrap_or_default(),
            },
            received_at: m.created_at.to_rfc3339(),
            expires_at: m.expires_at.to_rfc3339(),
            subject,
            body,
            attachments,
        })
    }

    /// `GET /api/v1/inbox/{id}/attachments/{aid}`: a reply's attachment, decrypted as a stream.
    pub async fn open_reply_attachment(
        &self,
        sender: &User,
        id: &str,
        attachment_id: &str,
    ) -> Result<(AttachmentView, BoxStream<'static, Result<Bytes>>)> {
        let m = self.own_reply(sender, id).await?;
        if let Some(g) = gone_reason(&m, Ts::now()) {
            return Err(Error::Gone(g));
        }
        let dek = self
            .dek_of(&m)
            .await?
            .ok_or(Error::Gone(GoneReason::Expired))?;
        let atts = self.store.attachments_of(&m.id).await?;
        let row = atts
            .iter()
            .find(|a| a.id == attachment_id)
            .ok_or(Error::NotFound)?;
        self.stream_attachment(&m, &dek, row, |aid| {
            Self::reply_event(sender, &m, "reply_downloaded", Some(aid))
        })
        .await
    }

    /// `GET /api/v1/threads/{id}`: the conversation as the sender sees it: their own messages
    /// and the replies addressed to them.
    pub async fn sender_thread(&self, sender: &User, thread_id: &str) -> Result<ThreadView> {
        let now = Ts::now();
        let mut items = Vec::new();
        for m in self.store.thread_messages(thread_id).await? {
            if m.sender_id != sender.id {
                continue;
            }
            let (mine, from) = match m.kind {
                MessageKind::Message => (true, sender.name.clone()),
                MessageKind::Reply => {
                    let author = self.email_of(m.from_recipient_id.as_deref()).await?;
                    (false, author.unwrap_or_default())
                }
            };
            items.push(self.thread_item(&m, mine, from, false, now).await?);
        }
        if items.is_empty() {
            return Err(Error::NotFound);
        }
        Ok(ThreadView {
            id: thread_id.to_string(),
            items,
        })
    }
}

impl Draft {
    /// Stores a recipient's reply (see `Zegel::begin_reply`) with its attachments, the
    /// `replied` event and the sender's notification, in one transaction.
    pub async fn commit_reply(mut self, ctx: &ClientCtx) -> Result<ReplyCreated> {
        let Some(target) = self.reply_to.clone() else {
            return Err(Error::Internal("commit_reply needs a reply draft".into()));
        };
        if self.body.trim().is_empty() && self.attachments.is_empty() {
            return Err(Error::Invalid(
                "a reply needs a text or an attachment".into(),
            ));
        }
        let z = self.z.clone();
        let mid = self.message_id.clone();
        let now = Ts::now();
        let r = &target.recipient;
        let reply = NewReply {
            message: MessageRow {
                id: mid.clone(),
                org_id: self.org.id.clone(),
                sender_id: self.sender.id.clone(),
                subject_ct: Some(
                    self.dek
                        .encrypt_small(&object_subject(&mid), self.subject.as_bytes()),
                ),
                body_ct: Some(
                    self.dek
                        .encrypt_small(&object_body(&mid), self.body.as_bytes()),
                ),
                alg: ALG_STREAM.into(),
                reply_policy: ReplyPolicy::Off,
                state: MessageState::Active,
                created_at: now,
                expires_at: self.expires_at,
                destroyed_at: None,
                kind: MessageKind::Reply,
                thread_id: self.thread_id.clone(),
                parent_id: Some(target.parent.id.clone()),
                from_recipient_id: Some(r.id.clone()),
                read_at: None,
            },
            key: MessageKey {
                message_id: mid.clone(),
                kek_id: self.kek.id().to_string(),
                wrapped_dek: self.kek.wrap_dek(&self.dek, &mid),
            },
            attachments: self.attachments.clone(),
            once: target.parent.reply_policy == ReplyPolicy::Once,
            event: NewEvent {
                message_id: target.parent.id.clone(),
                recipient_id: Some(r.id.clone()),
                kind: "replied".into(),
                at: now,
                actor: format!("recipient:{}", r.id),
                ip: ctx.ip.clone(),
                user_agent: ctx.user_agent.clone(),
                detail: Some(mid.clone()),
            },
            job: NewJob {
                kind: super::jobs::KIND_NOTIFY_SENDER.into(),
                payload: json(&SenderNotifyPayload {
                    message_id: mid.clone(),
                })?,
                run_at: now,
                max_attempts: z.settings.notify_max_attempts,
            },
        };
        let attachment_count = reply.attachments.len();
        let store = z.store.clone();
        let parent = target.parent.clone();
        self.store_detached(async move {
            match store.insert_reply(&reply).await? {
                ReplyOutcome::Stored => Ok(()),
                ReplyOutcome::AlreadyReplied => Err(Error::Conflict(
                    "this message allows one reply, and it was sent".into(),
                )),
                ReplyOutcome::NotActive => Err(Error::Gone(
                    gone_reason(&parent, now).unwrap_or(GoneReason::Revoked),
                )),
            }
        })
        .await?;
        z.job_wakeup.notify_one();
        tracing::info!(message_id = %mid, parent_id = %target.parent.id, attachments = attachment_count, "reply stored");
        Ok(ReplyCreated {
            id: mid,
            thread_id: self.thread_id.clone(),
            created_at: now.to_rfc3339(),
            attachment_count,
        })
    }
}

/// The sender's notification of a reply: no content (no subject, body or file names), only
/// that a secure reply is waiting, from which address, and where to read it. In Dutch (staff).
pub(crate) fn reply_mail(
    to: &str,
    org: &str,
    from_email: &str,
    sent_at: Ts,
    public_url: &str,
    message_id: String,
) -> crate::outbound::OutMail {
    use crate::i18n::{datetime, tr, tr_args, Lang};
    use html_escape::encode_text as esc;
    let l = Lang::Nl;
    let subject = tr(l, "notify-reply-subject");
    let intro = tr_args(
        l,
        "notify-reply-intro",
        &[("from", from_email), ("org", org)],
    );
    let how = tr_args(l, "notify-reply-how", &[("url", public_url)]);
    let when = tr_args(
        l,
        "notify-reply-received",
        &[("date", &datetime(l, sent_at))],
    );
    let text = format!("{intro}\n\n{how}\n\n{when}\n");
    let html = format!(
        "<!DOCTYPE html><html lang=\"nl\"><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body style=\"font-family:Arial,sans-serif;font-size:16px;color:#1a1a1a;max-width:600px\">\
         <p>{i}</p><p>{h}</p><p style=\"color:#555\">{w}</p></body></html>",
        t = esc(&subject),
        i = esc(&intro),
        h = esc(&how),
        w = esc(&when),
    );
    crate::outbound::OutMail {
        to: to.into(),
        from_name: org.into(),
        subject,
        text,
        html,
        message_id,
    }
}

//! Sending messages (streamed, encrypted attachments), the sender's status views, revocation.

use super::{new_id, validate, ClientCtx, Zegel};
use crate::error::{Error, GoneReason, Result};
use crate::model::*;
use base64::Engine;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use zegel_crypto::{Dek, Kek, ALG_STREAM};

/// `POST /api/v1/messages` JSON (contract).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMessageReq {
    /// Subject (encrypted; CR/LF stripped).
    pub subject: String,
    /// Body text (encrypted).
    #[serde(default)]
    pub body: String,
    /// Recipients.
    pub recipients: Vec<NewRecipientReq>,
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
}

/// One recipient in a new message (contract).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRecipientReq {
    /// E-mail address for the notification.
    pub email: String,
    /// Phone number, required for `sms`.
    #[serde(default)]
    pub phone: Option<String>,
    /// How the recipient proves who they are.
    pub verification: Verification,
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

/// The sender's view of a message.
#[derive(Debug, Clone, Serialize)]
pub struct MessageStatus {
    /// Id.
    pub id: String,
    /// Decrypted subject; `null` once destroyed.
    pub subject: Option<String>,
    /// `active`, `revoked`, `expired`.
    pub state: &'static str,
    /// Sent at.
    pub sent_at: String,
    /// Expires at.
    pub expires_at: String,
    /// Reply policy.
    pub reply: ReplyPolicy,
    /// The conversation it belongs to.
    pub thread_id: String,
    /// Number of attachments.
    pub attachment_count: usize,
    /// Recipients with their status and events.
    pub recipients: Vec<RecipientStatusView>,
}

/// One recipient's status.
#[derive(Debug, Clone, Serialize)]
pub struct RecipientStatusView {
    /// Id.
    pub id: String,
    /// E-mail.
    pub email: String,
    /// Verification method.
    pub verification: Verification,
    /// Status (contract strings).
    pub status: RecipientStatus,
    /// The server's reason when `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_reason: Option<String>,
    /// For a recipient added by a forward: the recipient (id) who forwarded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forwarded_by: Option<String>,
    /// Events, oldest first (empty in list views).
    pub events: Vec<EventView>,
    /// Remembered devices of this recipient (empty in list views).
    pub devices: Vec<DeviceView>,
}

/// A remembered device as the sender or an admin sees it.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceView {
    /// Id (for `DELETE /api/v1/devices/{id}`).
    pub id: String,
    /// Remembered at.
    pub created_at: String,
    /// Valid until.
    pub expires_at: String,
    /// Last used at.
    pub last_used_at: Option<String>,
    /// Revoked at.
    pub revoked_at: Option<String>,
    /// The browser (truncated user agent).
    pub user_agent: Option<String>,
}

impl From<&DeviceRow> for DeviceView {
    fn from(d: &DeviceRow) -> Self {
        DeviceView {
            id: d.id.clone(),
            created_at: d.created_at.to_rfc3339(),
            expires_at: d.expires_at.to_rfc3339(),
            last_used_at: d.last_used_at.map(Ts::to_rfc3339),
            revoked_at: d.revoked_at.map(Ts::to_rfc3339),
            user_agent: d.user_agent.clone(),
        }
    }
}

/// An event as the sender sees it.
#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    /// Event type.
    #[serde(rename = "type")]
    pub kind: String,
    /// When (RFC 3339).
    pub at: String,
    /// Detail (e.g. the mail server's reply).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// An attachment as shown to a reader.
#[derive(Debug, Clone, Serialize)]
pub struct AttachmentView {
    /// Id.
    pub id: String,
    /// File name (decrypted).
    pub name: String,
    /// Size in bytes.
    pub size: i64,
    /// Content type.
    pub content_type: String,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct AttachmentMeta {
    pub name: String,
    pub content_type: String,
}

/// Payload of a `notify_recipient` job.
#[derive(Serialize, Deserialize)]
pub(crate) struct NotifyPayload {
    pub message_id: String,
    pub recipient_id: String,
    /// The link token sealed with the job key (base64url).
    pub token_sealed: String,
}

pub(crate) fn object_subject(mid: &str) -> String {
    format!("{mid}/subject")
}
pub(crate) fn object_body(mid: &str) -> String {
    format!("{mid}/body")
}
pub(crate) fn object_hint(mid: &str, rid: &str) -> String {
    format!("{mid}/hint/{rid}")
}
pub(crate) fn object_note(mid: &str, rid: &str) -> String {
    format!("{mid}/note/{rid}")
}
pub(crate) fn object_attachment(mid: &str, aid: &str) -> String {
    format!("{mid}/att/{aid}")
}
pub(crate) fn object_attachment_meta(mid: &str, aid: &str) -> String {
    format!("{mid}/att/{aid}/meta")
}
pub(crate) fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}
pub(crate) fn unb64(s: &str) -> Result<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| Error::Internal("bad base64 in job payload".into()))
}

pub(crate) struct ValidRecipient {
    email: String,
    phone: Option<String>,
    verification: Verification,
    code: Option<(String, bool)>, // (code, generated)
    hint: Option<String>,
    language: String,
}

/// A message being sent: validated, keyed, attachments streaming into encrypted blobs.
/// `commit` stores it and its notification jobs in one transaction; dropping or `abort`ing
/// it deletes every blob written so far.
pub struct Draft {
    pub(super) z: Arc<Zegel>,
    pub(super) sender: User,
    pub(super) org: Organisation,
    pub(super) kek: Arc<Kek>,
    pub(super) dek: Dek,
    pub(super) message_id: String,
    pub(super) subject: String,
    pub(super) body: String,
    pub(super) reply: ReplyPolicy,
    pub(super) expires_at: Ts,
    pub(super) recipients: Vec<ValidRecipient>,
    pub(super) attachments: Vec<AttachmentRow>,
    pub(super) total_bytes: u64,
    pub(super) max_attachments: usize,
    pub(super) thread_id: String,
    /// Set for a recipient's reply (see `Zegel::begin_reply`).
    pub(super) reply_to: Option<super::conversation::ReplyTarget>,
    pub(super) done: bool,
}

impl std::fmt::Debug for Draft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Draft({})", self.message_id)
    }
}

impl Zegel {
    /// Validates a new message and prepares its key. Nothing is stored yet.
    pub async fn begin_message(
        self: &Arc<Self>,
        principal: &Principal,
        req: NewMessageReq,
    ) -> Result<Draft> {
        let Principal {
            user: sender,
            org,
            policy,
        } = principal;
        let s = &self.settings;
        let subject = validate::single_line(&req.subject);
        if subject.is_empty() {
            return Err(Error::Invalid("subject is required".into()));
        }
        if subject.len() > 998 {
            return Err(Error::Invalid("subject is longer than 998 bytes".into()));
        }
        if req.body.len() > s.max_body_bytes {
            return Err(Error::TooLarge(format!(
                "body is over {} bytes",
                s.max_body_bytes
            )));
        }
        if req.recipients.is_empty() {
            return Err(Error::Invalid("at least one recipient is required".into()));
        }
        if req.recipients.len() > s.max_recipients {
            return Err(Error::Invalid(format!(
                "at most {} recipients per message",
                s.max_recipients
            )));
        }
        let days = req.expires_in_days.unwrap_or(s.default_expiry_days);
        if !(1..=s.max_expiry_days).contains(&days) {
            return Err(Error::Invalid(format!(
                "expires_in_days must be between 1 and {}",
                s.max_expiry_days
            )));
        }
        let mut recipients = Vec::with_capacity(req.recipients.len());
        for r in req.recipients {
            let email = validate::email(&r.email)?;
            if recipients.iter().any(|v: &ValidRecipient| v.email == email) {
                return Err(Error::Invalid(format!("recipient {email} is listed twice")));
            }
            let phone = match r.phone.as_deref().filter(|p| !p.trim().is_empty()) {
                Some(p) => Some(validate::normalise_phone(p)?),
                None => None,
            };
            if r.verification == Verification::Sms && phone.is_none() {
                return Err(Error::Invalid(format!(
                    "recipient {email}: sms needs a phone number"
                )));
            }
            let code = match (r.verification, r.code.as_deref()) {
                (Verification::Code, Some(c)) => Some((validate::sender_code(c)?, false)),
                (Verification::Code, None) => Some((zegel_crypto::random_code(), true)),
                (_, Some(_)) => {
                    return Err(Error::Invalid(format!(
                        "recipient {email}: code is only for verification \"code\""
                    )))
                }
                (_, None) => None,
            };
            let hint = match r.code_hint.as_deref() {
                Some(h) if r.verification == Verification::Code => {
                    Some(validate::code_hint(h)?).filter(|h| !h.is_empty())
                }
                Some(_) => {
                    return Err(Error::Invalid(format!(
                        "recipient {email}: code_hint is only for verification \"code\""
                    )))
                }
                None => None,
            };
            let language = match r.language.as_deref() {
                None | Some("nl") => "nl".to_string(),
                Some("en") => "en".to_string(),
                Some(_) => return Err(Error::Invalid("language must be nl or en".into())),
            };
            recipients.push(ValidRecipient {
                email,
                phone,
                verification: r.verification,
                code,
                hint,
                language,
            });
        }
        let reply = match req.reply {
            None => policy.reply_default,
            Some(p) if policy.reply_locked && p != policy.reply_default => {
                return Err(Error::NotAllowed(format!(
                    "the organisation sets the reply policy to \"{}\"",
                    policy.reply_default.as_str()
                )))
            }
            Some(p) => p,
        };
        let message_id = new_id();
        let thread_id = match req.in_reply_to.as_deref() {
            None => message_id.clone(),
            Some(id) => self.visible_to_sender(sender, id).await?.thread_id,
        };
        let kek = self.keys.active_kek(&self.store, org).await?;
        Ok(Draft {
            z: self.clone(),
            sender: sender.clone(),
            org: org.clone(),
            kek,
            dek: Dek::generate(),
            message_id,
            subject,
            body: req.body,
            reply,
            expires_at: Ts::now().plus_secs(days * 86_400),
            recipients,
            attachments: Vec::new(),
            total_bytes: 0,
            max_attachments: s.max_attachments,
            thread_id,
            reply_to: None,
            done: false,
        })
    }
}

impl Draft {
    /// Streams one attachment through the encryptor into a new blob. On any error the partial
    /// blob is removed; the draft stays usable for `abort`.
    pub async fn add_attachment<S>(
        &mut self,
        name: &str,
        content_type: &str,
        mut data: S,
    ) -> Result<()>
    where
        S: Stream<Item = Result<Bytes>> + Unpin,
    {
        let z = self.z.clone();
        if self.attachments.len() >= self.max_attachments {
            return Err(Error::Invalid(format!(
                "at most {} attachments per message",
                self.max_attachments
            )));
        }
        let aid = new_id();
        let blob_key = format!("att/{}/{}", self.message_id, aid);
        let mut writer = z.blobs.writer(&blob_key).await?;
        let mut enc = self
            .dek
            .encryptor(&object_attachment(&self.message_id, &aid));
        let mut out = Vec::with_capacity(1 << 20);
        let mut size: u64 = 0;
        let res: Result<()> = async {
            while let Some(chunk) = data.next().await {
                let chunk = chunk?;
                size += chunk.len() as u64;
                if self.total_bytes + size > z.settings.max_upload_bytes {
                    return Err(Error::TooLarge(format!(
                        "attachments are over {} bytes",
                        z.settings.max_upload_bytes
                    )));
                }
                enc.update(&chunk, &mut out)?;
                if out.len() >= 1 << 20 {
                    let full = std::mem::replace(&mut out, Vec::with_capacity(1 << 20));
                    writer.write(Bytes::from(full)).await?;
                }
            }
            Ok(())
        }
        .await;
        if let Err(e) = res {
            let _ = writer.abort().await;
            return Err(e);
        }
        let finish: Result<()> = async {
            enc.finish(&mut out)?;
            writer.write(Bytes::from(std::mem::take(&mut out))).await?;
            Ok(())
        }
        .await;
        if let Err(e) = finish {
            let _ = writer.abort().await;
            return Err(e);
        }
        writer.finish().await?;
        self.total_bytes += size;
        let name = validate::single_line(name);
        let name: String = name.chars().take(255).collect();
        let meta = serde_json::to_vec(&AttachmentMeta {
            name: if name.is_empty() {
                "bijlage".into()
            } else {
                name
            },
            content_type: validate::single_line(content_type)
                .chars()
                .take(127)
                .collect(),
        })
        .map_err(|e| Error::Internal(e.to_string()))?;
        self.attachments.push(AttachmentRow {
            id: aid.clone(),
            message_id: self.message_id.clone(),
            position: self.attachments.len() as i64,
            blob_key,
            meta_ct: Some(
                self.dek
                    .encrypt_small(&object_attachment_meta(&self.message_id, &aid), &meta),
            ),
            size: size as i64,
            alg: ALG_STREAM.into(),
            created_at: Ts::now(),
        });
        Ok(())
    }

    /// Stores the message, recipients and notification jobs in one transaction.
    pub async fn commit(mut self, ctx: &ClientCtx) -> Result<MessageCreated> {
        if self.reply_to.is_some() {
            return Err(Error::Internal(
                "a reply draft is committed with commit_reply".into(),
            ));
        }
        let z = self.z.clone();
        let mid = self.message_id.clone();
        let now = Ts::now();
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
                    .mac(code_input(&rid, c).as_bytes())
                    .to_vec()
            });
            recipients.push(RecipientRow {
                id: rid.clone(),
                message_id: mid.clone(),
                email: r.email.clone(),
                phone: r.phone.clone(),
                verification: r.verification,
                code_hint_ct: r.hint.as_ref().map(|h| {
                    self.dek
                        .encrypt_small(&object_hint(&mid, &rid), h.as_bytes())
                }),
                link_hash: zegel_crypto::token_hash(&token).to_vec(),
                status: RecipientStatus::Queued,
                failed_reason: None,
                code_mac,
                code_expires_at: None,
                failed_attempts: 0,
                locked_until: None,
                language: r.language.clone(),
                notified_at: None,
                created_at: now,
                forwarded_by: None,
                note_ct: None,
            });
            let sealed = z
                .keys
                .seal_key()
                .seal(notify_aad(&rid).as_bytes(), token.as_bytes());
            jobs.push(NewJob {
                kind: super::jobs::KIND_NOTIFY.into(),
                payload: serde_json::to_string(&NotifyPayload {
                    message_id: mid.clone(),
                    recipient_id: rid.clone(),
                    token_sealed: b64(&sealed),
                })
                .map_err(|e| Error::Internal(e.to_string()))?,
                run_at: now,
                // CONTRACT: retries go on for at least 24 hours (see Settings).
                max_attempts: z.settings.notify_max_attempts,
            });
            events.push(NewEvent {
                message_id: mid.clone(),
                recipient_id: Some(rid.clone()),
                kind: "sent".into(),
                at: now,
                actor: format!("sender:{}", self.sender.id),
                ip: ctx.ip.clone(),
                user_agent: ctx.user_agent.clone(),
                detail: None,
            });
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
        let m = NewMessage {
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
                reply_policy: self.reply,
                state: MessageState::Active,
                created_at: now,
                expires_at: self.expires_at,
                destroyed_at: None,
                kind: MessageKind::Message,
                thread_id: self.thread_id.clone(),
                parent_id: None,
                from_recipient_id: None,
                read_at: None,
            },
            key: MessageKey {
                message_id: mid.clone(),
                kek_id: self.kek.id().to_string(),
                wrapped_dek: self.kek.wrap_dek(&self.dek, &mid),
            },
            recipients,
            attachments: self.attachments.clone(),
            events,
            jobs,
        };
        let attachment_count = m.attachments.len();
        let store = z.store.clone();
        self.store_detached(async move { Ok(store.insert_message(&m).await?) })
            .await?;
        z.job_wakeup.notify_one();
        tracing::info!(message_id = %mid, recipients = created.len(), attachments = attachment_count, "message sent");
        Ok(MessageCreated {
            id: mid,
            expires_at: self.expires_at.to_rfc3339(),
            recipients: created,
            thread_id: self.thread_id.clone(),
            links,
        })
    }

    /// Runs `write` (the draft's rows going into the store) in a task of its own and marks
    /// the draft done. A caller can go away mid-commit (a client that closes its connection
    /// drops its request): dropping the write half-way could let the store's batch commit the
    /// rows while the draft's drop deleted their blobs. The task finishes the write either way,
    /// and deletes the blobs itself only when the write failed.
    pub(crate) async fn store_detached<T, F>(&mut self, write: F) -> Result<T>
    where
        T: Send + 'static,
        F: std::future::Future<Output = Result<T>> + Send + 'static,
    {
        // No await between here and the spawn: the task owns the blobs from now on.
        self.done = true;
        let keys: Vec<String> = self
            .attachments
            .iter()
            .map(|a| a.blob_key.clone())
            .collect();
        let z = self.z.clone();
        tokio::spawn(async move {
            let out = write.await;
            if out.is_err() {
                delete_blobs(&z, keys).await;
            }
            out
        })
        .await
        .map_err(|e| Error::Internal(format!("store task: {e}")))?
    }

    /// Deletes every blob written so far.
    pub async fn abort(mut self) {
        self.done = true;
        let keys: Vec<String> = self.attachments.drain(..).map(|a| a.blob_key).collect();
        delete_blobs(&self.z, keys).await;
    }
}

async fn delete_blobs(z: &Zegel, keys: Vec<String>) {
    for k in keys {
        if let Err(e) = z.blobs.delete(&k).await {
            tracing::warn!(error = %e, "could not delete an orphan blob");
        }
    }
}

impl Drop for Draft {
    fn drop(&mut self) {
        if self.done || self.attachments.is_empty() {
            return;
        }
        let keys: Vec<String> = self.attachments.drain(..).map(|a| a.blob_key).collect();
        let z = self.z.clone();
        if let Ok(h) = tokio::runtime::Handle::try_current() {
            h.spawn(async move { delete_blobs(&z, keys).await });
        }
    }
}

pub(crate) fn code_input(recipient_id: &str, code: &str) -> String {
    format!("{recipient_id}:{code}")
}

pub(crate) fn notify_aad(recipient_id: &str) -> String {
    format!("notify:{recipient_id}")
}

impl Zegel {
    async fn own_message(&self, sender: &User, id: &str) -> Result<MessageRow> {
        match self.store.message_by_id(id).await? {
            Some(m) if m.sender_id == sender.id && m.kind == MessageKind::Message => Ok(m),
            _ => Err(Error::NotFound),
        }
    }

    pub(crate) async fn decrypt_subject(&self, m: &MessageRow) -> Result<Option<String>> {
        let (Some(ct), Some(key)) = (&m.subject_ct, self.store.message_key(&m.id).await?) else {
            return Ok(None);
        };
        let dek = self
            .keys
            .dek(&self.store, &key.kek_id, &key.wrapped_dek, &m.id)
            .await?;
        let pt = dek.decrypt_small(&object_subject(&m.id), ct)?;
        Ok(Some(String::from_utf8_lossy(&pt).into_owned()))
    }

    async fn status_view(&self, m: &MessageRow, with_events: bool) -> Result<MessageStatus> {
        let recipients = self.store.recipients_of(&m.id).await?;
        let events = if with_events {
            self.store.events_of(&m.id).await?
        } else {
            Vec::new()
        };
        let attachments = self.store.attachments_of(&m.id).await?;
        let devices = if with_events {
            self.store.devices_of_message(&m.id).await?
        } else {
            Vec::new()
        };
        Ok(MessageStatus {
            id: m.id.clone(),
            subject: self.decrypt_subject(m).await?,
            state: m.state.as_str(),
            sent_at: m.created_at.to_rfc3339(),
            expires_at: m.expires_at.to_rfc3339(),
            reply: m.reply_policy,
            thread_id: m.thread_id.clone(),
            attachment_count: attachments.len(),
            recipients: recipients
                .into_iter()
                .map(|r| RecipientStatusView {
                    events: events
                        .iter()
                        .filter(|e| e.event.recipient_id.as_deref() == Some(r.id.as_str()))
                        .map(|e| EventView {
                            kind: e.event.kind.clone(),
                            at: e.event.at.to_rfc3339(),
                            detail: e.event.detail.clone(),
                        })
                        .collect(),
                    devices: devices
                        .iter()
                        .filter(|d| d.recipient_id == r.id)
                        .map(DeviceView::from)
                        .collect(),
                    forwarded_by: r.forwarded_by,
                    id: r.id,
                    email: r.email,
                    verification: r.verification,
                    status: r.status,
                    failed_reason: r.failed_reason,
                })
                .collect(),
        })
    }

    /// `GET /api/v1/messages/{id}`: recipients, statuses and events of one's own message.
    pub async fn message_status(&self, sender: &User, id: &str) -> Result<MessageStatus> {
        let m = self.own_message(sender, id).await?;
        self.status_view(&m, true).await
    }

    /// `GET /api/v1/messages`: the sender's messages, newest first.
    pub async fn list_messages(
        &self,
        sender: &User,
        before: Option<Ts>,
        limit: u32,
    ) -> Result<Vec<MessageStatus>> {
        let rows = self
            .store
            .list_messages(&sender.id, before, limit.clamp(1, 200))
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for m in &rows {
            out.push(self.status_view(m, false).await?);
        }
        Ok(out)
    }

    /// Revokes a message: its key is destroyed at once, blobs follow.
    pub async fn revoke_message(&self, sender: &User, id: &str) -> Result<MessageStatus> {
        let m = self.own_message(sender, id).await?;
        let changed = self
            .store
            .destroy_message(
                &m.id,
                MessageState::Revoked,
                Ts::now(),
                &format!("sender:{}", sender.id),
            )
            .await?;
        if !changed && m.state == MessageState::Expired {
            return Err(Error::Gone(GoneReason::Expired));
        }
        if changed {
            tracing::info!(message_id = %m.id, "message revoked");
            if let Err(e) = self.sweep_blobs().await {
                tracing::warn!(error = %e, "blob sweep after revoke failed; the sweeper retries");
            }
        }
        let m = self.own_message(sender, id).await?;
        self.status_view(&m, true).await
    }
}

//! The sender's inbox: replies addressed to them and forwards of their messages, a reply
//! decrypted for its addressee, and its attachments.

use super::content::{gone_reason, AttachmentView};
use super::events;
use super::{ClientCtx, Zegel};
use crate::error::{Error, GoneReason, Result};
use crate::model::*;
use bytes::Bytes;
use futures::stream::BoxStream;
use serde::Serialize;

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
    /// A reply or a forward.
    #[serde(rename = "type")]
    pub kind: InboxKind,
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
    /// For mail from another provider: whether the sender's domain vouched for it (a valid
    /// DKIM signature of the From domain). Unverified mail may not be from who it says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
}

/// What an inbox entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InboxKind {
    /// A recipient's reply to the sender.
    Reply,
    /// A recipient's forward of the sender's message.
    Forward,
    /// Secure mail from another provider (NTA 7516).
    Mail,
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
    /// The HTML body, sanitised, when the mail had one (from another provider).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// For mail from another provider: whether the sender's domain vouched for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
    /// Attachments.
    pub attachments: Vec<AttachmentView>,
}

impl Zegel {
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
            let from = self
                .email_of(m.from_recipient_id.as_deref())
                .await?
                .or_else(|| m.from_address.clone());
            items.push(InboxItem {
                id: m.id.clone(),
                kind: if m.from_address.is_some() {
                    InboxKind::Mail
                } else {
                    InboxKind::Reply
                },
                thread_id: m.thread_id.clone(),
                // Mail from another provider answers nothing: its own id.
                message_id: m.parent_id.clone().unwrap_or_else(|| m.id.clone()),
                from: PartyView {
                    email: from.unwrap_or_default(),
                },
                to: None,
                received_at: m.created_at.to_rfc3339(),
                received_ts: m.created_at,
                subject: self.decrypt_subject(&m).await?,
                read: Some(m.read_at.is_some()),
                attachment_count: Some(self.store.attachments_of(&m.id).await?.len()),
                verified: m.from_address.is_some().then_some(m.from_verified),
            });
        }
        for r in self.store.inbox_forwards(&sender.id, before, limit).await? {
            let Some(m) = self.store.message_by_id(&r.message_id).await? else {
                continue;
            };
            let from = self.email_of(r.forwarded_by.as_deref()).await?;
            items.push(InboxItem {
                id: r.id.clone(),
                kind: InboxKind::Forward,
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
                verified: None,
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

    /// An event of the sender's about reply `m`, recorded on the message it answers.
    fn reply_event(
        sender: &User,
        m: &MessageRow,
        kind: EventKind,
        detail: Option<String>,
    ) -> NewEvent {
        events::by_sender(
            sender,
            m.parent_id.as_deref().unwrap_or(&m.id),
            m.from_recipient_id.as_deref(),
            kind,
            Ts::now(),
            &ClientCtx::default(),
            detail,
        )
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
        let (subject, body) = super::content::decrypt_subject_body(&dek, &m)?
            .ok_or(Error::Gone(GoneReason::Expired))?;
        let html = super::content::decrypt_html(&dek, &m)?;
        let attachments = self.attachment_views(&dek, &m).await?;
        let from = self
            .email_of(m.from_recipient_id.as_deref())
            .await?
            .or_else(|| m.from_address.clone());
        let now = Ts::now();
        self.store.mark_read(&m.id, now).await?;
        self.store
            .record_event(
                &Self::reply_event(sender, &m, EventKind::ReplyRead, Some(m.id.clone())),
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
            html,
            verified: m.from_address.is_some().then_some(m.from_verified),
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
            Self::reply_event(sender, &m, EventKind::ReplyDownloaded, Some(aid))
        })
        .await
    }
}

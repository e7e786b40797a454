//! What a sender sees of their messages: the sent list, one message's recipients with their
//! statuses, events and remembered devices, and revocation.

use super::content::decrypt_text;
use super::{objects, ClientCtx, Zegel};
use crate::error::{Error, GoneReason, Result};
use crate::model::*;
use serde::Serialize;

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
    /// Locked after too many wrong codes, until (RFC 3339); absent when not locked now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked_until: Option<String>,
    /// Blocked after too many wrong codes in total, until the sender unblocks
    /// (`POST /api/v1/messages/{id}/recipients/{rid}/unblock`).
    pub blocked: bool,
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
    /// What happened.
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// When (RFC 3339).
    pub at: String,
    /// Detail (e.g. the mail server's reply).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The client address it came from (a request's event: opened, viewed, downloaded ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
}

impl Zegel {
    async fn own_message(&self, sender: &User, id: &str) -> Result<MessageRow> {
        match self.store.message_by_id(id).await? {
            Some(m) if m.sender_id == sender.id && m.kind == MessageKind::Message => Ok(m),
            _ => Err(Error::NotFound),
        }
    }

    /// One message with everything the sender sees of it (five reads).
    async fn status_view(&self, m: &MessageRow) -> Result<MessageStatus> {
        let recipients = self.store.recipients_of(&m.id).await?;
        let events = self.store.events_of(&m.id).await?;
        let attachments = self.store.attachments_of(&m.id).await?;
        let devices = self.store.devices_of_message(&m.id).await?;
        let subject = self.decrypt_subject(m).await?;
        Ok(status_of(
            m,
            subject,
            attachments.len(),
            recipients,
            (&events, &devices),
        ))
    }

    /// `GET /api/v1/messages/{id}`: recipients, statuses and events of one's own message.
    pub async fn message_status(&self, sender: &User, id: &str) -> Result<MessageStatus> {
        let m = self.own_message(sender, id).await?;
        self.status_view(&m).await
    }

    /// `GET /api/v1/messages`: the sender's messages, newest first, without events and
    /// devices. A page costs two queries whatever its length (the messages with their keys
    /// and attachment counts, then all their recipients); each subject is decrypted with the
    /// key read with it.
    pub async fn list_messages(
        &self,
        sender: &User,
        before: Option<Ts>,
        limit: u32,
    ) -> Result<Vec<MessageStatus>> {
        let page = self
            .store
            .sent_page(&sender.id, before, limit.clamp(1, 200))
            .await?;
        let ids: Vec<String> = page.iter().map(|s| s.message.id.clone()).collect();
        let mut recipients = self
            .store
            .recipients_of_messages(&ids)
            .await?
            .into_iter()
            .peekable();
        let mut out = Vec::with_capacity(page.len());
        for sent in &page {
            let m = &sent.message;
            let subject = match (&m.subject_ct, &sent.key) {
                (Some(ct), Some(key)) => {
                    let dek = self.unwrap_dek(m, key).await?;
                    Some(decrypt_text(&dek, &objects::subject(&m.id), ct)?)
                }
                _ => None,
            };
            // Grouped per message, in the page's order.
            let mut mine = Vec::new();
            while let Some(r) = recipients.next_if(|r| r.message_id == m.id) {
                mine.push(r);
            }
            let count = usize::try_from(sent.attachment_count).unwrap_or_default();
            out.push(status_of(m, subject, count, mine, (&[], &[])));
        }
        Ok(out)
    }

    /// `POST /api/v1/messages/{id}/recipients/{rid}/unblock`: the sender resets a recipient's
    /// wrong-code counters, lockout and block (event `unblocked`; nothing when there was
    /// nothing to reset). Another sender's message, or a recipient of another message: 404.
    pub async fn unblock_recipient(
        &self,
        sender: &User,
        id: &str,
        recipient_id: &str,
        ctx: &ClientCtx,
    ) -> Result<MessageStatus> {
        let m = self.own_message(sender, id).await?;
        let r = self
            .store
            .recipient_by_id(recipient_id)
            .await?
            .filter(|r| r.message_id == m.id)
            .ok_or(Error::NotFound)?;
        let event = super::events::by_sender(
            sender,
            &m.id,
            Some(&r.id),
            EventKind::Unblocked,
            Ts::now(),
            ctx,
            None,
        );
        if self.store.unblock_recipient(&r.id, &event).await? {
            tracing::info!(message_id = %m.id, recipient_id = %r.id, "recipient unblocked");
        }
        self.status_view(&m).await
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
                &super::events::sender_actor(&sender.id),
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
        self.status_view(&m).await
    }
}

/// The sender's view of message `m`: its recipients, each with their own events and devices.
pub(super) fn status_of(
    m: &MessageRow,
    subject: Option<String>,
    attachment_count: usize,
    recipients: Vec<RecipientRow>,
    (events, devices): (&[Event], &[DeviceRow]),
) -> MessageStatus {
    let now = Ts::now();
    MessageStatus {
        id: m.id.clone(),
        subject,
        state: m.state.as_str(),
        sent_at: m.created_at.to_rfc3339(),
        expires_at: m.expires_at.to_rfc3339(),
        reply: m.reply_policy,
        thread_id: m.thread_id.clone(),
        attachment_count,
        recipients: recipients
            .into_iter()
            .map(|r| RecipientStatusView {
                events: events
                    .iter()
                    .filter(|e| e.event.recipient_id.as_deref() == Some(r.id.as_str()))
                    .map(|e| EventView {
                        kind: e.event.kind,
                        at: e.event.at.to_rfc3339(),
                        detail: e.event.detail.clone(),
                        ip: e.event.ip.clone(),
                    })
                    .collect(),
                devices: devices
                    .iter()
                    .filter(|d| d.recipient_id == r.id)
                    .map(DeviceView::from)
                    .collect(),
                forwarded_by: r.forwarded_by,
                locked_until: r
                    .locked_until
                    .filter(|t| *t >= now && r.blocked_at.is_none())
                    .map(Ts::to_rfc3339),
                blocked: r.blocked_at.is_some(),
                id: r.id,
                email: r.email,
                verification: r.verification,
                status: r.status,
                failed_reason: r.failed_reason,
            })
            .collect(),
    }
}

//! What a sender sees of their messages: the sent list, one message's recipients with their
//! statuses, events and remembered devices, and revocation.

use super::Zegel;
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
}

impl Zegel {
    async fn own_message(&self, sender: &User, id: &str) -> Result<MessageRow> {
        match self.store.message_by_id(id).await? {
            Some(m) if m.sender_id == sender.id && m.kind == MessageKind::Message => Ok(m),
            _ => Err(Error::NotFound),
        }
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
                            kind: e.event.kind,
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
        self.status_view(&m, true).await
    }
}

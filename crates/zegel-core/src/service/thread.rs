//! The conversation: a thread is the first message and everything that continued it (the
//! sender's later messages, the recipients' replies). Each side sees its own part of it.

use super::access::RecipientSession;
use super::content::{decrypt_text, gone_reason, AttachmentView};
use super::events;
use super::{objects, ClientCtx, Zegel};
use crate::error::{Error, GoneReason, Result};
use crate::model::*;
use bytes::Bytes;
use futures::stream::BoxStream;
use serde::Serialize;
use std::collections::HashSet;

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

impl Zegel {
    /// The messages and replies of the conversation this recipient may see, oldest first, with
    /// whether they wrote it and who did; nothing is decrypted. Visible: the session's own
    /// message; every other message of the thread addressed to their e-mail address whose
    /// recipient there was verified no more strongly than this session's recipient
    /// ([`Verification::strength`]: an e-mail code does not open what was sent for an SMS
    /// code); and every reply written from one of those recipient rows (a reply always follows
    /// its message in the thread). The thread, its attachments and the `.eml` copy all read
    /// through here.
    async fn visible_rows(&self, a: &RecipientAccess) -> Result<Vec<(MessageRow, bool, String)>> {
        let me = a.recipient.email.as_str();
        let strength = a.recipient.verification.strength();
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
                                .filter(|r| r.verification.strength() <= strength)
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
    pub async fn recipient_thread(&self, s: &RecipientSession) -> Result<ThreadView> {
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
            item.subject = Some(decrypt_text(&dek, &objects::subject(&m.id), s)?);
            item.body = Some(decrypt_text(&dek, &objects::body(&m.id), b)?);
        }
        item.attachments = self.attachment_views(&dek, m).await?;
        Ok(item)
    }

    /// An attachment of any message the recipient can see in their conversation (the
    /// message itself, earlier messages to them, their own replies), decrypted as a stream.
    /// Only the message that holds it is decrypted.
    pub async fn open_thread_attachment(
        &self,
        s: &RecipientSession,
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
                    events::by_recipient(&s.access, EventKind::Downloaded, ctx, Some(aid))
                })
                .await;
        }
        Err(Error::NotFound)
    }

    /// `GET /api/v1/threads/{id}`: the conversation as the sender sees it: their own messages
    /// and the replies addressed to them. Each own message whose text was decrypted records
    /// `sender_viewed` for each of its recipients (their "Wie heeft dit bericht bekeken?").
    pub async fn sender_thread(
        &self,
        sender: &User,
        thread_id: &str,
        ctx: &ClientCtx,
    ) -> Result<ThreadView> {
        let now = Ts::now();
        let mut items = Vec::new();
        let mut seen = Vec::new();
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
            let item = self.thread_item(&m, mine, from, false, now).await?;
            if m.kind == MessageKind::Message && item.body.is_some() {
                for r in self.store.recipients_of(&m.id).await? {
                    seen.push(events::by_sender(
                        sender,
                        &m.id,
                        Some(&r.id),
                        EventKind::SenderViewed,
                        now,
                        ctx,
                        None,
                    ));
                }
            }
            items.push(item);
        }
        if items.is_empty() {
            return Err(Error::NotFound);
        }
        self.store.record_events(&seen).await?;
        Ok(ThreadView {
            id: thread_id.to_string(),
            items,
        })
    }
}

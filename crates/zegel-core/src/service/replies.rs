//! A recipient's secure reply: to the sender of the message only (never reply-all), within the
//! message's policy (once / unlimited / off), with attachments streamed into encrypted blobs.
//!
//! A reply is a message row of kind `reply` in the same thread, with its own key, written by a
//! recipient (`from_recipient_id`) and addressed to the sender of the message it answers
//! (`sender_id`).

use super::access::RecipientSession;
use super::content::gone_reason;
use super::drafts::{RowHead, Uploads};
use super::events;
use super::payloads::{JobPayload, NotifySender};
use super::{ClientCtx, Zegel};
use crate::error::{Conflict, Error, GoneReason, Invalid, Result, TooLarge};
use crate::model::*;
use bytes::Bytes;
use futures::Stream;
use serde::Serialize;
use std::sync::Arc;

/// The longest subject, in characters ("Re: " included).
const MAX_SUBJECT_CHARS: usize = 998;

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

/// A recipient's reply being written. [`ReplyDraft::commit`] stores it with its attachments,
/// the `replied` event and the sender's notification in one transaction; dropping it or
/// [`ReplyDraft::abort`] deletes every blob written so far.
pub struct ReplyDraft {
    uploads: Uploads,
    /// The addressee: the sender of the message answered.
    sender_id: String,
    org_id: String,
    subject: String,
    body: String,
    expires_at: Ts,
    /// The message answered.
    parent: MessageRow,
    /// Who writes.
    recipient: RecipientRow,
}

impl std::fmt::Debug for ReplyDraft {
    /// Never the subject or body.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ReplyDraft({})", self.uploads.message_id())
    }
}

impl Zegel {
    /// Starts a reply to the sender of the session's message (never to other recipients).
    /// Attachments stream in with [`ReplyDraft::add_attachment`]; [`ReplyDraft::commit`]
    /// stores it.
    pub async fn begin_reply(
        self: &Arc<Self>,
        s: &RecipientSession,
        body: String,
    ) -> Result<ReplyDraft> {
        let a = &s.access;
        let parent = a.message.clone();
        if let Some(refusal) = self.reply_refused(a).await? {
            return Err(refusal.into());
        }
        if body.len() > self.settings.max_body_bytes {
            return Err(TooLarge::Body {
                max: self.settings.max_body_bytes,
            }
            .into());
        }
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
        let subject: String = subject.chars().take(MAX_SUBJECT_CHARS).collect();
        // A reply is kept as long as the sender's organisation keeps its messages by default.
        let days = self.org_availability(&org.id).await?.default_days;
        let now = Ts::now();
        Ok(ReplyDraft {
            uploads: Uploads::new(self.clone(), self.settings.max_reply_attachments),
            sender_id: parent.sender_id.clone(),
            org_id: org.id,
            subject,
            body,
            expires_at: now.plus_secs(days * 86_400),
            parent,
            recipient: a.recipient.clone(),
        })
    }
}

impl ReplyDraft {
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

    /// Stores the reply with its attachments, the `replied` event and the sender's
    /// notification, in one transaction.
    pub async fn commit(mut self, ctx: &ClientCtx) -> Result<ReplyCreated> {
        if self.body.trim().is_empty() && self.uploads.rows().is_empty() {
            return Err(Invalid::EmptyReply.into());
        }
        let z = self.uploads.zegel();
        let mid = self.uploads.message_id().to_owned();
        let thread_id = self.parent.thread_id.clone();
        let now = Ts::now();
        let r = &self.recipient;
        // The key is wrapped under the organisation key that is active now: an upload that
        // began before a key rotation started must not store its key under the old key.
        let kek = z.keys.active_kek_now(&z.store, &self.org_id).await?;
        let sealed = self.uploads.sealed_row(
            &kek,
            RowHead {
                org_id: self.org_id.clone(),
                sender_id: self.sender_id.clone(),
                reply_policy: ReplyPolicy::Off,
                created_at: now,
                expires_at: self.expires_at,
                kind: MessageKind::Reply,
                thread_id: thread_id.clone(),
                parent_id: Some(self.parent.id.clone()),
                from_recipient_id: Some(r.id.clone()),
                from_address: None,
                from_verified: false,
                html: None,
            },
            &self.subject,
            &self.body,
        );
        let reply = NewReply {
            message: sealed.row,
            key: sealed.key,
            attachments: self.uploads.rows().to_vec(),
            once: self.parent.reply_policy == ReplyPolicy::Once,
            event: NewEvent {
                message_id: self.parent.id.clone(),
                recipient_id: Some(r.id.clone()),
                kind: EventKind::Replied,
                at: now,
                actor: events::recipient_actor(&r.id),
                ip: ctx.ip.clone(),
                user_agent: ctx.user_agent.clone(),
                detail: Some(mid.clone()),
            },
            job: JobPayload::NotifySender(NotifySender {
                message_id: mid.clone(),
            })
            .into_job(now, z.settings.notify_max_attempts)?,
        };
        let attachment_count = reply.attachments.len();
        let store = z.store.clone();
        let parent = self.parent.clone();
        self.uploads
            .store_detached(async move {
                match store.insert_reply(&reply).await? {
                    ReplyOutcome::Stored => Ok(()),
                    ReplyOutcome::AlreadyReplied => Err(Conflict::ReplyUsed.into()),
                    ReplyOutcome::NotActive => Err(Error::Gone(
                        gone_reason(&parent, now).unwrap_or(GoneReason::Revoked),
                    )),
                }
            })
            .await?;
        z.job_wakeup.notify_one();
        tracing::info!(message_id = %mid, parent_id = %self.parent.id, attachments = attachment_count, "reply stored");
        Ok(ReplyCreated {
            id: mid,
            thread_id,
            created_at: now.to_rfc3339(),
            attachment_count,
        })
    }
}

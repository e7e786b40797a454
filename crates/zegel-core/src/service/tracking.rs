//! Following sent messages (the sender's web app and API): the filtered, paged sent list with
//! each recipient's shown status, one message's recipients with a timeline, a recipient's new
//! link, a longer availability, and an answer to a reply in the same thread.

use super::content::decrypt_text;
use super::events;
use super::messages::{MessageDraft, NewMessageReq, NewRecipientReq};
use super::payloads::{JobPayload, NotifyRecipient};
use super::status::{status_of, MessageStatus};
use super::{new_id, objects, ClientCtx, Zegel};
use crate::error::{Error, GoneReason, Invalid, Result};
use crate::model::*;
use crate::store::{SentMessage, SentQuery, ShownStatus, TrackedRecipient};
use std::sync::Arc;

/// The most messages one page of the sent list holds.
const MAX_PAGE: u32 = 200;

/// One message as the sender follows it.
#[derive(Debug, Clone)]
pub struct TrackedMessage {
    /// Id.
    pub id: String,
    /// Decrypted subject; `None` once destroyed.
    pub subject: Option<String>,
    /// The message's state.
    pub state: MessageState,
    /// Sent at.
    pub sent_at: Ts,
    /// Expires at.
    pub expires_at: Ts,
    /// Number of attachments.
    pub attachment_count: usize,
    /// The conversation.
    pub thread_id: String,
    /// Recipients, in insertion order.
    pub recipients: Vec<TrackedRecipientView>,
    /// Whole days the availability may still be extended by (0: not at all).
    pub extend_days_left: i64,
}

/// One recipient as the sender follows them.
#[derive(Debug, Clone)]
pub struct TrackedRecipientView {
    /// Id.
    pub id: String,
    /// E-mail address.
    pub email: String,
    /// Verification method.
    pub verification: Verification,
    /// The status the sender sees.
    pub status: ShownStatus,
    /// The server's reason when the notification failed.
    pub failed_reason: Option<String>,
    /// Added by a forward.
    pub forwarded: bool,
    /// Events about this recipient, oldest first (empty in the list).
    pub timeline: Vec<TimelineEvent>,
}

/// One event of a recipient's timeline.
#[derive(Debug, Clone)]
pub struct TimelineEvent {
    /// What happened.
    pub kind: EventKind,
    /// When.
    pub at: Ts,
    /// The client address it came from (events caused by a request).
    pub ip: Option<String>,
    /// Detail (a mail server's reply, a new expiry; never content).
    pub detail: Option<String>,
}

/// One page of the sent list.
#[derive(Debug, Clone)]
pub struct SentPage {
    /// The messages, newest first.
    pub messages: Vec<TrackedMessage>,
    /// The cursor of the next page ("Volgende", older messages: the last message's time and
    /// id), when there is one.
    pub older: Option<(Ts, String)>,
    /// The cursor of the page before ("Vorige", newer messages: the first message's time
    /// and id), when there is one.
    pub newer: Option<(Ts, String)>,
}

impl Zegel {
    async fn own_sent(&self, sender: &User, id: &str) -> Result<MessageRow> {
        match self.store.message_by_id(id).await? {
            Some(m) if m.sender_id == sender.id && m.kind == MessageKind::Message => Ok(m),
            _ => Err(Error::NotFound),
        }
    }

    /// The subject of a list row, decrypted with the key read with it.
    async fn sent_subject(&self, sent: &SentMessage) -> Result<Option<String>> {
        let m = &sent.message;
        Ok(match (&m.subject_ct, &sent.key) {
            (Some(ct), Some(key)) => {
                let dek = self.unwrap_dek(m, key).await?;
                Some(decrypt_text(&dek, &objects::subject(&m.id), ct)?)
            }
            _ => None,
        })
    }

    /// Whole days message `m` may still be extended by, at most `max_days` (its
    /// organisation's longest availability) from its sending in all.
    fn days_left(m: &MessageRow, max_days: i64) -> i64 {
        if m.state != MessageState::Active || m.expires_at <= Ts::now() {
            return 0;
        }
        let max = m.created_at.plus_secs(max_days.saturating_mul(86_400));
        (max.0 - m.expires_at.0).max(0) / 86_400_000
    }

    /// `/berichten`: one page of the sender's messages, newest first, filtered by `q`, each
    /// recipient with the status the sender sees. Two queries whatever the page's length.
    pub async fn sent_list(&self, sender: &User, q: &SentQuery, limit: u32) -> Result<SentPage> {
        let limit = limit.clamp(1, MAX_PAGE);
        let mut page = self
            .store
            .sent_page_filtered(&sender.id, q, limit + 1)
            .await?;
        let more = page.len() > limit as usize;
        if more && q.after.is_some() {
            // Backwards, the extra one is the newest.
            page.remove(0);
        }
        page.truncate(limit as usize);
        let max_days = self.org_availability(&sender.org_id).await?.max_days;
        let ids: Vec<String> = page.iter().map(|s| s.message.id.clone()).collect();
        let mut recipients = self
            .store
            .recipients_tracked(&ids)
            .await?
            .into_iter()
            .peekable();
        let mut messages = Vec::with_capacity(page.len());
        for sent in &page {
            let m = &sent.message;
            let mut mine = Vec::new();
            while let Some(t) = recipients.next_if(|t| t.recipient.message_id == m.id) {
                mine.push(recipient_view(t, &[]));
            }
            messages.push(TrackedMessage {
                id: m.id.clone(),
                subject: self.sent_subject(sent).await?,
                state: m.state,
                sent_at: m.created_at,
                expires_at: m.expires_at,
                attachment_count: usize::try_from(sent.attachment_count).unwrap_or_default(),
                thread_id: m.thread_id.clone(),
                recipients: mine,
                extend_days_left: Self::days_left(m, max_days),
            });
        }
        let cursor = |s: &SentMessage| (s.message.created_at, s.message.id.clone());
        let older = (more || q.after.is_some())
            .then(|| page.last().map(cursor))
            .flatten();
        let newer = (q.before.is_some() || (more && q.after.is_some()))
            .then(|| page.first().map(cursor))
            .flatten();
        Ok(SentPage {
            messages,
            older,
            newer,
        })
    }

    /// `GET /api/v1/messages?recipient=&status=`: as [`Zegel::list_messages`], filtered.
    pub async fn list_messages_filtered(
        &self,
        sender: &User,
        q: &SentQuery,
        limit: u32,
    ) -> Result<Vec<MessageStatus>> {
        let page = self
            .store
            .sent_page_filtered(&sender.id, q, limit.clamp(1, MAX_PAGE))
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
            let mut mine = Vec::new();
            while let Some(r) = recipients.next_if(|r| r.message_id == m.id) {
                mine.push(r);
            }
            let count = usize::try_from(sent.attachment_count).unwrap_or_default();
            let subject = self.sent_subject(sent).await?;
            out.push(status_of(m, subject, count, mine, (&[], &[])));
        }
        Ok(out)
    }

    /// `/berichten/{id}`: one's own message with each recipient's status and timeline.
    /// Another sender's message: NotFound.
    pub async fn tracked_message(&self, sender: &User, id: &str) -> Result<TrackedMessage> {
        let m = self.own_sent(sender, id).await?;
        self.tracked(&m).await
    }

    /// `GET /berichten/{id}`: as [`Zegel::tracked_message`], and when the subject was
    /// decrypted for the sender, one event `sender_viewed` per recipient (the patient
    /// concerned sees it under "Wie heeft dit bericht bekeken?").
    pub async fn view_sent_message(
        &self,
        sender: &User,
        id: &str,
        ctx: &ClientCtx,
    ) -> Result<TrackedMessage> {
        let t = self.tracked_message(sender, id).await?;
        if t.subject.is_some() {
            let now = Ts::now();
            let seen: Vec<NewEvent> = t
                .recipients
                .iter()
                .map(|r| {
                    events::by_sender(
                        sender,
                        &t.id,
                        Some(&r.id),
                        EventKind::SenderViewed,
                        now,
                        ctx,
                        None,
                    )
                })
                .collect();
            self.store.record_events(&seen).await?;
        }
        Ok(t)
    }

    async fn tracked(&self, m: &MessageRow) -> Result<TrackedMessage> {
        let recipients = self
            .store
            .recipients_tracked(std::slice::from_ref(&m.id))
            .await?;
        let events = self.store.events_of(&m.id).await?;
        let attachments = self.store.attachments_of(&m.id).await?;
        let max_days = self.org_availability(&m.org_id).await?.max_days;
        Ok(TrackedMessage {
            id: m.id.clone(),
            subject: self.decrypt_subject(m).await?,
            state: m.state,
            sent_at: m.created_at,
            expires_at: m.expires_at,
            attachment_count: attachments.len(),
            thread_id: m.thread_id.clone(),
            recipients: recipients
                .into_iter()
                .map(|t| recipient_view(t, &events))
                .collect(),
            extend_days_left: Self::days_left(m, max_days),
        })
    }

    /// "Nieuwe link sturen": recipient `recipient_id` of one's own message `id` gets a new
    /// link by a new notification; the old link stops working at once (unknown: 404), and
    /// the recipient's open sessions end. Event `link_renewed`. A message that is no longer
    /// active: Gone; another sender's message or another message's recipient: NotFound.
    pub async fn renew_link(
        &self,
        sender: &User,
        id: &str,
        recipient_id: &str,
        ctx: &ClientCtx,
    ) -> Result<()> {
        let m = self.own_sent(sender, id).await?;
        let r = self
            .store
            .recipient_by_id(recipient_id)
            .await?
            .filter(|r| r.message_id == m.id)
            .ok_or(Error::NotFound)?;
        gone_unless_active(&m)?;
        let token = zegel_crypto::random_token();
        let sealed = self
            .keys
            .seal_key()
            .seal(objects::notify_aad(&r.id).as_bytes(), token.as_bytes());
        let now = Ts::now();
        let job = JobPayload::NotifyRecipient(NotifyRecipient {
            message_id: m.id.clone(),
            recipient_id: r.id.clone(),
            token_sealed: objects::b64(&sealed),
            renewal: Some(new_id()),
            report_failure: false,
        })
        .into_job(now, self.settings.notify_max_attempts)?;
        let event = events::by_sender(
            sender,
            &m.id,
            Some(&r.id),
            EventKind::LinkRenewed,
            now,
            ctx,
            None,
        );
        let hash = zegel_crypto::token_hash(&token);
        if !self.store.renew_link(&r.id, &hash, &job, &event).await? {
            return Err(Error::Gone(GoneReason::Revoked));
        }
        self.job_wakeup.notify_one();
        tracing::info!(message_id = %m.id, recipient_id = %r.id, "new link sent");
        Ok(())
    }

    /// "Verlengen": one's own active message stays available `days` days longer, at most the
    /// organisation's longest availability from its sending (else Invalid, nothing changed).
    /// One event
    /// `extended` per recipient (detail: the new expiry).
    pub async fn extend_message(
        &self,
        sender: &User,
        id: &str,
        days: i64,
        ctx: &ClientCtx,
    ) -> Result<TrackedMessage> {
        let m = self.own_sent(sender, id).await?;
        gone_unless_active(&m)?;
        let max_days = self.org_availability(&m.org_id).await?.max_days;
        let left = Self::days_left(&m, max_days);
        if days < 1 || days > left {
            return Err(Invalid::ExtendDays {
                max: max_days,
                left,
            }
            .into());
        }
        let expires_at = m.expires_at.plus_secs(days * 86_400);
        let now = Ts::now();
        let events: Vec<NewEvent> = self
            .store
            .recipients_of(&m.id)
            .await?
            .iter()
            .map(|r| {
                events::by_sender(
                    sender,
                    &m.id,
                    Some(&r.id),
                    EventKind::Extended,
                    now,
                    ctx,
                    Some(expires_at.to_rfc3339()),
                )
            })
            .collect();
        if !self
            .store
            .extend_message(&m.id, expires_at, &events)
            .await?
        {
            return Err(Error::Gone(GoneReason::Revoked));
        }
        tracing::info!(message_id = %m.id, days, "availability extended");
        self.tracked_message(sender, id).await
    }

    /// The answer to reply `reply_id` (addressed to the sender) in the same thread: a new
    /// message to the recipient who wrote it, verified as that recipient was (a `code`
    /// recipient gets a new code, returned once in the result), with `body`; attachments
    /// stream into the draft before [`MessageDraft::commit`].
    pub async fn begin_answer(
        self: &Arc<Self>,
        principal: &Principal,
        reply_id: &str,
        body: String,
    ) -> Result<MessageDraft> {
        let reply = match self.store.message_by_id(reply_id).await? {
            Some(m) if m.sender_id == principal.user.id && m.kind == MessageKind::Reply => m,
            _ => return Err(Error::NotFound),
        };
        if let Some(g) = super::content::gone_reason(&reply, Ts::now()) {
            return Err(Error::Gone(g));
        }
        let author = match (reply.from_recipient_id.as_deref(), &reply.from_address) {
            (Some(rid), _) => self
                .store
                .recipient_by_id(rid)
                .await?
                .map(|a| NewRecipientReq {
                    email: Some(a.email.clone()),
                    phone: a.phone.clone(),
                    verification: Some(a.verification),
                    code: None,
                    code_hint: None,
                    language: Some(a.language.as_str().to_owned()),
                }),
            // Mail from another provider: a secure message back to its address (directly
            // again when its domain takes NTA 7516 mail, else with a code by e-mail).
            (None, Some(address)) => Some(NewRecipientReq {
                email: Some(address.clone()),
                phone: None,
                verification: Some(Verification::Email),
                code: None,
                code_hint: None,
                language: None,
            }),
            (None, None) => None,
        }
        .ok_or(Error::NotFound)?;
        let subject = self
            .decrypt_subject(&reply)
            .await?
            .ok_or(Error::Gone(GoneReason::Expired))?;
        let subject = if subject.to_lowercase().starts_with("re:") {
            subject
        } else {
            format!("Re: {subject}")
        };
        let req = NewMessageReq {
            subject: Some(subject),
            body,
            recipients: Some(vec![author]),
            reply: None,
            expires_in_days: None,
            in_reply_to: Some(reply.id.clone()),
            read_receipt: false,
        };
        self.begin_message(principal, req).await
    }
}

/// Gone when `m` was revoked or has expired.
fn gone_unless_active(m: &MessageRow) -> Result<()> {
    match super::content::gone_reason(m, Ts::now()) {
        Some(g) => Err(Error::Gone(g)),
        None => Ok(()),
    }
}

/// A recipient with their status and their own `events`.
fn recipient_view(t: TrackedRecipient, events: &[Event]) -> TrackedRecipientView {
    let r = t.recipient;
    TrackedRecipientView {
        timeline: events
            .iter()
            .filter(|e| e.event.recipient_id.as_deref() == Some(r.id.as_str()))
            // The sender's own views would fill their timeline with every visit to the page.
            .filter(|e| e.event.kind != EventKind::SenderViewed)
            .map(|e| TimelineEvent {
                kind: e.event.kind,
                at: e.event.at,
                ip: e.event.ip.clone(),
                detail: e.event.detail.clone(),
            })
            .collect(),
        status: ShownStatus::of(r.status, t.downloaded),
        forwarded: r.forwarded_by.is_some(),
        id: r.id,
        email: r.email,
        verification: r.verification,
        failed_reason: r.failed_reason,
    }
}

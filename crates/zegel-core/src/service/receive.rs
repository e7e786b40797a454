//! Mail from another provider (NTA 7516) for an address in one of this installation's mail
//! domains (`zegel admin org domains`): stored encrypted in the addressed user's inbox, like a
//! reply (a message of kind `reply`, without a parent, `from_address` the sending address),
//! and the user is told a secure message is waiting. The SMTP listener takes such mail only
//! over STARTTLS.

use super::drafts::{RowHead, Uploads};
use super::payloads::{JobPayload, NotifySender};
use super::submission::{html_of, mail_attachments, stream_attachments, MailRefused};
use super::{events, validate, ClientCtx, Zegel};
use crate::error::{Error, Result};
use crate::mail_store::NewReceivedMail;
use crate::model::*;
use mail_parser::MessageParser;
use std::sync::Arc;

/// The longest subject kept, in characters.
const MAX_SUBJECT_CHARS: usize = 998;

impl Zegel {
    /// The user `address` reaches when it is in one of this installation's mail domains and
    /// names a user of that domain's organisation.
    pub async fn local_recipient(&self, address: &str) -> Result<Option<User>> {
        let address = address.trim().to_ascii_lowercase();
        let Some((_, domain)) = address.rsplit_once('@') else {
            return Ok(None);
        };
        let Some(org_id) = self.store.org_of_domain(domain).await? else {
            return Ok(None);
        };
        Ok(self
            .store
            .user_by_email(&address)
            .await?
            .filter(|u| u.org_id == org_id))
    }

    /// Stores mail (`raw`, as received after DATA) from another provider for each of `users`
    /// (each gets their own copy under their own key); the ids. Nothing is kept on refusal.
    pub async fn receive_mail(
        self: &Arc<Self>,
        users: &[User],
        envelope_from: &str,
        raw: &[u8],
        ctx: &ClientCtx,
    ) -> std::result::Result<Vec<String>, MailRefused> {
        let mail = MessageParser::default()
            .parse(raw)
            .ok_or(MailRefused::Unreadable)?;
        // Whom the user sees it from: the header's From when it is an address, else the
        // envelope's.
        let from = mail
            .from()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .map(str::to_owned)
            .or_else(|| (!envelope_from.is_empty()).then(|| envelope_from.to_owned()))
            .ok_or(MailRefused::Unreadable)?;
        let from = validate::email(&from).map_err(|_| MailRefused::Unreadable)?;
        let subject: String = mail
            .subject()
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_SUBJECT_CHARS)
            .collect();
        let body = mail
            .body_text(0)
            .map(|b| b.into_owned())
            .unwrap_or_default();
        // The cheap checks first, then the DNS lookups of the sender check.
        let html = html_of(&mail);
        super::drafts::check_body_sizes(&self.settings, &body, html.as_deref())?;
        let attachments = mail_attachments(&mail)?;
        // Who vouches for the sender: a DKIM signature of the From domain, an NTA 7516 record.
        // Unverified mail is kept, and shown with a warning.
        let check = match (&self.mail_dns, from.rsplit_once('@')) {
            (Some(dns), Some((_, domain))) => {
                dns.check_sender(raw, domain, crate::nta::YearMonth::of_millis(Ts::now().0))
                    .await
            }
            _ => crate::mail_dns::SenderCheck::default(),
        };
        let mut ids = Vec::with_capacity(users.len());
        for user in users {
            let mut uploads = Uploads::new(self.clone(), self.settings.max_attachments);
            if let Err(e) = stream_attachments(&mut uploads, &attachments).await {
                uploads.abort().await;
                return Err(e.into());
            }
            ids.push(
                self.store_received(
                    uploads,
                    user,
                    (&from, &check),
                    (&subject, &body, html.as_deref()),
                    ctx,
                )
                .await?,
            );
        }
        Ok(ids)
    }

    async fn store_received(
        &self,
        mut uploads: Uploads,
        user: &User,
        (from, check): (&str, &crate::mail_dns::SenderCheck),
        (subject, body, html): (&str, &str, Option<&str>),
        ctx: &ClientCtx,
    ) -> Result<String> {
        let now = Ts::now();
        let mid = uploads.message_id().to_owned();
        let days = self.org_availability(&user.org_id).await?.default_days;
        let kek = self.keys.active_kek_now(&self.store, &user.org_id).await?;
        let sealed = uploads.sealed_row(
            &kek,
            RowHead {
                org_id: user.org_id.clone(),
                sender_id: user.id.clone(),
                reply_policy: ReplyPolicy::Off,
                created_at: now,
                expires_at: now.plus_secs(days * 86_400),
                kind: MessageKind::Reply,
                thread_id: mid.clone(),
                parent_id: None,
                from_recipient_id: None,
                from_address: Some(from.to_owned()),
                from_verified: check.verified(),
                html: html.map(str::to_owned),
            },
            subject,
            body,
        );
        let received = NewReceivedMail {
            message: sealed.row,
            key: sealed.key,
            attachments: uploads.rows().to_vec(),
            event: NewEvent {
                message_id: mid.clone(),
                recipient_id: None,
                kind: EventKind::MailReceived,
                at: now,
                actor: events::SYSTEM.into(),
                ip: ctx.ip.clone(),
                user_agent: ctx.user_agent.clone(),
                detail: Some(format!("{from}; {}", check.describe())),
            },
            job: JobPayload::NotifySender(NotifySender {
                message_id: mid.clone(),
            })
            .into_job(now, self.settings.notify_max_attempts)?,
        };
        let store = self.store.clone();
        uploads
            .store_detached(async move {
                store
                    .insert_received_mail(&received)
                    .await
                    .map_err(Error::from)
            })
            .await?;
        self.job_wakeup.notify_one();
        tracing::info!(message_id = %mid, user = %user.id, "mail from another provider stored");
        Ok(mid)
    }
}

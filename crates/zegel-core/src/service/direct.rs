//! NTA 7516 direct delivery of a recipient's message (issue 15): before a portal notification
//! goes to an external recipient, the recipient's domain is looked up; a domain that takes
//! secure mail directly gets the whole message (subject, text, attachments) by SMTP with TLS
//! required, and the recipient's status becomes `delivered` with a `delivered_direct` event.
//! Anything that does not work records `direct_failed` with the reason, and the portal
//! notification goes as usual: never plain mail.

use super::content::{decrypt_stream, decrypt_text};
use super::events::by_system as system_event;
use super::payloads::NotifyRecipient;
use super::{objects, Zegel};
use crate::error::Result;
use crate::model::*;
use crate::nta::YearMonth;
use crate::outbound::direct::{Direct, Route};
use crate::outbound::header_safe;
use futures::StreamExt;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};

/// What became of a direct delivery attempt.
pub(super) enum DirectOutcome {
    /// Delivered; the recipient is marked and the job is done.
    Delivered,
    /// Not direct (no record, or it failed and `direct_failed` is recorded): notify as usual.
    Portal,
}

impl Zegel {
    /// Tries direct delivery of `a`'s message to its recipient (see the module documentation).
    pub(super) async fn try_direct(
        &self,
        direct: &Direct,
        job: &Job,
        p: &NotifyRecipient,
        a: &RecipientAccess,
    ) -> Result<DirectOutcome> {
        let Some((_, domain)) = a.recipient.email.rsplit_once('@') else {
            return Ok(DirectOutcome::Portal);
        };
        // Mail for an organisation of this installation stays in the portal.
        if self
            .store
            .org_of_domain(&domain.to_ascii_lowercase())
            .await?
            .is_some()
        {
            return Ok(DirectOutcome::Portal);
        }
        let month = YearMonth::of_millis(Ts::now().0);
        let (provider, hosts, dnssec) = match direct.route(domain, month).await {
            Route::Direct {
                provider,
                hosts,
                dnssec,
            } => (provider, hosts, dnssec),
            Route::Portal(why) => {
                tracing::debug!(reason = %why, "no direct delivery");
                return Ok(DirectOutcome::Portal);
            }
        };
        let failed = |why: String| {
            system_event(
                &p.message_id,
                &p.recipient_id,
                EventKind::DirectFailed,
                Some(why),
            )
        };
        let raw = match self.direct_mail(direct, a).await? {
            Ok(raw) => raw,
            Err(why) => {
                self.store.record_event(&failed(why), None).await?;
                return Ok(DirectOutcome::Portal);
            }
        };
        match direct
            .deliver(&hosts, dnssec, &a.recipient.email, raw)
            .await
        {
            Ok(done) => {
                let how: Vec<&str> = done
                    .check
                    .into_iter()
                    .chain(dnssec.then_some("DNSSEC"))
                    .collect();
                let detail = if how.is_empty() {
                    format!("{provider} via {}", done.host)
                } else {
                    format!("{provider} via {} ({})", done.host, how.join(", "))
                };
                let ev = system_event(
                    &p.message_id,
                    &p.recipient_id,
                    EventKind::DeliveredDirect,
                    Some(detail),
                );
                self.store
                    .mark_delivered_direct(&p.recipient_id, &ev, job.id)
                    .await?;
                tracing::info!(message_id = %p.message_id, recipient_id = %p.recipient_id, "delivered directly (NTA 7516)");
                Ok(DirectOutcome::Delivered)
            }
            Err(why) => {
                tracing::info!(message_id = %p.message_id, recipient_id = %p.recipient_id, "direct delivery failed; notifying through the portal");
                self.store.record_event(&failed(why), None).await?;
                Ok(DirectOutcome::Portal)
            }
        }
    }

    /// The whole message as an RFC 5322 mail from its sender, or why it cannot go directly.
    /// Held in memory (at most `direct.max_bytes()` of content, a few at once).
    async fn direct_mail(
        &self,
        direct: &Direct,
        a: &RecipientAccess,
    ) -> Result<std::result::Result<Vec<u8>, String>> {
        let Some(m) = self.store.message_by_id(&a.message.id).await? else {
            return Ok(Err("the message is gone".into()));
        };
        let Some(dek) = self.dek_of(&m).await? else {
            return Ok(Err("the message is gone".into()));
        };
        let rows = self.store.attachments_of(&m.id).await?;
        let total: u64 = rows.iter().map(|r| r.size.max(0) as u64).sum();
        if total > direct.max_bytes() {
            return Ok(Err(format!(
                "too large to deliver directly ({} MiB; at most {} MiB)",
                total.div_ceil(1 << 20),
                direct.max_bytes() >> 20
            )));
        }
        let Some((subject, body)) = super::content::decrypt_subject_body(&dek, &m)? else {
            return Ok(Err("the message is gone".into()));
        };
        let Some(sender) = self.store.user_by_id(&m.sender_id).await? else {
            return Ok(Err("the sender's account is gone".into()));
        };
        let from = match sender.email.parse() {
            Ok(addr) => Mailbox::new(Some(header_safe(&a.sender_name)), addr),
            Err(_) => return Ok(Err("the sender's address is not a mail address".into())),
        };
        let to: Mailbox = match header_safe(&a.recipient.email).parse() {
            Ok(to) => to,
            Err(_) => return Ok(Err("the recipient's address is not a mail address".into())),
        };
        // The HTML body as the sender's mail had it: the receiving provider shows it through
        // its own sanitiser.
        let html = match &m.html_ct {
            Some(ct) => Some(decrypt_text(&dek, &objects::html(&m.id), ct)?),
            None => None,
        };
        let mut parts = match html {
            Some(html) => {
                MultiPart::mixed().multipart(MultiPart::alternative_plain_html(body, html))
            }
            None => MultiPart::mixed().singlepart(SinglePart::plain(body)),
        };
        for row in &rows {
            let Some(view) = Self::attachment_view(&dek, &m, row)? else {
                continue;
            };
            let mut data = Vec::with_capacity(usize::try_from(row.size.max(0)).unwrap_or(0));
            let blob = self.blobs.read(&row.blob_key).await?;
            let mut plain =
                decrypt_stream(blob, dek.decryptor(&objects::attachment(&m.id, &row.id)));
            while let Some(chunk) = plain.next().await {
                data.extend_from_slice(&chunk?);
            }
            // A type lettre cannot write goes as plain bytes.
            let ct = ContentType::parse(&view.content_type)
                .or_else(|_| ContentType::parse("application/octet-stream"))
                .map_err(|e| crate::error::Error::Internal(format!("content type: {e}")))?;
            parts = parts.singlepart(Attachment::new(view.name).body(data, ct));
        }
        let mail = lettre::Message::builder()
            .from(from.clone())
            .reply_to(from)
            .to(to)
            .subject(header_safe(&subject))
            .message_id(Some(format!(
                "<zegel.direct.{}@{}>",
                a.recipient.id, self.settings.mail_domain
            )))
            .date_now()
            .multipart(parts);
        Ok(match mail {
            Ok(mail) => Ok(mail.formatted()),
            Err(e) => Err(format!("building the mail: {e}")),
        })
    }
}

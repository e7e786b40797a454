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
use crate::outbound::streamed::{Part, PartInfo, PartSource, StreamedMail};
use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use lettre::message::{Mailbox, MessageBuilder, MultiPart, SinglePart};
use zegel_crypto::Dek;

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
        let d = match self.direct_mail(direct, a).await? {
            Ok(d) => d,
            Err(why) => {
                self.store.record_event(&failed(why), None).await?;
                return Ok(DirectOutcome::Portal);
            }
        };
        let delivered = match StreamedMail::new(d.message, d.first, &d.parts, &d.files) {
            Ok(mail) => {
                direct
                    .deliver(&hosts, dnssec, &a.recipient.email, &mail)
                    .await
            }
            Err(why) => Err(why),
        };
        match delivered {
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

    /// The message from its sender, ready to stream: the headers, the text (and HTML) and
    /// the attachments to read as it goes; or why it cannot go directly.
    async fn direct_mail(
        &self,
        direct: &Direct,
        a: &RecipientAccess,
    ) -> Result<std::result::Result<DirectMail<'_>, String>> {
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
        let first = match html {
            Some(html) => Part::Multi(MultiPart::alternative_plain_html(body, html)),
            None => Part::Single(SinglePart::plain(body)),
        };
        let mut parts = Vec::with_capacity(rows.len());
        let mut files = Vec::with_capacity(rows.len());
        for row in rows {
            let Some(view) = Self::attachment_view(&dek, &m, &row)? else {
                continue;
            };
            parts.push(PartInfo {
                name: view.name,
                content_type: view.content_type,
                size: row.size.max(0) as u64,
            });
            files.push(row);
        }
        let message = lettre::Message::builder()
            .from(from.clone())
            .reply_to(from)
            .to(to)
            .subject(header_safe(&subject))
            .message_id(Some(format!(
                "<zegel.direct.{}@{}>",
                a.recipient.id, self.settings.mail_domain
            )))
            .date_now();
        Ok(Ok(DirectMail {
            message,
            first,
            parts,
            files: Files {
                zegel: self,
                dek,
                message_id: m.id,
                rows: files,
            },
        }))
    }
}

/// A message ready to go directly: what [`StreamedMail::new`] takes.
struct DirectMail<'a> {
    message: MessageBuilder,
    first: Part,
    /// The attachments' names, types and sizes, in the order of `files.rows`.
    parts: Vec<PartInfo>,
    files: Files<'a>,
}

/// A message's attachments, decrypted as they are read.
struct Files<'a> {
    zegel: &'a Zegel,
    dek: Dek,
    message_id: String,
    rows: Vec<AttachmentRow>,
}

#[async_trait]
impl PartSource for Files<'_> {
    async fn open(
        &self,
        i: usize,
    ) -> std::result::Result<BoxStream<'static, std::result::Result<Bytes, String>>, String> {
        let row = self.rows.get(i).ok_or("no such attachment")?;
        let blob = self
            .zegel
            .blobs
            .read(&row.blob_key)
            .await
            .map_err(|e| format!("an attachment could not be read: {e}"))?;
        let object = objects::attachment(&self.message_id, &row.id);
        Ok(decrypt_stream(blob, self.dek.decryptor(&object))
            .map_err(|e| format!("an attachment could not be decrypted: {e}"))
            .boxed())
    }
}

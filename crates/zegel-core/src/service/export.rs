//! The recipient's own copy: the conversation as one RFC 5322 `.eml` file (open format, opens in
//! any mail program), streamed: attachments are decrypted and base64-encoded chunk by chunk,
//! never held whole in memory. Headers are encoded by lettre (RFC 2047 / RFC 2231).

use super::access::RecipientSession;
use super::content::decrypt_stream;
use super::events;
use super::thread::ThreadItem;
use super::{objects, ClientCtx, Zegel};
use crate::error::{Error, Result};
use crate::model::{EventKind, Lang};
use crate::outbound::streamed::{attachment_headers, base64_lines, content_type};
use base64::Engine;
use bytes::Bytes;
use futures::stream::{self, BoxStream};
use futures::StreamExt;
use lettre::message::header::{
    ContentTransferEncoding, ContentType, Date, From, HeaderName, HeaderValue, Headers,
    MimeVersion, Subject, To,
};
use lettre::message::{Mailbox, Mailboxes};

/// The `.eml`'s message headers and the start of its text part (base64 follows): from
/// `from_name` at no-reply@`mail_domain`, to `to` (left out when it is not an address).
fn eml_head(
    boundary: &str,
    from_name: &str,
    mail_domain: &str,
    to: &str,
    subject: &str,
) -> Result<String> {
    let mut h = Headers::new();
    h.set(MimeVersion::default());
    h.set(Date::new(std::time::SystemTime::now()));
    let org_box = Mailbox::new(
        Some(from_name.to_owned()),
        format!("no-reply@{mail_domain}")
            .parse()
            .map_err(|_| Error::Internal("mail domain is not a valid address".into()))?,
    );
    h.set(From::from(Mailboxes::from(org_box)));
    if let Ok(to) = to.parse::<Mailbox>() {
        h.set(To::from(Mailboxes::from(to)));
    }
    if subject.is_ascii() && !subject.contains("=?") {
        h.set(Subject::from(subject.to_owned()));
    } else {
        // lettre would leave a literal `=?...?=` as it is (a mail program then decodes it as an
        // encoded word) and drops the spaces between two encoded words: encode it all here.
        h.insert_raw(HeaderValue::dangerous_new_pre_encoded(
            HeaderName::new_from_ascii_str("Subject"),
            subject.to_owned(),
            encoded_words(subject),
        ));
    }
    h.set(content_type(&format!(
        "multipart/mixed; boundary=\"{boundary}\""
    )));
    let mut head = h.to_string();
    head.push_str("\r\n");
    let mut text = Headers::new();
    text.set(ContentType::TEXT_PLAIN);
    text.set(ContentTransferEncoding::Base64);
    head.push_str(&format!("--{boundary}\r\n{text}\r\n"));
    Ok(head)
}

/// `text` as RFC 2047 encoded words (UTF-8, base64), at most 75 characters each, folded
/// between words (white space between encoded words is not part of the text).
fn encoded_words(text: &str) -> String {
    let mut words = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        // 45 bytes are 60 base64 characters: with `=?utf-8?b?` and `?=`, 72.
        if word.len() + c.len_utf8() > 45 {
            words.push(std::mem::take(&mut word));
        }
        word.push(c);
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
        .iter()
        .map(|w| {
            format!(
                "=?utf-8?b?{}?=",
                base64::engine::general_purpose::STANDARD.encode(w)
            )
        })
        .collect::<Vec<_>>()
        .join("\r\n ")
}

/// One attachment part's delimiter and headers (its base64 follows).
fn attachment_head(boundary: &str, content_type_text: &str, name: &str) -> String {
    format!(
        "\r\n--{boundary}\r\n{}",
        attachment_headers(content_type_text, name)
    )
}

/// The end of the `.eml`.
fn eml_tail(boundary: &str) -> String {
    format!("\r\n--{boundary}--\r\n")
}

fn text_of(items: &[ThreadItem], lang: Lang) -> String {
    let en = lang == Lang::En;
    let (from, date, subject, files, gone) = if en {
        (
            "From",
            "Date",
            "Subject",
            "Attachments",
            "(no longer available)",
        )
    } else {
        (
            "Van",
            "Datum",
            "Onderwerp",
            "Bijlagen",
            "(niet meer beschikbaar)",
        )
    };
    let mut t = String::new();
    for i in items {
        t.push_str(&format!("{from}: {}\r\n{date}: {}\r\n", i.from, i.sent_at));
        match (&i.subject, &i.body) {
            (Some(s), Some(b)) => {
                t.push_str(&format!("{subject}: {s}\r\n\r\n"));
                t.push_str(&b.replace("\r\n", "\n").replace('\n', "\r\n"));
                t.push_str("\r\n");
            }
            _ => t.push_str(&format!("\r\n{gone}\r\n")),
        }
        if !i.attachments.is_empty() {
            let names: Vec<&str> = i.attachments.iter().map(|a| a.name.as_str()).collect();
            t.push_str(&format!("\r\n{files}: {}\r\n", names.join(", ")));
        }
        t.push_str("\r\n----------------------------------------\r\n\r\n");
    }
    t
}

impl Zegel {
    /// The conversation as the session's recipient sees it, as one streamed `.eml`
    /// (records `exported`). Returns the file name and the bytes.
    pub async fn export_eml(
        &self,
        s: &RecipientSession,
        ctx: &ClientCtx,
    ) -> Result<(String, BoxStream<'static, Result<Bytes>>)> {
        let thread = self.recipient_thread(s).await?;
        let a = &s.access;
        let current =
            thread.items.iter().find(|i| i.current).ok_or_else(|| {
                Error::Internal("the current message is not in its thread".into())
            })?;
        let boundary = format!("zegel-{}", zegel_crypto::random_token());
        let head = eml_head(
            &boundary,
            &format!("{} ({})", a.sender_name, a.org_name),
            &self.settings.mail_domain,
            &a.recipient.email,
            current.subject.as_deref().unwrap_or("Zegel"),
        )?;
        let body = text_of(&thread.items, a.recipient.language);
        let mut parts: Vec<BoxStream<'static, Result<Bytes>>> = vec![
            stream::iter([Ok(Bytes::from(head))]).boxed(),
            base64_lines(stream::iter([Ok(Bytes::from(body))]).boxed()),
        ];
        for item in &thread.items {
            if item.attachments.is_empty() {
                continue;
            }
            let Some(m) = self.store.message_by_id(&item.id).await? else {
                continue;
            };
            let Some(dek) = self.dek_of(&m).await? else {
                continue;
            };
            let rows = self.store.attachments_of(&m.id).await?;
            for view in &item.attachments {
                let Some(row) = rows.iter().find(|r| r.id == view.id) else {
                    continue;
                };
                let ph = attachment_head(&boundary, &view.content_type, &view.name);
                parts.push(stream::iter([Ok(Bytes::from(ph))]).boxed());
                let blobs = self.blobs.clone();
                let key = row.blob_key.clone();
                let dec = dek.decryptor(&objects::attachment(&m.id, &row.id));
                let opened = stream::once(async move {
                    match blobs.read(&key).await {
                        Ok(blob) => base64_lines(decrypt_stream(blob, dec)),
                        Err(e) => stream::iter([Err(Error::from(e))]).boxed(),
                    }
                })
                .flatten()
                .boxed();
                parts.push(opened);
            }
        }
        parts.push(stream::iter([Ok(Bytes::from(eml_tail(&boundary)))]).boxed());
        self.store
            .record_event(
                &events::by_recipient(a, EventKind::Exported, ctx, None),
                None,
            )
            .await?;
        let date = a.message.created_at.to_rfc3339();
        let name = format!("bericht-{}.eml", date.get(..10).unwrap_or("zegel"));
        Ok((name, stream::iter(parts).flatten().boxed()))
    }
}

#[cfg(test)]
#[path = "export_props.rs"]
mod props;

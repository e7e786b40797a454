//! Reading what is stored encrypted: message keys, subjects and bodies, attachment names and
//! contents (streamed), and the small lookups every reader needs (whether a message is gone,
//! a recipient's address).

use super::{file_names, objects, Zegel};
use crate::error::{Error, GoneReason, Result};
use crate::model::*;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use zegel_crypto::Dek;

/// An attachment as shown to a reader.
#[derive(Debug, Clone, Serialize)]
pub struct AttachmentView {
    /// Id.
    pub id: String,
    /// File name (decrypted).
    pub name: String,
    /// Size in bytes.
    pub size: i64,
    /// Content type.
    pub content_type: String,
}

/// CONTRACT (stored format): the JSON encrypted as an attachment's `meta_ct`.
#[derive(Serialize, Deserialize)]
pub(crate) struct AttachmentMeta {
    pub name: String,
    pub content_type: String,
}

/// Why a message can no longer be read at `now`, if it cannot.
pub(crate) fn gone_reason(m: &MessageRow, now: Ts) -> Option<GoneReason> {
    match m.state {
        MessageState::Revoked => Some(GoneReason::Revoked),
        MessageState::Expired => Some(GoneReason::Expired),
        MessageState::Active if m.expires_at <= now => Some(GoneReason::Expired),
        MessageState::Active => None,
    }
}

/// A small encrypted text (subject, body, hint, note), decrypted.
pub(crate) fn decrypt_text(dek: &Dek, object: &str, ct: &[u8]) -> Result<String> {
    Ok(String::from_utf8_lossy(&dek.decrypt_small(object, ct)?).into_owned())
}

/// A message's subject and body text, decrypted; `None` once destroyed (the ciphertexts are
/// gone).
pub(crate) fn decrypt_subject_body(dek: &Dek, m: &MessageRow) -> Result<Option<(String, String)>> {
    let (Some(s), Some(b)) = (&m.subject_ct, &m.body_ct) else {
        return Ok(None);
    };
    Ok(Some((
        decrypt_text(dek, &objects::subject(&m.id), s)?,
        decrypt_text(dek, &objects::body(&m.id), b)?,
    )))
}

/// A message's HTML body, decrypted and sanitised ([`crate::html::sanitize`]), if it has one.
pub(crate) fn decrypt_html(dek: &Dek, m: &MessageRow) -> Result<Option<String>> {
    match &m.html_ct {
        Some(ct) => {
            let raw = decrypt_text(dek, &objects::html(&m.id), ct)?;
            Ok(Some(crate::html::sanitize(&raw)).filter(|h| !h.trim().is_empty()))
        }
        None => Ok(None),
    }
}

impl Zegel {
    /// The message key; `None` once the message was destroyed.
    pub(crate) async fn dek_of(&self, m: &MessageRow) -> Result<Option<Dek>> {
        let Some(key) = self.store.message_key(&m.id).await? else {
            return Ok(None);
        };
        self.unwrap_dek(m, &key).await.map(Some)
    }

    /// Unwraps a message key already read.
    pub(crate) async fn unwrap_dek(&self, m: &MessageRow, key: &MessageKey) -> Result<Dek> {
        self.keys
            .dek(&self.store, &key.kek_id, &key.wrapped_dek, &m.id)
            .await
    }

    /// The message key of a message that must still be readable (410 otherwise).
    pub(crate) async fn message_dek(&self, m: &MessageRow) -> Result<Dek> {
        self.dek_of(m)
            .await?
            .ok_or(Error::Gone(GoneReason::Revoked))
    }

    /// The subject of a message; `None` once destroyed.
    pub(crate) async fn decrypt_subject(&self, m: &MessageRow) -> Result<Option<String>> {
        let Some(ct) = &m.subject_ct else {
            return Ok(None);
        };
        match self.dek_of(m).await? {
            Some(dek) => decrypt_text(&dek, &objects::subject(&m.id), ct).map(Some),
            None => Ok(None),
        }
    }

    /// The e-mail address of a recipient, if there is one.
    pub(crate) async fn email_of(&self, recipient_id: Option<&str>) -> Result<Option<String>> {
        Ok(match recipient_id {
            Some(id) => self.store.recipient_by_id(id).await?.map(|r| r.email),
            None => None,
        })
    }

    pub(crate) fn attachment_view(
        dek: &Dek,
        m: &MessageRow,
        a: &AttachmentRow,
    ) -> Result<Option<AttachmentView>> {
        let Some(ct) = &a.meta_ct else {
            return Ok(None);
        };
        let meta: AttachmentMeta = serde_json::from_slice(
            &dek.decrypt_small(&objects::attachment_meta(&m.id, &a.id), ct)?,
        )
        .map_err(|e| Error::Internal(format!("attachment meta: {e}")))?;
        Ok(Some(AttachmentView {
            id: a.id.clone(),
            // Names stored before the current rules are cleaned on the way out too.
            name: file_names::file_name(&meta.name),
            size: a.size,
            content_type: meta.content_type,
        }))
    }

    pub(crate) async fn attachment_views(
        &self,
        dek: &Dek,
        m: &MessageRow,
    ) -> Result<Vec<AttachmentView>> {
        let mut out = Vec::new();
        for a in self.store.attachments_of(&m.id).await? {
            out.extend(Self::attachment_view(dek, m, &a)?);
        }
        Ok(out)
    }

    /// One attachment of `m`, decrypted as a stream, after `event` (given the attachment id)
    /// is recorded. A tampered or truncated blob ends the stream with an error, never with
    /// wrong bytes.
    pub(crate) async fn stream_attachment(
        &self,
        m: &MessageRow,
        dek: &Dek,
        row: &AttachmentRow,
        event: impl FnOnce(String) -> NewEvent,
    ) -> Result<(AttachmentView, BoxStream<'static, Result<Bytes>>)> {
        let view = Self::attachment_view(dek, m, row)?.ok_or(Error::NotFound)?;
        let blob = self.blobs.read(&row.blob_key).await?;
        let dec = dek.decryptor(&objects::attachment(&m.id, &row.id));
        self.store
            .record_event(&event(row.id.clone()), None)
            .await?;
        Ok((view, decrypt_stream(blob, dec)))
    }
}

/// Decrypts a blob stream chunk by chunk; the end of the blob must be a final chunk.
pub(crate) fn decrypt_stream(
    blob: BoxStream<'static, Result<Bytes, crate::blobs::BlobError>>,
    dec: zegel_crypto::StreamDecryptor,
) -> BoxStream<'static, Result<Bytes>> {
    futures::stream::try_unfold((blob, Some(dec)), |(mut blob, mut dec)| async move {
        loop {
            let Some(d) = dec.as_mut() else {
                return Ok(None);
            };
            match blob.next().await {
                Some(chunk) => {
                    let chunk = chunk?;
                    let mut out = Vec::with_capacity(chunk.len());
                    d.update(&chunk, &mut out)?;
                    if !out.is_empty() {
                        return Ok(Some((Bytes::from(out), (blob, dec))));
                    }
                }
                None => {
                    let mut out = Vec::new();
                    if let Some(d) = dec.take() {
                        d.finish(&mut out)?;
                    }
                    if out.is_empty() {
                        return Ok(None);
                    }
                    return Ok(Some((Bytes::from(out), (blob, dec))));
                }
            }
        }
    })
    .boxed()
}

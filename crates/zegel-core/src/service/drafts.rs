//! What a message and a reply being written share: a fresh message key, attachments streamed
//! through the encryptor into new blobs as they arrive (never whole in memory), and the rule
//! that blobs written for something never stored are deleted again.
//!
//! [`super::MessageDraft`] (a care worker's message) and [`super::ReplyDraft`] (a recipient's
//! reply) each own an [`Uploads`].

use super::content::AttachmentMeta;
use super::{file_names, new_id, objects, validate, Zegel};
use crate::error::{Error, Invalid, Result, TooLarge};
use crate::model::*;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use std::sync::Arc;
use zegel_crypto::{Dek, Kek, ALG_STREAM};

/// The attachments of a draft. Dropping it, or [`Uploads::abort`], deletes every blob written
/// so far, unless the draft was handed to the store ([`Uploads::store_detached`]).
pub struct Uploads {
    z: Arc<Zegel>,
    /// Shared with the task that stores the draft (see [`Uploads::store_message`]).
    dek: Arc<Dek>,
    message_id: String,
    attachments: Vec<AttachmentRow>,
    total_bytes: u64,
    max_attachments: usize,
    done: bool,
}

impl std::fmt::Debug for Uploads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uploads")
            .field("message_id", &self.message_id)
            .field("attachments", &self.attachments.len())
            .finish_non_exhaustive()
    }
}

impl Uploads {
    /// Uploads for a new message or reply with a new id and key.
    pub(crate) fn new(z: Arc<Zegel>, max_attachments: usize) -> Self {
        Uploads {
            z,
            dek: Arc::new(Dek::generate()),
            message_id: new_id(),
            attachments: Vec::new(),
            total_bytes: 0,
            max_attachments,
            done: false,
        }
    }

    /// The services these uploads write with.
    pub(crate) fn zegel(&self) -> Arc<Zegel> {
        self.z.clone()
    }

    /// The id of the message or reply these attachments belong to.
    pub(crate) fn message_id(&self) -> &str {
        &self.message_id
    }

    /// The attachments written so far.
    pub(crate) fn rows(&self) -> &[AttachmentRow] {
        &self.attachments
    }

    /// Streams one attachment through the encryptor into a new blob. On any error the partial
    /// blob is removed; the draft stays usable (for `abort`).
    pub async fn add<S>(&mut self, name: &str, content_type: &str, mut data: S) -> Result<()>
    where
        S: Stream<Item = Result<Bytes>> + Unpin,
    {
        let z = self.z.clone();
        if self.attachments.len() >= self.max_attachments {
            return Err(Invalid::TooManyAttachments {
                max: self.max_attachments,
            }
            .into());
        }
        let aid = new_id();
        let blob_key = objects::attachment_blob(&self.message_id, &aid);
        let mut writer = z.blobs.writer(&blob_key).await?;
        let mut enc = self
            .dek
            .encryptor(&objects::attachment(&self.message_id, &aid));
        let mut out = Vec::with_capacity(1 << 20);
        let mut size: u64 = 0;
        let res: Result<()> = async {
            while let Some(chunk) = data.next().await {
                let chunk = chunk?;
                size += chunk.len() as u64;
                if self.total_bytes + size > z.settings.max_upload_bytes {
                    return Err(TooLarge::Attachments {
                        max: z.settings.max_upload_bytes,
                    }
                    .into());
                }
                enc.update(&chunk, &mut out)?;
                if out.len() >= 1 << 20 {
                    let full = std::mem::replace(&mut out, Vec::with_capacity(1 << 20));
                    writer.write(Bytes::from(full)).await?;
                }
            }
            enc.finish(&mut out)?;
            writer.write(Bytes::from(std::mem::take(&mut out))).await?;
            Ok(())
        }
        .await;
        if let Err(e) = res {
            let _ = writer.abort().await;
            return Err(e);
        }
        writer.finish().await?;
        self.total_bytes += size;
        let meta = serde_json::to_vec(&AttachmentMeta {
            name: file_names::file_name(name),
            content_type: validate::single_line(content_type)
                .chars()
                .take(127)
                .collect(),
        })
        .map_err(|e| Error::Internal(e.to_string()))?;
        self.attachments.push(AttachmentRow {
            id: aid.clone(),
            message_id: self.message_id.clone(),
            position: self.attachments.len() as i64,
            blob_key,
            meta_ct: Some(
                self.dek
                    .encrypt_small(&objects::attachment_meta(&self.message_id, &aid), &meta),
            ),
            size: size as i64,
            alg: ALG_STREAM.into(),
            created_at: Ts::now(),
        });
        Ok(())
    }

    /// The message row of a draft: subject and body encrypted under the draft's key; with the
    /// key wrapped by the organisation key `kek`.
    pub(crate) fn sealed_row(&self, kek: &Kek, head: RowHead, subject: &str, body: &str) -> Sealed {
        let mid = &self.message_id;
        Sealed {
            row: MessageRow {
                id: mid.clone(),
                org_id: head.org_id,
                sender_id: head.sender_id,
                subject_ct: Some(
                    self.dek
                        .encrypt_small(&objects::subject(mid), subject.as_bytes()),
                ),
                body_ct: Some(self.dek.encrypt_small(&objects::body(mid), body.as_bytes())),
                alg: ALG_STREAM.into(),
                reply_policy: head.reply_policy,
                state: MessageState::Active,
                created_at: head.created_at,
                expires_at: head.expires_at,
                destroyed_at: None,
                kind: head.kind,
                thread_id: head.thread_id,
                parent_id: head.parent_id,
                from_recipient_id: head.from_recipient_id,
                from_address: head.from_address,
                from_verified: head.from_verified,
                html_ct: head
                    .html
                    .as_deref()
                    .map(|h| self.dek.encrypt_small(&objects::html(mid), h.as_bytes())),
                read_at: None,
            },
            key: MessageKey {
                message_id: mid.clone(),
                kek_id: kek.id().to_string(),
                wrapped_dek: kek.wrap_dek(&self.dek, mid),
            },
        }
    }

    /// Encrypts a small text of this draft's message (a code hint, a note) under its key.
    pub(crate) fn encrypt_small(&self, object: &str, text: &str) -> Vec<u8> {
        self.dek.encrypt_small(object, text.as_bytes())
    }

    /// Runs `write` (the draft's rows going into the store) in a task of its own and marks
    /// the uploads done. A caller can go away mid-commit (a client that closes its connection
    /// drops its request): dropping the write half-way could let the store's batch commit the
    /// rows while the draft's drop deleted their blobs. The task finishes the write either way,
    /// and deletes the blobs itself only when the write failed.
    pub(crate) async fn store_detached<T, F>(&mut self, write: F) -> Result<T>
    where
        T: Send + 'static,
        F: std::future::Future<Output = Result<T>> + Send + 'static,
    {
        // No await between here and the spawn: the task owns the blobs from now on.
        self.done = true;
        let keys: Vec<String> = self
            .attachments
            .iter()
            .map(|a| a.blob_key.clone())
            .collect();
        let z = self.z.clone();
        tokio::spawn(async move {
            let out = write.await;
            if out.is_err() {
                delete_blobs(&z, keys).await;
            }
            out
        })
        .await
        .map_err(|e| Error::Internal(format!("store task: {e}")))?
    }

    /// Stores a message made with [`Uploads::sealed_row`] (see [`Uploads::store_detached`]).
    /// Its key is wrapped under the organisation key the sender's request saw active, without
    /// a read of its own on every send. When the store refuses the message and that key is no
    /// longer the active one (a key rotation retired it meanwhile, so the message key's foreign
    /// key fails), the key is wrapped under the one active now and the message stored again.
    pub(crate) async fn store_message(&mut self, mut m: NewMessage) -> Result<()> {
        let (z, dek) = (self.z.clone(), self.dek.clone());
        self.store_detached(async move {
            let refused = match z.store.insert_message(&m).await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            let kek = z.keys.active_kek_now(&z.store, &m.message.org_id).await?;
            if kek.id() == m.key.kek_id {
                return Err(refused.into());
            }
            m.key.wrapped_dek = kek.wrap_dek(&dek, &m.message.id);
            m.key.kek_id = kek.id().to_owned();
            Ok(z.store.insert_message(&m).await?)
        })
        .await
    }

    /// Deletes every blob written so far.
    pub async fn abort(&mut self) {
        self.done = true;
        let keys: Vec<String> = self.attachments.drain(..).map(|a| a.blob_key).collect();
        delete_blobs(&self.z, keys).await;
    }
}

/// A mail's text and HTML body within the limits (`max_body_bytes`; HTML, being verbose, four
/// times that), else `TooLarge::Body`.
pub(crate) fn check_body_sizes(s: &crate::Settings, body: &str, html: Option<&str>) -> Result<()> {
    if body.len() > s.max_body_bytes {
        return Err(TooLarge::Body {
            max: s.max_body_bytes,
        }
        .into());
    }
    let max_html = s.max_body_bytes.saturating_mul(4);
    if html.is_some_and(|h| h.len() > max_html) {
        return Err(TooLarge::Body { max: max_html }.into());
    }
    Ok(())
}

/// The plaintext columns of a draft's message row.
pub(crate) struct RowHead {
    pub org_id: String,
    pub sender_id: String,
    pub reply_policy: ReplyPolicy,
    pub created_at: Ts,
    pub expires_at: Ts,
    pub kind: MessageKind,
    pub thread_id: String,
    pub parent_id: Option<String>,
    pub from_recipient_id: Option<String>,
    pub from_address: Option<String>,
    /// Mail from another provider whose sender's domain vouched for it.
    pub from_verified: bool,
    /// The HTML body, when the mail had one (encrypted with the row).
    pub html: Option<String>,
}

/// A draft's message row and its wrapped key.
pub(crate) struct Sealed {
    pub row: MessageRow,
    pub key: MessageKey,
}

async fn delete_blobs(z: &Zegel, keys: Vec<String>) {
    for k in keys {
        if let Err(e) = z.blobs.delete(&k).await {
            tracing::warn!(error = %e, "could not delete an orphan blob");
        }
    }
}

impl Drop for Uploads {
    fn drop(&mut self) {
        if self.done || self.attachments.is_empty() {
            return;
        }
        let keys: Vec<String> = self.attachments.drain(..).map(|a| a.blob_key).collect();
        let z = self.z.clone();
        if let Ok(h) = tokio::runtime::Handle::try_current() {
            h.spawn(async move { delete_blobs(&z, keys).await });
        }
    }
}

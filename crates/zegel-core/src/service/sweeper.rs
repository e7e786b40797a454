//! Expiry and blob deletion: expired messages lose their key at once, blobs follow; ended
//! sender sessions are deleted.

use super::Zegel;
use crate::error::Result;
use crate::model::Ts;
use std::time::Duration;
use tokio::sync::watch;

/// How often a serving node runs the sweeper. CONTRACT (issue 14): an expired message's key is
/// destroyed within a minute of its expiry, so this stays well under that (a sweep that finds
/// much to do takes part of the minute too).
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(15);

impl Zegel {
    /// Destroys the keys of expired messages; returns how many.
    pub async fn expire_due(&self) -> Result<usize> {
        let mut n = 0;
        loop {
            let ids = self.store.expired_message_ids(Ts::now(), 100).await?;
            if ids.is_empty() {
                return Ok(n);
            }
            for id in ids {
                // Only while still due: a sender's extension since the listing wins.
                if self.store.expire_message(&id, Ts::now()).await? {
                    tracing::info!(message_id = %id, "message expired and destroyed");
                    n += 1;
                }
            }
        }
    }

    /// Deletes blobs of destroyed messages; returns how many.
    pub async fn sweep_blobs(&self) -> Result<usize> {
        let mut n = 0;
        loop {
            let todo = self.store.blobs_to_delete(100).await?;
            if todo.is_empty() {
                return Ok(n);
            }
            for b in todo {
                self.blobs.delete(&b.blob_key).await?;
                self.store.blob_deleted(&b.attachment_id).await?;
                n += 1;
            }
        }
    }

    /// Runs expiry and the blob sweep every `every` until shutdown.
    pub async fn run_sweeper(&self, every: Duration, mut shutdown: watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.expire_due().await {
                tracing::error!(error = %e, "expiry sweep failed");
            }
            if let Err(e) = self
                .checkpoint_audit(super::audit_trail::CHECKPOINT_EVERY_MS)
                .await
            {
                tracing::error!(error = %e, "audit checkpoint failed");
            }
            if let Err(e) = self.sweep_blobs().await {
                tracing::error!(error = %e, "blob sweep failed");
            }
            if let Err(e) = self
                .store
                .prune_sender_sessions(Ts::now(), super::SENDER_SESSION_LIMITS)
                .await
            {
                tracing::error!(error = %e, "session sweep failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                // A dropped sender counts as a stop: `changed` would answer at once forever.
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        return;
                    }
                }
            }
        }
    }
}

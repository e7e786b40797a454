//! The audit trail's sequencer and its signed checkpoints (see [`crate::audit`]).

use super::Zegel;
use crate::audit::{checkpoint_message, AuditCheckpoint};
use crate::error::Result;
use crate::model::Ts;

/// A chain whose head moved gets a new checkpoint at most this often (ms) from the sweeper.
pub const CHECKPOINT_EVERY_MS: i64 = 60_000;

/// How often a node's sequencer chains what was staged: an entry is chained within about this
/// long after its event committed (and at once before every verification or checkpoint).
pub const SEQUENCE_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

impl Zegel {
    /// Signs the head of every chain that moved since its last checkpoint, when that
    /// checkpoint is at least `min_age_ms` old (0: always), with the chain's organisation key
    /// (the installation's for chain `""`). Returns how many checkpoints were added. Nodes
    /// doing this at once add one checkpoint per head (the store keeps the first).
    pub async fn checkpoint_audit(&self, min_age_ms: i64) -> Result<usize> {
        crate::audit_check::sequence_all(&self.store).await?;
        let now = Ts::now();
        let mut added = 0;
        for head in self.store.audit_heads().await? {
            if let Some((seq, at)) = self.store.audit_last_checkpoint(&head.chain).await? {
                if seq >= head.seq || now.0 - at.0 < min_age_ms {
                    continue;
                }
            }
            let signer = self.keys.signer(&self.store, &head.chain).await?;
            let message = checkpoint_message(&head.chain, head.seq, &head.hash, now);
            let cp = AuditCheckpoint {
                chain: head.chain.clone(),
                seq: head.seq,
                hash: head.hash,
                signed_at: now,
                key_id: signer.key_id.clone(),
                signature: signer.sign(&message),
            };
            if self.store.add_audit_checkpoint(&cp).await? {
                added += 1;
            }
        }
        Ok(added)
    }
}

impl Zegel {
    /// Chains everything staged so far (see [`crate::audit_check::sequence_all`]).
    pub async fn sequence_audit(&self) -> Result<u64> {
        Ok(crate::audit_check::sequence_all(&self.store).await?)
    }

    /// The node's sequencer: chains staged audit entries every [`SEQUENCE_EVERY`] until `stop`
    /// turns true; a failure is logged and tried again on the next tick (the staged entries
    /// wait in the database, on any node's next run).
    pub async fn run_audit_sequencer(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(SEQUENCE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|s| *s) => break,
            }
            if let Err(e) = self.sequence_audit().await {
                tracing::error!(error = %e, "audit sequencer");
            }
        }
        // What was staged before the stop is chained before the process ends.
        if let Err(e) = self.sequence_audit().await {
            tracing::error!(error = %e, "audit sequencer at shutdown");
        }
    }
}

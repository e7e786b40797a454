//! Signed checkpoints of the audit trail (see [`crate::audit`]).

use super::Zegel;
use crate::audit::{checkpoint_message, AuditCheckpoint};
use crate::error::Result;
use crate::model::Ts;

/// A chain whose head moved gets a new checkpoint at most this often (ms) from the sweeper.
pub const CHECKPOINT_EVERY_MS: i64 = 60_000;

impl Zegel {
    /// Signs the head of every chain that moved since its last checkpoint, when that
    /// checkpoint is at least `min_age_ms` old (0: always), with the chain's organisation key
    /// (the installation's for chain `""`). Returns how many checkpoints were added. Nodes
    /// doing this at once add one checkpoint per head (the store keeps the first).
    pub async fn checkpoint_audit(&self, min_age_ms: i64) -> Result<usize> {
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

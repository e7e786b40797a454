//! `zegel audit verify`: checks the audit trail (see [`crate::audit`]) through the store.

use crate::audit::{checkpoint_message, entry_hash, AuditEntry, SourceFinding, GENESIS};
use crate::error::StoreResult;
use crate::model::Ts;
use crate::store::DynStore;

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Chains checked.
    pub chains: usize,
    /// Entries checked.
    pub entries: u64,
    /// Checkpoints whose signature was checked.
    pub checkpoints: u64,
    /// The first problem, in words naming the entry; `None` when the trail is whole.
    pub problem: Option<String>,
}

/// Checks a checkpoint's signature: `Ok(true)` when it is valid for the key `key_id`.
pub trait CheckpointKeys: Send + Sync {
    /// Whether `signature` over `message` is valid for the key `key_id` of `chain`.
    fn check(&self, chain: &str, key_id: &str, message: &[u8], signature: &[u8]) -> bool;
}

/// Entries read per query.
const PAGE: u32 = 2_000;

/// Checks the whole audit trail: every chain from its first entry to the head it had when the
/// check started (entries written meanwhile are left for the next run), every checkpoint's
/// hash and signature, and that `events` and `account_events` agree with their entries.
/// `label` names a chain for people (the organisation's slug).
pub async fn verify(
    store: &DynStore,
    keys: &dyn CheckpointKeys,
    label: &(dyn Fn(&str) -> String + Sync),
) -> StoreResult<VerifyReport> {
    // What was staged before the check is chained first (the sequencer may be behind).
    sequence_all(store).await?;
    let heads = store.audit_heads().await?;
    let mut report = VerifyReport {
        chains: heads.len(),
        entries: 0,
        checkpoints: 0,
        problem: None,
    };
    for head in &heads {
        let name = label(&head.chain);
        let checkpoints = store.audit_checkpoints(&head.chain).await?;
        let mut cps = checkpoints.iter().peekable();
        let mut prev = GENESIS;
        let mut expect = 1i64;
        'pages: loop {
            let page = store.audit_entries(&head.chain, expect - 1, PAGE).await?;
            if page.is_empty() {
                break;
            }
            for e in &page {
                if e.seq > head.seq {
                    break 'pages;
                }
                let at = describe(&name, e);
                if e.seq != expect {
                    report.problem = Some(format!(
                        "{}: entry {expect} of {name} is missing (removed); the next is {at}",
                        "audit trail broken"
                    ));
                    return Ok(report);
                }
                if e.prev_hash != prev {
                    report.problem = Some(format!(
                        "audit trail broken: {at} does not follow entry {} (an entry was \
                         inserted, removed or reordered)",
                        expect - 1
                    ));
                    return Ok(report);
                }
                if entry_hash(e) != e.hash {
                    report.problem = Some(format!(
                        "audit trail broken: {at} was changed (its hash does not match its \
                         contents)"
                    ));
                    return Ok(report);
                }
                while let Some(cp) = cps.next_if(|cp| cp.seq <= e.seq) {
                    if cp.seq != e.seq || cp.hash != e.hash {
                        report.problem = Some(format!(
                            "audit trail broken: entry {} of {name} differs from the signed \
                             checkpoint of {} (history was rewritten)",
                            cp.seq,
                            cp.signed_at.to_rfc3339()
                        ));
                        return Ok(report);
                    }
                    let msg = checkpoint_message(&cp.chain, cp.seq, &cp.hash, cp.signed_at);
                    if !keys.check(&cp.chain, &cp.key_id, &msg, &cp.signature) {
                        report.problem = Some(format!(
                            "audit trail broken: the checkpoint at entry {} of {name} has no \
                             valid signature",
                            cp.seq
                        ));
                        return Ok(report);
                    }
                    report.checkpoints += 1;
                }
                prev = e.hash;
                expect += 1;
                report.entries += 1;
            }
        }
        if expect - 1 != head.seq || prev != head.hash {
            report.problem = Some(format!(
                "audit trail broken: {name} ends at entry {} but its head says entry {} \
                 (entries at the end were removed or the head was changed)",
                expect - 1,
                head.seq
            ));
            return Ok(report);
        }
        if let Some(cp) = cps.next() {
            report.problem = Some(format!(
                "audit trail broken: a checkpoint names entry {} of {name}, beyond its last \
                 entry {} (entries at the end were removed)",
                cp.seq, head.seq
            ));
            return Ok(report);
        }
    }
    if let Some(f) = store.audit_source_findings().await? {
        report.problem = Some(match f {
            SourceFinding::Unrecorded { source, source_id } => format!(
                "audit trail broken: {source} {source_id} has no audit entry (it was inserted \
                 around Zegel)"
            ),
            SourceFinding::Changed {
                chain,
                seq,
                source,
                source_id,
            } => format!(
                "audit trail broken: {source} {source_id} differs from its audit entry {seq} of \
                 {} (it was changed)",
                label(&chain)
            ),
            SourceFinding::Removed {
                chain,
                seq,
                source,
                source_id,
            } => format!(
                "audit trail broken: {source} {source_id} of audit entry {seq} of {} is gone \
                 (it was removed)",
                label(&chain)
            ),
        });
    }
    Ok(report)
}

fn describe(chain: &str, e: &AuditEntry) -> String {
    format!(
        "entry {} of {chain} ({} {}, {} at {})",
        e.seq,
        e.source,
        e.source_id,
        e.action,
        Ts(e.at).to_rfc3339()
    )
}

/// Entries chained per sequencing transaction.
pub const SEQUENCE_BATCH: u32 = 2000;

/// Chains everything staged so far, in batches of [`SEQUENCE_BATCH`]: how many entries.
pub async fn sequence_all(store: &DynStore) -> StoreResult<u64> {
    let mut total = 0;
    loop {
        let n = store.audit_sequence(SEQUENCE_BATCH).await?;
        total += u64::from(n);
        if n < SEQUENCE_BATCH {
            return Ok(total);
        }
    }
}

//! Key rotation (admin CLI): a new organisation key with every message key re-wrapped under
//! it, online and resumable; and a new master key with everything under it re-wrapped.
//!
//! An organisation key rotation keeps its state in the database only: the organisation's
//! active key is the new key, and every other key of the organisation is an old key still
//! being emptied. Each batch of message keys is re-wrapped in its own transaction, each row a
//! compare-and-swap, so a crash leaves every message key under either key (both exist until
//! the end) and a new run carries on where the last one stopped. The old key is deleted in a
//! transaction that first checks that no message key is under it any more; a send that stored
//! its key under the old key meanwhile is re-wrapped in one more round.

use super::Zegel;
use crate::error::Error;
use crate::keys::{derived_key_meta, DERIVED_PURPOSES};
use crate::model::Ts;
use crate::signin::{AccountEvent, AccountEventKind};
use crate::store::{
    MasterRotation, MasterRotationOutcome, RetireOutcome, Rewrapped, RotationStart,
};
use crate::StoreError;
use zegel_crypto::MasterKey;

/// Message keys re-wrapped per transaction by default.
pub const DEFAULT_ROTATION_BATCH: u32 = 500;
/// Rounds of "re-wrap what is left, then try to delete the old key" before giving up (each
/// round only repeats when sends stored keys under the old key in between).
const RETIRE_ROUNDS: u32 = 20;
/// Attempts of a master key rotation whose organisation keys changed while it ran.
const MASTER_ATTEMPTS: u32 = 3;

/// How an organisation key rotation runs.
#[derive(Debug, Clone, Copy)]
pub struct RotateOptions {
    /// Message keys per transaction (at least 1).
    pub batch_size: u32,
    /// Stop (unfinished, resumable) after this many batches; `None`: run to the end.
    pub max_batches: Option<u32>,
}

impl Default for RotateOptions {
    fn default() -> Self {
        RotateOptions {
            batch_size: DEFAULT_ROTATION_BATCH,
            max_batches: None,
        }
    }
}

/// What an organisation key rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgKeyRotation {
    /// The organisation's slug.
    pub org: String,
    /// The key(s) being replaced.
    pub old_keys: Vec<String>,
    /// The organisation's active key (new).
    pub new_key: String,
    /// Whether this run continued an unfinished rotation instead of starting one.
    pub resumed: bool,
    /// Message keys this run re-wrapped.
    pub rewrapped: u64,
    /// Batches this run committed.
    pub batches: u32,
    /// Whether the old keys are deleted (false: stopped by `max_batches`; run again).
    pub finished: bool,
}

/// What a master key rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterKeyRotation {
    /// The organisation keys re-wrapped under the new master key.
    pub org_keys: Vec<String>,
    /// The signing keys re-wrapped under the new master key.
    pub signing_keys: Vec<String>,
    /// The derived keys kept (their purposes).
    pub derived_keys: Vec<String>,
}

/// Why a rotation did not happen or stopped.
#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    /// No organisation with that slug.
    #[error("no organisation {0:?}")]
    NoOrganisation(String),
    /// Another rotation of this organisation started at the same time.
    #[error("another key rotation of this organisation started meanwhile; run the command again")]
    Concurrent,
    /// The master key in the database is not this process's (rotated meanwhile).
    #[error("the master key was rotated meanwhile; run the command again with the new key")]
    MasterKeyChanged,
    /// The new master key is the current one.
    #[error("the new master key is the current master key")]
    SameMasterKey,
    /// A message key that does not open with its organisation key: it cannot be re-wrapped,
    /// so the old key cannot be deleted.
    #[error("the key of message {message_id} does not open with organisation key {kek_id}")]
    Unreadable {
        /// The message.
        message_id: String,
        /// The key it claims to be under.
        kek_id: String,
    },
    /// Message keys kept arriving under the old key.
    #[error("message keys keep being stored under the old key {0}; run the command again")]
    StillInUse(String),
    /// Anything else.
    #[error(transparent)]
    Core(#[from] Error),
}

impl From<StoreError> for RotationError {
    fn from(e: StoreError) -> Self {
        RotationError::Core(e.into())
    }
}

/// One committed batch of a rotation, for progress output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationProgress {
    /// Batches committed so far in this run.
    pub batches: u32,
    /// Message keys re-wrapped so far in this run.
    pub rewrapped: u64,
}

/// A system account event (no user, no client): what a rotation records.
fn system_event(kind: AccountEventKind, detail: serde_json::Value) -> AccountEvent {
    AccountEvent {
        user_id: None,
        kind,
        at: Ts::now(),
        ip: None,
        user_agent: None,
        detail: Some(detail.to_string()),
    }
}

impl Zegel {
    /// Rotates the organisation key of `slug` (or finishes an unfinished rotation): a new key
    /// becomes the active key, every message key is re-wrapped under it in batches of
    /// `opts.batch_size`, each batch one transaction, then the old key is deleted and the
    /// event `org_key_rotated` recorded in the same transaction. Safe while the server serves
    /// and sends; safe to interrupt at any point and run again. `progress` sees every batch.
    pub async fn rotate_org_key(
        &self,
        slug: &str,
        opts: RotateOptions,
        progress: &mut (dyn FnMut(RotationProgress) + Send),
    ) -> Result<OrgKeyRotation, RotationError> {
        let org = self
            .store
            .org_by_slug(slug)
            .await?
            .ok_or_else(|| RotationError::NoOrganisation(slug.to_owned()))?;
        let old_keys: Vec<String> = self
            .store
            .org_keys_of(&org.id)
            .await?
            .into_iter()
            .map(|k| k.id)
            .filter(|id| *id != org.active_kek_id)
            .collect();
        let (old_keys, new_key, resumed) = if old_keys.is_empty() {
            let key = self.keys.new_org_key(&org.id, Ts::now());
            let kcv = self.keys.key_check_value();
            match self
                .store
                .begin_org_key_rotation(&key, &org.active_kek_id, &kcv)
                .await?
            {
                RotationStart::Started => {}
                RotationStart::ActiveKeyChanged => return Err(RotationError::Concurrent),
                RotationStart::MasterKeyChanged => return Err(RotationError::MasterKeyChanged),
            }
            tracing::info!(org = %org.slug, old_key = %org.active_kek_id, new_key = %key.id, "organisation key rotation started");
            (vec![org.active_kek_id.clone()], key.id, false)
        } else {
            tracing::info!(org = %org.slug, new_key = %org.active_kek_id, "resuming an unfinished organisation key rotation");
            (old_keys, org.active_kek_id.clone(), true)
        };
        let mut report = OrgKeyRotation {
            org: org.slug.clone(),
            old_keys: old_keys.clone(),
            new_key: new_key.clone(),
            resumed,
            rewrapped: 0,
            batches: 0,
            finished: false,
        };
        let new_kek = self.keys.kek(&self.store, &new_key).await?;
        let batch_size = opts.batch_size.max(1);
        for old in &old_keys {
            let old_kek = self.keys.kek(&self.store, old).await?;
            let mut rounds = 0;
            loop {
                // Re-wrap until nothing is left under the old key.
                loop {
                    let rows = self.store.message_keys_under(old, batch_size).await?;
                    if rows.is_empty() {
                        break;
                    }
                    if opts.max_batches.is_some_and(|max| report.batches >= max) {
                        return Ok(report);
                    }
                    let mut rewrapped = Vec::with_capacity(rows.len());
                    for row in rows {
                        let dek = old_kek
                            .unwrap_dek(&row.wrapped_dek, &row.message_id)
                            .map_err(|_| RotationError::Unreadable {
                                message_id: row.message_id.clone(),
                                kek_id: old.clone(),
                            })?;
                        rewrapped.push(crate::model::MessageKey {
                            wrapped_dek: new_kek.wrap_dek(&dek, &row.message_id),
                            kek_id: new_key.clone(),
                            message_id: row.message_id,
                        });
                    }
                    report.rewrapped += self.store.rewrap_message_keys(old, &rewrapped).await?;
                    report.batches += 1;
                    progress(RotationProgress {
                        batches: report.batches,
                        rewrapped: report.rewrapped,
                    });
                }
                let event = system_event(
                    AccountEventKind::OrgKeyRotated,
                    serde_json::json!({
                        "org": org.slug,
                        "old_key": old,
                        "new_key": new_key,
                    }),
                );
                match self.store.retire_org_key(old, &event).await? {
                    RetireOutcome::Retired | RetireOutcome::Missing => break,
                    RetireOutcome::InUse { message_keys } => {
                        // Sends stored keys under the old key after the last batch.
                        rounds += 1;
                        tracing::info!(org = %org.slug, old_key = %old, message_keys, "message keys arrived under the old key; re-wrapping them");
                        if rounds >= RETIRE_ROUNDS {
                            return Err(RotationError::StillInUse(old.clone()));
                        }
                    }
                    RetireOutcome::Active => {
                        // Another rotation made it active again: never delete it.
                        return Err(RotationError::Concurrent);
                    }
                }
            }
        }
        report.finished = true;
        tracing::info!(org = %org.slug, new_key = %new_key, rewrapped = report.rewrapped, "organisation key rotation finished");
        Ok(report)
    }

    /// Rotates the master key to `new`: every organisation key and signing key is re-wrapped
    /// under it, the
    /// derived keys (access-code MACs, sealed job and TOTP secrets) are kept wrapped under it,
    /// the key-check value is replaced and the event `master_key_rotated` recorded, all in one
    /// transaction. Afterwards only `new` opens the database: every node must be restarted
    /// with it.
    pub async fn rotate_master_key(
        &self,
        new: &MasterKey,
    ) -> Result<MasterKeyRotation, RotationError> {
        let old_kcv = self.keys.key_check_value();
        let new_kcv = new.key_check_value();
        if zegel_crypto::ct_eq(&old_kcv, &new_kcv) {
            return Err(RotationError::SameMasterKey);
        }
        let master = self.keys.master();
        let meta: Vec<(String, Vec<u8>)> = self
            .keys
            .derived_keys()
            .iter()
            .map(|(purpose, key)| {
                (
                    derived_key_meta(purpose),
                    new.wrap_derived_key(purpose, key),
                )
            })
            .collect();
        for attempt in 1..=MASTER_ATTEMPTS {
            let mut org_keys = Vec::new();
            for k in self.store.all_org_keys().await? {
                let kek = master.unwrap_kek(&k.id, &k.wrapped).map_err(|e| {
                    Error::Internal(format!("organisation key {} does not open: {e}", k.id))
                })?;
                org_keys.push(Rewrapped {
                    new: new.wrap_kek(&kek),
                    id: k.id,
                    old: k.wrapped,
                });
            }
            let mut signing_keys = Vec::new();
            for (id, wrapped) in self.store.all_wrapped_signing_keys().await? {
                let key = master
                    .unwrap_signing_key(&id, &wrapped)
                    .map_err(|e| Error::Internal(format!("signing key {id} does not open: {e}")))?;
                signing_keys.push(Rewrapped {
                    new: new.wrap_signing_key(&key),
                    id,
                    old: wrapped,
                });
            }
            let signing_ids: Vec<String> = signing_keys.iter().map(|k| k.id.clone()).collect();
            let ids: Vec<String> = org_keys.iter().map(|k| k.id.clone()).collect();
            let rotation = MasterRotation {
                old_key_check: old_kcv.to_vec(),
                new_key_check: new_kcv.to_vec(),
                org_keys,
                signing_keys,
                meta: meta.clone(),
            };
            let event = system_event(
                AccountEventKind::MasterKeyRotated,
                serde_json::json!({ "org_keys": ids, "signing_keys": signing_ids }),
            );
            match self.store.rotate_master(&rotation, &event).await? {
                MasterRotationOutcome::Rotated => {
                    tracing::info!(org_keys = ids.len(), "master key rotated");
                    return Ok(MasterKeyRotation {
                        org_keys: ids,
                        signing_keys: signing_ids,
                        derived_keys: DERIVED_PURPOSES.iter().map(|p| p.to_string()).collect(),
                    });
                }
                MasterRotationOutcome::KeyCheckChanged => {
                    return Err(RotationError::MasterKeyChanged)
                }
                MasterRotationOutcome::OrgKeysChanged => {
                    tracing::info!(attempt, "organisation keys changed during the master key rotation; reading them again");
                }
            }
        }
        Err(RotationError::Concurrent)
    }
}

//! The store section for keys (issue 14): organisation key rotation (re-wrapping message
//! keys, retiring the old key) and master key rotation (re-wrapping what is under the master
//! key).

use crate::error::StoreResult;
use crate::model::*;
use crate::signin::AccountEvent;
use async_trait::async_trait;

/// How [`KeyStore::begin_org_key_rotation`] went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationStart {
    /// The new key is stored and is the organisation's active key now.
    Started,
    /// The organisation's active key is no longer the expected one (another rotation began
    /// meanwhile); nothing changed.
    ActiveKeyChanged,
    /// The master key-check value in the database is not the caller's (the master key was
    /// rotated meanwhile): the new key would be wrapped under a stale master key; nothing changed.
    MasterKeyChanged,
}

/// How [`KeyStore::retire_org_key`] went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetireOutcome {
    /// The key row is deleted (and the event recorded).
    Retired,
    /// This many message keys are still wrapped under it: nothing changed (re-wrap them first).
    InUse {
        /// Message keys under the key.
        message_keys: i64,
    },
    /// It is its organisation's active key: never deleted.
    Active,
    /// No such key (deleted already).
    Missing,
}

/// A key re-wrapped under a new master key: the row's id, the wrapped bytes it must still hold,
/// and the new wrapped bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrapped {
    /// The row's key id.
    pub id: String,
    /// What the row holds now (compare-and-swap: the row must still hold exactly this).
    pub old: Vec<u8>,
    /// What it holds after the rotation.
    pub new: Vec<u8>,
}

/// Everything a master key rotation changes, in one transaction ([`KeyStore::rotate_master`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterRotation {
    /// The key-check value of the current master key (must be the stored one).
    pub old_key_check: Vec<u8>,
    /// The key-check value of the new master key.
    pub new_key_check: Vec<u8>,
    /// Every organisation key (all of them: the table must hold no other), re-wrapped.
    pub org_keys: Vec<Rewrapped>,
    /// Every signing key's private part (all of them: the table must hold no other),
    /// re-wrapped.
    pub signing_keys: Vec<Rewrapped>,
    /// Metadata rows to set (derived keys wrapped under the new master key).
    pub meta: Vec<(String, Vec<u8>)>,
}

/// How [`KeyStore::rotate_master`] went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MasterRotationOutcome {
    /// Everything re-wrapped, the key-check value replaced, the event recorded.
    Rotated,
    /// The stored key-check value is not `old_key_check`: nothing changed.
    KeyCheckChanged,
    /// The organisation or signing keys changed since they were read (a key added, retired
    /// or re-wrapped meanwhile): nothing changed; read them again.
    OrgKeysChanged,
}

/// Key rotation: organisation keys (KEKs) and the message keys wrapped under them, and the
/// rows wrapped under the master key. Crypto stays in `zegel-core`; these methods only read
/// and swap wrapped bytes, each swap a compare-and-swap.
#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    /// Every key of one organisation, oldest first.
    async fn org_keys_of(&self, org_id: &str) -> StoreResult<Vec<OrgKey>>;
    /// Every organisation key of every organisation, by id.
    async fn all_org_keys(&self) -> StoreResult<Vec<OrgKey>>;
    /// Every signing key as (id, wrapped private key), by id.
    async fn all_wrapped_signing_keys(&self) -> StoreResult<Vec<(String, Vec<u8>)>>;
    /// Starts an organisation key rotation in one transaction: stores `key` and makes it the
    /// active key of `key.org_id`, only while the active key is still `expected_active` and the
    /// stored master key-check value is `key_check` (else nothing changes).
    async fn begin_org_key_rotation(
        &self,
        key: &OrgKey,
        expected_active: &str,
        key_check: &[u8],
    ) -> StoreResult<RotationStart>;
    /// At most `limit` message keys still wrapped under `kek_id`, by message id.
    async fn message_keys_under(&self, kek_id: &str, limit: u32) -> StoreResult<Vec<MessageKey>>;
    /// Replaces message keys by their re-wrapped forms (`kek_id`, `wrapped_dek`) in one
    /// transaction, each only while its row is still under `from_kek_id` (a key destroyed or
    /// re-wrapped meanwhile stays as it is). Returns how many rows changed.
    async fn rewrap_message_keys(&self, from_kek_id: &str, keys: &[MessageKey])
        -> StoreResult<u64>;
    /// Deletes the organisation key `kek_id` and records `event`, in one transaction, only when
    /// it is not its organisation's active key and no message key is wrapped under it. A
    /// message key stored under it concurrently either counts (nothing deleted) or fails to
    /// store (the foreign key): a message key never points at a deleted organisation key.
    async fn retire_org_key(
        &self,
        kek_id: &str,
        event: &AccountEvent,
    ) -> StoreResult<RetireOutcome>;
    /// Applies a master key rotation in one transaction: checks the stored key-check value,
    /// swaps every organisation key (each must still hold its `old` bytes, and there must be
    /// no other), sets the `meta` rows, replaces the key-check value and records `event`.
    async fn rotate_master(
        &self,
        r: &MasterRotation,
        event: &AccountEvent,
    ) -> StoreResult<MasterRotationOutcome>;
}

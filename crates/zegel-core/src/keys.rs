//! The running key ring: master key (never stored), derived server keys, and a cache of
//! unwrapped organisation keys.

use crate::error::{Error, Invalid, Result};
use crate::model::{OrgKey, Organisation, Ts};
use crate::signing::{Signer, SigningKeyRow};
use crate::store::prelude::*;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use zegel_crypto::{Dek, Kek, MasterKey, SecretKey, SigningKey};

/// Metadata key of the master key-check value.
pub const META_KEY_CHECK: &str = "master_key_check";

/// Metadata key prefix of a derived key kept across master key rotations:
/// `derived_key:<purpose>` holds the key wrapped under the current master key
/// ([`MasterKey::wrap_derived_key`]). Absent (an installation whose master key was never
/// rotated), the key is derived from the master key itself.
pub const META_DERIVED_KEY_PREFIX: &str = "derived_key:";

/// HKDF purpose of the access-code HMAC key (CONTRACT: stored code MACs depend on it).
const CODE_KEY_PURPOSE: &str = "zegel access-code mac v1";
/// HKDF purpose of the seal key (CONTRACT: sealed job secrets and TOTP secrets depend on it).
const SEAL_KEY_PURPOSE: &str = "zegel job seal v1";

/// Every key derived from the master key. A master key rotation keeps each of them unchanged
/// (wrapped under the new master key in `meta`), so what they protect stays valid: a key
/// derived from the master key must be listed here and loaded with `derived_key`.
pub const DERIVED_PURPOSES: [&str; 2] = [CODE_KEY_PURPOSE, SEAL_KEY_PURPOSE];

/// The `meta` key of the kept derived key for `purpose`.
pub fn derived_key_meta(purpose: &str) -> String {
    format!("{META_DERIVED_KEY_PREFIX}{purpose}")
}

/// The key for `purpose`: kept in `meta` (wrapped under `master`) after a master key rotation,
/// else derived from `master`.
async fn derived_key(store: &DynStore, master: &MasterKey, purpose: &str) -> Result<SecretKey> {
    match store.meta_get(&derived_key_meta(purpose)).await? {
        Some(wrapped) => master.unwrap_derived_key(purpose, &wrapped).map_err(|_| {
            Error::Internal(format!(
                "the kept key {purpose:?} in the database does not open with this master key"
            ))
        }),
        None => Ok(master.derive(purpose)),
    }
}

/// Keys of a running node. Cheap to share behind an `Arc`.
pub struct KeyRing {
    master: MasterKey,
    code_key: SecretKey,
    seal_key: SecretKey,
    keks: RwLock<HashMap<String, Arc<Kek>>>,
    /// Current signing key per organisation id.
    signers: RwLock<HashMap<String, Arc<Signer>>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyRing(..)")
    }
}

impl KeyRing {
    /// Checks the master key against the key-check value in the database (storing it on the
    /// very first start) and derives the server keys. A wrong master key is an error.
    pub async fn open(store: &DynStore, master: MasterKey) -> Result<Self> {
        let kcv = master.key_check_value();
        let stored = store.meta_init(META_KEY_CHECK, &kcv).await?;
        if !master.verify_key_check(&stored) {
            return Err(Invalid::MasterKeyMismatch.into());
        }
        Ok(KeyRing {
            code_key: derived_key(store, &master, CODE_KEY_PURPOSE).await?,
            seal_key: derived_key(store, &master, SEAL_KEY_PURPOSE).await?,
            master,
            keks: RwLock::new(HashMap::new()),
            signers: RwLock::new(HashMap::new()),
        })
    }

    /// The key-check value of this node's master key.
    pub fn key_check_value(&self) -> [u8; 32] {
        self.master.key_check_value()
    }

    /// The master key (for re-wrapping in a master key rotation).
    pub(crate) fn master(&self) -> &MasterKey {
        &self.master
    }

    /// Every derived key with its purpose ([`DERIVED_PURPOSES`]).
    pub(crate) fn derived_keys(&self) -> [(&'static str, &SecretKey); 2] {
        [
            (CODE_KEY_PURPOSE, &self.code_key),
            (SEAL_KEY_PURPOSE, &self.seal_key),
        ]
    }

    /// The HMAC key for access codes.
    pub fn code_key(&self) -> &SecretKey {
        &self.code_key
    }

    /// The AEAD key for secrets inside queued jobs (link tokens, codes on their way out).
    pub fn seal_key(&self) -> &SecretKey {
        &self.seal_key
    }

    /// A new organisation key, wrapped for storage.
    pub fn new_org_key(&self, org_id: &str, now: Ts) -> OrgKey {
        let kek = Kek::generate();
        let wrapped = self.master.wrap_kek(&kek);
        let row = OrgKey {
            id: kek.id().to_string(),
            org_id: org_id.to_string(),
            wrapped,
            created_at: now,
        };
        if let Ok(mut m) = self.keks.write() {
            m.insert(row.id.clone(), Arc::new(kek));
        }
        row
    }

    /// The unwrapped organisation key `kek_id` (cached after the first use).
    pub async fn kek(&self, store: &DynStore, kek_id: &str) -> Result<Arc<Kek>> {
        if let Some(k) = self.keks.read().ok().and_then(|m| m.get(kek_id).cloned()) {
            return Ok(k);
        }
        let row = store
            .org_key(kek_id)
            .await?
            .ok_or_else(|| Error::Internal(format!("organisation key {kek_id} missing")))?;
        let kek = Arc::new(self.master.unwrap_kek(&row.id, &row.wrapped)?);
        if let Ok(mut m) = self.keks.write() {
            m.insert(row.id.clone(), kek.clone());
        }
        Ok(kek)
    }

    /// The active organisation key of `org`.
    pub async fn active_kek(&self, store: &DynStore, org: &Organisation) -> Result<Arc<Kek>> {
        self.kek(store, &org.active_kek_id).await
    }

    /// The organisation's active key as stored now (not as some earlier read saw it): what a
    /// new message key is wrapped under when it is stored, so that a send that began before
    /// a key rotation does not store its key under the key being retired.
    pub async fn active_kek_now(&self, store: &DynStore, org_id: &str) -> Result<Arc<Kek>> {
        let org = store
            .org_by_id(org_id)
            .await?
            .ok_or_else(|| Error::Internal("message without organisation".into()))?;
        self.kek(store, &org.active_kek_id).await
    }

    /// Unwraps a message key.
    pub async fn dek(
        &self,
        store: &DynStore,
        kek_id: &str,
        wrapped: &[u8],
        message_id: &str,
    ) -> Result<Dek> {
        let kek = self.kek(store, kek_id).await?;
        Ok(kek.unwrap_dek(wrapped, message_id)?)
    }

    /// The current signing key of organisation `org_id` (`""`: the installation's own key),
    /// created on first use and cached. Nodes that create one at the same time end up with
    /// the same key: the store keeps only the first (a unique index on the current key per
    /// organisation), and every node uses what the store kept. The caller vouches for
    /// `org_id` (the store has no foreign key on it, so that `""` works).
    pub async fn signer(&self, store: &DynStore, org_id: &str) -> Result<Arc<Signer>> {
        if let Some(s) = self
            .signers
            .read()
            .ok()
            .and_then(|m| m.get(org_id).cloned())
        {
            return Ok(s);
        }
        let row = match store.current_signing_key(org_id).await? {
            Some(row) => row,
            None => {
                let key = SigningKey::generate();
                let row = SigningKeyRow {
                    id: key.id().to_owned(),
                    org_id: org_id.to_owned(),
                    public_key: key.public_key().to_vec(),
                    wrapped_private: self.master.wrap_signing_key(&key),
                    created_at: Ts::now(),
                    retired_at: None,
                };
                let kcv = self.master.key_check_value();
                store.insert_signing_key(&row, Some(&kcv)).await?
            }
        };
        let key = self
            .master
            .unwrap_signing_key(&row.id, &row.wrapped_private)?;
        if key.public_key()[..] != row.public_key[..] {
            return Err(Error::Internal(format!(
                "signing key {}: the stored public key is not the wrapped key's",
                row.id
            )));
        }
        let signer = Arc::new(Signer::new(org_id, key));
        if let Ok(mut m) = self.signers.write() {
            // Another task may have cached the same key meanwhile: keep one.
            return Ok(m.entry(org_id.to_owned()).or_insert(signer).clone());
        }
        Ok(signer)
    }
}

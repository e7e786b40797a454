//! AES-256-GCM from `ring` behind RustCrypto's `AeadInPlace` trait, so that RustCrypto's STREAM
//! construction (`aead::stream`) runs on ring's much faster AES-GCM (about 5 GB/s against
//! 1.3 GB/s for aes-gcm 0.10 on these machines). The wire format is unchanged: STREAM still
//! builds the nonces; ring only seals and opens.
//!
//! Trade-off: ring does not zeroize its expanded key schedule on drop (aes-gcm with `zeroize`
//! did). The per-object keys live only as long as one read or write of one object.

use aes_gcm::aead::consts::{U0, U12, U16, U32};
use aes_gcm::aead::{
    AeadCore, AeadInPlace, Error as AeadError, Key, KeyInit, KeySizeUser, Nonce, Tag,
};
use ring::aead::{Aad, LessSafeKey, Nonce as RingNonce, UnboundKey, AES_256_GCM};

/// AES-256-GCM (ring) as a RustCrypto AEAD.
pub(crate) struct RingAes256Gcm(LessSafeKey);

impl RingAes256Gcm {
    /// From a 32-byte key; `None` only if ring refuses the key length (never for 32 bytes).
    pub(crate) fn new(key: &[u8; 32]) -> Option<Self> {
        UnboundKey::new(&AES_256_GCM, key)
            .ok()
            .map(|k| RingAes256Gcm(LessSafeKey::new(k)))
    }
}

impl KeySizeUser for RingAes256Gcm {
    type KeySize = U32;
}

impl KeyInit for RingAes256Gcm {
    fn new(key: &Key<Self>) -> Self {
        let mut k = zeroize::Zeroizing::new([0u8; 32]);
        k.copy_from_slice(key.as_slice());
        match RingAes256Gcm::new(&k) {
            Some(c) => c,
            // ring accepts every 32-byte AES-256 key.
            None => unreachable!("ring refused a 32-byte AES-256-GCM key"),
        }
    }
}

impl AeadCore for RingAes256Gcm {
    type NonceSize = U12;
    type TagSize = U16;
    type CiphertextOverhead = U0;
}

fn nonce(n: &Nonce<RingAes256Gcm>) -> Result<RingNonce, AeadError> {
    RingNonce::try_assume_unique_for_key(n.as_slice()).map_err(|_| AeadError)
}

impl AeadInPlace for RingAes256Gcm {
    fn encrypt_in_place_detached(
        &self,
        n: &Nonce<Self>,
        aad: &[u8],
        buffer: &mut [u8],
    ) -> Result<Tag<Self>, AeadError> {
        let tag = self
            .0
            .seal_in_place_separate_tag(nonce(n)?, Aad::from(aad), buffer)
            .map_err(|_| AeadError)?;
        Ok(Tag::<Self>::clone_from_slice(tag.as_ref()))
    }

    fn decrypt_in_place_detached(
        &self,
        n: &Nonce<Self>,
        aad: &[u8],
        buffer: &mut [u8],
        tag: &Tag<Self>,
    ) -> Result<(), AeadError> {
        let mut t = [0u8; 16];
        t.copy_from_slice(tag.as_slice());
        self.0
            .open_in_place_separate_tag(
                nonce(n)?,
                Aad::from(aad),
                ring::aead::Tag::from(t),
                buffer,
                0..,
            )
            .map(|_| ())
            .map_err(|_| AeadError)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ring_and_rustcrypto_agree_byte_for_byte() {
        let key = [42u8; 32];
        let ring = RingAes256Gcm::new(&key).unwrap();
        let rc = <aes_gcm::Aes256Gcm as KeyInit>::new(&key.into());
        let n = Nonce::<RingAes256Gcm>::clone_from_slice(&[7u8; 12]);
        for len in [0usize, 1, 15, 16, 17, 65536] {
            let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut a = data.clone();
            let mut b = data.clone();
            let ta = ring.encrypt_in_place_detached(&n, b"aad", &mut a).unwrap();
            let tb = rc.encrypt_in_place_detached(&n, b"aad", &mut b).unwrap();
            assert_eq!(a, b);
            assert_eq!(ta.as_slice(), tb.as_slice());
            rc.decrypt_in_place_detached(&n, b"aad", &mut a, &ta)
                .unwrap();
            assert_eq!(a, data);
            ring.decrypt_in_place_detached(&n, b"aad", &mut b, &tb)
                .unwrap();
            assert_eq!(b, data);
            let mut bad = b.clone();
            let mut ct = data.clone();
            let t = ring.encrypt_in_place_detached(&n, b"aad", &mut ct).unwrap();
            assert!(ring
                .decrypt_in_place_detached(&n, b"other", &mut ct.clone(), &t)
                .is_err());
            bad.push(1);
            assert!(ring
                .decrypt_in_place_detached(&n, b"aad", &mut bad, &t)
                .is_err());
        }
    }
}

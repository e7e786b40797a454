//! The key hierarchy: master key -> organisation key (KEK) -> message key (DEK),
//! plus general-purpose keys derived from the master key.

use std::fmt;
use std::io;
use std::path::Path;

use crate::ring_gcm::RingAes256Gcm;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce, Tag};
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

use crate::keyfile::{create_key_file, read_key_file, KeyFileError};
use crate::signing::SigningKey;
use crate::stream::{StreamDecryptor, StreamEncryptor};
use crate::{ct_eq, CryptoError};

/// Length of every symmetric key in the hierarchy.
pub(crate) const KEY_LEN: usize = 32;
/// AES-GCM nonce length (96 bits).
const NONCE_LEN: usize = 12;
/// AES-GCM tag length.
const TAG_LEN: usize = 16;
/// A wrapped key: nonce || encrypted 32-byte key || tag.
const WRAPPED_KEY_LEN: usize = NONCE_LEN + KEY_LEN + TAG_LEN;

/// HKDF info for the key-check value (CONTRACT: stored in the database).
const KEY_CHECK_PURPOSE: &str = "zegel key-check v1";
/// HKDF info of the key that wraps organisation keys (CONTRACT: stored wrapped KEKs depend on it).
const KEK_WRAP_PURPOSE: &str = "zegel kek-wrap v1";
/// Prefix of the AAD when wrapping a KEK (CONTRACT).
const KEK_AAD_PREFIX: &[u8] = b"zegel-kek:";
/// HKDF info of the key that wraps signing keys (CONTRACT: stored wrapped signing keys depend on it).
const SIGNING_WRAP_PURPOSE: &str = "zegel signing-key-wrap v1";
/// Prefix of the AAD when wrapping a signing key's seed (CONTRACT).
const SIGNING_AAD_PREFIX: &[u8] = b"zegel-sig:";
/// Prefix of the AAD when wrapping a DEK (CONTRACT).
const DEK_AAD_PREFIX: &[u8] = b"zegel-dek:";
/// Prefix of the HKDF info of a per-object key (CONTRACT).
const OBJECT_KEY_PREFIX: &[u8] = b"zegel-object-v1:";
/// HKDF info of the key that wraps kept derived keys (CONTRACT: stored in the database after a
/// master key rotation).
const DERIVED_WRAP_PURPOSE: &str = "zegel derived-wrap v1";
/// Prefix of the AAD when wrapping a kept derived key (CONTRACT).
const DERIVED_AAD_PREFIX: &[u8] = b"zegel-derived:";

/// Raw key bytes, wiped on drop.
pub(crate) type KeyBytes = Zeroizing<[u8; KEY_LEN]>;

/// Base64 decoding that accepts input with or without `=` padding.
const LENIENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const BASE64_STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
const BASE64_URL_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

pub(crate) fn random_key() -> KeyBytes {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    OsRng.fill_bytes(key.as_mut());
    key
}

/// HKDF-SHA256 (no salt) of `ikm`, with the concatenation of `info` as info, 32 bytes out.
fn hkdf_sha256(ikm: &[u8], info: &[&[u8]]) -> KeyBytes {
    let mut okm = Zeroizing::new([0u8; KEY_LEN]);
    if Hkdf::<Sha256>::new(None, ikm)
        .expand_multi_info(info, okm.as_mut())
        .is_err()
    {
        // HKDF-SHA256 allows up to 255 * 32 bytes of output; 32 is always valid.
        unreachable!("HKDF-SHA256 rejected a 32-byte output");
    }
    okm
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(mac) => mac,
        // HMAC takes keys of any length.
        Err(_) => unreachable!("HMAC-SHA256 rejected a key"),
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn aes256gcm(key: &[u8; KEY_LEN]) -> Aes256Gcm {
    Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key))
}

/// The AES-256-GCM key of one stored object:
/// HKDF-SHA256(ikm = DEK, info = "zegel-object-v1:" + object_id).
pub(crate) fn object_cipher(dek: &[u8; KEY_LEN], object_id: &str) -> RingAes256Gcm {
    let key = hkdf_sha256(dek, &[OBJECT_KEY_PREFIX, object_id.as_bytes()]);
    match RingAes256Gcm::new(&key) {
        Some(c) => c,
        // ring accepts every 32-byte AES-256 key.
        None => unreachable!("ring refused a 32-byte AES-256-GCM key"),
    }
}

/// AES-256-GCM with a random nonce; output nonce || ciphertext || tag.
fn seal_with(cipher: &Aes256Gcm, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    match cipher.encrypt_in_place_detached(Nonce::from_slice(&nonce), aad, &mut out[NONCE_LEN..]) {
        Ok(tag) => {
            out.extend_from_slice(&tag);
            Ok(out)
        }
        Err(_) => {
            out.zeroize();
            Err(CryptoError::Encrypt("AES-GCM message longer than 64 GiB"))
        }
    }
}

/// The parts of nonce || ciphertext || tag.
struct Sealed<'a> {
    nonce: &'a [u8],
    ciphertext: &'a [u8],
    tag: &'a [u8],
}

impl<'a> Sealed<'a> {
    fn split(sealed: &'a [u8]) -> Result<Self, CryptoError> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::Format("sealed value too short".into()));
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
        Ok(Self {
            nonce,
            ciphertext,
            tag,
        })
    }

    /// Decrypts into `buf`, which holds a copy of the ciphertext.
    fn decrypt_into(
        &self,
        cipher: &Aes256Gcm,
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<(), CryptoError> {
        cipher
            .decrypt_in_place_detached(
                Nonce::from_slice(self.nonce),
                aad,
                buf,
                Tag::from_slice(self.tag),
            )
            .map_err(|_| CryptoError::Decrypt)
    }
}

fn open_with(cipher: &Aes256Gcm, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let sealed = Sealed::split(sealed)?;
    let mut out = sealed.ciphertext.to_vec();
    sealed.decrypt_into(cipher, aad, &mut out)?;
    Ok(out)
}

fn wrap_key(cipher: &Aes256Gcm, aad: &[u8], key: &[u8; KEY_LEN]) -> Vec<u8> {
    match seal_with(cipher, aad, key) {
        Ok(wrapped) => wrapped,
        // Only messages over 64 GiB are refused; a key is 32 bytes.
        Err(_) => unreachable!("AES-GCM refused to wrap a 32-byte key"),
    }
}

fn unwrap_key(cipher: &Aes256Gcm, aad: &[u8], wrapped: &[u8]) -> Result<KeyBytes, CryptoError> {
    if wrapped.len() != WRAPPED_KEY_LEN {
        return Err(CryptoError::Format(format!(
            "wrapped key must be {WRAPPED_KEY_LEN} bytes, got {}",
            wrapped.len()
        )));
    }
    let sealed = Sealed::split(wrapped)?;
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    key.copy_from_slice(sealed.ciphertext);
    sealed.decrypt_into(cipher, aad, key.as_mut())?;
    Ok(key)
}

fn prefixed(prefix: &[u8], id: &str) -> Vec<u8> {
    [prefix, id.as_bytes()].concat()
}

/// The 32-byte master key at the top of the hierarchy. Never stored in the database.
///
/// Not `Clone`; `Debug` prints no key bytes; wiped on drop.
pub struct MasterKey(pub(crate) KeyBytes);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    /// A master key from raw bytes.
    pub fn from_bytes(b: [u8; 32]) -> Self {
        Self(Zeroizing::new(b))
    }

    /// A master key from standard or url-safe base64 (padding optional) of exactly 32 bytes;
    /// surrounding whitespace is ignored. The error never repeats the input.
    pub fn from_base64(s: &str) -> Result<Self, CryptoError> {
        let text = s.trim();
        // Room for anything that could decode to 32 bytes; longer input fails to fit.
        let mut buf = Zeroizing::new([0u8; 48]);
        for engine in [&BASE64_STANDARD_LENIENT, &BASE64_URL_LENIENT] {
            if let Ok(KEY_LEN) = engine.decode_slice(text, buf.as_mut()) {
                let mut key = Zeroizing::new([0u8; KEY_LEN]);
                key.copy_from_slice(&buf[..KEY_LEN]);
                return Ok(Self(key));
            }
        }
        Err(CryptoError::KeyFile(
            "a master key must be base64 of exactly 32 bytes".into(),
        ))
    }

    /// Reads the key file (base64 text, one line) or creates it with 32 random bytes.
    ///
    /// A new file is created with `create_new` and mode 0600 (so it is never readable by others,
    /// not even briefly), written, then the file and its parent directory are fsynced.
    /// Returns `(key, created)`. The parent directory must exist. If two processes race on
    /// the first start, one creates the file and the other reads it.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool), CryptoError> {
        let parse = |text: &str| MasterKey::from_base64(text).ok();
        match read_key_file(path, parse) {
            Err(KeyFileError::NotFound) => {}
            other => {
                return other
                    .map(|key| (key, false))
                    .map_err(|e| e.into_crypto(path))
            }
        }
        let key = random_key();
        match create_key_file(path, key.as_ref()) {
            Ok(()) => Ok((MasterKey(key), true)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => read_key_file(path, parse)
                .map(|key| (key, false))
                .map_err(|e| e.into_crypto(path)),
            Err(e) => Err(CryptoError::KeyFile(format!(
                "cannot create {}: {e}",
                path.display()
            ))),
        }
    }

    /// The key-check value stored in the database to detect a wrong master key:
    /// HMAC-SHA256(HKDF(master, "zegel key-check v1"), "zegel").
    pub fn key_check_value(&self) -> [u8; 32] {
        self.derive(KEY_CHECK_PURPOSE).mac(b"zegel")
    }

    /// Whether `stored` is this key's [`key_check_value`](Self::key_check_value) (constant time).
    pub fn verify_key_check(&self, stored: &[u8]) -> bool {
        ct_eq(&self.key_check_value(), stored)
    }

    /// A purpose-specific 32-byte key: HKDF-SHA256(ikm = master, no salt, info = purpose).
    ///
    /// Purposes starting with `zegel ` or `zegel-` are reserved for this crate.
    pub fn derive(&self, purpose: &str) -> SecretKey {
        SecretKey(hkdf_sha256(self.0.as_ref(), &[purpose.as_bytes()]))
    }

    /// Wraps an organisation key: AES-256-GCM with a random 96-bit nonce under the key
    /// derived as `derive("zegel kek-wrap v1")`, AAD = `"zegel-kek:" + kek id`.
    /// Output nonce || ciphertext || tag (60 bytes).
    pub fn wrap_kek(&self, kek: &Kek) -> Vec<u8> {
        wrap_key(
            &self.kek_wrapping_cipher(),
            &prefixed(KEK_AAD_PREFIX, &kek.id),
            &kek.key,
        )
    }

    /// Unwraps an organisation key made by [`wrap_kek`](Self::wrap_kek) for the KEK `kek_id`.
    ///
    /// `Err(Decrypt)` for a wrong master key or a wrong id; `Err(Format)` for a wrong length.
    pub fn unwrap_kek(&self, kek_id: &str, wrapped: &[u8]) -> Result<Kek, CryptoError> {
        let key = unwrap_key(
            &self.kek_wrapping_cipher(),
            &prefixed(KEK_AAD_PREFIX, kek_id),
            wrapped,
        )?;
        Ok(Kek {
            id: kek_id.to_owned(),
            key,
        })
    }

    /// Wraps a signing key's 32-byte seed: AES-256-GCM with a random 96-bit nonce under the
    /// key derived as `derive("zegel signing-key-wrap v1")`, AAD = `"zegel-sig:" + key id`.
    /// Output nonce || ciphertext || tag (60 bytes).
    pub fn wrap_signing_key(&self, key: &SigningKey) -> Vec<u8> {
        wrap_key(
            &self.signing_wrapping_cipher(),
            &prefixed(SIGNING_AAD_PREFIX, key.id()),
            key.seed(),
        )
    }

    /// Unwraps a signing key made by [`wrap_signing_key`](Self::wrap_signing_key) for the
    /// key `key_id`.
    ///
    /// `Err(Decrypt)` for a wrong master key or a wrong id; `Err(Format)` for a wrong length.
    pub fn unwrap_signing_key(
        &self,
        key_id: &str,
        wrapped: &[u8],
    ) -> Result<SigningKey, CryptoError> {
        let seed = unwrap_key(
            &self.signing_wrapping_cipher(),
            &prefixed(SIGNING_AAD_PREFIX, key_id),
            wrapped,
        )?;
        SigningKey::from_seed(key_id.to_owned(), seed)
    }

    fn signing_wrapping_cipher(&self) -> Aes256Gcm {
        aes256gcm(&self.derive(SIGNING_WRAP_PURPOSE).0)
    }

    fn kek_wrapping_cipher(&self) -> Aes256Gcm {
        aes256gcm(&self.derive(KEK_WRAP_PURPOSE).0)
    }

    /// Wraps a key that was derived for `purpose` (by this or an earlier master key), so that
    /// it survives a master key rotation unchanged: AES-256-GCM with a random 96-bit nonce
    /// under `derive("zegel derived-wrap v1")`, AAD = `"zegel-derived:" + purpose`.
    /// Output nonce || ciphertext || tag (60 bytes).
    pub fn wrap_derived_key(&self, purpose: &str, key: &SecretKey) -> Vec<u8> {
        wrap_key(
            &self.derived_wrapping_cipher(),
            &prefixed(DERIVED_AAD_PREFIX, purpose),
            &key.0,
        )
    }

    /// Unwraps a key made by [`wrap_derived_key`](Self::wrap_derived_key) for `purpose`.
    ///
    /// `Err(Decrypt)` for a wrong master key or a wrong purpose; `Err(Format)` for a wrong length.
    pub fn unwrap_derived_key(
        &self,
        purpose: &str,
        wrapped: &[u8],
    ) -> Result<SecretKey, CryptoError> {
        unwrap_key(
            &self.derived_wrapping_cipher(),
            &prefixed(DERIVED_AAD_PREFIX, purpose),
            wrapped,
        )
        .map(SecretKey)
    }

    fn derived_wrapping_cipher(&self) -> Aes256Gcm {
        aes256gcm(&self.derive(DERIVED_WRAP_PURPOSE).0)
    }
}

/// A general-purpose 32-byte key (for example one derived with [`MasterKey::derive`]).
///
/// Not `Clone`; `Debug` prints no key bytes; wiped on drop.
pub struct SecretKey(KeyBytes);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl SecretKey {
    /// A key from raw bytes.
    pub fn from_bytes(b: [u8; 32]) -> Self {
        Self(Zeroizing::new(b))
    }

    /// A new random key from the OS.
    pub fn generate() -> Self {
        Self(random_key())
    }

    /// AES-256-GCM with a random 96-bit nonce and the given AAD; output nonce || ciphertext || tag.
    ///
    /// For small values; use a [`Dek`] stream for content.
    ///
    /// # Panics
    /// Only if `plaintext` is longer than AES-GCM's limit of 64 GiB.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        match seal_with(&aes256gcm(&self.0), aad, plaintext) {
            Ok(sealed) => sealed,
            Err(_) => panic!("SecretKey::seal: plaintext longer than 64 GiB"),
        }
    }

    /// Opens a value made by [`seal`](Self::seal) with the same AAD.
    ///
    /// `Err(Decrypt)` for a wrong key, wrong AAD or altered bytes; `Err(Format)` if too short.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        open_with(&aes256gcm(&self.0), aad, sealed)
    }

    /// HMAC-SHA256(key, data).
    pub fn mac(&self, data: &[u8]) -> [u8; 32] {
        hmac_sha256(self.0.as_ref(), data)
    }

    /// Whether `tag` is [`mac`](Self::mac) of `data`, compared in constant time.
    pub fn verify_mac(&self, data: &[u8], tag: &[u8]) -> bool {
        ct_eq(&self.mac(data), tag)
    }
}

/// An organisation key-encryption key (KEK), with its id. Stored only wrapped by the master key
/// ([`MasterKey::wrap_kek`]), so the master key can be rotated by re-wrapping.
///
/// Not `Clone`; `Debug` shows only the id; wiped on drop.
pub struct Kek {
    id: String,
    key: KeyBytes,
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kek")
            .field("id", &self.id)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl Kek {
    /// A new random KEK with id `"kek_"` + 16 random lowercase hex characters.
    pub fn generate() -> Self {
        Self {
            id: format!("kek_{:016x}", OsRng.next_u64()),
            key: random_key(),
        }
    }

    /// The key id (`kek_...`), stored next to everything wrapped with this key.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Wraps a message key: AES-256-GCM, random 96-bit nonce, AAD = `"zegel-dek:" + message_id`.
    /// Output nonce || ciphertext || tag (60 bytes).
    pub fn wrap_dek(&self, dek: &Dek, message_id: &str) -> Vec<u8> {
        wrap_key(
            &aes256gcm(&self.key),
            &prefixed(DEK_AAD_PREFIX, message_id),
            &dek.0,
        )
    }

    /// Unwraps a message key made by [`wrap_dek`](Self::wrap_dek) for `message_id`.
    ///
    /// `Err(Decrypt)` for a wrong KEK or a wrong message id; `Err(Format)` for a wrong length.
    pub fn unwrap_dek(&self, wrapped: &[u8], message_id: &str) -> Result<Dek, CryptoError> {
        unwrap_key(
            &aes256gcm(&self.key),
            &prefixed(DEK_AAD_PREFIX, message_id),
            wrapped,
        )
        .map(Dek)
    }
}

/// A per-message data-encryption key (DEK), 32 bytes. Deleting its wrapped form
/// crypto-shreds the message.
///
/// Not `Clone`; `Debug` prints no key bytes; wiped on drop.
pub struct Dek(KeyBytes);

impl fmt::Debug for Dek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Dek(<redacted>)")
    }
}

impl Dek {
    /// A new random DEK from the OS.
    pub fn generate() -> Self {
        Self(random_key())
    }

    /// Streaming encryptor for one stored object (body, subject, attachment, file name...).
    ///
    /// The object key is HKDF-SHA256(ikm = DEK, info = `"zegel-object-v1:" + object_id`);
    /// STREAM (big-endian 32-bit counter, last-chunk flag) over AES-256-GCM with a random
    /// 7-byte nonce prefix and AAD = `object_id` on every chunk, so a chunk moved to another
    /// object, reordered, duplicated or dropped, or a truncated stream, fails to decrypt.
    /// The format is described at [`StreamEncryptor`].
    pub fn encryptor(&self, object_id: &str) -> StreamEncryptor {
        StreamEncryptor::new(object_cipher(&self.0, object_id), object_id)
    }

    /// Streaming decryptor for an object written by [`encryptor`](Self::encryptor).
    pub fn decryptor(&self, object_id: &str) -> StreamDecryptor {
        StreamDecryptor::new(object_cipher(&self.0, object_id), object_id)
    }

    /// Encrypts a whole buffer in the stream format (for subject, body, names).
    pub fn encrypt_small(&self, object_id: &str, plaintext: &[u8]) -> Vec<u8> {
        self.encryptor(object_id).encrypt_all(plaintext)
    }

    /// Decrypts a whole buffer written by [`encrypt_small`](Self::encrypt_small) or by a stream.
    pub fn decrypt_small(
        &self,
        object_id: &str,
        ciphertext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let mut decryptor = self.decryptor(object_id);
        // Wiped if a later chunk fails after earlier ones were released.
        let mut out = Zeroizing::new(Vec::with_capacity(ciphertext.len()));
        decryptor.update(ciphertext, &mut out)?;
        decryptor.finish(&mut out)?;
        Ok(std::mem::take(&mut *out))
    }
}

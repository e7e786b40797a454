//! Chunked streaming AEAD: STREAM (aead::stream, big-endian 32-bit counter) over AES-256-GCM.
//!
//! CONTRACT (stored format, algorithm id [`ALG_STREAM`]):
//! `b"ZGL1"` || 7-byte random nonce prefix, then chunks. Every chunk but the last holds exactly
//! [`CHUNK_SIZE`] plaintext bytes (`CHUNK_SIZE + 16` ciphertext bytes, sealed with the "not last"
//! flag); the last chunk holds 0..=`CHUNK_SIZE` bytes, is sealed with the "last" flag and is
//! always present (an empty plaintext gives a 16-byte last chunk). AAD = object id on each chunk.

use std::fmt;

use crate::ring_gcm::RingAes256Gcm as Aes256Gcm;
use aes_gcm::aead::stream::{DecryptorBE32, EncryptorBE32, StreamBE32};
use aes_gcm::aead::{self, Buffer};
use rand::rngs::OsRng;
use rand::RngCore;
use zeroize::{Zeroize, Zeroizing};

use crate::CryptoError;

/// Algorithm id of the stream format; record it with every stored object.
pub const ALG_STREAM: &str = "A256GCM-STREAM64K-1";
/// Plaintext bytes per chunk.
pub const CHUNK_SIZE: usize = 65536;

const MAGIC: &[u8; 4] = b"ZGL1";
const HEADER_LEN: usize = MAGIC.len() + 7;
const TAG_LEN: usize = 16;
/// The 7 bytes of the AES-GCM nonce that STREAM leaves to us (counter and flag take 5).
type NoncePrefix = aead::stream::Nonce<Aes256Gcm, StreamBE32<Aes256Gcm>>;
/// Ciphertext bytes of a full chunk.
const SEALED_CHUNK: usize = CHUNK_SIZE + TAG_LEN;
/// Capacity of the hold-back buffers: a full sealed chunk.
const PENDING_CAPACITY: usize = SEALED_CHUNK;
/// Largest empty output buffer that is swapped with the hold-back buffer instead of copied to.
const MAX_SWAP_CAPACITY: usize = 4 * PENDING_CAPACITY;

/// Exact ciphertext length (header included) for a plaintext length.
pub fn ciphertext_len(plaintext_len: u64) -> u64 {
    let chunk = CHUNK_SIZE as u64;
    // The last chunk is always present, even for an empty plaintext.
    let chunks = plaintext_len.div_ceil(chunk).max(1);
    HEADER_LEN as u64 + plaintext_len + chunks * TAG_LEN as u64
}

/// An [`aead::Buffer`] over the tail of a `Vec` (everything from `start`), so chunks are
/// encrypted and decrypted in place inside the caller's output buffer.
struct Tail<'a> {
    vec: &'a mut Vec<u8>,
    start: usize,
}

impl AsRef<[u8]> for Tail<'_> {
    fn as_ref(&self) -> &[u8] {
        &self.vec[self.start..]
    }
}

impl AsMut<[u8]> for Tail<'_> {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.vec[self.start..]
    }
}

impl Buffer for Tail<'_> {
    fn extend_from_slice(&mut self, other: &[u8]) -> aead::Result<()> {
        self.vec.extend_from_slice(other);
        Ok(())
    }

    fn truncate(&mut self, len: usize) {
        self.vec.truncate(self.start + len);
    }
}

/// Appends `data` to `out` and runs `op` on it in place; on failure `out` is restored
/// (and the bytes that were appended are wiped).
fn in_place(
    out: &mut Vec<u8>,
    data: &[u8],
    op: impl FnOnce(&mut dyn Buffer) -> aead::Result<()>,
) -> aead::Result<()> {
    let start = out.len();
    // Room for the tag too, so sealing never reallocates (and copies) `out` a second time.
    out.reserve(data.len() + TAG_LEN);
    out.extend_from_slice(data);
    let result = op(&mut Tail { vec: out, start });
    if result.is_err() {
        out[start..].zeroize();
        out.truncate(start);
    }
    result
}

/// Splits `input` into chunks of `chunk` bytes that are known not to be the last one and
/// runs `op` (seal or open in place) on each, appending the result to `out`. Tops up
/// `pending` first and keeps back in it the final 0..=`chunk` bytes, since only `finish`
/// knows whether they end the stream.
fn feed(
    pending: &mut Vec<u8>,
    chunk: usize,
    mut input: &[u8],
    out: &mut Vec<u8>,
    mut op: impl FnMut(&mut dyn Buffer) -> aead::Result<()>,
) -> aead::Result<()> {
    if !pending.is_empty() {
        let take = (chunk - pending.len()).min(input.len());
        pending.extend_from_slice(&input[..take]);
        input = &input[take..];
        if input.is_empty() {
            return Ok(());
        }
        // `pending` is a full chunk and more data follows: it is not the last one.
        if out.is_empty() && out.capacity() <= MAX_SWAP_CAPACITY {
            // The caller empties `out` between calls: work in `pending` and swap buffers
            // instead of copying (but never take over a large reservation of the caller's).
            op(pending)?;
            std::mem::swap(out, pending);
            pending.clear();
            pending.reserve_exact(PENDING_CAPACITY);
        } else {
            in_place(out, pending, &mut op)?;
        }
        pending.clear();
    }
    // Straight from the input, without a copy into `pending`.
    while input.len() > chunk {
        let (full, rest) = input.split_at(chunk);
        in_place(out, full, &mut op)?;
        input = rest;
    }
    pending.extend_from_slice(input);
    Ok(())
}

/// Encrypts one object as a stream; made by [`Dek::encryptor`](crate::Dek::encryptor).
///
/// Format: header = `b"ZGL1"` (4 bytes) || 7-byte nonce prefix; then chunks, each =
/// `encrypt_next(CHUNK_SIZE plaintext bytes)` (`CHUNK_SIZE + 16` bytes), except the final one
/// which is `encrypt_last(0..=CHUNK_SIZE bytes)`: always present, possibly empty (16 bytes).
/// The total length is [`ciphertext_len`].
pub struct StreamEncryptor {
    stream: EncryptorBE32<Aes256Gcm>,
    aad: Box<[u8]>,
    /// Not yet written to the output.
    header: Option<[u8; HEADER_LEN]>,
    /// Held-back plaintext, 0..=CHUNK_SIZE bytes (wiped on drop).
    pending: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for StreamEncryptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamEncryptor")
            .field("pending_len", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl StreamEncryptor {
    pub(crate) fn new(cipher: Aes256Gcm, object_id: &str) -> Self {
        let mut nonce_prefix = NoncePrefix::default();
        OsRng.fill_bytes(&mut nonce_prefix);
        let mut header = [0u8; HEADER_LEN];
        header[..MAGIC.len()].copy_from_slice(MAGIC);
        header[MAGIC.len()..].copy_from_slice(&nonce_prefix);
        Self {
            stream: EncryptorBE32::from_aead(cipher, &nonce_prefix),
            aad: object_id.as_bytes().into(),
            header: Some(header),
            pending: Zeroizing::new(Vec::new()),
        }
    }

    /// Feeds plaintext; appends any finished ciphertext (the header on first output) to `out`.
    ///
    /// Holds back the last full chunk until it knows whether more data follows, so at most
    /// [`CHUNK_SIZE`] bytes are buffered. Fails only past 2^32 chunks (256 TiB).
    pub fn update(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CryptoError> {
        self.write_header(out);
        if input.is_empty() {
            return Ok(());
        }
        if self.pending.capacity() < PENDING_CAPACITY {
            // One allocation of the final size: growing would leave plaintext copies behind,
            // and sealing in place appends the tag.
            self.pending.reserve_exact(PENDING_CAPACITY);
        }
        let stream = &mut self.stream;
        let aad = &self.aad;
        feed(&mut self.pending, CHUNK_SIZE, input, out, |buf| {
            stream.encrypt_next_in_place(aad, buf)
        })
        .map_err(|_| CryptoError::Encrypt("stream longer than 2^32 chunks"))
    }

    /// Encrypts the final chunk (`encrypt_last`) and appends it (and the header if nothing
    /// was output yet) to `out`.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<(), CryptoError> {
        self.write_header(out);
        let aad = self.aad;
        let stream = self.stream;
        in_place(out, &self.pending, |buf| {
            stream.encrypt_last_in_place(&aad, buf)
        })
        .map_err(|_| CryptoError::Encrypt("stream longer than 2^32 chunks"))
    }

    /// The whole stream for a plaintext that is all in memory, encrypted straight into the
    /// output (no hold-back buffer).
    pub(crate) fn encrypt_all(mut self, plaintext: &[u8]) -> Vec<u8> {
        let len = usize::try_from(ciphertext_len(plaintext.len() as u64)).unwrap_or(usize::MAX);
        let mut out = Vec::with_capacity(len);
        self.write_header(&mut out);
        let mut rest = plaintext;
        let mut result = Ok(());
        while rest.len() > CHUNK_SIZE && result.is_ok() {
            let (chunk, tail) = rest.split_at(CHUNK_SIZE);
            result = in_place(&mut out, chunk, |buf| {
                self.stream.encrypt_next_in_place(&self.aad, buf)
            });
            rest = tail;
        }
        let stream = self.stream;
        let result = result.and_then(|()| {
            in_place(&mut out, rest, |buf| {
                stream.encrypt_last_in_place(&self.aad, buf)
            })
        });
        match result {
            Ok(()) => out,
            // A plaintext held in memory is far below 2^32 chunks (256 TiB).
            Err(_) => unreachable!("stream encryption failed below 256 TiB"),
        }
    }

    fn write_header(&mut self, out: &mut Vec<u8>) {
        if let Some(header) = self.header.take() {
            out.extend_from_slice(&header);
        }
    }
}

enum DecryptState {
    /// Waiting for the 11-byte header (collected in `pending`).
    Header(Box<Aes256Gcm>),
    /// Decrypting chunks.
    Body(Box<DecryptorBE32<Aes256Gcm>>),
    /// A chunk or the header was rejected; nothing more is accepted.
    Failed,
}

/// Decrypts one object written by [`StreamEncryptor`]; made by
/// [`Dek::decryptor`](crate::Dek::decryptor).
///
/// Plaintext is released chunk by chunk, each chunk verified, but only a successful
/// [`finish`](Self::finish) proves that the stream was complete: a consumer must treat
/// everything it got as invalid if `update` or `finish` fails.
pub struct StreamDecryptor {
    state: DecryptState,
    aad: Box<[u8]>,
    /// Header bytes, then held-back ciphertext: 0..=CHUNK_SIZE+16 bytes.
    pending: Vec<u8>,
}

impl fmt::Debug for StreamDecryptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            DecryptState::Header(_) => "header",
            DecryptState::Body(_) => "body",
            DecryptState::Failed => "failed",
        };
        f.debug_struct("StreamDecryptor")
            .field("state", &state)
            .field("pending_len", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl StreamDecryptor {
    pub(crate) fn new(cipher: Aes256Gcm, object_id: &str) -> Self {
        Self {
            state: DecryptState::Header(Box::new(cipher)),
            aad: object_id.as_bytes().into(),
            pending: Vec::new(),
        }
    }

    /// Feeds ciphertext in pieces of any size; appends verified plaintext to `out`.
    ///
    /// `Err(Format)` for a bad header, `Err(Decrypt)` for a chunk that fails to authenticate;
    /// after an error every further call fails too.
    pub fn update(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), CryptoError> {
        let result = self.update_inner(input, out);
        if result.is_err() {
            self.state = DecryptState::Failed;
        }
        result
    }

    fn update_inner(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), CryptoError> {
        if let DecryptState::Header(_) = self.state {
            let take = (HEADER_LEN - self.pending.len()).min(input.len());
            self.pending.extend_from_slice(&input[..take]);
            input = &input[take..];
            if self.pending.len() < HEADER_LEN {
                return Ok(());
            }
            self.start_body()?;
        }
        let DecryptState::Body(stream) = &mut self.state else {
            return Err(CryptoError::Decrypt);
        };
        if input.is_empty() {
            return Ok(());
        }
        let aad = &self.aad;
        feed(&mut self.pending, SEALED_CHUNK, input, out, |buf| {
            stream.decrypt_next_in_place(aad, buf)
        })
        .map_err(|_| CryptoError::Decrypt)
    }

    /// Checks the header in `pending` and sets up the STREAM decryptor.
    fn start_body(&mut self) -> Result<(), CryptoError> {
        let (magic, nonce_prefix) = self.pending.split_at(MAGIC.len());
        if magic != MAGIC {
            return Err(CryptoError::Format("not a ZGL1 stream".into()));
        }
        let nonce_prefix = NoncePrefix::clone_from_slice(nonce_prefix);
        let DecryptState::Header(cipher) = std::mem::replace(&mut self.state, DecryptState::Failed)
        else {
            return Err(CryptoError::Decrypt);
        };
        self.state = DecryptState::Body(Box::new(DecryptorBE32::from_aead(*cipher, &nonce_prefix)));
        self.pending.clear();
        Ok(())
    }

    /// Decrypts the final chunk (`decrypt_last`) and appends its plaintext to `out`.
    ///
    /// `Err(Decrypt)` unless a valid last chunk ends the stream (truncation, a missing or
    /// incomplete header, or an earlier error).
    pub fn finish(self, out: &mut Vec<u8>) -> Result<(), CryptoError> {
        let DecryptState::Body(stream) = self.state else {
            return Err(CryptoError::Decrypt);
        };
        if self.pending.len() < TAG_LEN {
            return Err(CryptoError::Decrypt);
        }
        let aad = self.aad;
        in_place(out, &self.pending, |buf| {
            stream.decrypt_last_in_place(&aad, buf)
        })
        .map_err(|_| CryptoError::Decrypt)
    }
}

//! The streaming format: round trips, exact lengths, and every kind of tampering failing.

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use zegel_crypto::{ciphertext_len, CryptoError, Dek, CHUNK_SIZE};

const C: usize = CHUNK_SIZE;
const HEADER: usize = 11;
const SEALED: usize = C + 16;
const OBJ: &str = "msg_01/att_02";

/// Plaintext whose chunks all differ, so swapped chunks cannot decrypt to the same bytes.
fn data(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).rotate_right(13) as u8)
        .collect()
}

fn encrypt_in_pieces(dek: &Dek, object_id: &str, plaintext: &[u8], piece: usize) -> Vec<u8> {
    let mut encryptor = dek.encryptor(object_id);
    let mut out = Vec::new();
    for p in plaintext.chunks(piece) {
        encryptor.update(p, &mut out).unwrap();
    }
    encryptor.finish(&mut out).unwrap();
    out
}

fn decrypt_in_pieces(
    dek: &Dek,
    object_id: &str,
    ciphertext: &[u8],
    piece: usize,
) -> Result<Vec<u8>, CryptoError> {
    let mut decryptor = dek.decryptor(object_id);
    let mut out = Vec::new();
    for p in ciphertext.chunks(piece) {
        decryptor.update(p, &mut out)?;
    }
    decryptor.finish(&mut out)?;
    Ok(out)
}

fn assert_decrypt_fails(dek: &Dek, object_id: &str, ciphertext: &[u8]) {
    for piece in [1000, 100 * 1024, usize::MAX] {
        let piece = piece.min(ciphertext.len().max(1));
        let result = decrypt_in_pieces(dek, object_id, ciphertext, piece);
        assert!(
            matches!(result, Err(CryptoError::Decrypt)),
            "expected Err(Decrypt) with pieces of {piece}, got {result:?}",
        );
    }
    assert!(matches!(
        dek.decrypt_small(object_id, ciphertext),
        Err(CryptoError::Decrypt)
    ));
}

const SIZES: [usize; 6] = [0, 1, C - 1, C, C + 1, 3 * C];
const PIECES: [usize; 3] = [1, 1000, 100 * 1024];

#[test]
fn streams_round_trip_for_all_sizes_and_piece_sizes() {
    let dek = Dek::generate();
    for size in SIZES {
        let plaintext = data(size);
        for enc_piece in PIECES {
            let ciphertext = encrypt_in_pieces(&dek, OBJ, &plaintext, enc_piece);
            assert_eq!(
                ciphertext.len() as u64,
                ciphertext_len(size as u64),
                "size {size}"
            );
            assert_eq!(&ciphertext[..4], b"ZGL1");
            for dec_piece in PIECES {
                let decrypted = decrypt_in_pieces(&dek, OBJ, &ciphertext, dec_piece).unwrap();
                assert!(
                    decrypted == plaintext,
                    "size {size}, pieces {enc_piece}/{dec_piece}"
                );
            }
            assert_eq!(dek.decrypt_small(OBJ, &ciphertext).unwrap(), plaintext);
        }
    }
}

/// How a server streams: the output buffer is emptied after every call (the stream may then
/// hand its own buffer over instead of copying).
#[test]
fn streams_round_trip_when_the_output_is_emptied_after_every_call() {
    let dek = Dek::generate();
    for size in [0, C, 3 * C + 7] {
        let plaintext = data(size);
        for piece in [1000, C, 100 * 1024] {
            let mut ciphertext = Vec::new();
            let mut out = Vec::new();
            let mut encryptor = dek.encryptor(OBJ);
            for p in plaintext.chunks(piece) {
                encryptor.update(p, &mut out).unwrap();
                ciphertext.extend_from_slice(&out);
                out.clear();
            }
            encryptor.finish(&mut out).unwrap();
            ciphertext.extend_from_slice(&out);
            assert_eq!(ciphertext.len() as u64, ciphertext_len(size as u64));

            let mut decrypted = Vec::new();
            let mut out = Vec::new();
            let mut decryptor = dek.decryptor(OBJ);
            for p in ciphertext.chunks(piece) {
                decryptor.update(p, &mut out).unwrap();
                decrypted.extend_from_slice(&out);
                out = Vec::new(); // also the `mem::take` style
            }
            decryptor.finish(&mut out).unwrap();
            decrypted.extend_from_slice(&out);
            assert!(decrypted == plaintext, "size {size}, pieces {piece}");
        }
    }
}

#[test]
fn small_helpers_use_the_stream_format() {
    let dek = Dek::generate();
    for size in SIZES {
        let plaintext = data(size);
        let ciphertext = dek.encrypt_small(OBJ, &plaintext);
        assert_eq!(ciphertext.len() as u64, ciphertext_len(size as u64));
        assert_eq!(dek.decrypt_small(OBJ, &ciphertext).unwrap(), plaintext);
        assert_eq!(
            decrypt_in_pieces(&dek, OBJ, &ciphertext, 777).unwrap(),
            plaintext
        );
    }
}

#[test]
fn ciphertext_len_counts_header_and_one_tag_per_chunk() {
    assert_eq!(ciphertext_len(0), 11 + 16);
    assert_eq!(ciphertext_len(1), 11 + 1 + 16);
    assert_eq!(ciphertext_len(C as u64), (11 + C + 16) as u64);
    assert_eq!(ciphertext_len(C as u64 + 1), (11 + C + 1 + 32) as u64);
    assert_eq!(ciphertext_len(3 * C as u64), (11 + 3 * C + 48) as u64);
    // 5 GB attachment: 76294 chunks.
    let five_gb = 5_000_000_000u64;
    assert_eq!(ciphertext_len(five_gb), 11 + five_gb + 76_294 * 16);
}

#[test]
fn encryptor_holds_back_the_last_full_chunk() {
    let dek = Dek::generate();
    let mut encryptor = dek.encryptor(OBJ);
    let mut out = Vec::new();
    encryptor.update(&data(C), &mut out).unwrap();
    assert_eq!(out.len(), HEADER, "a full chunk may be the last one");
    encryptor.update(&[1], &mut out).unwrap();
    assert_eq!(out.len(), HEADER + SEALED);
    encryptor.finish(&mut out).unwrap();
    assert_eq!(out.len(), HEADER + SEALED + 1 + 16);
}

#[test]
fn each_object_gets_a_fresh_nonce_prefix() {
    let dek = Dek::generate();
    let a = dek.encrypt_small(OBJ, b"same");
    let b = dek.encrypt_small(OBJ, b"same");
    assert_ne!(a[4..HEADER], b[4..HEADER]);
    assert_ne!(a, b);
}

#[test]
fn truncated_streams_fail() {
    let dek = Dek::generate();
    for size in [0, 1, C, C + 1, 3 * C] {
        let ct = encrypt_in_pieces(&dek, OBJ, &data(size), 1000);
        let mut cuts = vec![0, 1, 4, HEADER - 1, HEADER, ct.len() - 1, ct.len() - 16];
        if size > C {
            // Drop the whole last chunk: the stream then ends on a "not last" chunk.
            let last_start = HEADER + (ct.len() - HEADER - 1) / SEALED * SEALED;
            cuts.push(last_start);
            cuts.push(last_start + 1);
        }
        for cut in cuts {
            assert_decrypt_fails(&dek, OBJ, &ct[..cut]);
        }
    }
}

#[test]
fn trailing_bytes_after_the_last_chunk_fail() {
    let dek = Dek::generate();
    for size in [0, 5, C] {
        let mut ct = dek.encrypt_small(OBJ, &data(size));
        ct.push(0);
        assert_decrypt_fails(&dek, OBJ, &ct);
    }
}

#[test]
fn swapped_duplicated_or_dropped_chunks_fail() {
    let dek = Dek::generate();
    let plaintext = data(3 * C + 1);
    let ct = dek.encrypt_small(OBJ, &plaintext);
    let chunk = |i: usize| &ct[HEADER + i * SEALED..(HEADER + (i + 1) * SEALED).min(ct.len())];
    let header = &ct[..HEADER];

    let swapped = [header, chunk(1), chunk(0), chunk(2), chunk(3)].concat();
    assert_eq!(swapped.len(), ct.len());
    assert_decrypt_fails(&dek, OBJ, &swapped);

    let duplicated = [header, chunk(0), chunk(0), chunk(1), chunk(2), chunk(3)].concat();
    assert_decrypt_fails(&dek, OBJ, &duplicated);

    let dropped_middle = [header, chunk(0), chunk(2), chunk(3)].concat();
    assert_decrypt_fails(&dek, OBJ, &dropped_middle);

    // A last chunk only counts as last in its own position.
    let last_first = [header, chunk(3)].concat();
    assert_decrypt_fails(&dek, OBJ, &last_first);
}

#[test]
fn chunks_moved_from_another_object_fail() {
    let dek = Dek::generate();
    let a = dek.encrypt_small("msg_01/att_01", &data(2 * C + 10));
    let b = dek.encrypt_small("msg_01/att_02", &data(2 * C + 10));
    // Same header (nonce prefix) as `a`, but `b`'s first chunk.
    let mixed = [&a[..HEADER + SEALED], &b[HEADER + SEALED..]].concat();
    assert_decrypt_fails(&dek, "msg_01/att_01", &mixed);
    let mixed = [&a[..HEADER], &b[HEADER..]].concat();
    assert_decrypt_fails(&dek, "msg_01/att_01", &mixed);
}

#[test]
fn flipping_any_bit_fails() {
    let dek = Dek::generate();
    let ct = dek.encrypt_small(OBJ, &data(C + 100));
    let positions = [
        4,                   // nonce prefix
        HEADER,              // first chunk, first byte
        HEADER + C / 2,      // first chunk, middle
        HEADER + SEALED - 1, // first chunk's tag
        HEADER + SEALED,     // last chunk
        ct.len() - 1,        // last chunk's tag
    ];
    for pos in positions {
        for bit in [0, 7] {
            let mut bad = ct.clone();
            bad[pos] ^= 1 << bit;
            assert_decrypt_fails(&dek, OBJ, &bad);
        }
    }
}

#[test]
fn a_bad_magic_is_a_format_error() {
    let dek = Dek::generate();
    let mut ct = dek.encrypt_small(OBJ, b"hello");
    ct[0] ^= 1;
    assert!(matches!(
        dek.decrypt_small(OBJ, &ct),
        Err(CryptoError::Format(_))
    ));
}

#[test]
fn wrong_object_id_or_wrong_dek_fails() {
    let dek = Dek::generate();
    for size in [0, 10, C + 10] {
        let ct = dek.encrypt_small(OBJ, &data(size));
        assert_decrypt_fails(&dek, "msg_01/att_03", &ct);
        assert_decrypt_fails(&dek, "", &ct);
        assert_decrypt_fails(&Dek::generate(), OBJ, &ct);
    }
}

#[test]
fn no_unverified_plaintext_is_released_and_errors_are_final() {
    let dek = Dek::generate();
    let plaintext = data(2 * C + 10);
    let mut ct = dek.encrypt_small(OBJ, &plaintext);
    ct[HEADER + SEALED + 5] ^= 1; // second chunk

    let mut decryptor = dek.decryptor(OBJ);
    let mut out = Vec::new();
    decryptor
        .update(&ct[..HEADER + SEALED + 1], &mut out)
        .unwrap();
    assert_eq!(out, plaintext[..C], "first chunk verified and released");
    let before = out.len();
    assert!(matches!(
        decryptor.update(&ct[HEADER + SEALED + 1..], &mut out),
        Err(CryptoError::Decrypt)
    ));
    assert_eq!(out.len(), before, "nothing of the bad chunk appended");
    // Poisoned: the same decryptor accepts nothing more.
    assert!(decryptor.update(&[], &mut out).is_err());
    assert!(matches!(
        decryptor.finish(&mut out),
        Err(CryptoError::Decrypt)
    ));
}

/// An independent oracle for the format: raw AES-256-GCM with the STREAM nonce built by hand
/// (prefix || counter big-endian || last flag), the object key from HKDF as specified.
#[test]
fn format_matches_raw_aes_gcm_with_stream_nonces() {
    use hkdf::Hkdf;
    use sha2::Sha256;

    let dek_bytes = [9u8; 32];
    let object_id = "msg_1/body";
    let prefix = [0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6];
    let plaintext = data(C + 3);

    let mut key = [0u8; 32];
    Hkdf::<Sha256>::new(None, &dek_bytes)
        .expand(format!("zegel-object-v1:{object_id}").as_bytes(), &mut key)
        .unwrap();
    let cipher = Aes256Gcm::new_from_slice(&key).unwrap();
    let mut expected = b"ZGL1".to_vec();
    expected.extend_from_slice(&prefix);
    for (counter, (chunk, last)) in [(&plaintext[..C], 0u8), (&plaintext[C..], 1u8)]
        .into_iter()
        .enumerate()
    {
        let mut nonce = prefix.to_vec();
        nonce.extend_from_slice(&(counter as u32).to_be_bytes());
        nonce.push(last);
        let mut buf = chunk.to_vec();
        cipher
            .encrypt_in_place(Nonce::from_slice(&nonce), object_id.as_bytes(), &mut buf)
            .unwrap();
        expected.extend_from_slice(&buf);
    }

    let dek = known_dek();
    assert_eq!(dek.decrypt_small(object_id, &expected).unwrap(), plaintext);
}

/// A vector made with Python's `cryptography` (HKDF, AESGCM) from the written contract.
#[test]
fn decrypts_an_independently_made_vector() {
    let ct = hex("5a474c31a0a1a2a3a4a5a6e39bf33a7e4ea309f5c1ebdf3b4ca1ec44dd52c998abcfd856ff52d9d1a08cb359918b57e2f966");
    let dek = known_dek();
    assert_eq!(
        dek.decrypt_small("msg_1/body", &ct).unwrap(),
        b"Hallo, dit is een test."
    );
}

/// The DEK `[9; 32]`. The public API cannot build a DEK from bytes, so it is unwrapped from
/// vectors made with Python's `cryptography` (master = 0..32, KEK `[7; 32]`, see tests/keys.rs).
fn known_dek() -> Dek {
    let master = zegel_crypto::MasterKey::from_bytes(std::array::from_fn(|i| i as u8));
    let kek = master
        .unwrap_kek("kek_0123456789abcdef", &hex(WRAPPED_KEK))
        .unwrap();
    kek.unwrap_dek(&hex(WRAPPED_DEK), "msg_1").unwrap()
}

const WRAPPED_KEK: &str = "6465666768696a6b6c6d6e6ffd3526204609a189f418eac1254b15e87445083a26a0c4ac1da02ac08a563a26c3754a7ec9ea3539251b1051a2323d17";
const WRAPPED_DEK: &str = "c8c9cacbcccdcecfd0d1d2d37ac82dc4f75f1bf09983e890a3eb3a0d00470c18faed85b448bc5649543437ce3d949ab5ad15cbbcd22e27ac513c5e15";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

//! Throughput of the streaming AEAD against raw AES-256-GCM on the same data, same run.
//!
//! ```text
//! cargo run --release -p zegel-crypto --example throughput [MiB] [rounds] [feed KiB]
//! ```
//!
//! Baseline: `Aes256Gcm::encrypt_in_place_detached` / `decrypt_in_place_detached` over the data
//! in place, in 64 KiB pieces (no copies, no framing). Reference: the same raw calls, but each
//! piece first copied to the end of a separate output buffer (the least any API that does not
//! overwrite its input must do). Streaming: `Dek::encryptor` / `Dek::decryptor` fed pieces of
//! `feed KiB` (default 64), (a) appending everything to one big output buffer and (b) with a
//! small output buffer emptied after every piece (how a server writes a blob or a response).
//! MB = 10^6 bytes; best of the rounds, all measured in the same run, interleaved.

use std::error::Error;
use std::hint::black_box;
use std::time::{Duration, Instant};

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use zegel_crypto::{ciphertext_len, Dek, CHUNK_SIZE};

const PIECE: usize = CHUNK_SIZE;
const OBJ: &str = "msg_bench/att_1";

type Res<T = ()> = Result<T, Box<dyn Error>>;

/// aes-gcm's error type does not implement `std::error::Error` without its `std` feature.
fn aead<T>(r: Result<T, aes_gcm::Error>) -> Res<T> {
    r.map_err(|_| "AES-GCM failed".into())
}

fn main() -> Res {
    let mut args = std::env::args().skip(1);
    let mib: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(512);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let feed: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(64)
        .max(1)
        * 1024;
    let len = mib << 20;

    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    println!(
        "cpu: aes={} pclmulqdq={} avx2={} (the aes and polyval crates pick AES-NI/CLMUL at run time)",
        std::arch::is_x86_feature_detected!("aes"),
        std::arch::is_x86_feature_detected!("pclmulqdq"),
        std::arch::is_x86_feature_detected!("avx2"),
    );
    println!(
        "data: {mib} MiB; raw AES-GCM on {} KiB pieces; streams fed {} KiB pieces; best of {rounds} rounds",
        PIECE / 1024,
        feed / 1024,
    );

    let data = pseudo_random(len);
    let dek = Dek::generate();
    let ct_len = usize::try_from(ciphertext_len(len as u64)).unwrap_or(usize::MAX);

    let mut best = [Duration::MAX; 8];
    let mut buf = data.clone();
    let mut big_ct = touched(ct_len);
    let mut big_pt = touched(len);
    for _ in 0..rounds {
        // Baseline encrypt and decrypt, in place.
        let cipher = Aes256Gcm::new(&[7u8; 32].into());
        buf.copy_from_slice(&data);
        let mut tags = Vec::with_capacity(len / PIECE + 1);
        let t = Instant::now();
        for (i, piece) in buf.chunks_mut(PIECE).enumerate() {
            tags.push(aead(cipher.encrypt_in_place_detached(
                &nonce(i),
                OBJ.as_bytes(),
                piece,
            ))?);
        }
        best[0] = best[0].min(t.elapsed());
        let t = Instant::now();
        for ((i, piece), tag) in buf.chunks_mut(PIECE).enumerate().zip(&tags) {
            aead(cipher.decrypt_in_place_detached(&nonce(i), OBJ.as_bytes(), piece, tag as &Tag))?;
        }
        best[1] = best[1].min(t.elapsed());
        assert!(buf == data);

        // Reference: raw AES-GCM, each piece copied to a separate output buffer first.
        big_ct.clear();
        let t = Instant::now();
        for (i, piece) in data.chunks(PIECE).enumerate() {
            let start = big_ct.len();
            big_ct.extend_from_slice(piece);
            let tag = aead(cipher.encrypt_in_place_detached(
                &nonce(i),
                OBJ.as_bytes(),
                &mut big_ct[start..],
            ))?;
            big_ct.extend_from_slice(&tag);
        }
        best[6] = best[6].min(t.elapsed());
        big_pt.clear();
        let t = Instant::now();
        for (i, piece) in big_ct.chunks(PIECE + 16).enumerate() {
            let start = big_pt.len();
            let (ct, tag) = piece.split_at(piece.len() - 16);
            big_pt.extend_from_slice(ct);
            aead(cipher.decrypt_in_place_detached(
                &nonce(i),
                OBJ.as_bytes(),
                &mut big_pt[start..],
                Tag::from_slice(tag),
            ))?;
        }
        best[7] = best[7].min(t.elapsed());
        assert!(big_pt == data);

        // Streaming into one big buffer (already paged in).
        big_ct.clear();
        let t = Instant::now();
        let mut enc = dek.encryptor(OBJ);
        for piece in data.chunks(feed) {
            enc.update(piece, &mut big_ct)?;
        }
        enc.finish(&mut big_ct)?;
        best[2] = best[2].min(t.elapsed());
        assert_eq!(big_ct.len(), ct_len);

        big_pt.clear();
        let t = Instant::now();
        let mut dec = dek.decryptor(OBJ);
        for piece in big_ct.chunks(feed) {
            dec.update(piece, &mut big_pt)?;
        }
        dec.finish(&mut big_pt)?;
        best[3] = best[3].min(t.elapsed());
        assert!(big_pt == data);

        // Streaming with a small output buffer, emptied after every piece.
        let mut out = Vec::with_capacity(PIECE + 64);
        let mut written = 0usize;
        let t = Instant::now();
        let mut enc = dek.encryptor(OBJ);
        for piece in data.chunks(feed) {
            enc.update(piece, &mut out)?;
            written += black_box(&out).len();
            out.clear();
        }
        enc.finish(&mut out)?;
        written += black_box(&out).len();
        best[4] = best[4].min(t.elapsed());
        assert_eq!(written, ct_len);

        out.clear();
        let mut written = 0usize;
        let t = Instant::now();
        let mut dec = dek.decryptor(OBJ);
        for piece in big_ct.chunks(feed) {
            dec.update(piece, &mut out)?;
            written += black_box(&out).len();
            out.clear();
        }
        dec.finish(&mut out)?;
        written += black_box(&out).len();
        best[5] = best[5].min(t.elapsed());
        assert_eq!(written, len);
    }

    let mbs = |d: Duration| len as f64 / d.as_secs_f64() / 1e6;
    let row = |name: &str, d: Duration, base: Duration| {
        println!(
            "{name:<44} {:>8.0} MB/s  ({:>5.1}% of baseline)",
            mbs(d),
            100.0 * base.as_secs_f64() / d.as_secs_f64()
        );
    };
    row("baseline encrypt (raw AES-GCM, in place)", best[0], best[0]);
    row("baseline decrypt (raw AES-GCM, in place)", best[1], best[1]);
    row(
        "reference encrypt (raw, copy to output first)",
        best[6],
        best[0],
    );
    row(
        "reference decrypt (raw, copy to output first)",
        best[7],
        best[1],
    );
    row("stream encrypt -> one big buffer", best[2], best[0]);
    row("stream decrypt -> one big buffer", best[3], best[1]);
    row("stream encrypt -> small buffer, emptied", best[4], best[0]);
    row("stream decrypt -> small buffer, emptied", best[5], best[1]);
    Ok(())
}

fn nonce(i: usize) -> Nonce<aes_gcm::aead::consts::U12> {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&(i as u64).to_be_bytes());
    n.into()
}

/// A buffer with `len` bytes of capacity whose pages are already mapped, so the first
/// round does not pay for page faults the others do not.
fn touched(len: usize) -> Vec<u8> {
    let mut v = vec![1u8; len];
    v.clear();
    v
}

/// Cheap non-constant data (xorshift), so nothing compresses or short-cuts.
fn pseudo_random(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

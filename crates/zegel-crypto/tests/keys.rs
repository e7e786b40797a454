//! The key hierarchy: master key file, key-check value, KEK and DEK wrapping, derived keys.

use std::fs;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use zegel_crypto::{CryptoError, Dek, Kek, MasterKey, SecretKey};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn counting_master() -> MasterKey {
    MasterKey::from_bytes(std::array::from_fn(|i| i as u8))
}

/// Vectors made with Python's `cryptography` (HKDF-SHA256, HMAC, AESGCM) from the contract:
/// master = 0..32; KEK "kek_0123456789abcdef" = [7; 32] wrapped with nonce 100..112;
/// DEK [9; 32] for message "msg_1" wrapped with nonce 200..212.
const KCV: &str = "9bc71f11455277567db87d670bec6360f2b86517d849f10ce51177993c23e88d";
const WRAPPED_KEK: &str = "6465666768696a6b6c6d6e6ffd3526204609a189f418eac1254b15e87445083a26a0c4ac1da02ac08a563a26c3754a7ec9ea3539251b1051a2323d17";
const WRAPPED_DEK: &str = "c8c9cacbcccdcecfd0d1d2d37ac82dc4f75f1bf09983e890a3eb3a0d00470c18faed85b448bc5649543437ce3d949ab5ad15cbbcd22e27ac513c5e15";

#[test]
fn key_check_value_matches_the_contract() {
    let master = counting_master();
    assert_eq!(master.key_check_value().to_vec(), hex(KCV));
    assert!(master.verify_key_check(&hex(KCV)));
}

#[test]
fn independently_wrapped_keys_unwrap() {
    let master = counting_master();
    let kek = master
        .unwrap_kek("kek_0123456789abcdef", &hex(WRAPPED_KEK))
        .unwrap();
    assert_eq!(kek.id(), "kek_0123456789abcdef");
    let dek = kek.unwrap_dek(&hex(WRAPPED_DEK), "msg_1").unwrap();
    // Round trip through the unwrapped DEK works (tests/stream.rs checks its bytes).
    assert_eq!(
        dek.decrypt_small("o", &dek.encrypt_small("o", b"x"))
            .unwrap(),
        b"x"
    );
}

#[test]
fn a_different_master_key_fails_the_key_check() {
    let master = MasterKey::from_bytes([1; 32]);
    let other = MasterKey::from_bytes([2; 32]);
    let kcv = master.key_check_value();
    assert!(master.verify_key_check(&kcv));
    assert!(!other.verify_key_check(&kcv));
    assert!(!master.verify_key_check(&kcv[..31]));
    assert!(!master.verify_key_check(&[]));
}

#[test]
fn master_key_file_is_created_0600_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");

    let (created_key, created) = MasterKey::load_or_create(&path).unwrap();
    assert!(created);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    }
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(text.len(), 45, "44 base64 characters and a newline");
    assert!(text.ends_with('\n'));
    assert_eq!(STANDARD.decode(text.trim()).unwrap().len(), 32);

    let (read_key, created) = MasterKey::load_or_create(&path).unwrap();
    assert!(!created);
    assert_eq!(read_key.key_check_value(), created_key.key_check_value());
    assert!(read_key.verify_key_check(&created_key.key_check_value()));

    // The file is what the key is: from_base64 of its text gives the same key.
    let from_text = MasterKey::from_base64(&text).unwrap();
    assert_eq!(from_text.key_check_value(), created_key.key_check_value());

    // Another data directory gets another key.
    let other_path = dir.path().join("other.key");
    let (other, created) = MasterKey::load_or_create(&other_path).unwrap();
    assert!(created);
    assert!(!other.verify_key_check(&created_key.key_check_value()));
}

#[test]
fn bad_key_files_are_refused_without_showing_their_content() {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in [
        ("empty.key", ""),
        ("blank.key", "\n  \n"),
        ("short.key", "c2VjcmV0LXNob3J0LWtleQ==\n"),
        ("garbage.key", "this is not base64 at all\n"),
    ] {
        let path = dir.path().join(name);
        fs::write(&path, content).unwrap();
        let err = MasterKey::load_or_create(&path).unwrap_err();
        assert!(matches!(err, CryptoError::KeyFile(_)), "{name}: {err:?}");
        let msg = err.to_string();
        assert!(msg.contains(name), "{msg}");
        if !content.trim().is_empty() {
            assert!(!msg.contains(content.trim()), "{msg}");
        }
        // Never overwritten.
        assert_eq!(fs::read_to_string(&path).unwrap(), content);
    }
    let missing_dir = dir.path().join("no-such-dir").join("master.key");
    assert!(matches!(
        MasterKey::load_or_create(&missing_dir),
        Err(CryptoError::KeyFile(_))
    ));
}

#[test]
fn from_base64_accepts_both_alphabets_with_or_without_padding() {
    let bytes: [u8; 32] = std::array::from_fn(|i| (i * 37 + 250) as u8); // has + / - _ chars
    let kcv = MasterKey::from_bytes(bytes).key_check_value();
    let standard = STANDARD.encode(bytes);
    let url = URL_SAFE_NO_PAD.encode(bytes);
    assert_ne!(
        standard.trim_end_matches('='),
        url,
        "the alphabets must differ here"
    );
    for text in [
        standard.clone(),
        standard.trim_end_matches('=').to_owned(),
        url.clone(),
        format!("{url}="),
        format!("  {standard}\n"),
        format!("\t{url}\r\n"),
    ] {
        let key = MasterKey::from_base64(&text).unwrap();
        assert_eq!(key.key_check_value(), kcv, "{text:?}");
    }
}

#[test]
fn from_base64_rejects_bad_input() {
    let ok = STANDARD.encode([5u8; 32]);
    // 0xfb 0xfb 0xfb encodes as "+/v7": make it hold '-' and '/', one from each alphabet.
    let mixed = STANDARD.encode([0xfb; 32]).replacen('+', "-", 1);
    assert!(mixed.contains('-') && mixed.contains('/'));
    for bad in [
        String::new(),
        "   ".to_owned(),
        "not base64!!".to_owned(),
        STANDARD.encode([5u8; 31]),
        STANDARD.encode([5u8; 33]),
        STANDARD.encode([5u8; 64]),
        format!("{ok}{ok}"),
        ok[..43].to_owned() + "B", // non-zero trailing bits
        format!("{} {}", &ok[..20], &ok[20..]),
        mixed,
    ] {
        let result = MasterKey::from_base64(&bad);
        assert!(
            matches!(result, Err(CryptoError::KeyFile(_))),
            "{bad:?} gave {result:?}"
        );
    }
}

#[test]
fn kek_wraps_and_unwraps_only_with_the_right_master_key_and_id() {
    let master = MasterKey::from_bytes([3; 32]);
    let kek = Kek::generate();
    let wrapped = master.wrap_kek(&kek);
    assert_eq!(wrapped.len(), 12 + 32 + 16);
    assert_ne!(master.wrap_kek(&kek), wrapped, "random nonce");

    let unwrapped = master.unwrap_kek(kek.id(), &wrapped).unwrap();
    assert_eq!(unwrapped.id(), kek.id());
    // Same key: what one wraps, the other unwraps.
    let dek = Dek::generate();
    let wrapped_dek = kek.wrap_dek(&dek, "msg_1");
    let same = unwrapped.unwrap_dek(&wrapped_dek, "msg_1").unwrap();
    let ct = dek.encrypt_small("body", b"content");
    assert_eq!(same.decrypt_small("body", &ct).unwrap(), b"content");

    let other_id = Kek::generate();
    assert!(matches!(
        master.unwrap_kek(other_id.id(), &wrapped),
        Err(CryptoError::Decrypt)
    ));
    assert!(matches!(
        MasterKey::from_bytes([4; 32]).unwrap_kek(kek.id(), &wrapped),
        Err(CryptoError::Decrypt)
    ));
    let mut flipped = wrapped.clone();
    flipped[20] ^= 1;
    assert!(matches!(
        master.unwrap_kek(kek.id(), &flipped),
        Err(CryptoError::Decrypt)
    ));
    assert!(matches!(
        master.unwrap_kek(kek.id(), &wrapped[..59]),
        Err(CryptoError::Format(_))
    ));
}

#[test]
fn dek_wraps_and_unwraps_only_with_the_right_kek_and_message_id() {
    let kek = Kek::generate();
    let dek = Dek::generate();
    let wrapped = kek.wrap_dek(&dek, "msg_1");
    assert_eq!(wrapped.len(), 60);

    let unwrapped = kek.unwrap_dek(&wrapped, "msg_1").unwrap();
    let ct = dek.encrypt_small("subject", b"Uitslag");
    assert_eq!(unwrapped.decrypt_small("subject", &ct).unwrap(), b"Uitslag");

    assert!(matches!(
        kek.unwrap_dek(&wrapped, "msg_2"),
        Err(CryptoError::Decrypt)
    ));
    assert!(matches!(
        Kek::generate().unwrap_dek(&wrapped, "msg_1"),
        Err(CryptoError::Decrypt)
    ));
    assert!(matches!(
        kek.unwrap_dek(&[], "msg_1"),
        Err(CryptoError::Format(_))
    ));
    // A DEK unwrapped under another message id would be a different key anyway:
    // check that content does not open with a fresh DEK either.
    assert!(Dek::generate().decrypt_small("subject", &ct).is_err());
}

#[test]
fn kek_ids_are_kek_and_16_lowercase_hex_chars() {
    let a = Kek::generate();
    let b = Kek::generate();
    for kek in [&a, &b] {
        let id = kek.id();
        assert_eq!(id.len(), 20, "{id}");
        assert!(id.starts_with("kek_"));
        assert!(id[4..]
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
    }
    assert_ne!(a.id(), b.id());
}

#[test]
fn derived_keys_are_deterministic_and_separated_by_purpose() {
    let master = MasterKey::from_bytes([8; 32]);
    let a = master.derive("access-code-hmac");
    let a2 = master.derive("access-code-hmac");
    let b = master.derive("csrf");
    assert_eq!(a.mac(b"x"), a2.mac(b"x"));
    assert_ne!(a.mac(b"x"), b.mac(b"x"));
    assert_ne!(
        a.mac(b"x"),
        MasterKey::from_bytes([9; 32])
            .derive("access-code-hmac")
            .mac(b"x")
    );
}

/// A key derived from the old master key, wrapped under a new one, unwraps to the same key
/// (what a master key rotation keeps); only with the new master key and the same purpose.
#[test]
fn derived_keys_survive_a_master_rotation_only_under_the_new_key_and_purpose() {
    let old = MasterKey::from_bytes([8; 32]);
    let new = MasterKey::from_bytes([9; 32]);
    let code_key = old.derive("zegel access-code mac v1");
    let wrapped = new.wrap_derived_key("zegel access-code mac v1", &code_key);
    assert_eq!(wrapped.len(), 60);
    // Random nonce: two wraps differ, both unwrap.
    assert_ne!(
        wrapped,
        new.wrap_derived_key("zegel access-code mac v1", &code_key)
    );
    let kept = new
        .unwrap_derived_key("zegel access-code mac v1", &wrapped)
        .expect("unwraps under the new master key");
    assert_eq!(kept.mac(b"123456"), code_key.mac(b"123456"));
    // Not the new master key's own derivation.
    assert_ne!(
        kept.mac(b"123456"),
        new.derive("zegel access-code mac v1").mac(b"123456")
    );
    assert!(matches!(
        old.unwrap_derived_key("zegel access-code mac v1", &wrapped),
        Err(CryptoError::Decrypt)
    ));
    assert!(matches!(
        new.unwrap_derived_key("zegel job seal v1", &wrapped),
        Err(CryptoError::Decrypt)
    ));
    assert!(matches!(
        new.unwrap_derived_key("zegel access-code mac v1", &wrapped[..59]),
        Err(CryptoError::Format(_))
    ));
}

#[test]
fn secret_key_seals_opens_and_macs() {
    let key = SecretKey::generate();
    let sealed = key.seal(b"aad", b"secret");
    assert_eq!(sealed.len(), 12 + 6 + 16);
    assert_eq!(key.open(b"aad", &sealed).unwrap(), b"secret");
    assert!(matches!(
        key.open(b"other", &sealed),
        Err(CryptoError::Decrypt)
    ));
    assert!(matches!(
        SecretKey::generate().open(b"aad", &sealed),
        Err(CryptoError::Decrypt)
    ));
    let mut flipped = sealed.clone();
    flipped[13] ^= 0x80;
    assert!(matches!(
        key.open(b"aad", &flipped),
        Err(CryptoError::Decrypt)
    ));
    assert!(matches!(
        key.open(b"aad", &sealed[..27]),
        Err(CryptoError::Format(_))
    ));
    assert_eq!(key.open(b"", &key.seal(b"", b"")).unwrap(), b"");

    let tag = key.mac(b"123456");
    assert!(key.verify_mac(b"123456", &tag));
    assert!(!key.verify_mac(b"123457", &tag));
    assert!(!key.verify_mac(b"123456", &tag[..16]));
    assert!(!SecretKey::generate().verify_mac(b"123456", &tag));

    // RFC 4231 test case 2 shape with a 32-byte key: HMAC is plain HMAC-SHA256.
    let fixed = SecretKey::from_bytes([0x0b; 32]);
    let expected = {
        use hmac::{Hmac, Mac};
        let mut m = Hmac::<sha2::Sha256>::new_from_slice(&[0x0b; 32]).unwrap();
        m.update(b"Hi There");
        m.finalize().into_bytes().to_vec()
    };
    assert_eq!(fixed.mac(b"Hi There").to_vec(), expected);
}

#[test]
fn debug_output_never_shows_key_bytes() {
    let bytes = [0xab; 32];
    let shown = [
        format!("{:?}", MasterKey::from_bytes(bytes)),
        format!("{:?}", SecretKey::from_bytes(bytes)),
        format!("{:?}", Dek::generate()),
        format!("{:?}", Kek::generate()),
        format!("{:?}", Dek::generate().encryptor("o")),
        format!("{:?}", Dek::generate().decryptor("o")),
    ];
    for s in shown {
        // The key bytes as Debug would print them (a list); a random key id may contain
        // "171" or "abab" by chance, so look for the list's separators.
        assert!(!s.contains("171, 171") && !s.contains("ab, ab"), "{s}");
        assert!(s.len() < 80, "{s}");
    }
    assert!(format!("{:?}", MasterKey::from_bytes(bytes)).contains("redacted"));
}

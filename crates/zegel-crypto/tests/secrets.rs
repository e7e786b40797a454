//! Tokens, codes, password hashes, constant-time comparison.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use zegel_crypto::{ct_eq, hash_password, random_code, random_token, token_hash, verify_password};

#[test]
fn tokens_are_43_chars_of_unpadded_base64url_for_32_random_bytes() {
    let a = random_token();
    let b = random_token();
    for t in [&a, &b] {
        assert_eq!(t.len(), 43, "{t}");
        assert!(t
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(URL_SAFE_NO_PAD.decode(t).unwrap().len(), 32);
    }
    assert_ne!(a, b);
}

#[test]
fn token_hash_is_sha256_of_the_token_text() {
    assert_eq!(
        token_hash("abc"),
        [
            0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae,
            0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61,
            0xf2, 0x00, 0x15, 0xad
        ]
    );
    let t = random_token();
    assert_eq!(token_hash(&t), token_hash(&t.clone()));
    assert_ne!(token_hash(&t), token_hash(&random_token()));
}

#[test]
fn codes_are_always_six_digits_and_spread_over_the_range() {
    let mut first_digit = [0u32; 10];
    for _ in 0..20_000 {
        let code = random_code();
        assert_eq!(code.len(), 6, "{code}");
        assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code}");
        first_digit[usize::from(code.as_bytes()[0] - b'0')] += 1;
    }
    // Each leading digit (including the zero padding) expected 2000 times.
    for (digit, &n) in first_digit.iter().enumerate() {
        assert!((1500..2500).contains(&n), "digit {digit}: {n}");
    }
}

#[test]
fn passwords_hash_with_argon2id_and_verify() {
    let phc = hash_password("correct horse battery staple").unwrap();
    assert!(phc.starts_with("$argon2id$v=19$"), "{phc}");
    assert!(verify_password("correct horse battery staple", &phc));
    assert!(!verify_password("correct horse battery stapler", &phc));
    assert!(!verify_password("", &phc));
    assert!(!verify_password(
        "correct horse battery staple",
        "not a phc string"
    ));
    assert!(!verify_password("x", ""));
    // Salted: the same password hashes differently.
    assert_ne!(hash_password("pw").unwrap(), hash_password("pw").unwrap());
}

#[test]
fn ct_eq_compares_contents_and_lengths() {
    assert!(ct_eq(b"", b""));
    assert!(ct_eq(b"abc", b"abc"));
    assert!(!ct_eq(b"abc", b"abd"));
    assert!(!ct_eq(b"abc", b"ab"));
    assert!(!ct_eq(b"", b"a"));
}

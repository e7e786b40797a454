//! Property tests of the download names, against DESIGN.md's contract ("Download names"): no
//! `/`, `\`, CR, LF or NUL; not empty or dots only; RFC 6266 `filename*` for non-ASCII; and a
//! header value that is valid ASCII. Kept in a file of its own (download.rs changes often).

use super::{content_disposition, safe_file_name};
use axum::http::HeaderValue;
use proptest::prelude::*;

/// Names as they come from uploads: any Unicode, with the troublesome characters (separators,
/// dots, controls, quotes, percent signs, bidi and other format characters, spaces) made likely.
fn hostile_name() -> impl Strategy<Value = String> {
    let tricky = prop::sample::select(vec![
        '/', '\\', '\r', '\n', '\0', '.', '"', '%', ';', ' ', '\t', '\u{7f}', '\u{85}', '\u{2028}',
        '\u{202e}', '\u{200b}', '\u{feff}', '\u{fffd}', 'é', 'ß', '漢', '😀', '_',
    ]);
    let piece = prop_oneof![
        3 => any::<char>(),
        4 => tricky,
        3 => prop::char::range('a', 'z'),
    ];
    prop_oneof![
        4 => prop::collection::vec(piece, 0..40).prop_map(|v| v.into_iter().collect()),
        1 => "[./\\\\ ]{0,12}",
        1 => any::<String>(),
    ]
}

/// The value of `filename*=UTF-8''...` decoded, if the header has one.
fn ext_value(cd: &str) -> Option<String> {
    let enc = cd.split("filename*=UTF-8''").nth(1)?;
    let enc = enc.split(';').next()?.trim();
    percent_encoding::percent_decode_str(enc)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// The quoted `filename="..."` of the header, if any.
fn quoted_value(cd: &str) -> Option<&str> {
    let rest = cd.split("filename=\"").nth(1)?;
    rest.split('"').next()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn a_safe_name_has_no_separator_or_line_break_and_is_never_empty_or_dots(name in hostile_name()) {
        let safe = safe_file_name(&name);
        for bad in ['/', '\\', '\r', '\n', '\0'] {
            prop_assert!(!safe.contains(bad), "{bad:?} in {safe:?} (from {name:?})");
        }
        prop_assert!(!safe.trim().is_empty(), "empty name from {name:?}");
        prop_assert!(!safe.chars().all(|c| c == '.'), "dots only: {safe:?} from {name:?}");
        prop_assert!(safe != "." && safe != "..");
    }

    #[test]
    fn the_content_disposition_is_a_valid_ascii_header_naming_the_safe_name(name in hostile_name()) {
        let cd = content_disposition(&name);
        prop_assert!(cd.is_ascii(), "{cd:?}");
        prop_assert!(!cd.bytes().any(|b| b.is_ascii_control()), "control byte in {cd:?}");
        prop_assert!(HeaderValue::from_str(&cd).is_ok(), "not a header value: {cd:?}");
        prop_assert!(cd.starts_with("attachment;"), "{cd:?}");
        // The plain fallback: a quoted string holding neither a quote nor a backslash (RFC 6266
        // parsers would read either as the end or an escape).
        let quoted = quoted_value(&cd);
        prop_assert!(quoted.is_some(), "no filename=\"...\" in {cd:?}");
        let quoted = quoted.unwrap_or_default();
        prop_assert!(!quoted.contains('\\') && !quoted.is_empty(), "{cd:?}");
        prop_assert_eq!(cd.matches('"').count(), 2, "{}", cd);
        // The RFC 5987 value decodes to exactly the safe name (so non-ASCII names survive).
        let ext = ext_value(&cd);
        let safe = safe_file_name(&name);
        prop_assert_eq!(ext.as_deref(), Some(safe.as_str()), "{}", cd);
    }

    #[test]
    fn ordinary_names_are_kept_as_they_are(name in "rapport-[a-z0-9]{0,8}( [a-z]{1,6})?\\.(pdf|txt|docx|jpg)") {
        prop_assert_eq!(safe_file_name(&name), name.clone());
        let cd = content_disposition(&name);
        prop_assert_eq!(quoted_value(&cd), Some(name.as_str()));
    }
}

//! Attachment file names made safe to list, store and download (DESIGN "Download names").
//!
//! A name arrives from a stranger's upload and ends up in a `Content-Disposition` header, on a
//! recipient's screen and on their disk. [`file_name`] is applied when a name is stored, when
//! it is read back (names stored before these rules), and when it is served.

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// The name of an attachment whose name is empty (or nothing is left of it).
pub const UNNAMED: &str = "bijlage";

/// The longest name, in characters (most file systems allow 255).
const MAX_CHARS: usize = 255;

/// The longest extension kept whole when a long name is shortened.
const MAX_EXTENSION_CHARS: usize = 16;

/// Names Windows reserves for devices, with any extension (`nul.txt` is the device too).
const WINDOWS_DEVICES: [&str; 32] = [
    "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "COM0", "COM1", "COM2", "COM3", "COM4",
    "COM5", "COM6", "COM7", "COM8", "COM9", "COM¹", "COM²", "COM³", "LPT0", "LPT1", "LPT2", "LPT3",
    "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9", "LPT¹", "LPT²", "LPT³",
];

/// A file name that is safe to show and to save, whatever the uploader sent:
/// - characters of Unicode general category Cf (format: bidi overrides and isolates such as
///   U+202E, zero-width spaces and joiners, the BOM, soft hyphens, tags), Cc (controls other
///   than white space), Cs and Cn (unassigned) are removed: they are invisible, and a bidi
///   override makes `rapport\u{202E}fdp.exe` look like `rapportexe.pdf`;
/// - white space of any kind (tabs, CR/LF, line and paragraph separators, no-break and other
///   spaces) becomes one plain space per run, so a long gap cannot push a real extension out
///   of sight;
/// - `/`, `\` and the other characters Windows forbids (`< > : " | ? *`) become `_`;
/// - leading dots (hidden files) and spaces, trailing dots and spaces (Windows drops them, so
///   `a.exe.` would be saved as `a.exe`) are removed;
/// - a Windows device name (CON, PRN, AUX, NUL, COM0-9, LPT0-9, CONIN$, CONOUT$; any case,
///   with or without an extension) gets a leading `_`;
/// - at most 255 characters, keeping a short extension;
/// - nothing left, or only dots and underscores: [`UNNAMED`].
///
/// The general categories come from the `unicode-properties` crate (unicode-rs). Applying it
/// twice gives the same name.
pub fn file_name(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut in_space = false;
    for c in raw.chars() {
        let c = if c.is_whitespace() || c.general_category() == GeneralCategory::SpaceSeparator {
            ' '
        } else {
            match c.general_category() {
                GeneralCategory::Format
                | GeneralCategory::Control
                | GeneralCategory::Surrogate
                | GeneralCategory::Unassigned => continue,
                _ if matches!(c, '/' | '\\' | '<' | '>' | ':' | '"' | '|' | '?' | '*') => '_',
                _ => c,
            }
        };
        if c == ' ' && in_space {
            continue;
        }
        in_space = c == ' ';
        out.push(c);
    }
    let mut name = trim_ends(&out).to_string();
    if is_windows_device(&name) {
        name.insert(0, '_');
    }
    if name.chars().count() > MAX_CHARS {
        name = shorten(&name);
    }
    if name.is_empty() || name.chars().all(|c| c == '.' || c == '_') {
        return UNNAMED.into();
    }
    name
}

/// Without leading dots and spaces, trailing dots and spaces.
fn trim_ends(s: &str) -> &str {
    s.trim_start_matches(['.', ' '])
        .trim_end_matches(['.', ' '])
}

/// At most `MAX_CHARS` characters; an extension of up to `MAX_EXTENSION_CHARS` is kept.
fn shorten(name: &str) -> String {
    let ext = name
        .rfind('.')
        .map(|i| &name[i..])
        .filter(|e| e.chars().count() <= MAX_EXTENSION_CHARS)
        .unwrap_or("");
    let stem = &name[..name.len() - ext.len()];
    let keep = MAX_CHARS - ext.chars().count();
    let stem: String = stem.chars().take(keep).collect();
    // Shortening may leave dots or spaces at the end of the stem.
    let stem = trim_ends(&stem);
    format!("{stem}{ext}")
}

/// Whether Windows would open a device instead of a file by this name: the part before the
/// first dot (trailing spaces ignored) is a device name.
fn is_windows_device(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or(name).trim_end();
    WINDOWS_DEVICES.iter().any(|d| stem.eq_ignore_ascii_case(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_and_format_characters_are_removed() {
        assert_eq!(
            file_name("rapport\u{202e}fdp.exe\u{200b}.txt"),
            "rapportfdp.exe.txt"
        );
        for c in [
            '\u{200b}',
            '\u{200c}',
            '\u{200d}',
            '\u{200e}',
            '\u{200f}',
            '\u{202a}',
            '\u{202b}',
            '\u{202c}',
            '\u{202d}',
            '\u{202e}',
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}',
            '\u{061c}',
            '\u{feff}',
            '\u{00ad}',
            '\u{2060}',
            '\u{e0041}',
            '\0',
            '\u{1b}',
            '\u{7f}',
            '\u{9b}',
            '\u{2065}',
        ] {
            assert_eq!(
                file_name(&format!("uit{c}slag.pdf")),
                "uitslag.pdf",
                "{c:?}"
            );
        }
    }

    #[test]
    fn white_space_becomes_single_spaces_and_ends_are_trimmed() {
        assert_eq!(file_name("a\r\nb\t.pdf"), "a b .pdf");
        assert_eq!(
            file_name("factuur.pdf\u{a0}\u{3000}    \u{2028}   .exe"),
            "factuur.pdf .exe"
        );
        assert_eq!(file_name("  .verborgen.txt. . .  "), "verborgen.txt");
        assert_eq!(file_name("a.exe."), "a.exe");
    }

    #[test]
    fn separators_and_windows_forbidden_characters_become_underscores() {
        assert_eq!(file_name("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(file_name("c:\\temp\\a?b*.pdf"), "c__temp_a_b_.pdf");
        assert_eq!(file_name("\"quoted\" <x> | y"), "_quoted_ _x_ _ y");
    }

    #[test]
    fn windows_device_names_are_made_safe() {
        for raw in [
            "CON",
            "con",
            "Con.txt",
            "nul.tar.gz",
            "PRN",
            "aux.pdf",
            "COM1",
            "com9.doc",
            "LPT1",
            "lpt9.txt",
            "COM0",
            "CONIN$",
            "conout$.log",
            "COM¹.txt",
            "NUL .txt",
        ] {
            let safe = file_name(raw);
            assert!(safe.starts_with('_'), "{raw} -> {safe}");
            assert_eq!(&safe[1..], raw.trim_end_matches(['.', ' ']), "{raw}");
        }
        for fine in [
            "CONTRACT.pdf",
            "console.txt",
            "COM10",
            "LPT",
            "auxiliary",
            "nullen.csv",
        ] {
            assert_eq!(file_name(fine), fine);
        }
    }

    #[test]
    fn nothing_left_gives_the_default_name() {
        for raw in ["", "   ", "..", "...", "\u{202e}\u{200b}", "./", "._."] {
            assert_eq!(file_name(raw), UNNAMED, "{raw:?}");
        }
    }

    #[test]
    fn long_names_keep_their_extension() {
        let long = format!("{}.pdf", "a".repeat(300));
        let safe = file_name(&long);
        assert_eq!(safe.chars().count(), 255);
        assert!(safe.ends_with("a.pdf"));
        let no_ext = "é".repeat(300);
        assert_eq!(file_name(&no_ext).chars().count(), 255);
        let device = format!("con.{}.pdf", "x".repeat(300));
        let safe = file_name(&device);
        assert!(
            safe.starts_with("_con.x") && safe.ends_with("x.pdf"),
            "{safe}"
        );
        assert_eq!(safe.chars().count(), 255);
        assert_eq!(file_name(&safe), safe);
    }

    #[test]
    fn ordinary_names_are_kept_and_cleaning_twice_changes_nothing() {
        for raw in [
            "uitslag bloed.pdf",
            "Ärztlicher Befund – März.docx",
            "كشف.pdf",
            "检查报告.pdf",
            "foto 😀.jpg",
            "rapport\u{202e}fdp.exe\u{200b}.txt",
            "CON.txt",
            "a\r\nb.pdf",
        ] {
            let once = file_name(raw);
            assert_eq!(file_name(&once), once, "{raw:?}");
        }
        assert_eq!(file_name("uitslag bloed.pdf"), "uitslag bloed.pdf");
        assert_eq!(file_name("检查报告.pdf"), "检查报告.pdf");
    }
}

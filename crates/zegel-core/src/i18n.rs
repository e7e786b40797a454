//! Recipient-facing texts in Dutch (default) and English, from Fluent catalogs embedded in the
//! binary (`locales/{nl,en}/zegel.ftl`), plus localised dates (Europe/Amsterdam), durations,
//! file sizes and file kinds.
//!
//! Message ids are `<area>-<what>` (`landing-heading`, `problem-expired-title`, `notify-subject`).
//! An id ending in `-html` holds trusted markup: use [`tr_html`], which HTML-escapes every
//! argument, and insert the result unescaped. A missing id never panics: it is logged and the
//! id itself is returned.
//!
//! ```
//! use zegel_core::i18n::{tr, tr_args, tr_with, Args, Lang};
//! assert_eq!(tr(Lang::Nl, "landing-open"), "Bericht openen");
//! assert_eq!(tr_args(Lang::En, "notify-subject", &[("org", "Ziekenhuis")]), "Secure message from Ziekenhuis");
//! assert_eq!(tr_with(Lang::Nl, "duration-minutes", &Args::new().num("minutes", 5)), "5 minuten");
//! ```

use crate::model::Ts;
use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use std::sync::LazyLock;

pub use crate::model::Lang;

/// Template helpers: texts of the catalogs in this language.
impl Lang {
    /// [`tr`] in this language (for templates: `{{ lang.t("landing-heading") }}`).
    pub fn t(&self, id: &str) -> String {
        tr(*self, id)
    }

    /// [`tr_args`] with one argument (for templates).
    pub fn t1(&self, id: &str, k: &str, v: &str) -> String {
        tr_args(*self, id, &[(k, v)])
    }

    /// [`tr_args`] with two arguments (for templates).
    pub fn t2(&self, id: &str, k1: &str, v1: &str, k2: &str, v2: &str) -> String {
        tr_args(*self, id, &[(k1, v1), (k2, v2)])
    }

    /// [`tr_with`] with one number argument (plurals; for templates).
    pub fn tn(&self, id: &str, k: &str, n: &i64) -> String {
        tr_with(*self, id, &Args::new().num(k, *n))
    }

    /// [`tr_html`] with one argument (for templates, with `|safe`).
    pub fn html1(&self, id: &str, k: &str, v: &str) -> String {
        tr_html(*self, id, &[(k, v)])
    }

    /// [`tr_html`] with two arguments (for templates, with `|safe`).
    pub fn html2(&self, id: &str, k1: &str, v1: &str, k2: &str, v2: &str) -> String {
        tr_html(*self, id, &[(k1, v1), (k2, v2)])
    }
}

/// The embedded catalog of a language.
fn catalog(lang: Lang) -> &'static str {
    match lang {
        Lang::Nl => include_str!("../locales/nl/zegel.ftl"),
        Lang::En => include_str!("../locales/en/zegel.ftl"),
    }
}

fn build_bundle(lang: Lang) -> FluentBundle<FluentResource> {
    let id: unic_langid::LanguageIdentifier = lang
        .as_str()
        .parse()
        .expect("nl and en are valid language identifiers");
    let res = FluentResource::try_new(catalog(lang).to_string())
        .unwrap_or_else(|(_, errs)| panic!("locales/{}/zegel.ftl: {errs:?}", lang.as_str()));
    let mut bundle = FluentBundle::new_concurrent(vec![id]);
    // No Unicode bidi isolation marks around arguments: they end up in HTML, mail and SMS.
    bundle.set_use_isolating(false);
    bundle
        .add_resource(res)
        .unwrap_or_else(|errs| panic!("locales/{}/zegel.ftl: {errs:?}", lang.as_str()));
    bundle
}

static NL: LazyLock<FluentBundle<FluentResource>> = LazyLock::new(|| build_bundle(Lang::Nl));
static EN: LazyLock<FluentBundle<FluentResource>> = LazyLock::new(|| build_bundle(Lang::En));

fn bundle(lang: Lang) -> &'static FluentBundle<FluentResource> {
    match lang {
        Lang::Nl => &NL,
        Lang::En => &EN,
    }
}

/// Arguments for [`tr_with`]: strings and numbers (numbers select plural forms).
#[derive(Default)]
pub struct Args<'a>(FluentArgs<'a>);

impl<'a> Args<'a> {
    /// No arguments.
    pub fn new() -> Self {
        Args(FluentArgs::new())
    }
    /// A text argument, inserted as is.
    pub fn str(mut self, name: &'a str, value: &'a str) -> Self {
        self.0.set(name, value);
        self
    }
    /// A number argument (plural selection: `{ $n -> [one] ... *[other] ... }`).
    pub fn num(mut self, name: &'a str, value: i64) -> Self {
        self.0.set(name, value);
        self
    }
}

fn format(lang: Lang, id: &str, args: Option<&FluentArgs>) -> String {
    let b = bundle(lang);
    let Some(pattern) = b.get_message(id).and_then(|m| m.value()) else {
        tracing::warn!(id, lang = lang.as_str(), "missing translation");
        return id.to_string();
    };
    let mut errors = Vec::new();
    let out = b.format_pattern(pattern, args, &mut errors).into_owned();
    if !errors.is_empty() {
        tracing::warn!(
            id,
            lang = lang.as_str(),
            ?errors,
            "translation formatted with errors"
        );
    }
    out
}

/// The text `id` without arguments.
pub fn tr(lang: Lang, id: &str) -> String {
    format(lang, id, None)
}

/// The text `id` with text arguments (`&[("org", org)]` for `{ $org }`).
pub fn tr_args(lang: Lang, id: &str, args: &[(&str, &str)]) -> String {
    let mut fa = FluentArgs::with_capacity(args.len());
    for (k, v) in args {
        fa.set(*k, FluentValue::from(*v));
    }
    format(lang, id, Some(&fa))
}

/// The text `id` with text and number arguments.
pub fn tr_with(lang: Lang, id: &str, args: &Args) -> String {
    format(lang, id, Some(&args.0))
}

/// The markup `id` (an id ending in `-html`) with its text arguments HTML-escaped; insert the
/// result unescaped. The catalog text itself is trusted markup.
pub fn tr_html(lang: Lang, id: &str, args: &[(&str, &str)]) -> String {
    let escaped: Vec<(&str, String)> = args
        .iter()
        .map(|(k, v)| (*k, html_escape::encode_safe(v).into_owned()))
        .collect();
    let refs: Vec<(&str, &str)> = escaped.iter().map(|(k, v)| (*k, v.as_str())).collect();
    tr_args(lang, id, &refs)
}

/// Negotiates a page language from an `Accept-Language` header: the one of `nl` and `en` with
/// the highest q-value (the earlier one on a tie); `None` when neither is acceptable.
pub fn from_accept_language(header: &str) -> Option<Lang> {
    let mut best: Option<(Lang, f32)> = None;
    for item in header.split(',') {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or("").trim();
        let primary = tag.split(['-', '_']).next().unwrap_or("");
        let Some(lang) = Lang::parse(primary) else {
            continue;
        };
        let mut q = 1.0f32;
        for p in parts {
            if let Some(v) = p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")) {
                q = v.trim().parse().unwrap_or(0.0);
            }
        }
        if q <= 0.0 || !q.is_finite() {
            continue;
        }
        if best.is_none_or(|(_, bq)| q > bq) {
            best = Some((lang, q));
        }
    }
    best.map(|(l, _)| l)
}

// ---------- dates, durations, sizes, kinds ----------

/// `ts` in Amsterdam time (CET/CEST by the EU rule: summer time from the last Sunday of March
/// to the last Sunday of October, 01:00 UTC).
fn amsterdam(ts: Ts) -> time::OffsetDateTime {
    use time::{Date, Month, OffsetDateTime, UtcOffset, Weekday};
    let utc = ts.to_datetime();
    let last_sunday = |y: i32, m: Month| -> Option<OffsetDateTime> {
        let mut d = Date::from_calendar_date(y, m, 31).ok()?;
        while d.weekday() != Weekday::Sunday {
            d = d.previous_day()?;
        }
        Some(d.with_hms(1, 0, 0).ok()?.assume_utc())
    };
    let y = utc.year();
    let summer = match (last_sunday(y, Month::March), last_sunday(y, Month::October)) {
        (Some(a), Some(b)) => utc >= a && utc < b,
        _ => false,
    };
    let off = UtcOffset::from_hms(if summer { 2 } else { 1 }, 0, 0).unwrap_or(UtcOffset::UTC);
    utc.to_offset(off)
}

/// The start (00:00 in Amsterdam) of `date`.
pub fn amsterdam_day_start(date: time::Date) -> Ts {
    let utc_midnight = date.midnight().assume_utc();
    let guess = Ts((utc_midnight.unix_timestamp()) * 1000);
    let offset_ms = i64::from(amsterdam(guess).offset().whole_seconds()) * 1000;
    Ts(guess.0 - offset_ms)
}

/// The time of day in Amsterdam, `14:05`.
pub fn time_of_day(ts: Ts) -> String {
    let l = amsterdam(ts);
    format!("{:02}:{:02}", l.hour(), l.minute())
}

/// Date and time in Amsterdam: `23 november 2026 om 14:05` / `23 November 2026 at 14:05`.
pub fn datetime(lang: Lang, ts: Ts) -> String {
    let l = amsterdam(ts);
    let month = tr(lang, &format!("month-{}", u8::from(l.month())));
    let (day, year, time) = (l.day().to_string(), l.year().to_string(), time_of_day(ts));
    tr_args(
        lang,
        "datetime",
        &[
            ("day", &day),
            ("month", &month),
            ("year", &year),
            ("time", &time),
        ],
    )
}

/// A wait in words, rounded up to whole minutes (at least one): `een minuut`, `15 minuten`,
/// `2 uur`.
pub fn duration(lang: Lang, secs: u64) -> String {
    let minutes = secs.div_ceil(60).max(1);
    if minutes >= 120 {
        let hours = i64::try_from(minutes.div_ceil(60)).unwrap_or(i64::MAX);
        tr_with(lang, "duration-hours", &Args::new().num("hours", hours))
    } else {
        let minutes = i64::try_from(minutes).unwrap_or(i64::MAX);
        tr_with(
            lang,
            "duration-minutes",
            &Args::new().num("minutes", minutes),
        )
    }
}

/// A file size: `512 bytes`, `12 kB`, `1,5 MB` / `1.5 MB`.
pub fn file_size(lang: Lang, bytes: i64) -> String {
    let n = bytes.max(0);
    if n < 1024 {
        tr_with(lang, "size-bytes", &Args::new().num("n", n))
    } else if n < 1024 * 1024 {
        let kb = format!("{:.0}", n as f64 / 1024.0);
        tr_args(lang, "size-kb", &[("n", &kb)])
    } else {
        let mb = format!("{:.1}", n as f64 / 1024.0 / 1024.0)
            .replace('.', &lang.decimal_separator().to_string());
        tr_args(lang, "size-mb", &[("n", &mb)])
    }
}

/// What kind of file this is, for people: `PDF-document`, `afbeelding`, `DOCX-bestand` ...
pub fn file_kind(lang: Lang, content_type: &str, name: &str) -> String {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_lowercase())
        .filter(|e| !e.is_empty() && e.len() <= 8 && e.chars().all(|c| c.is_ascii_alphanumeric()))
        .unwrap_or_default();
    let id = match (content_type, ext.as_str()) {
        (_, "pdf") | ("application/pdf", _) => "kind-pdf",
        (t, _) if t.starts_with("image/") => "kind-image",
        (_, "doc" | "docx") => "kind-word",
        (_, "xls" | "xlsx") => "kind-excel",
        (_, "txt") => "kind-text",
        _ if !ext.is_empty() => {
            return tr_args(lang, "kind-ext", &[("ext", &ext.to_uppercase())]);
        }
        _ => "kind-other",
    };
    tr(lang, id)
}

#[cfg(test)]
#[path = "i18n_props.rs"]
mod props;

#[cfg(test)]
mod tests {
    use super::*;
    use fluent_syntax::ast::{Entry, Expression, InlineExpression, Pattern, PatternElement};
    use std::collections::BTreeSet;

    fn ids(lang: Lang) -> BTreeSet<String> {
        let res = fluent_syntax::parser::parse(catalog(lang))
            .unwrap_or_else(|(_, e)| panic!("{}: {e:?}", lang.as_str()));
        res.body
            .iter()
            .filter_map(|e| match e {
                Entry::Message(m) => Some(m.id.name.to_string()),
                Entry::Junk { content } => panic!("junk in {}: {content}", lang.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Variables of a pattern: (name, used as a plural selector).
    fn vars(p: &Pattern<&str>, out: &mut Vec<(String, bool)>) {
        fn inline(e: &InlineExpression<&str>, selector: bool, out: &mut Vec<(String, bool)>) {
            match e {
                InlineExpression::VariableReference { id } => {
                    out.push((id.name.to_string(), selector))
                }
                InlineExpression::Placeable { expression } => expr(expression, out),
                _ => {}
            }
        }
        fn expr(e: &Expression<&str>, out: &mut Vec<(String, bool)>) {
            match e {
                Expression::Inline(i) => inline(i, false, out),
                Expression::Select { selector, variants } => {
                    inline(selector, true, out);
                    for v in variants {
                        vars(&v.value, out);
                    }
                }
            }
        }
        for el in &p.elements {
            if let PatternElement::Placeable { expression } = el {
                expr(expression, out);
            }
        }
    }

    #[test]
    fn both_catalogs_define_the_same_ids() {
        let nl = ids(Lang::Nl);
        let en = ids(Lang::En);
        assert!(nl.len() > 50, "{}", nl.len());
        let only_nl: Vec<_> = nl.difference(&en).collect();
        let only_en: Vec<_> = en.difference(&nl).collect();
        assert!(
            only_nl.is_empty() && only_en.is_empty(),
            "only in nl: {only_nl:?}; only in en: {only_en:?}"
        );
    }

    #[test]
    fn every_message_formats_without_errors_given_its_args() {
        for lang in Lang::ALL {
            let res = fluent_syntax::parser::parse(catalog(lang)).unwrap();
            for entry in &res.body {
                let Entry::Message(m) = entry else { continue };
                let value = m.value.as_ref().expect("every message has a value");
                let mut vs = Vec::new();
                vars(value, &mut vs);
                let mut args = FluentArgs::new();
                for (name, selector) in &vs {
                    if *selector {
                        args.set(name.clone(), 3);
                    } else {
                        args.set(name.clone(), "x");
                    }
                }
                let b = bundle(lang);
                let pattern = b.get_message(m.id.name).unwrap().value().unwrap();
                let mut errors = Vec::new();
                let out = b.format_pattern(pattern, Some(&args), &mut errors);
                assert!(
                    errors.is_empty(),
                    "{} {}: {errors:?}",
                    lang.as_str(),
                    m.id.name
                );
                assert!(!out.trim().is_empty(), "{} {}", lang.as_str(), m.id.name);
                assert!(
                    !out.contains('\u{2068}') && !out.contains('\u{2069}'),
                    "no bidi isolation marks"
                );
            }
        }
    }

    #[test]
    fn the_same_ids_take_the_same_arguments_in_both_languages() {
        let parse = |lang| {
            let res = fluent_syntax::parser::parse(catalog(lang)).unwrap();
            res.body
                .iter()
                .filter_map(|e| match e {
                    Entry::Message(m) => {
                        let mut vs = Vec::new();
                        vars(m.value.as_ref().unwrap(), &mut vs);
                        let names: BTreeSet<String> = vs.into_iter().map(|(n, _)| n).collect();
                        Some((m.id.name.to_string(), names))
                    }
                    _ => None,
                })
                .collect::<std::collections::BTreeMap<_, _>>()
        };
        assert_eq!(parse(Lang::Nl), parse(Lang::En));
    }

    #[test]
    fn plurals_follow_the_number() {
        assert_eq!(duration(Lang::Nl, 30), "een minuut");
        assert_eq!(duration(Lang::Nl, 60), "een minuut");
        assert_eq!(duration(Lang::Nl, 61), "2 minuten");
        assert_eq!(duration(Lang::Nl, 900), "15 minuten");
        assert_eq!(duration(Lang::En, 5), "a minute");
        assert_eq!(duration(Lang::En, 900), "15 minutes");
        assert_eq!(duration(Lang::Nl, 3 * 3600), "3 uur");
        assert_eq!(duration(Lang::En, 3 * 3600), "3 hours");
        let wrong = |lang, n| tr_with(lang, "code-wrong", &Args::new().num("remaining", n));
        assert!(wrong(Lang::Nl, 4).contains("nog 4 keer proberen"));
        assert!(wrong(Lang::Nl, 1).contains("nog 1 keer proberen"));
        assert!(wrong(Lang::En, 4).ends_with("try 4 more times."));
        assert!(wrong(Lang::En, 1).ends_with("try 1 more time."));
        assert_eq!(file_size(Lang::En, 1), "1 byte");
        assert_eq!(file_size(Lang::Nl, 512), "512 bytes");
    }

    #[test]
    fn a_missing_id_returns_the_id() {
        assert_eq!(tr(Lang::Nl, "no-such-message"), "no-such-message");
        assert_eq!(
            tr_args(Lang::En, "no-such-message", &[("a", "b")]),
            "no-such-message"
        );
    }

    #[test]
    fn html_arguments_are_escaped_but_the_markup_is_kept() {
        let out = tr_html(
            Lang::Nl,
            "landing-intro-html",
            &[("sender", "<script>x</script>"), ("org", "A & B")],
        );
        assert!(out.starts_with("<strong>&lt;script&gt;"), "{out}");
        assert!(out.contains("A &amp; B"), "{out}");
    }

    #[test]
    fn languages_parse_and_negotiate() {
        assert_eq!(Lang::parse("EN"), Some(Lang::En));
        assert_eq!(Lang::parse("de"), None);
        assert_eq!(Lang::from_stored(""), Lang::Nl);
        assert_eq!(from_accept_language("en-GB,en;q=0.9"), Some(Lang::En));
        assert_eq!(
            from_accept_language("de-DE, en;q=0.5, nl;q=0.7"),
            Some(Lang::Nl)
        );
        assert_eq!(from_accept_language("en;q=0.7, nl;q=0.7"), Some(Lang::En));
        assert_eq!(from_accept_language("fr, de"), None);
        assert_eq!(from_accept_language("en;q=0, nl;q=0.1"), Some(Lang::Nl));
        assert_eq!(from_accept_language(""), None);
    }

    #[test]
    fn dates_are_in_amsterdam_time_in_both_languages() {
        // 2026-07-01 10:00 UTC = 12:00 CEST; 2026-11-23 09:00 UTC = 10:00 CET.
        assert_eq!(
            datetime(Lang::Nl, Ts(1_782_900_000_000)),
            "1 juli 2026 om 12:00"
        );
        assert_eq!(
            datetime(Lang::Nl, Ts(1_795_424_400_000)),
            "23 november 2026 om 10:00"
        );
        assert_eq!(
            datetime(Lang::En, Ts(1_795_424_400_000)),
            "23 November 2026 at 10:00"
        );
        assert_eq!(time_of_day(Ts(1_795_424_400_000)), "10:00");
    }

    #[test]
    fn sizes_and_kinds_are_localised() {
        assert_eq!(file_size(Lang::Nl, 1_572_864), "1,5 MB");
        assert_eq!(file_size(Lang::En, 1_572_864), "1.5 MB");
        assert_eq!(file_size(Lang::En, 12 * 1024), "12 kB");
        assert_eq!(file_kind(Lang::Nl, "application/pdf", "a"), "PDF-document");
        assert_eq!(
            file_kind(Lang::En, "application/octet-stream", "a.PDF"),
            "PDF document"
        );
        assert_eq!(file_kind(Lang::Nl, "image/png", "scan"), "afbeelding");
        assert_eq!(file_kind(Lang::Nl, "", "brief.odt"), "ODT-bestand");
        assert_eq!(file_kind(Lang::En, "", "brief.odt"), "ODT file");
        assert_eq!(file_kind(Lang::En, "", "brief"), "file");
    }

    #[test]
    fn code_texts_hold_no_digits_besides_the_code() {
        for lang in Lang::ALL {
            for id in [
                "code-mail-subject",
                "code-mail-code",
                "code-mail-validity",
                "code-sms",
            ] {
                let out = tr_args(lang, id, &[("org", "Ziekenhuis"), ("code", "CODE")]);
                assert!(!out.chars().any(|c| c.is_ascii_digit()), "{id}: {out}");
            }
        }
    }
}

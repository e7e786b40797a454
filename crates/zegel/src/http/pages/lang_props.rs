//! Property tests of the page language: whatever a request carries (`?lang=`, a `zegel_lang`
//! cookie, `Accept-Language`, any bytes a header may hold), negotiation never panics, the
//! language is Dutch or English, and the order query > cookie > header > Dutch holds.

use super::{PageLang, LANG_COOKIE};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use proptest::prelude::*;
use zegel_core::i18n::{self, Lang};

/// Bytes a client can put in a header value (visible ASCII, space, tab, obs-text).
fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(
            prop_oneof![0x20u8..0x7f, Just(b'\t'), 0x80u8..=0xff],
            0..48
        ),
        "(nl|en|NL|En|de|fr|\\*)(-[A-Z]{2})?(;q=0\\.[0-9])?(, ?(nl|en|de)(;q=[01](\\.[0-9])?)?){0,3}"
            .prop_map(String::into_bytes),
    ]
}

fn query() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        Just("lang=en".to_string()),
        Just("lang=nl".to_string()),
        Just("lang=EN&x=1".to_string()),
        Just("lang=xx".to_string()),
        Just("lang=%65n".to_string()),
        "[a-z=&%0-9+]{0,20}",
        any::<String>(),
    ])
}

fn cookie() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        Just(format!("{LANG_COOKIE}=en")),
        Just(format!("{LANG_COOKIE}=nl")),
        Just(format!("other=1; {LANG_COOKIE}=en")),
        Just(format!("{LANG_COOKIE}=de")),
        "[a-z_]{1,10}=[a-z0-9]{0,6}(; [a-z_]{1,10}=[a-z0-9]{0,6}){0,2}",
    ])
}

fn method() -> impl Strategy<Value = Method> {
    prop::sample::select(vec![Method::GET, Method::HEAD, Method::POST, Method::PUT])
}

/// The query's language, read as the negotiation reads it.
fn from_query(q: &str) -> Option<Lang> {
    url::form_urlencoded::parse(q.as_bytes())
        .filter(|(k, _)| k == "lang")
        .find_map(|(_, v)| Lang::parse(&v))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn negotiation_follows_query_then_cookie_then_accept_language_then_dutch(
        m in method(),
        q in query(),
        c in cookie(),
        accept in prop::option::of(header_bytes()),
    ) {
        let mut h = HeaderMap::new();
        let mut accept_text = None;
        if let Some(bytes) = &accept {
            if let Ok(v) = HeaderValue::from_bytes(bytes) {
                accept_text = v.to_str().ok().map(str::to_owned);
                h.insert(header::ACCEPT_LANGUAGE, v);
            }
        }
        let mut cookie_lang = None;
        if let Some(c) = &c {
            if let Ok(v) = HeaderValue::from_str(c) {
                h.insert(header::COOKIE, v);
                cookie_lang = c
                    .split(';')
                    .filter_map(|kv| kv.trim().split_once('='))
                    .find(|(k, _)| *k == LANG_COOKIE)
                    .and_then(|(_, v)| Lang::parse(v));
            }
        }
        let pl = PageLang::negotiate(&m, &h, q.as_deref(), false);
        prop_assert!(matches!(pl.lang, Lang::Nl | Lang::En));

        let may_switch = m == Method::GET || m == Method::HEAD;
        let query_lang = q.as_deref().and_then(from_query).filter(|_| may_switch);
        let expected = query_lang
            .or(cookie_lang)
            .or_else(|| accept_text.as_deref().and_then(i18n::from_accept_language))
            .unwrap_or(Lang::Nl);
        prop_assert_eq!(pl.lang, expected);
        // Only a GET/HEAD with a valid `?lang=` is remembered (sets the cookie).
        prop_assert_eq!(pl.chosen, query_lang.is_some());
        // The switch link points at the other language.
        let view = pl.view("/m/x".into());
        let want = format!("?lang={}", pl.lang.other().as_str());
        prop_assert!(view.switch_href.ends_with(&want), "{}", view.switch_href);
    }
}

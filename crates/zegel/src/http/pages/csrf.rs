//! CSRF protection of every form: a double-submit token (an `HttpOnly`, `SameSite=Strict`
//! cookie `zegel_csrf` whose value the form repeats in its `csrf` field) plus an Origin check,
//! and the page a failed check answers with.

use super::chrome::View;
use super::problem::problem;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::Deserialize;
use zegel_core::i18n::tr;

const CSRF_COOKIE: &str = "zegel_csrf";

/// A form with nothing but its CSRF token.
#[derive(Deserialize)]
pub struct CsrfForm {
    /// The token the page put in the form.
    #[serde(default)]
    pub csrf: String,
}

/// The CSRF cookie value, created when missing (cookie scoped to `path`, `Secure` when
/// `secure`).
pub fn csrf_token(jar: CookieJar, path: &'static str, secure: bool) -> (CookieJar, String) {
    if let Some(c) = jar.get(CSRF_COOKIE) {
        if c.value().len() == 43 {
            let v = c.value().to_string();
            return (jar, v);
        }
    }
    let v = zegel_crypto::random_token();
    let cookie = Cookie::build((CSRF_COOKIE, v.clone()))
        .path(path)
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .build();
    (jar.add(cookie), v)
}

/// Whether a form POST may proceed: the `presented` token equals its cookie (constant time),
/// and the `Origin`, when one is sent, is this host.
pub fn csrf_ok(jar: &CookieJar, headers: &HeaderMap, presented: &str) -> bool {
    if !origin_ok(headers) {
        return false;
    }
    match jar.get(CSRF_COOKIE) {
        Some(c) => {
            zegel_crypto::ct_eq(c.value().as_bytes(), presented.as_bytes()) && !presented.is_empty()
        }
        None => false,
    }
}

/// Whether the `Origin` of a form POST, when one is sent, is this host.
pub fn origin_ok(headers: &HeaderMap) -> bool {
    // A real browser's same-origin form POST under our `Referrer-Policy: no-referrer` carries
    // `Origin: null` (Fetch, "serializing a request origin"), so "null" counts as no Origin.
    // The CSRF token still decides: the double-submit cookie is SameSite=Strict and HttpOnly
    // and a sender session's token is tied to its SameSite=Strict cookie, so a cross-site or
    // opaque-origin POST never carries them.
    let Some(origin) = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|o| *o != "null")
    else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or("");
    origin_host == host
}

/// The 403 page of a failed check, with a link `back` to where the form can be had again.
pub fn csrf_failed(v: &View, back: String) -> Response {
    let l = v.lang;
    problem(
        v,
        StatusCode::FORBIDDEN,
        "Zegel",
        "problem-csrf-title",
        vec![tr(l, "problem-csrf-back"), tr(l, "problem-csrf-cookies")],
        Some(back),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn csrf_needs_the_token_and_a_same_or_null_origin() {
        let token = "t".repeat(43);
        let jar = CookieJar::new().add(Cookie::new(CSRF_COOKIE, token.clone()));
        let headers = |origin: Option<&str>| {
            let mut h = HeaderMap::new();
            h.insert(header::HOST, HeaderValue::from_static("zegel.example"));
            if let Some(o) = origin {
                h.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
            }
            h
        };
        assert!(csrf_ok(&jar, &headers(None), &token));
        assert!(csrf_ok(
            &jar,
            &headers(Some("https://zegel.example")),
            &token
        ));
        assert!(csrf_ok(&jar, &headers(Some("null")), &token));
        assert!(!csrf_ok(
            &jar,
            &headers(Some("https://evil.example")),
            &token
        ));
        assert!(!csrf_ok(&jar, &headers(Some("null")), "wrong"));
        assert!(!csrf_ok(&CookieJar::new(), &headers(Some("null")), &token));
    }
}

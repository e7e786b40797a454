//! Problem pages (`problem.html`: a title, paragraphs, maybe a link back) for what any page
//! can run into: not found, locked, rate limited, a failed or internal error; and
//! `PageError`, the early answer page handlers return with `?`.
//!
//! Errors are decided on `zegel_core::Error` variants, never on their text.

use super::chrome::{render, Chrome, Org, View};
use super::lang::PageLang;
use crate::http::error::status_of;
use crate::http::InternalError;
use askama::Template;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use zegel_core::i18n::{self, tr, tr_args};
use zegel_core::model::Ts;
use zegel_core::Error;

/// An early answer of a page handler: an error page, a refusal or a redirect. Handlers return
/// `Result<Response, PageError>` and stop with `?`; any page `Response` converts into one.
#[derive(Debug)]
pub struct PageError(Response);

impl From<Response> for PageError {
    fn from(page: Response) -> Self {
        PageError(page)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        self.0
    }
}

#[derive(Template)]
#[template(path = "problem.html")]
struct ProblemPage<'a> {
    chrome: Chrome<'a>,
    title: String,
    paragraphs: Vec<String>,
    /// A link back (to the start), when there is one.
    back: Option<String>,
}

/// A problem page: `title` is a text id, `paragraphs` are texts already in the page language.
pub fn problem<'a>(
    v: &View,
    status: StatusCode,
    org: impl Into<Org<'a>>,
    title: &str,
    paragraphs: Vec<String>,
    back: Option<String>,
) -> Response {
    render(
        v.lang,
        status,
        &ProblemPage {
            chrome: v.chrome(org),
            title: tr(v.lang, title),
            paragraphs,
            back,
        },
    )
}

/// 404: check the link, or ask whoever sent it.
pub fn not_found(v: &View) -> Response {
    let l = v.lang;
    problem(
        v,
        StatusCode::NOT_FOUND,
        "Zegel",
        "problem-not-found-title",
        vec![
            tr(l, "problem-not-found-check"),
            tr(l, "problem-not-found-contact"),
        ],
        None,
    )
}

/// The page for an unknown path (the router's fallback): honours `?lang=`, the cookie and
/// `Accept-Language`; the switch links to the same path.
pub fn not_found_page(req: &Request) -> Response {
    let pl = PageLang::negotiate(req.method(), req.headers(), req.uri().query(), false);
    // A query-only reference: the same path, whatever it is, on this host.
    not_found(&pl.view(String::new()))
}

/// The page when an address makes too many requests, in the language the request asks for
/// (the switch reloads the same path in the other language).
pub fn rate_limited_page(req: &Request, wait_secs: u64) -> Response {
    let v = PageLang::negotiate(req.method(), req.headers(), req.uri().query(), false)
        .view(String::new());
    let l = v.lang;
    let duration = i18n::duration(l, wait_secs);
    problem(
        &v,
        StatusCode::TOO_MANY_REQUESTS,
        "Zegel",
        "problem-rate-title",
        vec![tr_args(l, "problem-rate-text", &[("duration", &duration)])],
        None,
    )
}

/// 429 after too many wrong codes, with `Retry-After` and the time it opens again.
pub fn locked_page(v: &View, org: &str, retry_after: u64) -> Response {
    let l = v.lang;
    let duration = i18n::duration(l, retry_after);
    let secs = i64::try_from(retry_after).unwrap_or(i64::MAX);
    let at = i18n::time_of_day(Ts::now().plus_secs(secs));
    let mut res = problem(
        v,
        StatusCode::TOO_MANY_REQUESTS,
        org,
        "problem-locked-title",
        vec![
            tr(l, "problem-locked-why"),
            tr_args(
                l,
                "problem-locked-retry",
                &[("duration", &duration), ("time", &at)],
            ),
            tr(l, "problem-locked-not-you"),
        ],
        None,
    );
    if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    res
}

/// The page for a service error no handler answers more specifically: not found, locked, an
/// internal error (its text goes to the request log, never the page), or "that did not work"
/// with the error's status.
pub fn error_page(v: &View, e: &Error) -> Response {
    let l = v.lang;
    match e {
        Error::NotFound => not_found(v),
        Error::Locked { retry_after_secs } => locked_page(v, "Zegel", *retry_after_secs),
        Error::Internal(m) => {
            let mut res = problem(
                v,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Zegel",
                "problem-error-title",
                vec![tr(l, "problem-error-text")],
                None,
            );
            res.extensions_mut().insert(InternalError(m.clone()));
            res
        }
        other => problem(
            v,
            status_of(other),
            "Zegel",
            "problem-failed-title",
            vec![tr(l, "problem-failed-text")],
            None,
        ),
    }
}

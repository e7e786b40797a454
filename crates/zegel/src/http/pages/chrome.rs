//! The frame every page sits in: what `base.html` needs (`Chrome`: the organisation's name
//! and logo, the page language and the link to the other language), rendering a template
//! into a response, and the stylesheet every page links.
//!
//! Templates embed one `chrome: Chrome` field; `base.html` reads `chrome.org`, `chrome.logo`,
//! `chrome.lang` and `chrome.switch_href`, and every page writes its texts as
//! `{{ chrome.lang.t("id") }}`, `{{ chrome.lang.t1("id", "name", value) }}`, markup ids (`-html`)
//! as `{{ chrome.lang.html1(..)|safe }}` (arguments escaped).

use askama::Template;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use zegel_core::i18n::{tr, Lang};

/// The organisation a page speaks for: its name, and its logo when it has one.
pub struct Org<'a> {
    /// The name shown in the header and the title.
    pub name: &'a str,
    /// The logo URL (`/logo/{org_id}`), when the organisation has a logo.
    pub logo: Option<String>,
}

impl<'a> Org<'a> {
    /// An organisation by name and id; the logo is linked only when it has one.
    pub fn new(name: &'a str, org_id: &str, has_logo: bool) -> Self {
        Org {
            name,
            logo: has_logo.then(|| format!("/logo/{}", segment(org_id))),
        }
    }
}

/// A name without a logo (`"Zegel"` on pages that speak for no organisation).
impl<'a> From<&'a str> for Org<'a> {
    fn from(name: &'a str) -> Self {
        Org { name, logo: None }
    }
}

/// The request's side of the frame, known before the organisation is: the page language and
/// the link to this page in the other language (from `PageLang::view`).
pub struct View {
    /// The language the page is written in.
    pub lang: Lang,
    /// This page in the other language (`{here}?lang=en`).
    pub switch_href: String,
}

impl View {
    /// The frame of a page speaking for `org`.
    pub fn chrome<'a>(&self, org: impl Into<Org<'a>>) -> Chrome<'a> {
        let org = org.into();
        Chrome {
            org: org.name,
            logo: org.logo,
            lang: self.lang,
            switch_href: self.switch_href.clone(),
        }
    }
}

/// What `base.html` shows on every page; each page template has one `chrome` field.
pub struct Chrome<'a> {
    /// The organisation's name.
    pub org: &'a str,
    /// The organisation's logo URL, when it has one.
    pub logo: Option<String>,
    /// The page language (`<html lang>`, every text).
    pub lang: Lang,
    /// The language switch link.
    pub switch_href: String,
}

/// A template as an HTML response with `status`; a template that fails to render is logged
/// and answered with a plain 500 in `lang`.
pub fn render<T: Template>(lang: Lang, status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                tr(lang, "error-fallback"),
            )
                .into_response()
        }
    }
}

/// A path segment, percent-encoded (ids and tokens keep `-` and `_`).
pub fn segment(s: &str) -> String {
    const SEGMENT: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_');
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

/// `/static/zegel.css`, the one stylesheet of every page (cached for an hour).
pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../../static/zegel.css"),
    )
        .into_response()
}

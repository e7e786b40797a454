//! What every server-rendered HTML page shares, whoever it is for (the recipient's viewer
//! today, the sender's web app next):
//!
//! - `lang`: the page language (`?lang=` on a GET, remembered in the `zegel_lang` cookie, else
//!   that cookie, else `Accept-Language`, else Dutch) and the link to the other language;
//! - `csrf`: the double-submit CSRF cookie and the Origin check every form POST passes;
//! - `chrome`: the frame of every page (`base.html`: organisation, logo, language, switch
//!   link), rendering, and the stylesheet;
//! - `problem`: the problem pages (not found, locked, failed, rate limited) and
//!   `PageError`, which handlers return them through with `?`.
//!
//! Nothing here knows about links, recipients or messages; `viewer` builds on it.

pub mod chrome;
pub mod csrf;
pub mod lang;
pub mod problem;

pub use chrome::{render, stylesheet, Chrome, Org, View};
pub use csrf::{csrf_failed, csrf_ok, csrf_token, CsrfForm};
pub use lang::PageLang;
pub use problem::{
    error_page, locked_page, not_found, not_found_page, problem, rate_limited_page, PageError,
};

use axum::response::{IntoResponse, Redirect, Response};

/// A `303 See Other` to `path`: after a POST, or to send a visitor to another page.
pub fn see_other(path: String) -> Response {
    Redirect::to(&path).into_response()
}

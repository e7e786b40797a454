//! What every recipient handler starts from: the link (active, or gone with its page), the
//! checked form POST, and the recipient session from its cookie; paths under `/m/{token}`.

use crate::http::pages::chrome::segment;
use crate::http::pages::{
    csrf_failed, csrf_ok, error_page, not_found, problem, see_other, Org, PageError, View,
};
use crate::http::AppState;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum_extra::extract::cookie::CookieJar;
use zegel_core::i18n::{self, tr, tr_args};
use zegel_core::model::RecipientAccess;
use zegel_core::service::{LinkInfo, LinkState, RecipientSession};
use zegel_core::{Error, GoneReason};

// CONTRACT: the session cookie name starts with `zegel_`.
pub(super) const SESSION_COOKIE: &str = "zegel_session";
/// The CSRF cookie's path: every recipient form is under `/m/`.
pub(super) const CSRF_PATH: &str = "/m/";

/// A path under `/m/{token}` with the token percent-encoded (it comes from the request).
pub(super) fn here(token: &str, rest: &str) -> String {
    format!("/m/{}{rest}", segment(token))
}

impl<'a> From<&'a LinkInfo> for Org<'a> {
    fn from(info: &'a LinkInfo) -> Self {
        Org::new(&info.org_name, &info.org_id, info.policy.has_logo)
    }
}

impl<'a> From<&'a RecipientAccess> for Org<'a> {
    fn from(a: &'a RecipientAccess) -> Self {
        Org::new(&a.org_name, &a.message.org_id, a.org_has_logo)
    }
}

/// The active link, or the page for a gone, unknown or failing one.
pub(super) async fn link_or_page(
    s: &AppState,
    v: &View,
    token: &str,
) -> Result<LinkInfo, PageError> {
    match s.z.link(token).await {
        Ok(LinkState::Active(info)) => Ok(info),
        Ok(LinkState::Gone(reason, info)) => Err(gone_page(v, reason, &info).into()),
        Err(e) => Err(error_page(v, &e).into()),
    }
}

/// Every POST: the CSRF token must match its cookie (and the Origin, if sent), and the link
/// must be active.
pub(super) async fn checked_post(
    s: &AppState,
    v: &View,
    token: &str,
    jar: &CookieJar,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<LinkInfo, PageError> {
    if !csrf_ok(jar, headers, csrf) {
        return Err(csrf_failed(v, here(token, "")).into());
    }
    link_or_page(s, v, token).await
}

/// The recipient session from the cookie; without a valid one, back to the landing page.
pub(super) async fn session_or_page(
    s: &AppState,
    v: &View,
    token: &str,
    jar: &CookieJar,
) -> Result<RecipientSession, PageError> {
    let Some(cookie) = jar.get(SESSION_COOKIE) else {
        return Err(see_other(here(token, "")).into());
    };
    match s.z.recipient_session(token, cookie.value()).await {
        Ok(sess) => Ok(sess),
        Err(Error::Unauthorized | Error::Forbidden) => Err(see_other(here(token, "")).into()),
        Err(Error::Gone(_)) => Err(gone_or_not_found(s, v, token).await),
        Err(e) => Err(error_page(v, &e).into()),
    }
}

/// The page for a link found gone behind a session: the link's own page (gone, or its
/// error), else not found.
pub(super) async fn gone_or_not_found(s: &AppState, v: &View, token: &str) -> PageError {
    match link_or_page(s, v, token).await {
        Err(page) => page,
        Ok(_) => not_found(v).into(),
    }
}

/// 410 for an expired or revoked link: since when, and whom to contact.
pub(super) fn gone_page(v: &View, reason: GoneReason, info: &LinkInfo) -> Response {
    let l = v.lang;
    let mut contact = tr_args(
        l,
        "problem-gone-contact",
        &[("sender", &info.sender_name), ("org", &info.org_name)],
    );
    if let Some(c) = &info.policy.contact {
        contact.push(' ');
        contact.push_str(&tr_args(l, "message-contact", &[("contact", c)]));
    }
    match reason {
        GoneReason::Expired => {
            let date = i18n::datetime(l, info.expires_at);
            problem(
                v,
                StatusCode::GONE,
                info,
                "problem-expired-title",
                vec![
                    tr_args(l, "problem-expired-text", &[("date", &date)]),
                    contact,
                ],
                None,
            )
        }
        GoneReason::Revoked => problem(
            v,
            StatusCode::GONE,
            info,
            "problem-revoked-title",
            vec![tr(l, "problem-revoked-text"), contact],
            None,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_in_links_are_encoded() {
        assert_eq!(here("abc-_9", "/code"), "/m/abc-_9/code");
        assert_eq!(here("/evil\"x", ""), "/m/%2Fevil%22x");
    }
}

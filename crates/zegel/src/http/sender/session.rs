//! The signed-in sender: the `zegel_sender` cookie, the session behind it, and the CSRF
//! token every signed-in form repeats.
//!
//! A handler of a signed-in page takes [`SignedIn`] as an extractor: without a live session
//! the visitor is sent to `/inloggen` (with `?next=` the page asked for, on a GET). Sign-in
//! ends with [`sign_in_redirect`]; sign-out with [`clear_cookie`].

use crate::http::pages::csrf::origin_ok;
use crate::http::AppState;
use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use zegel_core::model::{Principal, Ts};

/// The sender session cookie (DESIGN: "Sender web app").
pub const SESSION_COOKIE: &str = "zegel_sender";

/// A request of a signed-in sender.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The user, organisation and policy.
    pub principal: Principal,
    /// The session's CSRF token: every signed-in form has it in a hidden field `csrf`.
    pub csrf: String,
    /// SHA-256 of the cookie value (to keep this session when ending the user's others).
    pub token_hash: [u8; 32],
    /// When the user signed in.
    pub started_at: Ts,
    /// The cookie value (sign-out ends exactly this session).
    token: String,
}

impl SignedIn {
    /// Whether a signed-in form POST may proceed: `presented` is this session's CSRF token
    /// (constant time) and the `Origin`, when one is sent, is this host.
    pub fn csrf_ok(&self, headers: &HeaderMap, presented: &str) -> bool {
        origin_ok(headers)
            && !presented.is_empty()
            && zegel_crypto::ct_eq(self.csrf.as_bytes(), presented.as_bytes())
    }

    /// The cookie value of this session (to end it at sign-out).
    pub fn token(&self) -> &str {
        &self.token
    }
}

/// The cookie value of a request, if it has one.
pub fn cookie_token(headers: &HeaderMap) -> Option<String> {
    CookieJar::from_headers(headers)
        .get(SESSION_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| v.len() == 43)
}

/// `next` when it is a path on this site (`/...`, not `//...` or `/\...`), else `None`: a
/// redirect after sign-in never leaves the site.
pub fn safe_next(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(|c| c.is_control());
    ok.then_some(next)
}

/// Where an unsigned visitor is sent: `/inloggen`, with the page asked for on a GET.
fn to_sign_in(parts: &Parts, had_cookie: bool, secure: bool) -> Response {
    let target = if parts.method == Method::GET {
        let here = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        match safe_next(here) {
            Some(p) if p != "/" => format!(
                "/inloggen?next={}",
                url::form_urlencoded::byte_serialize(p.as_bytes()).collect::<String>()
            ),
            _ => "/inloggen".to_string(),
        }
    } else {
        "/inloggen".to_string()
    };
    let mut res = Redirect::to(&target).into_response();
    if had_cookie {
        append_cookie(&mut res, &removal(secure));
    }
    res
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        let secure = s.opts.secure_cookies;
        let Some(token) = cookie_token(&parts.headers) else {
            let had = CookieJar::from_headers(&parts.headers)
                .get(SESSION_COOKIE)
                .is_some();
            return Err(to_sign_in(parts, had, secure));
        };
        match s.z.sender_session(&token).await {
            Ok(Some(session)) => Ok(SignedIn {
                principal: session.principal,
                csrf: session.csrf,
                token_hash: session.token_hash,
                started_at: session.started_at,
                token,
            }),
            Ok(None) => Err(to_sign_in(parts, true, secure)),
            Err(e) => {
                tracing::error!(error = %e, "sender session lookup failed");
                Err(StatusCode::INTERNAL_SERVER_ERROR.into_response())
            }
        }
    }
}

/// The session cookie for `token`: HttpOnly, SameSite=Strict, Secure on https, path `/`, no
/// expiry of its own (the server ends the session).
pub fn session_cookie(token: String, secure: bool) -> Cookie<'static> {
    Cookie::build((SESSION_COOKIE, token))
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .build()
}

/// A cookie that removes the session cookie from the browser.
fn removal(secure: bool) -> Cookie<'static> {
    let mut c = session_cookie(String::new(), secure);
    c.make_removal();
    c
}

fn append_cookie(res: &mut Response, c: &Cookie<'_>) {
    if let Ok(v) = HeaderValue::from_str(&c.to_string()) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Starts a session for `user_id` and answers with a 303 to `next` (a path on this site,
/// else `/berichten`) that sets the cookie.
pub async fn sign_in_redirect(
    s: &AppState,
    user_id: &str,
    next: Option<&str>,
) -> zegel_core::Result<Response> {
    let token = s.z.start_sender_session(user_id).await?;
    let to = next.and_then(safe_next).unwrap_or("/berichten");
    let mut res = Redirect::to(to).into_response();
    append_cookie(&mut res, &session_cookie(token, s.opts.secure_cookies));
    Ok(res)
}

/// Adds the removal of the session cookie to `res` (sign-out).
pub fn clear_cookie(res: &mut Response, secure: bool) {
    append_cookie(res, &removal(secure));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_the_site() {
        assert_eq!(safe_next("/berichten/1?x=2"), Some("/berichten/1?x=2"));
        assert_eq!(safe_next("//evil.example/"), None);
        assert_eq!(safe_next("/\\evil.example/"), None);
        assert_eq!(safe_next("https://evil.example/"), None);
        assert_eq!(safe_next("berichten"), None);
        assert_eq!(safe_next("/a\r\nSet-Cookie: x"), None);
    }

    #[test]
    fn the_cookie_is_strict_and_http_only() {
        let c = session_cookie("t".repeat(43), true).to_string();
        assert!(c.starts_with("zegel_sender="));
        assert!(c.contains("HttpOnly"));
        assert!(c.contains("SameSite=Strict"));
        assert!(c.contains("Secure"));
        assert!(c.contains("Path=/"));
        assert!(!c.contains("Max-Age") && !c.contains("Expires"));
    }
}

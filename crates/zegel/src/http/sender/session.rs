//! STUB of the coordinator's sender session seam (helper C builds against its shape until
//! the real one, migration 0005_sender_sessions, lands on main; then this file is replaced
//! by main's). The stub's `zegel_sender` cookie holds an API token of the user.

use crate::http::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use zegel_core::model::Principal;

/// The session cookie (DESIGN.md "Sender web app (contract)").
pub const COOKIE: &str = "zegel_sender";

/// A signed-in sender: absent or expired session -> 303 to `/inloggen`.
pub struct SignedIn {
    /// The user with their organisation and its policy.
    pub principal: Principal,
    /// The CSRF token of every signed-in form (hidden field `csrf`).
    pub csrf: String,
}

impl SignedIn {
    /// Whether a signed-in form's `presented` CSRF token is this session's.
    pub fn csrf_ok(&self, _headers: &HeaderMap, presented: &str) -> bool {
        !presented.is_empty() && zegel_crypto::ct_eq(self.csrf.as_bytes(), presented.as_bytes())
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Response> {
        let jar = CookieJar::from_headers(&parts.headers);
        let Some(token) = jar.get(COOKIE).map(|c| c.value().to_owned()) else {
            return Err(Redirect::to("/inloggen").into_response());
        };
        match s.z.authenticate_api_token(&token).await {
            Ok(principal) => {
                let h = zegel_crypto::token_hash(&format!("csrf:{token}"));
                let csrf = h.iter().map(|b| format!("{b:02x}")).collect();
                Ok(SignedIn { principal, csrf })
            }
            Err(_) => Err(Redirect::to("/inloggen").into_response()),
        }
    }
}

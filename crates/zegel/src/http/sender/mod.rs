//! The sender's web app (DESIGN "Sender web app"): same origin as the viewer,
//! server-rendered, usable without JavaScript. Every page but sign-in and set-up needs a
//! signed-in sender ([`SignedIn`]); every form carries the session's CSRF token; GET changes
//! nothing.
//!
//! - `session`: the `zegel_sender` cookie, the session behind it, sign-in redirect, sign-out;
//! - `layout`: the frame of every signed-in page (navigation, sign-out button);
//! - `compose`: `/berichten/nieuw`, the checks before sending, held messages;
//! - `tracking`: the sent list, a message's status page and its actions (revoke, new link,
//!   extend); `inbox`: replies and forwards, a reply's page and the answer in its thread;
//! - `signin`, `welkom`, `settings`, `accounts`: sign-in, set-up, settings.

mod account_answers;
mod accounts;
pub mod compose;
mod inbox;
pub mod layout;
pub mod session;
mod settings;
mod signin;
mod tracking;
mod welkom;

pub use layout::{Section, SenderNav};
pub use session::SignedIn;

use super::pages::{see_other, PageLang};
use super::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

/// The sender's pages for a signed-in sender (a stranger only gets a redirect to sign-in).
pub fn routes(s: &AppState) -> Router<AppState> {
    Router::new()
        .route("/uitloggen", post(sign_out))
        .merge(accounts::routes())
        .merge(compose::routes(s))
        .merge(tracking_routes(s))
}

/// Following sent messages and the inbox: the sent list, a message's status page and its
/// actions, the inbox, a reply and the answer to it.
fn tracking_routes(s: &AppState) -> Router<AppState> {
    // The answer form: the attachments, the text and room for the multipart framing.
    let answer_limit =
        s.z.settings.max_upload_bytes as usize + s.z.settings.max_body_bytes + (1 << 20);
    Router::new()
        .route("/berichten", get(tracking::sent_list))
        .route("/berichten/{id}", get(tracking::message))
        .route(
            "/berichten/{id}/intrekken",
            get(tracking::revoke_page).post(tracking::revoke),
        )
        .route(
            "/berichten/{id}/ontvangers/{rid}/nieuwe-link",
            post(tracking::new_link),
        )
        .route("/berichten/{id}/verlengen", post(tracking::extend))
        .route("/berichten/{id}/bewijs", get(tracking::receipt))
        .route("/inbox", get(inbox::inbox))
        .route("/inbox/{id}", get(inbox::reply))
        .route("/inbox/{id}/bijlage/{aid}", get(inbox::attachment))
        .route(
            "/inbox/{id}/antwoord",
            post(inbox::answer).layer(axum::extract::DefaultBodyLimit::max(answer_limit)),
        )
}

/// The sender's pages a stranger reaches (sign-in, set-up): behind the stranger rate limit.
pub fn public_routes(_s: &AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .merge(accounts::public_routes())
}

/// `/`: the sent list when signed in, else the sign-in page.
async fn home(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let signed_in = match session::cookie_token(&headers) {
        Some(t) => matches!(s.z.sender_session(&t).await, Ok(Some(_))),
        None => false,
    };
    see_other(if signed_in { "/berichten" } else { "/inloggen" }.to_string())
}

#[derive(Deserialize)]
struct SignOutForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /uitloggen`: ends this session (on the server: the cookie is worthless after) and
/// removes the cookie.
async fn sign_out(
    State(s): State<AppState>,
    lang: PageLang,
    who: SignedIn,
    headers: HeaderMap,
    super::Client(ctx): super::Client,
    Form(f): Form<SignOutForm>,
) -> Response {
    if !who.csrf_ok(&headers, &f.csrf) {
        let v = lang.view("/berichten".to_string());
        return crate::http::pages::csrf_failed(&v, "/berichten".to_string());
    }
    if let Err(e) = s.z.end_sender_session(who.token()).await {
        tracing::error!(error = %e, "sign-out failed");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    if let Err(e) = s.z.record_sign_out(&who.principal.user.id, &ctx).await {
        tracing::error!(error = %e, "recording a sign-out failed");
    }
    tracing::info!(user_id = %who.principal.user.id, "sender signed out");
    let mut res = see_other("/inloggen".to_string());
    session::clear_cookie(&mut res, s.opts.secure_cookies);
    res
}

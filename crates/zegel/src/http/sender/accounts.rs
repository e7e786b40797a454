//! Sender accounts in the web app (issue 13): sign-in (`signin`: password, the second step
//! with a TOTP code or a passkey, a passkey alone), set-up by a one-time link (`welkom`) and
//! the settings page (`settings`: password, TOTP, passkeys, API tokens). What they share:
//! the routes (their answers to errors are in `account_answers`).
//!
//! Forms before sign-in carry the double-submit CSRF token (`zegel_csrf`, scoped to
//! `/inloggen` or `/welkom`); signed-in forms the session's token ([`SignedIn::csrf_ok`]).

use super::settings;
use super::signin;
use super::welkom;
use crate::http::AppState;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

/// The account pages a stranger reaches (sign-in, set-up): behind the stranger rate limit.
pub fn public_routes() -> Router<AppState> {
    Router::new()
        .route("/inloggen", get(signin::page).post(signin::password))
        .route("/inloggen/code", get(signin::code_page).post(signin::code))
        .route("/inloggen/passkey/start", post(signin::passkey_start))
        .route("/inloggen/passkey/finish", post(signin::passkey_finish))
        .route("/welkom/{token}", get(welkom::page).post(welkom::password))
        .route("/welkom/{token}/totp/start", post(welkom::totp_start))
        .route("/welkom/{token}/totp", post(welkom::totp_confirm))
        .route("/welkom/{token}/passkey/start", post(welkom::passkey_start))
        .route(
            "/welkom/{token}/passkey/finish",
            post(welkom::passkey_finish),
        )
        .route("/welkom/{token}/klaar", post(welkom::finish))
        .route("/static/webauthn.js", get(script))
}

/// The settings pages of a signed-in sender.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/instellingen", get(settings::page))
        .route("/instellingen/wachtwoord", post(settings::password))
        .route("/instellingen/totp/start", post(settings::totp_start))
        .route("/instellingen/totp", post(settings::totp_confirm))
        .route(
            "/instellingen/totp/verwijderen",
            post(settings::totp_remove),
        )
        .route(
            "/instellingen/passkeys/start",
            post(settings::passkey_start),
        )
        .route(
            "/instellingen/passkeys/finish",
            post(settings::passkey_finish),
        )
        .route(
            "/instellingen/passkeys/{id}/verwijderen",
            post(settings::passkey_remove),
        )
        .route("/instellingen/smtp", post(settings::smtp_create))
        .route(
            "/instellingen/smtp/{id}/intrekken",
            post(settings::smtp_revoke),
        )
        .route("/instellingen/tokens", post(settings::token_create))
        .route(
            "/instellingen/tokens/{id}/intrekken",
            post(settings::token_revoke),
        )
}

/// `/static/webauthn.js`: the one script of the account pages (passkeys).
async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../../static/webauthn.js"),
    )
        .into_response()
}

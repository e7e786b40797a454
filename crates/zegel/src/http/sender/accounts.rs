//! Sender accounts in the web app (issue 13): sign-in (`signin`: password, the second step
//! with a TOTP code or a passkey, a passkey alone), set-up by a one-time link (`welkom`) and
//! the settings page (`settings`: password, TOTP, passkeys, API tokens). What they share:
//! the routes, the answer to an [`AccountError`], the JSON answers of the WebAuthn script.
//!
//! Forms before sign-in carry the double-submit CSRF token (`zegel_csrf`, scoped to
//! `/inloggen` or `/welkom`); signed-in forms the session's token ([`SignedIn::csrf_ok`]).

use super::settings;
use super::signin;
use super::welkom;
use crate::http::pages::{locked_page, not_found, problem, View};
use crate::http::AppState;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use zegel_core::i18n::tr;
use zegel_core::service::AccountError;

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

/// The page for an account error that no form shows beside its field.
pub(super) fn account_problem(v: &View, e: &AccountError) -> Response {
    let l = v.lang;
    match e {
        AccountError::Locked { retry_after_secs }
        | AccountError::Throttled { retry_after_secs } => {
            locked_page(v, "Zegel", *retry_after_secs)
        }
        AccountError::LinkGone => problem(
            v,
            StatusCode::GONE,
            "Zegel",
            "acct-link-gone-title",
            vec![tr(l, "acct-link-gone-text")],
            None,
        ),
        AccountError::Core(zegel_core::Error::NotFound) => not_found(v),
        AccountError::Core(e) => crate::http::pages::error_page(v, e),
        other => problem(
            v,
            StatusCode::BAD_REQUEST,
            "Zegel",
            "acct-failed-title",
            vec![message(l, other)],
            None,
        ),
    }
}

/// The sentence for an account error shown beside a form.
pub(super) fn message(l: zegel_core::i18n::Lang, e: &AccountError) -> String {
    use zegel_core::service::WeakPassword;
    tr(
        l,
        match e {
            AccountError::WrongCredentials => "acct-wrong-credentials",
            AccountError::WrongCode { .. } => "acct-wrong-code",
            AccountError::Expired => "acct-expired",
            AccountError::SecondFactorRequired => "acct-second-factor-required",
            AccountError::WeakPassword(WeakPassword::TooShort) => "acct-password-too-short",
            AccountError::WeakPassword(WeakPassword::Guessable) => "acct-password-guessable",
            AccountError::WrongCurrentPassword => "acct-wrong-current-password",
            AccountError::PasskeyFailed => "acct-passkey-failed",
            AccountError::Locked { .. } | AccountError::Throttled { .. } => "acct-locked",
            AccountError::LinkGone => "acct-link-gone-text",
            AccountError::Core(_) => "acct-failed",
        },
    )
}

/// A JSON answer of the WebAuthn endpoints: `{"error": sentence}` with a status.
pub(super) fn json_error(l: zegel_core::i18n::Lang, e: &AccountError) -> Response {
    let status = match e {
        AccountError::Locked { .. } | AccountError::Throttled { .. } => {
            StatusCode::TOO_MANY_REQUESTS
        }
        AccountError::LinkGone => StatusCode::GONE,
        AccountError::Core(zegel_core::Error::NotFound) => StatusCode::NOT_FOUND,
        AccountError::Core(zegel_core::Error::Internal(m)) => {
            tracing::error!(error = %m, "account request failed");
            StatusCode::INTERNAL_SERVER_ERROR
        }
        _ => StatusCode::BAD_REQUEST,
    };
    (status, Json(serde_json::json!({ "error": message(l, e) }))).into_response()
}

/// 403 for a JSON request without a valid CSRF token.
pub(super) fn json_csrf_failed(l: zegel_core::i18n::Lang) -> Response {
    (
        StatusCode::FORBIDDEN,
        Json(serde_json::json!({ "error": tr(l, "problem-csrf-title") })),
    )
        .into_response()
}

/// A redirect (with its cookies) as the JSON answer of a script: `{"redirect": location}`.
pub(super) fn json_redirect(mut res: Response) -> Response {
    let location = res
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("/berichten")
        .to_owned();
    let body = serde_json::json!({ "redirect": location }).to_string();
    *res.status_mut() = StatusCode::OK;
    res.headers_mut().remove(header::LOCATION);
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    *res.body_mut() = axum::body::Body::from(body);
    res
}

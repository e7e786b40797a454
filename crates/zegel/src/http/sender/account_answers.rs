//! The answers the account pages (`signin`, `welkom`, `settings`) share: the page or message
//! for an [`AccountError`] and the JSON answers of the WebAuthn script. A leaf: it knows no
//! page module.

use crate::http::pages::{locked_page, not_found, problem, View};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use zegel_core::i18n::tr;
use zegel_core::service::AccountError;

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

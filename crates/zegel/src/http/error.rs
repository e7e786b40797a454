//! `zegel_core::Error` -> JSON error envelope with the contract's statuses.

use super::InternalError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use zegel_core::Error;

/// `Retry-After` of a blocked recipient (429): the block lasts until the sender unblocks, so a
/// client is told to come back no sooner than a day later.
pub const BLOCKED_RETRY_AFTER_SECS: u64 = 86_400;

/// An API error: `{"error": "...", "detail": ...}`.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

/// The status of a service error (shared with the viewer).
pub fn status_of(e: &Error) -> StatusCode {
    match e {
        Error::NotFound => StatusCode::NOT_FOUND,
        Error::Gone(_) => StatusCode::GONE,
        Error::WrongCode { .. } | Error::CodeExpired | Error::Unauthorized => {
            StatusCode::UNAUTHORIZED
        }
        Error::Locked { .. } | Error::Blocked | Error::TooManyCodes { .. } => {
            StatusCode::TOO_MANY_REQUESTS
        }
        Error::SmsBudgetSpent { .. } => StatusCode::SERVICE_UNAVAILABLE,
        Error::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        Error::BadRequest(_) => StatusCode::BAD_REQUEST,
        Error::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Error::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        Error::Conflict(_) => StatusCode::CONFLICT,
        Error::Forbidden | Error::NotAllowed(_) => StatusCode::FORBIDDEN,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The `Retry-After` (seconds) of an error that has one: every 429, and the 503 of a spent
/// SMS budget.
pub fn retry_after(e: &Error) -> Option<u64> {
    match e {
        Error::Locked { retry_after_secs }
        | Error::TooManyCodes { retry_after_secs }
        | Error::SmsBudgetSpent { retry_after_secs } => Some(*retry_after_secs),
        Error::Blocked => Some(BLOCKED_RETRY_AFTER_SECS),
        _ => None,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = status_of(&self.0);
        let body = match &self.0 {
            Error::NotFound => json!({"error": "not_found"}),
            Error::Gone(r) => json!({"error": "gone", "detail": r.to_string()}),
            Error::WrongCode { remaining } => {
                json!({"error": "wrong_code", "remaining_attempts": remaining})
            }
            Error::CodeExpired => json!({"error": "code_expired", "detail": "request a new code"}),
            Error::Locked { retry_after_secs } => {
                json!({"error": "locked", "detail": {"retry_after_seconds": retry_after_secs}})
            }
            Error::Blocked => json!({
                "error": "blocked",
                "detail": "too many wrong codes; the sender can unblock this recipient"
            }),
            Error::TooManyCodes { retry_after_secs } => json!({
                "error": "too_many_codes",
                "detail": {"retry_after_seconds": retry_after_secs}
            }),
            Error::SmsBudgetSpent { retry_after_secs } => json!({
                "error": "sms_unavailable",
                "detail": {"retry_after_seconds": retry_after_secs}
            }),
            Error::TooLarge(d) => json!({"error": "too_large", "detail": d.to_string()}),
            Error::BadRequest(d) => json!({"error": "bad_request", "detail": d.to_string()}),
            Error::UnsupportedMediaType { expected } => json!({
                "error": "unsupported_media_type",
                "detail": format!("Content-Type must be {expected}"),
            }),
            Error::Invalid(d) => json!({"error": "invalid", "detail": d.to_string()}),
            Error::Conflict(d) => json!({"error": "conflict", "detail": d.to_string()}),
            Error::Unauthorized => json!({"error": "unauthorized"}),
            Error::Forbidden => json!({"error": "forbidden"}),
            Error::NotAllowed(d) => json!({"error": "not_allowed", "detail": d.to_string()}),
            Error::Internal(_) => json!({"error": "internal"}),
        };
        let mut res = (status, Json(body)).into_response();
        if let Some(secs) = retry_after(&self.0) {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        if let Error::Internal(m) = self.0 {
            res.extensions_mut().insert(InternalError(m));
        }
        res
    }
}

//! Signed receipts over HTTP: the download of one (API and sender web app share
//! [`receipt_response`]) and the organisations' published public keys,
//! `GET /.well-known/zegel/keys/{slug}.json` (a JWK Set; public, changes nothing).

use super::{ApiError, AppState};
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use zegel_core::service::SignedReceipt;
use zegel_core::Error;

/// The media type of a JWS in compact serialization (RFC 7515 section 9.2).
pub(crate) const JOSE: &str = "application/jose";
/// The media type of a JWK Set (RFC 7517 section 8.5).
const JWK_SET: &str = "application/jwk-set+json";

/// The download name of a receipt: `zegel-bewijs-{message id}.jws`.
pub(crate) fn receipt_file_name(message_id: &str) -> String {
    format!("zegel-bewijs-{message_id}.jws")
}

/// A receipt as a download: the compact JWS, `Content-Disposition: attachment`.
pub(crate) fn receipt_response(r: &SignedReceipt) -> Response {
    let disposition =
        super::download::content_disposition(&receipt_file_name(&r.receipt.message_id));
    let mut res = (StatusCode::OK, r.jws.clone()).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(JOSE));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    res
}

/// The public keys' routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/.well-known/zegel/keys/{file}", get(public_keys))
}

/// `GET /.well-known/zegel/keys/{slug}.json`: the organisation's public signing keys (the
/// same JWK Set as `zegel admin keys public --org {slug}`). Unknown slug: 404.
async fn public_keys(
    State(s): State<AppState>,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    let slug = file.strip_suffix(".json").ok_or(Error::NotFound)?;
    let set = s.z.public_keys_of_slug(slug, false).await?;
    let body = serde_json::to_vec(&set).map_err(|e| Error::Internal(format!("jwks: {e}")))?;
    let mut res = (StatusCode::OK, body).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(JWK_SET));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    Ok(res)
}

//! Recipient JSON access API (`/api/v1/access/{token}/...`), same rules as the viewer.

use super::api::bearer_of;
use super::{ApiError, AppState, Client};
use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Path, State};
use axum::http::{header, request::Parts, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::stream::BoxStream;
use futures::StreamExt;
use serde::Deserialize;
use zegel_core::model::Verification;
use zegel_core::service::AttachmentView;
use zegel_core::Error;

pub fn routes(s: &AppState) -> Router<AppState> {
    let limit =
        s.z.settings.max_upload_bytes as usize + s.z.settings.max_body_bytes * 2 + (1 << 20);
    Router::new()
        .route(
            "/api/v1/access/{token}/replies",
            post(reply).layer(axum::extract::DefaultBodyLimit::max(limit)),
        )
        .route("/api/v1/access/{token}/forwards", post(forward))
        .route("/api/v1/access/{token}/thread", get(thread))
        .route("/api/v1/access/{token}/copy", get(copy))
        .route("/api/v1/access/{token}/challenge", post(challenge))
        .route("/api/v1/access/{token}/verify", post(verify))
        .route("/api/v1/access/{token}/message", get(message))
        .route("/api/v1/access/{token}/attachments/{id}", get(attachment))
}

fn json_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let v: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| Error::BadRequest(format!("body is not valid JSON: {e}")))?;
    serde_json::from_value(v).map_err(|e| {
        let m = e.to_string();
        if m.starts_with("missing field") || m.starts_with("invalid type") {
            Error::BadRequest(m)
        } else {
            Error::Invalid(m)
        }
    })
}

#[derive(Deserialize)]
struct ChallengeReq {
    method: Verification,
}

async fn challenge(
    State(s): State<AppState>,
    Path(token): Path<String>,
    Client(ctx): Client,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: ChallengeReq = json_body(&body)?;
    let c = s.z.challenge(&token, req.method, &ctx).await?;
    Ok((StatusCode::ACCEPTED, Json(c)).into_response())
}

#[derive(Deserialize)]
struct VerifyReq {
    code: String,
}

async fn verify(
    State(s): State<AppState>,
    Path(token): Path<String>,
    Client(ctx): Client,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: VerifyReq = json_body(&body)?;
    let grant = s.z.verify(&token, &req.code, &ctx).await?;
    Ok(Json(grant).into_response())
}

/// The Bearer access token of a recipient session.
struct AccessToken(String);

impl FromRequestParts<AppState> for AccessToken {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        bearer_of(parts)
            .map(AccessToken)
            .ok_or(ApiError(Error::Unauthorized))
    }
}

async fn message(
    State(s): State<AppState>,
    Path(token): Path<String>,
    AccessToken(at): AccessToken,
    Client(ctx): Client,
) -> Result<Response, ApiError> {
    let session = s.z.recipient_session(&token, &at).await?;
    Ok(Json(s.z.read_message(&session, &ctx).await?).into_response())
}

async fn attachment(
    State(s): State<AppState>,
    Path((token, id)): Path<(String, String)>,
    AccessToken(at): AccessToken,
    Client(ctx): Client,
) -> Result<Response, ApiError> {
    let session = s.z.recipient_session(&token, &at).await?;
    let (view, stream) = s.z.open_thread_attachment(&session, &id, &ctx).await?;
    Ok(download_response(&view, stream))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplyReq {
    #[serde(default)]
    body: String,
}

/// `POST .../replies`: multipart (`message` JSON `{"body"}` first, then `attachment` parts),
/// or plain JSON `{"body"}`. Goes to the original sender only.
async fn reply(
    State(s): State<AppState>,
    Path(token): Path<String>,
    AccessToken(at): AccessToken,
    Client(ctx): Client,
    req: axum::extract::Request,
) -> Result<Response, ApiError> {
    use axum::extract::FromRequest;
    let session = s.z.recipient_session(&token, &at).await?;
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let max = s.z.settings.max_body_bytes * 2 + 64 * 1024;
    let created = if ct.starts_with("application/json") {
        let bytes = axum::body::to_bytes(req.into_body(), max)
            .await
            .map_err(|_| Error::TooLarge(format!("JSON body over {max} bytes")))?;
        let r: ReplyReq = json_body(&bytes)?;
        s.z.begin_reply(&session, r.body)
            .await?
            .commit_reply(&ctx)
            .await?
    } else if ct.starts_with("multipart/form-data") {
        let mut mp = axum::extract::Multipart::from_request(req, &s)
            .await
            .map_err(|e| Error::BadRequest(e.body_text()))?;
        let json = super::api::first_part(&mut mp, "message", max).await?;
        let r: ReplyReq = json_body(&json)?;
        let mut draft = s.z.begin_reply(&session, r.body).await?;
        match super::api::stream_attachments(&mut mp, &mut draft).await {
            Ok(()) => draft.commit_reply(&ctx).await?,
            Err(e) => {
                draft.abort().await;
                return Err(e.into());
            }
        }
    } else {
        return Err(Error::BadRequest(
            "Content-Type must be application/json or multipart/form-data".into(),
        )
        .into());
    };
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn forward(
    State(s): State<AppState>,
    Path(token): Path<String>,
    AccessToken(at): AccessToken,
    Client(ctx): Client,
    body: Bytes,
) -> Result<Response, ApiError> {
    let session = s.z.recipient_session(&token, &at).await?;
    let req: zegel_core::service::ForwardReq = json_body(&body)?;
    let created = s.z.forward(&session, req, &ctx).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn thread(
    State(s): State<AppState>,
    Path(token): Path<String>,
    AccessToken(at): AccessToken,
) -> Result<Response, ApiError> {
    let session = s.z.recipient_session(&token, &at).await?;
    Ok(Json(s.z.recipient_thread(&session).await?).into_response())
}

/// The recipient's own copy of the conversation (`.eml`, streamed).
async fn copy(
    State(s): State<AppState>,
    Path(token): Path<String>,
    AccessToken(at): AccessToken,
    Client(ctx): Client,
) -> Result<Response, ApiError> {
    let session = s.z.recipient_session(&token, &at).await?;
    let (name, stream) = s.z.export_eml(&session, &ctx).await?;
    Ok(eml_response(&name, stream))
}

/// Streams an `.eml` download.
pub(crate) fn eml_response(
    name: &str,
    stream: BoxStream<'static, Result<bytes::Bytes, Error>>,
) -> Response {
    stream_download("message/rfc822", name, None, stream)
}

/// A file name that is safe in a download: no path separators, CR, LF, NUL or other control
/// characters; not empty or dots only.
pub(crate) fn safe_file_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() || c == '"' {
                '_'
            } else {
                c
            }
        })
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_string();
    if cleaned.is_empty() || cleaned.chars().all(|c| c == '.' || c == '_') {
        "bijlage".into()
    } else {
        cleaned
    }
}

/// `Content-Disposition: attachment` with an ASCII fallback and RFC 6266 `filename*`.
pub(crate) fn content_disposition(name: &str) -> String {
    let safe = safe_file_name(name);
    let ascii: String = safe
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = percent_encoding::utf8_percent_encode(&safe, percent_encoding::NON_ALPHANUMERIC);
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// Streams a decrypted attachment as a download.
pub(crate) fn download_response(
    view: &AttachmentView,
    stream: BoxStream<'static, Result<bytes::Bytes, Error>>,
) -> Response {
    stream_download(
        "application/octet-stream",
        &view.name,
        Some(view.size),
        stream,
    )
}

/// A streamed download (`Content-Disposition: attachment`); a failure mid-stream aborts the
/// response instead of sending wrong bytes.
fn stream_download(
    content_type: &'static str,
    name: &str,
    size: Option<i64>,
    stream: BoxStream<'static, Result<bytes::Bytes, Error>>,
) -> Response {
    let body = Body::from_stream(stream.map(|r| {
        r.map_err(|e| {
            tracing::error!(error = %e, "download stream failed");
            std::io::Error::other("download stream failed")
        })
    }));
    let mut res = Response::new(body);
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&content_disposition(name)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if let Some(Ok(v)) = size.map(|n| HeaderValue::from_str(&n.to_string())) {
        h.insert(header::CONTENT_LENGTH, v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_names_are_made_safe() {
        assert_eq!(safe_file_name("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(safe_file_name("a\r\nb\0.pdf"), "a__b_.pdf");
        assert_eq!(safe_file_name(".."), "bijlage");
        assert_eq!(safe_file_name(""), "bijlage");
        assert_eq!(safe_file_name("uitslag bloed.pdf"), "uitslag bloed.pdf");
        let cd = content_disposition("rapport é.pdf");
        assert!(
            cd.starts_with(
                "attachment; filename=\"rapport _.pdf\"; filename*=UTF-8''rapport%20%C3%A9%2Epdf"
            ),
            "{cd}"
        );
    }
}

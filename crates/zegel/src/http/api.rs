//! Sender API (`/api/v1/messages`), Bearer API tokens (`zgl_...`).

use super::{client_ip_of, ApiError, AppState, Client};
use axum::extract::{
    DefaultBodyLimit, FromRequest, FromRequestParts, Multipart, Path, Query, Request, State,
};
use axum::http::{header, request::Parts, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt;
use serde::Deserialize;
use zegel_core::model::{Principal, Ts};
use zegel_core::service::NewMessageReq;
use zegel_core::Error;

pub fn routes(s: &AppState) -> Router<AppState> {
    // Attachments plus room for the multipart framing and the `message` part.
    let limit =
        s.z.settings.max_upload_bytes as usize + s.z.settings.max_body_bytes * 2 + (1 << 20);
    Router::new()
        .route(
            "/api/v1/messages",
            post(create_message)
                .layer(DefaultBodyLimit::max(limit))
                .get(list_messages),
        )
        .route("/api/v1/messages/{id}", get(get_message))
        .route("/api/v1/messages/{id}/revoke", post(revoke_message))
        .route("/api/v1/inbox", get(inbox))
        .route("/api/v1/inbox/{id}", get(read_reply))
        .route(
            "/api/v1/inbox/{id}/attachments/{aid}",
            get(reply_attachment),
        )
        .route("/api/v1/threads/{id}", get(thread))
        .route("/api/v1/devices/{id}", axum::routing::delete(revoke_device))
        .route(
            "/api/v1/organisation/policy",
            get(get_policy).put(put_policy),
        )
        .route("/api/v1/openapi.json", get(openapi))
}

/// The authenticated sender, with the organisation and its policy.
pub struct Sender(pub Principal);

fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

impl FromRequestParts<AppState> for Sender {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or(ApiError(Error::Unauthorized))?;
        match s.z.authenticate_api_token(token).await {
            Ok(p) => Ok(Sender(p)),
            Err(Error::Unauthorized) => {
                // Failed logins count against the stranger limit of the address.
                let ip = client_ip_of(
                    &parts.headers,
                    &parts.extensions,
                    s.opts.trust_forwarded_for,
                );
                let key = format!("auth:{}", ip.unwrap_or_default());
                if let Err(wait) = s.limiter.check(&key) {
                    return Err(ApiError(Error::Locked {
                        retry_after_secs: wait,
                    }));
                }
                Err(ApiError(Error::Unauthorized))
            }
            Err(e) => Err(ApiError(e)),
        }
    }
}

/// The Bearer token of the access API (not a sender token).
pub(crate) fn bearer_of(parts: &Parts) -> Option<String> {
    bearer(parts).map(str::to_string)
}

fn parse_message_json(bytes: &[u8]) -> Result<NewMessageReq, Error> {
    let v: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| Error::BadRequest(format!("message is not valid JSON: {e}")))?;
    if !v.is_object() {
        return Err(Error::BadRequest("message must be a JSON object".into()));
    }
    serde_json::from_value(v).map_err(|e| {
        let m = e.to_string();
        if m.starts_with("missing field") {
            Error::BadRequest(m)
        } else {
            Error::Invalid(m)
        }
    })
}

async fn create_message(
    State(s): State<AppState>,
    Sender(sender): Sender,
    Client(ctx): Client,
    req: Request,
) -> Result<Response, ApiError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let created = if ct.starts_with("application/json") {
        let max = s.z.settings.max_body_bytes * 2 + 64 * 1024;
        let bytes = axum::body::to_bytes(req.into_body(), max)
            .await
            .map_err(|_| Error::TooLarge(format!("JSON body over {max} bytes")))?;
        let draft =
            s.z.begin_message(&sender, parse_message_json(&bytes)?)
                .await?;
        draft.commit(&ctx).await?
    } else if ct.starts_with("multipart/form-data") {
        let mp = Multipart::from_request(req, &s)
            .await
            .map_err(|e| Error::BadRequest(e.body_text()))?;
        create_from_multipart(&s, &sender, &ctx, mp).await?
    } else {
        return Err(Error::BadRequest(
            "Content-Type must be application/json or multipart/form-data".into(),
        )
        .into());
    };
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

pub(crate) fn multipart_error(e: axum::extract::multipart::MultipartError) -> Error {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Error::TooLarge("request body over the upload limit".into())
    } else {
        Error::BadRequest(format!("malformed multipart body: {}", e.body_text()))
    }
}

async fn create_from_multipart(
    s: &AppState,
    sender: &Principal,
    ctx: &zegel_core::ClientCtx,
    mut mp: Multipart,
) -> Result<zegel_core::service::MessageCreated, Error> {
    // CONTRACT: the `message` part comes first.
    let max = s.z.settings.max_body_bytes * 2 + 64 * 1024;
    let json = first_part(&mut mp, "message", max).await?;
    let mut draft =
        s.z.begin_message(sender, parse_message_json(&json)?)
            .await?;
    match stream_attachments(&mut mp, &mut draft).await {
        Ok(()) => draft.commit(ctx).await,
        Err(e) => {
            draft.abort().await;
            Err(e)
        }
    }
}

/// Reads the first multipart part, which must be named `name`, into memory (at most `max`
/// bytes: it is JSON or a form field, never a file).
pub(crate) async fn first_part(
    mp: &mut Multipart,
    name: &str,
    max: usize,
) -> Result<Vec<u8>, Error> {
    let mut first = mp
        .next_field()
        .await
        .map_err(multipart_error)?
        .ok_or_else(|| Error::BadRequest("empty multipart body".into()))?;
    if first.name() != Some(name) {
        return Err(Error::BadRequest(format!(
            "the first part must be `{name}`"
        )));
    }
    let mut out = Vec::new();
    while let Some(chunk) = first.chunk().await.map_err(multipart_error)? {
        if out.len() + chunk.len() > max {
            return Err(Error::TooLarge(format!("part `{name}` over {max} bytes")));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Streams every remaining `attachment` part into the draft's encrypted blobs. An empty file
/// input (no file name, no bytes) from an HTML form is skipped.
pub(crate) async fn stream_attachments(
    mp: &mut Multipart,
    draft: &mut zegel_core::service::Draft,
) -> Result<(), Error> {
    {
        while let Some(field) = mp.next_field().await.map_err(multipart_error)? {
            if field.name() != Some("attachment") {
                return Err(Error::BadRequest(format!(
                    "unexpected part {:?}; only `attachment` parts may follow `message`",
                    field.name().unwrap_or("")
                )));
            }
            let name = field.file_name().unwrap_or("").to_string();
            let content_type = field
                .content_type()
                .unwrap_or("application/octet-stream")
                .to_string();
            let mut stream = Box::pin(field.map(|r| r.map_err(multipart_error)).peekable());
            if name.is_empty() {
                // An HTML form's file input with no file chosen: no name, no bytes.
                let mut empty = true;
                while let Some(first) = stream.as_mut().peek().await {
                    match first {
                        Ok(b) if b.is_empty() => {
                            stream.next().await;
                        }
                        _ => {
                            empty = false;
                            break;
                        }
                    }
                }
                if empty {
                    continue;
                }
            }
            draft.add_attachment(&name, &content_type, stream).await?;
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<u32>,
    before: Option<String>,
}

async fn list_messages(
    State(s): State<AppState>,
    Sender(Principal { user: sender, .. }): Sender,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let before = parse_before(q.before.as_deref())?;
    let list =
        s.z.list_messages(&sender, before, q.limit.unwrap_or(50))
            .await?;
    Ok(Json(serde_json::json!({ "messages": list })).into_response())
}

async fn get_message(
    State(s): State<AppState>,
    Sender(Principal { user: sender, .. }): Sender,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(s.z.message_status(&sender, &id).await?).into_response())
}

async fn revoke_message(
    State(s): State<AppState>,
    Sender(Principal { user: sender, .. }): Sender,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(s.z.revoke_message(&sender, &id).await?).into_response())
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("../../openapi.json"),
    )
        .into_response()
}

fn parse_before(before: Option<&str>) -> Result<Option<Ts>, Error> {
    match before {
        None => Ok(None),
        Some(b) => {
            let t = time::OffsetDateTime::parse(b, &time::format_description::well_known::Rfc3339)
                .map_err(|_| Error::Invalid("before must be an RFC 3339 time".into()))?;
            Ok(Some(Ts((t.unix_timestamp_nanos() / 1_000_000) as i64)))
        }
    }
}

async fn inbox(
    State(s): State<AppState>,
    Sender(Principal { user: sender, .. }): Sender,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let before = parse_before(q.before.as_deref())?;
    let items = s.z.inbox(&sender, before, q.limit.unwrap_or(50)).await?;
    Ok(Json(serde_json::json!({ "items": items })).into_response())
}

async fn read_reply(
    State(s): State<AppState>,
    Sender(Principal { user: sender, .. }): Sender,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(s.z.read_reply(&sender, &id).await?).into_response())
}

async fn reply_attachment(
    State(s): State<AppState>,
    Sender(Principal { user: sender, .. }): Sender,
    Path((id, aid)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (view, stream) = s.z.open_reply_attachment(&sender, &id, &aid).await?;
    Ok(super::access::download_response(&view, stream))
}

async fn thread(
    State(s): State<AppState>,
    Sender(Principal { user: sender, .. }): Sender,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(s.z.sender_thread(&sender, &id).await?).into_response())
}

async fn revoke_device(
    State(s): State<AppState>,
    Sender(Principal { user: sender, .. }): Sender,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    s.z.revoke_device(&sender, &id).await?;
    Ok(Json(serde_json::json!({ "id": id, "revoked": true })).into_response())
}

async fn get_policy(Sender(sender): Sender) -> Result<Response, ApiError> {
    Ok(Json(zegel_core::service::PolicyDoc::from(sender.policy)).into_response())
}

async fn put_policy(
    State(s): State<AppState>,
    Sender(Principal { user: sender, .. }): Sender,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let doc: zegel_core::service::PolicyDoc = serde_json::from_slice(&body).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            Error::BadRequest(format!("body is not valid JSON: {e}"))
        } else {
            Error::Invalid(e.to_string())
        }
    })?;
    Ok(Json(s.z.set_org_policy(&sender, doc).await?).into_response())
}

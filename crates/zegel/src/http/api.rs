//! Sender API (`/api/v1/messages`), Bearer API tokens (`zgl_...`).

use super::auth::Sender;
use super::download::download_response;
use super::json::JsonBody;
use super::upload::{stream_attachments, MessageBody};
use super::{ApiError, AppState, Client};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use zegel_core::model::{Principal, Ts};
use zegel_core::service::{NewMessageReq, PolicyDoc};
use zegel_core::{Error, Invalid};

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

async fn create_message(
    State(s): State<AppState>,
    Sender(sender): Sender,
    Client(ctx): Client,
    req: Request,
) -> Result<Response, ApiError> {
    let created = match MessageBody::<NewMessageReq>::from_request(req, &s).await? {
        MessageBody::Json(m) => s.z.begin_message(&sender, m).await?.commit(&ctx).await?,
        MessageBody::Multipart(m, mut mp) => {
            let mut draft = s.z.begin_message(&sender, m).await?;
            match stream_attachments(&mut mp, draft.uploads()).await {
                Ok(()) => draft.commit(&ctx).await?,
                Err(e) => {
                    draft.abort().await;
                    return Err(e.into());
                }
            }
        }
    };
    Ok((StatusCode::CREATED, Json(created)).into_response())
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
                .map_err(|_| Invalid::Before)?;
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
    Ok(download_response(&view, stream))
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
    Ok(Json(PolicyDoc::from(sender.policy)).into_response())
}

async fn put_policy(
    State(s): State<AppState>,
    Sender(Principal { user: sender, .. }): Sender,
    JsonBody(doc): JsonBody<PolicyDoc>,
) -> Result<Response, ApiError> {
    Ok(Json(s.z.set_org_policy(&sender, doc).await?).into_response())
}

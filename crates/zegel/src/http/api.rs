//! Sender API (`/api/v1/messages`), Bearer API tokens (`zgl_...`).

use super::auth::Sender;
use super::download::download_response;
use super::extract::{ApiPath, ApiQuery};
use super::json::{max_json_bytes, JsonBody, Required};
use super::routes::ApiRoutes;
use super::upload::{stream_attachments, MessageBody};
use super::{ApiError, AppState, Client};
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use zegel_core::model::{Principal, Ts};
use zegel_core::service::{NewMessageReq, PolicyDoc};
use zegel_core::store::{SentQuery, ShownStatus};
use zegel_core::{Error, Invalid};

/// The sender API's routes.
pub fn routes(s: &AppState) -> ApiRoutes {
    // Attachments plus room for the multipart framing and the `message` part.
    let upload = s.z.settings.max_upload_bytes as usize + max_json_bytes(s) + (1 << 20);
    ApiRoutes::new()
        .add_limited(
            Method::POST,
            "/api/v1/messages",
            create_message,
            Some(upload),
        )
        .add(Method::POST, "/api/v1/messages/check", check_message)
        .add(Method::GET, "/api/v1/messages", list_messages)
        .add(Method::GET, "/api/v1/messages/{id}", get_message)
        .add(Method::POST, "/api/v1/messages/{id}/revoke", revoke_message)
        .add(
            Method::POST,
            "/api/v1/messages/{id}/recipients/{rid}/unblock",
            unblock_recipient,
        )
        .add(
            Method::POST,
            "/api/v1/messages/{id}/recipients/{rid}/link",
            renew_link,
        )
        .add(Method::POST, "/api/v1/messages/{id}/extend", extend_message)
        .add(
            Method::GET,
            "/api/v1/messages/{id}/receipt",
            message_receipt,
        )
        .add(Method::GET, "/api/v1/inbox", inbox)
        .add(Method::GET, "/api/v1/inbox/{id}", read_reply)
        .add(
            Method::GET,
            "/api/v1/inbox/{id}/attachments/{aid}",
            reply_attachment,
        )
        .add(Method::GET, "/api/v1/threads/{id}", thread)
        .add(Method::DELETE, "/api/v1/devices/{id}", revoke_device)
        .add(Method::GET, "/api/v1/organisation/policy", get_policy)
        .add(Method::PUT, "/api/v1/organisation/policy", put_policy)
        .add(Method::GET, "/api/v1/openapi.json", openapi)
}

async fn create_message(
    State(s): State<AppState>,
    Sender(sender): Sender,
    Client(ctx): Client,
    req: Request,
) -> Result<Response, ApiError> {
    let result: Result<_, ApiError> = async {
        Ok(
            match MessageBody::<NewMessageReq>::from_request(req, &s).await? {
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
            },
        )
    }
    .await;
    match result {
        Ok(created) => Ok((StatusCode::CREATED, Json(created)).into_response()),
        Err(e) => {
            let status = crate::http::error::status_of(&e.0).as_u16();
            s.z.record_refused_send(&sender.user.id, &ctx, &format!("HTTP {status}"))
                .await;
            Err(e)
        }
    }
}

/// `POST /api/v1/messages/check`: a send's JSON, validated as a send would be (the same
/// errors), answered with the warnings before sending; nothing is stored.
async fn check_message(
    State(s): State<AppState>,
    Sender(sender): Sender,
    JsonBody(m): JsonBody<NewMessageReq>,
) -> Result<Response, ApiError> {
    let warnings = s.z.check_message(&sender, m).await?;
    Ok(Json(serde_json::json!({ "warnings": warnings })).into_response())
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<u32>,
    before: Option<String>,
}

#[derive(Deserialize)]
struct SentListQuery {
    limit: Option<u32>,
    before: Option<String>,
    /// Only messages to this address (case-insensitive).
    recipient: Option<String>,
    /// Only messages with a recipient in this status (`ShownStatus`).
    status: Option<String>,
}

async fn list_messages(
    State(s): State<AppState>,
    Sender(Principal { user: sender, .. }): Sender,
    ApiQuery(q): ApiQuery<SentListQuery>,
) -> Result<Response, ApiError> {
    let before = parse_before(q.before.as_deref())?;
    let limit = q.limit.unwrap_or(50);
    let list = if q.recipient.is_none() && q.status.is_none() {
        s.z.list_messages(&sender, before, limit).await?
    } else {
        // An empty `status=` is no status (422), as openapi.json's enum says; the web page's
        // "all statuses" is its own form's business.
        let status = match q.status.as_deref() {
            None => None,
            Some(v) => Some(ShownStatus::parse(v).ok_or(Error::from(Invalid::StatusFilter))?),
        };
        let query = SentQuery {
            recipient: q
                .recipient
                .map(|r| r.trim().to_lowercase())
                .filter(|r| !r.is_empty()),
            status,
            before: before.map(|t| (t, None)),
            after: None,
        };
        s.z.list_messages_filtered(&sender, &query, limit).await?
    };
    Ok(Json(serde_json::json!({ "messages": list })).into_response())
}

async fn renew_link(
    State(s): State<AppState>,
    Sender(Principal { user: sender, .. }): Sender,
    ApiPath((id, rid)): ApiPath<(String, String)>,
    Client(ctx): Client,
) -> Result<Response, ApiError> {
    s.z.renew_link(&sender, &id, &rid, &ctx).await?;
    Ok(Json(s.z.message_status(&sender, &id).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExtendReq {
    days: Option<i64>,
}

impl Required for ExtendReq {
    fn missing_field(&self) -> Option<&'static str> {
        self.days.is_none().then_some("days")
    }
}

async fn extend_message(
    State(s): State<AppState>,
    Sender(Principal { user: sender, .. }): Sender,
    ApiPath(id): ApiPath<String>,
    Client(ctx): Client,
    JsonBody(req): JsonBody<ExtendReq>,
) -> Result<Response, ApiError> {
    let days = req
        .days
        .ok_or(Error::BadRequest("missing field `days`".into()))?;
    s.z.extend_message(&sender, &id, days, &ctx).await?;
    Ok(Json(s.z.message_status(&sender, &id).await?).into_response())
}

async fn get_message(
    State(s): State<AppState>,
    Sender(Principal { user: sender, .. }): Sender,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    Ok(Json(s.z.message_status(&sender, &id).await?).into_response())
}

async fn message_receipt(
    State(s): State<AppState>,
    Sender(who): Sender,
    ApiPath(id): ApiPath<String>,
    Client(ctx): Client,
) -> Result<Response, ApiError> {
    let receipt = s.z.message_receipt(&who, &id, &ctx).await?;
    Ok(super::receipts::receipt_response(&receipt))
}

async fn revoke_message(
    State(s): State<AppState>,
    Sender(Principal { user: sender, .. }): Sender,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    Ok(Json(s.z.revoke_message(&sender, &id).await?).into_response())
}

async fn unblock_recipient(
    State(s): State<AppState>,
    Sender(Principal { user: sender, .. }): Sender,
    ApiPath((id, rid)): ApiPath<(String, String)>,
    Client(ctx): Client,
) -> Result<Response, ApiError> {
    Ok(Json(s.z.unblock_recipient(&sender, &id, &rid, &ctx).await?).into_response())
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
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let before = parse_before(q.before.as_deref())?;
    let items = s.z.inbox(&sender, before, q.limit.unwrap_or(50)).await?;
    Ok(Json(serde_json::json!({ "items": items })).into_response())
}

async fn read_reply(
    State(s): State<AppState>,
    Sender(Principal { user: sender, .. }): Sender,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    Ok(Json(s.z.read_reply(&sender, &id).await?).into_response())
}

async fn reply_attachment(
    State(s): State<AppState>,
    Sender(Principal { user: sender, .. }): Sender,
    ApiPath((id, aid)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let (view, stream) = s.z.open_reply_attachment(&sender, &id, &aid).await?;
    Ok(download_response(&view, stream))
}

async fn thread(
    State(s): State<AppState>,
    Sender(Principal { user: sender, .. }): Sender,
    Client(ctx): Client,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    Ok(Json(s.z.sender_thread(&sender, &id, &ctx).await?).into_response())
}

async fn revoke_device(
    State(s): State<AppState>,
    Sender(Principal { user: sender, .. }): Sender,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    s.z.revoke_device(&sender, &id).await?;
    Ok(Json(serde_json::json!({ "id": id, "revoked": true })).into_response())
}

async fn get_policy(
    State(s): State<AppState>,
    Sender(sender): Sender,
) -> Result<Response, ApiError> {
    Ok(Json(s.z.policy_doc(sender.policy)).into_response())
}

async fn put_policy(
    State(s): State<AppState>,
    Sender(Principal { user: sender, .. }): Sender,
    JsonBody(doc): JsonBody<PolicyDoc>,
) -> Result<Response, ApiError> {
    Ok(Json(s.z.set_org_policy(&sender, doc).await?).into_response())
}

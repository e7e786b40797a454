//! Recipient JSON access API (`/api/v1/access/{token}/...`), same rules as the viewer.

use super::auth::Recipient;
use super::download::{download_response, eml_response};
use super::extract::ApiPath;
use super::json::{max_json_bytes, JsonBody, Required};
use super::routes::ApiRoutes;
use super::upload::{stream_attachments, MessageBody};
use super::{ApiError, AppState, Client};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use zegel_core::model::Verification;
use zegel_core::service::ForwardReq;

/// The recipient access API's routes (behind the stranger rate limit).
pub fn routes(s: &AppState) -> ApiRoutes {
    let upload = s.z.settings.max_upload_bytes as usize + max_json_bytes(s) + (1 << 20);
    ApiRoutes::new()
        .add(Method::POST, "/api/v1/access/{token}/challenge", challenge)
        .add(Method::POST, "/api/v1/access/{token}/verify", verify)
        .add(Method::GET, "/api/v1/access/{token}/message", message)
        .add(
            Method::GET,
            "/api/v1/access/{token}/attachments/{id}",
            attachment,
        )
        .add_limited(
            Method::POST,
            "/api/v1/access/{token}/replies",
            reply,
            Some(upload),
        )
        .add(Method::POST, "/api/v1/access/{token}/forwards", forward)
        .add(Method::GET, "/api/v1/access/{token}/thread", thread)
        .add(Method::GET, "/api/v1/access/{token}/copy", copy)
}

/// `POST .../challenge` (contract): `{"method": "sms" | "email"}`.
#[derive(Deserialize)]
struct ChallengeReq {
    method: Option<Verification>,
}

impl Required for ChallengeReq {
    fn missing_field(&self) -> Option<&'static str> {
        self.method.is_none().then_some("method")
    }
}

async fn challenge(
    State(s): State<AppState>,
    ApiPath(token): ApiPath<String>,
    Client(ctx): Client,
    JsonBody(req): JsonBody<ChallengeReq>,
) -> Result<Response, ApiError> {
    let method = req.method.ok_or(ApiError(zegel_core::Error::BadRequest(
        "missing field `method`".into(),
    )))?;
    let c = s.z.challenge(&token, method, &ctx).await?;
    Ok((StatusCode::ACCEPTED, Json(c)).into_response())
}

/// `POST .../verify` (contract): `{"code": "123456"}`.
#[derive(Deserialize)]
struct VerifyReq {
    code: Option<String>,
}

impl Required for VerifyReq {
    fn missing_field(&self) -> Option<&'static str> {
        self.code.is_none().then_some("code")
    }
}

async fn verify(
    State(s): State<AppState>,
    ApiPath(token): ApiPath<String>,
    Client(ctx): Client,
    JsonBody(req): JsonBody<VerifyReq>,
) -> Result<Response, ApiError> {
    let code = req.code.unwrap_or_default();
    let grant = s.z.verify(&token, &code, &ctx).await?;
    Ok(Json(grant).into_response())
}

async fn message(
    State(s): State<AppState>,
    Recipient(session): Recipient,
    Client(ctx): Client,
) -> Result<Response, ApiError> {
    Ok(Json(s.z.read_message(&session, &ctx).await?).into_response())
}

async fn attachment(
    State(s): State<AppState>,
    Recipient(session): Recipient,
    ApiPath((_, id)): ApiPath<(String, String)>,
    Client(ctx): Client,
) -> Result<Response, ApiError> {
    let (view, stream) = s.z.open_thread_attachment(&session, &id, &ctx).await?;
    Ok(download_response(&view, stream))
}

/// A recipient's reply (contract): `{"body"}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplyReq {
    #[serde(default)]
    body: String,
}

impl Required for ReplyReq {}

/// `POST .../replies`: multipart (`message` JSON `{"body"}` first, then `attachment` parts),
/// or plain JSON `{"body"}`. Goes to the original sender only.
async fn reply(
    State(s): State<AppState>,
    Recipient(session): Recipient,
    Client(ctx): Client,
    req: Request,
) -> Result<Response, ApiError> {
    let created = match MessageBody::<ReplyReq>::from_request(req, &s).await? {
        MessageBody::Json(r) => {
            s.z.begin_reply(&session, r.body)
                .await?
                .commit(&ctx)
                .await?
        }
        MessageBody::Multipart(r, mut mp) => {
            let mut draft = s.z.begin_reply(&session, r.body).await?;
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

async fn forward(
    State(s): State<AppState>,
    Recipient(session): Recipient,
    Client(ctx): Client,
    JsonBody(req): JsonBody<ForwardReq>,
) -> Result<Response, ApiError> {
    let created = s.z.forward(&session, req, &ctx).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn thread(
    State(s): State<AppState>,
    Recipient(session): Recipient,
) -> Result<Response, ApiError> {
    Ok(Json(s.z.recipient_thread(&session).await?).into_response())
}

/// The recipient's own copy of the conversation (`.eml`, streamed).
async fn copy(
    State(s): State<AppState>,
    Recipient(session): Recipient,
    Client(ctx): Client,
) -> Result<Response, ApiError> {
    let (name, stream) = s.z.export_eml(&session, &ctx).await?;
    Ok(eml_response(&name, stream))
}

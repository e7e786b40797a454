//! Who is calling: a sender's Bearer API token (`zgl_...`), or a recipient's Bearer access
//! token on the access API.

use super::proxy::rate_key;
use super::ratelimit::Bucket;
use super::{client_ip_of, ApiError, AppState};
use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::{header, request::Parts};
use std::net::{IpAddr, Ipv4Addr};
use zegel_core::model::Principal;
use zegel_core::service::RecipientSession;
use zegel_core::Error;

/// The authenticated sender, with the organisation and its policy.
pub struct Sender(pub Principal);

/// The Bearer token of a request, if any.
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
                let ip = client_ip_of(&parts.headers, &parts.extensions, &s.opts.proxies)
                    .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), rate_key);
                if let Err(wait) = s.limiter.check(Bucket::FailedAuth, ip) {
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

/// The Bearer access token of a recipient session (not a sender token).
pub struct AccessToken(pub String);

impl FromRequestParts<AppState> for AccessToken {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        bearer(parts)
            .map(|t| AccessToken(t.to_owned()))
            .ok_or(ApiError(Error::Unauthorized))
    }
}

/// A verified recipient on the access API: the link token of the path (`{token}`) with the
/// Bearer access token of its session. Rejections: 401 without or with an expired session,
/// 403 for another recipient's session, 404/410 for the link.
pub struct Recipient(pub RecipientSession);

impl FromRequestParts<AppState> for Recipient {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, ApiError> {
        let params = RawPathParams::from_request_parts(parts, s)
            .await
            .map_err(|_| ApiError(Error::NotFound))?;
        let token = params
            .iter()
            .find_map(|(k, v)| (k == "token").then(|| v.to_owned()))
            .ok_or(ApiError(Error::NotFound))?;
        let AccessToken(at) = AccessToken::from_request_parts(parts, s).await?;
        Ok(Recipient(s.z.recipient_session(&token, &at).await?))
    }
}

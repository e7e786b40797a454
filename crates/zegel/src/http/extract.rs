//! Path and query extractors of the JSON API whose rejections are the API's JSON errors (400
//! `bad_request`), not axum's plain-text ones (`Failed to deserialize query string`, an
//! invalid percent-encoding in a path): DESIGN "Errors are JSON".

use super::ApiError;
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::response::IntoResponse;
use serde::de::DeserializeOwned;
use zegel_core::Error;

/// A rejection as a service error: 400 for what the client sent, 500 for what the router got
/// wrong (a path parameter that is not in the route).
fn rejection(r: impl IntoResponse, text: String) -> ApiError {
    if r.into_response().status().is_server_error() {
        ApiError(Error::Internal(text))
    } else {
        ApiError(Error::BadRequest(text))
    }
}

/// `axum::extract::Path` with JSON errors.
pub(crate) struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, s).await {
            Ok(Path(v)) => Ok(ApiPath(v)),
            Err(e) => {
                let text = e.body_text();
                Err(rejection(e, text))
            }
        }
    }
}

/// `axum::extract::Query` with JSON errors.
pub(crate) struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, s).await {
            Ok(Query(v)) => Ok(ApiQuery(v)),
            Err(e) => {
                let text = e.body_text();
                Err(rejection(e, text))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{header, Request, StatusCode};
    use axum::routing::get;
    use axum::Router;
    use serde::Deserialize;
    use tower::Service;

    #[derive(Deserialize)]
    struct Page {
        #[expect(dead_code, reason = "only parsed")]
        limit: Option<u32>,
    }

    async fn status_and_body(uri: &str) -> (StatusCode, String, String) {
        let mut app: Router = Router::new()
            .route("/p/{id}", get(|ApiPath(_): ApiPath<String>| async { "ok" }))
            .route("/q", get(|ApiQuery(_): ApiQuery<Page>| async { "ok" }));
        let res = app
            .call(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let ct = res
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let body = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, ct, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn a_query_or_path_that_does_not_parse_is_a_json_400() {
        assert_eq!(status_and_body("/q?limit=12").await.0, StatusCode::OK);
        assert_eq!(status_and_body("/p/abc").await.0, StatusCode::OK);
        for uri in ["/q?limit=x", "/q?limit=-1", "/q?limit=1&limit=2", "/p/%FF"] {
            let (status, ct, body) = status_and_body(uri).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
            assert_eq!(ct, "application/json", "{uri}");
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["error"], "bad_request", "{uri}: {body}");
        }
    }
}

//! The one JSON body reader of the APIs. Malformed input is 400 (not JSON, not an object, a
//! required field missing); well-formed JSON with a wrong value is 422 (a wrong type, an
//! unknown variant or field), decided by `serde_json::Error::classify()`, never by the text.

use super::{ApiError, AppState};
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;
use serde_json::error::Category;
use zegel_core::service::{ForwardReq, NewMessageReq, PolicyDoc};
use zegel_core::{Error, Invalid, TooLarge};

/// A request type whose required fields serde does not enforce itself (they are `Option`s so
/// that a missing one is told apart from a wrong one).
pub(crate) trait Required {
    /// The first required field that is missing, if any.
    fn missing_field(&self) -> Option<&'static str> {
        None
    }
}

impl Required for NewMessageReq {
    fn missing_field(&self) -> Option<&'static str> {
        NewMessageReq::missing_field(self)
    }
}

impl Required for ForwardReq {
    fn missing_field(&self) -> Option<&'static str> {
        ForwardReq::missing_field(self)
    }
}

impl Required for PolicyDoc {}

/// The largest JSON body (the message text may be `max_body_bytes`, escaped).
pub(crate) fn max_json_bytes(s: &AppState) -> usize {
    s.z.settings.max_body_bytes * 2 + 64 * 1024
}

/// Parses `bytes` (a request body or a multipart part called `what`) as a `T`.
pub(crate) fn parse_json<T: DeserializeOwned + Required>(
    bytes: &[u8],
    what: &str,
) -> Result<T, Error> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| match e.classify() {
            Category::Data => Error::Invalid(Invalid::Json(e.to_string())),
            Category::Syntax | Category::Eof | Category::Io => {
                Error::BadRequest(format!("{what} is not valid JSON: {e}"))
            }
        })?;
    if !value.is_object() {
        return Err(Error::BadRequest(format!("{what} must be a JSON object")));
    }
    let parsed: T = serde_json::from_value(value).map_err(|e| match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            Error::BadRequest(format!("{what} is not valid JSON: {e}"))
        }
        Category::Data => Error::Invalid(Invalid::Json(e.to_string())),
    })?;
    if let Some(field) = parsed.missing_field() {
        return Err(Error::BadRequest(format!("missing field `{field}`")));
    }
    Ok(parsed)
}

/// A JSON request body, read up to [`max_json_bytes`] and parsed with [`parse_json`].
pub(crate) struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + Required> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, s: &AppState) -> Result<Self, ApiError> {
        let bytes = read_body(req, s).await?;
        Ok(JsonBody(parse_json(&bytes, "body")?))
    }
}

/// The whole body of a JSON request, at most [`max_json_bytes`] (413 beyond).
pub(crate) async fn read_body(req: Request, s: &AppState) -> Result<axum::body::Bytes, Error> {
    let max = max_json_bytes(s);
    axum::body::to_bytes(req.into_body(), max)
        .await
        .map_err(|_| TooLarge::Json { max }.into())
}

#[cfg(test)]
#[path = "json_props.rs"]
mod props;

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Probe {
        #[expect(dead_code, reason = "only parsed")]
        n: u8,
        need: Option<String>,
    }

    impl Required for Probe {
        fn missing_field(&self) -> Option<&'static str> {
            self.need.is_none().then_some("need")
        }
    }

    fn status(body: &str) -> &'static str {
        match parse_json::<Probe>(body.as_bytes(), "body") {
            Ok(_) => "ok",
            Err(Error::BadRequest(_)) => "400",
            Err(Error::Invalid(_)) => "422",
            Err(_) => "other",
        }
    }

    #[test]
    fn malformed_is_400_and_wrong_values_are_422() {
        assert_eq!(status(r#"{"n": 1, "need": "x"}"#), "ok");
        assert_eq!(status(r#"{"n": 1, "need": "x""#), "400", "cut off");
        assert_eq!(status("{not json"), "400");
        assert_eq!(status(r#"[1, 2]"#), "400", "not an object");
        assert_eq!(status(r#"{"n": 1}"#), "400", "a required field missing");
        assert_eq!(
            status(r#"{"need": "x"}"#),
            "422",
            "serde's own required field"
        );
        assert_eq!(status(r#"{"n": 300, "need": "x"}"#), "422", "out of range");
        assert_eq!(status(r#"{"n": "1", "need": "x"}"#), "422", "wrong type");
        assert_eq!(
            status(r#"{"n": 1, "need": "x", "more": 1}"#),
            "422",
            "unknown field"
        );
    }
}

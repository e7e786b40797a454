//! The one JSON body reader of the APIs. A body that is not `application/json` is 415;
//! malformed input is 400 (not JSON, not an object, a required field missing); well-formed JSON
//! with a wrong value is 422 (a wrong type, an unknown variant or field), decided by
//! `serde_json::Error::classify()`, never by the text.
//!
//! Memory: a body is at most [`max_json_bytes`], and it is never turned into a
//! `serde_json::Value` (a 2 MiB array of `{"":0}` is 200 MiB of maps). A first pass checks the
//! syntax and counts the values without keeping any (at most [`MAX_JSON_VALUES`], 413 beyond);
//! then the body is parsed into the request type itself.

use super::{ApiError, AppState};
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap};
use futures::StreamExt;
use serde::de::{DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::error::Category;
use std::cell::Cell;
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

/// The most values (each array element and object member counts, nested ones too) one JSON
/// body may hold: room for thousands of recipients, and at most a few MiB of parsed request.
pub(crate) const MAX_JSON_VALUES: usize = 20_000;

/// Parses `bytes` (a request body or a multipart part called `what`) as a `T`.
pub(crate) fn parse_json<T: DeserializeOwned + Required>(
    bytes: &[u8],
    what: &str,
) -> Result<T, Error> {
    let syntax = |e: serde_json::Error| Error::BadRequest(format!("{what} is not valid JSON: {e}"));
    let left = Cell::new(MAX_JSON_VALUES);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    if let Err(e) = CountValues(&left)
        .deserialize(&mut de)
        .and_then(|()| de.end())
    {
        return Err(if left.get() == 0 {
            TooLarge::JsonValues {
                max: MAX_JSON_VALUES,
            }
            .into()
        } else {
            syntax(e)
        });
    }
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Error::BadRequest(format!("{what} must be a JSON object")));
    }
    let parsed: T = serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        Category::Data => Error::Invalid(Invalid::Json(e.to_string())),
        Category::Syntax | Category::Eof | Category::Io => syntax(e),
    })?;
    if let Some(field) = parsed.missing_field() {
        return Err(Error::BadRequest(format!("missing field `{field}`")));
    }
    Ok(parsed)
}

/// Checks one JSON value and everything in it, keeping nothing; fails when more values come
/// than `.0` has left.
struct CountValues<'a>(&'a Cell<usize>);

impl CountValues<'_> {
    fn take<E: serde::de::Error>(&self) -> Result<(), E> {
        match self.0.get() {
            0 => Err(E::custom("too many values")),
            n => {
                self.0.set(n - 1);
                Ok(())
            }
        }
    }
}

impl<'de> DeserializeSeed<'de> for CountValues<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CountValues<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        self.take()
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        self.take()
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        self.take()
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        self.take()
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        self.take()
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.take()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.take()?;
        while seq.next_element_seed(CountValues(self.0))?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.take()?;
        while map.next_key::<IgnoredAny>()?.is_some() {
            map.next_value_seed(CountValues(self.0))?;
        }
        Ok(())
    }
}

/// A JSON request body (`Content-Type: application/json`, else 415), read up to
/// [`max_json_bytes`] and parsed with [`parse_json`].
pub(crate) struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + Required> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, s: &AppState) -> Result<Self, ApiError> {
        if !has_media_type(req.headers(), "application/json") {
            return Err(Error::UnsupportedMediaType {
                expected: "application/json",
            }
            .into());
        }
        let bytes = read_body(req, s).await?;
        Ok(JsonBody(parse_json(&bytes, "body")?))
    }
}

/// Whether the request's `Content-Type` is `media_type` (any case, parameters such as
/// `; charset=utf-8` allowed).
pub(crate) fn has_media_type(headers: &HeaderMap, media_type: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(media_type))
}

/// The whole body of a JSON request, at most [`max_json_bytes`] (413 beyond, at once when the
/// `Content-Length` says so).
pub(crate) async fn read_body(req: Request, s: &AppState) -> Result<axum::body::Bytes, Error> {
    let max = max_json_bytes(s);
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > max as u64) {
        return Err(TooLarge::Json { max }.into());
    }
    let mut body = req.into_body().into_data_stream();
    let mut out = Vec::with_capacity(announced.map_or(0, |n| n as usize));
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| super::body_error(&e))?;
        if out.len() + chunk.len() > max {
            return Err(TooLarge::Json { max }.into());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.into())
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
            Err(Error::TooLarge(_)) => "413",
            Err(Error::Invalid(_)) => "422",
            Err(_) => "other",
        }
    }

    #[test]
    fn only_application_json_is_json() {
        let with = |ct: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, ct.parse().unwrap());
            has_media_type(&h, "application/json")
        };
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=utf-8"));
        assert!(with("application/json ;charset=UTF-8"));
        assert!(!with("text/plain"));
        assert!(!with("application/jsonx"));
        assert!(!with("application/json-seq"));
        assert!(!with("multipart/form-data; boundary=x"));
        assert!(!has_media_type(&HeaderMap::new(), "application/json"));
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
        assert_eq!(status(r#"{"n": 1, "need": "x"} {}"#), "400", "trailing");
        assert_eq!(status(r#"  {"n": 1, "need": "x"}  "#), "ok", "white space");
    }

    #[test]
    fn values_are_counted_nested_and_capped() {
        let many =
            |n: usize, item: &str| format!(r#"{{"n":1,"need":"x","x":[{}0]}}"#, item.repeat(n));
        // The object, its three members, the array's last element: n + 5 values.
        let fits = MAX_JSON_VALUES - 5;
        assert_eq!(
            status(&many(fits, "0,")),
            "422",
            "exactly the most: parsed (unknown field)"
        );
        assert_eq!(status(&many(fits + 1, "0,")), "413");
        // Each item is two values: the array or object, and what is in it (keys do not count).
        assert_eq!(status(&many(fits / 2, "[0],")), "422");
        assert_eq!(
            status(&many(fits / 2 + 1, "[0],")),
            "413",
            "nested values count"
        );
        assert_eq!(status(&many(fits / 2 + 1, r#"{"":0},"#)), "413");
        assert_eq!(status(&many(fits / 4, r#"{"":0},"#)), "422");
    }
}

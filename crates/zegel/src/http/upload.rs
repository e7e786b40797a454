//! Multipart request bodies: a small first part read whole (JSON or a form field, at most a
//! given size), then `attachment` file parts streamed into a draft's encrypted blobs, never
//! buffered. The parsing itself, with its bound on part headers, is `multipart`.

use super::json::{has_media_type, max_json_bytes, parse_json, read_body, Required};
use super::multipart::{multipart_error, Field, Parts};
use super::AppState;
use axum::extract::Request;
use axum::http::header;
use futures::StreamExt;
use serde::de::DeserializeOwned;
use zegel_core::service::Uploads;
use zegel_core::{Error, TooLarge};

/// A body that is either plain JSON or multipart with a JSON part `message` first
/// (CONTRACT: 400 when it is not first) and `attachment` parts after it.
pub(crate) enum MessageBody<T> {
    /// `application/json`: no attachments.
    Json(T),
    /// `multipart/form-data`: the `message` part parsed; attachments still to stream.
    Multipart(T, Parts),
}

impl<T: DeserializeOwned + Required> MessageBody<T> {
    /// Reads the JSON (whole) or the first part (whole), and leaves the files streaming; any
    /// other media type is 415.
    pub(crate) async fn from_request(req: Request, s: &AppState) -> Result<Self, Error> {
        if has_media_type(req.headers(), "application/json") {
            let bytes = read_body(req, s).await?;
            Ok(MessageBody::Json(parse_json(&bytes, "body")?))
        } else if has_media_type(req.headers(), "multipart/form-data") {
            let mut parts = Parts::from_request(req)?;
            let json = first_part(&mut parts, "message", max_json_bytes(s)).await?;
            Ok(MessageBody::Multipart(parse_json(&json, "message")?, parts))
        } else {
            Err(Error::UnsupportedMediaType {
                expected: "application/json or multipart/form-data",
            })
        }
    }
}

/// Reads the first multipart part, which must be named `name`, into memory (at most `max`
/// bytes: it is JSON or a form field, never a file).
pub(crate) async fn first_part(mp: &mut Parts, name: &str, max: usize) -> Result<Vec<u8>, Error> {
    let mut first = mp
        .next_field()
        .await?
        .ok_or_else(|| Error::BadRequest("empty multipart body".into()))?;
    if first.name() != Some(name) {
        return Err(Error::BadRequest(format!(
            "the first part must be `{name}`"
        )));
    }
    read_part(&mut first, max, || TooLarge::Part {
        name: name.to_owned(),
        max,
    })
    .await
}

/// Reads a small text part of an HTML form (at most `max` bytes).
pub(crate) async fn text_part(field: &mut Field, max: usize) -> Result<String, Error> {
    let bytes = read_part(field, max, || TooLarge::FormField { max }).await?;
    String::from_utf8(bytes).map_err(|_| Error::BadRequest("form field is not UTF-8".into()))
}

async fn read_part(
    field: &mut Field,
    max: usize,
    too_large: impl Fn() -> TooLarge,
) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if out.len() + chunk.len() > max {
            return Err(too_large().into());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Streams every remaining `attachment` part into the draft's encrypted blobs. An empty file
/// input (no file name, no bytes) from an HTML form is skipped.
pub(crate) async fn stream_attachments(mp: &mut Parts, uploads: &mut Uploads) -> Result<(), Error> {
    while let Some(field) = mp.next_field().await? {
        stream_attachment(field, uploads).await?;
    }
    Ok(())
}

/// Streams one `attachment` part into the draft's encrypted blobs (any other part is 400). An
/// empty file input (no file name, no bytes) from an HTML form is skipped.
pub(crate) async fn stream_attachment(field: Field, uploads: &mut Uploads) -> Result<(), Error> {
    if field.name() != Some("attachment") {
        return Err(Error::BadRequest(format!(
            "unexpected part {:?}; only `attachment` parts may follow `message`",
            field.name().unwrap_or("")
        )));
    }
    let name = field.file_name().unwrap_or("").to_string();
    let content_type = field
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
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
            return Ok(());
        }
    }
    uploads.add(&name, &content_type, stream).await
}

#[cfg(test)]
#[path = "upload_props.rs"]
mod props;

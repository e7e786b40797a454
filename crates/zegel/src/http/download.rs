//! Streamed downloads: decrypted attachments and the `.eml` copy, always as attachments with a
//! safe file name (DESIGN "Download names").

use axum::body::Body;
use axum::http::{header, HeaderValue};
use axum::response::Response;
use futures::stream::BoxStream;
use futures::StreamExt;
use zegel_core::service::AttachmentView;
use zegel_core::Error;

/// Streams an `.eml` download.
pub(crate) fn eml_response(
    name: &str,
    stream: BoxStream<'static, Result<bytes::Bytes, Error>>,
) -> Response {
    stream_download("message/rfc822", name, None, stream)
}

/// A file name that is safe in a download (DESIGN "Download names"): the service's
/// [`zegel_core::service::file_name`] rules, applied again where the name leaves the server
/// (no path separators, CR, LF, NUL, other control or invisible format characters, trailing
/// dots or spaces, or Windows device names; not empty or dots only).
pub(crate) fn safe_file_name(name: &str) -> String {
    zegel_core::service::file_name(name)
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
#[path = "download_props.rs"]
mod props;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_names_are_made_safe() {
        assert_eq!(safe_file_name("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(safe_file_name("a\r\nb\0.pdf"), "a b.pdf");
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

    #[test]
    fn issue_12_invisible_characters_and_device_names_never_reach_the_header() {
        let cd = content_disposition("rapport\u{202e}fdp.exe\u{200b}.txt");
        assert_eq!(
            cd,
            "attachment; filename=\"rapportfdp.exe.txt\"; filename*=UTF-8''rapportfdp%2Eexe%2Etxt"
        );
        let cd = content_disposition("Con.txt. . ");
        assert!(cd.starts_with("attachment; filename=\"_Con.txt\";"), "{cd}");
        let cd = content_disposition("\u{feff}\u{2066}uitslag\u{2069}.pdf\u{00a0}\u{3000}");
        assert!(cd.contains("filename*=UTF-8''uitslag%2Epdf"), "{cd}");
    }
}

//! `multipart/form-data` bodies, parsed by multer behind a framing budget.
//!
//! multer keeps everything it reads in memory until it has found what it looks for: the first
//! boundary (a preamble), and the blank line that ends a part's headers. A client that sends a
//! part header that never ends would grow that buffer up to the body limit (hundreds of MiB;
//! issue 12). Field data is handed out as it arrives, so only the search for the next part needs
//! a bound: while [`Parts::next_field`] runs, at most [`FRAMING_BUDGET`] bytes may be read from
//! the body; beyond that the request fails with 413. Each part must be read to its end (or the
//! request abandoned) before the next is asked for, or its rest counts against that budget too.

use axum::body::Bytes;
use axum::extract::Request;
use axum::http::header;
use axum::RequestExt;
use futures::{Stream, StreamExt};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use zegel_core::{Error, TooLarge};

/// What may be read from the body while looking for the next part: its boundary line and
/// headers (a few hundred bytes in practice), plus what the same network reads bring of the
/// part's data.
pub(crate) const FRAMING_BUDGET: usize = 1 << 20;

/// "No budget running": a part's data is being read.
const UNLIMITED: usize = usize::MAX;

/// One part, streamed (`Stream` of `Bytes`, or `chunk()`).
pub(crate) type Field = multer::Field<'static>;

/// A multipart body.
pub(crate) struct Parts {
    inner: multer::Multipart<'static>,
    budget: Arc<AtomicUsize>,
}

impl Parts {
    /// The body of `req`, which must be `multipart/form-data` with a boundary (else 400); the
    /// route's body limit (`DefaultBodyLimit`) applies (413).
    pub(crate) fn from_request(req: Request) -> Result<Parts, Error> {
        let boundary = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|ct| multer::parse_boundary(ct).ok())
            .ok_or_else(|| {
                Error::BadRequest("expected multipart/form-data with a boundary".into())
            })?;
        let budget = Arc::new(AtomicUsize::new(UNLIMITED));
        let body = Budgeted {
            inner: req.with_limited_body().into_body().into_data_stream(),
            budget: budget.clone(),
            just_gave: false,
        };
        Ok(Parts {
            inner: multer::Multipart::new(body, boundary),
            budget,
        })
    }

    /// The next part, `None` after the last.
    pub(crate) async fn next_field(&mut self) -> Result<Option<Field>, Error> {
        self.budget.store(FRAMING_BUDGET, Ordering::Relaxed);
        let next = self.inner.next_field().await;
        self.budget.store(UNLIMITED, Ordering::Relaxed);
        next.map_err(multipart_error)
    }

    /// Reads the rest of the body and throws it away (`first` is a part already handed out):
    /// a form answered early (CSRF, field errors) is read to its end, so the browser still
    /// sending its files gets the answer, not a reset connection. Nothing is kept; the
    /// route's body limit and the server's idle timeout bound it; an error ends it quietly.
    pub(crate) async fn drain(mut self, first: Option<Field>) {
        if let Some(f) = first {
            if drain_field(f).await.is_err() {
                return;
            }
        }
        while let Ok(Some(f)) = self.next_field().await {
            if drain_field(f).await.is_err() {
                return;
            }
        }
    }
}

/// Reads one part to its end, keeping nothing.
async fn drain_field(mut f: Field) -> Result<(), multer::Error> {
    while f.chunk().await?.is_some() {}
    Ok(())
}

/// The body as multer reads it, failing with [`FramingTooLarge`] when a budget runs out.
///
/// It hands out one chunk per poll: multer reads everything that is ready in one go, which from
/// a fast source would be the whole body; a `Pending` (with an immediate wake-up) after each
/// chunk makes it look at what it has first.
struct Budgeted<S> {
    inner: S,
    budget: Arc<AtomicUsize>,
    just_gave: bool,
}

/// More than [`FRAMING_BUDGET`] bytes read while looking for the next part.
#[derive(Debug, thiserror::Error)]
#[error("multipart boundary and part headers over {FRAMING_BUDGET} bytes")]
struct FramingTooLarge;

impl<S, E> Stream for Budgeted<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: Into<axum::BoxError>,
{
    type Item = Result<Bytes, axum::BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if std::mem::take(&mut self.just_gave) {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let chunk = match self.inner.poll_next_unpin(cx) {
            Poll::Ready(Some(Ok(chunk))) => chunk,
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        };
        let left = self.budget.load(Ordering::Relaxed);
        if left != UNLIMITED {
            if chunk.len() > left {
                return Poll::Ready(Some(Err(Box::new(FramingTooLarge))));
            }
            self.budget.store(left - chunk.len(), Ordering::Relaxed);
        }
        self.just_gave = true;
        Poll::Ready(Some(Ok(chunk)))
    }
}

/// A multipart error as a service error: 413 over a limit (the body limit, the framing
/// budget), else 400.
pub(crate) fn multipart_error(e: multer::Error) -> Error {
    match e {
        multer::Error::StreamReadFailed(cause) => super::body_error(&*cause),
        multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. } => {
            TooLarge::Request.into()
        }
        e => Error::BadRequest(format!("malformed multipart body: {e}")),
    }
}

/// Whether `e` (or what caused it) is the framing budget running out.
pub(crate) fn is_framing_too_large(e: &(dyn std::error::Error + 'static)) -> bool {
    e.is::<FramingTooLarge>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    fn request(body: Body) -> Request {
        Request::builder()
            .header(header::CONTENT_TYPE, "multipart/form-data; boundary=B")
            .body(body)
            .unwrap_or_default()
    }

    /// `n` bytes in 64 KiB chunks.
    fn chunks(prefix: &'static [u8], n: usize) -> Body {
        let first = futures::stream::once(async move { Ok(Bytes::from_static(prefix)) });
        let rest = futures::stream::repeat_with(|| Bytes::from(vec![b'a'; 64 * 1024]))
            .take(n / (64 * 1024))
            .map(Ok::<_, std::io::Error>);
        Body::from_stream(first.chain(rest))
    }

    #[tokio::test]
    async fn a_part_header_that_never_ends_is_refused_within_the_budget() {
        let body = chunks(
            b"--B\r\nContent-Disposition: form-data; name=\"x\"\r\nX: ",
            8 << 20,
        );
        let mut parts = Parts::from_request(request(body)).unwrap();
        let err = parts.next_field().await.err();
        assert!(
            matches!(err, Some(Error::TooLarge(TooLarge::PartHeaders { max })) if max == FRAMING_BUDGET),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn a_preamble_that_never_ends_is_refused_within_the_budget() {
        let mut parts = Parts::from_request(request(chunks(b"", 8 << 20))).unwrap();
        let err = parts.next_field().await.err();
        assert!(
            matches!(err, Some(Error::TooLarge(TooLarge::PartHeaders { .. }))),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn the_budget_does_not_limit_field_data() {
        // Without a route's `DefaultBodyLimit`, axum's default of 2 MB applies.
        let head = b"--B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a\"\r\n\r\n";
        let body = chunks(head, FRAMING_BUDGET + FRAMING_BUDGET / 2)
            .into_data_stream()
            .chain(futures::stream::once(async {
                Ok(Bytes::from_static(b"\r\n--B--\r\n"))
            }));
        let mut parts = Parts::from_request(request(Body::from_stream(body))).unwrap();
        let mut field = parts.next_field().await.unwrap().unwrap();
        let mut n = 0;
        while let Some(c) = field.chunk().await.unwrap() {
            n += c.len();
        }
        assert_eq!(n, FRAMING_BUDGET + FRAMING_BUDGET / 2);
        drop(field);
        assert!(parts.next_field().await.unwrap().is_none());
    }
}

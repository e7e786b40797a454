//! The server loop: hyper's HTTP/1 connections instead of `axum::serve`, for what a hostile
//! client must not be able to do (DESIGN.md "Hostile clients"):
//!
//! - hold a connection with request headers that never end, or an idle keep-alive connection:
//!   hyper's header read timeout closes it ([`ServerLimits::header_timeout`]);
//! - announce a body and stop sending it: every request body is an [`IdleBody`] that fails when
//!   no data came for [`ServerLimits::body_idle`], which ends the request and the connection;
//! - open more connections than the server can afford: at most
//!   [`ServerLimits::max_connections`] at once; further ones wait in the listen backlog (they are
//!   not accepted) until one closes, as Go's `netutil.LimitListener` does.
//!
//! Handlers still see `ConnectInfo<SocketAddr>`. When `shutdown` completes the listener closes
//! and the requests in flight finish (hyper's graceful shutdown) before [`serve`] returns.

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::Router;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Sleep;
use tower::ServiceExt;

/// The server's own limits (`ZEGEL_HTTP_HEADER_TIMEOUT_SECS`, `ZEGEL_HTTP_BODY_IDLE_SECS`,
/// `ZEGEL_MAX_CONNECTIONS`).
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// How long a request's headers may take to arrive, and how long a keep-alive connection
    /// may stay idle between requests.
    pub header_timeout: Duration,
    /// How long a request body may send nothing before the request fails.
    pub body_idle: Duration,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_timeout: Duration::from_secs(30),
            body_idle: Duration::from_secs(30),
            max_connections: 1024,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then lets the requests in flight
/// finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut last_full_warning: Option<Instant> = None;
    loop {
        if permits.available_permits() == 0
            && last_full_warning.is_none_or(|t| t.elapsed() > Duration::from_secs(60))
        {
            tracing::warn!(
                max = limits.max_connections,
                "connection limit reached: new connections wait"
            );
            last_full_warning = Some(Instant::now());
        }
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little instead of spinning.
                    tracing::error!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let idle = limits.body_idle;
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let mut req = req.map(|b| Body::new(IdleBody::new(b, idle)));
            req.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(req)
        });
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                // Timeouts, resets, malformed requests: the client's business.
                tracing::debug!(error = %e, "connection closed with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// A request body that fails with [`BodyStalled`] when no data arrives for a while. The clock
/// runs only while the handler waits for the body, and restarts with every frame, so a slow
/// but moving upload is never cut.
pub struct IdleBody<B> {
    inner: B,
    idle: Duration,
    timer: Option<Pin<Box<Sleep>>>,
    armed: bool,
}

impl<B> IdleBody<B> {
    /// `inner`, failing after `idle` without data.
    pub fn new(inner: B, idle: Duration) -> Self {
        IdleBody {
            inner,
            idle,
            timer: None,
            armed: false,
        }
    }
}

/// A request body that sent nothing for longer than the idle timeout.
#[derive(Debug, thiserror::Error)]
#[error("the request body stalled (nothing for {} s)", .0.as_secs())]
pub struct BodyStalled(Duration);

impl<B> http_body::Body for IdleBody<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            this.armed = false;
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        let deadline = tokio::time::Instant::now() + this.idle;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if !this.armed {
            timer.as_mut().reset(deadline);
            this.armed = true;
        }
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyStalled(this.idle))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// A body of `n` one-byte frames, `gap` apart.
    fn trickle(n: usize, gap: Duration) -> Body {
        let frames = futures::stream::unfold(0, move |i| async move {
            if i == n {
                return None;
            }
            tokio::time::sleep(gap).await;
            Some((Ok::<_, std::io::Error>(Bytes::from_static(b"x")), i + 1))
        });
        Body::from_stream(frames)
    }

    #[tokio::test]
    async fn a_moving_body_is_never_cut_and_a_stalled_one_fails() {
        let ms = Duration::from_millis;
        // 8 frames 150 ms apart take 1.2 s in all, each well within a 400 ms idle timeout.
        let moving = IdleBody::new(trickle(8, ms(150)), ms(400));
        let bytes = moving.collect().await.map(|c| c.to_bytes());
        assert_eq!(bytes.ok().map(|b| b.len()), Some(8));
        // A gap of 2 s fails after the 400 ms.
        let start = tokio::time::Instant::now();
        let stalled = IdleBody::new(trickle(2, Duration::from_secs(2)), ms(400));
        let err = stalled.collect().await.err().map(|e| e.is::<BodyStalled>());
        assert_eq!(err, Some(true));
        let took = start.elapsed();
        assert!(took >= ms(400) && took < ms(1500), "{took:?}");
    }
}

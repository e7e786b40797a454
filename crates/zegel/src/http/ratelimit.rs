//! Per-address rate limits for everything a stranger can reach (links, challenge, verify).
//! Node-local by design: the security-relevant counters (wrong codes, lockouts) live in the
//! database; this only sheds floods.

use super::{client_ip, AppState};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;

/// A keyed limiter by client address.
pub struct Limiter {
    inner: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl Limiter {
    /// `per_minute` sustained, `burst` at once.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        Limiter {
            inner: RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst)),
            clock: DefaultClock::default(),
        }
    }

    /// `Err(seconds to wait)` when over the limit.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        if self.inner.len() > 100_000 {
            self.inner.retain_recent();
        }
        self.inner
            .check_key(&key.to_string())
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()).as_secs().max(1))
    }
}

/// Middleware: 429 with `Retry-After` when an address is over its limit.
pub async fn limit(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let key = client_ip(&req, s.opts.trust_forwarded_for).unwrap_or_else(|| "unknown".into());
    match s.limiter.check(&key) {
        Ok(()) => next.run(req).await,
        Err(wait) => {
            tracing::warn!(client = %key, "rate limit exceeded");
            let wants_json = req.uri().path().starts_with("/api/");
            let mut res = if wants_json {
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    axum::Json(serde_json::json!({"error": "rate_limited", "detail": {"retry_after_seconds": wait}})),
                )
                    .into_response()
            } else {
                super::pages::rate_limited_page(&req, wait)
            };
            if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
            res
        }
    }
}

//! Per-address rate limits for everything a stranger can reach (links, challenge, verify).
//! Node-local by design: the security-relevant counters (wrong codes, lockouts) live in the
//! database; this only sheds floods.
//!
//! Keys are [`proxy::rate_key`]s (an IPv4 address or an IPv6 /64). The map is bounded: when it
//! holds [`MAX_KEYS`] addresses, new ones share one overflow bucket until a sweep makes room.
//! Sweeps (dropping addresses whose allowance is whole again) run at most once a minute, or every
//! few seconds while the map is full, never on every request.

use super::{client_ip, proxy, AppState};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::{DashMapStateStore, ShrinkableKeyedStateStore};
use governor::state::StateStore;
use governor::{Quota, RateLimiter};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Addresses tracked at once (a few MiB).
pub const MAX_KEYS: usize = 100_000;
/// The address new addresses share while the map is full (`::`, never a client).
const OVERFLOW: IpAddr = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
/// The key of a request without a peer address (none in production).
const UNKNOWN: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
/// Sweep interval, and while the map is full.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
const SWEEP_WHEN_FULL: Duration = Duration::from_secs(5);

/// What is counted: requests to stranger-reachable routes, or failed sign-ins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    /// Every request to a stranger-reachable route.
    Stranger,
    /// A request with a wrong API token.
    FailedAuth,
}

type Key = (Bucket, IpAddr);

/// A governor state store of at most `max` keys; further keys share their bucket's
/// [`OVERFLOW`] address.
struct Bounded {
    map: DashMapStateStore<Key>,
    max: usize,
}

impl StateStore for Bounded {
    type Key = Key;

    fn measure_and_replace<T, F, E>(&self, key: &Key, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        if self.map.contains_key(key) || self.map.len() < self.max {
            self.map.measure_and_replace(key, f)
        } else {
            self.map.measure_and_replace(&(key.0, OVERFLOW), f)
        }
    }
}

impl ShrinkableKeyedStateStore<Key> for Bounded {
    fn retain_recent(&self, drop_below: Nanos) {
        ShrinkableKeyedStateStore::retain_recent(&self.map, drop_below);
    }

    fn shrink_to_fit(&self) {
        self.map.shrink_to_fit();
    }

    fn len(&self) -> usize {
        self.map.len()
    }

    fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// A keyed limiter by client address.
pub struct Limiter {
    inner:
        RateLimiter<Key, Bounded, DefaultClock, NoOpMiddleware<<DefaultClock as Clock>::Instant>>,
    clock: DefaultClock,
    max: usize,
    started: Instant,
    /// Milliseconds after `started` of the last sweep.
    last_sweep: AtomicU64,
}

impl Limiter {
    /// `per_minute` sustained, `burst` at once, at most [`MAX_KEYS`] addresses.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        Self::with_max_keys(per_minute, burst, MAX_KEYS)
    }

    fn with_max_keys(per_minute: u32, burst: u32, max: usize) -> Self {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let clock = DefaultClock::default();
        let store = Bounded {
            map: DashMapStateStore::default(),
            max,
        };
        Limiter {
            inner: RateLimiter::new(
                Quota::per_minute(per_minute).allow_burst(burst),
                store,
                clock.clone(),
            ),
            clock,
            max,
            started: Instant::now(),
            last_sweep: AtomicU64::new(0),
        }
    }

    /// `Err(seconds to wait)` when `ip` (a [`proxy::rate_key`]) is over the limit of `bucket`.
    pub fn check(&self, bucket: Bucket, ip: IpAddr) -> Result<(), u64> {
        self.sweep_if_due();
        self.inner
            .check_key(&(bucket, ip))
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()).as_secs().max(1))
    }

    /// Addresses tracked now.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether no address is tracked.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// One caller sweeps when a sweep is due; the others go on at once. The map's size is
    /// looked at only when the short interval has passed.
    fn sweep_if_due(&self) {
        let now = self.started.elapsed().as_millis() as u64;
        let last = self.last_sweep.load(Ordering::Relaxed);
        let since = Duration::from_millis(now.saturating_sub(last));
        let due = since >= SWEEP_EVERY || (since >= SWEEP_WHEN_FULL && self.len() >= self.max);
        if due
            && self
                .last_sweep
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.inner.retain_recent();
            self.inner.shrink_to_fit();
        }
    }
}

/// Middleware: 429 with `Retry-After` when an address is over its limit.
pub async fn limit(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let key = client_ip(&req, &s.opts.proxies).map_or(UNKNOWN, proxy::rate_key);
    match s.limiter.check(Bucket::Stranger, key) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(i: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i))
    }

    #[test]
    fn the_map_is_bounded_and_new_addresses_share_the_overflow_bucket() {
        let l = Limiter::with_max_keys(60, 2, 10);
        for i in 0..10 {
            assert_eq!(l.check(Bucket::Stranger, v4(i)), Ok(()));
        }
        assert_eq!(l.len(), 10);
        // Full: three new addresses share one bucket of 2.
        assert_eq!(l.check(Bucket::Stranger, v4(100)), Ok(()));
        assert_eq!(l.check(Bucket::Stranger, v4(101)), Ok(()));
        assert!(l.check(Bucket::Stranger, v4(102)).is_err());
        assert_eq!(l.len(), 11, "the ten addresses and the overflow bucket");
        // Known addresses keep their own allowance.
        assert_eq!(l.check(Bucket::Stranger, v4(3)), Ok(()));
        assert!(l.check(Bucket::Stranger, v4(3)).is_err());
    }

    #[test]
    fn a_sweep_runs_when_due_and_not_on_every_request() {
        let l = Limiter::with_max_keys(6000, 1, 1000);
        for i in 0..50 {
            assert_eq!(l.check(Bucket::Stranger, v4(i)), Ok(()));
        }
        // 100 per second: every bucket is whole again after 10 ms, yet nothing is swept
        // before a sweep is due.
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(l.check(Bucket::Stranger, v4(1000)), Ok(()));
        assert_eq!(l.len(), 51);
        // Due (pretend the last sweep was a minute ago): the idle addresses go.
        l.last_sweep.store(0, Ordering::Relaxed);
        let started = Instant::now() - SWEEP_EVERY - Duration::from_secs(1);
        let l = Limiter { started, ..l };
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(l.check(Bucket::Stranger, v4(2000)), Ok(()));
        assert!(l.len() <= 2, "{} left", l.len());
        // A full map is swept after a few seconds already.
        let l = Limiter::with_max_keys(6000, 1, 10);
        for i in 0..10 {
            assert_eq!(l.check(Bucket::Stranger, v4(i)), Ok(()));
        }
        std::thread::sleep(Duration::from_millis(30));
        let started = Instant::now() - SWEEP_WHEN_FULL - Duration::from_secs(1);
        let l = Limiter { started, ..l };
        assert_eq!(l.check(Bucket::Stranger, v4(3000)), Ok(()));
        assert!(l.len() <= 2, "{} left", l.len());
    }
}

//! HTTP: thin handlers over the service layer. `api` (sender JSON), `access` (recipient JSON),
//! `viewer` (recipient HTML), plus health, metrics, security headers, rate limits and request
//! logs. Shared by them: `auth` (who is calling), `proxy` (which address that is), `json` (the
//! one JSON body reader), `multipart` and `upload` (multipart bodies streamed into drafts),
//! `download` (streamed downloads), `error` (the JSON error envelope), `pages` (what every HTML
//! page shares: language, CSRF, chrome, problem pages). `server` is the connection loop with
//! its limits against slow and greedy clients.

mod access;
mod api;
mod auth;
mod download;
mod error;
mod extract;
mod json;
mod multipart;
mod pages;
pub mod proxy;
pub(crate) mod ratelimit;
mod receipts;
mod routes;
pub mod sender;
pub mod server;
mod upload;
mod viewer;

pub use error::ApiError;
pub use proxy::TrustedProxies;
pub use routes::ApiRoute;

use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;
use zegel_core::{ClientCtx, Error, TooLarge, Zegel};

/// HTTP settings from the configuration.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Requests per minute per client address on stranger-reachable routes.
    pub rate_limit_per_minute: u32,
    /// Burst.
    pub rate_limit_burst: u32,
    /// The proxies whose `X-Forwarded-For` names the client.
    pub proxies: TrustedProxies,
    /// Whether `public_url` is https (cookies get `Secure`).
    pub secure_cookies: bool,
    /// `/metrics` is served on its own listener (`ZEGEL_METRICS_LISTEN`), not on this router.
    pub metrics_elsewhere: bool,
}

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    pub z: Arc<Zegel>,
    pub opts: Arc<HttpOptions>,
    pub limiter: Arc<ratelimit::Limiter>,
    pub metrics: Arc<Metrics>,
}

/// Request counters by status class (node-local; Prometheus sums the nodes).
#[derive(Default)]
pub struct Metrics {
    by_class: [std::sync::atomic::AtomicU64; 5],
}

impl Metrics {
    fn count(&self, status: u16) {
        let i = usize::from((status / 100).clamp(1, 5) - 1);
        self.by_class[i].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl AppState {
    fn new(z: Arc<Zegel>, opts: HttpOptions) -> Self {
        AppState {
            limiter: Arc::new(ratelimit::Limiter::new(
                opts.rate_limit_per_minute,
                opts.rate_limit_burst,
            )),
            opts: Arc::new(opts),
            metrics: Arc::new(Metrics::default()),
            z,
        }
    }
}

/// The whole router (with `/metrics` unless it is served elsewhere: [`router_and_metrics`]).
pub fn router(z: Arc<Zegel>, opts: HttpOptions) -> Router {
    router_and_metrics(z, opts).0
}

/// The whole router, and the router of the metrics listener when `/metrics` has its own; both
/// count into the same metrics.
pub fn router_and_metrics(z: Arc<Zegel>, opts: HttpOptions) -> (Router, Option<Router>) {
    let state = AppState::new(z, opts);
    let metrics_router = state.opts.metrics_elsewhere.then(|| {
        Router::new()
            .route("/metrics", get(metrics))
            .layer(middleware::from_fn(security_headers))
            .with_state(state.clone())
    });
    let (access, _) = access::routes(&state).finish();
    let (api, _) = api::routes(&state).finish();
    let stranger = Router::new()
        .merge(access)
        .merge(viewer::routes(&state))
        .merge(sender::public_routes(&state))
        .merge(receipts::routes())
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            ratelimit::limit,
        ));
    let mut main = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    if !state.opts.metrics_elsewhere {
        main = main.route("/metrics", get(metrics));
    }
    let main = main
        .route("/static/zegel.css", get(pages::stylesheet))
        .route("/logo/{org_id}", get(logo))
        .merge(api)
        .merge(sender::routes(&state))
        .merge(stranger)
        .fallback(not_found)
        .layer(middleware::from_fn(security_headers))
        .layer(middleware::from_fn_with_state(state.clone(), log_request))
        .with_state(state);
    (main, metrics_router)
}

/// Every route of the JSON API (sender and access API), as [`router`] registers them: what
/// `openapi.json` must document.
pub fn api_routes(z: Arc<Zegel>, opts: HttpOptions) -> Vec<ApiRoute> {
    let state = AppState::new(z, opts);
    let (_, table) = api::routes(&state).merge(access::routes(&state)).finish();
    table
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(s): State<AppState>) -> Response {
    let db = s.z.store.ping().await;
    let blobs = s.z.blobs.ping().await;
    match (db, blobs) {
        (Ok(()), Ok(())) => Json(serde_json::json!({"status": "ready"})).into_response(),
        (db, blobs) => {
            if let Err(e) = &db {
                tracing::error!(error = %e, "readyz: database not reachable");
            }
            if let Err(e) = &blobs {
                tracing::error!(error = %e, "readyz: blob storage not reachable");
            }
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({
                    "status": "unavailable",
                    "database": db.is_ok(),
                    "blobs": blobs.is_ok(),
                })),
            )
                .into_response()
        }
    }
}

/// Prometheus text format.
async fn metrics(State(s): State<AppState>) -> Response {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP zegel_http_requests_total HTTP responses by status class."
    );
    let _ = writeln!(out, "# TYPE zegel_http_requests_total counter");
    for (i, c) in s.metrics.by_class.iter().enumerate() {
        let _ = writeln!(
            out,
            "zegel_http_requests_total{{class=\"{}xx\"}} {}",
            i + 1,
            c.load(std::sync::atomic::Ordering::Relaxed)
        );
    }
    match s.z.store.job_counts().await {
        Ok((pending, dead)) => {
            let _ = writeln!(out, "# HELP zegel_jobs_pending Jobs waiting or running.");
            let _ = writeln!(out, "# TYPE zegel_jobs_pending gauge");
            let _ = writeln!(out, "zegel_jobs_pending {pending}");
            let _ = writeln!(out, "# HELP zegel_jobs_dead Jobs that failed permanently.");
            let _ = writeln!(out, "# TYPE zegel_jobs_dead gauge");
            let _ = writeln!(out, "zegel_jobs_dead {dead}");
        }
        Err(e) => tracing::error!(error = %e, "metrics: job counts failed"),
    }
    write_sms_metrics(&s.z, &mut out).await;
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

/// An SMS gauge: its name, its help text and its value for one organisation.
type Gauge = (
    &'static str,
    &'static str,
    fn(&zegel_core::codes::SmsUsage) -> i64,
);

/// A Prometheus label value: backslash, quote and newline escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The SMS budget on `/metrics`: per organisation, today's (UTC) SMS codes sent, refused
/// because the budget was spent, and the budget itself. Read from the database, so every node
/// reports the same, cluster-wide numbers (gauges, not node-local counters). Nothing when the
/// database cannot be read (logged).
async fn write_sms_metrics(z: &Zegel, out: &mut String) {
    use std::fmt::Write;
    let today = zegel_core::codes::utc_day(zegel_core::model::Ts::now());
    let usage = match z.store.sms_usage(today).await {
        Ok(u) => u,
        Err(e) => {
            tracing::error!(error = %e, "metrics: SMS usage failed");
            return;
        }
    };
    let gauges: [Gauge; 3] = [
        (
            "zegel_sms_sent_today",
            "SMS codes sent today (UTC) per organisation.",
            |u| u.sent,
        ),
        (
            "zegel_sms_refused_today",
            "SMS codes refused today (UTC) because the organisation's budget was spent.",
            |u| u.refused,
        ),
        (
            "zegel_sms_budget_per_day",
            "The organisation's SMS budget per day (sms_per_day).",
            |u| u.per_day,
        ),
    ];
    for (name, help, value) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for u in &usage {
            let _ = writeln!(out, "{name}{{org=\"{}\"}} {}", label(&u.org_slug), value(u));
        }
    }
}

async fn not_found(req: Request) -> Response {
    if req.uri().path().starts_with("/api/") {
        ApiError(zegel_core::Error::NotFound).into_response()
    } else {
        pages::not_found_page(&req)
    }
}

/// DESIGN.md's security baseline on every response.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'; \
             base-uri 'none'; form-action 'self'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// An organisation's logo (public: it is on every recipient page of that organisation).
async fn logo(State(s): State<AppState>, Path(org_id): Path<String>) -> Response {
    match s.z.store.org_logo(&org_id).await {
        Ok(Some((bytes, ct))) => (
            [
                (header::CONTENT_TYPE, ct),
                (header::CACHE_CONTROL, "public, max-age=3600".to_string()),
            ],
            bytes,
        )
            .into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "logo lookup failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// One log line per request: method, route template (never the token-bearing path), status,
/// duration, request id.
async fn log_request(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "(unmatched)".into());
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    let ip = client_ip(&req, &s.opts.proxies);
    let mut res = next.run(req).await;
    let status = res.status().as_u16();
    s.metrics.count(status);
    let internal = res.extensions().get::<InternalError>().map(|e| e.0.clone());
    if let Some(err) = internal {
        tracing::error!(%method, %route, status, request_id, error = %err, "request failed");
    } else {
        tracing::info!(%method, %route, status, ms = start.elapsed().as_millis() as u64, request_id, client = %ip.map_or_else(|| "-".to_string(), |ip| ip.to_string()), "request");
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert("x-request-id", v);
    }
    res
}

/// The text of an internal error, for the request logger (never the body).
#[derive(Clone, Debug)]
pub struct InternalError(pub String);

/// The client address: the peer, or behind a trusted proxy the address it forwards for
/// ([`TrustedProxies::client`]). `None` without a peer address (never on a real connection).
pub(crate) fn client_ip_of(
    headers: &axum::http::HeaderMap,
    ext: &axum::http::Extensions,
    proxies: &TrustedProxies,
) -> Option<IpAddr> {
    let peer = ext.get::<ConnectInfo<SocketAddr>>()?.0.ip();
    Some(proxies.client(peer, headers))
}

pub(crate) fn client_ip(req: &Request<Body>, proxies: &TrustedProxies) -> Option<IpAddr> {
    client_ip_of(req.headers(), req.extensions(), proxies)
}

/// Why a request body could not be read, from the error (or what caused it): 413 over the body
/// limit or the multipart framing budget, else 400 (a stalled or broken body).
pub(crate) fn body_error(e: &(dyn std::error::Error + 'static)) -> Error {
    let mut cause = Some(e);
    while let Some(e) = cause {
        if multipart::is_framing_too_large(e) {
            return TooLarge::PartHeaders {
                max: multipart::FRAMING_BUDGET,
            }
            .into();
        }
        if e.is::<http_body_util::LengthLimitError>() {
            return TooLarge::Request.into();
        }
        if e.is::<server::BodyStalled>() {
            return Error::BadRequest(e.to_string());
        }
        cause = e.source();
    }
    Error::BadRequest("the request body could not be read".into())
}

/// The NEN 7513 context of a request.
pub struct Client(pub ClientCtx);

impl axum::extract::FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        s: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ip = client_ip_of(&parts.headers, &parts.extensions, &s.opts.proxies)
            .map(|ip| ip.to_string());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().filter(|c| !c.is_control()).take(200).collect());
        Ok(Client(ClientCtx { ip, user_agent }))
    }
}

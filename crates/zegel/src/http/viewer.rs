//! The recipient's HTML pages, all under `/m/{token}`. GET never changes anything (mail
//! scanners follow links); every form carries a CSRF token (double-submit cookie, plus an
//! Origin check).
//!
//! Texts come from the catalogs in `zegel_core::i18n` (Dutch default, English). The page
//! language is `?lang=nl|en` on a GET (remembered in the `zegel_lang` cookie), else that cookie,
//! else `Accept-Language`, else Dutch; every page links to itself in the other language.

use super::download::{download_response, eml_response};
use super::error::status_of;
use super::upload::{multipart_error, stream_attachments, text_part};
use super::{AppState, Client};
use askama::Template;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::Deserialize;
use zegel_core::i18n::{self, tr, tr_args, tr_with, Args, Lang};
use zegel_core::model::{Ts, Verification};
use zegel_core::service::{LinkInfo, LinkState, ReplyRefusal};
use zegel_core::{Conflict, Error, GoneReason, Invalid, NotAllowed};

const CSRF_COOKIE: &str = "zegel_csrf";
// CONTRACT: the session cookie name starts with `zegel_`.
const SESSION_COOKIE: &str = "zegel_session";
/// The recipient's language choice (a preference, not a session).
const LANG_COOKIE: &str = "zegel_lang";
/// A remembered device (only when the organisation allows it), scoped to one link.
const DEVICE_COOKIE: &str = "zegel_device";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/m/{token}", get(landing))
        .route("/m/{token}/start", post(start))
        .route("/m/{token}/send", get(send_page).post(send_code))
        .route("/m/{token}/code", get(code_page))
        .route("/m/{token}/verify", post(verify))
        .route("/m/{token}/bericht", get(message_page))
        .route("/m/{token}/bijlage/{id}", get(download))
        .route(
            "/m/{token}/antwoord",
            get(reply_page).post(reply_post).layer(
                // Streamed into encrypted blobs; the service enforces the upload limit (413).
                axum::extract::DefaultBodyLimit::disable(),
            ),
        )
        .route(
            "/m/{token}/doorsturen",
            get(forward_page).post(forward_post),
        )
        .route("/m/{token}/kopie", get(own_copy))
        .route("/m/{token}/ander-nummer", get(wrong_number))
}

pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/zegel.css"),
    )
        .into_response()
}

// ---------- language ----------

/// The negotiated page language of a request.
struct PageLang {
    lang: Lang,
    /// Chosen with `?lang=` on this GET: remember it in the cookie.
    chosen: bool,
    secure: bool,
}

impl PageLang {
    fn negotiate(method: &Method, headers: &HeaderMap, query: Option<&str>, secure: bool) -> Self {
        let chosen = |lang| PageLang {
            lang,
            chosen: true,
            secure,
        };
        let kept = |lang| PageLang {
            lang,
            chosen: false,
            secure,
        };
        // A GET may switch the language (a preference cookie is no server-side change).
        if method == Method::GET || method == Method::HEAD {
            let from_query = query.and_then(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .filter(|(k, _)| k == "lang")
                    .find_map(|(_, v)| Lang::parse(&v))
            });
            if let Some(lang) = from_query {
                return chosen(lang);
            }
        }
        if let Some(lang) = CookieJar::from_headers(headers)
            .get(LANG_COOKIE)
            .and_then(|c| Lang::parse(c.value()))
        {
            return kept(lang);
        }
        let accept = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(i18n::from_accept_language);
        kept(accept.unwrap_or_default())
    }

    /// The page context, with the language switch pointing at `here` (a GET-able path).
    fn view(&self, here: String) -> View {
        View {
            lang: self.lang,
            switch_href: format!("{here}?lang={}", self.lang.other().as_str()),
        }
    }

    /// Remembers a language chosen with `?lang=` (Path=/, one year).
    fn finish(&self, mut res: Response) -> Response {
        if self.chosen {
            let cookie = Cookie::build((LANG_COOKIE, self.lang.as_str()))
                .path("/")
                .http_only(true)
                .secure(self.secure)
                .same_site(SameSite::Lax)
                .max_age(time::Duration::days(365))
                .build();
            if let Ok(v) = HeaderValue::from_str(&cookie.to_string()) {
                res.headers_mut().append(header::SET_COOKIE, v);
            }
        }
        res
    }
}

impl FromRequestParts<AppState> for PageLang {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        s: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(PageLang::negotiate(
            &parts.method,
            &parts.headers,
            parts.uri.query(),
            s.opts.secure_cookies,
        ))
    }
}

/// What every page needs besides its own fields: the language and the switch link.
struct View {
    lang: Lang,
    switch_href: String,
}

impl View {
    /// The frame of a page speaking for `org`.
    fn chrome<'a>(&self, org: impl Into<Head<'a>>) -> Chrome<'a> {
        let org = org.into();
        Chrome {
            org: org.name,
            logo: org.logo,
            lang: self.lang,
            switch_href: self.switch_href.clone(),
        }
    }
}

/// What base.html shows on every page: the organisation, its logo, the language and the
/// switch link. Every page template has one `chrome` field.
struct Chrome<'a> {
    org: &'a str,
    /// The organisation's logo URL, when it has one.
    logo: Option<String>,
    lang: Lang,
    switch_href: String,
}

/// A path under `/m/{token}` with the token percent-encoded (it comes from the request).
fn here(token: &str, rest: &str) -> String {
    format!("/m/{}{rest}", segment(token))
}

/// A path segment, percent-encoded (ids and tokens keep `-` and `_`).
fn segment(s: &str) -> String {
    const SEGMENT: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_');
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

// ---------- templates ----------
// Every template extends base.html, which uses `chrome` (organisation, logo, language,
// switch link). Texts: `{{ chrome.lang.t("id") }}`, `{{ chrome.lang.t1("id", "name", value) }}`,
// markup ids (`-html`) with `{{ chrome.lang.html1(..)|safe }}` (arguments escaped).

#[derive(Template)]
#[template(path = "landing.html")]
struct LandingPage<'a> {
    chrome: Chrome<'a>,
    sender: &'a str,
    token: &'a str,
    csrf: &'a str,
    expires: String,
}

#[derive(Template)]
#[template(path = "send.html")]
struct SendPage<'a> {
    chrome: Chrome<'a>,
    sender: &'a str,
    token: &'a str,
    csrf: &'a str,
    sms: bool,
    destination: &'a str,
}

#[derive(Template)]
#[template(path = "code.html")]
struct CodePage<'a> {
    chrome: Chrome<'a>,
    sender: &'a str,
    token: &'a str,
    csrf: &'a str,
    from_sender: bool,
    destination: &'a str,
    hint: Option<&'a str>,
    notice: Option<String>,
    error: Option<String>,
    /// Offer "remember this device" for this many days (0: not offered).
    remember_days: i64,
}

struct AttachmentLine {
    id: String,
    name: String,
    kind: String,
    size: String,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    chrome: Chrome<'a>,
    sender: &'a str,
    token: &'a str,
    subject: &'a str,
    body: &'a str,
    sent: String,
    expires: String,
    attachments: Vec<AttachmentLine>,
    notice: Option<String>,
    earlier: Vec<ThreadLine>,
    can_reply: bool,
    reply_refused: Option<String>,
    can_forward: bool,
    forwarded_by: Option<String>,
    forward_note: Option<String>,
    contact: Option<String>,
}

/// An earlier message or reply of the conversation.
struct ThreadLine {
    from: String,
    mine: bool,
    sent: String,
    subject: Option<String>,
    body: Option<String>,
    attachments: Vec<AttachmentLine>,
}

#[derive(Template)]
#[template(path = "antwoord.html")]
struct ReplyPage<'a> {
    chrome: Chrome<'a>,
    sender: &'a str,
    token: &'a str,
    csrf: &'a str,
    body: &'a str,
    files_help: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "doorsturen.html")]
struct ForwardPage<'a> {
    chrome: Chrome<'a>,
    sender: &'a str,
    token: &'a str,
    csrf: &'a str,
    email: &'a str,
    phone: &'a str,
    note: &'a str,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "problem.html")]
struct ProblemPage<'a> {
    chrome: Chrome<'a>,
    title: String,
    paragraphs: Vec<String>,
    /// A link back to the landing page, when the token is known.
    back: Option<String>,
}

/// The logo URL of an organisation that has one.
fn logo_of(org_id: &str, has_logo: bool) -> Option<String> {
    has_logo.then(|| format!("/logo/{}", segment(org_id)))
}

fn render<T: Template>(lang: Lang, status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                tr(lang, "error-fallback"),
            )
                .into_response()
        }
    }
}

/// The organisation a page speaks for: its name, and its logo when known.
struct Head<'a> {
    name: &'a str,
    logo: Option<String>,
}

impl<'a> From<&'a str> for Head<'a> {
    fn from(name: &'a str) -> Self {
        Head { name, logo: None }
    }
}

impl<'a> From<&'a LinkInfo> for Head<'a> {
    fn from(info: &'a LinkInfo) -> Self {
        Head {
            name: &info.org_name,
            logo: logo_of(&info.org_id, info.policy.has_logo),
        }
    }
}

impl<'a> From<&'a zegel_core::model::RecipientAccess> for Head<'a> {
    fn from(a: &'a zegel_core::model::RecipientAccess) -> Self {
        Head {
            name: &a.org_name,
            logo: logo_of(&a.message.org_id, a.org_has_logo),
        }
    }
}

fn problem<'a>(
    v: &View,
    status: StatusCode,
    org: impl Into<Head<'a>>,
    title: &str,
    paragraphs: Vec<String>,
    back: Option<String>,
) -> Response {
    render(
        v.lang,
        status,
        &ProblemPage {
            chrome: v.chrome(org),
            title: tr(v.lang, title),
            paragraphs,
            back,
        },
    )
}

fn not_found(v: &View) -> Response {
    let l = v.lang;
    problem(
        v,
        StatusCode::NOT_FOUND,
        "Zegel",
        "problem-not-found-title",
        vec![
            tr(l, "problem-not-found-check"),
            tr(l, "problem-not-found-contact"),
        ],
        None,
    )
}

/// The page for an unknown path (the router's fallback): honours `?lang=`, the cookie and
/// `Accept-Language`; the switch links to the same path.
pub fn not_found_page(req: &Request) -> Response {
    let pl = PageLang::negotiate(req.method(), req.headers(), req.uri().query(), false);
    // A query-only reference: the same path, whatever it is, on this host.
    not_found(&pl.view(String::new()))
}

/// The page when an address makes too many requests, in the language the request asks for
/// (the switch reloads the same path in the other language).
pub fn rate_limited_page(req: &Request, wait_secs: u64) -> Response {
    let v = PageLang::negotiate(req.method(), req.headers(), req.uri().query(), false)
        .view(String::new());
    let l = v.lang;
    let duration = i18n::duration(l, wait_secs);
    problem(
        &v,
        StatusCode::TOO_MANY_REQUESTS,
        "Zegel",
        "problem-rate-title",
        vec![tr_args(l, "problem-rate-text", &[("duration", &duration)])],
        None,
    )
}

fn gone_page(v: &View, reason: GoneReason, info: &LinkInfo) -> Response {
    let l = v.lang;
    let mut contact = tr_args(
        l,
        "problem-gone-contact",
        &[("sender", &info.sender_name), ("org", &info.org_name)],
    );
    if let Some(c) = &info.policy.contact {
        contact.push(' ');
        contact.push_str(&tr_args(l, "message-contact", &[("contact", c)]));
    }
    match reason {
        GoneReason::Expired => {
            let date = i18n::datetime(l, info.expires_at);
            problem(
                v,
                StatusCode::GONE,
                info,
                "problem-expired-title",
                vec![
                    tr_args(l, "problem-expired-text", &[("date", &date)]),
                    contact,
                ],
                None,
            )
        }
        GoneReason::Revoked => problem(
            v,
            StatusCode::GONE,
            info,
            "problem-revoked-title",
            vec![tr(l, "problem-revoked-text"), contact],
            None,
        ),
    }
}

fn locked_page(v: &View, org: &str, retry_after: u64) -> Response {
    let l = v.lang;
    let duration = i18n::duration(l, retry_after);
    let secs = i64::try_from(retry_after).unwrap_or(i64::MAX);
    let at = i18n::time_of_day(Ts::now().plus_secs(secs));
    let mut res = problem(
        v,
        StatusCode::TOO_MANY_REQUESTS,
        org,
        "problem-locked-title",
        vec![
            tr(l, "problem-locked-why"),
            tr_args(
                l,
                "problem-locked-retry",
                &[("duration", &duration), ("time", &at)],
            ),
            tr(l, "problem-locked-not-you"),
        ],
        None,
    );
    if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    res
}

fn error_page(v: &View, e: &Error) -> Response {
    let l = v.lang;
    match e {
        Error::NotFound => not_found(v),
        Error::Locked { retry_after_secs } => locked_page(v, "Zegel", *retry_after_secs),
        Error::Internal(m) => {
            let mut res = problem(
                v,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Zegel",
                "problem-error-title",
                vec![tr(l, "problem-error-text")],
                None,
            );
            res.extensions_mut().insert(super::InternalError(m.clone()));
            res
        }
        other => problem(
            v,
            status_of(other),
            "Zegel",
            "problem-failed-title",
            vec![tr(l, "problem-failed-text")],
            None,
        ),
    }
}

// ---------- CSRF ----------

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    remember: Option<String>,
}

/// The CSRF cookie value, created when missing.
fn csrf_token(jar: CookieJar, secure: bool) -> (CookieJar, String) {
    if let Some(c) = jar.get(CSRF_COOKIE) {
        if c.value().len() == 43 {
            let v = c.value().to_string();
            return (jar, v);
        }
    }
    let v = zegel_crypto::random_token();
    let cookie = Cookie::build((CSRF_COOKIE, v.clone()))
        .path("/m/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .build();
    (jar.add(cookie), v)
}

fn csrf_ok(jar: &CookieJar, headers: &HeaderMap, presented: &str) -> bool {
    // A real browser's same-origin form POST under our `Referrer-Policy: no-referrer` carries
    // `Origin: null` (Fetch, "serializing a request origin"), so "null" counts as no Origin.
    // The double-submit token still decides: its cookie is SameSite=Strict and HttpOnly, so a
    // cross-site or opaque-origin POST never carries it.
    if let Some(origin) = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|o| *o != "null")
    {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or("");
        if origin_host != host {
            return false;
        }
    }
    match jar.get(CSRF_COOKIE) {
        Some(c) => {
            zegel_crypto::ct_eq(c.value().as_bytes(), presented.as_bytes()) && !presented.is_empty()
        }
        None => false,
    }
}

fn csrf_failed(v: &View, token: &str) -> Response {
    let l = v.lang;
    problem(
        v,
        StatusCode::FORBIDDEN,
        "Zegel",
        "problem-csrf-title",
        vec![tr(l, "problem-csrf-back"), tr(l, "problem-csrf-cookies")],
        Some(here(token, "")),
    )
}

fn see_other(path: String) -> Response {
    Redirect::to(&path).into_response()
}

// ---------- handlers ----------

async fn link_or_page(s: &AppState, v: &View, token: &str) -> Result<LinkInfo, Response> {
    match s.z.link(token).await {
        Ok(LinkState::Active(info)) => Ok(info),
        Ok(LinkState::Gone(reason, info)) => Err(gone_page(v, reason, &info)),
        Err(e) => Err(error_page(v, &e)),
    }
}

/// Every POST: the CSRF token must match its cookie (and the Origin, if sent), and the link
/// must be active.
async fn checked_post(
    s: &AppState,
    v: &View,
    token: &str,
    jar: &CookieJar,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<LinkInfo, Response> {
    if !csrf_ok(jar, headers, csrf) {
        return Err(csrf_failed(v, token));
    }
    link_or_page(s, v, token).await
}

/// The recipient session from the cookie; without a valid one, back to the landing page.
async fn session_or_page(
    s: &AppState,
    v: &View,
    token: &str,
    jar: &CookieJar,
) -> Result<zegel_core::service::RecipientSession, Response> {
    let Some(cookie) = jar.get(SESSION_COOKIE) else {
        return Err(see_other(here(token, "")));
    };
    match s.z.recipient_session(token, cookie.value()).await {
        Ok(sess) => Ok(sess),
        Err(Error::Unauthorized | Error::Forbidden) => Err(see_other(here(token, ""))),
        Err(Error::Gone(_)) => Err(link_or_page(s, v, token)
            .await
            .err()
            .unwrap_or_else(|| not_found(v))),
        Err(e) => Err(error_page(v, &e)),
    }
}

async fn landing(
    State(s): State<AppState>,
    Path(token): Path<String>,
    jar: CookieJar,
    pl: PageLang,
) -> Response {
    let v = pl.view(here(&token, ""));
    let res = async {
        let info = match link_or_page(&s, &v, &token).await {
            Ok(i) => i,
            Err(page) => return page,
        };
        let (jar, csrf) = csrf_token(jar, s.opts.secure_cookies);
        let page = render(
            v.lang,
            StatusCode::OK,
            &LandingPage {
                chrome: v.chrome(&info),
                sender: &info.sender_name,
                token: &token,
                csrf: &csrf,
                expires: i18n::datetime(v.lang, info.expires_at),
            },
        );
        (jar, page).into_response()
    }
    .await;
    pl.finish(res)
}

async fn has_session(s: &AppState, token: &str, jar: &CookieJar) -> bool {
    match jar.get(SESSION_COOKIE) {
        Some(c) => s.z.recipient_session(token, c.value()).await.is_ok(),
        None => false,
    }
}

fn session_cookie(
    s: &AppState,
    token: &str,
    grant: zegel_core::service::SessionGrant,
) -> Cookie<'static> {
    Cookie::build((SESSION_COOKIE, grant.access_token))
        .path(here(token, ""))
        .http_only(true)
        .secure(s.opts.secure_cookies)
        .same_site(SameSite::Strict)
        .max_age(time::Duration::seconds(grant.expires_in_seconds))
        .build()
}

async fn start(
    State(s): State<AppState>,
    Path(token): Path<String>,
    jar: CookieJar,
    headers: HeaderMap,
    pl: PageLang,
    Client(ctx): Client,
    Form(f): Form<CsrfForm>,
) -> Response {
    let v = pl.view(here(&token, ""));
    let info = match checked_post(&s, &v, &token, &jar, &headers, &f.csrf).await {
        Ok(i) => i,
        Err(page) => return page,
    };
    if has_session(&s, &token, &jar).await {
        return see_other(here(&token, "/bericht"));
    }
    if let Some(device) = jar.get(DEVICE_COOKIE) {
        if let Ok(Some(grant)) = s.z.open_with_device(&token, device.value(), &ctx).await {
            let cookie = session_cookie(&s, &token, grant);
            return (jar.add(cookie), see_other(here(&token, "/bericht"))).into_response();
        }
    }
    if let Some(until) = info.locked_until {
        return locked_page(&v, &info.org_name, Ts::now().secs_until(until).max(1));
    }
    match info.verification {
        Verification::Code => see_other(here(&token, "/code")),
        _ if info.code_pending => see_other(here(&token, "/code")),
        _ => see_other(here(&token, "/send")),
    }
}

async fn send_page(
    State(s): State<AppState>,
    Path(token): Path<String>,
    jar: CookieJar,
    pl: PageLang,
) -> Response {
    let v = pl.view(here(&token, "/send"));
    let res = async {
        let info = match link_or_page(&s, &v, &token).await {
            Ok(i) => i,
            Err(page) => return page,
        };
        if info.verification == Verification::Code {
            return see_other(here(&token, "/code"));
        }
        let (jar, csrf) = csrf_token(jar, s.opts.secure_cookies);
        let page = render(
            v.lang,
            StatusCode::OK,
            &SendPage {
                chrome: v.chrome(&info),
                sender: &info.sender_name,
                token: &token,
                csrf: &csrf,
                sms: info.verification == Verification::Sms,
                destination: info.masked_destination.as_deref().unwrap_or(""),
            },
        );
        (jar, page).into_response()
    }
    .await;
    pl.finish(res)
}

async fn send_code(
    State(s): State<AppState>,
    Path(token): Path<String>,
    jar: CookieJar,
    headers: HeaderMap,
    pl: PageLang,
    Client(ctx): Client,
    Form(f): Form<CsrfForm>,
) -> Response {
    let v = pl.view(here(&token, ""));
    let info = match checked_post(&s, &v, &token, &jar, &headers, &f.csrf).await {
        Ok(i) => i,
        Err(page) => return page,
    };
    match s.z.challenge(&token, info.verification, &ctx).await {
        Ok(_) => see_other(here(&token, "/code?verstuurd=1")),
        Err(Error::Locked { retry_after_secs }) => {
            locked_page(&v, &info.org_name, retry_after_secs)
        }
        Err(Error::Invalid(_)) => see_other(here(&token, "/code")),
        Err(e) => error_page(&v, &e),
    }
}

#[derive(Deserialize)]
struct CodeQuery {
    verstuurd: Option<String>,
}

fn code_page_for(
    v: &View,
    info: &LinkInfo,
    token: &str,
    csrf: &str,
    notice: Option<String>,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    render(
        v.lang,
        status,
        &CodePage {
            chrome: v.chrome(info),
            sender: &info.sender_name,
            token,
            csrf,
            from_sender: info.verification == Verification::Code,
            destination: info.masked_destination.as_deref().unwrap_or(""),
            hint: info.hint.as_deref(),
            notice,
            error,
            remember_days: info.policy.device_days,
        },
    )
}

async fn code_page(
    State(s): State<AppState>,
    Path(token): Path<String>,
    jar: CookieJar,
    pl: PageLang,
    axum::extract::Query(q): axum::extract::Query<CodeQuery>,
) -> Response {
    let v = pl.view(here(&token, "/code"));
    let res = async {
        let info = match link_or_page(&s, &v, &token).await {
            Ok(i) => i,
            Err(page) => return page,
        };
        if let Some(until) = info.locked_until {
            return locked_page(&v, &info.org_name, Ts::now().secs_until(until).max(1));
        }
        let (jar, csrf) = csrf_token(jar, s.opts.secure_cookies);
        let notice = q.verstuurd.map(|_| match info.verification {
            Verification::Sms => tr(v.lang, "code-sent-sms"),
            _ => tr(v.lang, "code-sent-email"),
        });
        (
            jar,
            code_page_for(&v, &info, &token, &csrf, notice, None, StatusCode::OK),
        )
            .into_response()
    }
    .await;
    pl.finish(res)
}

async fn verify(
    State(s): State<AppState>,
    Path(token): Path<String>,
    jar: CookieJar,
    headers: HeaderMap,
    pl: PageLang,
    Client(ctx): Client,
    Form(f): Form<CodeForm>,
) -> Response {
    // A POST response: the switch goes to the landing page.
    let v = pl.view(here(&token, ""));
    let info = match checked_post(&s, &v, &token, &jar, &headers, &f.csrf).await {
        Ok(i) => i,
        Err(page) => return page,
    };
    let csrf = f.csrf.clone();
    match s.z.verify(&token, &f.code, &ctx).await {
        Ok(grant) => {
            let mut jar = jar;
            if f.remember.is_some() && info.policy.device_days > 0 {
                if let Ok(sess) = s.z.recipient_session(&token, &grant.access_token).await {
                    match s.z.remember_device(&sess, &ctx).await {
                        Ok(Some((device, days))) => {
                            jar = jar.add(
                                Cookie::build((DEVICE_COOKIE, device))
                                    .path(here(&token, ""))
                                    .http_only(true)
                                    .secure(s.opts.secure_cookies)
                                    .same_site(SameSite::Strict)
                                    .max_age(time::Duration::days(days))
                                    .build(),
                            );
                        }
                        Ok(None) => {}
                        Err(e) => tracing::warn!(error = %e, "remembering a device failed"),
                    }
                }
            }
            let cookie = session_cookie(&s, &token, grant);
            (jar.add(cookie), see_other(here(&token, "/bericht"))).into_response()
        }
        Err(Error::WrongCode { remaining }) => {
            if remaining == 0 {
                return locked_page(&v, &info.org_name, s.z.settings.lockout_secs as u64);
            }
            let msg = tr_with(
                v.lang,
                "code-wrong",
                &Args::new().num("remaining", i64::from(remaining)),
            );
            code_page_for(
                &v,
                &info,
                &token,
                &csrf,
                None,
                Some(msg),
                StatusCode::UNAUTHORIZED,
            )
        }
        Err(Error::CodeExpired) => code_page_for(
            &v,
            &info,
            &token,
            &csrf,
            None,
            Some(tr(v.lang, "code-expired")),
            StatusCode::UNAUTHORIZED,
        ),
        Err(Error::Locked { retry_after_secs }) => {
            locked_page(&v, &info.org_name, retry_after_secs)
        }
        Err(Error::Gone(reason)) => gone_page(&v, reason, &info),
        Err(e) => error_page(&v, &e),
    }
}

#[derive(Deserialize)]
struct MessageQuery {
    beantwoord: Option<String>,
    doorgestuurd: Option<String>,
}

fn attachment_lines(l: Lang, list: &[zegel_core::service::AttachmentView]) -> Vec<AttachmentLine> {
    list.iter()
        .map(|a| AttachmentLine {
            id: a.id.clone(),
            name: a.name.clone(),
            kind: i18n::file_kind(l, &a.content_type, &a.name),
            size: i18n::file_size(l, a.size),
        })
        .collect()
}

async fn message_page(
    State(s): State<AppState>,
    Path(token): Path<String>,
    jar: CookieJar,
    pl: PageLang,
    Client(ctx): Client,
    axum::extract::Query(q): axum::extract::Query<MessageQuery>,
) -> Response {
    let v = pl.view(here(&token, "/bericht"));
    let res = async {
        let session = match session_or_page(&s, &v, &token, &jar).await {
            Ok(sess) => sess,
            Err(page) => return page,
        };
        let loaded = async {
            let view = s.z.read_message(&session, &ctx).await?;
            let perm = s.z.permissions(&session).await?;
            let thread = s.z.recipient_thread(&session).await?;
            Ok::<_, Error>((view, perm, thread))
        }
        .await;
        let (view, perm, thread) = match loaded {
            Ok(x) => x,
            Err(Error::Gone(_)) => {
                return link_or_page(&s, &v, &token)
                    .await
                    .err()
                    .unwrap_or_else(|| not_found(&v))
            }
            Err(e) => return error_page(&v, &e),
        };
        let m = &session.access.message;
        let l = v.lang;
        let who = [
            ("sender", view.sender.name.as_str()),
            ("org", view.sender.organisation.as_str()),
        ];
        let notice = if q.beantwoord.is_some() {
            Some(tr_args(l, "message-replied", &who[..1]))
        } else if q.doorgestuurd.is_some() {
            Some(tr(l, "message-forwarded"))
        } else {
            None
        };
        let reply_refused = match perm.reply_refused {
            Some(ReplyRefusal::Off) => Some(tr_args(l, "message-reply-off", &who)),
            Some(ReplyRefusal::Used) => Some(tr_args(l, "message-reply-used", &who)),
            None => None,
        };
        let earlier = thread
            .items
            .iter()
            .filter(|i| !i.current)
            .map(|i| ThreadLine {
                from: if i.mine {
                    tr(l, "message-thread-you")
                } else {
                    i.from.clone()
                },
                mine: i.mine,
                sent: i18n::datetime(l, i.sent_ts),
                subject: i.subject.clone(),
                body: i.body.clone(),
                attachments: attachment_lines(l, &i.attachments),
            })
            .collect();
        render(
            l,
            StatusCode::OK,
            &MessagePage {
                chrome: v.chrome(Head {
                    name: &view.sender.organisation,
                    logo: logo_of(&m.org_id, session.access.org_has_logo),
                }),
                sender: &view.sender.name,
                token: &token,
                subject: &view.subject,
                body: &view.body,
                sent: i18n::datetime(l, m.created_at),
                expires: i18n::datetime(l, m.expires_at),
                attachments: attachment_lines(l, &view.attachments),
                notice,
                earlier,
                can_reply: perm.reply_allowed,
                reply_refused,
                can_forward: perm.forward_allowed,
                forwarded_by: perm.forwarded_by,
                forward_note: perm.forward_note,
                contact: perm.contact,
            },
        )
    }
    .await;
    pl.finish(res)
}

async fn download(
    State(s): State<AppState>,
    Path((token, id)): Path<(String, String)>,
    jar: CookieJar,
    pl: PageLang,
    Client(ctx): Client,
) -> Response {
    // Error pages here switch language on the message page, not on the download.
    let v = pl.view(here(&token, "/bericht"));
    let session = match session_or_page(&s, &v, &token, &jar).await {
        Ok(sess) => sess,
        Err(page) => return pl.finish(page),
    };
    match s.z.open_thread_attachment(&session, &id, &ctx).await {
        Ok((view, stream)) => download_response(&view, stream),
        Err(e) => pl.finish(error_page(&v, &e)),
    }
}

/// The own copy of the conversation (`.eml`).
async fn own_copy(
    State(s): State<AppState>,
    Path(token): Path<String>,
    jar: CookieJar,
    pl: PageLang,
    Client(ctx): Client,
) -> Response {
    let v = pl.view(here(&token, "/bericht"));
    let session = match session_or_page(&s, &v, &token, &jar).await {
        Ok(sess) => sess,
        Err(page) => return pl.finish(page),
    };
    match s.z.export_eml(&session, &ctx).await {
        Ok((name, stream)) => eml_response(&name, stream),
        Err(e) => pl.finish(error_page(&v, &e)),
    }
}

/// "This is not my number": whom to ask; no code is sent.
async fn wrong_number(
    State(s): State<AppState>,
    Path(token): Path<String>,
    pl: PageLang,
) -> Response {
    let v = pl.view(here(&token, "/ander-nummer"));
    let res = match link_or_page(&s, &v, &token).await {
        Ok(info) => {
            let l = v.lang;
            problem(
                &v,
                StatusCode::OK,
                &info,
                "wrong-number-title",
                vec![
                    tr_args(
                        l,
                        "wrong-number-text",
                        &[("sender", &info.sender_name), ("org", &info.org_name)],
                    ),
                    tr(l, "wrong-number-safe"),
                ],
                Some(here(&token, "")),
            )
        }
        Err(page) => page,
    };
    pl.finish(res)
}

/// Why replying is refused, as a page (403 off, 409 already used).
fn reply_refused_page(v: &View, info: &zegel_core::model::RecipientAccess, e: &Error) -> Response {
    let l = v.lang;
    let who = [
        ("sender", info.sender_name.as_str()),
        ("org", info.org_name.as_str()),
    ];
    let (status, title, text) = match e {
        Error::Conflict(Conflict::ReplyUsed) => (
            StatusCode::CONFLICT,
            "reply-used-title",
            tr_args(l, "message-reply-used", &who),
        ),
        _ => (
            StatusCode::FORBIDDEN,
            "reply-off-title",
            tr_args(l, "message-reply-off", &who),
        ),
    };
    problem(v, status, info, title, vec![text], None)
}

fn reply_form(
    s: &AppState,
    v: &View,
    sess: &zegel_core::service::RecipientSession,
    token: &str,
    csrf: &str,
    (body, error): (&str, Option<String>),
    status: StatusCode,
) -> Response {
    let l = v.lang;
    let max = s.z.settings.max_reply_attachments.to_string();
    let size = i18n::file_size(l, s.z.settings.max_upload_bytes as i64);
    render(
        l,
        status,
        &ReplyPage {
            chrome: v.chrome(&sess.access),
            sender: &sess.access.sender_name,
            token,
            csrf,
            body,
            files_help: tr_args(l, "reply-files-help", &[("max", &max), ("size", &size)]),
            error,
        },
    )
}

async fn reply_page(
    State(s): State<AppState>,
    Path(token): Path<String>,
    jar: CookieJar,
    pl: PageLang,
) -> Response {
    let v = pl.view(here(&token, "/antwoord"));
    let res = async {
        let session = match session_or_page(&s, &v, &token, &jar).await {
            Ok(sess) => sess,
            Err(page) => return page,
        };
        match s.z.permissions(&session).await {
            Ok(p) if p.reply_allowed => {}
            Ok(p) => {
                let refusal = p.reply_refused.unwrap_or(ReplyRefusal::Off);
                return reply_refused_page(&v, &session.access, &refusal.into());
            }
            Err(e) => return error_page(&v, &e),
        }
        let (jar, csrf) = csrf_token(jar, s.opts.secure_cookies);
        let page = reply_form(&s, &v, &session, &token, &csrf, ("", None), StatusCode::OK);
        (jar, page).into_response()
    }
    .await;
    pl.finish(res)
}

/// The reply form: `csrf` first (checked before anything is stored), then `body`, then the
/// `attachment` files, streamed into encrypted blobs.
async fn reply_post(
    State(s): State<AppState>,
    Path(token): Path<String>,
    jar: CookieJar,
    headers: HeaderMap,
    pl: PageLang,
    Client(ctx): Client,
    mut mp: axum::extract::Multipart,
) -> Response {
    let v = pl.view(here(&token, "/antwoord"));
    let session = match session_or_page(&s, &v, &token, &jar).await {
        Ok(sess) => sess,
        Err(page) => return page,
    };
    let mut csrf = String::new();
    if let Ok(Some(mut f)) = mp.next_field().await {
        if f.name() == Some("csrf") {
            csrf = text_part(&mut f, 100).await.unwrap_or_default();
        }
    }
    if !csrf_ok(&jar, &headers, &csrf) {
        return csrf_failed(&v, &token);
    }
    let body = match mp.next_field().await {
        Ok(Some(mut f)) if f.name() == Some("body") => {
            match text_part(&mut f, s.z.settings.max_body_bytes).await {
                Ok(b) => b,
                Err(e) => return error_page(&v, &e),
            }
        }
        Ok(_) => String::new(),
        Err(e) => return error_page(&v, &multipart_error(e)),
    };
    let l = v.lang;
    let mut draft = match s.z.begin_reply(&session, body.clone()).await {
        Ok(d) => d,
        Err(
            e @ (Error::NotAllowed(NotAllowed::RepliesOff) | Error::Conflict(Conflict::ReplyUsed)),
        ) => return reply_refused_page(&v, &session.access, &e),
        Err(e) => return error_page(&v, &e),
    };
    let stored = match stream_attachments(&mut mp, draft.uploads()).await {
        Ok(()) => draft.commit(&ctx).await.map(|_| ()),
        Err(e) => {
            draft.abort().await;
            Err(e)
        }
    };
    let size = i18n::file_size(l, s.z.settings.max_upload_bytes as i64);
    let max = s.z.settings.max_reply_attachments.to_string();
    let again = |msg: String, status| {
        reply_form(&s, &v, &session, &token, &csrf, (&body, Some(msg)), status)
    };
    match stored {
        Ok(()) => see_other(here(&token, "/bericht?beantwoord=1")),
        Err(Error::TooLarge(_)) => again(
            tr_args(l, "reply-too-large", &[("size", &size)]),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        Err(Error::Invalid(Invalid::TooManyAttachments { .. })) => again(
            tr_args(l, "reply-too-many", &[("max", &max)]),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(Error::Invalid(_)) => again(tr(l, "reply-empty"), StatusCode::UNPROCESSABLE_ENTITY),
        Err(
            e @ (Error::NotAllowed(NotAllowed::RepliesOff) | Error::Conflict(Conflict::ReplyUsed)),
        ) => reply_refused_page(&v, &session.access, &e),
        Err(e) => error_page(&v, &e),
    }
}

#[derive(Deserialize)]
struct ForwardForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    note: String,
}

fn forward_off_page(v: &View, a: &zegel_core::model::RecipientAccess) -> Response {
    let text = tr_args(
        v.lang,
        "forward-off",
        &[("sender", &a.sender_name), ("org", &a.org_name)],
    );
    problem(
        v,
        StatusCode::FORBIDDEN,
        a,
        "forward-off-title",
        vec![text],
        None,
    )
}

async fn forward_page(
    State(s): State<AppState>,
    Path(token): Path<String>,
    jar: CookieJar,
    pl: PageLang,
) -> Response {
    let v = pl.view(here(&token, "/doorsturen"));
    let res = async {
        let session = match session_or_page(&s, &v, &token, &jar).await {
            Ok(sess) => sess,
            Err(page) => return page,
        };
        match s.z.permissions(&session).await {
            Ok(p) if p.forward_allowed => {}
            Ok(_) => return forward_off_page(&v, &session.access),
            Err(e) => return error_page(&v, &e),
        }
        let (jar, csrf) = csrf_token(jar, s.opts.secure_cookies);
        let page = render(
            v.lang,
            StatusCode::OK,
            &ForwardPage {
                chrome: v.chrome(&session.access),
                sender: &session.access.sender_name,
                token: &token,
                csrf: &csrf,
                email: "",
                phone: "",
                note: "",
                error: None,
            },
        );
        (jar, page).into_response()
    }
    .await;
    pl.finish(res)
}

async fn forward_post(
    State(s): State<AppState>,
    Path(token): Path<String>,
    jar: CookieJar,
    headers: HeaderMap,
    pl: PageLang,
    Client(ctx): Client,
    Form(f): Form<ForwardForm>,
) -> Response {
    let v = pl.view(here(&token, "/doorsturen"));
    if !csrf_ok(&jar, &headers, &f.csrf) {
        return csrf_failed(&v, &token);
    }
    let session = match session_or_page(&s, &v, &token, &jar).await {
        Ok(sess) => sess,
        Err(page) => return page,
    };
    let req = zegel_core::service::ForwardReq {
        email: Some(f.email.clone()),
        phone: Some(f.phone.clone()),
        note: Some(f.note.clone()),
    };
    let l = v.lang;
    let again = |msg: String, status| {
        render(
            l,
            status,
            &ForwardPage {
                chrome: v.chrome(&session.access),
                sender: &session.access.sender_name,
                token: &token,
                csrf: &f.csrf,
                email: &f.email,
                phone: &f.phone,
                note: &f.note,
                error: Some(msg),
            },
        )
    };
    match s.z.forward(&session, req, &ctx).await {
        Ok(_) => see_other(here(&token, "/bericht?doorgestuurd=1")),
        Err(Error::NotAllowed(NotAllowed::ForwardedTooOften)) => {
            again(tr(l, "forward-too-often"), StatusCode::FORBIDDEN)
        }
        Err(Error::NotAllowed(_)) => forward_off_page(&v, &session.access),
        Err(Error::Conflict(_)) => again(tr(l, "forward-already"), StatusCode::CONFLICT),
        Err(Error::Invalid(Invalid::Phone { .. })) => {
            again(tr(l, "forward-bad-phone"), StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(Error::Invalid(Invalid::NoteTooLong { .. })) => again(
            tr(l, "forward-note-too-long"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(Error::Invalid(_) | Error::BadRequest(_)) => {
            again(tr(l, "forward-bad-email"), StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(e) => error_page(&v, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn negotiate(query: Option<&str>, headers: &[(&str, &str)]) -> (Lang, bool) {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.append(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        let pl = PageLang::negotiate(&Method::GET, &h, query, false);
        (pl.lang, pl.chosen)
    }

    #[test]
    fn the_query_beats_the_cookie_beats_accept_language() {
        let both = [
            ("cookie", "zegel_lang=nl"),
            ("accept-language", "en-GB,en;q=0.9"),
        ];
        assert_eq!(negotiate(Some("lang=en"), &both), (Lang::En, true));
        assert_eq!(negotiate(None, &both), (Lang::Nl, false));
        assert_eq!(negotiate(Some("lang=fr"), &both), (Lang::Nl, false));
        assert_eq!(
            negotiate(None, &[("accept-language", "en-GB,en;q=0.9")]),
            (Lang::En, false)
        );
        assert_eq!(
            negotiate(None, &[("accept-language", "fr-FR,de")]),
            (Lang::Nl, false)
        );
        assert_eq!(negotiate(None, &[]), (Lang::Nl, false));
        assert_eq!(
            negotiate(None, &[("cookie", "zegel_lang=xx")]),
            (Lang::Nl, false)
        );
    }

    #[test]
    fn a_post_never_switches_by_query() {
        let pl = PageLang::negotiate(&Method::POST, &HeaderMap::new(), Some("lang=en"), false);
        assert_eq!((pl.lang, pl.chosen), (Lang::Nl, false));
    }

    #[test]
    fn csrf_needs_the_token_and_a_same_or_null_origin() {
        let token = "t".repeat(43);
        let jar = CookieJar::new().add(Cookie::new(CSRF_COOKIE, token.clone()));
        let headers = |origin: Option<&str>| {
            let mut h = HeaderMap::new();
            h.insert(header::HOST, HeaderValue::from_static("zegel.example"));
            if let Some(o) = origin {
                h.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
            }
            h
        };
        assert!(csrf_ok(&jar, &headers(None), &token));
        assert!(csrf_ok(
            &jar,
            &headers(Some("https://zegel.example")),
            &token
        ));
        assert!(csrf_ok(&jar, &headers(Some("null")), &token));
        assert!(!csrf_ok(
            &jar,
            &headers(Some("https://evil.example")),
            &token
        ));
        assert!(!csrf_ok(&jar, &headers(Some("null")), "wrong"));
        assert!(!csrf_ok(&CookieJar::new(), &headers(Some("null")), &token));
    }

    #[test]
    fn paths_in_links_are_encoded() {
        assert_eq!(here("abc-_9", "/code"), "/m/abc-_9/code");
        assert_eq!(here("/evil\"x", ""), "/m/%2Fevil%22x");
    }
}

//! The recipient's HTML pages, all under `/m/{token}`. GET never changes anything (mail
//! scanners follow links); every form carries a CSRF token (double-submit cookie, plus an
//! Origin check).
//!
//! Texts come from the catalogs in `zegel_core::i18n` (Dutch default, English). The page
//! language is `?lang=nl|en` on a GET (remembered in the `zegel_lang` cookie), else that cookie,
//! else `Accept-Language`, else Dutch; every page links to itself in the other language.

use super::download::{download_response, eml_response};
use super::pages::chrome::segment;
use super::pages::{
    csrf_failed, csrf_ok, csrf_token, error_page, locked_page, not_found, problem, render,
    see_other, Chrome, CsrfForm, Org, PageLang, View,
};
use super::upload::{multipart_error, stream_attachments, text_part};
use super::{AppState, Client};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::Deserialize;
use zegel_core::i18n::{self, tr, tr_args, tr_with, Args, Lang};
use zegel_core::model::{RecipientAccess, Ts, Verification};
use zegel_core::service::{LinkInfo, LinkState, ReplyRefusal};
use zegel_core::{Conflict, Error, GoneReason, Invalid, NotAllowed};

// `ratelimit` answers strangers with this page through `viewer::`.
pub(super) use super::pages::rate_limited_page;

// CONTRACT: the session cookie name starts with `zegel_`.
const SESSION_COOKIE: &str = "zegel_session";
/// A remembered device (only when the organisation allows it), scoped to one link.
const DEVICE_COOKIE: &str = "zegel_device";
/// The CSRF cookie's path: every recipient form is under `/m/`.
const CSRF_PATH: &str = "/m/";

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

/// A path under `/m/{token}` with the token percent-encoded (it comes from the request).
fn here(token: &str, rest: &str) -> String {
    format!("/m/{}{rest}", segment(token))
}

impl<'a> From<&'a LinkInfo> for Org<'a> {
    fn from(info: &'a LinkInfo) -> Self {
        Org::new(&info.org_name, &info.org_id, info.policy.has_logo)
    }
}

impl<'a> From<&'a RecipientAccess> for Org<'a> {
    fn from(a: &'a RecipientAccess) -> Self {
        Org::new(&a.org_name, &a.message.org_id, a.org_has_logo)
    }
}

// ---------- templates ----------
// Every template extends base.html, which uses `chrome` (see `pages::chrome`).

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

#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    remember: Option<String>,
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
        return Err(csrf_failed(v, here(token, "")));
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
        let (jar, csrf) = csrf_token(jar, CSRF_PATH, s.opts.secure_cookies);
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
        let (jar, csrf) = csrf_token(jar, CSRF_PATH, s.opts.secure_cookies);
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
        let (jar, csrf) = csrf_token(jar, CSRF_PATH, s.opts.secure_cookies);
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
                chrome: v.chrome(Org::new(
                    &view.sender.organisation,
                    &m.org_id,
                    session.access.org_has_logo,
                )),
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
fn reply_refused_page(v: &View, info: &RecipientAccess, e: &Error) -> Response {
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
        let (jar, csrf) = csrf_token(jar, CSRF_PATH, s.opts.secure_cookies);
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
        return csrf_failed(&v, here(&token, ""));
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

fn forward_off_page(v: &View, a: &RecipientAccess) -> Response {
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
        let (jar, csrf) = csrf_token(jar, CSRF_PATH, s.opts.secure_cookies);
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
        return csrf_failed(&v, here(&token, ""));
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

    #[test]
    fn paths_in_links_are_encoded() {
        assert_eq!(here("abc-_9", "/code"), "/m/abc-_9/code");
        assert_eq!(here("/evil\"x", ""), "/m/%2Fevil%22x");
    }
}

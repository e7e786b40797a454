//! Proving who you are: the landing page ("Bericht openen", a POST), the page that confirms
//! where the code goes and sends it, the code page and its check (with "remember this
//! device"), and "this is not my number".

use super::link::{checked_post, gone_page, here, link_or_page, CSRF_PATH, SESSION_COOKIE};
use super::refusals::{
    after_last_try, blocked_page, refused_now, sms_unavailable_page, too_many_codes_page,
};
use crate::http::pages::{
    csrf_token, error_page, locked_page, problem, render, see_other, Chrome, CsrfForm, PageError,
    PageLang, View,
};
use crate::http::{AppState, Client};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::Deserialize;
use zegel_core::i18n::{self, tr, tr_args, tr_with, Args};
use zegel_core::model::Verification;
use zegel_core::service::{LinkInfo, SessionGrant};
use zegel_core::{ClientCtx, Error};

/// A remembered device (only when the organisation allows it), scoped to one link.
const DEVICE_COOKIE: &str = "zegel_device";

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

#[derive(Deserialize)]
pub(super) struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    remember: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct CodeQuery {
    verstuurd: Option<String>,
}

/// `GET /m/{token}`: who sent it and "Bericht openen"; changes nothing.
pub(super) async fn landing(
    State(s): State<AppState>,
    Path(token): Path<String>,
    jar: CookieJar,
    pl: PageLang,
) -> Response {
    let v = pl.view(here(&token, ""));
    pl.finish(show_landing(&s, &v, &token, jar).await)
}

async fn show_landing(
    s: &AppState,
    v: &View,
    token: &str,
    jar: CookieJar,
) -> Result<Response, PageError> {
    let info = link_or_page(s, v, token).await?;
    let (jar, csrf) = csrf_token(jar, CSRF_PATH, s.opts.secure_cookies);
    let page = render(
        v.lang,
        StatusCode::OK,
        &LandingPage {
            chrome: v.chrome(&info),
            sender: &info.sender_name,
            token,
            csrf: &csrf,
            expires: i18n::datetime(v.lang, info.expires_at),
        },
    );
    Ok((jar, page).into_response())
}

async fn has_session(s: &AppState, token: &str, jar: &CookieJar) -> bool {
    match jar.get(SESSION_COOKIE) {
        Some(c) => s.z.recipient_session(token, c.value()).await.is_ok(),
        None => false,
    }
}

fn session_cookie(s: &AppState, token: &str, grant: SessionGrant) -> Cookie<'static> {
    Cookie::build((SESSION_COOKIE, grant.access_token))
        .path(here(token, ""))
        .http_only(true)
        .secure(s.opts.secure_cookies)
        .same_site(SameSite::Strict)
        .max_age(time::Duration::seconds(grant.expires_in_seconds))
        .build()
}

/// "Bericht openen": straight to the message with a session or a remembered device, else to
/// the code (or the locked page).
pub(super) async fn start(
    State(s): State<AppState>,
    Path(token): Path<String>,
    jar: CookieJar,
    headers: HeaderMap,
    pl: PageLang,
    Client(ctx): Client,
    Form(f): Form<CsrfForm>,
) -> Result<Response, PageError> {
    let v = pl.view(here(&token, ""));
    let info = checked_post(&s, &v, &token, &jar, &headers, &f.csrf).await?;
    if has_session(&s, &token, &jar).await {
        return Ok(see_other(here(&token, "/bericht")));
    }
    if let Some(device) = jar.get(DEVICE_COOKIE) {
        if let Ok(Some(grant)) = s.z.open_with_device(&token, device.value(), &ctx).await {
            let cookie = session_cookie(&s, &token, grant);
            return Ok((jar.add(cookie), see_other(here(&token, "/bericht"))).into_response());
        }
    }
    if let Some(page) = refused_now(&v, &info) {
        return Err(page.into());
    }
    Ok(match info.verification {
        Verification::Code => see_other(here(&token, "/code")),
        _ if info.code_pending => see_other(here(&token, "/code")),
        _ => see_other(here(&token, "/send")),
    })
}

/// `GET /send`: where the code will go (masked), and the button that sends it.
pub(super) async fn send_page(
    State(s): State<AppState>,
    Path(token): Path<String>,
    jar: CookieJar,
    pl: PageLang,
) -> Response {
    let v = pl.view(here(&token, "/send"));
    pl.finish(show_send_page(&s, &v, &token, jar).await)
}

async fn show_send_page(
    s: &AppState,
    v: &View,
    token: &str,
    jar: CookieJar,
) -> Result<Response, PageError> {
    let info = link_or_page(s, v, token).await?;
    if info.verification == Verification::Code {
        return Ok(see_other(here(token, "/code")));
    }
    if let Some(page) = refused_now(v, &info) {
        return Err(page.into());
    }
    let (jar, csrf) = csrf_token(jar, CSRF_PATH, s.opts.secure_cookies);
    let page = render(
        v.lang,
        StatusCode::OK,
        &SendPage {
            chrome: v.chrome(&info),
            sender: &info.sender_name,
            token,
            csrf: &csrf,
            sms: info.verification == Verification::Sms,
            destination: info.masked_destination.as_deref().unwrap_or(""),
        },
    );
    Ok((jar, page).into_response())
}

/// `POST /send`: sends a code, then the code page.
pub(super) async fn send_code(
    State(s): State<AppState>,
    Path(token): Path<String>,
    jar: CookieJar,
    headers: HeaderMap,
    pl: PageLang,
    Client(ctx): Client,
    Form(f): Form<CsrfForm>,
) -> Result<Response, PageError> {
    let v = pl.view(here(&token, ""));
    let info = checked_post(&s, &v, &token, &jar, &headers, &f.csrf).await?;
    Ok(match s.z.challenge(&token, info.verification, &ctx).await {
        Ok(_) => see_other(here(&token, "/code?verstuurd=1")),
        Err(Error::Locked { retry_after_secs }) => {
            locked_page(&v, &info.org_name, retry_after_secs)
        }
        Err(Error::Blocked) => blocked_page(&v, &info),
        Err(Error::TooManyCodes { retry_after_secs }) => {
            too_many_codes_page(&v, &info, retry_after_secs)
        }
        Err(Error::SmsBudgetSpent { retry_after_secs }) => {
            sms_unavailable_page(&v, &info, retry_after_secs)
        }
        Err(Error::Invalid(_)) => see_other(here(&token, "/code")),
        Err(e) => error_page(&v, &e),
    })
}

fn code_page_for(
    v: &View,
    info: &LinkInfo,
    token: &str,
    csrf: &str,
    (notice, error): (Option<String>, Option<String>),
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

/// `GET /code`: the code field (and "send it again" when Zegel sent it).
pub(super) async fn code_page(
    State(s): State<AppState>,
    Path(token): Path<String>,
    jar: CookieJar,
    pl: PageLang,
    Query(q): Query<CodeQuery>,
) -> Response {
    let v = pl.view(here(&token, "/code"));
    pl.finish(show_code_page(&s, &v, &token, jar, q).await)
}

async fn show_code_page(
    s: &AppState,
    v: &View,
    token: &str,
    jar: CookieJar,
    q: CodeQuery,
) -> Result<Response, PageError> {
    let info = link_or_page(s, v, token).await?;
    if let Some(page) = refused_now(v, &info) {
        return Err(page.into());
    }
    let (jar, csrf) = csrf_token(jar, CSRF_PATH, s.opts.secure_cookies);
    let notice = q.verstuurd.map(|_| match info.verification {
        Verification::Sms => tr(v.lang, "code-sent-sms"),
        _ => tr(v.lang, "code-sent-email"),
    });
    let page = code_page_for(v, &info, token, &csrf, (notice, None), StatusCode::OK);
    Ok((jar, page).into_response())
}

/// `POST /verify`: the right code opens a session (and remembers the device when asked);
/// a wrong one shows the code page again, the last one the locked page.
pub(super) async fn verify(
    State(s): State<AppState>,
    Path(token): Path<String>,
    jar: CookieJar,
    headers: HeaderMap,
    pl: PageLang,
    Client(ctx): Client,
    Form(f): Form<CodeForm>,
) -> Result<Response, PageError> {
    // A POST response: the switch goes to the landing page.
    let v = pl.view(here(&token, ""));
    let info = checked_post(&s, &v, &token, &jar, &headers, &f.csrf).await?;
    let again = |error: String| {
        let error = (None, Some(error));
        code_page_for(&v, &info, &token, &f.csrf, error, StatusCode::UNAUTHORIZED)
    };
    Ok(match s.z.verify(&token, &f.code, &ctx).await {
        Ok(grant) => {
            let mut jar = jar;
            if f.remember.is_some() && info.policy.device_days > 0 {
                jar = remember_device(&s, &token, jar, &grant, &ctx).await;
            }
            let cookie = session_cookie(&s, &token, grant);
            (jar.add(cookie), see_other(here(&token, "/bericht"))).into_response()
        }
        Err(Error::WrongCode { remaining: 0 }) => after_last_try(&s, &v, &token).await,
        Err(Error::WrongCode { remaining }) => again(tr_with(
            v.lang,
            "code-wrong",
            &Args::new().num("remaining", i64::from(remaining)),
        )),
        Err(Error::CodeExpired) => again(tr(v.lang, "code-expired")),
        Err(Error::Locked { retry_after_secs }) => {
            locked_page(&v, &info.org_name, retry_after_secs)
        }
        Err(Error::Blocked) => blocked_page(&v, &info),
        Err(Error::Gone(reason)) => gone_page(&v, reason, &info),
        Err(e) => error_page(&v, &e),
    })
}

/// Adds the device cookie for a session just granted, when the organisation allows it; a
/// failure is logged and the visit goes on without it.
async fn remember_device(
    s: &AppState,
    token: &str,
    jar: CookieJar,
    grant: &SessionGrant,
    ctx: &ClientCtx,
) -> CookieJar {
    let Ok(sess) = s.z.recipient_session(token, &grant.access_token).await else {
        return jar;
    };
    match s.z.remember_device(&sess, ctx).await {
        Ok(Some((device, days))) => jar.add(
            Cookie::build((DEVICE_COOKIE, device))
                .path(here(token, ""))
                .http_only(true)
                .secure(s.opts.secure_cookies)
                .same_site(SameSite::Strict)
                .max_age(time::Duration::days(days))
                .build(),
        ),
        Ok(None) => jar,
        Err(e) => {
            tracing::warn!(error = %e, "remembering a device failed");
            jar
        }
    }
}

/// "This is not my number": whom to ask; no code is sent.
pub(super) async fn wrong_number(
    State(s): State<AppState>,
    Path(token): Path<String>,
    pl: PageLang,
) -> Response {
    let v = pl.view(here(&token, "/ander-nummer"));
    pl.finish(show_wrong_number(&s, &v, &token).await)
}

async fn show_wrong_number(s: &AppState, v: &View, token: &str) -> Result<Response, PageError> {
    let info = link_or_page(s, v, token).await?;
    let l = v.lang;
    Ok(problem(
        v,
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
        Some(here(token, "")),
    ))
}

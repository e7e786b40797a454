//! Replying to the sender (never reply-all): the reply form, and its POST streamed into
//! encrypted storage; the refusal pages when replying is off (403) or used up (409).

use super::link::{here, session_or_page, CSRF_PATH};
use crate::http::multipart::Parts;
use crate::http::pages::{
    csrf_failed, csrf_ok, csrf_token, error_page, problem, render, see_other, Chrome, PageError,
    PageLang, View,
};
use crate::http::upload::{stream_attachments, text_part};
use crate::http::{AppState, Client};
use askama::Template;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use zegel_core::i18n::{self, tr, tr_args};
use zegel_core::model::RecipientAccess;
use zegel_core::service::{RecipientSession, ReplyRefusal};
use zegel_core::{Conflict, Error, Invalid, NotAllowed};

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

/// A failed reply without a form to show again: the refusal page, else the error page.
fn refused_or_error(v: &View, info: &RecipientAccess, e: &Error) -> Response {
    match e {
        Error::NotAllowed(NotAllowed::RepliesOff) | Error::Conflict(Conflict::ReplyUsed) => {
            reply_refused_page(v, info, e)
        }
        e => error_page(v, e),
    }
}

fn reply_form(
    s: &AppState,
    v: &View,
    sess: &RecipientSession,
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

/// `GET /antwoord`: the reply form, or why replying is refused.
pub(super) async fn reply_page(
    State(s): State<AppState>,
    Path(token): Path<String>,
    jar: CookieJar,
    pl: PageLang,
) -> Response {
    let v = pl.view(here(&token, "/antwoord"));
    pl.finish(show_reply_form(&s, &v, &token, jar).await)
}

async fn show_reply_form(
    s: &AppState,
    v: &View,
    token: &str,
    jar: CookieJar,
) -> Result<Response, PageError> {
    let session = session_or_page(s, v, token, &jar).await?;
    let p =
        s.z.permissions(&session)
            .await
            .map_err(|e| error_page(v, &e))?;
    if !p.reply_allowed {
        let refusal = p.reply_refused.unwrap_or(ReplyRefusal::Off);
        return Err(reply_refused_page(v, &session.access, &refusal.into()).into());
    }
    let (jar, csrf) = csrf_token(jar, CSRF_PATH, s.opts.secure_cookies);
    let page = reply_form(s, v, &session, token, &csrf, ("", None), StatusCode::OK);
    Ok((jar, page).into_response())
}

/// The first part of the form when it is `csrf` (else no token); a body that cannot be read
/// (over a limit, stalled) is an error.
async fn csrf_part(mp: &mut Parts) -> Result<String, Error> {
    match mp.next_field().await? {
        Some(mut f) if f.name() == Some("csrf") => {
            Ok(text_part(&mut f, 100).await.unwrap_or_default())
        }
        _ => Ok(String::new()),
    }
}

/// `POST /antwoord`: `csrf` first (checked before anything is stored), then `body` (the form
/// always sends it, empty or not), then the `attachment` files, streamed into encrypted blobs.
pub(super) async fn reply_post(
    State(s): State<AppState>,
    Path(token): Path<String>,
    jar: CookieJar,
    headers: HeaderMap,
    pl: PageLang,
    Client(ctx): Client,
    req: Request,
) -> Result<Response, PageError> {
    let v = pl.view(here(&token, "/antwoord"));
    let session = session_or_page(&s, &v, &token, &jar).await?;
    let mut mp = Parts::from_request(req).map_err(|e| error_page(&v, &e))?;
    let csrf = csrf_part(&mut mp).await.map_err(|e| error_page(&v, &e))?;
    if !csrf_ok(&jar, &headers, &csrf) {
        return Err(csrf_failed(&v, here(&token, "")).into());
    }
    let body = match mp.next_field().await {
        Ok(Some(mut f)) if f.name() == Some("body") => {
            text_part(&mut f, s.z.settings.max_body_bytes)
                .await
                .map_err(|e| error_page(&v, &e))?
        }
        Ok(Some(_)) => {
            let e = Error::BadRequest("the second part must be `body`".into());
            return Err(error_page(&v, &e).into());
        }
        Ok(None) => String::new(),
        Err(e) => return Err(error_page(&v, &e).into()),
    };
    let mut draft =
        s.z.begin_reply(&session, body.clone())
            .await
            .map_err(|e| refused_or_error(&v, &session.access, &e))?;
    let stored = match stream_attachments(&mut mp, draft.uploads()).await {
        Ok(()) => draft.commit(&ctx).await.map(|_| ()),
        Err(e) => {
            draft.abort().await;
            Err(e)
        }
    };
    let l = v.lang;
    let size = i18n::file_size(l, s.z.settings.max_upload_bytes as i64);
    let max = s.z.settings.max_reply_attachments.to_string();
    let again = |msg: String, status| {
        reply_form(&s, &v, &session, &token, &csrf, (&body, Some(msg)), status)
    };
    Ok(match stored {
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
        Err(e) => refused_or_error(&v, &session.access, &e),
    })
}

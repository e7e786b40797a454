//! Forwarding securely to a new recipient, who verifies on their own: the form and its POST;
//! the refusal page when forwarding is not allowed.

use super::link::{here, session_or_page, CSRF_PATH};
use crate::http::pages::{
    csrf_failed, csrf_ok, csrf_token, error_page, problem, render, see_other, Chrome, PageError,
    PageLang, View,
};
use crate::http::{AppState, Client};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use zegel_core::i18n::{tr, tr_args};
use zegel_core::model::RecipientAccess;
use zegel_core::service::ForwardReq;
use zegel_core::{Error, Invalid, NotAllowed};

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

#[derive(Deserialize, Default)]
pub(super) struct ForwardForm {
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

/// The form, filled in with `f` (empty on a GET) and with its `csrf` token.
fn forward_form(
    v: &View,
    a: &RecipientAccess,
    token: &str,
    csrf: &str,
    f: &ForwardForm,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    render(
        v.lang,
        status,
        &ForwardPage {
            chrome: v.chrome(a),
            sender: &a.sender_name,
            token,
            csrf,
            email: &f.email,
            phone: &f.phone,
            note: &f.note,
            error,
        },
    )
}

/// `GET /doorsturen`: the forward form, or why forwarding is not allowed.
pub(super) async fn forward_page(
    State(s): State<AppState>,
    Path(token): Path<String>,
    jar: CookieJar,
    pl: PageLang,
) -> Response {
    let v = pl.view(here(&token, "/doorsturen"));
    pl.finish(show_forward_form(&s, &v, &token, jar).await)
}

async fn show_forward_form(
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
    if !p.forward_allowed {
        return Err(forward_off_page(v, &session.access).into());
    }
    let (jar, csrf) = csrf_token(jar, CSRF_PATH, s.opts.secure_cookies);
    let empty = ForwardForm::default();
    let page = forward_form(
        v,
        &session.access,
        token,
        &csrf,
        &empty,
        None,
        StatusCode::OK,
    );
    Ok((jar, page).into_response())
}

/// `POST /doorsturen`: forwards, or shows the form again with what went wrong.
pub(super) async fn forward_post(
    State(s): State<AppState>,
    Path(token): Path<String>,
    jar: CookieJar,
    headers: HeaderMap,
    pl: PageLang,
    Client(ctx): Client,
    Form(f): Form<ForwardForm>,
) -> Result<Response, PageError> {
    let v = pl.view(here(&token, "/doorsturen"));
    if !csrf_ok(&jar, &headers, &f.csrf) {
        return Err(csrf_failed(&v, here(&token, "")).into());
    }
    let session = session_or_page(&s, &v, &token, &jar).await?;
    let req = ForwardReq {
        email: Some(f.email.clone()),
        phone: Some(f.phone.clone()),
        note: Some(f.note.clone()),
    };
    let l = v.lang;
    let again = |msg: String, status| {
        forward_form(&v, &session.access, &token, &f.csrf, &f, Some(msg), status)
    };
    Ok(match s.z.forward(&session, req, &ctx).await {
        Ok(_) => see_other(here(&token, "/bericht?doorgestuurd=1")),
        // One message whether the address has the message already or the cap is reached.
        Err(Error::NotAllowed(NotAllowed::ForwardRefused)) => again(
            tr_args(
                l,
                "forward-refused",
                &[("sender", &session.access.sender_name)],
            ),
            StatusCode::FORBIDDEN,
        ),
        Err(Error::NotAllowed(_)) => forward_off_page(&v, &session.access),
        Err(Error::Invalid(Invalid::SmsCountry { .. })) => again(
            tr(l, "forward-phone-country"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(Error::Invalid(Invalid::Phone { .. })) => {
            again(tr(l, "forward-bad-phone"), StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(Error::Invalid(Invalid::NotMobile { .. })) => again(
            tr(l, "forward-not-mobile"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(Error::Invalid(Invalid::NoteTooLong { .. })) => again(
            tr(l, "forward-note-too-long"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(Error::Invalid(_) | Error::BadRequest(_)) => {
            again(tr(l, "forward-bad-email"), StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(e) => error_page(&v, &e),
    })
}

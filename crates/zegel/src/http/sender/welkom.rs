//! `/welkom/{token}`: setting up an account from the one-time link of `zegel admin user
//! invite` (or `reset`): choose a password, then set up TOTP (QR code and the `otpauth://`
//! URI as text) and/or a passkey, then "Klaar" (refused while the organisation requires a
//! second factor and none is set up). An unknown link is 404, a used or expired one 410.

use super::account_answers::{account_problem, json_csrf_failed, json_error, message};
use super::session::sign_in_redirect;
use crate::http::pages::chrome::segment;
use crate::http::pages::{
    csrf_failed, csrf_ok, csrf_token, render, see_other, Chrome, PageLang, View,
};
use crate::http::{AppState, Client};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use zegel_core::service::{AccountError, SetupInfo, TotpSetup};
use zegel_core::signin::PasskeyRow;

const CSRF_PATH: &str = "/welkom";

#[derive(Template)]
#[template(path = "sender/welkom.html")]
struct PasswordPage<'a> {
    chrome: Chrome<'a>,
    csrf: &'a str,
    token: &'a str,
    email: &'a str,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "sender/welkom-beveiliging.html")]
struct SecurityPage<'a> {
    chrome: Chrome<'a>,
    csrf: &'a str,
    token: &'a str,
    totp_enabled: bool,
    totp: Option<TotpSetup>,
    passkeys: Vec<PasskeyRow>,
    required: bool,
    code_error: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
}

#[derive(Deserialize)]
pub(super) struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

#[derive(Deserialize)]
pub(super) struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

#[derive(Deserialize)]
pub(super) struct PasskeyFinish {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    ceremony: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    credential: serde_json::Value,
}

fn here(token: &str) -> String {
    format!("/welkom/{}", segment(token))
}

/// Errors shown on the security step.
#[derive(Default)]
struct Notes {
    code_error: Option<String>,
    error: Option<String>,
}

async fn security_page(
    s: &AppState,
    v: &View,
    jar: CookieJar,
    token: &str,
    info: &SetupInfo,
    status: StatusCode,
    notes: Notes,
) -> Response {
    let user = &info.account.user;
    let (totp, passkeys) = match (s.z.totp_setup(user).await, s.z.passkeys_of(&user.id).await) {
        (Ok(t), Ok(p)) => (t, p),
        (Err(e), _) | (_, Err(e)) => return account_problem(v, &e),
    };
    let (jar, csrf) = csrf_token(jar, CSRF_PATH, s.opts.secure_cookies);
    let page = render(
        v.lang,
        status,
        &SecurityPage {
            chrome: v.chrome("Zegel"),
            csrf: &csrf,
            token,
            totp_enabled: info.account.totp_enabled,
            totp,
            passkeys,
            required: info.account.second_factor_required,
            code_error: notes.code_error,
            error: notes.error,
        },
    );
    (jar, page).into_response()
}

fn password_page(
    s: &AppState,
    v: &View,
    jar: CookieJar,
    token: &str,
    info: &SetupInfo,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let (jar, csrf) = csrf_token(jar, CSRF_PATH, s.opts.secure_cookies);
    let page = render(
        v.lang,
        status,
        &PasswordPage {
            chrome: v.chrome("Zegel"),
            csrf: &csrf,
            token,
            email: &info.account.user.email,
            error,
        },
    );
    (jar, page).into_response()
}

/// The link's account, or the page to answer with (404, 410).
async fn link(s: &AppState, v: &View, token: &str) -> Result<SetupInfo, Response> {
    s.z.setup_link(token)
        .await
        .map_err(|e| account_problem(v, &e))
}

/// `GET /welkom/{token}`: the password step, or the security step once a password is set.
pub(super) async fn page(
    State(s): State<AppState>,
    Path(token): Path<String>,
    jar: CookieJar,
    pl: PageLang,
) -> Response {
    let v = pl.view(here(&token));
    let info = match link(&s, &v, &token).await {
        Ok(i) => i,
        Err(page) => return pl.finish(page),
    };
    let res = if info.account.user.password_hash.is_none() {
        password_page(&s, &v, jar, &token, &info, StatusCode::OK, None)
    } else {
        security_page(&s, &v, jar, &token, &info, StatusCode::OK, Notes::default()).await
    };
    pl.finish(res)
}

/// `POST /welkom/{token}`: the chosen password; then TOTP set-up begins.
pub(super) async fn password(
    State(s): State<AppState>,
    Path(token): Path<String>,
    jar: CookieJar,
    headers: HeaderMap,
    pl: PageLang,
    Client(ctx): Client,
    Form(f): Form<PasswordForm>,
) -> Response {
    let v = pl.view(here(&token));
    if !csrf_ok(&jar, &headers, &f.csrf) {
        return csrf_failed(&v, here(&token));
    }
    let info = match link(&s, &v, &token).await {
        Ok(i) => i,
        Err(page) => return page,
    };
    let user = &info.account.user;
    if let Err(e) = s.z.set_password(user, &f.password, &ctx).await {
        return match e {
            AccountError::WeakPassword(_) => {
                let msg = message(v.lang, &e);
                password_page(
                    &s,
                    &v,
                    jar,
                    &token,
                    &info,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Some(msg),
                )
            }
            e => account_problem(&v, &e),
        };
    }
    if !info.account.totp_enabled {
        if let Err(e) = s.z.totp_begin(user).await {
            return account_problem(&v, &e);
        }
    }
    see_other(here(&token))
}

/// `POST /welkom/{token}/totp/start`: a (new) TOTP secret to set up.
pub(super) async fn totp_start(
    State(s): State<AppState>,
    Path(token): Path<String>,
    jar: CookieJar,
    headers: HeaderMap,
    pl: PageLang,
    Form(f): Form<CsrfOnly>,
) -> Response {
    let v = pl.view(here(&token));
    if !csrf_ok(&jar, &headers, &f.csrf) {
        return csrf_failed(&v, here(&token));
    }
    let info = match link(&s, &v, &token).await {
        Ok(i) => i,
        Err(page) => return page,
    };
    if let Err(e) = s.z.totp_begin(&info.account.user).await {
        return account_problem(&v, &e);
    }
    see_other(here(&token))
}

/// `POST /welkom/{token}/totp`: the first code confirms the TOTP set-up.
pub(super) async fn totp_confirm(
    State(s): State<AppState>,
    Path(token): Path<String>,
    jar: CookieJar,
    headers: HeaderMap,
    pl: PageLang,
    Client(ctx): Client,
    Form(f): Form<CodeForm>,
) -> Response {
    let v = pl.view(here(&token));
    if !csrf_ok(&jar, &headers, &f.csrf) {
        return csrf_failed(&v, here(&token));
    }
    let info = match link(&s, &v, &token).await {
        Ok(i) => i,
        Err(page) => return page,
    };
    match s.z.totp_confirm(&info.account.user, &f.code, &ctx).await {
        Ok(()) => see_other(here(&token)),
        Err(e @ (AccountError::WrongCode { .. } | AccountError::Expired)) => {
            let notes = Notes {
                code_error: Some(message(v.lang, &e)),
                error: None,
            };
            security_page(
                &s,
                &v,
                jar,
                &token,
                &info,
                StatusCode::UNPROCESSABLE_ENTITY,
                notes,
            )
            .await
        }
        Err(e) => account_problem(&v, &e),
    }
}

/// `POST /welkom/{token}/passkey/start` (JSON): the options to register a passkey.
pub(super) async fn passkey_start(
    State(s): State<AppState>,
    Path(token): Path<String>,
    jar: CookieJar,
    headers: HeaderMap,
    pl: PageLang,
    Json(f): Json<CsrfOnly>,
) -> Response {
    let l = pl.view(String::new()).lang;
    if !csrf_ok(&jar, &headers, &f.csrf) {
        return json_csrf_failed(l);
    }
    let info = match s.z.setup_link(&token).await {
        Ok(i) => i,
        Err(e) => return json_error(l, &e),
    };
    match s.z.passkey_register_start(&info.account.user).await {
        Ok((ceremony, options)) => Json(serde_json::json!({
            "ceremony": ceremony,
            "options": options,
        }))
        .into_response(),
        Err(e) => json_error(l, &e),
    }
}

/// `POST /welkom/{token}/passkey/finish` (JSON): the new passkey; the script reloads the page.
pub(super) async fn passkey_finish(
    State(s): State<AppState>,
    Path(token): Path<String>,
    jar: CookieJar,
    headers: HeaderMap,
    pl: PageLang,
    Client(ctx): Client,
    Json(f): Json<PasskeyFinish>,
) -> Response {
    let l = pl.view(String::new()).lang;
    if !csrf_ok(&jar, &headers, &f.csrf) {
        return json_csrf_failed(l);
    }
    let info = match s.z.setup_link(&token).await {
        Ok(i) => i,
        Err(e) => return json_error(l, &e),
    };
    match s
        .z
        .passkey_register_finish(
            &info.account.user,
            &f.ceremony,
            &f.name,
            &f.credential,
            &ctx,
        )
        .await
    {
        Ok(()) => Json(serde_json::json!({ "redirect": here(&token) })).into_response(),
        Err(e) => json_error(l, &e),
    }
}

/// `POST /welkom/{token}/klaar`: the link is used up and the user signed in.
pub(super) async fn finish(
    State(s): State<AppState>,
    Path(token): Path<String>,
    jar: CookieJar,
    headers: HeaderMap,
    pl: PageLang,
    Client(ctx): Client,
    Form(f): Form<CsrfOnly>,
) -> Response {
    let v = pl.view(here(&token));
    if !csrf_ok(&jar, &headers, &f.csrf) {
        return csrf_failed(&v, here(&token));
    }
    match s.z.finish_setup(&token, &ctx).await {
        Ok(user) => match sign_in_redirect(&s, &user.id, None).await {
            Ok(res) => res,
            Err(e) => {
                tracing::error!(error = %e, "starting a sender session failed");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        },
        Err(e @ AccountError::SecondFactorRequired) => {
            let info = match link(&s, &v, &token).await {
                Ok(i) => i,
                Err(page) => return page,
            };
            let notes = Notes {
                code_error: None,
                error: Some(message(v.lang, &e)),
            };
            security_page(
                &s,
                &v,
                jar,
                &token,
                &info,
                StatusCode::UNPROCESSABLE_ENTITY,
                notes,
            )
            .await
        }
        Err(e @ AccountError::WeakPassword(_)) => {
            let info = match link(&s, &v, &token).await {
                Ok(i) => i,
                Err(page) => return page,
            };
            let msg = message(v.lang, &e);
            password_page(
                &s,
                &v,
                jar,
                &token,
                &info,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(msg),
            )
        }
        Err(e) => account_problem(&v, &e),
    }
}

//! `/inloggen`: e-mail and password ("Inloggen"), then, when the account has a second factor,
//! "Verificatiecode" or a passkey (`/inloggen/code`); or a passkey alone ("Inloggen met
//! passkey", with the script). Unknown e-mail and wrong password get the same answer; the
//! lockout and the per-address throttle live in the database (`zegel_core`).

use super::account_answers::{
    account_problem, json_csrf_failed, json_error, json_redirect, message,
};
use super::session::{safe_next, sign_in_redirect};
use crate::http::pages::{csrf_failed, csrf_ok, csrf_token, render, see_other, Chrome, PageLang};
use crate::http::{AppState, Client};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::Deserialize;
use zegel_core::service::{AccountError, PasswordOutcome};

/// Where the sign-in pages' CSRF cookie lives.
const CSRF_PATH: &str = "/inloggen";
/// The pending sign-in between the password and the second step (its token; stored hashed).
const PENDING_COOKIE: &str = "zegel_pending";

#[derive(Template)]
#[template(path = "sender/inloggen.html")]
struct SignInPage<'a> {
    chrome: Chrome<'a>,
    csrf: &'a str,
    email: &'a str,
    next: &'a str,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "sender/inloggen-code.html")]
struct CodePage<'a> {
    chrome: Chrome<'a>,
    csrf: &'a str,
    next: &'a str,
    totp: bool,
    passkey: bool,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
pub(super) struct NextQuery {
    #[serde(default)]
    next: String,
    #[serde(default)]
    totp: Option<String>,
    #[serde(default)]
    passkey: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

#[derive(Deserialize)]
pub(super) struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    totp: Option<String>,
    #[serde(default)]
    passkey: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct PasskeyStart {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

#[derive(Deserialize)]
pub(super) struct PasskeyFinish {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    ceremony: String,
    #[serde(default)]
    credential: serde_json::Value,
    #[serde(default)]
    next: String,
}

fn next_of(next: &str) -> &str {
    safe_next(next).unwrap_or("")
}

fn pending_cookie(s: &AppState, value: String) -> Cookie<'static> {
    Cookie::build((PENDING_COOKIE, value))
        .path(CSRF_PATH)
        .http_only(true)
        .secure(s.opts.secure_cookies)
        .same_site(SameSite::Strict)
        .max_age(time::Duration::minutes(5))
        .build()
}

fn pending_removal(s: &AppState) -> Cookie<'static> {
    let mut c = pending_cookie(s, String::new());
    c.make_removal();
    c
}

fn sign_in_form(
    s: &AppState,
    pl: &PageLang,
    jar: CookieJar,
    status: StatusCode,
    email: &str,
    next: &str,
    error: Option<String>,
) -> Response {
    let v = pl.view("/inloggen".into());
    let (jar, csrf) = csrf_token(jar, CSRF_PATH, s.opts.secure_cookies);
    let page = render(
        v.lang,
        status,
        &SignInPage {
            chrome: v.chrome("Zegel"),
            csrf: &csrf,
            email,
            next: next_of(next),
            error,
        },
    );
    (jar, page).into_response()
}

/// `GET /inloggen`.
pub(super) async fn page(
    State(s): State<AppState>,
    jar: CookieJar,
    pl: PageLang,
    Query(q): Query<NextQuery>,
) -> Response {
    let res = sign_in_form(&s, &pl, jar, StatusCode::OK, "", &q.next, None);
    pl.finish(res)
}

/// `POST /inloggen`: the password.
pub(super) async fn password(
    State(s): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    pl: PageLang,
    Client(ctx): Client,
    Form(f): Form<PasswordForm>,
) -> Response {
    let v = pl.view("/inloggen".into());
    if !csrf_ok(&jar, &headers, &f.csrf) {
        return csrf_failed(&v, "/inloggen".into());
    }
    match s.z.sign_in_password(&f.email, &f.password, &ctx).await {
        Ok(PasswordOutcome::SignedIn(user)) => signed_in(&s, &user.id, &f.next, jar).await,
        Ok(PasswordOutcome::SecondStep {
            pending,
            totp,
            passkey,
        }) => {
            let mut to = format!(
                "/inloggen/code?totp={}&passkey={}",
                u8::from(totp),
                u8::from(passkey)
            );
            if let Some(n) = safe_next(&f.next) {
                to.push_str("&next=");
                to.extend(url::form_urlencoded::byte_serialize(n.as_bytes()));
            }
            (jar.add(pending_cookie(&s, pending)), see_other(to)).into_response()
        }
        Err(e @ (AccountError::WrongCredentials | AccountError::SecondFactorRequired)) => {
            let status = match e {
                AccountError::WrongCredentials => StatusCode::UNAUTHORIZED,
                _ => StatusCode::FORBIDDEN,
            };
            sign_in_form(
                &s,
                &pl,
                jar,
                status,
                &f.email,
                &f.next,
                Some(message(v.lang, &e)),
            )
        }
        Err(e) => account_problem(&v, &e),
    }
}

async fn signed_in(s: &AppState, user_id: &str, next: &str, jar: CookieJar) -> Response {
    match sign_in_redirect(s, user_id, safe_next(next)).await {
        Ok(res) => (jar.add(pending_removal(s)), res).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "starting a sender session failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Which second steps the page offers, and where to go after.
struct Step<'a> {
    next: &'a str,
    totp: bool,
    passkey: bool,
}

fn code_form(
    s: &AppState,
    pl: &PageLang,
    jar: CookieJar,
    status: StatusCode,
    step: Step<'_>,
    error: Option<String>,
) -> Response {
    let Step {
        next,
        totp,
        passkey,
    } = step;
    let v = pl.view("/inloggen/code".into());
    let (jar, csrf) = csrf_token(jar, CSRF_PATH, s.opts.secure_cookies);
    let page = render(
        v.lang,
        status,
        &CodePage {
            chrome: v.chrome("Zegel"),
            csrf: &csrf,
            next: next_of(next),
            totp,
            passkey,
            error,
        },
    );
    (jar, page).into_response()
}

/// `GET /inloggen/code`: the second step (without a pending sign-in: back to `/inloggen`).
pub(super) async fn code_page(
    State(s): State<AppState>,
    jar: CookieJar,
    pl: PageLang,
    Query(q): Query<NextQuery>,
) -> Response {
    if jar.get(PENDING_COOKIE).is_none() {
        return pl.finish(see_other("/inloggen".into()));
    }
    let totp = q.totp.as_deref() != Some("0");
    let passkey = q.passkey.as_deref() == Some("1");
    let step = Step {
        next: &q.next,
        totp,
        passkey,
    };
    let res = code_form(&s, &pl, jar, StatusCode::OK, step, None);
    pl.finish(res)
}

/// `POST /inloggen/code`: the TOTP code.
pub(super) async fn code(
    State(s): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    pl: PageLang,
    Client(ctx): Client,
    Form(f): Form<CodeForm>,
) -> Response {
    let v = pl.view("/inloggen/code".into());
    if !csrf_ok(&jar, &headers, &f.csrf) {
        return csrf_failed(&v, "/inloggen".into());
    }
    let pending = jar
        .get(PENDING_COOKIE)
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    let totp = f.totp.as_deref() != Some("0");
    let passkey = f.passkey.as_deref() == Some("1");
    match s.z.sign_in_totp(&pending, &f.code, &ctx).await {
        Ok(user) => signed_in(&s, &user.id, &f.next, jar).await,
        Err(AccountError::WrongCode {
            pending: Some(next_pending),
        }) => {
            let jar = jar.add(pending_cookie(&s, next_pending));
            code_form(
                &s,
                &pl,
                jar,
                StatusCode::UNAUTHORIZED,
                Step {
                    next: &f.next,
                    totp,
                    passkey,
                },
                Some(message(v.lang, &AccountError::WrongCode { pending: None })),
            )
        }
        Err(AccountError::Expired) => sign_in_form(
            &s,
            &pl,
            jar.add(pending_removal(&s)),
            StatusCode::UNAUTHORIZED,
            "",
            &f.next,
            Some(message(v.lang, &AccountError::Expired)),
        ),
        Err(e) => account_problem(&v, &e),
    }
}

/// `POST /inloggen/passkey/start` (JSON, from the script): the options for
/// `navigator.credentials.get` of the account with the e-mail address given, or of the
/// pending sign-in after a password.
pub(super) async fn passkey_start(
    State(s): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    pl: PageLang,
    Client(ctx): Client,
    Json(f): Json<PasskeyStart>,
) -> Response {
    let l = pl.view(String::new()).lang;
    if !csrf_ok(&jar, &headers, &f.csrf) {
        return json_csrf_failed(l);
    }
    let pending = jar.get(PENDING_COOKIE).map(|c| c.value().to_owned());
    let email = Some(f.email.trim()).filter(|e| !e.is_empty());
    match s
        .z
        .passkey_sign_in_start(email, pending.as_deref(), &ctx)
        .await
    {
        Ok((ceremony, options)) => Json(serde_json::json!({
            "ceremony": ceremony,
            "options": options,
        }))
        .into_response(),
        Err(e) => json_error(l, &e),
    }
}

/// `POST /inloggen/passkey/finish` (JSON): the passkey's answer; signed in, the script goes
/// to `redirect`.
pub(super) async fn passkey_finish(
    State(s): State<AppState>,
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
    match s
        .z
        .passkey_sign_in_finish(&f.ceremony, &f.credential, &ctx)
        .await
    {
        Ok(user) => json_redirect(signed_in(&s, &user.id, &f.next, jar).await),
        Err(e) => json_error(l, &e),
    }
}

//! `/instellingen`: the signed-in sender's password (the current one asked; the user's other
//! sessions end), TOTP (add with QR code and URI, remove), passkeys (add named, remove) and
//! own API tokens and SMTP credentials for a mail client or the EHR (list, create: shown once,
//! revoke). Another user's passkey, token or credential: 404.

use super::account_answers::{account_problem, json_csrf_failed, json_error, message};
use super::layout::{Section, SenderNav};
use super::SignedIn;
use crate::http::pages::{csrf_failed, render, see_other, Chrome, PageLang, View};
use crate::http::{AppState, Client};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use serde::Deserialize;
use zegel_core::i18n::{self, tr};
use zegel_core::model::SmtpCredentialInfo;
use zegel_core::service::{AccountError, SmtpCredentialCreated, TotpSetup};
use zegel_core::signin::{ApiTokenInfo, PasskeyRow};

const HERE: &str = "/instellingen";

#[derive(Template)]
#[template(path = "sender/instellingen.html")]
struct SettingsPage<'a> {
    chrome: Chrome<'a>,
    nav: SenderNav,
    csrf: &'a str,
    notice: Option<String>,
    password_error: Option<String>,
    current_error: Option<String>,
    totp_enabled: bool,
    totp: Option<TotpSetup>,
    code_error: Option<String>,
    totp_error: Option<String>,
    passkeys: Vec<(PasskeyRow, String)>,
    passkey_error: Option<String>,
    tokens: Vec<(ApiTokenInfo, String, String)>,
    new_token: Option<String>,
    smtp: Vec<(SmtpCredentialInfo, String, String)>,
    new_smtp: Option<SmtpCredentialCreated>,
}

/// Messages of one answer of the page.
#[derive(Default)]
struct Notes {
    notice: Option<String>,
    password_error: Option<String>,
    current_error: Option<String>,
    code_error: Option<String>,
    totp_error: Option<String>,
    passkey_error: Option<String>,
    new_token: Option<String>,
    new_smtp: Option<SmtpCredentialCreated>,
}

#[derive(Deserialize, Default)]
pub(super) struct DoneQuery {
    #[serde(default)]
    klaar: String,
}

#[derive(Deserialize)]
pub(super) struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current: String,
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
pub(super) struct TokenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    label: String,
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

async fn settings_page(
    s: &AppState,
    v: &View,
    who: &SignedIn,
    status: StatusCode,
    notes: Notes,
) -> Response {
    let user = &who.principal.user;
    let l = v.lang;
    let account = match s.z.account(&user.id).await {
        Ok(a) => a,
        Err(e) => return account_problem(v, &e),
    };
    let (totp, passkeys, tokens, smtp) = match (
        s.z.totp_setup(user).await,
        s.z.passkeys_of(&user.id).await,
        s.z.own_api_tokens(&user.id).await,
        s.z.own_smtp_credentials(&user.id)
            .await
            .map_err(AccountError::Core),
    ) {
        (Ok(t), Ok(p), Ok(k), Ok(m)) => (t, p, k, m),
        (Err(e), _, _, _) | (_, Err(e), _, _) | (_, _, Err(e), _) | (_, _, _, Err(e)) => {
            return account_problem(v, &e)
        }
    };
    let passkeys = passkeys
        .into_iter()
        .map(|p| {
            let at = i18n::datetime(l, p.created_at);
            (p, at)
        })
        .collect();
    let tokens = with_dates(l, tokens, |t| (t.created_at, t.last_used_at));
    let smtp = with_dates(l, smtp, |c| (c.created_at, c.last_used_at));
    let (chrome, nav) = who.frame(v, Section::Settings);
    render(
        l,
        status,
        &SettingsPage {
            chrome,
            nav,
            csrf: &who.csrf,
            notice: notes.notice,
            password_error: notes.password_error,
            current_error: notes.current_error,
            totp_enabled: account.totp_enabled,
            totp,
            code_error: notes.code_error,
            totp_error: notes.totp_error,
            passkeys,
            passkey_error: notes.passkey_error,
            tokens,
            new_token: notes.new_token,
            smtp,
            new_smtp: notes.new_smtp,
        },
    )
}

/// Each item with when it was made and last used ("nooit" when never), as the page shows them.
fn with_dates<T>(
    l: i18n::Lang,
    items: Vec<T>,
    dates: impl Fn(&T) -> (zegel_core::model::Ts, Option<zegel_core::model::Ts>),
) -> Vec<(T, String, String)> {
    let never = tr(l, "acct-token-never");
    items
        .into_iter()
        .map(|t| {
            let (created, used) = dates(&t);
            let used = used.map_or_else(|| never.clone(), |u| i18n::datetime(l, u));
            (t, i18n::datetime(l, created), used)
        })
        .collect()
}

/// `GET /instellingen`.
pub(super) async fn page(
    State(s): State<AppState>,
    pl: PageLang,
    who: SignedIn,
    Query(q): Query<DoneQuery>,
) -> Response {
    let v = pl.view(HERE.into());
    let notice = match q.klaar.as_str() {
        "wachtwoord" => Some("acct-notice-password"),
        "totp" => Some("acct-notice-totp-added"),
        "totp-weg" => Some("acct-notice-totp-removed"),
        "passkey" => Some("acct-notice-passkey-added"),
        "passkey-weg" => Some("acct-notice-passkey-removed"),
        "token-weg" => Some("acct-notice-token-revoked"),
        "smtp-weg" => Some("acct-notice-smtp-revoked"),
        _ => None,
    }
    .map(|id| tr(v.lang, id));
    let notes = Notes {
        notice,
        ..Notes::default()
    };
    let res = settings_page(&s, &v, &who, StatusCode::OK, notes).await;
    pl.finish(res)
}

fn done(what: &str) -> Response {
    see_other(format!("{HERE}?klaar={what}"))
}

/// `POST /instellingen/wachtwoord`: a new password; the user's other sessions end.
pub(super) async fn password(
    State(s): State<AppState>,
    pl: PageLang,
    who: SignedIn,
    headers: HeaderMap,
    Client(ctx): Client,
    Form(f): Form<PasswordForm>,
) -> Response {
    let v = pl.view(HERE.into());
    if !who.csrf_ok(&headers, &f.csrf) {
        return csrf_failed(&v, HERE.into());
    }
    let uid = &who.principal.user.id;
    match s
        .z
        .change_password(uid, &f.current, &f.password, &ctx)
        .await
    {
        Ok(()) => {
            if let Err(e) =
                s.z.end_user_sender_sessions(uid, Some(&who.token_hash))
                    .await
            {
                return crate::http::pages::error_page(&v, &e);
            }
            done("wachtwoord")
        }
        Err(e @ AccountError::WrongCurrentPassword) => {
            let notes = Notes {
                current_error: Some(message(v.lang, &e)),
                ..Notes::default()
            };
            settings_page(&s, &v, &who, StatusCode::UNPROCESSABLE_ENTITY, notes).await
        }
        Err(e @ AccountError::WeakPassword(_)) => {
            let notes = Notes {
                password_error: Some(message(v.lang, &e)),
                ..Notes::default()
            };
            settings_page(&s, &v, &who, StatusCode::UNPROCESSABLE_ENTITY, notes).await
        }
        Err(e) => account_problem(&v, &e),
    }
}

/// `POST /instellingen/totp/start`: a TOTP secret to set up (shown on the page).
pub(super) async fn totp_start(
    State(s): State<AppState>,
    pl: PageLang,
    who: SignedIn,
    headers: HeaderMap,
    Form(f): Form<CsrfOnly>,
) -> Response {
    let v = pl.view(HERE.into());
    if !who.csrf_ok(&headers, &f.csrf) {
        return csrf_failed(&v, HERE.into());
    }
    match s.z.totp_begin(&who.principal.user).await {
        Ok(_) => see_other(format!("{HERE}#totp")),
        Err(e) => account_problem(&v, &e),
    }
}

/// `POST /instellingen/totp`: the first code confirms the TOTP set-up.
pub(super) async fn totp_confirm(
    State(s): State<AppState>,
    pl: PageLang,
    who: SignedIn,
    headers: HeaderMap,
    Client(ctx): Client,
    Form(f): Form<CodeForm>,
) -> Response {
    let v = pl.view(HERE.into());
    if !who.csrf_ok(&headers, &f.csrf) {
        return csrf_failed(&v, HERE.into());
    }
    match s.z.totp_confirm(&who.principal.user, &f.code, &ctx).await {
        Ok(()) => done("totp"),
        Err(e @ (AccountError::WrongCode { .. } | AccountError::Expired)) => {
            let notes = Notes {
                code_error: Some(message(v.lang, &e)),
                ..Notes::default()
            };
            settings_page(&s, &v, &who, StatusCode::UNPROCESSABLE_ENTITY, notes).await
        }
        Err(e) => account_problem(&v, &e),
    }
}

/// `POST /instellingen/totp/verwijderen`.
pub(super) async fn totp_remove(
    State(s): State<AppState>,
    pl: PageLang,
    who: SignedIn,
    headers: HeaderMap,
    Client(ctx): Client,
    Form(f): Form<CsrfOnly>,
) -> Response {
    let v = pl.view(HERE.into());
    if !who.csrf_ok(&headers, &f.csrf) {
        return csrf_failed(&v, HERE.into());
    }
    match s.z.totp_remove(&who.principal.user.id, &ctx).await {
        Ok(()) => done("totp-weg"),
        Err(e @ AccountError::SecondFactorRequired) => {
            let notes = Notes {
                totp_error: Some(message(v.lang, &e)),
                ..Notes::default()
            };
            settings_page(&s, &v, &who, StatusCode::UNPROCESSABLE_ENTITY, notes).await
        }
        Err(e) => account_problem(&v, &e),
    }
}

/// `POST /instellingen/passkeys/start` (JSON): the options to register a passkey.
pub(super) async fn passkey_start(
    State(s): State<AppState>,
    pl: PageLang,
    who: SignedIn,
    headers: HeaderMap,
    Json(f): Json<CsrfOnly>,
) -> Response {
    let l = pl.view(String::new()).lang;
    if !who.csrf_ok(&headers, &f.csrf) {
        return json_csrf_failed(l);
    }
    match s.z.passkey_register_start(&who.principal.user).await {
        Ok((ceremony, options)) => Json(serde_json::json!({
            "ceremony": ceremony,
            "options": options,
        }))
        .into_response(),
        Err(e) => json_error(l, &e),
    }
}

/// `POST /instellingen/passkeys/finish` (JSON): stores the new passkey under its name.
pub(super) async fn passkey_finish(
    State(s): State<AppState>,
    pl: PageLang,
    who: SignedIn,
    headers: HeaderMap,
    Client(ctx): Client,
    Json(f): Json<PasskeyFinish>,
) -> Response {
    let l = pl.view(String::new()).lang;
    if !who.csrf_ok(&headers, &f.csrf) {
        return json_csrf_failed(l);
    }
    match s
        .z
        .passkey_register_finish(
            &who.principal.user,
            &f.ceremony,
            &f.name,
            &f.credential,
            &ctx,
        )
        .await
    {
        Ok(()) => {
            Json(serde_json::json!({ "redirect": format!("{HERE}?klaar=passkey") })).into_response()
        }
        Err(e) => json_error(l, &e),
    }
}

/// `POST /instellingen/passkeys/{id}/verwijderen`.
pub(super) async fn passkey_remove(
    State(s): State<AppState>,
    Path(id): Path<String>,
    pl: PageLang,
    who: SignedIn,
    headers: HeaderMap,
    Client(ctx): Client,
    Form(f): Form<CsrfOnly>,
) -> Response {
    let v = pl.view(HERE.into());
    if !who.csrf_ok(&headers, &f.csrf) {
        return csrf_failed(&v, HERE.into());
    }
    match s.z.passkey_remove(&who.principal.user.id, &id, &ctx).await {
        Ok(()) => done("passkey-weg"),
        Err(e @ AccountError::SecondFactorRequired) => {
            let notes = Notes {
                passkey_error: Some(message(v.lang, &e)),
                ..Notes::default()
            };
            settings_page(&s, &v, &who, StatusCode::UNPROCESSABLE_ENTITY, notes).await
        }
        Err(e) => account_problem(&v, &e),
    }
}

/// `POST /instellingen/tokens`: a new API token, shown once on the page this answers with.
pub(super) async fn token_create(
    State(s): State<AppState>,
    pl: PageLang,
    who: SignedIn,
    headers: HeaderMap,
    Client(ctx): Client,
    Form(f): Form<TokenForm>,
) -> Response {
    let v = pl.view(HERE.into());
    if !who.csrf_ok(&headers, &f.csrf) {
        return csrf_failed(&v, HERE.into());
    }
    match s
        .z
        .create_own_api_token(&who.principal.user, &f.label, &ctx)
        .await
    {
        Ok(token) => {
            let notes = Notes {
                new_token: Some(token),
                ..Notes::default()
            };
            settings_page(&s, &v, &who, StatusCode::OK, notes).await
        }
        Err(e) => account_problem(&v, &e),
    }
}

/// `POST /instellingen/tokens/{id}/intrekken`.
pub(super) async fn token_revoke(
    State(s): State<AppState>,
    Path(id): Path<String>,
    pl: PageLang,
    who: SignedIn,
    headers: HeaderMap,
    Client(ctx): Client,
    Form(f): Form<CsrfOnly>,
) -> Response {
    let v = pl.view(HERE.into());
    if !who.csrf_ok(&headers, &f.csrf) {
        return csrf_failed(&v, HERE.into());
    }
    match s
        .z
        .revoke_own_api_token(&who.principal.user.id, &id, &ctx)
        .await
    {
        Ok(()) => done("token-weg"),
        Err(e) => account_problem(&v, &e),
    }
}

/// `POST /instellingen/smtp`: a new SMTP credential (user name and password) for a mail client
/// or the EHR, the password shown once on the page this answers with.
pub(super) async fn smtp_create(
    State(s): State<AppState>,
    pl: PageLang,
    who: SignedIn,
    headers: HeaderMap,
    Client(ctx): Client,
    Form(f): Form<TokenForm>,
) -> Response {
    let v = pl.view(HERE.into());
    if !who.csrf_ok(&headers, &f.csrf) {
        return csrf_failed(&v, HERE.into());
    }
    match s
        .z
        .create_smtp_credential(&who.principal.user, &f.label, Some(&ctx))
        .await
    {
        Ok(created) => {
            let notes = Notes {
                new_smtp: Some(created),
                ..Notes::default()
            };
            settings_page(&s, &v, &who, StatusCode::OK, notes).await
        }
        Err(e) => account_problem(&v, &AccountError::Core(e)),
    }
}

/// `POST /instellingen/smtp/{id}/intrekken`.
pub(super) async fn smtp_revoke(
    State(s): State<AppState>,
    Path(id): Path<String>,
    pl: PageLang,
    who: SignedIn,
    headers: HeaderMap,
    Form(f): Form<CsrfOnly>,
) -> Response {
    let v = pl.view(HERE.into());
    if !who.csrf_ok(&headers, &f.csrf) {
        return csrf_failed(&v, HERE.into());
    }
    match s
        .z
        .revoke_own_smtp_credential(&who.principal.user.id, &id)
        .await
    {
        Ok(()) => done("smtp-weg"),
        Err(e) => account_problem(&v, &AccountError::Core(e)),
    }
}

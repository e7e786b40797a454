//! The recipient's HTML pages, all under `/m/{token}`. GET never changes anything (mail
//! scanners follow links); every form carries a CSRF token (double-submit cookie, plus an
//! Origin check).

use super::access::download_response;
use super::error::status_of;
use super::{AppState, Client};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::Deserialize;
use zegel_core::model::{Ts, Verification};
use zegel_core::service::{LinkInfo, LinkState};
use zegel_core::{Error, GoneReason};

const CSRF_COOKIE: &str = "zegel_csrf";
// CONTRACT: the session cookie name starts with `zegel_`.
const SESSION_COOKIE: &str = "zegel_session";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/m/{token}", get(landing))
        .route("/m/{token}/start", post(start))
        .route("/m/{token}/send", get(send_page).post(send_code))
        .route("/m/{token}/code", get(code_page))
        .route("/m/{token}/verify", post(verify))
        .route("/m/{token}/bericht", get(message_page))
        .route("/m/{token}/bijlage/{id}", get(download))
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

// ---------- templates ----------

#[derive(Template)]
#[template(path = "landing.html")]
struct LandingPage<'a> {
    org: &'a str,
    sender: &'a str,
    token: &'a str,
    csrf: &'a str,
    expires: String,
}

#[derive(Template)]
#[template(path = "send.html")]
struct SendPage<'a> {
    org: &'a str,
    sender: &'a str,
    token: &'a str,
    csrf: &'a str,
    sms: bool,
    destination: &'a str,
}

#[derive(Template)]
#[template(path = "code.html")]
struct CodePage<'a> {
    org: &'a str,
    sender: &'a str,
    token: &'a str,
    csrf: &'a str,
    from_sender: bool,
    destination: &'a str,
    hint: Option<&'a str>,
    notice: Option<String>,
    error: Option<String>,
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
    org: &'a str,
    sender: &'a str,
    token: &'a str,
    subject: &'a str,
    body: &'a str,
    sent: String,
    expires: String,
    attachments: Vec<AttachmentLine>,
}

#[derive(Template)]
#[template(path = "problem.html")]
struct ProblemPage {
    org: String,
    title: String,
    paragraphs: Vec<String>,
}

fn render<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "Er ging iets mis.").into_response()
        }
    }
}

fn problem(status: StatusCode, org: &str, title: &str, paragraphs: Vec<String>) -> Response {
    render(
        status,
        &ProblemPage {
            org: org.to_string(),
            title: title.to_string(),
            paragraphs,
        },
    )
}

/// The page for an unknown or mistyped link (also the fallback for unknown paths).
pub fn not_found_page() -> Response {
    problem(
        StatusCode::NOT_FOUND,
        "Zegel",
        "Deze link werkt niet",
        vec![
            "Controleer of u de volledige link uit de e-mail heeft gebruikt; soms wordt een lange link in twee stukken gebroken.".into(),
            "Werkt het nog steeds niet? Neem dan contact op met de afzender van het bericht.".into(),
        ],
    )
}

/// The page when an address makes too many requests.
pub fn rate_limited_page(wait_secs: u64) -> Response {
    problem(
        StatusCode::TOO_MANY_REQUESTS,
        "Zegel",
        "Even geduld",
        vec![format!(
            "Er zijn te veel verzoeken tegelijk gedaan. Probeer het over {} opnieuw.",
            duration_nl(wait_secs)
        )],
    )
}

fn duration_nl(secs: u64) -> String {
    if secs < 60 {
        "een minuut".into()
    } else {
        let m = secs.div_ceil(60);
        if m == 1 {
            "een minuut".into()
        } else {
            format!("{m} minuten")
        }
    }
}

fn gone_page(reason: GoneReason, info: &LinkInfo) -> Response {
    let contact = format!(
        "Heeft u het bericht nog nodig? Neem dan contact op met {} van {}.",
        info.sender_name, info.org_name
    );
    match reason {
        GoneReason::Expired => problem(
            StatusCode::GONE,
            &info.org_name,
            "Dit bericht is verlopen",
            vec![
                format!(
                    "Dit bericht was beschikbaar tot {} en is daarna om veiligheidsredenen verwijderd.",
                    nl_datetime(info.expires_at)
                ),
                contact,
            ],
        ),
        GoneReason::Revoked => problem(
            StatusCode::GONE,
            &info.org_name,
            "Dit bericht is ingetrokken",
            vec![
                "De afzender heeft dit bericht ingetrokken. Het is niet meer te lezen.".into(),
                contact,
            ],
        ),
    }
}

fn locked_page(org: &str, retry_after: u64) -> Response {
    let mut res = problem(
        StatusCode::TOO_MANY_REQUESTS,
        org,
        "Te vaak een verkeerde code",
        vec![
            "Om uw bericht te beschermen is de toegang tijdelijk geblokkeerd, omdat er te vaak een verkeerde code is ingevuld.".into(),
            format!("U kunt het over {} opnieuw proberen. U krijgt dan een nieuwe code.", duration_nl(retry_after)),
            "Heeft u zelf geen code ingevuld? Neem dan contact op met de afzender.".into(),
        ],
    );
    if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    res
}

fn error_page(e: &Error) -> Response {
    match e {
        Error::NotFound => not_found_page(),
        Error::Locked { retry_after_secs } => locked_page("Zegel", *retry_after_secs),
        Error::Internal(m) => {
            let mut res = problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Zegel",
                "Er ging iets mis",
                vec!["Probeer het over een paar minuten opnieuw. Blijft het misgaan? Neem dan contact op met de afzender.".into()],
            );
            res.extensions_mut().insert(super::InternalError(m.clone()));
            res
        }
        other => problem(
            status_of(other),
            "Zegel",
            "Dit lukt niet",
            vec!["Ga terug naar de link in uw e-mail en probeer het opnieuw.".into()],
        ),
    }
}

// ---------- dates ----------

/// Amsterdam time (CET/CEST by the EU rule: summer time from the last Sunday of March to the
/// last Sunday of October, 01:00 UTC).
fn nl_datetime(ts: Ts) -> String {
    use time::{Date, Month, OffsetDateTime, UtcOffset, Weekday};
    let utc = ts.to_datetime();
    let last_sunday = |y: i32, m: Month| -> Option<OffsetDateTime> {
        let mut d = Date::from_calendar_date(y, m, 31).ok()?;
        while d.weekday() != Weekday::Sunday {
            d = d.previous_day()?;
        }
        Some(d.with_hms(1, 0, 0).ok()?.assume_utc())
    };
    let y = utc.year();
    let summer = match (last_sunday(y, Month::March), last_sunday(y, Month::October)) {
        (Some(a), Some(b)) => utc >= a && utc < b,
        _ => false,
    };
    let off = UtcOffset::from_hms(if summer { 2 } else { 1 }, 0, 0).unwrap_or(UtcOffset::UTC);
    let l = utc.to_offset(off);
    const MONTHS: [&str; 12] = [
        "januari",
        "februari",
        "maart",
        "april",
        "mei",
        "juni",
        "juli",
        "augustus",
        "september",
        "oktober",
        "november",
        "december",
    ];
    format!(
        "{} {} {} om {:02}:{:02}",
        l.day(),
        MONTHS[usize::from(u8::from(l.month())) - 1],
        l.year(),
        l.hour(),
        l.minute()
    )
}

fn human_size(n: i64) -> String {
    let n = n.max(0) as f64;
    if n < 1024.0 {
        format!("{n} bytes")
    } else if n < 1024.0 * 1024.0 {
        format!("{:.0} kB", n / 1024.0)
    } else {
        format!("{:.1} MB", n / 1024.0 / 1024.0).replace('.', ",")
    }
}

fn kind_of(content_type: &str, name: &str) -> String {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_lowercase())
        .unwrap_or_default();
    match (content_type, ext.as_str()) {
        (_, "pdf") | ("application/pdf", _) => "PDF-document".into(),
        (t, _) if t.starts_with("image/") => "afbeelding".into(),
        (_, "doc" | "docx") => "Word-document".into(),
        (_, "xls" | "xlsx") => "Excel-bestand".into(),
        (_, "txt") => "tekstbestand".into(),
        _ if !ext.is_empty() => format!("{}-bestand", ext.to_uppercase()),
        _ => "bestand".into(),
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
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or("");
        if origin == "null" || origin_host != host {
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

fn csrf_failed() -> Response {
    problem(
        StatusCode::FORBIDDEN,
        "Zegel",
        "De pagina is verlopen",
        vec![
            "Ga terug naar de link in uw e-mail en probeer het opnieuw.".into(),
            "Uw browser moet cookies van deze website toestaan.".into(),
        ],
    )
}

fn see_other(path: String) -> Response {
    Redirect::to(&path).into_response()
}

// ---------- handlers ----------

async fn link_or_page(s: &AppState, token: &str) -> Result<LinkInfo, Response> {
    match s.z.link(token).await {
        Ok(LinkState::Active(info)) => Ok(info),
        Ok(LinkState::Gone(reason, info)) => Err(gone_page(reason, &info)),
        Err(e) => Err(error_page(&e)),
    }
}

/// Every POST: the CSRF token must match its cookie (and the Origin, if sent), and the link
/// must be active.
async fn checked_post(
    s: &AppState,
    token: &str,
    jar: &CookieJar,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<LinkInfo, Response> {
    if !csrf_ok(jar, headers, csrf) {
        return Err(csrf_failed());
    }
    link_or_page(s, token).await
}

/// The recipient session from the cookie; without a valid one, back to the landing page.
async fn session_or_page(
    s: &AppState,
    token: &str,
    jar: &CookieJar,
) -> Result<zegel_core::service::RecipientSession, Response> {
    let Some(cookie) = jar.get(SESSION_COOKIE) else {
        return Err(see_other(format!("/m/{token}")));
    };
    match s.z.recipient_session(token, cookie.value()).await {
        Ok(sess) => Ok(sess),
        Err(Error::Unauthorized | Error::Forbidden) => Err(see_other(format!("/m/{token}"))),
        Err(Error::Gone(_)) => Err(link_or_page(s, token)
            .await
            .err()
            .unwrap_or_else(not_found_page)),
        Err(e) => Err(error_page(&e)),
    }
}

async fn landing(State(s): State<AppState>, Path(token): Path<String>, jar: CookieJar) -> Response {
    let info = match link_or_page(&s, &token).await {
        Ok(i) => i,
        Err(page) => return page,
    };
    let (jar, csrf) = csrf_token(jar, s.opts.secure_cookies);
    let page = render(
        StatusCode::OK,
        &LandingPage {
            org: &info.org_name,
            sender: &info.sender_name,
            token: &token,
            csrf: &csrf,
            expires: nl_datetime(info.expires_at),
        },
    );
    (jar, page).into_response()
}

async fn has_session(s: &AppState, token: &str, jar: &CookieJar) -> bool {
    match jar.get(SESSION_COOKIE) {
        Some(c) => s.z.recipient_session(token, c.value()).await.is_ok(),
        None => false,
    }
}

async fn start(
    State(s): State<AppState>,
    Path(token): Path<String>,
    jar: CookieJar,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Response {
    let info = match checked_post(&s, &token, &jar, &headers, &f.csrf).await {
        Ok(i) => i,
        Err(page) => return page,
    };
    if has_session(&s, &token, &jar).await {
        return see_other(format!("/m/{token}/bericht"));
    }
    if let Some(until) = info.locked_until {
        return locked_page(&info.org_name, Ts::now().secs_until(until).max(1));
    }
    match info.verification {
        Verification::Code => see_other(format!("/m/{token}/code")),
        _ if info.code_pending => see_other(format!("/m/{token}/code")),
        _ => see_other(format!("/m/{token}/send")),
    }
}

async fn send_page(
    State(s): State<AppState>,
    Path(token): Path<String>,
    jar: CookieJar,
) -> Response {
    let info = match link_or_page(&s, &token).await {
        Ok(i) => i,
        Err(page) => return page,
    };
    if info.verification == Verification::Code {
        return see_other(format!("/m/{token}/code"));
    }
    let (jar, csrf) = csrf_token(jar, s.opts.secure_cookies);
    let page = render(
        StatusCode::OK,
        &SendPage {
            org: &info.org_name,
            sender: &info.sender_name,
            token: &token,
            csrf: &csrf,
            sms: info.verification == Verification::Sms,
            destination: info.masked_destination.as_deref().unwrap_or(""),
        },
    );
    (jar, page).into_response()
}

async fn send_code(
    State(s): State<AppState>,
    Path(token): Path<String>,
    jar: CookieJar,
    headers: HeaderMap,
    Client(ctx): Client,
    Form(f): Form<CsrfForm>,
) -> Response {
    let info = match checked_post(&s, &token, &jar, &headers, &f.csrf).await {
        Ok(i) => i,
        Err(page) => return page,
    };
    match s.z.challenge(&token, info.verification, &ctx).await {
        Ok(_) => see_other(format!("/m/{token}/code?verstuurd=1")),
        Err(Error::Locked { retry_after_secs }) => locked_page(&info.org_name, retry_after_secs),
        Err(Error::Invalid(_)) => see_other(format!("/m/{token}/code")),
        Err(e) => error_page(&e),
    }
}

#[derive(Deserialize)]
struct CodeQuery {
    verstuurd: Option<String>,
}

fn code_page_for(
    info: &LinkInfo,
    token: &str,
    csrf: &str,
    notice: Option<String>,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    render(
        status,
        &CodePage {
            org: &info.org_name,
            sender: &info.sender_name,
            token,
            csrf,
            from_sender: info.verification == Verification::Code,
            destination: info.masked_destination.as_deref().unwrap_or(""),
            hint: info.hint.as_deref(),
            notice,
            error,
        },
    )
}

async fn code_page(
    State(s): State<AppState>,
    Path(token): Path<String>,
    jar: CookieJar,
    axum::extract::Query(q): axum::extract::Query<CodeQuery>,
) -> Response {
    let info = match link_or_page(&s, &token).await {
        Ok(i) => i,
        Err(page) => return page,
    };
    if let Some(until) = info.locked_until {
        return locked_page(&info.org_name, Ts::now().secs_until(until).max(1));
    }
    let (jar, csrf) = csrf_token(jar, s.opts.secure_cookies);
    let notice = q.verstuurd.map(|_| match info.verification {
        Verification::Sms => {
            "We hebben de code per sms verstuurd. Het kan een minuut duren voordat hij aankomt."
                .to_string()
        }
        _ => "We hebben de code per e-mail verstuurd. Kijk ook in uw map met ongewenste e-mail."
            .to_string(),
    });
    (
        jar,
        code_page_for(&info, &token, &csrf, notice, None, StatusCode::OK),
    )
        .into_response()
}

async fn verify(
    State(s): State<AppState>,
    Path(token): Path<String>,
    jar: CookieJar,
    headers: HeaderMap,
    Client(ctx): Client,
    Form(f): Form<CodeForm>,
) -> Response {
    let info = match checked_post(&s, &token, &jar, &headers, &f.csrf).await {
        Ok(i) => i,
        Err(page) => return page,
    };
    let csrf = f.csrf.clone();
    match s.z.verify(&token, &f.code, &ctx).await {
        Ok(grant) => {
            let cookie = Cookie::build((SESSION_COOKIE, grant.access_token))
                .path(format!("/m/{token}"))
                .http_only(true)
                .secure(s.opts.secure_cookies)
                .same_site(SameSite::Strict)
                .max_age(time::Duration::seconds(grant.expires_in_seconds))
                .build();
            (jar.add(cookie), see_other(format!("/m/{token}/bericht"))).into_response()
        }
        Err(Error::WrongCode { remaining }) => {
            let msg = match remaining {
                0 => "Deze code klopt niet. Er is te vaak een verkeerde code ingevuld.".to_string(),
                1 => "Deze code klopt niet. U kunt het nog 1 keer proberen.".to_string(),
                n => format!("Deze code klopt niet. U kunt het nog {n} keer proberen."),
            };
            if remaining == 0 {
                return locked_page(&info.org_name, s.z.settings.lockout_secs as u64);
            }
            code_page_for(
                &info,
                &token,
                &csrf,
                None,
                Some(msg),
                StatusCode::UNAUTHORIZED,
            )
        }
        Err(Error::CodeExpired) => code_page_for(
            &info,
            &token,
            &csrf,
            None,
            Some(
                "Deze code is verlopen of al gebruikt. Vraag hieronder een nieuwe code aan.".into(),
            ),
            StatusCode::UNAUTHORIZED,
        ),
        Err(Error::Locked { retry_after_secs }) => locked_page(&info.org_name, retry_after_secs),
        Err(Error::Gone(reason)) => gone_page(reason, &info),
        Err(e) => error_page(&e),
    }
}

async fn message_page(
    State(s): State<AppState>,
    Path(token): Path<String>,
    jar: CookieJar,
    Client(ctx): Client,
) -> Response {
    let session = match session_or_page(&s, &token, &jar).await {
        Ok(sess) => sess,
        Err(page) => return page,
    };
    let view = match s.z.read_message(&session, &ctx).await {
        Ok(v) => v,
        Err(Error::Gone(_)) => {
            return link_or_page(&s, &token)
                .await
                .err()
                .unwrap_or_else(not_found_page)
        }
        Err(e) => return error_page(&e),
    };
    let m = &session.access.message;
    render(
        StatusCode::OK,
        &MessagePage {
            org: &view.sender.organisation,
            sender: &view.sender.name,
            token: &token,
            subject: &view.subject,
            body: &view.body,
            sent: nl_datetime(m.created_at),
            expires: nl_datetime(m.expires_at),
            attachments: view
                .attachments
                .iter()
                .map(|a| AttachmentLine {
                    id: a.id.clone(),
                    name: a.name.clone(),
                    kind: kind_of(&a.content_type, &a.name),
                    size: human_size(a.size),
                })
                .collect(),
        },
    )
}

async fn download(
    State(s): State<AppState>,
    Path((token, id)): Path<(String, String)>,
    jar: CookieJar,
    Client(ctx): Client,
) -> Response {
    let session = match session_or_page(&s, &token, &jar).await {
        Ok(sess) => sess,
        Err(page) => return page,
    };
    match s.z.open_attachment(&session, &id, &ctx).await {
        Ok((view, stream)) => download_response(&view, stream),
        Err(e) => error_page(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dutch_dates_follow_summer_time() {
        // 2026-07-01 10:00 UTC = 12:00 CEST; 2026-11-23 09:00 UTC = 10:00 CET.
        assert_eq!(nl_datetime(Ts(1_782_900_000_000)), "1 juli 2026 om 12:00");
        assert_eq!(
            nl_datetime(Ts(1_795_424_400_000)),
            "23 november 2026 om 10:00"
        );
    }
}

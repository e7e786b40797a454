//! Following sent messages: `/berichten` (the sent list, newest first, paged, filtered by a
//! recipient's address and status), `/berichten/{id}` (each recipient's status and timeline,
//! a new link per recipient, a longer availability), `/berichten/{id}/bewijs` (the signed
//! receipt) and `/berichten/{id}/intrekken` (revoke, after a confirmation page). GET changes
//! nothing (`/berichten/{id}` records only that the sender viewed the message, for the
//! recipients' "Wie heeft dit bericht bekeken?"); every POST checks the session's CSRF token.
//! Another sender's message: 404.

use super::layout::{Section, SenderNav};
use super::session::SignedIn;
use crate::http::pages::{error_page, render, see_other, Chrome, PageError, PageLang, View};
use crate::http::{AppState, Client};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use serde::Deserialize;
use zegel_core::i18n::{self, tr, tr_args, Lang};
use zegel_core::model::{EventKind, MessageState, Ts};
use zegel_core::service::{TrackedMessage, TrackedRecipientView};
use zegel_core::store::{SentQuery, ShownStatus};
use zegel_core::{Error, Invalid};

/// Messages per page of the sent list.
pub const PAGE_SIZE: u32 = 25;

/// The words of a shown status.
pub(super) fn status_text(l: Lang, s: ShownStatus) -> String {
    tr(l, &format!("sent-status-{}", s.as_str()))
}

/// The words of an event.
fn event_text(l: Lang, k: EventKind) -> String {
    tr(l, &format!("sent-event-{}", k.as_str().replace('_', "-")))
}

/// A paging cursor in a query string: `{ms}.{id}`.
fn cursor_text((t, id): &(Ts, String)) -> String {
    format!("{}.{id}", t.0)
}

fn parse_cursor(s: &str) -> Option<(Ts, String)> {
    let (t, id) = s.split_once('.')?;
    let ms: i64 = t.parse().ok()?;
    (!id.is_empty() && id.len() <= 64).then(|| (Ts(ms), id.to_owned()))
}

// ---- /berichten ----

#[derive(Deserialize, Default)]
pub(super) struct ListQuery {
    #[serde(default)]
    ontvanger: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    na: String,
    #[serde(default)]
    voor: String,
}

struct StatusOption {
    value: &'static str,
    label: String,
    selected: bool,
}

struct RecipientLine {
    email: String,
    status: String,
    status_key: &'static str,
}

struct MessageLine {
    id: String,
    subject: String,
    sent: String,
    sent_iso: String,
    expires: String,
    recipients: Vec<RecipientLine>,
}

#[derive(Template)]
#[template(path = "sender/berichten.html")]
struct ListPage<'a> {
    chrome: Chrome<'a>,
    nav: SenderNav,
    recipient: &'a str,
    options: Vec<StatusOption>,
    messages: Vec<MessageLine>,
    filtered: bool,
    error: Option<String>,
    newer: Option<String>,
    older: Option<String>,
}

/// A query string of the list with the filter and one cursor.
fn list_href(recipient: &str, status: &str, cursor: (&str, &str)) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    if !recipient.is_empty() {
        q.append_pair("ontvanger", recipient);
    }
    if !status.is_empty() {
        q.append_pair("status", status);
    }
    q.append_pair(cursor.0, cursor.1);
    format!("/berichten?{}", q.finish())
}

fn subject_or_gone(l: Lang, subject: Option<String>) -> String {
    subject.unwrap_or_else(|| tr(l, "sent-subject-gone"))
}

/// `GET /berichten`: the sent list.
pub(super) async fn sent_list(
    State(s): State<AppState>,
    who: SignedIn,
    pl: PageLang,
    Query(q): Query<ListQuery>,
) -> Response {
    let v = pl.view("/berichten".into());
    pl.finish(show_list(&s, &v, &who, q).await)
}

async fn show_list(
    s: &AppState,
    v: &View,
    who: &SignedIn,
    q: ListQuery,
) -> Result<Response, PageError> {
    let l = v.lang;
    let recipient = q.ontvanger.trim().to_lowercase();
    let status_text_in = q.status.trim();
    let (status, mut error) = match status_text_in {
        "" => (None, None),
        v => match ShownStatus::parse(v) {
            Some(st) => (Some(st), None),
            None => (None, Some(tr(l, "sent-filter-bad-status"))),
        },
    };
    let query = SentQuery {
        recipient: Some(recipient.clone()).filter(|r| !r.is_empty()),
        status,
        before: parse_cursor(&q.na).map(|(t, id)| (t, Some(id))),
        after: if q.na.is_empty() {
            parse_cursor(&q.voor)
        } else {
            None
        },
    };
    let page = match s.z.sent_list(&who.principal.user, &query, PAGE_SIZE).await {
        Ok(p) => p,
        Err(e) => return Err(error_page(v, &e).into()),
    };
    if error.is_none() && !q.ontvanger.trim().is_empty() && !q.ontvanger.contains('@') {
        error = Some(tr(l, "sent-filter-bad-address"));
    }
    let status_value = status.map(ShownStatus::as_str).unwrap_or("");
    let messages = page
        .messages
        .into_iter()
        .map(|m| MessageLine {
            sent: i18n::datetime(l, m.sent_at),
            sent_iso: m.sent_at.to_rfc3339(),
            expires: i18n::datetime(l, m.expires_at),
            subject: subject_or_gone(l, m.subject),
            recipients: m
                .recipients
                .into_iter()
                .map(|r| RecipientLine {
                    status: status_text(l, r.status),
                    status_key: r.status.as_str(),
                    email: r.email,
                })
                .collect(),
            id: m.id,
        })
        .collect();
    let (chrome, nav) = who.frame(v, Section::Sent);
    let page_html = ListPage {
        chrome,
        nav,
        recipient: q.ontvanger.trim(),
        options: ShownStatus::ALL
            .into_iter()
            .map(|st| StatusOption {
                value: st.as_str(),
                label: status_text(l, st),
                selected: Some(st) == status,
            })
            .collect(),
        messages,
        filtered: query.recipient.is_some() || query.status.is_some(),
        error: error.clone(),
        newer: page
            .newer
            .map(|c| list_href(&recipient, status_value, ("voor", &cursor_text(&c)))),
        older: page
            .older
            .map(|c| list_href(&recipient, status_value, ("na", &cursor_text(&c)))),
    };
    let code = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(render(l, code, &page_html))
}

// ---- /berichten/{id} ----

struct TimelineLine {
    at: String,
    at_iso: String,
    what: String,
    from: Option<String>,
    detail: Option<String>,
}

struct RecipientBlock {
    id: String,
    email: String,
    status: String,
    status_key: &'static str,
    forwarded: bool,
    timeline: Vec<TimelineLine>,
}

#[derive(Template)]
#[template(path = "sender/bericht.html")]
struct MessagePage<'a> {
    chrome: Chrome<'a>,
    nav: SenderNav,
    csrf: &'a str,
    id: &'a str,
    subject: String,
    sent: String,
    expires: String,
    expires_iso: String,
    state: String,
    active: bool,
    attachments: usize,
    recipients: Vec<RecipientBlock>,
    notice: Option<String>,
    days_left: i64,
    days_value: String,
    extend_error: Option<String>,
}

#[derive(Deserialize, Default)]
pub(super) struct MessageQuery {
    ingetrokken: Option<String>,
    nieuwe_link: Option<String>,
    verlengd: Option<String>,
}

fn recipient_block(l: Lang, r: TrackedRecipientView) -> RecipientBlock {
    RecipientBlock {
        status: status_text(l, r.status),
        status_key: r.status.as_str(),
        forwarded: r.forwarded,
        timeline: r
            .timeline
            .into_iter()
            .map(|e| TimelineLine {
                at: i18n::datetime(l, e.at),
                at_iso: e.at.to_rfc3339(),
                what: event_text(l, e.kind),
                from: e.ip,
                detail: match e.kind {
                    EventKind::Failed | EventKind::Deferred | EventKind::DirectFailed => e.detail,
                    EventKind::Extended => e.detail.as_deref().and_then(parse_rfc3339).map(|t| {
                        tr_args(
                            l,
                            "sent-event-extended-until",
                            &[("date", &i18n::datetime(l, t))],
                        )
                    }),
                    _ => None,
                },
            })
            .collect(),
        id: r.id,
        email: r.email,
    }
}

fn parse_rfc3339(s: &str) -> Option<Ts> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    Some(Ts((t.unix_timestamp_nanos() / 1_000_000) as i64))
}

fn message_page(
    v: &View,
    who: &SignedIn,
    m: TrackedMessage,
    notice: Option<String>,
    (days_value, extend_error): (String, Option<String>),
    status: StatusCode,
) -> Response {
    let l = v.lang;
    let now = Ts::now();
    let active = m.state == MessageState::Active && m.expires_at > now;
    let state = match m.state {
        MessageState::Revoked => tr(l, "sent-state-revoked"),
        MessageState::Expired => tr(l, "sent-state-expired"),
        MessageState::Active if !active => tr(l, "sent-state-expired"),
        MessageState::Active => tr(l, "sent-state-active"),
    };
    let (chrome, nav) = who.frame(v, Section::Sent);
    render(
        l,
        status,
        &MessagePage {
            chrome,
            nav,
            csrf: &who.csrf,
            id: &m.id,
            subject: subject_or_gone(l, m.subject.clone()),
            sent: i18n::datetime(l, m.sent_at),
            expires: i18n::datetime(l, m.expires_at),
            expires_iso: m.expires_at.to_rfc3339(),
            state,
            active,
            attachments: m.attachment_count,
            recipients: m
                .recipients
                .iter()
                .cloned()
                .map(|r| recipient_block(l, r))
                .collect(),
            notice,
            days_left: m.extend_days_left,
            days_value,
            extend_error,
        },
    )
}

/// `GET /berichten/{id}`: the message with each recipient's status and timeline.
pub(super) async fn message(
    State(s): State<AppState>,
    who: SignedIn,
    pl: PageLang,
    Client(ctx): Client,
    Path(id): Path<String>,
    Query(q): Query<MessageQuery>,
) -> Response {
    let v = pl.view(format!(
        "/berichten/{}",
        crate::http::pages::chrome::segment(&id)
    ));
    let l = v.lang;
    let notice = if q.ingetrokken.is_some() {
        Some(tr(l, "sent-notice-revoked"))
    } else if q.nieuwe_link.is_some() {
        Some(tr(l, "sent-notice-new-link"))
    } else if q.verlengd.is_some() {
        Some(tr(l, "sent-notice-extended"))
    } else {
        None
    };
    let res = match s.z.view_sent_message(&who.principal.user, &id, &ctx).await {
        Ok(m) => message_page(&v, &who, m, notice, (String::new(), None), StatusCode::OK),
        Err(e) => error_page(&v, &e),
    };
    pl.finish(res)
}

/// `GET /berichten/{id}/bewijs` ("Bewijs downloaden"): the signed receipt of one's own
/// message as a download (a GET: it changes nothing but the event that records it).
pub(super) async fn receipt(
    State(s): State<AppState>,
    who: SignedIn,
    pl: PageLang,
    Client(ctx): Client,
    Path(id): Path<String>,
) -> Response {
    let v = pl.view(back_to(&id));
    let res = match s.z.message_receipt(&who.principal, &id, &ctx).await {
        Ok(r) => crate::http::receipts::receipt_response(&r),
        Err(e) => error_page(&v, &e),
    };
    pl.finish(res)
}

#[derive(Deserialize)]
pub(super) struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

#[derive(Deserialize)]
pub(super) struct ExtendForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    days: String,
}

/// The 403 page of a signed-in form without the session's CSRF token.
pub(super) fn csrf_refused(v: &View, back: String) -> Response {
    crate::http::pages::csrf_failed(v, back)
}

fn back_to(id: &str) -> String {
    format!("/berichten/{}", crate::http::pages::chrome::segment(id))
}

/// `POST /berichten/{id}/ontvangers/{rid}/nieuwe-link`: a new link for one recipient.
pub(super) async fn new_link(
    State(s): State<AppState>,
    who: SignedIn,
    pl: PageLang,
    headers: HeaderMap,
    Client(ctx): Client,
    Path((id, rid)): Path<(String, String)>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    let v = pl.view(back_to(&id));
    if !who.csrf_ok(&headers, &f.csrf) {
        return csrf_refused(&v, back_to(&id));
    }
    match s.z.renew_link(&who.principal.user, &id, &rid, &ctx).await {
        Ok(()) => see_other(format!("{}?nieuwe_link=1", back_to(&id))),
        Err(e) => error_page(&v, &e),
    }
}

/// `POST /berichten/{id}/verlengen`: `days` more days of availability.
pub(super) async fn extend(
    State(s): State<AppState>,
    who: SignedIn,
    pl: PageLang,
    headers: HeaderMap,
    Client(ctx): Client,
    Path(id): Path<String>,
    Form(f): Form<ExtendForm>,
) -> Response {
    let v = pl.view(back_to(&id));
    if !who.csrf_ok(&headers, &f.csrf) {
        return csrf_refused(&v, back_to(&id));
    }
    let l = v.lang;
    let days = f.days.trim().parse::<i64>().unwrap_or(0);
    match s
        .z
        .extend_message(&who.principal.user, &id, days, &ctx)
        .await
    {
        Ok(_) => see_other(format!("{}?verlengd=1", back_to(&id))),
        Err(Error::Invalid(Invalid::ExtendDays { left, .. })) => {
            let msg = if left > 0 {
                tr_args(l, "sent-extend-bad-days", &[("max", &left.to_string())])
            } else {
                tr(l, "sent-extend-none-left")
            };
            match s.z.tracked_message(&who.principal.user, &id).await {
                Ok(m) => message_page(
                    &v,
                    &who,
                    m,
                    None,
                    (f.days.trim().chars().take(10).collect(), Some(msg)),
                    StatusCode::UNPROCESSABLE_ENTITY,
                ),
                Err(e) => error_page(&v, &e),
            }
        }
        Err(e) => error_page(&v, &e),
    }
}

// ---- /berichten/{id}/intrekken ----

#[derive(Template)]
#[template(path = "sender/intrekken.html")]
struct RevokePage<'a> {
    chrome: Chrome<'a>,
    nav: SenderNav,
    csrf: &'a str,
    id: &'a str,
    subject: String,
    recipients: usize,
}

/// `GET /berichten/{id}/intrekken`: "are you sure?" (changes nothing).
pub(super) async fn revoke_page(
    State(s): State<AppState>,
    who: SignedIn,
    pl: PageLang,
    Path(id): Path<String>,
) -> Response {
    let v = pl.view(format!("{}/intrekken", back_to(&id)));
    let l = v.lang;
    let (chrome, nav) = who.frame(&v, Section::Sent);
    let res = match s.z.tracked_message(&who.principal.user, &id).await {
        Ok(m) if m.state == MessageState::Active => render(
            l,
            StatusCode::OK,
            &RevokePage {
                chrome,
                nav,
                csrf: &who.csrf,
                id: &m.id,
                subject: subject_or_gone(l, m.subject.clone()),
                recipients: m.recipients.len(),
            },
        ),
        // Nothing left to revoke: back to the message, which says so.
        Ok(m) => see_other(back_to(&m.id)),
        Err(e) => error_page(&v, &e),
    };
    pl.finish(res)
}

/// `POST /berichten/{id}/intrekken`: revokes (the content is destroyed at once).
pub(super) async fn revoke(
    State(s): State<AppState>,
    who: SignedIn,
    pl: PageLang,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    let v = pl.view(back_to(&id));
    if !who.csrf_ok(&headers, &f.csrf) {
        return csrf_refused(&v, format!("{}/intrekken", back_to(&id)));
    }
    match s.z.revoke_message(&who.principal.user, &id).await {
        Ok(_) => see_other(format!("{}?ingetrokken=1", back_to(&id))),
        Err(e) => error_page(&v, &e),
    }
}

//! The sender's inbox: `/inbox` (replies addressed to the sender and forwards of their
//! messages, unread replies marked), `/inbox/{id}` (a reply: its text and attachments, read
//! mark recorded, and a form that answers in the same encrypted thread), the reply's
//! attachments (downloads with safe names) and the answer's POST (CSRF first, attachments
//! streamed into encrypted storage, never buffered).

use super::layout::{Section, SenderNav};
use super::session::SignedIn;
use super::tracking::csrf_refused;
use crate::http::download::download_response;
use crate::http::multipart::Parts;
use crate::http::pages::{error_page, render, see_other, Chrome, PageError, PageLang, View};
use crate::http::upload::{stream_attachments, text_part};
use crate::http::{AppState, Client};
use askama::Template;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use zegel_core::i18n::{self, tr, tr_args};
use zegel_core::model::Ts;
use zegel_core::service::{InboxKind, ReplyView};
use zegel_core::{Error, Invalid};

/// Entries of the inbox page.
const INBOX_SIZE: u32 = 100;

struct InboxLine {
    href: String,
    kind: String,
    from: String,
    to: Option<String>,
    subject: String,
    received: String,
    received_iso: String,
    unread: bool,
    attachments: Option<usize>,
}

#[derive(Template)]
#[template(path = "sender/inbox.html")]
struct InboxPage<'a> {
    chrome: Chrome<'a>,
    nav: SenderNav,
    items: Vec<InboxLine>,
    unread: usize,
}

fn segment(s: &str) -> String {
    crate::http::pages::chrome::segment(s)
}

fn parse_rfc3339(s: &str) -> Option<Ts> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    Some(Ts((t.unix_timestamp_nanos() / 1_000_000) as i64))
}

/// `GET /inbox`.
pub(super) async fn inbox(State(s): State<AppState>, who: SignedIn, pl: PageLang) -> Response {
    let v = pl.view("/inbox".into());
    let l = v.lang;
    let (chrome, nav) = who.frame(&v, Section::Inbox);
    let res = match s.z.inbox(&who.principal.user, None, INBOX_SIZE).await {
        Ok(items) => {
            let items: Vec<InboxLine> = items
                .into_iter()
                .map(|i| {
                    let at = parse_rfc3339(&i.received_at);
                    InboxLine {
                        href: match i.kind {
                            InboxKind::Reply | InboxKind::Mail => {
                                format!("/inbox/{}", segment(&i.id))
                            }
                            InboxKind::Forward => format!("/berichten/{}", segment(&i.message_id)),
                        },
                        kind: match i.kind {
                            InboxKind::Reply => tr(l, "inbox-kind-reply"),
                            InboxKind::Forward => tr(l, "inbox-kind-forward"),
                            InboxKind::Mail if i.verified == Some(false) => {
                                tr(l, "inbox-kind-mail-unverified")
                            }
                            InboxKind::Mail => tr(l, "inbox-kind-mail"),
                        },
                        from: i.from.email,
                        to: i.to.map(|p| p.email),
                        subject: i.subject.unwrap_or_else(|| tr(l, "sent-subject-gone")),
                        received: at.map(|t| i18n::datetime(l, t)).unwrap_or_default(),
                        received_iso: i.received_at,
                        unread: i.read == Some(false),
                        attachments: i.attachment_count.filter(|n| *n > 0),
                    }
                })
                .collect();
            let unread = items.iter().filter(|i| i.unread).count();
            render(
                l,
                StatusCode::OK,
                &InboxPage {
                    chrome,
                    nav,
                    items,
                    unread,
                },
            )
        }
        Err(e) => error_page(&v, &e),
    };
    pl.finish(res)
}

struct AttachmentLine {
    id: String,
    name: String,
    kind: String,
    size: String,
}

#[derive(Template)]
#[template(path = "sender/antwoord.html")]
struct ReplyPage<'a> {
    chrome: Chrome<'a>,
    nav: SenderNav,
    csrf: &'a str,
    id: &'a str,
    from: &'a str,
    subject: &'a str,
    body: &'a str,
    /// Sanitised ([`zegel_core::html::sanitize`]).
    html: Option<&'a str>,
    /// Mail from another provider that its sender's domain did not vouch for.
    unverified: bool,
    received: String,
    in_reply_to: String,
    attachments: Vec<AttachmentLine>,
    notice: Option<String>,
    answer: &'a str,
    error: Option<String>,
    files_help: String,
}

#[derive(Deserialize, Default)]
pub(super) struct ReplyQuery {
    beantwoord: Option<String>,
}

fn reply_page_of(
    s: &AppState,
    v: &View,
    who: &SignedIn,
    r: &ReplyView,
    notice: Option<String>,
    (answer, error): (&str, Option<String>),
    status: StatusCode,
) -> Response {
    let l = v.lang;
    let max = s.z.settings.max_attachments.to_string();
    let size = i18n::file_size(l, s.z.settings.max_upload_bytes as i64);
    let (chrome, nav) = who.frame(v, Section::Inbox);
    render(
        l,
        status,
        &ReplyPage {
            chrome,
            nav,
            csrf: &who.csrf,
            id: &r.id,
            from: &r.from.email,
            subject: &r.subject,
            body: &r.body,
            html: r.html.as_deref(),
            unverified: r.verified == Some(false),
            received: parse_rfc3339(&r.received_at)
                .map(|t| i18n::datetime(l, t))
                .unwrap_or_default(),
            // Mail from another provider answers nothing of ours: no link.
            in_reply_to: if r.in_reply_to.is_empty() {
                String::new()
            } else {
                format!("/berichten/{}", segment(&r.in_reply_to))
            },
            attachments: r
                .attachments
                .iter()
                .map(|a| AttachmentLine {
                    id: a.id.clone(),
                    name: a.name.clone(),
                    kind: i18n::file_kind(l, &a.content_type, &a.name),
                    size: i18n::file_size(l, a.size),
                })
                .collect(),
            notice,
            answer,
            error,
            files_help: tr_args(l, "inbox-files-help", &[("max", &max), ("size", &size)]),
        },
    )
}

/// `GET /inbox/{id}`: a reply (records the read mark and `reply_read`).
pub(super) async fn reply(
    State(s): State<AppState>,
    who: SignedIn,
    pl: PageLang,
    Path(id): Path<String>,
    Query(q): Query<ReplyQuery>,
) -> Response {
    let v = pl.view(format!("/inbox/{}", segment(&id)));
    let l = v.lang;
    let notice = q.beantwoord.map(|_| tr(l, "inbox-answer-sent"));
    let res = match s.z.read_reply(&who.principal.user, &id).await {
        Ok(r) => reply_page_of(&s, &v, &who, &r, notice, ("", None), StatusCode::OK),
        Err(e) => error_page(&v, &e),
    };
    pl.finish(res)
}

/// `GET /inbox/{id}/bijlage/{aid}`: a reply's attachment, as a download.
pub(super) async fn attachment(
    State(s): State<AppState>,
    who: SignedIn,
    pl: PageLang,
    Path((id, aid)): Path<(String, String)>,
) -> Response {
    let v = pl.view(format!("/inbox/{}", segment(&id)));
    match s
        .z
        .open_reply_attachment(&who.principal.user, &id, &aid)
        .await
    {
        Ok((view, stream)) => download_response(&view, stream),
        Err(e) => error_page(&v, &e),
    }
}

#[derive(Template)]
#[template(path = "sender/antwoord-code.html")]
struct CodePage<'a> {
    chrome: Chrome<'a>,
    nav: SenderNav,
    id: &'a str,
    to: &'a str,
    code: &'a str,
}

/// `POST /inbox/{id}/antwoord`: `csrf` first (checked before anything is stored), then
/// `body`, then `attachment` files streamed into encrypted blobs. The answer is a new message
/// in the same thread to the recipient who replied.
pub(super) async fn answer(
    State(s): State<AppState>,
    who: SignedIn,
    pl: PageLang,
    headers: HeaderMap,
    Client(ctx): Client,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, PageError> {
    let v = pl.view(format!("/inbox/{}", segment(&id)));
    let l = v.lang;
    let back = format!("/inbox/{}", segment(&id));
    let mut mp = Parts::from_request(req).map_err(|e| error_page(&v, &e))?;
    let csrf = match mp.next_field().await {
        Ok(Some(mut f)) if f.name() == Some("csrf") => {
            text_part(&mut f, 200).await.unwrap_or_default()
        }
        _ => String::new(),
    };
    if !who.csrf_ok(&headers, &csrf) {
        return Err(csrf_refused(&v, back).into());
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
    if body.trim().is_empty() {
        return Ok(again(
            &s,
            &v,
            &who,
            (&id, &body),
            tr(l, "inbox-answer-empty"),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await);
    }
    let mut draft =
        s.z.begin_answer(&who.principal, &id, body.clone())
            .await
            .map_err(|e| error_page(&v, &e))?;
    let stored = match stream_attachments(&mut mp, draft.uploads()).await {
        Ok(()) => draft.commit(&ctx).await,
        Err(e) => {
            draft.abort().await;
            Err(e)
        }
    };
    let size = i18n::file_size(l, s.z.settings.max_upload_bytes as i64);
    let max = s.z.settings.max_attachments.to_string();
    let (chrome, nav) = who.frame(&v, Section::Inbox);
    Ok(match stored {
        Ok(created) => {
            let generated = created
                .recipients
                .iter()
                .find_map(|r| r.code.as_deref().map(|c| (r.email.as_str(), c)));
            match generated {
                // A `code` recipient's new code: shown once, here.
                Some((to, code)) => render(
                    l,
                    StatusCode::OK,
                    &CodePage {
                        chrome,
                        nav,
                        id: &id,
                        to,
                        code,
                    },
                ),
                None => see_other(format!("{back}?beantwoord=1")),
            }
        }
        Err(Error::TooLarge(_)) => {
            again(
                &s,
                &v,
                &who,
                (&id, &body),
                tr_args(l, "inbox-answer-too-large", &[("size", &size)]),
                StatusCode::PAYLOAD_TOO_LARGE,
            )
            .await
        }
        Err(Error::Invalid(Invalid::TooManyAttachments { .. })) => {
            again(
                &s,
                &v,
                &who,
                (&id, &body),
                tr_args(l, "inbox-answer-too-many", &[("max", &max)]),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => error_page(&v, &e),
    }
    .into_response())
}

/// The reply page again, with the answer's text and why it was not sent.
async fn again(
    s: &AppState,
    v: &View,
    who: &SignedIn,
    (id, body): (&str, &str),
    msg: String,
    status: StatusCode,
) -> Response {
    match s.z.read_reply(&who.principal.user, id).await {
        Ok(r) => reply_page_of(s, v, who, &r, None, (body, Some(msg)), status),
        Err(e) => error_page(v, &e),
    }
}

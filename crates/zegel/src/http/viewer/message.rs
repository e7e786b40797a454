//! The message itself: the message page (sender, dates, body, attachments, the conversation
//! so far, what the recipient may do, who accessed the message), attachment downloads and the
//! own copy (`.eml`).

use super::link::{gone_or_not_found, here, session_or_page};
use crate::http::download::{download_response, eml_response};
use crate::http::pages::{error_page, render, Chrome, Org, PageError, PageLang, View};
use crate::http::{AppState, Client};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use zegel_core::i18n::{self, tr, tr_args, Lang};
use zegel_core::model::EventKind;
use zegel_core::service::{
    AccessEntry, AccessLog, Accessor, AttachmentView, MessageView, Permissions, RecipientSession,
    ReplyRefusal, SenderView, ThreadView,
};
use zegel_core::{ClientCtx, Error};

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
    /// Sanitised ([`zegel_core::html::sanitize`]): the only markup a page takes from a message.
    html: Option<&'a str>,
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
    accesses: Vec<AccessLine>,
    accesses_earlier: Option<String>,
}

/// One line of "Wie heeft dit bericht bekeken?".
struct AccessLine {
    at: String,
    at_iso: String,
    who: String,
    what: String,
}

/// An access in plain words: when, who, what (never an address but a masked one).
fn access_line(l: Lang, sender: &SenderView, e: &AccessEntry) -> AccessLine {
    let who = match &e.who {
        Accessor::You => tr(l, "message-access-you"),
        Accessor::Sender => tr_args(
            l,
            "message-access-sender",
            &[
                ("sender", sender.name.as_str()),
                ("org", sender.organisation.as_str()),
            ],
        ),
        Accessor::ForwardedTo { masked_email } => tr_args(
            l,
            "message-access-forwarded-to",
            &[("email", masked_email.as_str())],
        ),
        Accessor::ForwardedOn { masked_email } => tr_args(
            l,
            "message-access-forwarded-on",
            &[("email", masked_email.as_str())],
        ),
    };
    let what = match (e.what, &e.to) {
        (EventKind::Forwarded, Some(to)) => tr_args(
            l,
            "message-access-forwarded-to-address",
            &[("email", to.as_str())],
        ),
        (k, _) => tr(
            l,
            &format!("message-access-{}", k.as_str().replace('_', "-")),
        ),
    };
    AccessLine {
        at: i18n::datetime(l, e.at),
        at_iso: e.at.to_rfc3339(),
        who,
        what,
    }
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

#[derive(Deserialize)]
pub(super) struct MessageQuery {
    beantwoord: Option<String>,
    doorgestuurd: Option<String>,
}

fn attachment_lines(l: Lang, list: &[AttachmentView]) -> Vec<AttachmentLine> {
    list.iter()
        .map(|a| AttachmentLine {
            id: a.id.clone(),
            name: a.name.clone(),
            kind: i18n::file_kind(l, &a.content_type, &a.name),
            size: i18n::file_size(l, a.size),
        })
        .collect()
}

/// `GET /bericht`: the message page (logs the view).
pub(super) async fn message_page(
    State(s): State<AppState>,
    Path(token): Path<String>,
    jar: CookieJar,
    pl: PageLang,
    Client(ctx): Client,
    Query(q): Query<MessageQuery>,
) -> Response {
    let v = pl.view(here(&token, "/bericht"));
    pl.finish(show_message(&s, &v, &token, &jar, &ctx, q).await)
}

/// What the message page shows: the message, what the recipient may do, the conversation,
/// who accessed the message (read after the view is logged, so this visit is in it).
async fn load(
    s: &AppState,
    session: &RecipientSession,
    ctx: &ClientCtx,
) -> Result<(MessageView, Permissions, ThreadView, AccessLog), Error> {
    let view = s.z.read_message(session, ctx).await?;
    let perm = s.z.permissions(session).await?;
    let thread = s.z.recipient_thread(session).await?;
    let log = s.z.access_log(session).await?;
    Ok((view, perm, thread, log))
}

async fn show_message(
    s: &AppState,
    v: &View,
    token: &str,
    jar: &CookieJar,
    ctx: &ClientCtx,
    q: MessageQuery,
) -> Result<Response, PageError> {
    let session = session_or_page(s, v, token, jar).await?;
    let (view, perm, thread, log) = match load(s, &session, ctx).await {
        Ok(x) => x,
        Err(Error::Gone(_)) => return Err(gone_or_not_found(s, v, token).await),
        Err(e) => return Err(error_page(v, &e).into()),
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
    let org = Org::new(
        &view.sender.organisation,
        &m.org_id,
        session.access.org_has_logo,
    );
    Ok(render(
        l,
        StatusCode::OK,
        &MessagePage {
            chrome: v.chrome(org),
            sender: &view.sender.name,
            token,
            subject: &view.subject,
            body: &view.body,
            html: view.html.as_deref(),
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
            accesses: log
                .entries
                .iter()
                .map(|e| access_line(l, &view.sender, e))
                .collect(),
            accesses_earlier: (log.earlier > 0).then(|| {
                i18n::tr_with(
                    l,
                    "message-access-earlier",
                    &i18n::Args::new().num("n", i64::try_from(log.earlier).unwrap_or(i64::MAX)),
                )
            }),
        },
    ))
}

/// `GET /bijlage/{id}`: an attachment of the conversation, decrypted as it streams.
pub(super) async fn download(
    State(s): State<AppState>,
    Path((token, id)): Path<(String, String)>,
    jar: CookieJar,
    pl: PageLang,
    Client(ctx): Client,
) -> Response {
    // Error pages here switch language on the message page, not on the download; only they
    // remember a `?lang=` choice, the file itself does not.
    let v = pl.view(here(&token, "/bericht"));
    serve_attachment(&s, &v, &token, &id, &jar, &ctx)
        .await
        .unwrap_or_else(|page| pl.finish(page))
}

async fn serve_attachment(
    s: &AppState,
    v: &View,
    token: &str,
    id: &str,
    jar: &CookieJar,
    ctx: &ClientCtx,
) -> Result<Response, PageError> {
    let session = session_or_page(s, v, token, jar).await?;
    match s.z.open_thread_attachment(&session, id, ctx).await {
        Ok((view, stream)) => Ok(download_response(&view, stream)),
        Err(e) => Err(error_page(v, &e).into()),
    }
}

/// `GET /kopie`: the own copy of the conversation (`.eml`).
pub(super) async fn own_copy(
    State(s): State<AppState>,
    Path(token): Path<String>,
    jar: CookieJar,
    pl: PageLang,
    Client(ctx): Client,
) -> Response {
    // As for downloads: only the error pages remember a `?lang=` choice.
    let v = pl.view(here(&token, "/bericht"));
    serve_copy(&s, &v, &token, &jar, &ctx)
        .await
        .unwrap_or_else(|page| pl.finish(page))
}

async fn serve_copy(
    s: &AppState,
    v: &View,
    token: &str,
    jar: &CookieJar,
    ctx: &ClientCtx,
) -> Result<Response, PageError> {
    let session = session_or_page(s, v, token, jar).await?;
    match s.z.export_eml(&session, ctx).await {
        Ok((name, stream)) => Ok(eml_response(&name, stream)),
        Err(e) => Err(error_page(v, &e).into()),
    }
}

//! The recipient's HTML pages, all under `/m/{token}`. GET never changes anything (mail
//! scanners follow links); every form carries a CSRF token (double-submit cookie, plus an
//! Origin check).
//!
//! Texts come from the catalogs in `zegel_core::i18n` (Dutch default, English). The page
//! language is `?lang=nl|en` on a GET (remembered in the `zegel_lang` cookie), else that cookie,
//! else `Accept-Language`, else Dutch; every page links to itself in the other language.
//!
//! The language, CSRF, page frame and problem pages are shared with other HTML pages
//! (`http::pages`); this module owns the recipient's side: `link` (the link and session every
//! handler starts from, the gone page), `verify` (landing, code request and check, "not my
//! number"), `message` (the message page, downloads, the own copy), `reply` and `forward`.
//!
//! Handlers return `Result<Response, PageError>` and stop early with `?`. A GET page passes
//! its answer, error pages included, through `PageLang::finish` so that a `?lang=` choice is
//! remembered; a POST never switches the language and needs no finish.

mod forward;
mod link;
mod message;
mod refusals;
mod reply;
mod verify;

use super::AppState;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

/// The recipient's routes (behind the stranger rate limit).
pub fn routes(s: &AppState) -> Router<AppState> {
    // The reply form: the attachments, the text and room for the multipart framing.
    let reply_limit =
        s.z.settings.max_upload_bytes as usize + s.z.settings.max_body_bytes + (1 << 20);
    Router::new()
        .route("/m/{token}", get(verify::landing))
        .route("/m/{token}/start", post(verify::start))
        .route(
            "/m/{token}/send",
            get(verify::send_page).post(verify::send_code),
        )
        .route("/m/{token}/code", get(verify::code_page))
        .route("/m/{token}/verify", post(verify::verify))
        .route("/m/{token}/bericht", get(message::message_page))
        .route("/m/{token}/bijlage/{id}", get(message::download))
        .route(
            "/m/{token}/antwoord",
            get(reply::reply_page).post(reply::reply_post).layer(
                // Streamed into encrypted blobs; the service enforces the upload limit (413)
                // on the attachments, this one on the whole request.
                DefaultBodyLimit::max(reply_limit),
            ),
        )
        .route(
            "/m/{token}/doorsturen",
            get(forward::forward_page).post(forward::forward_post),
        )
        .route("/m/{token}/kopie", get(message::own_copy))
        .route("/m/{token}/ander-nummer", get(verify::wrong_number))
}

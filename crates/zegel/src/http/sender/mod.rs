//! STUB of the coordinator's sender web app module (`routes`, where sender pages are
//! registered); replaced by main's when it lands, keeping the routes of `tracking` and
//! `inbox` below.

pub mod session;

mod inbox;
mod tracking;

use super::AppState;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

/// The sender's pages.
pub fn routes(s: &AppState) -> Router<AppState> {
    Router::new().merge(tracking_routes(s))
}

/// Helper C's pages: the sent list, a message's status page and its actions, the inbox.
pub fn tracking_routes(s: &AppState) -> Router<AppState> {
    // The answer form: the attachments, the text and room for the multipart framing.
    let answer_limit =
        s.z.settings.max_upload_bytes as usize + s.z.settings.max_body_bytes + (1 << 20);
    Router::new()
        .route("/berichten", get(tracking::sent_list))
        .route("/berichten/{id}", get(tracking::message))
        .route(
            "/berichten/{id}/intrekken",
            get(tracking::revoke_page).post(tracking::revoke),
        )
        .route(
            "/berichten/{id}/ontvangers/{rid}/nieuwe-link",
            post(tracking::new_link),
        )
        .route("/berichten/{id}/verlengen", post(tracking::extend))
        .route("/inbox", get(inbox::inbox))
        .route("/inbox/{id}", get(inbox::reply))
        .route("/inbox/{id}/bijlage/{aid}", get(inbox::attachment))
        .route(
            "/inbox/{id}/antwoord",
            post(inbox::answer).layer(DefaultBodyLimit::max(answer_limit)),
        )
}

//! The pages for a code that cannot be tried or sent now: blocked after too many wrong codes
//! (until the sender unblocks), the lockout after the last wrong try of a round, too many
//! codes asked for, and no SMS today. Each has the API's status and `Retry-After`.

use super::link::link_or_page;
use crate::http::error::BLOCKED_RETRY_AFTER_SECS;
use crate::http::pages::{locked_page, problem, View};
use crate::http::AppState;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use zegel_core::i18n::{self, tr, tr_args};
use zegel_core::model::Ts;
use zegel_core::service::LinkInfo;

fn with_retry_after(mut res: Response, secs: u64) -> Response {
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    res
}

/// Blocked after too many wrong codes: only the sender can lift it; whom to contact.
pub(super) fn blocked_page(v: &View, info: &LinkInfo) -> Response {
    let l = v.lang;
    let mut contact = tr_args(
        l,
        "problem-blocked-contact",
        &[("sender", &info.sender_name), ("org", &info.org_name)],
    );
    if let Some(c) = &info.policy.contact {
        contact.push(' ');
        contact.push_str(&tr_args(l, "message-contact", &[("contact", c)]));
    }
    let page = problem(
        v,
        StatusCode::TOO_MANY_REQUESTS,
        info,
        "problem-blocked-title",
        vec![tr(l, "problem-blocked-why"), contact],
        None,
    );
    with_retry_after(page, BLOCKED_RETRY_AFTER_SECS)
}

/// The page for a link that is blocked or locked now, if it is.
pub(super) fn refused_now(v: &View, info: &LinkInfo) -> Option<Response> {
    if info.blocked {
        return Some(blocked_page(v, info));
    }
    let until = info.locked_until?;
    let wait = Ts::now().secs_until(until).max(1);
    Some(locked_page(v, &info.org_name, wait))
}

/// After the last wrong try of a round: the lockout with its real length, or the block, as
/// the link shows them now.
pub(super) async fn after_last_try(s: &AppState, v: &View, token: &str) -> Response {
    match link_or_page(s, v, token).await {
        Ok(info) => refused_now(v, &info).unwrap_or_else(|| {
            // Lifted in between (the sender unblocked): the first lockout's length.
            let secs =
                s.z.settings
                    .lockout_steps_secs
                    .first()
                    .copied()
                    .unwrap_or(900);
            locked_page(v, &info.org_name, u64::try_from(secs).unwrap_or(900))
        }),
        Err(page) => page.into_response(),
    }
}

/// Too many codes asked for: when the next one can be asked for.
pub(super) fn too_many_codes_page(v: &View, info: &LinkInfo, wait: u64) -> Response {
    let l = v.lang;
    let duration = i18n::duration(l, wait);
    let at = i18n::time_of_day(Ts::now().plus_secs(i64::try_from(wait).unwrap_or(i64::MAX)));
    let page = problem(
        v,
        StatusCode::TOO_MANY_REQUESTS,
        info,
        "problem-codes-title",
        vec![
            tr_args(
                l,
                "problem-codes-text",
                &[("duration", &duration), ("time", &at)],
            ),
            tr(l, "problem-codes-have-one"),
        ],
        None,
    );
    with_retry_after(page, wait)
}

/// The organisation's SMS codes for today are spent.
pub(super) fn sms_unavailable_page(v: &View, info: &LinkInfo, wait: u64) -> Response {
    let l = v.lang;
    let duration = i18n::duration(l, wait);
    let page = problem(
        v,
        StatusCode::SERVICE_UNAVAILABLE,
        info,
        "problem-sms-title",
        vec![tr_args(
            l,
            "problem-sms-text",
            &[
                ("duration", &duration),
                ("sender", &info.sender_name),
                ("org", &info.org_name),
            ],
        )],
        None,
    );
    with_retry_after(page, wait)
}

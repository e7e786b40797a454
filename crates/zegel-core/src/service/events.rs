//! Builders of audit events (NEN 7513: what, when, who, from where). Never content, codes,
//! tokens or file names in `detail`.
//!
//! A leaf module: it uses nothing else of the service layer but the request context.

use super::ClientCtx;
use crate::model::{EventKind, NewEvent, RecipientAccess, Ts, User};

/// The actor of an event caused by a recipient.
pub(crate) fn recipient_actor(recipient_id: &str) -> String {
    format!("recipient:{recipient_id}")
}

/// The actor of an event caused by a sender.
pub(crate) fn sender_actor(user_id: &str) -> String {
    format!("sender:{user_id}")
}

/// The actor of an event Zegel itself caused.
pub(crate) const SYSTEM: &str = "system";

/// Something a recipient did on their link, now, from the request's address.
pub(crate) fn by_recipient(
    a: &RecipientAccess,
    kind: EventKind,
    ctx: &ClientCtx,
    detail: Option<String>,
) -> NewEvent {
    NewEvent {
        message_id: a.message.id.clone(),
        recipient_id: Some(a.recipient.id.clone()),
        kind,
        at: Ts::now(),
        actor: recipient_actor(&a.recipient.id),
        ip: ctx.ip.clone(),
        user_agent: ctx.user_agent.clone(),
        detail,
    }
}

/// Something a sender did about recipient `recipient_id` of message `message_id`, at `at`.
pub(crate) fn by_sender(
    sender: &User,
    message_id: &str,
    recipient_id: Option<&str>,
    kind: EventKind,
    at: Ts,
    ctx: &ClientCtx,
    detail: Option<String>,
) -> NewEvent {
    NewEvent {
        message_id: message_id.to_owned(),
        recipient_id: recipient_id.map(str::to_owned),
        kind,
        at,
        actor: sender_actor(&sender.id),
        ip: ctx.ip.clone(),
        user_agent: ctx.user_agent.clone(),
        detail,
    }
}

/// Something Zegel did (delivery, expiry) about recipient `rid` of message `mid`, now.
pub(crate) fn by_system(mid: &str, rid: &str, kind: EventKind, detail: Option<String>) -> NewEvent {
    NewEvent {
        message_id: mid.to_owned(),
        recipient_id: Some(rid.to_owned()),
        kind,
        at: Ts::now(),
        actor: SYSTEM.to_owned(),
        ip: None,
        user_agent: None,
        detail,
    }
}

//! Typed job payloads: one variant per [`JobKind`]. CONTRACT (stored format): a queued row holds
//! the kind string and the variant's JSON; rows written by earlier versions must keep parsing,
//! so fields are only ever added (with a default). Secrets inside are sealed (see `objects`).
//!
//! A leaf module: it uses nothing else of the service layer.

use crate::error::{Error, Result};
use crate::model::{JobKind, NewJob, Ts, Verification};
use serde::{Deserialize, Serialize};

/// Send a recipient the notification with their link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NotifyRecipient {
    pub message_id: String,
    pub recipient_id: String,
    /// The link token sealed with the job key (base64url).
    pub token_sealed: String,
    /// For a new link the sender sent (`renew_link`): an id of its own, so its mail has a
    /// Message-ID of its own and is sent although the first notification went out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal: Option<String>,
    /// The message came in by SMTP: when this notification fails for good, the sender gets a
    /// delivery status notification (RFC 3464) by mail, as mail users expect.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub report_failure: bool,
}

/// Send a recipient a one-time code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SendCode {
    pub message_id: String,
    pub recipient_id: String,
    pub channel: Verification,
    /// The code sealed with the job key (base64url).
    pub code_sealed: String,
    /// The code is useless after this; so is sending it.
    pub expires_at: Ts,
}

/// Tell a sender a reply arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NotifySender {
    /// The reply.
    pub message_id: String,
}

/// Tell a sender a recipient opened the message (read receipt, issue 13).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ReadReceipt {
    pub message_id: String,
    pub recipient_id: String,
}

/// Tell a sender by mail (RFC 3464 DSN) that a recipient could not be notified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DeliveryReport {
    pub message_id: String,
    pub recipient_id: String,
    /// Why (the relay's reply), without digit runs of a code.
    pub reason: String,
}

/// A job's payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JobPayload {
    NotifyRecipient(NotifyRecipient),
    SendCode(SendCode),
    NotifySender(NotifySender),
    ReadReceipt(ReadReceipt),
    DeliveryReport(DeliveryReport),
}

impl JobPayload {
    /// The kind stored beside the payload.
    pub fn kind(&self) -> JobKind {
        match self {
            JobPayload::NotifyRecipient(_) => JobKind::NotifyRecipient,
            JobPayload::SendCode(_) => JobKind::SendCode,
            JobPayload::NotifySender(_) => JobKind::NotifySender,
            JobPayload::ReadReceipt(_) => JobKind::ReadReceipt,
            JobPayload::DeliveryReport(_) => JobKind::DeliveryReport,
        }
    }

    /// The row to enqueue.
    pub fn into_job(self, run_at: Ts, max_attempts: i64) -> Result<NewJob> {
        let payload = match &self {
            JobPayload::NotifyRecipient(p) => serde_json::to_string(p),
            JobPayload::SendCode(p) => serde_json::to_string(p),
            JobPayload::NotifySender(p) => serde_json::to_string(p),
            JobPayload::ReadReceipt(p) => serde_json::to_string(p),
            JobPayload::DeliveryReport(p) => serde_json::to_string(p),
        }
        .map_err(|e| Error::Internal(format!("job payload: {e}")))?;
        Ok(NewJob {
            kind: self.kind(),
            payload,
            run_at,
            max_attempts,
        })
    }

    /// Reads a stored job. An unknown kind or a payload that does not fit its kind is an error
    /// (the worker gives such a job up loudly; it never guesses).
    pub fn parse(kind: &str, payload: &str) -> Result<Self> {
        let bad = |e: serde_json::Error| Error::Internal(format!("{kind} payload: {e}"));
        match JobKind::parse(kind) {
            Some(JobKind::NotifyRecipient) => serde_json::from_str(payload)
                .map(JobPayload::NotifyRecipient)
                .map_err(bad),
            Some(JobKind::SendCode) => serde_json::from_str(payload)
                .map(JobPayload::SendCode)
                .map_err(bad),
            Some(JobKind::NotifySender) => serde_json::from_str(payload)
                .map(JobPayload::NotifySender)
                .map_err(bad),
            Some(JobKind::ReadReceipt) => serde_json::from_str(payload)
                .map(JobPayload::ReadReceipt)
                .map_err(bad),
            Some(JobKind::DeliveryReport) => serde_json::from_str(payload)
                .map(JobPayload::DeliveryReport)
                .map_err(bad),
            None => Err(Error::Internal(format!("unknown job kind {kind:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_payload_reads_back_as_itself() {
        let all = [
            JobPayload::NotifyRecipient(NotifyRecipient {
                message_id: "m".into(),
                recipient_id: "r".into(),
                token_sealed: "t".into(),
                renewal: None,
                report_failure: false,
            }),
            JobPayload::NotifyRecipient(NotifyRecipient {
                message_id: "m".into(),
                recipient_id: "r".into(),
                token_sealed: "t".into(),
                renewal: Some("n".into()),
                report_failure: true,
            }),
            JobPayload::DeliveryReport(DeliveryReport {
                message_id: "m".into(),
                recipient_id: "r".into(),
                reason: "550 5.1.1 no such user".into(),
            }),
            JobPayload::SendCode(SendCode {
                message_id: "m".into(),
                recipient_id: "r".into(),
                channel: Verification::Sms,
                code_sealed: "c".into(),
                expires_at: Ts(5),
            }),
            JobPayload::NotifySender(NotifySender {
                message_id: "m".into(),
            }),
            JobPayload::ReadReceipt(ReadReceipt {
                message_id: "m".into(),
                recipient_id: "r".into(),
            }),
        ];
        for p in all {
            let job = p.clone().into_job(Ts(1), 3).expect("serialise");
            let back = JobPayload::parse(job.kind.as_str(), &job.payload).expect("parse");
            assert_eq!(back, p);
        }
    }

    #[test]
    fn rows_of_earlier_versions_parse_and_strangers_are_refused() {
        // The JSON that session 1-4 code wrote.
        let notify = r#"{"message_id":"m","recipient_id":"r","token_sealed":"abc"}"#;
        assert!(matches!(
            JobPayload::parse("notify_recipient", notify),
            Ok(JobPayload::NotifyRecipient(_))
        ));
        let code = r#"{"message_id":"m","recipient_id":"r","channel":"email","code_sealed":"x","expires_at":7}"#;
        assert!(matches!(
            JobPayload::parse("send_code", code),
            Ok(JobPayload::SendCode(SendCode {
                channel: Verification::Email,
                ..
            }))
        ));
        // An unknown kind is not taken for a code job; a payload of another kind is refused.
        assert!(JobPayload::parse("send_fax", code).is_err());
        assert!(JobPayload::parse("send_code", notify).is_err());
    }
}

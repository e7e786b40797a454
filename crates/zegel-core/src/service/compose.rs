//! Composing from the browser (issue 13): the checks before sending, held messages (stored
//! with their attachments, released or cancelled by their sender), the organisation's
//! address book and read receipts.

use super::checks::{send_warnings, SendWarning};
use super::events;
use super::payloads::{JobPayload, ReadReceipt};
use super::{notify, ClientCtx, NewMessageReq, Zegel};
use crate::error::{Error, Result};
use crate::model::*;
use crate::outbound::OutMail;
use serde::Serialize;
use std::sync::Arc;

/// How long a held message waits for its sender's confirmation (then the expiry sweep
/// destroys it).
pub const HOLD_MS: i64 = 24 * 3600 * 1000;

/// How many of the organisation's addresses (most recent first) "did you mean" compares with.
const RECENT_ADDRESSES: u32 = 5_000;

/// Attempts of a read receipt mail (as a notification: at least 24 hours of retries).
const RECEIPT_MAX_ATTEMPTS: i64 = 120;

/// The address book uses of a message's recipients, in address order (a fixed lock order for
/// concurrent upserts).
pub(crate) fn address_uses(org_id: &str, recipients: &[RecipientRow], at: Ts) -> Vec<AddressUse> {
    let mut out: Vec<AddressUse> = recipients
        .iter()
        .map(|r| AddressUse {
            org_id: org_id.to_owned(),
            address: r.email.clone(),
            verification: r.verification,
            phone: r.phone.clone(),
            at,
        })
        .collect();
    out.sort_by(|a, b| a.address.cmp(&b.address));
    out
}

/// What the organisation remembers of an address: proposed on the compose form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RememberedAddress {
    /// The address.
    pub email: String,
    /// The last verification method.
    pub verification: Verification,
    /// The last mobile number (for `sms`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// How many messages the organisation sent to it.
    pub uses: i64,
}

/// A held message as its confirmation page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldView {
    /// The message.
    pub id: String,
    /// Its recipients' addresses.
    pub addresses: Vec<String>,
    /// Why it was held.
    pub warnings: Vec<SendWarning>,
}

impl Zegel {
    /// The checks before sending to `addresses` (lower-cased) for the organisation.
    pub(crate) async fn send_warnings(
        &self,
        org_id: &str,
        addresses: &[String],
    ) -> Result<Vec<SendWarning>> {
        let known: Vec<String> = self
            .store
            .address_book(org_id, addresses)
            .await?
            .into_iter()
            .map(|e| e.address)
            .collect();
        let recent = if known.len() < addresses.len() {
            self.store
                .recent_addresses(org_id, RECENT_ADDRESSES)
                .await?
        } else {
            Vec::new()
        };
        Ok(send_warnings(addresses, &known, &recent))
    }

    /// `POST /api/v1/messages/check`: validates a message as a send would (the same errors)
    /// and answers the warnings, storing nothing.
    pub async fn check_message(
        self: &Arc<Self>,
        principal: &Principal,
        req: NewMessageReq,
    ) -> Result<Vec<SendWarning>> {
        let draft = self.begin_message(principal, req).await?;
        let warnings = draft.warnings().await;
        draft.abort().await;
        warnings
    }

    /// What the sender's organisation remembers of these addresses (unknown ones are left
    /// out; malformed ones too).
    pub async fn remembered(
        &self,
        principal: &Principal,
        addresses: &[String],
    ) -> Result<Vec<RememberedAddress>> {
        let clean: Vec<String> = addresses
            .iter()
            .filter_map(|a| super::validate::email(a).ok())
            .take(50)
            .collect();
        Ok(self
            .store
            .address_book(&principal.org.id, &clean)
            .await?
            .into_iter()
            .map(|e| RememberedAddress {
                email: e.address,
                verification: e.verification,
                phone: e.phone,
                uses: e.uses,
            })
            .collect())
    }

    /// The sender's own held message, still waiting for confirmation; else NotFound (another
    /// sender's, released, cancelled or past its hold).
    async fn own_held(&self, sender: &User, id: &str) -> Result<HeldMessage> {
        match self.store.held_message(id).await? {
            Some(h)
                if h.sender_id == sender.id
                    && h.state == MessageState::Active
                    && h.expires_at > Ts::now() =>
            {
                Ok(h)
            }
            _ => Err(Error::NotFound),
        }
    }

    /// A held message and why it was held (the checks again: nothing it holds changed the
    /// address book).
    pub async fn held_view(&self, principal: &Principal, id: &str) -> Result<HeldView> {
        let h = self.own_held(&principal.user, id).await?;
        let addresses: Vec<String> = self
            .store
            .recipients_of(&h.id)
            .await?
            .into_iter()
            .map(|r| r.email)
            .collect();
        let warnings = self.send_warnings(&principal.org.id, &addresses).await?;
        Ok(HeldView {
            id: h.id,
            addresses,
            warnings,
        })
    }

    /// "Toch versturen": releases the sender's held message (its notifications go out, its
    /// availability counts from now, the address book learns its recipients). NotFound when
    /// it is not the sender's held message.
    pub async fn release_message(
        &self,
        principal: &Principal,
        id: &str,
        ctx: &ClientCtx,
    ) -> Result<()> {
        let h = self.own_held(&principal.user, id).await?;
        let now = Ts::now();
        let recipients = self.store.recipients_of(&h.id).await?;
        let release = Release {
            message_id: h.id.clone(),
            sender_id: principal.user.id.clone(),
            now,
            events: recipients
                .iter()
                .map(|r| {
                    events::by_sender(
                        &principal.user,
                        &h.id,
                        Some(&r.id),
                        EventKind::Sent,
                        now,
                        ctx,
                        None,
                    )
                })
                .collect(),
            address_book: address_uses(&principal.org.id, &recipients, now),
        };
        if !self.store.release_held(&release).await? {
            return Err(Error::NotFound);
        }
        self.job_wakeup.notify_one();
        tracing::info!(message_id = %h.id, recipients = recipients.len(), "held message released");
        Ok(())
    }

    /// "Annuleren": destroys the sender's held message at once (key, content; its blobs are
    /// queued for deletion). NotFound when it is not the sender's held message.
    pub async fn cancel_message(&self, principal: &Principal, id: &str) -> Result<()> {
        let h = self.own_held(&principal.user, id).await?;
        let destroyed = self
            .store
            .destroy_message(
                &h.id,
                MessageState::Revoked,
                Ts::now(),
                &events::sender_actor(&principal.user.id),
            )
            .await?;
        if !destroyed {
            return Err(Error::NotFound);
        }
        tracing::info!(message_id = %h.id, "held message cancelled");
        Ok(())
    }

    /// After a recipient's first opening: queues the sender's read receipt when the message
    /// asked for one (once per recipient; the store decides). A failure is logged, never the
    /// recipient's problem.
    pub(crate) async fn after_first_open(&self, a: &RecipientAccess) {
        if !matches!(
            a.recipient.status,
            RecipientStatus::Queued | RecipientStatus::Notified | RecipientStatus::Failed
        ) || a.message.kind != MessageKind::Message
        {
            return;
        }
        let now = Ts::now();
        let job = JobPayload::ReadReceipt(ReadReceipt {
            message_id: a.message.id.clone(),
            recipient_id: a.recipient.id.clone(),
        })
        .into_job(now, RECEIPT_MAX_ATTEMPTS);
        let queued = match job {
            Ok(job) => {
                self.store
                    .queue_read_receipt(&a.recipient.id, &job, now)
                    .await
            }
            Err(e) => {
                tracing::error!(error = %e, "read receipt job not built");
                return;
            }
        };
        match queued {
            Ok(true) => self.job_wakeup.notify_one(),
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "queueing a read receipt failed"),
        }
    }
}

/// The sender's read receipt: no content (no subject, body or file names), only which
/// address opened the message and where its status is. In Dutch (staff).
pub(crate) fn receipt_mail(
    to: &str,
    org: &str,
    opened_by: &str,
    message_url: &str,
    message_id: String,
) -> OutMail {
    let l = crate::i18n::Lang::Nl;
    let subject = crate::i18n::tr(l, "compose-receipt-subject");
    let intro = crate::i18n::tr_args(l, "compose-receipt-opened", &[("email", opened_by)]);
    let how = crate::i18n::tr(l, "compose-receipt-link");
    let text = format!("{intro}\n\n{how}\n{message_url}\n");
    let html = notify::html_mail(
        l,
        &subject,
        &format!(
            "<p>{}</p>\n<p>{}<br>\n<a href=\"{}\">{}</a></p>\n",
            html_escape::encode_text(&intro),
            html_escape::encode_text(&how),
            html_escape::encode_double_quoted_attribute(message_url),
            html_escape::encode_text(message_url),
        ),
    );
    OutMail {
        to: to.into(),
        from_name: org.into(),
        subject,
        text,
        html,
        message_id,
    }
}

/// A recipient field of the compose form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecipientField {
    /// "Aan".
    Email,
    /// "Mobiel nummer".
    Phone,
    /// "Code".
    Code,
    /// "Hint".
    Hint,
}

/// What is wrong with one field of one recipient of the compose form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldProblem {
    /// No address.
    EmailMissing,
    /// Not an e-mail address.
    EmailInvalid,
    /// The same address twice.
    EmailTwice,
    /// `sms` without a number.
    PhoneMissing,
    /// Not a phone number.
    PhoneInvalid,
    /// A phone number, but not a mobile one.
    PhoneNotMobile,
    /// A mobile number of a country the organisation sends no SMS to.
    PhoneCountry,
    /// `code` without the code.
    CodeMissing,
    /// Not 6 digits.
    CodeInvalid,
    /// Too long, or personal data.
    HintInvalid,
}

/// One problem: which recipient (from 0), which field, what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecipientProblem {
    /// The recipient's position in the form.
    pub recipient: usize,
    /// The field.
    pub field: RecipientField,
    /// What is wrong.
    pub problem: FieldProblem,
}

/// Every problem of the compose form's recipients at once (the API stops at the first): an
/// address for each, a mobile number of an allowed country for `sms`, a 6-digit code for
/// `code` (the form asks for one: the sender must give it to the recipient), a hint without
/// personal data. A recipient whose method is missing counts as `email`.
pub fn recipient_problems(
    recipients: &[super::NewRecipientReq],
    policy: &OrgPolicy,
) -> Vec<RecipientProblem> {
    use super::validate;
    let mut out = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for (i, r) in recipients.iter().enumerate() {
        let mut bad = |field, problem| {
            out.push(RecipientProblem {
                recipient: i,
                field,
                problem,
            })
        };
        match r.email.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
            None => bad(RecipientField::Email, FieldProblem::EmailMissing),
            Some(e) => match validate::email(e) {
                Err(_) => bad(RecipientField::Email, FieldProblem::EmailInvalid),
                Ok(e) if seen.contains(&e) => bad(RecipientField::Email, FieldProblem::EmailTwice),
                Ok(e) => seen.push(e),
            },
        }
        let phone = r.phone.as_deref().map(str::trim).filter(|p| !p.is_empty());
        let code = r.code.as_deref().map(str::trim).filter(|c| !c.is_empty());
        match r.verification.unwrap_or(Verification::Email) {
            Verification::Sms => match phone {
                None => bad(RecipientField::Phone, FieldProblem::PhoneMissing),
                Some(p) => match validate::mobile_phone(p) {
                    Err(Error::Invalid(crate::error::Invalid::NotMobile { .. })) => {
                        bad(RecipientField::Phone, FieldProblem::PhoneNotMobile)
                    }
                    Err(_) => bad(RecipientField::Phone, FieldProblem::PhoneInvalid),
                    Ok(e164) => {
                        if validate::sms_country(&e164, &policy.sms_countries).is_err() {
                            bad(RecipientField::Phone, FieldProblem::PhoneCountry)
                        }
                    }
                },
            },
            Verification::Code => {
                match code {
                    None => bad(RecipientField::Code, FieldProblem::CodeMissing),
                    Some(c) if validate::sender_code(c).is_err() => {
                        bad(RecipientField::Code, FieldProblem::CodeInvalid)
                    }
                    Some(_) => {}
                }
                if let Some(h) = r.code_hint.as_deref() {
                    if validate::code_hint(h).is_err() {
                        bad(RecipientField::Hint, FieldProblem::HintInvalid)
                    }
                }
            }
            Verification::Email => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::NewRecipientReq;

    fn r(email: &str, v: Verification, phone: &str, code: &str) -> NewRecipientReq {
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        NewRecipientReq {
            email: opt(email),
            phone: opt(phone),
            verification: Some(v),
            code: opt(code),
            code_hint: None,
            language: None,
        }
    }

    fn policy() -> OrgPolicy {
        OrgPolicy {
            sms_countries: vec!["NL".into()],
            ..OrgPolicy::default()
        }
    }

    #[test]
    fn every_recipient_field_problem_is_reported_at_once() {
        let got = recipient_problems(
            &[
                r("", Verification::Email, "", ""),
                r("geen-adres", Verification::Sms, "", ""),
                r("a@b.nl", Verification::Sms, "020 123 4567", ""),
                r("A@b.nl", Verification::Code, "", ""),
                r("c@b.nl", Verification::Code, "", "12ab"),
                r("d@b.nl", Verification::Sms, "+32 470 12 34 56", ""),
                r("e@b.nl", Verification::Sms, "06 1234 5678", ""),
                r("f@b.nl", Verification::Code, "", "123456"),
            ],
            &policy(),
        );
        let want = [
            (0, RecipientField::Email, FieldProblem::EmailMissing),
            (1, RecipientField::Email, FieldProblem::EmailInvalid),
            (1, RecipientField::Phone, FieldProblem::PhoneMissing),
            (2, RecipientField::Phone, FieldProblem::PhoneNotMobile),
            (3, RecipientField::Email, FieldProblem::EmailTwice),
            (3, RecipientField::Code, FieldProblem::CodeMissing),
            (4, RecipientField::Code, FieldProblem::CodeInvalid),
            (5, RecipientField::Phone, FieldProblem::PhoneCountry),
        ];
        let got: Vec<_> = got
            .iter()
            .map(|p| (p.recipient, p.field, p.problem))
            .collect();
        assert_eq!(got, want);
    }
}

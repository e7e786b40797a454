//! Mail submission (issue 15): SMTP credentials for mail clients and hospital systems, and a
//! submitted RFC 5322 mail turned into a secure message from the credential's user.
//!
//! The SMTP protocol itself lives in the binary (`zegel::smtp`); this is what an accepted mail
//! means: the envelope recipients are the recipients (never the header's To, Cc or Bcc), the
//! subject loses a leading `[beveiligd]` / `[secure]` tag, every attachment (inline images
//! too) streams into an encrypted blob exactly as through the API, and each recipient is
//! verified the way the organisation last used for that address, else by a code by e-mail.

use super::messages::{MessageCreated, NewMessageReq, NewRecipientReq};
use super::{new_id, validate, ClientCtx, Zegel};
use crate::error::{Error, Result};
use crate::model::*;
use crate::signin::AccountEventKind;
use bytes::Bytes;
use mail_parser::{MessageParser, MimeHeaders};
use std::sync::Arc;

/// The prefix of every generated SMTP user name.
pub const SMTP_USER_PREFIX: &str = "zegel-";

/// Attachments are handed to the encrypting writer in pieces of this size.
const CHUNK: usize = 64 * 1024;

/// The Argon2id hash of a random password nobody knows (made once): an unknown user name
/// costs the same verification as a known one, so timing does not tell which names exist.
fn dummy_phc() -> String {
    static PHC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PHC.get_or_init(|| {
        zegel_crypto::hash_password(&zegel_crypto::random_token()).unwrap_or_default()
    })
    .clone()
}

/// Why a submitted mail was refused. Each says what the sender can do about it; the SMTP
/// gateway answers it with a permanent (5xx) or, for [`MailRefused::Unavailable`], a
/// temporary (4xx) reply.
#[derive(Debug, thiserror::Error)]
pub enum MailRefused {
    /// Not a MIME message at all.
    #[error("the mail could not be read as a MIME message")]
    Unreadable,
    /// A `winmail.dat` (Outlook's TNEF): its attachments cannot be shown to a patient.
    #[error(
        "the mail carries winmail.dat (Outlook rich text, TNEF): send it as HTML or plain text"
    )]
    Winmail,
    /// The organisation verifies this address by SMS, but nobody has given its number.
    #[error("{email} needs an SMS code but no mobile number is known: send it once from the web app with the number")]
    SmsNumberUnknown {
        /// The recipient.
        email: String,
    },
    /// The organisation verifies this address by a code the sender gives by phone: only the
    /// web app can show the sender that code.
    #[error("{email} gets a code the sender gives by phone: send it from the web app, which shows the code")]
    PhoneCode {
        /// The recipient.
        email: String,
    },
    /// Refused as the API would refuse it (size, recipients, policy ...).
    #[error("{0}")]
    Refused(Error),
    /// The store or the blobs did not answer: try again later.
    #[error("temporarily unavailable: {0}")]
    Unavailable(Error),
}

impl From<Error> for MailRefused {
    fn from(e: Error) -> Self {
        match e {
            Error::Internal(_) => MailRefused::Unavailable(e),
            other => MailRefused::Refused(other),
        }
    }
}

impl MailRefused {
    /// Whether trying again later may work (4xx rather than 5xx).
    pub fn is_temporary(&self) -> bool {
        matches!(self, MailRefused::Unavailable(_))
    }

    /// The Dutch sentence for the sender's mail client (the English detail follows it).
    pub fn dutch(&self) -> &'static str {
        match self {
            MailRefused::Unreadable => "Bericht niet verstuurd: de mail is onleesbaar",
            MailRefused::Winmail => {
                "Bericht niet verstuurd: winmail.dat (Outlook RTF) wordt niet ondersteund"
            }
            MailRefused::SmsNumberUnknown { .. } => {
                "Bericht niet verstuurd: een ontvanger heeft een SMS-code nodig maar er is geen mobiel nummer bekend; verstuur het via de webapp"
            }
            MailRefused::PhoneCode { .. } => {
                "Bericht niet verstuurd: een ontvanger krijgt een code per telefoon; verstuur het via de webapp"
            }
            MailRefused::Refused(_) => "Bericht niet verstuurd",
            MailRefused::Unavailable(_) => "Tijdelijk niet beschikbaar, probeer het later opnieuw",
        }
    }
}

/// A new credential: the user name and the password, shown once.
#[derive(Debug, Clone)]
pub struct SmtpCredentialCreated {
    /// The SMTP user name.
    pub username: String,
    /// The password (only its Argon2id hash is kept).
    pub password: String,
}

/// Removes one leading `[beveiligd]` or `[secure]` tag (any case) and the space after it.
pub fn strip_secure_tag(subject: &str) -> &str {
    let trimmed = subject.trim_start();
    for tag in ["[beveiligd]", "[secure]"] {
        if trimmed.len() >= tag.len()
            && trimmed.is_char_boundary(tag.len())
            && trimmed[..tag.len()].eq_ignore_ascii_case(tag)
        {
            return trimmed[tag.len()..].trim_start();
        }
    }
    subject
}

impl Zegel {
    /// A new SMTP credential for `user`: a generated user name and password (returned once;
    /// the store keeps the Argon2id hash and records `smtp_credential_created`).
    pub async fn create_smtp_credential(
        &self,
        user: &User,
        label: &str,
        ctx: Option<&ClientCtx>,
    ) -> Result<SmtpCredentialCreated> {
        let username = format!("{SMTP_USER_PREFIX}{}", hex_id());
        let password = zegel_crypto::random_token();
        let pw = zeroize::Zeroizing::new(password.clone());
        let password_hash = tokio::task::spawn_blocking(move || zegel_crypto::hash_password(&pw))
            .await
            .map_err(|e| Error::Internal(format!("password hashing: {e}")))??;
        self.store
            .create_smtp_credential(&NewSmtpCredential {
                id: new_id(),
                user_id: user.id.clone(),
                username: username.clone(),
                password_hash,
                label: validate::single_line(label),
                created_at: Ts::now(),
                ip: ctx.and_then(|c| c.ip.clone()),
                user_agent: ctx.and_then(|c| c.user_agent.clone()),
            })
            .await?;
        Ok(SmtpCredentialCreated { username, password })
    }

    /// The NTA 7516 record an organisation publishes on its mail domains so that other
    /// providers deliver to this installation directly: valid from this month for a year,
    /// `ntamx` the host of `ZEGEL_PUBLIC_URL` (which must be a DNS name).
    pub async fn nta_record(&self, org_slug: &str, now: Ts) -> Result<crate::nta::NtaRecord> {
        if self.store.org_by_slug(org_slug).await?.is_none() {
            return Err(Error::NotFound);
        }
        let host = url::Url::parse(&self.settings.public_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .filter(|h| h.contains('.') && h.parse::<std::net::IpAddr>().is_err())
            .ok_or_else(|| {
                Error::BadRequest(
                    "ZEGEL_PUBLIC_URL must name the host that receives mail (a DNS name)".into(),
                )
            })?;
        let start = crate::nta::YearMonth::of_millis(now.0);
        let record = crate::nta::NtaRecord {
            start,
            end: start.plus_months(12),
            provider: "Zegel".into(),
            mx: vec![(10, host.to_ascii_lowercase())],
        };
        // What we print must be what we would accept from others.
        crate::nta::NtaRecord::parse(&record.to_string())
            .map_err(|e| Error::BadRequest(format!("ZEGEL_PUBLIC_URL: {e}")))
    }

    /// The user's live SMTP credentials (the settings page), newest first.
    pub async fn own_smtp_credentials(&self, user_id: &str) -> Result<Vec<SmtpCredentialInfo>> {
        Ok(self.store.smtp_credentials_of(user_id).await?)
    }

    /// Revokes one of the user's own SMTP credentials (recorded); another user's: `NotFound`.
    pub async fn revoke_own_smtp_credential(&self, user_id: &str, id: &str) -> Result<()> {
        let own = self.store.smtp_credentials_of(user_id).await?;
        let c = own.iter().find(|c| c.id == id).ok_or(Error::NotFound)?;
        if !self.revoke_smtp_credential(&c.username).await? {
            return Err(Error::NotFound);
        }
        Ok(())
    }

    /// Revokes the SMTP credential with this user name (recorded); false when there is none.
    pub async fn revoke_smtp_credential(&self, username: &str) -> Result<bool> {
        Ok(self
            .store
            .revoke_smtp_credential(username.trim(), Ts::now())
            .await?)
    }

    /// Who submits with this user name and password, or `Unauthorized`. A wrong password for
    /// a known name is recorded (`sign_in_failed`, detail `smtp`); an unknown name costs the
    /// same time as a known one. A login verified within [`super::SMTP_LOGIN_TTL`] with the
    /// credential's current hash is not verified again (see [`zegel_crypto::VerifiedPasswords`]).
    pub async fn authenticate_smtp(
        &self,
        username: &str,
        password: &str,
        ctx: &ClientCtx,
    ) -> Result<Principal> {
        let found = if username.len() <= 200 {
            self.store.smtp_login(username, Ts::now()).await?
        } else {
            None
        };
        let phc = found.as_ref().map(|l| l.password_hash.clone());
        let pw = zeroize::Zeroizing::new(password.to_owned());
        let user = username.to_owned();
        let logins = self.smtp_logins.clone();
        let ok = tokio::task::spawn_blocking(move || match phc {
            Some(phc) => logins.verify(&user, &phc, &pw),
            None => {
                // Never remembered: an unknown name always costs a whole verification.
                zegel_crypto::verify_password(&pw, &dummy_phc());
                false
            }
        })
        .await
        .map_err(|e| Error::Internal(format!("password check: {e}")))?;
        match found {
            Some(login) if ok => Ok(login.principal),
            Some(login) => {
                let event = super::signin::event(
                    Some(&login.principal.user.id),
                    AccountEventKind::SignInFailed,
                    ctx,
                    Some("smtp".into()),
                );
                self.store.record_account_event(&event).await?;
                Err(Error::Unauthorized)
            }
            None => Err(Error::Unauthorized),
        }
    }

    /// A submitted mail (`raw`, as received after DATA) from `principal` to the envelope
    /// `recipients`, stored as a secure message with its notifications. Returns once the
    /// message is stored durably; nothing is kept when it is refused.
    pub async fn submit_mail(
        self: &Arc<Self>,
        principal: &Principal,
        recipients: &[String],
        raw: &[u8],
        ctx: &ClientCtx,
    ) -> std::result::Result<MessageCreated, MailRefused> {
        let mail = MessageParser::default()
            .parse(raw)
            .ok_or(MailRefused::Unreadable)?;
        let subject = strip_secure_tag(mail.subject().unwrap_or_default()).to_owned();
        let body = mail
            .body_text(0)
            .map(|b| b.into_owned())
            .unwrap_or_default();
        let attachments = mail_attachments(&mail)?;
        let req = NewMessageReq {
            subject: Some(subject),
            body,
            recipients: Some(self.verification_of(principal, recipients).await?),
            reply: None,
            expires_in_days: None,
            in_reply_to: None,
            read_receipt: false,
        };
        let mut draft = self.begin_message(principal, req).await?;
        draft.report_failures_by_mail();
        if let Some(html) = html_of(&mail) {
            if let Err(e) = draft.set_html(html) {
                draft.abort().await;
                return Err(e.into());
            }
        }
        if let Err(e) = stream_attachments(draft.uploads(), &attachments).await {
            draft.abort().await;
            return Err(e.into());
        }
        Ok(draft.commit(ctx).await?)
    }

    /// Each envelope recipient with the method the organisation last used for that address
    /// (and its number), else a code by e-mail.
    async fn verification_of(
        &self,
        principal: &Principal,
        recipients: &[String],
    ) -> std::result::Result<Vec<NewRecipientReq>, MailRefused> {
        let clean: Vec<String> = recipients
            .iter()
            .map(|r| validate::email(r))
            .collect::<Result<_>>()?;
        let book = self
            .store
            .address_book(&principal.org.id, &clean)
            .await
            .map_err(Error::from)?;
        clean
            .into_iter()
            .map(|email| {
                let known = book.iter().find(|e| e.address == email);
                let (verification, phone) = match known {
                    Some(e) if e.verification == Verification::Sms => match &e.phone {
                        Some(p) => (Verification::Sms, Some(p.clone())),
                        None => return Err(MailRefused::SmsNumberUnknown { email }),
                    },
                    Some(e) if e.verification == Verification::Code => {
                        return Err(MailRefused::PhoneCode { email })
                    }
                    _ => (Verification::Email, None),
                };
                Ok(NewRecipientReq {
                    email: Some(email),
                    phone,
                    verification: Some(verification),
                    code: None,
                    code_hint: None,
                    language: None,
                })
            })
            .collect()
    }
}

/// A mail's own HTML body (not mail-parser's rendering of a text-only mail), as it came: shown
/// only through the sanitiser.
pub(super) fn html_of(mail: &mail_parser::Message<'_>) -> Option<String> {
    let part = mail.part(*mail.html_body.first()?)?;
    match &part.body {
        mail_parser::PartType::Html(h) if !h.trim().is_empty() => Some(h.to_string()),
        _ => None,
    }
}

/// A mail's attachments and inline parts; a `winmail.dat` (TNEF) is refused.
pub(super) fn mail_attachments<'m>(
    mail: &'m mail_parser::Message<'m>,
) -> std::result::Result<Vec<&'m mail_parser::MessagePart<'m>>, MailRefused> {
    let attachments: Vec<_> = mail.attachments().collect();
    if attachments.iter().any(|a| {
        a.attachment_name()
            .is_some_and(|n| n.eq_ignore_ascii_case("winmail.dat"))
            || a.is_content_type("application", "ms-tnef")
            || a.is_content_type("application", "vnd.ms-tnef")
    }) {
        return Err(MailRefused::Winmail);
    }
    Ok(attachments)
}

/// Streams a mail's parts into encrypted blobs, a chunk at a time as the encrypting writer
/// takes it (never a second whole copy), with their decoded names (RFC 2047 / 2231).
pub(super) async fn stream_attachments(
    uploads: &mut super::drafts::Uploads,
    parts: &[&mail_parser::MessagePart<'_>],
) -> Result<()> {
    for (n, part) in parts.iter().enumerate() {
        let content_type = part
            .content_type()
            .map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{}", ct.ctype(), sub),
                None => ct.ctype().to_owned(),
            })
            .unwrap_or_else(|| "application/octet-stream".to_owned())
            .to_ascii_lowercase();
        let name = match part.attachment_name() {
            Some(name) => name.to_owned(),
            None if part.is_message() => format!("bericht-{}.eml", n + 1),
            None => format!("bijlage-{}", n + 1),
        };
        let chunks = part
            .contents()
            .chunks(CHUNK)
            .map(|c| Ok(Bytes::copy_from_slice(c)));
        uploads
            .add(&name, &content_type, futures::stream::iter(chunks))
            .await?;
    }
    Ok(())
}

/// 12 random hex digits for a user name.
fn hex_id() -> String {
    let mut bytes = [0u8; 6];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secure_tag_goes_only_at_the_start() {
        assert_eq!(strip_secure_tag("[beveiligd] Uitslag"), "Uitslag");
        assert_eq!(strip_secure_tag("  [SECURE]Uitslag"), "Uitslag");
        assert_eq!(strip_secure_tag("[Beveiligd]"), "");
        assert_eq!(strip_secure_tag("Uitslag [secure]"), "Uitslag [secure]");
        assert_eq!(strip_secure_tag("RE: [secure] x"), "RE: [secure] x");
        assert_eq!(strip_secure_tag("[beveil"), "[beveil");
        assert_eq!(strip_secure_tag("é[secure]"), "é[secure]");
    }

    #[test]
    fn the_dummy_hash_costs_a_real_verification() {
        let phc = dummy_phc();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        // The same parameters as a real credential's hash, so the same work.
        let real = zegel_crypto::hash_password("x").expect("hash");
        let params = |p: &str| p.split('$').nth(3).map(str::to_owned);
        assert_eq!(params(&phc), params(&real));
        assert!(!zegel_crypto::verify_password("", &phc));
    }
}

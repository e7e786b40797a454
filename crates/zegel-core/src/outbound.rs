//! Outgoing e-mail and SMS: an SMTP relay (lettre) or the dev outbox on disk.

use crate::dkim::Dkim;
use async_trait::async_trait;
use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::Message;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub mod dane;
pub mod direct;
mod direct_smtp;
pub mod mta_sts;
mod smtp_conn;
pub mod streamed;
use smtp_conn::{parse_ca_pem, Conn, ImplicitTls, Pool, SmtpFail};

/// An e-mail to send. All header values are stripped of CR/LF on construction.
#[derive(Debug, Clone)]
pub struct OutMail {
    /// Recipient address.
    pub to: String,
    /// Display name of the sender (the organisation).
    pub from_name: String,
    /// Subject (never the message's own subject).
    pub subject: String,
    /// Plain-text part.
    pub text: String,
    /// HTML part.
    pub html: String,
    /// Stable Message-ID (without angle brackets): a repeat carries the same one.
    pub message_id: String,
}

/// An SMS to send.
#[derive(Debug, Clone)]
pub struct OutSms {
    /// E.164 number.
    pub to: String,
    /// Text.
    pub body: String,
    /// Stable id (for the outbox file name and gateway references).
    pub id: String,
}

/// Why a send failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    /// Try again later (4xx, connection problems).
    #[error("temporary: {0}")]
    Temporary(String),
    /// Will never work (5xx): the recipient's status becomes `failed`.
    #[error("permanent: {0}")]
    Permanent(String),
}

/// Sends e-mail.
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends one mail in one SMTP transaction (or writes it to the outbox).
    async fn send(&self, mail: &OutMail) -> Result<(), SendError>;

    /// Sends a delivery status notification (`raw`, a complete RFC 5322 message with its own
    /// From; signed here when DKIM is set) to `to` with the null reverse-path (`MAIL FROM:<>`,
    /// RFC 3464: nobody answers a report). `id` names it in the outbox.
    async fn send_report(&self, to: &str, id: &str, raw: Vec<u8>) -> Result<(), SendError>;

    /// Lets go of held resources (idle relay connections) before shutdown; sends may still
    /// follow and then open new ones.
    async fn close(&self) {}
}

/// Sends SMS.
#[async_trait]
pub trait SmsSender: Send + Sync {
    /// Sends one SMS.
    async fn send(&self, sms: &OutSms) -> Result<(), SendError>;
}

/// Removes CR and LF (and other control characters) from a header value.
pub fn header_safe(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_string()
}

#[derive(Clone)]
struct AutoSubmitted;

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted)
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-generated".to_string())
    }
}

/// Builds the RFC 5322 message.
pub fn build_message(mail: &OutMail, from_addr: &str) -> Result<Message, SendError> {
    let from_name = header_safe(&mail.from_name);
    let from = Mailbox::new(
        Some(from_name),
        from_addr
            .parse()
            .map_err(|e| SendError::Permanent(format!("bad sender address: {e}")))?,
    );
    let to: Mailbox = header_safe(&mail.to)
        .parse()
        .map_err(|e| SendError::Permanent(format!("bad recipient address: {e}")))?;
    // Replies by plain e-mail go to the no-reply sender address, never to a person: the text
    // explains how to answer securely instead.
    Message::builder()
        .reply_to(from.clone())
        .from(from)
        .to(to)
        .subject(header_safe(&mail.subject))
        .message_id(Some(format!("<{}>", header_safe(&mail.message_id))))
        .date_now()
        .header(AutoSubmitted)
        .multipart(MultiPart::alternative_plain_html(
            mail.text.clone(),
            mail.html.clone(),
        ))
        .map_err(|e| SendError::Permanent(format!("building mail: {e}")))
}

/// Writes each mail as `<dir>/<unix ms>-<id>.eml` (atomically: temp file, fsync, rename).
#[derive(Debug, Clone)]
pub struct OutboxMailer {
    dir: PathBuf,
    from_addr: String,
    dkim: Option<Arc<Dkim>>,
}

impl OutboxMailer {
    /// Outbox in `dir` (created if missing).
    pub fn new(dir: impl Into<PathBuf>, from_addr: &str) -> std::io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(OutboxMailer {
            dir,
            from_addr: from_addr.to_string(),
            dkim: None,
        })
    }

    /// Signs every mail with DKIM (as the relay path does).
    pub fn with_dkim(mut self, dkim: Option<Arc<Dkim>>) -> Self {
        self.dkim = dkim;
        self
    }
}

fn sign(dkim: &Option<Arc<Dkim>>, raw: Vec<u8>) -> Result<Vec<u8>, SendError> {
    match dkim {
        Some(d) => d.sign(&raw).map_err(SendError::Temporary),
        None => Ok(raw),
    }
}

async fn write_atomically(
    dir: &std::path::Path,
    name: &str,
    data: Vec<u8>,
) -> Result<(), SendError> {
    let dir = dir.to_path_buf();
    let name = name.to_string();
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        use std::io::Write;
        let tmp = dir.join(format!(".{name}.tmp"));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, dir.join(&name))?;
        std::fs::File::open(&dir)?.sync_all()?;
        Ok(())
    })
    .await
    .map_err(|e| SendError::Temporary(e.to_string()))?
    .map_err(|e| SendError::Temporary(format!("outbox: {e}")))
}

fn outbox_name(id: &str, ext: &str) -> String {
    let safe: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{}-{}.{ext}", crate::model::Ts::now().0, safe)
}

#[async_trait]
impl Mailer for OutboxMailer {
    async fn send(&self, mail: &OutMail) -> Result<(), SendError> {
        let msg = build_message(mail, &self.from_addr)?;
        let id = mail.message_id.split('@').next().unwrap_or("mail");
        let raw = sign(&self.dkim, msg.formatted())?;
        write_atomically(&self.dir, &outbox_name(id, "eml"), raw).await
    }

    async fn send_report(&self, _to: &str, id: &str, raw: Vec<u8>) -> Result<(), SendError> {
        let raw = sign(&self.dkim, raw)?;
        write_atomically(&self.dir, &outbox_name(id, "eml"), raw).await
    }
}

/// Writes each SMS as `<dir>/<unix ms>-<id>.json` `{"to","body"}`.
#[derive(Debug, Clone)]
pub struct OutboxSms {
    dir: PathBuf,
}

impl OutboxSms {
    /// Outbox in `dir` (created if missing).
    pub fn new(dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(OutboxSms { dir })
    }
}

#[async_trait]
impl SmsSender for OutboxSms {
    async fn send(&self, sms: &OutSms) -> Result<(), SendError> {
        let body = serde_json::to_vec_pretty(&serde_json::json!({"to": sms.to, "body": sms.body}))
            .map_err(|e| SendError::Permanent(e.to_string()))?;
        write_atomically(&self.dir, &outbox_name(&sms.id, "json"), body).await
    }
}

/// TLS policy towards the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// STARTTLS must succeed (default).
    Required,
    /// STARTTLS when offered.
    Opportunistic,
    /// Plain text: tests only.
    None,
}

/// SMTP relay settings.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// `smtp://[user:pass@]host:port` (STARTTLS) or `smtps://` (implicit TLS).
    pub url: url::Url,
    /// STARTTLS policy for `smtp://`.
    pub tls: SmtpTls,
    /// Extra trusted CA (PEM).
    pub ca_pem: Option<Vec<u8>>,
    /// Envelope and header From address.
    pub from_addr: String,
    /// Deadline for one whole SMTP transaction (connect, EHLO, STARTTLS, MAIL, RCPT, DATA):
    /// so no single step can take longer either.
    pub timeout: Duration,
    /// DKIM signer.
    pub dkim: Option<Arc<Dkim>>,
}

/// How the relay connection is secured.
#[derive(Clone)]
enum Security {
    /// No TLS (tests only).
    Plain,
    /// STARTTLS; `required` = never continue in plain text.
    StartTls {
        params: TlsParameters,
        required: bool,
    },
    /// TLS from the first byte (`smtps://`).
    Implicit(ImplicitTls),
}

/// Delivers through an SMTP relay: one transaction per mail, under one deadline for the whole
/// send (lettre's async transport only times out the connect). Connections are our own small
/// pool, not lettre's (which would recycle a connection abandoned mid-transaction): a
/// connection goes back only after a fully successful transaction and is dropped on any error
/// or when the deadline drops the send. Every socket has TCP_NODELAY, also for `smtps://`:
/// lettre writes the final "." separately, and Nagle + delayed ACK cost ~40 ms per mail
/// without it. Clones share the pool.
#[derive(Clone)]
pub struct SmtpMailer {
    host: String,
    port: u16,
    security: Security,
    credentials: Option<Credentials>,
    hello: ClientId,
    from_addr: String,
    dkim: Option<Arc<Dkim>>,
    timeout: Duration,
    pool: Arc<Pool>,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SmtpMailer({}:{})", self.host, self.port)
    }
}

impl SmtpMailer {
    /// Checks the settings (no connection is made yet).
    pub fn new(s: &SmtpSettings) -> Result<Self, String> {
        let host = s
            .url
            .host_str()
            .ok_or("ZEGEL_SMTP_URL has no host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let implicit = match s.url.scheme() {
            "smtp" => false,
            "smtps" => true,
            other => {
                return Err(format!(
                    "ZEGEL_SMTP_URL scheme {other} (smtp:// or smtps://)"
                ))
            }
        };
        let port = s.url.port().unwrap_or(if implicit { 465 } else { 587 });
        let extra_ca = s.ca_pem.as_deref().map(parse_ca_pem).transpose()?;
        let security = if implicit {
            Security::Implicit(ImplicitTls::new(&host, extra_ca.as_deref())?)
        } else {
            let mut params = TlsParameters::builder(host.clone());
            for der in extra_ca.iter().flatten() {
                let cert = Certificate::from_der(der.to_vec())
                    .map_err(|e| format!("ZEGEL_SMTP_CA_FILE: {e}"))?;
                params = params.add_root_certificate(cert);
            }
            let params = params.build().map_err(|e| format!("TLS: {e}"))?;
            match s.tls {
                SmtpTls::Required => Security::StartTls {
                    params,
                    required: true,
                },
                SmtpTls::Opportunistic => Security::StartTls {
                    params,
                    required: false,
                },
                SmtpTls::None => Security::Plain,
            }
        };
        let credentials = (!s.url.username().is_empty()).then(|| {
            Credentials::new(
                percent_decode(s.url.username()),
                percent_decode(s.url.password().unwrap_or("")),
            )
        });
        Ok(SmtpMailer {
            host,
            port,
            security,
            credentials,
            hello: ClientId::default(),
            from_addr: s.from_addr.clone(),
            dkim: s.dkim.clone(),
            timeout: s.timeout,
            pool: Arc::new(Pool::default()),
        })
    }

    /// A new connection: TCP (TCP_NODELAY), TLS as the policy says, EHLO, AUTH.
    async fn connect(&self) -> Result<Conn, SmtpFail> {
        let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(SmtpFail::Io)?;
        tcp.set_nodelay(true).map_err(SmtpFail::Io)?;
        let mut smtp = match &self.security {
            Security::Implicit(tls) => {
                let stream = tls.handshake(tcp).await.map_err(SmtpFail::Tls)?;
                AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello).await?
            }
            Security::StartTls { params, required } => {
                let mut smtp =
                    AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello).await?;
                // Required: a relay that does not offer STARTTLS fails here (temporary), so
                // nothing goes out in plain text. Opportunistic: upgrade when offered.
                if *required || smtp.can_starttls() {
                    smtp.starttls(params.clone(), &self.hello).await?;
                }
                smtp
            }
            Security::Plain => {
                AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello).await?
            }
        };
        if let Some(c) = &self.credentials {
            smtp.auth(&[Mechanism::Plain, Mechanism::Login], c).await?;
        }
        Ok(Conn { smtp, mails: 0 })
    }

    /// One transaction on a reused connection if one is idle, else on a new one. A reused
    /// connection the relay has closed meanwhile (idle timeout, a 421 after so many mails)
    /// fails before the mail is taken: then the mail goes at once over a new connection, still
    /// under the caller's one deadline. Not retried: a 5xx (the mail itself is refused), and a
    /// failure after the message data went out without a reply refusing it (the relay may
    /// have the mail; the job's retry later sends it again with the same Message-ID).
    async fn deliver(
        &self,
        envelope: &lettre::address::Envelope,
        raw: &[u8],
    ) -> Result<(), SmtpFail> {
        if let Some(conn) = self.pool.take() {
            match self.pool.run(conn, envelope, raw).await {
                Err(f) if !f.maybe_delivered && !f.fail.is_permanent() => {
                    tracing::debug!(
                        reason = %f.fail.kind(),
                        "a reused relay connection failed; sending over a new one"
                    );
                }
                done => return done.map_err(|f| f.fail),
            }
        }
        let conn = self.connect().await?;
        self.pool.run(conn, envelope, raw).await.map_err(|f| f.fail)
    }
}

impl SmtpMailer {
    /// [`SmtpMailer::deliver`] under one deadline for the whole send, the retry over a new
    /// connection included: a send never takes longer than `timeout`. When it strikes, the
    /// dropped future drops the connection with it.
    async fn deliver_in_time(
        &self,
        envelope: &lettre::address::Envelope,
        raw: &[u8],
    ) -> Result<(), SendError> {
        match tokio::time::timeout(self.timeout, self.deliver(envelope, raw)).await {
            Err(_) => Err(SendError::Temporary(format!(
                "the mail server did not finish within {} s",
                self.timeout.as_secs()
            ))),
            Ok(Ok(())) => Ok(()),
            Ok(Err(fail)) => Err(fail.into_send_error()),
        }
    }
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &OutMail) -> Result<(), SendError> {
        let msg = build_message(mail, &self.from_addr)?;
        let raw = sign(&self.dkim, msg.formatted())?;
        self.deliver_in_time(msg.envelope(), &raw).await
    }

    async fn send_report(&self, to: &str, _id: &str, raw: Vec<u8>) -> Result<(), SendError> {
        let raw = sign(&self.dkim, raw)?;
        let to = to
            .parse()
            .map_err(|e| SendError::Permanent(format!("bad recipient address: {e}")))?;
        let envelope = lettre::address::Envelope::new(None, vec![to])
            .map_err(|e| SendError::Permanent(format!("envelope: {e}")))?;
        self.deliver_in_time(&envelope, &raw).await
    }

    /// QUITs every idle connection (a short wait at most); sends under way keep theirs.
    async fn close(&self) {
        futures::future::join_all(self.pool.take_all().into_iter().map(smtp_conn::quit)).await;
    }
}

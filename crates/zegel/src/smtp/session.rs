//! One SMTP connection: the plain part up to STARTTLS, then a fresh session inside TLS
//! (RFC 3207: nothing learnt before the handshake counts after it).

use super::Gateway;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use smtp_proto::request::receiver::{
    DataReceiver, DummyDataReceiver, LineReceiver, RequestReceiver,
};
use smtp_proto::{Error as ProtoError, Request, AUTH_LOGIN, AUTH_PLAIN};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use zegel_core::model::Principal;
use zegel_core::service::{ClientCtx, MailRefused};

/// How long a client may stay silent (RFC 5321 4.5.3.2 asks at least 5 minutes).
const IDLE: Duration = Duration::from_secs(300);
/// How long the TLS handshake may take.
const HANDSHAKE: Duration = Duration::from_secs(30);
/// Wrong AUTH attempts in one session before it is closed.
const MAX_AUTH_FAILURES: u32 = 3;
/// Bad commands in one session before it is closed.
const MAX_ERRORS: u32 = 10;
/// How long a DATA waits for one of the gateway's mail slots before it is told to come back
/// (452).
const DATA_SLOT_WAIT: Duration = Duration::from_secs(30);
/// Recipients of one mail at most (RFC 5321 asks at least 100 to be accepted).
const MAX_RECIPIENTS: usize = 100;

/// Runs one connection to its end. `admitted`: under the connection limit.
pub(super) async fn run(gw: Arc<Gateway>, tcp: TcpStream, peer: SocketAddr, admitted: bool) {
    let mut tcp = tcp;
    if !admitted {
        let _ = tcp
            .write_all(
                b"421 4.3.2 Te druk, probeer het later opnieuw / Too busy, try again later\r\n",
            )
            .await;
        return;
    }
    let _ = tcp.set_nodelay(true);
    let mut plain = Session::new(gw.clone(), peer, false);
    match plain.run(&mut tcp).await {
        Ok(Next::StartTls) => {}
        Ok(Next::Close) => return,
        Err(e) => {
            tracing::debug!(error = %e, "smtp session ended");
            return;
        }
    }
    let tls = match tokio::time::timeout(HANDSHAKE, gw.tls.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::info!(peer = %peer.ip(), error = %e, "smtp TLS handshake failed");
            return;
        }
        Err(_) => return,
    };
    let mut tls = tls;
    let mut secure = Session::new(gw, peer, true);
    if let Err(e) = secure.run(&mut tls).await {
        tracing::debug!(error = %e, "smtp session ended");
    }
    let _ = tls.shutdown().await;
}

enum Next {
    Close,
    StartTls,
}

/// What the session is reading.
enum Mode {
    Commands,
    /// AUTH's continuation lines.
    Auth(AuthStep, LineReceiver<()>),
    /// The mail after DATA: into `buf` until it passes the limit, then dropped.
    Data {
        rx: DataReceiver,
        buf: Vec<u8>,
        slot: OwnedSemaphorePermit,
    },
    Discard(DummyDataReceiver),
}

enum AuthStep {
    Plain,
    LoginUser,
    LoginPassword(String),
}

/// A command, owned (smtp-proto's borrows the read buffer).
enum Cmd {
    Ehlo,
    Helo,
    StartTls,
    Auth { mechanism: u64, initial: String },
    Mail { size: usize, from: String },
    Rcpt { address: String },
    Data,
    Rset,
    Noop,
    Vrfy,
    Quit,
    Other,
}

impl Cmd {
    fn of(r: Request<std::borrow::Cow<'_, str>>) -> Cmd {
        match r {
            Request::Ehlo { .. } => Cmd::Ehlo,
            Request::Helo { .. } => Cmd::Helo,
            Request::StartTls => Cmd::StartTls,
            Request::Auth {
                mechanism,
                initial_response,
            } => Cmd::Auth {
                mechanism,
                initial: initial_response.into_owned(),
            },
            Request::Mail { from } => Cmd::Mail {
                size: from.size,
                from: from.address.into_owned(),
            },
            Request::Rcpt { to } => Cmd::Rcpt {
                address: to.address.into_owned(),
            },
            Request::Data => Cmd::Data,
            Request::Rset => Cmd::Rset,
            Request::Noop { .. } => Cmd::Noop,
            Request::Vrfy { .. } => Cmd::Vrfy,
            Request::Quit => Cmd::Quit,
            _ => Cmd::Other,
        }
    }
}

/// A mail transaction from another provider.
struct Inbound {
    /// MAIL FROM.
    from: String,
    /// The users the accepted RCPTs name.
    users: Vec<zegel_core::model::User>,
}

struct Session {
    gw: Arc<Gateway>,
    peer: SocketAddr,
    tls: bool,
    greeted: bool,
    principal: Option<Principal>,
    in_mail: bool,
    rcpts: Vec<String>,
    /// Mail from another provider (NTA 7516): over TLS without AUTH, only for users of this
    /// installation's mail domains.
    inbound: Option<Inbound>,
    /// AUTH was tried: a submission client, never taken for another provider.
    tried_auth: bool,
    auth_failures: u32,
    errors: u32,
    mode: Mode,
    out: Vec<u8>,
}

impl Session {
    fn new(gw: Arc<Gateway>, peer: SocketAddr, tls: bool) -> Self {
        Session {
            gw,
            peer,
            tls,
            greeted: false,
            principal: None,
            in_mail: false,
            rcpts: Vec::new(),
            inbound: None,
            tried_auth: false,
            auth_failures: 0,
            errors: 0,
            mode: Mode::Commands,
            out: Vec::with_capacity(512),
        }
    }

    fn ctx(&self) -> ClientCtx {
        ClientCtx {
            ip: Some(self.peer.ip().to_string()),
            user_agent: Some("smtp".into()),
        }
    }

    fn reply(&mut self, line: &str) {
        self.out.extend_from_slice(line.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    async fn flush<S: AsyncWrite + Unpin>(&mut self, s: &mut S) -> std::io::Result<()> {
        if !self.out.is_empty() {
            s.write_all(&self.out).await?;
            s.flush().await?;
            self.out.clear();
        }
        Ok(())
    }

    async fn run<S: AsyncRead + AsyncWrite + Unpin>(&mut self, s: &mut S) -> std::io::Result<Next> {
        if !self.tls {
            let greeting = format!("220 {} ESMTP Zegel", self.gw.hostname);
            self.reply(&greeting);
            self.flush(s).await?;
        }
        let mut receiver = RequestReceiver::default();
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            let n = match tokio::time::timeout(IDLE, s.read(&mut chunk)).await {
                Ok(r) => r?,
                Err(_) => {
                    self.reply("421 4.4.2 Verbinding verlopen / Idle too long, closing");
                    self.flush(s).await?;
                    return Ok(Next::Close);
                }
            };
            if n == 0 {
                return Ok(Next::Close);
            }
            let mut bytes = chunk[..n].iter();
            while bytes.len() > 0 {
                let next = match std::mem::replace(&mut self.mode, Mode::Commands) {
                    Mode::Commands => match receiver.ingest(&mut bytes) {
                        Ok(r) => {
                            let cmd = Cmd::of(r);
                            self.command(cmd).await
                        }
                        Err(ProtoError::NeedsMoreData { .. }) => break,
                        Err(e) => {
                            self.syntax_error(&e);
                            None
                        }
                    },
                    Mode::Auth(step, mut line) => {
                        if line.ingest(&mut bytes) {
                            let text = String::from_utf8_lossy(&line.buf).trim().to_owned();
                            self.auth_line(step, &text).await
                        } else {
                            self.mode = Mode::Auth(step, line);
                            break;
                        }
                    }
                    Mode::Data {
                        mut rx,
                        mut buf,
                        slot,
                    } => {
                        if rx.ingest(&mut bytes, &mut buf) {
                            self.end_of_data(buf).await;
                            drop(slot);
                        } else if buf.len() > self.gw.max_bytes {
                            // Past the limit: the rest is read and dropped.
                            self.mode = Mode::Discard(DummyDataReceiver::new_data(&rx));
                        } else {
                            self.mode = Mode::Data { rx, buf, slot };
                        }
                        None
                    }
                    Mode::Discard(mut rx) => {
                        if rx.ingest(&mut bytes) {
                            if self.inbound.is_none() {
                                self.record_refused("SMTP 552 5.3.4").await;
                            }
                            self.reset();
                            let max = self.gw.max_bytes;
                            self.reply(&format!(
                                "552 5.3.4 Bericht te groot (max {max} bytes) / Message too big (max {max} bytes)"
                            ));
                        } else {
                            self.mode = Mode::Discard(rx);
                        }
                        None
                    }
                };
                if let Some(next) = next {
                    // Anything pipelined behind STARTTLS or QUIT is dropped with `bytes`.
                    self.flush(s).await?;
                    return Ok(next);
                }
            }
            self.flush(s).await?;
        }
    }

    fn syntax_error(&mut self, e: &ProtoError) {
        self.errors += 1;
        match e {
            ProtoError::ResponseTooLong => self.reply("500 5.5.2 Regel te lang / Line too long"),
            ProtoError::UnknownCommand => {
                self.reply("500 5.5.1 Onbekend commando / Command not recognised")
            }
            ProtoError::InvalidSenderAddress | ProtoError::InvalidRecipientAddress => {
                self.reply("501 5.1.3 Ongeldig adres / Bad address syntax")
            }
            ProtoError::UnsupportedParameter { .. } | ProtoError::InvalidParameter { .. } => {
                self.reply("555 5.5.4 Parameter niet ondersteund / Parameter not supported")
            }
            _ => self.reply("501 5.5.2 Syntaxfout / Syntax error"),
        }
    }

    /// A signed-in user's mail was refused: an `account.send_failed` audit entry with the
    /// reply's codes, as a refused send through the API or the web app is (NTA 7516 §6.4.2:
    /// failed sends too). A session that is not signed in (mail from another provider) sends
    /// nothing of its own; a rate-limited MAIL is not a send.
    async fn record_refused(&self, reply: &str) {
        if let Some(p) = &self.principal {
            self.gw
                .z
                .record_refused_send(&p.user.id, &self.ctx(), reply)
                .await;
        }
    }

    fn reset(&mut self) {
        self.in_mail = false;
        self.rcpts.clear();
        self.inbound = None;
    }

    fn ehlo(&mut self) {
        let max = self.gw.max_bytes;
        let host = self.gw.hostname.clone();
        self.reply(&format!("250-{host}"));
        self.reply("250-PIPELINING");
        self.reply(&format!("250-SIZE {max}"));
        self.reply("250-8BITMIME");
        self.reply("250-ENHANCEDSTATUSCODES");
        if self.tls {
            self.reply("250-AUTH PLAIN LOGIN");
        } else {
            self.reply("250-STARTTLS");
        }
        self.reply("250 HELP");
    }

    /// Answers a command (into `out`); `Some` ends the plain session or the connection.
    async fn command(&mut self, cmd: Cmd) -> Option<Next> {
        match cmd {
            Cmd::Ehlo => {
                self.reset();
                self.greeted = true;
                self.ehlo();
            }
            Cmd::Helo => {
                self.reset();
                self.greeted = true;
                let host = self.gw.hostname.clone();
                self.reply(&format!("250 {host}"));
            }
            Cmd::StartTls if self.tls => {
                self.reply("503 5.5.1 TLS is al actief / TLS already active")
            }
            Cmd::StartTls => {
                self.reply("220 2.0.0 Klaar voor TLS / Ready to start TLS");
                return Some(Next::StartTls);
            }
            Cmd::Auth { .. } if !self.tls => {
                self.reply("530 5.7.0 Eerst STARTTLS / Must issue a STARTTLS command first")
            }
            Cmd::Auth { .. } if self.principal.is_some() => {
                self.reply("503 5.5.1 Al aangemeld / Already authenticated")
            }
            Cmd::Auth { .. } if !self.greeted => {
                self.reply("503 5.5.1 Eerst EHLO / Send EHLO first")
            }
            Cmd::Auth { .. } if self.in_mail => {
                self.reply("503 5.5.1 Niet tijdens een bericht / Not during a mail transaction")
            }
            Cmd::Auth { mechanism, initial } => return self.auth_start(mechanism, initial).await,
            Cmd::Mail { .. } if !self.tls => {
                self.reply("530 5.7.0 Eerst STARTTLS / Must issue a STARTTLS command first")
            }
            Cmd::Mail { .. } if self.in_mail => {
                self.reply("503 5.5.1 Al een afzender / Sender already given")
            }
            Cmd::Mail { size, .. } if size > self.gw.max_bytes => {
                self.record_refused("SMTP 552 5.3.4").await;
                let max = self.gw.max_bytes;
                self.reply(&format!(
                    "552 5.3.4 Bericht te groot (max {max} bytes) / Message too big (max {max} bytes)"
                ));
            }
            Cmd::Mail { .. } if self.principal.is_none() && self.tried_auth => {
                self.reply("530 5.7.0 Aanmelden vereist / Authentication required")
            }
            // Signed in: a submission, limited per credential. Over TLS without AUTH: mail
            // from another provider, for local users only (RCPT), limited per address.
            Cmd::Mail { from, .. } => {
                let key = match &self.principal {
                    Some(p) => p.user.id.clone(),
                    None => format!("peer:{}", self.peer.ip()),
                };
                if self.gw.per_credential.check_key(&key).is_err() {
                    self.reply(
                        "451 4.7.0 Te veel berichten, probeer het zo opnieuw / Rate limit reached, try again shortly",
                    );
                } else {
                    self.in_mail = true;
                    self.inbound = self.principal.is_none().then(|| Inbound {
                        from: from.trim().to_ascii_lowercase(),
                        users: Vec::new(),
                    });
                    self.reply("250 2.1.0 Ok");
                }
            }
            Cmd::Rcpt { .. } if !self.in_mail => {
                self.reply("503 5.5.1 Eerst MAIL / Need MAIL first")
            }
            Cmd::Rcpt { .. } if self.rcpts.len() >= MAX_RECIPIENTS => {
                self.reply("452 4.5.3 Te veel ontvangers / Too many recipients")
            }
            Cmd::Rcpt { address } => {
                let address = address.trim().to_lowercase();
                if address.is_empty() || !address.contains('@') {
                    self.reply("501 5.1.3 Ongeldig adres / Bad recipient address");
                } else if self.rcpts.contains(&address) {
                    self.reply("250 2.1.5 Ok");
                } else if self.inbound.is_some() {
                    self.inbound_rcpt(address).await;
                } else {
                    self.rcpts.push(address);
                    self.reply("250 2.1.5 Ok");
                }
            }
            Cmd::Data if !self.in_mail || self.rcpts.is_empty() => {
                self.reply("503 5.5.1 Eerst MAIL en RCPT / Need MAIL and RCPT first")
            }
            Cmd::Data => match tokio::time::timeout(
                DATA_SLOT_WAIT,
                self.gw.data_slots.clone().acquire_owned(),
            )
            .await
            {
                Ok(Ok(slot)) => {
                    self.mode = Mode::Data {
                        rx: DataReceiver::new(),
                        buf: Vec::with_capacity(64 * 1024),
                        slot,
                    };
                    self.reply("354 Einde met <CR><LF>.<CR><LF> / End data with <CR><LF>.<CR><LF>");
                }
                Ok(Err(_)) | Err(_) => self.reply(
                    "452 4.3.1 Te druk, probeer het zo opnieuw / Too busy, try again shortly",
                ),
            },
            Cmd::Rset => {
                self.reset();
                self.reply("250 2.0.0 Ok");
            }
            Cmd::Noop => self.reply("250 2.0.0 Ok"),
            Cmd::Vrfy => self.reply("252 2.5.0 Niet gecontroleerd / Cannot verify"),
            Cmd::Quit => {
                self.reply("221 2.0.0 Tot ziens / Bye");
                return Some(Next::Close);
            }
            Cmd::Other => {
                self.errors += 1;
                self.reply("502 5.5.1 Niet ondersteund / Command not implemented");
            }
        }
        if self.errors >= MAX_ERRORS {
            self.reply("421 4.7.0 Te veel fouten / Too many errors, closing");
            return Some(Next::Close);
        }
        None
    }

    /// A RCPT from another provider: only a user of one of this installation's mail domains.
    async fn inbound_rcpt(&mut self, address: String) {
        match self.gw.z.local_recipient(&address).await {
            Ok(Some(user)) => {
                if let Some(inbound) = self.inbound.as_mut() {
                    if !inbound.users.iter().any(|u| u.id == user.id) {
                        inbound.users.push(user);
                    }
                }
                self.rcpts.push(address);
                self.reply("250 2.1.5 Ok");
            }
            Ok(None) => self.reply(
                "550 5.7.1 Geen ontvanger hier; doorsturen kan alleen na aanmelden / Relaying denied: no such user here",
            ),
            Err(e) => {
                tracing::error!(error = %e, "smtp recipient lookup");
                self.reply("451 4.3.0 Tijdelijke fout, probeer het later opnieuw / Temporary failure, try again later");
            }
        }
    }

    async fn auth_start(&mut self, mechanism: u64, initial: String) -> Option<Next> {
        self.tried_auth = true;
        let step = if mechanism == AUTH_PLAIN {
            AuthStep::Plain
        } else if mechanism == AUTH_LOGIN {
            AuthStep::LoginUser
        } else {
            self.reply("504 5.5.4 Alleen PLAIN en LOGIN / Unrecognized authentication type");
            return None;
        };
        let key = crate::http::proxy::rate_key(self.peer.ip());
        if let Err(secs) = self
            .gw
            .auth_attempts
            .check(crate::http::ratelimit::Bucket::FailedAuth, key)
        {
            self.reply(&format!(
                "454 4.7.0 Te veel pogingen, probeer het over {secs} s opnieuw / Too many attempts, try again in {secs} s"
            ));
            return Some(Next::Close);
        }
        if !initial.is_empty() && initial != "=" {
            // The answer came with the command (RFC 4954 initial response).
            return self.auth_line(step, &initial).await;
        }
        match step {
            AuthStep::Plain => self.reply("334 "),
            AuthStep::LoginUser => self.reply("334 VXNlcm5hbWU6"),
            AuthStep::LoginPassword(_) => {}
        }
        self.mode = Mode::Auth(step, LineReceiver::new(()));
        None
    }

    /// One line of an AUTH exchange (base64).
    async fn auth_line(&mut self, step: AuthStep, text: &str) -> Option<Next> {
        if text == "*" {
            self.reply("501 5.0.0 Aanmelden afgebroken / Authentication cancelled");
            return None;
        }
        let Ok(decoded) = B64.decode(text) else {
            self.reply("501 5.5.2 Geen geldige base64 / Invalid base64");
            return None;
        };
        let decoded = zeroize::Zeroizing::new(decoded);
        let (user, password) = match step {
            AuthStep::Plain => {
                // authzid NUL authcid NUL passwd (RFC 4616)
                let mut parts = decoded.split(|b| *b == 0);
                let (Some(authzid), Some(user), Some(pw), None) =
                    (parts.next(), parts.next(), parts.next(), parts.next())
                else {
                    self.reply("501 5.5.2 Ongeldig PLAIN-antwoord / Malformed PLAIN response");
                    return None;
                };
                if !authzid.is_empty() && authzid != user {
                    // Submitting as someone else is never allowed.
                    return self.auth_failed().await;
                }
                (
                    String::from_utf8_lossy(user).into_owned(),
                    zeroize::Zeroizing::new(String::from_utf8_lossy(pw).into_owned()),
                )
            }
            AuthStep::LoginUser => {
                let user = String::from_utf8_lossy(&decoded).into_owned();
                self.reply("334 UGFzc3dvcmQ6");
                self.mode = Mode::Auth(AuthStep::LoginPassword(user), LineReceiver::new(()));
                return None;
            }
            AuthStep::LoginPassword(user) => (
                user,
                zeroize::Zeroizing::new(String::from_utf8_lossy(&decoded).into_owned()),
            ),
        };
        let ctx = self.ctx();
        match self.gw.z.authenticate_smtp(&user, &password, &ctx).await {
            Ok(p) => {
                tracing::info!(user = %p.user.id, peer = %self.peer.ip(), "smtp authenticated");
                self.principal = Some(p);
                self.reply("235 2.7.0 Aangemeld / Authentication successful");
                None
            }
            Err(zegel_core::Error::Unauthorized) => self.auth_failed().await,
            Err(e) => {
                tracing::error!(error = %e, "smtp authentication");
                self.reply("454 4.7.0 Tijdelijke fout, probeer het later opnieuw / Temporary authentication failure");
                None
            }
        }
    }

    async fn auth_failed(&mut self) -> Option<Next> {
        self.auth_failures += 1;
        if self.auth_failures >= MAX_AUTH_FAILURES {
            self.reply("421 4.7.0 Te veel mislukte pogingen / Too many failed attempts, closing");
            return Some(Next::Close);
        }
        self.reply(
            "535 5.7.8 Onjuiste gebruikersnaam of wachtwoord / Authentication credentials invalid",
        );
        None
    }

    /// The mail is in: stored as a secure message (250 only once it is durable), or refused.
    async fn end_of_data(&mut self, raw: Vec<u8>) {
        if let Some(inbound) = self.inbound.take() {
            return self.end_of_inbound(inbound, raw).await;
        }
        let Some(principal) = self.principal.clone() else {
            self.reset();
            self.reply("530 5.7.0 Aanmelden vereist / Authentication required");
            return;
        };
        let rcpts = std::mem::take(&mut self.rcpts);
        self.reset();
        let ctx = self.ctx();
        let z = self.gw.z.clone();
        match z.submit_mail(&principal, &rcpts, &raw, &ctx).await {
            Ok(created) => {
                tracing::info!(message = %created.id, user = %principal.user.id, recipients = rcpts.len(), "smtp mail stored");
                self.reply(&format!(
                    "250 2.0.0 Beveiligd verstuurd / Stored as secure message {}",
                    created.id
                ));
            }
            Err(refused) => {
                tracing::info!(user = %principal.user.id, temporary = refused.is_temporary(), "smtp mail refused");
                let (code, enhanced) = refusal_codes(&refused);
                self.record_refused(&format!("SMTP {code} {enhanced}"))
                    .await;
                let english = one_line(&refused.to_string());
                self.reply(&format!("{code}-{enhanced} {}", refused.dutch()));
                self.reply(&format!("{code} {enhanced} {english}"));
            }
        }
    }
}

impl Session {
    /// Mail from another provider is in: stored in each addressee's inbox (250 once durable).
    async fn end_of_inbound(&mut self, inbound: Inbound, raw: Vec<u8>) {
        self.reset();
        let ctx = self.ctx();
        let z = self.gw.z.clone();
        match z
            .receive_mail(&inbound.users, &inbound.from, &raw, &ctx)
            .await
        {
            Ok(ids) => {
                tracing::info!(peer = %self.peer.ip(), users = ids.len(), "smtp mail from another provider stored");
                self.reply("250 2.0.0 Beveiligd ontvangen / Stored as secure mail");
            }
            Err(refused) => {
                tracing::info!(peer = %self.peer.ip(), temporary = refused.is_temporary(), "smtp mail from another provider refused");
                let (code, enhanced) = refusal_codes(&refused);
                let english = one_line(&refused.to_string());
                self.reply(&format!("{code}-{enhanced} {}", refused.dutch()));
                self.reply(&format!("{code} {enhanced} {english}"));
            }
        }
    }
}

/// The reply code and enhanced status code (RFC 3463) of a refusal.
fn refusal_codes(r: &MailRefused) -> (u16, &'static str) {
    use zegel_core::error::TooLarge;
    match r {
        MailRefused::Unavailable(_) => (451, "4.3.0"),
        MailRefused::Refused(zegel_core::Error::TooLarge(TooLarge::Attachments { .. }))
        | MailRefused::Refused(zegel_core::Error::TooLarge(_)) => (552, "5.3.4"),
        MailRefused::SmsNumberUnknown { .. } | MailRefused::PhoneCode { .. } => (550, "5.7.1"),
        MailRefused::Unreadable | MailRefused::Winmail => (554, "5.6.0"),
        MailRefused::Refused(_) => (554, "5.6.0"),
    }
}

/// A reply line never carries CR or LF of its own.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

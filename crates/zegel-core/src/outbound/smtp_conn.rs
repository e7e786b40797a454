//! The relay connection mechanics behind `SmtpMailer`: one transaction on a connection, the
//! pool of idle connections and the implicit-TLS (`smtps://`) stream on our own socket.

use super::SendError;
use lettre::address::Envelope;
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{Extension, MailBodyParameter, MailParameter};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// At most this many idle relay connections are kept: one per delivery the worker runs at
/// once (`CONCURRENCY` in `service/jobs.rs`), so a busy worker does not open and close one
/// per mail.
const MAX_IDLE: usize = 32;
/// An idle connection unused for this long is dropped, not reused: relays close idle sessions
/// (RFC 5321 asks for at least 5 minutes, many use less), and a short limit keeps the retry on
/// a closed connection rare.
const IDLE_FOR: Duration = Duration::from_secs(30);
/// A connection is closed (QUIT) after this many mails.
const MAILS_PER_CONNECTION: u32 = 100;
/// How long a courtesy QUIT may take.
const QUIT_TIMEOUT: Duration = Duration::from_secs(2);

/// An authenticated relay connection (TLS as the policy asks) with no transaction open.
pub(super) struct Conn {
    pub(super) smtp: AsyncSmtpConnection,
    /// Mails accepted on this connection so far.
    pub(super) mails: u32,
}

/// A failed SMTP step.
pub(super) enum SmtpFail {
    /// A negative reply, a bad reply or a lettre client-side refusal.
    Smtp(lettre::transport::smtp::Error),
    /// Connecting, reading or writing.
    Io(std::io::Error),
    /// The implicit-TLS handshake (e.g. an untrusted certificate).
    Tls(std::io::Error),
    /// The mail needs an extension the relay does not offer.
    Unsupported(&'static str),
}

impl From<lettre::transport::smtp::Error> for SmtpFail {
    fn from(e: lettre::transport::smtp::Error) -> Self {
        SmtpFail::Smtp(e)
    }
}

impl SmtpFail {
    /// A 5xx reply.
    pub(super) fn is_permanent(&self) -> bool {
        matches!(self, SmtpFail::Smtp(e) if e.is_permanent())
    }

    /// A 4xx or 5xx reply: the relay answered, and did not take the mail.
    fn is_reply(&self) -> bool {
        matches!(self, SmtpFail::Smtp(e) if e.is_permanent() || e.is_transient())
    }

    /// The relay and we still agree where the session stands (a reply, or a refusal before
    /// any command): the connection can be closed politely.
    fn in_step(&self) -> bool {
        self.is_reply() || matches!(self, SmtpFail::Unsupported(_))
    }

    /// For logs: no server text (it may hold an address).
    pub(super) fn kind(&self) -> String {
        match self {
            SmtpFail::Smtp(e) => match e.status() {
                Some(code) => format!("reply {code}"),
                None if e.is_client() => "client".into(),
                None => "bad or missing reply".into(),
            },
            SmtpFail::Io(_) => "connection".into(),
            SmtpFail::Tls(_) => "TLS".into(),
            SmtpFail::Unsupported(_) => "unsupported".into(),
        }
    }

    pub(super) fn into_send_error(self) -> SendError {
        match self {
            SmtpFail::Io(e) => SendError::Temporary(format!("connection error: {e}")),
            SmtpFail::Tls(e) => SendError::Temporary(format!("TLS: {e}")),
            SmtpFail::Unsupported(what) => SendError::Temporary(what.to_string()),
            SmtpFail::Smtp(e) if e.is_permanent() => SendError::Permanent(e.to_string()),
            SmtpFail::Smtp(e) => SendError::Temporary(e.to_string()),
        }
    }
}

/// A failed transaction on a connection.
pub(super) struct TxFail {
    pub(super) fail: SmtpFail,
    /// The message data went out and no reply refused it: the relay may have the mail, so it
    /// is not sent again at once.
    pub(super) maybe_delivered: bool,
}

/// MAIL, RCPT, DATA, message. On success the connection is ready for the next mail.
pub(super) async fn transaction(
    conn: &mut Conn,
    envelope: &Envelope,
    raw: &[u8],
) -> Result<(), TxFail> {
    let before = |fail: SmtpFail| TxFail {
        fail,
        maybe_delivered: false,
    };
    // As lettre's own `send`: SMTPUTF8 for non-ASCII addresses, 8BITMIME for non-ASCII data.
    let mut params = Vec::new();
    let non_ascii_address = envelope
        .from()
        .into_iter()
        .chain(envelope.to())
        .any(|a| !AsRef::<str>::as_ref(a).is_ascii());
    let info = conn.smtp.server_info();
    if non_ascii_address {
        if !info.supports_feature(Extension::SmtpUtfEight) {
            return Err(before(SmtpFail::Unsupported(
                "the mail server does not support SMTPUTF8 for a non-ASCII address",
            )));
        }
        params.push(MailParameter::SmtpUtfEight);
    }
    if !raw.is_ascii() {
        if !info.supports_feature(Extension::EightBitMime) {
            return Err(before(SmtpFail::Unsupported(
                "the mail server does not support 8BITMIME for non-ASCII content",
            )));
        }
        params.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    let smtp = &mut conn.smtp;
    smtp.command(Mail::new(envelope.from().cloned(), params))
        .await
        .map_err(|e| before(e.into()))?;
    for to in envelope.to() {
        smtp.command(Rcpt::new(to.clone(), vec![]))
            .await
            .map_err(|e| before(e.into()))?;
    }
    smtp.command(Data).await.map_err(|e| before(e.into()))?;
    smtp.message(raw).await.map_err(|e| {
        let fail = SmtpFail::from(e);
        TxFail {
            maybe_delivered: !fail.is_reply(),
            fail,
        }
    })?;
    conn.mails += 1;
    Ok(())
}

struct Idle {
    conn: Conn,
    since: Instant,
}

/// Idle connections, shared by the clones of one `SmtpMailer`. A connection is only in here
/// between two fully successful transactions; a checked-out one belongs to one send.
#[derive(Default)]
pub(super) struct Pool {
    idle: Mutex<Vec<Idle>>,
}

impl Pool {
    /// The most recently used idle connection that is not stale; stale ones are dropped.
    pub(super) fn take(&self) -> Option<Conn> {
        let (conn, stale) = {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            // Pushed in the order they were last used: the stale ones are at the front.
            let fresh_from = idle
                .iter()
                .position(|i| i.since.elapsed() < IDLE_FOR)
                .unwrap_or(idle.len());
            let stale: Vec<Idle> = idle.drain(..fresh_from).collect();
            (idle.pop().map(|i| i.conn), stale)
        };
        // Stale connections are closed without QUIT (outside the lock).
        drop(stale);
        conn
    }

    /// One transaction on `conn`. After success the connection goes back into the pool; after
    /// a failure it is never reused: if the relay is still in step it gets a courtesy QUIT (in
    /// the background), otherwise it is just closed.
    pub(super) async fn run(
        &self,
        mut conn: Conn,
        envelope: &Envelope,
        raw: &[u8],
    ) -> Result<(), TxFail> {
        let done = transaction(&mut conn, envelope, raw).await;
        match &done {
            Ok(()) => self.put(conn),
            Err(f) if f.fail.in_step() => quit_in_background(conn),
            Err(_) => {}
        }
        done
    }

    /// Puts a connection back after a successful transaction; a worn-out one, or one more than
    /// the pool holds, is closed with QUIT in the background instead.
    fn put(&self, conn: Conn) {
        let conn = if conn.mails >= MAILS_PER_CONNECTION {
            Some(conn)
        } else {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            if idle.len() >= MAX_IDLE {
                Some(conn)
            } else {
                idle.push(Idle {
                    conn,
                    since: Instant::now(),
                });
                None
            }
        };
        if let Some(c) = conn {
            quit_in_background(c);
        }
    }

    /// Empties the pool.
    pub(super) fn take_all(&self) -> Vec<Conn> {
        std::mem::take(&mut *self.idle.lock().unwrap_or_else(PoisonError::into_inner))
            .into_iter()
            .map(|i| i.conn)
            .collect()
    }
}

/// Sends QUIT (bounded by `QUIT_TIMEOUT`) and closes.
pub(super) async fn quit(mut conn: Conn) {
    let _ = tokio::time::timeout(QUIT_TIMEOUT, conn.smtp.quit()).await;
}

/// Like `quit`, without making the caller wait: the mail is already sent, and a relay slow to
/// answer QUIT must not turn a delivered mail into a timed-out one.
pub(super) fn quit_in_background(conn: Conn) {
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn(quit(conn));
    }
}

/// TLS from the first byte (`smtps://`) with rustls (ring) on a socket we opened ourselves, so
/// it has TCP_NODELAY like the plain and STARTTLS sockets (lettre's own smtps connect has not).
#[derive(Clone)]
pub(super) struct ImplicitTls {
    connector: tokio_rustls::TlsConnector,
    name: ServerName<'static>,
}

impl ImplicitTls {
    /// Trusts the system's roots plus the extra CA; the certificate must match `host`.
    pub(super) fn new(
        host: &str,
        extra_ca: Option<&[CertificateDer<'static>]>,
    ) -> Result<Self, String> {
        let config = pkix_config(extra_ca.unwrap_or_default())?;
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| format!("ZEGEL_SMTP_URL host {host}: {e}"))?;
        Ok(ImplicitTls {
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
            name,
        })
    }

    /// The TLS handshake; an untrusted or wrong certificate fails here.
    pub(super) async fn handshake(&self, tcp: TcpStream) -> io::Result<TlsStream> {
        self.connector
            .connect(self.name.clone(), tcp)
            .await
            .map(TlsStream)
    }
}

/// A TLS client configuration (rustls, ring) that trusts the system's CAs plus `extra_ca`.
pub(super) fn pkix_config(extra_ca: &[CertificateDer<'static>]) -> Result<ClientConfig, String> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let (added, ignored) = roots.add_parsable_certificates(native.certs);
    tracing::debug!(
        added,
        ignored,
        errors = native.errors.len(),
        "system CA certificates"
    );
    for cert in extra_ca {
        roots
            .add(cert.clone())
            .map_err(|e| format!("ZEGEL_SMTP_CA_FILE: {e}"))?;
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Parses the extra CA file: at least one certificate, nothing unparsable.
pub(super) fn parse_ca_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("ZEGEL_SMTP_CA_FILE: {e}"))?;
    if certs.is_empty() {
        return Err("ZEGEL_SMTP_CA_FILE: no certificate in the file".into());
    }
    // Each must be usable as a trust anchor.
    let mut check = RootCertStore::empty();
    for cert in &certs {
        check
            .add(cert.clone())
            .map_err(|e| format!("ZEGEL_SMTP_CA_FILE: {e}"))?;
    }
    Ok(certs)
}

/// A client TLS stream that lettre can run SMTP over.
pub(super) struct TlsStream(tokio_rustls::client::TlsStream<TcpStream>);

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsStream")
    }
}

impl AsyncRead for TlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for TlsStream {
    fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

//! The SMTP session of one direct delivery attempt, on our own socket so that the message
//! streams out as it is read (lettre's client takes a whole message at once): replies parsed by
//! smtp-proto, STARTTLS by rustls (ring), the data dot-stuffed as RFC 5321 §4.5.2 asks. A
//! message whose source fails part-way is abandoned by closing the connection before the final
//! ".", so the provider never takes a truncated mail (RFC 5321 §4.1.1.4).

use super::dane::Tlsa;
use super::streamed::StreamedMail;
use futures::StreamExt;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use smtp_proto::response::parser::ResponseReceiver;
use smtp_proto::{EhloResponse, Response};
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{
    verify_tls12_signature, verify_tls13_signature, CryptoProvider,
};
use tokio_rustls::rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};

/// How long the courtesy QUIT after a delivery may take.
const QUIT_TIMEOUT: Duration = Duration::from_secs(2);
/// The most a reply may hold (smtp-proto refuses longer ones).
const READ_CHUNK: usize = 4096;

/// Why an attempt failed.
#[derive(Debug)]
pub(super) enum Fail {
    /// A reply other than the one the step needs: its code and the provider's words.
    Reply(u16, String),
    /// Connecting, reading or writing.
    Io(io::Error),
    /// The TLS handshake or the certificate check.
    Tls(String),
    /// A reply that could not be read, or the connection ended.
    Protocol(String),
    /// The provider cannot take this mail (no STARTTLS, too large, no 8BITMIME).
    Unsupported(String),
    /// The message could not be read (ours, not the provider's).
    Source(String),
}

impl Fail {
    /// A 5xx reply: the provider's answer about this mail.
    pub(super) fn is_permanent(&self) -> bool {
        matches!(self, Fail::Reply(code, _) if *code >= 500)
    }

    /// For logs: no server text (it may hold an address).
    pub(super) fn kind(&self) -> String {
        match self {
            Fail::Reply(code, _) => format!("reply {code}"),
            Fail::Io(_) => "connection".into(),
            Fail::Tls(_) => "TLS".into(),
            Fail::Protocol(_) => "bad or missing reply".into(),
            Fail::Unsupported(_) => "unsupported".into(),
            Fail::Source(_) => "reading the message".into(),
        }
    }
}

/// A reply that refuses the step, on one line (a multi-line reply's lines joined), with its
/// enhanced status code.
fn refused(r: Response<String>) -> Fail {
    let lines: Vec<&str> = r
        .message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let text = match r.esc {
        [0, ..] => lines.join(" "),
        [a, b, c] => format!("{a}.{b}.{c} {}", lines.join(" ")),
    };
    Fail::Reply(r.code, text)
}

/// For the sender's events: the provider's reply, or what broke.
impl std::fmt::Display for Fail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fail::Reply(code, text) => write!(f, "{code} {text}"),
            Fail::Io(e) => write!(f, "connection: {e}"),
            Fail::Tls(e) => write!(f, "TLS: {e}"),
            Fail::Protocol(e) => write!(f, "connection: {e}"),
            Fail::Unsupported(e) => f.write_str(e),
            Fail::Source(e) => write!(f, "reading the message: {e}"),
        }
    }
}

/// The TLS configurations of direct delivery.
pub(super) struct Tls {
    pkix: tokio_rustls::TlsConnector,
    any: tokio_rustls::TlsConnector,
}

impl Tls {
    /// Trusts the system's CAs plus `extra_ca` (for a host without DANE).
    pub(super) fn new(extra_ca: &[CertificateDer<'static>]) -> Result<Self, String> {
        let pkix = super::smtp_conn::pkix_config(extra_ca)?;
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let any = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth();
        Ok(Tls {
            pkix: tokio_rustls::TlsConnector::from(Arc::new(pkix)),
            any: tokio_rustls::TlsConnector::from(Arc::new(any)),
        })
    }
}

/// What one session needs to know.
pub(super) struct Attempt<'a> {
    /// The host's name (TLS server name, certificate check).
    pub host: &'a str,
    /// Our EHLO name.
    pub hello: &'a str,
    /// Envelope sender and recipient (already checked as addresses).
    pub from: &'a str,
    pub to: &'a str,
    /// A `DKIM-Signature` header to put in front of the mail.
    pub dkim_header: Option<&'a [u8]>,
}

/// One SMTP session on `tcp`: STARTTLS required, then MAIL, RCPT, DATA with `mail` streamed.
/// The certificate is checked against the CAs for the host's name, or with `dane` (the host's
/// validated TLSA records) against those alone: then the handshake only proves the host holds
/// the certificate's key, and the records decide before any mail is sent (a DANE-EE host may
/// have a self-signed certificate). `Ok`: the DANE record kind that matched.
pub(super) async fn deliver(
    mut tcp: TcpStream,
    tls: &Tls,
    dane: Option<&[Tlsa]>,
    a: &Attempt<'_>,
    mail: &StreamedMail<'_>,
) -> Result<Option<&'static str>, Fail> {
    expect(&mut tcp, 220).await?;
    let ehlo = ehlo(&mut tcp, a.hello).await?;
    // NTA 7516: never in plain text. A host without STARTTLS is a failure.
    if ehlo.capabilities & smtp_proto::EXT_START_TLS == 0 {
        return Err(Fail::Unsupported(
            "the provider's mail server does not offer STARTTLS".into(),
        ));
    }
    command(&mut tcp, "STARTTLS\r\n", 220).await?;
    let name = ServerName::try_from(a.host.to_owned())
        .map_err(|e| Fail::Tls(format!("the host name {}: {e}", a.host)))?;
    let connector = if dane.is_some() { &tls.any } else { &tls.pkix };
    let mut s = connector
        .connect(name, tcp)
        .await
        .map_err(|e| Fail::Tls(e.to_string()))?;
    let how = match dane {
        None => None,
        Some(records) => {
            let chain: Vec<Vec<u8>> = s
                .get_ref()
                .1
                .peer_certificates()
                .unwrap_or_default()
                .iter()
                .map(|c| c.to_vec())
                .collect();
            match super::dane::check(records, &chain, a.host, UnixTime::now()) {
                Ok(how) => Some(how),
                Err(why) => {
                    quit_in_background(s);
                    return Err(Fail::Tls(why));
                }
            }
        }
    };
    let done = transaction(&mut s, a, mail).await;
    match &done {
        Ok(()) | Err(Fail::Reply(..) | Fail::Unsupported(_)) => quit_in_background(s),
        // Part of the data went out, or the session is out of step: close without QUIT.
        Err(_) => {}
    }
    done.map(|()| how)
}

/// EHLO, MAIL, RCPT, DATA and the mail, on the TLS session.
async fn transaction<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    a: &Attempt<'_>,
    mail: &StreamedMail<'_>,
) -> Result<(), Fail> {
    let ehlo = ehlo(s, a.hello).await?;
    let size = mail.size() + a.dkim_header.map_or(0, |h| h.len() as u64);
    let has = |ext: u32| ehlo.capabilities & ext != 0;
    let mut params = String::new();
    if has(smtp_proto::EXT_SIZE) {
        if ehlo.size > 0 && size > ehlo.size as u64 {
            return Err(Fail::Unsupported(format!(
                "the provider takes mail up to {} MiB, this one is {} MiB",
                ehlo.size >> 20,
                size.div_ceil(1 << 20)
            )));
        }
        params.push_str(&format!(" SIZE={size}"));
    }
    if !mail.is_ascii() {
        if !has(smtp_proto::EXT_8BIT_MIME) {
            return Err(Fail::Unsupported(
                "the provider's mail server does not support 8BITMIME for non-ASCII content".into(),
            ));
        }
        params.push_str(" BODY=8BITMIME");
    }
    if !(a.from.is_ascii() && a.to.is_ascii()) {
        if !has(smtp_proto::EXT_SMTP_UTF8) {
            return Err(Fail::Unsupported(
                "the provider's mail server does not support SMTPUTF8 for a non-ASCII address"
                    .into(),
            ));
        }
        params.push_str(" SMTPUTF8");
    }
    command(s, &format!("MAIL FROM:<{}>{params}\r\n", a.from), 250).await?;
    let rcpt = command_any(s, &format!("RCPT TO:<{}>\r\n", a.to)).await?;
    if !matches!(rcpt.code, 250 | 251) {
        return Err(refused(rcpt));
    }
    command(s, "DATA\r\n", 354).await?;
    let mut stuffer = DotStuffer::default();
    let mut out = Vec::with_capacity(80 * 1024);
    if let Some(h) = a.dkim_header {
        stuffer.push(h, &mut out);
    }
    let mut chunks = mail.chunks();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(Fail::Source)?;
        stuffer.push(&chunk, &mut out);
        s.write_all(&out).await.map_err(Fail::Io)?;
        out.clear();
    }
    stuffer.finish(&mut out);
    s.write_all(&out).await.map_err(Fail::Io)?;
    s.flush().await.map_err(Fail::Io)?;
    expect(s, 250).await?;
    Ok(())
}

/// RFC 5321 §4.5.2: a line that begins with "." gets another in front; the data ends with
/// CRLF "." CRLF.
#[derive(Default)]
struct DotStuffer {
    /// The last byte written was not the end of a line.
    mid_line: bool,
}

impl DotStuffer {
    fn push(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let mut rest = data;
        while !rest.is_empty() {
            if !self.mid_line && rest[0] == b'.' {
                out.push(b'.');
            }
            let line_end = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
            out.extend_from_slice(&rest[..line_end]);
            self.mid_line = rest[line_end - 1] != b'\n';
            rest = &rest[line_end..];
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if self.mid_line {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
    }
}

/// Sends `line` and reads the reply, which must have code `want`.
async fn command<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    line: &str,
    want: u16,
) -> Result<(), Fail> {
    send(s, line).await?;
    expect(s, want).await.map(drop)
}

/// Sends `line` and reads the reply, whatever its code.
async fn command_any<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    line: &str,
) -> Result<Response<String>, Fail> {
    send(s, line).await?;
    Ok(read_reply(s).await?.0)
}

/// Writes `line` (a command with its CRLF) and flushes it.
async fn send<S: AsyncWrite + Unpin>(s: &mut S, line: &str) -> Result<(), Fail> {
    s.write_all(line.as_bytes()).await.map_err(Fail::Io)?;
    s.flush().await.map_err(Fail::Io)
}

/// Reads a reply, which must have code `want`; its raw bytes.
async fn expect<S: AsyncRead + Unpin>(s: &mut S, want: u16) -> Result<Vec<u8>, Fail> {
    let (r, raw) = read_reply(s).await?;
    if r.code != want {
        return Err(refused(r));
    }
    Ok(raw)
}

/// EHLO and the extensions the reply lists.
async fn ehlo<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    hello: &str,
) -> Result<EhloResponse<String>, Fail> {
    send(s, &format!("EHLO {hello}\r\n")).await?;
    let raw = expect(s, 250).await?;
    EhloResponse::parse(&mut raw.iter())
        .map_err(|e| Fail::Protocol(format!("an EHLO reply that could not be read: {e:?}")))
}

/// One whole reply (all its lines) and its raw bytes. The session goes in lockstep, so nothing
/// follows a reply before the next command.
async fn read_reply<S: AsyncRead + Unpin>(s: &mut S) -> Result<(Response<String>, Vec<u8>), Fail> {
    let mut parser = ResponseReceiver::default();
    let mut raw = Vec::new();
    let mut buf = [0u8; READ_CHUNK];
    loop {
        let n = s.read(&mut buf).await.map_err(Fail::Io)?;
        if n == 0 {
            return Err(Fail::Protocol("the provider closed the connection".into()));
        }
        raw.extend_from_slice(&buf[..n]);
        match parser.parse(&mut buf[..n].iter()) {
            Ok(r) => return Ok((r, raw)),
            Err(smtp_proto::Error::NeedsMoreData { .. }) => {}
            Err(e) => {
                return Err(Fail::Protocol(format!(
                    "a reply that could not be read: {e:?}"
                )))
            }
        }
    }
}

/// QUIT, without making the caller wait (bounded by `QUIT_TIMEOUT`).
fn quit_in_background<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(mut s: S) {
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn(async move {
            let _ = tokio::time::timeout(QUIT_TIMEOUT, async {
                command_any(&mut s, "QUIT\r\n").await.ok();
                s.shutdown().await.ok();
            })
            .await;
        });
    }
}

/// Accepts any certificate; the handshake's signatures are still verified, so the host holds
/// the certificate's key. Only for DANE, whose check runs before any mail is sent.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, tokio_rustls::rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, tokio_rustls::rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, tokio_rustls::rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stuffed(chunks: &[&[u8]]) -> Vec<u8> {
        let mut d = DotStuffer::default();
        let mut out = Vec::new();
        for c in chunks {
            d.push(c, &mut out);
        }
        d.finish(&mut out);
        out
    }

    /// An attachment that breaks off after 100 000 of its 300 000 bytes (a blob read failing).
    struct Broken;

    #[async_trait::async_trait]
    impl super::super::streamed::PartSource for Broken {
        async fn open(
            &self,
            _i: usize,
        ) -> Result<futures::stream::BoxStream<'static, Result<bytes::Bytes, String>>, String>
        {
            let chunks: Vec<Result<bytes::Bytes, String>> = vec![
                Ok(bytes::Bytes::from(vec![7u8; 100_000])),
                Err("the blob store went away".into()),
            ];
            Ok(futures::stream::iter(chunks).boxed())
        }
    }

    /// The provider's side of one session: scripted replies, then everything the client sends
    /// until it closes the connection.
    async fn provider(mut s: tokio::io::DuplexStream) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        for reply in [
            "250-mx.example\r\n250 SIZE 10000000\r\n",
            "250 2.1.0 Ok\r\n",
            "250 2.1.5 Ok\r\n",
            "354 End data with <CR><LF>.<CR><LF>\r\n",
        ] {
            let n = s.read(&mut buf).await.unwrap();
            got.extend_from_slice(&buf[..n]);
            s.write_all(reply.as_bytes()).await.unwrap();
        }
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return got,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    }

    #[tokio::test]
    async fn a_message_that_breaks_off_never_gets_its_final_dot() {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let provider = tokio::spawn(provider(server));
        let parts = [super::super::streamed::PartInfo {
            name: "scan.pdf".into(),
            content_type: "application/pdf".into(),
            size: 300_000,
        }];
        let message = lettre::Message::builder()
            .from("arts@ziekenhuis.test".parse().unwrap())
            .to("pat@praktijk.test".parse().unwrap())
            .subject("Uitslag");
        let first = super::super::streamed::Part::Single(lettre::message::SinglePart::plain(
            "Zie de bijlage.".to_string(),
        ));
        let mail = StreamedMail::new(message, first, &parts, &Broken).unwrap();
        let a = Attempt {
            host: "mx.praktijk.test",
            hello: "zegel.ziekenhuis.test",
            from: "zegel@ziekenhuis.test",
            to: "pat@praktijk.test",
            dkim_header: None,
        };
        let done = transaction(&mut client, &a, &mail).await;
        assert!(
            matches!(&done, Err(Fail::Source(why)) if why.contains("went away")),
            "{done:?}"
        );
        drop(client);
        let got = provider.await.unwrap();
        let data = &got[got.windows(6).position(|w| w == b"DATA\r\n").unwrap() + 6..];
        assert!(data.len() > 100_000, "the data streamed until the break");
        assert!(
            !data.ends_with(b"\r\n.\r\n"),
            "the provider must not see the end of a truncated mail"
        );
    }

    #[tokio::test]
    async fn a_multi_line_refusal_is_one_line_for_the_sender() {
        let input: &[u8] = b"550-5.1.1 Recipient address rejected:\r\n550 5.1.1   user unknown\r\n";
        let mut wire = input;
        let (r, raw) = read_reply(&mut wire).await.unwrap();
        assert_eq!(raw, input);
        assert_eq!(
            refused(r).to_string(),
            "550 5.1.1 Recipient address rejected: user unknown"
        );
    }

    #[test]
    fn lines_that_begin_with_a_dot_get_another_across_chunks() {
        assert_eq!(
            stuffed(&[b".a\r\nb.\r\n", b".", b"c\r", b"\n..d\r\n"]),
            b"..a\r\nb.\r\n..c\r\n...d\r\n.\r\n"
        );
        // A mail that does not end with a line end gets one before the final dot.
        assert_eq!(stuffed(&[b"x"]), b"x\r\n.\r\n");
        assert_eq!(stuffed(&[b"x\r\n", b"."]), b"x\r\n..\r\n.\r\n");
    }
}

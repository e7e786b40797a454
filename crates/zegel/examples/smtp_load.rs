//! The submitting client of `scripts/bench_submission.py --client rust`: `S` sessions, each
//! over STARTTLS (the certificate checked against the given CA) with AUTH PLAIN once, then one
//! mail after the other until `N` mails of about `SIZE` bytes went out in all. The sessions
//! are all set up first; the time runs from the first mail to the last `250`. Prints
//! `<seconds> <failed>` on one line; exits 1 when a session broke.
//!
//! `cargo run --release --example smtp_load -- PORT CA_FILE USER PASSWORD N S SIZE [FIRST]`
//! (mails `FIRST..FIRST+N`, to `r<i>@example.nl`; `FIRST` 0 when left out).
//!
//! Written with lettre's SMTP client (as Zegel's outbound mail) so that the client costs about
//! what Postfix's `smtp-source` costs on the other side of the comparison: the Python client
//! took a large share of the two cores.

use anyhow::{bail, Context, Result};
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Barrier;

struct Args {
    port: u16,
    ca: String,
    user: String,
    password: String,
    n: usize,
    sessions: usize,
    size: usize,
    /// The number of the first mail (its recipient is `r<first>@example.nl`).
    first: usize,
}

fn args() -> Result<Args> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    if a.len() != 7 && a.len() != 8 {
        bail!("usage: smtp_load PORT CA_FILE USER PASSWORD N SESSIONS SIZE [FIRST]");
    }
    Ok(Args {
        port: a[0].parse().context("PORT")?,
        ca: a[1].clone(),
        user: a[2].clone(),
        password: a[3].clone(),
        n: a[4].parse().context("N")?,
        sessions: a[5].parse().context("SESSIONS")?,
        size: a[6].parse().context("SIZE")?,
        first: match a.get(7) {
            Some(f) => f.parse().context("FIRST")?,
            None => 0,
        },
    })
}

/// Mail `i`, as the Python client writes it: a `[beveiligd]` subject, a text body of `body`.
fn mail(i: usize, body: &str) -> Vec<u8> {
    format!(
        "From: bench@example.nl\r\nTo: r{i}@example.nl\r\nSubject: [beveiligd] Bench {i}\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// Random lower-case words, lines of at most 76 characters.
fn body(size: usize) -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    let mut out = String::with_capacity(size + 2);
    let mut line = 0;
    while out.len() < size {
        if line >= 76 {
            out.push_str("\r\n");
            line = 0;
        } else if rng.gen_range(0..7) == 0 {
            out.push(' ');
            line += 1;
        } else {
            out.push(char::from(b'a' + rng.gen_range(0..26u8)));
            line += 1;
        }
    }
    out
}

async fn session(a: &Args, ca: &Certificate) -> Result<AsyncSmtpConnection> {
    let hello = ClientId::Domain("bench.example.nl".into());
    // Without TCP_NODELAY every mail waits for a delayed ACK: lettre writes the mail and the
    // final dot separately.
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", a.port))
        .await
        .context("connect")?;
    tcp.set_nodelay(true).context("TCP_NODELAY")?;
    let mut smtp = AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &hello)
        .await
        .context("greeting")?;
    let params = TlsParameters::builder("127.0.0.1".into())
        .add_root_certificate(ca.clone())
        .build_rustls()
        .context("TLS parameters")?;
    smtp.starttls(params, &hello).await.context("STARTTLS")?;
    smtp.auth(
        &[Mechanism::Plain],
        &Credentials::new(a.user.clone(), a.password.clone()),
    )
    .await
    .context("AUTH")?;
    Ok(smtp)
}

#[tokio::main]
async fn main() -> Result<()> {
    let a = Arc::new(args()?);
    let pem = std::fs::read(&a.ca).with_context(|| format!("reading {}", a.ca))?;
    let ca = Certificate::from_pem(&pem).context("CA certificate")?;
    let body = Arc::new(body(a.size));
    let next = Arc::new(AtomicUsize::new(a.first));
    let failed = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(a.sessions + 1));
    let mut tasks = Vec::new();
    for _ in 0..a.sessions {
        let smtp = session(&a, &ca).await?;
        let (a, body, next, failed, start) = (
            a.clone(),
            body.clone(),
            next.clone(),
            failed.clone(),
            start.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut smtp = smtp;
            start.wait().await;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= a.first + a.n {
                    break;
                }
                let envelope = Envelope::new(
                    Some("bench@example.nl".parse()?),
                    vec![format!("r{i}@example.nl").parse()?],
                )?;
                if let Err(e) = smtp.send(&envelope, &mail(i, &body)).await {
                    if failed.fetch_add(1, Ordering::Relaxed) == 0 {
                        eprintln!("mail {i}: {e}");
                    }
                    if !e.is_permanent() && !e.is_transient() {
                        return Err(anyhow::Error::from(e).context("session broke"));
                    }
                }
            }
            smtp.quit().await.ok();
            Ok::<(), anyhow::Error>(())
        }));
    }
    start.wait().await;
    let t0 = Instant::now();
    let mut broke = None;
    for t in tasks {
        if let Err(e) = t.await.context("session task")? {
            broke.get_or_insert(e);
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    println!("{secs:.3} {}", failed.load(Ordering::Relaxed));
    match broke {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

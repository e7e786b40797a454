//! Issue 12, "Hostile clients", against the real binary (SQLite, default settings unless a test
//! says otherwise): multipart part headers that never end, clients that trickle their headers
//! or stall an announced body, more connections than the cap, and `/metrics` on its own
//! listener. Requests are written by hand on raw TCP where a client library would not misbehave
//! the way an attacker does. Memory is the child's peak resident size against its resident size
//! before ([`Peak`]).

#[allow(dead_code)]
mod common_bin;

use common_bin::{client, files_in, wait_for_files, Env, Mail, Peak, Server};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MIB: usize = 1 << 20;
/// DESIGN.md: no single request grows the server's memory by more than this.
const MEMORY_BOUND: usize = 64 * MIB;
const SENDER: &str = "arts@ziekenhuis.example";
const CODE: &str = "493817";

/// `127.0.0.1:PORT` of a server.
fn addr(server: &Server) -> String {
    server.base.trim_start_matches("http://").to_string()
}

/// Two recipients of one message, verified with the sender's code: the access API's Bearer
/// token of the first, the viewer's cookies (a session) of the second.
struct Recipients {
    api_link: String,
    access_token: String,
    viewer_link: String,
    viewer_cookies: String,
}

async fn recipients(env: &Env, server: &Server, token: &str) -> Recipients {
    let who = ["api@example.nl", "viewer@example.nl"];
    let rcpt = |email: &str| json!({"email": email, "verification": "code", "code": CODE});
    server
        .send_message(
            token,
            &json!({"subject": "Uitslag", "body": "Beste ...", "reply": "unlimited",
                    "recipients": [rcpt(who[0]), rcpt(who[1])]}),
        )
        .await;
    let outbox = env.data().join("outbox").join("mail");
    wait_for_files(&outbox, 2, Duration::from_secs(30)).await;
    let link_of = |email: &str| {
        let mail = files_in(&outbox)
            .iter()
            .map(|p| Mail::read(p))
            .find(|m| m.to.as_deref().is_some_and(|t| t.contains(email)))
            .expect("a notification per recipient");
        let link = mail.links().first().cloned().expect("a link");
        link.rsplit('/').next().unwrap_or_default().to_string()
    };
    let (api_link, viewer_link) = (link_of(who[0]), link_of(who[1]));
    let grant: Value = server
        .client
        .post(server.url(&format!("/api/v1/access/{api_link}/verify")))
        .json(&json!({"code": CODE}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access_token = grant["access_token"].as_str().expect("a grant").to_string();
    // The viewer: landing, "Bericht openen", the code.
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let browser = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let landing = browser
        .get(server.url(&format!("/m/{viewer_link}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = regex::Regex::new(r#"name="csrf" value="([^"]+)""#)
        .unwrap()
        .captures(&landing)
        .expect("a CSRF field on the landing page")[1]
        .to_string();
    for (step, form) in [
        ("start", vec![("csrf", csrf.as_str())]),
        ("verify", vec![("csrf", csrf.as_str()), ("code", CODE)]),
    ] {
        let res = browser
            .post(server.url(&format!("/m/{viewer_link}/{step}")))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "{step}");
    }
    let url = server
        .url(&format!("/m/{viewer_link}/antwoord"))
        .parse()
        .unwrap();
    let viewer_cookies = reqwest::cookie::CookieStore::cookies(&*jar, &url)
        .and_then(|v| v.to_str().ok().map(str::to_string))
        .expect("viewer cookies");
    Recipients {
        api_link,
        access_token,
        viewer_link,
        viewer_cookies,
    }
}

/// What became of a flood.
#[derive(Debug)]
struct Flood {
    sent: usize,
    status: Option<u16>,
    baseline: usize,
    peak: usize,
}

/// The status of an HTTP response read from `stream` (`None` when the connection closed or
/// was reset without one), within `within`.
async fn read_status(stream: &mut (impl AsyncReadExt + Unpin), within: Duration) -> Option<u16> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let read = async {
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            }
        }
    };
    let _ = tokio::time::timeout(within, read).await;
    let head = String::from_utf8_lossy(&buf);
    head.strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|s| s.parse().ok())
}

/// Sends `POST path` with a multipart body whose first part's headers never end: `total`
/// bytes of one header line, in chunked 1 MiB pieces, while sampling the server's memory.
async fn flood(server: &Server, path: &str, credentials: &str, total: usize) -> Flood {
    let peak = Peak::start(server.pid());
    let stream = TcpStream::connect(addr(server)).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let answer = tokio::spawn(async move { read_status(&mut rd, Duration::from_secs(120)).await });
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: zegel\r\n{credentials}\r\n\
         Content-Type: multipart/form-data; boundary=XyZ\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let first = "--XyZ\r\nContent-Disposition: form-data; name=\"message\"\r\nX-Flood: ";
    let mut sent = 0;
    let mut ok = wr.write_all(head.as_bytes()).await.is_ok()
        && wr
            .write_all(format!("{:x}\r\n{first}\r\n", first.len()).as_bytes())
            .await
            .is_ok();
    let piece = {
        let mut p = format!("{MIB:x}\r\n").into_bytes();
        p.extend(std::iter::repeat_n(b'a', MIB));
        p.extend_from_slice(b"\r\n");
        p
    };
    while ok && sent < total {
        ok = wr.write_all(&piece).await.is_ok();
        if ok {
            sent += MIB;
        }
    }
    let status = answer.await.unwrap();
    let (baseline, peak) = peak.read();
    Flood {
        sent,
        status,
        baseline,
        peak,
    }
}

#[tokio::test]
async fn issue_12_part_header_floods_are_refused_without_growing_memory() {
    let env = Env::new();
    let token = env.token(SENDER).await;
    let server = env.start(&["serve"]).await;
    let r = recipients(&env, &server, &token).await;
    let total = 300 * MIB;
    let mut floods = Vec::new();
    for (path, credentials) in [
        (
            "/api/v1/messages".to_string(),
            format!("Authorization: Bearer {token}"),
        ),
        (
            format!("/api/v1/access/{}/replies", r.api_link),
            format!("Authorization: Bearer {}", r.access_token),
        ),
        (
            format!("/m/{}/antwoord", r.viewer_link),
            format!("Cookie: {}\r\nOrigin: {}", r.viewer_cookies, server.base),
        ),
    ] {
        let f = flood(&server, &path, &credentials, total).await;
        let route = path
            .replace(&r.api_link, "{t}")
            .replace(&r.viewer_link, "{t}");
        eprintln!(
            "{route}: sent {} MiB of part header, answer {:?}, RSS {} MiB -> peak {} MiB (+{} MiB)",
            f.sent / MIB,
            f.status,
            f.baseline / MIB,
            f.peak / MIB,
            f.peak.saturating_sub(f.baseline) / MIB
        );
        floods.push((route, f));
    }
    for (route, f) in &floods {
        assert!(
            matches!(f.status, Some(400 | 413) | None) && f.sent < total,
            "{route}: the flood was not refused: {f:?}"
        );
        let grew = f.peak.saturating_sub(f.baseline);
        assert!(
            grew < MEMORY_BOUND,
            "{route}: memory grew by {} MiB",
            grew / MIB
        );
    }
    // Still serving, and the replies were never stored.
    assert_eq!(
        server
            .client
            .get(server.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let inbox = server.get_auth("/api/v1/inbox", &token).await;
    let items: Value = inbox.json().await.unwrap();
    assert_eq!(items["items"].as_array().map(Vec::len), Some(0), "{items}");
}

/// Reads until the server closes the connection; how long that took (panics after `limit`).
async fn closed_within(stream: &mut TcpStream, start: Instant, limit: Duration) -> Duration {
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "still open after {limit:?}");
    start.elapsed()
}

#[tokio::test]
async fn issue_12_slow_clients_are_disconnected_and_slow_uploads_are_not() {
    let mut env = Env::new();
    env.set("ZEGEL_HTTP_HEADER_TIMEOUT_SECS", "2")
        .set("ZEGEL_HTTP_BODY_IDLE_SECS", "2");
    let token = env.token(SENDER).await;
    let server = env.start(&["serve"]).await;
    let limit = Duration::from_secs(5);

    // Headers trickled one byte every 300 ms: cut at the 2 s header timeout.
    let start = Instant::now();
    let mut s = TcpStream::connect(addr(&server)).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: zegel\r\nX-Slow: ")
        .await
        .unwrap();
    let (mut rd, mut wr) = s.into_split();
    let trickle = tokio::spawn(async move {
        while wr.write_all(b"a").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });
    let mut buf = Vec::new();
    let cut = tokio::time::timeout(limit, rd.read_to_end(&mut buf)).await;
    assert!(cut.is_ok(), "trickled headers still open after {limit:?}");
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(1500), "{took:?}");
    eprintln!("trickled headers: closed after {took:?}");
    trickle.abort();

    // A connection that sends nothing at all, or nothing after a first request.
    let start = Instant::now();
    let mut s = TcpStream::connect(addr(&server)).await.unwrap();
    let took = closed_within(&mut s, start, limit).await;
    eprintln!("silent connection: closed after {took:?}");
    let mut s = TcpStream::connect(addr(&server)).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: zegel\r\n\r\n")
        .await
        .unwrap();
    let start = Instant::now();
    let took = closed_within(&mut s, start, limit).await;
    eprintln!("idle keep-alive connection: closed after {took:?}");

    // Announced bodies that never come: a JSON body and an upload cut off after its first part.
    let unknown = "A".repeat(43);
    let upload_head = "--XyZ\r\nContent-Disposition: form-data; name=\"message\"\r\n\r\n\
         {\"subject\":\"s\",\"body\":\"b\",\"recipients\":[{\"email\":\"a@example.nl\",\"verification\":\"email\"}]}\r\n\
         --XyZ\r\nContent-Disposition: form-data; name=\"attachment\"; filename=\"a.bin\"\r\n\r\nabc";
    for (what, request) in [
        (
            "JSON body",
            format!(
                "POST /api/v1/access/{unknown}/challenge HTTP/1.1\r\nHost: zegel\r\n\
                 Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"method\""
            ),
        ),
        (
            "upload",
            format!(
                "POST /api/v1/messages HTTP/1.1\r\nHost: zegel\r\nAuthorization: Bearer {token}\r\n\
                 Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 10485760\r\n\r\n\
                 {upload_head}"
            ),
        ),
        (
            "body nobody reads",
            "POST /healthz HTTP/1.1\r\nHost: zegel\r\nContent-Length: 100\r\n\r\n".to_string(),
        ),
    ] {
        let mut s = TcpStream::connect(addr(&server)).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        let start = Instant::now();
        let took = closed_within(&mut s, start, limit).await;
        eprintln!("stalled {what}: closed after {took:?}");
    }
    let listed: Value = server
        .get_auth("/api/v1/messages", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["messages"].as_array().map(Vec::len), Some(0));

    // An upload that is slow but keeps moving (a piece every 800 ms, 4 s in all) goes through.
    let pieces = futures::stream::unfold(0, |i| async move {
        if i == 5 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(800)).await;
        Some((Ok::<_, std::io::Error>(vec![b'x'; 1000]), i + 1))
    });
    let form = reqwest::multipart::Form::new()
        .part(
            "message",
            reqwest::multipart::Part::text(
                json!({"subject": "Traag", "body": "b",
                       "recipients": [{"email": "a@example.nl", "verification": "email"}]})
                .to_string(),
            )
            .mime_str("application/json")
            .unwrap(),
        )
        .part(
            "attachment",
            reqwest::multipart::Part::stream(reqwest::Body::wrap_stream(pieces))
                .file_name("traag.bin"),
        );
    let start = Instant::now();
    let res = client()
        .post(server.url("/api/v1/messages"))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    assert!(start.elapsed() >= Duration::from_secs(4));
    assert!(server.terminate().await.success());
}

#[tokio::test]
async fn issue_12_connections_over_the_cap_wait_until_one_is_free() {
    let mut env = Env::new();
    env.set("ZEGEL_MAX_CONNECTIONS", "3")
        .set("ZEGEL_HTTP_HEADER_TIMEOUT_SECS", "3");
    let server = env.start(&["serve"]).await;
    let fresh = || {
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap()
    };
    // Three idle connections take every place (the harness's own may hold one already).
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(addr(&server)).await.unwrap());
    }
    let start = Instant::now();
    let waiting = fresh()
        .get(server.url("/healthz"))
        .timeout(Duration::from_secs(1))
        .send()
        .await;
    assert!(
        waiting.as_ref().is_err_and(|e| e.is_timeout()),
        "a fourth connection was served at once: {waiting:?}"
    );
    // Queued, not refused: it is served once the idle ones are cut (3 s header timeout).
    let res = fresh()
        .get(server.url("/healthz"))
        .timeout(Duration::from_secs(15))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let waited = start.elapsed();
    eprintln!("a connection over the cap was served after {waited:?}");
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    for mut s in idle {
        let mut buf = [0u8; 16];
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await;
        assert!(matches!(n, Ok(Ok(0)) | Ok(Err(_))), "{n:?}");
    }
}

#[tokio::test]
async fn issue_12_metrics_can_have_their_own_listener() {
    let mut env = Env::new();
    env.set("ZEGEL_METRICS_LISTEN", "127.0.0.1:0");
    let server = env.start(&["serve"]).await;
    let metrics = server
        .stdout()
        .iter()
        .find_map(|l| l.strip_prefix("metrics listening on ").map(str::to_string))
        .unwrap_or_else(|| server.fail("no `metrics listening on` line"));
    assert_ne!(metrics, server.base);
    let res = server
        .client
        .get(format!("{metrics}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    // The main listener's requests are counted (the harness's /readyz).
    assert!(
        regex::Regex::new(r#"zegel_http_requests_total\{class="2xx"\} [1-9]"#)
            .unwrap()
            .is_match(&text),
        "{text}"
    );
    let main = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(main.status(), 404);
    let other = server
        .client
        .get(format!("{metrics}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        other.status(),
        404,
        "the metrics listener serves /metrics only"
    );
    assert!(server.terminate().await.success());
}

#[tokio::test]
async fn issue_12_json_bodies_cannot_amplify_memory() {
    let env = Env::new();
    let token = env.token(SENDER).await;
    let server = env.start(&["serve"]).await;
    let pid = server.pid();
    // Just under the JSON limit (twice the 1 MiB body text, plus 64 KiB).
    let max = 2 * MIB + 64 * 1024 - 64;
    for (what, item) in [
        ("empty objects", r#"{"":0},"#),
        ("empty arrays", "[],"),
        ("zeros", "0,"),
        ("strings", r#""","#),
    ] {
        let n = (max - 16) / item.len();
        let body = format!(r#"{{"x":[{}0]}}"#, item.repeat(n));
        let peak = Peak::start(pid);
        let res = server
            .client
            .post(server.url("/api/v1/messages"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let (baseline, peak) = peak.read();
        let grew = peak.saturating_sub(baseline);
        eprintln!("{n} {what}: {status}, RSS +{} MiB", grew / MIB);
        assert!(
            [400, 413, 422].contains(&status.as_u16()),
            "{what}: {status}"
        );
        assert!(
            grew < MEMORY_BOUND,
            "{what}: memory grew by {} MiB",
            grew / MIB
        );
    }
}

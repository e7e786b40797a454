//! Helpers for the end-to-end tests on the real `zegel` binary: a process guard that waits for
//! the `listening on http://ADDR` contract line and `/readyz`, a one-shot runner for CLI
//! commands, an SMTP sink (Python `aiosmtpd`) and mail parsing.
//!
//! Nothing here sleeps longer than a poll interval; every wait has an overall timeout, and every
//! child process is killed when its guard is dropped (also when a test panics).

// nta.rs; binary.rs includes this module without `allow(dead_code)`.
#[allow(dead_code)]
pub mod dns;

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_zegel");

/// How long a start may take until `listening on` (migrations on a cold PostgreSQL included).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long `/readyz` may take to answer 200 after the listening line.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a one-shot command (`admin ...`, a start that must fail) may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// Poll interval for files, endpoints and statuses.
pub const POLL: Duration = Duration::from_millis(50);

/// The envelope and header sender the binary tests configure.
pub const MAIL_FROM: &str = "zegel@ziekenhuis.example";

/// A `POST /api/v1/messages` body with one e-mail-verified recipient.
pub fn message(subject: &str, body: &str, email: &str) -> serde_json::Value {
    serde_json::json!({
        "subject": subject,
        "body": body,
        "recipients": [{"email": email, "verification": "email"}],
    })
}

/// Points the environment at an SMTP relay on 127.0.0.1:`port` without TLS.
pub fn use_smtp(env: &mut Env, port: u16) {
    env.set("ZEGEL_SMTP_URL", &format!("smtp://127.0.0.1:{port}"))
        .set("ZEGEL_SMTP_TLS", "none")
        .set("ZEGEL_MAIL_FROM", MAIL_FROM);
}

/// A data directory plus the environment for every `zegel` run on it.
pub struct Env {
    pub dir: tempfile::TempDir,
    vars: Vec<(String, String)>,
}

impl Env {
    /// A fresh temporary data directory; `ZEGEL_LISTEN=127.0.0.1:0`.
    pub fn new() -> Env {
        let dir = tempfile::tempdir().expect("create a temporary data directory");
        let mut env = Env {
            dir,
            vars: Vec::new(),
        };
        let data = env.data().to_string_lossy().into_owned();
        env.set("ZEGEL_DATA_DIR", &data);
        env.set("ZEGEL_LISTEN", "127.0.0.1:0");
        env
    }

    /// Sets (or replaces) a variable for every later run.
    pub fn set(&mut self, key: &str, value: &str) -> &mut Env {
        self.vars.retain(|(k, _)| k != key);
        self.vars.push((key.into(), value.into()));
        self
    }

    /// Removes a variable for every later run.
    pub fn unset(&mut self, key: &str) -> &mut Env {
        self.vars.retain(|(k, _)| k != key);
        self
    }

    /// `<tmp>/data`: the data directory.
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A scratch directory next to the data directory (SMTP sink, scripts).
    pub fn scratch(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::create_dir_all(&p).expect("create a scratch directory");
        p
    }

    /// The command with exactly this environment: inherited `ZEGEL_*` variables are removed so
    /// that the caller's shell cannot change what is tested.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, _) in std::env::vars() {
            if k.starts_with("ZEGEL_") {
                cmd.env_remove(k);
            }
        }
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
        cmd
    }

    /// Spawns `zegel ARGS` with piped stdout and stderr (killed when dropped): for a command
    /// the test interrupts itself (key_rotation.rs kills a rotation halfway).
    #[allow(dead_code)]
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args).spawn().expect("spawn zegel")
    }

    /// Runs a command that exits by itself (within a timeout).
    pub async fn run(&self, args: &[&str]) -> Output {
        let child = self.command(args).spawn().expect("spawn zegel");
        match tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output()).await {
            Ok(out) => {
                let out = out.expect("wait for zegel");
                Output {
                    status: out.status,
                    stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                }
            }
            // The future owned the child: dropping it killed the process (kill_on_drop).
            Err(_) => panic!(
                "`zegel {}` did not exit within {COMMAND_TIMEOUT:?}",
                args.join(" ")
            ),
        }
    }

    /// Runs a command and asserts it succeeded; returns its stdout.
    pub async fn run_ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(
            out.status.success(),
            "`zegel {}` failed with {}\nstdout:\n{}\nstderr:\n{}",
            args.join(" "),
            out.status,
            out.stdout,
            out.stderr
        );
        out.stdout
    }

    /// Runs a command that exits by itself with `input` on its standard input.
    pub async fn run_with_stdin(&self, args: &[&str], input: &str) -> Output {
        use tokio::io::AsyncWriteExt;
        let mut cmd = self.command(args);
        cmd.stdin(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn zegel");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(input.as_bytes())
            .await
            .expect("write stdin");
        drop(stdin);
        let out = tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("`zegel {}` did not exit in time", args.join(" ")))
            .expect("wait for zegel");
        Output {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `zegel admin token create --email E`: the token.
    pub async fn token(&self, email: &str) -> String {
        let out = self
            .run_ok(&["admin", "token", "create", "--email", email])
            .await;
        out.trim().to_string()
    }

    /// Starts `zegel ARGS` and waits for the listening line and `/readyz` 200.
    pub async fn start(&self, args: &[&str]) -> Server {
        let mut child = self.command(args).spawn().expect("spawn zegel");
        let stdout = Arc::new(Mutex::new(Vec::<String>::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        {
            let out = child.stdout.take().expect("piped stdout");
            let lines = stdout.clone();
            tokio::spawn(async move {
                let mut r = BufReader::new(out).lines();
                while let Ok(Some(line)) = r.next_line().await {
                    lines.lock().expect("stdout lock").push(line.clone());
                    let _ = tx.send(line);
                }
            });
        }
        drain_into(child.stderr.take().expect("piped stderr"), stderr.clone());
        let mut server = Server {
            child,
            base: String::new(),
            stdout,
            stderr,
            client: client(),
            what: format!("zegel {}", args.join(" ")),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        let addr = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, rx.recv()).await {
                Ok(Some(line)) => {
                    if let Some(addr) = line.strip_prefix("listening on http://") {
                        break addr.trim().to_string();
                    }
                }
                Ok(None) => {
                    let status = tokio::time::timeout(Duration::from_secs(10), server.child.wait())
                        .await
                        .map(|s| format!("{s:?}"))
                        .unwrap_or_else(|_| "still running".into());
                    server.fail(&format!("exited ({status}) before `listening on http://`"));
                }
                Err(_) => server.fail(&format!(
                    "no `listening on http://` within {START_TIMEOUT:?}"
                )),
            }
        };
        server.base = format!("http://{addr}");
        server.wait_ready().await;
        server
    }
}

/// The result of a one-shot run.
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

fn drain_into<R: AsyncRead + Unpin + Send + 'static>(r: R, buf: Arc<Mutex<String>>) {
    tokio::spawn(async move {
        let mut r = BufReader::new(r).lines();
        while let Ok(Some(line)) = r.next_line().await {
            let mut b = buf.lock().expect("stderr lock");
            b.push_str(&line);
            b.push('\n');
        }
    });
}

/// An HTTP client that does not follow redirects.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("build an HTTP client")
}

/// A running `zegel` process; killed (SIGKILL) when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
    pub client: reqwest::Client,
    what: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        // kill_on_drop covers this too; be explicit. The runtime reaps the child.
        let _ = self.child.start_kill();
    }
}

impl Server {
    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The process id (for `/proc/PID/status`).
    #[allow(dead_code)] // hostile.rs and nta.rs measure memory
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the process is running")
    }

    /// Everything the process printed on stdout so far.
    pub fn stdout(&self) -> Vec<String> {
        self.stdout.lock().expect("stdout lock").clone()
    }

    /// Everything the process logged on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr lock").clone()
    }

    /// Asserts that the logs (stderr) hold none of `secrets`: tokens, links, content.
    pub fn assert_logs_never_contain(&self, secrets: &[&str]) {
        let logs = self.stderr();
        assert!(!logs.trim().is_empty(), "{}: no logs at all", self.what);
        for s in secrets {
            assert!(
                !logs.contains(s),
                "{}: the logs contain {s:?}:\n{logs}",
                self.what
            );
        }
    }

    /// Panics with the process output.
    pub fn fail(&self, why: &str) -> ! {
        panic!(
            "{}: {why}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.what,
            self.stdout().join("\n"),
            self.stderr.lock().expect("stderr lock")
        )
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut last = String::new();
        while Instant::now() < deadline {
            match self
                .client
                .get(self.url("/readyz"))
                .timeout(Duration::from_secs(2))
                .send()
                .await
            {
                Ok(r) if r.status() == 200 => return,
                Ok(r) => last = format!("status {}", r.status()),
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(POLL).await;
        }
        self.fail(&format!(
            "/readyz not 200 within {READY_TIMEOUT:?} (last: {last})"
        ));
    }

    /// SIGTERM (`kill -TERM PID`), then waits for the exit.
    pub async fn terminate(mut self) -> ExitStatus {
        let pid = self.child.id().expect("the process is running");
        let sent = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .expect("run kill -TERM");
        assert!(sent.success(), "kill -TERM {pid} failed");
        match tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await {
            Ok(s) => s.expect("wait for zegel"),
            Err(_) => self.fail("did not exit within 30 s of SIGTERM"),
        }
    }

    /// SIGKILL (`kill -9`), then waits for the exit.
    pub async fn kill9(mut self) {
        self.child.start_kill().expect("kill -9 zegel");
        tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("zegel exits after SIGKILL")
            .expect("wait for zegel");
    }

    /// A GET with a Bearer token.
    pub async fn get_auth(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET")
    }

    /// `POST /api/v1/messages` (JSON); asserts 201 and returns the response body.
    pub async fn send_message(&self, token: &str, msg: &serde_json::Value) -> serde_json::Value {
        let r = self
            .client
            .post(self.url("/api/v1/messages"))
            .bearer_auth(token)
            .json(msg)
            .send()
            .await
            .expect("POST /api/v1/messages");
        let status = r.status();
        let body = r.text().await.unwrap_or_default();
        if status != 201 {
            self.fail(&format!("POST /api/v1/messages: {status} {body}"));
        }
        serde_json::from_str(&body).expect("201 body is JSON")
    }

    /// `GET /api/v1/messages/{id}` as JSON (asserts 200).
    pub async fn message_status(&self, token: &str, id: &str) -> serde_json::Value {
        let r = self
            .get_auth(&format!("/api/v1/messages/{id}"), token)
            .await;
        let status = r.status();
        let body = r.text().await.unwrap_or_default();
        if status != 200 {
            self.fail(&format!("GET /api/v1/messages/{id}: {status} {body}"));
        }
        serde_json::from_str(&body).expect("message status is JSON")
    }

    /// Polls until every recipient of every message in `ids` is `notified`.
    pub async fn wait_all_notified(&self, token: &str, ids: &[String], within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let mut pending = Vec::new();
            for id in ids {
                let s = self.message_status(token, id).await;
                for r in s["recipients"].as_array().expect("recipients") {
                    if r["status"] != "notified" {
                        pending.push(format!("{} {}: {}", id, r["email"], r));
                    }
                }
            }
            if pending.is_empty() {
                return;
            }
            if Instant::now() > deadline {
                self.fail(&format!(
                    "{} recipient(s) not notified within {within:?}:\n{}",
                    pending.len(),
                    pending.join("\n")
                ));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// A free TCP port on 127.0.0.1 (bound, read, released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// Files in `dir` (not dot files, which are still being written), oldest name first.
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| {
        p.is_file()
            && !p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
    });
    files.sort();
    files
}

/// Polls `dir` until it holds at least `n` files; returns them.
pub async fn wait_for_files(dir: &Path, n: usize, within: Duration) -> Vec<PathBuf> {
    let deadline = Instant::now() + within;
    loop {
        let files = files_in(dir);
        if files.len() >= n {
            return files;
        }
        if Instant::now() > deadline {
            panic!(
                "expected {n} file(s) in {} within {within:?}, found {}",
                dir.display(),
                files.len()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// A parsed e-mail with the bits the tests look at.
pub struct Mail {
    pub raw: String,
    pub from_name: Option<String>,
    pub from_addr: Option<String>,
    pub to: Option<String>,
    pub subject: Option<String>,
    pub message_id: Option<String>,
    pub auto_submitted: Option<String>,
    pub has_date: bool,
    pub text_parts: Vec<String>,
    pub html_parts: Vec<String>,
}

impl Mail {
    /// Parses an RFC 5322 file with `mail-parser`.
    pub fn read(path: &Path) -> Mail {
        use mail_parser::{MessageParser, MimeHeaders, PartType};
        let bytes = std::fs::read(path).expect("read the mail file");
        let msg = MessageParser::default()
            .parse(&bytes)
            .unwrap_or_else(|| panic!("{} is not a parsable e-mail", path.display()));
        let from = msg.from().and_then(|a| a.first());
        let mut text_parts = Vec::new();
        let mut html_parts = Vec::new();
        for part in &msg.parts {
            let ct = part
                .content_type()
                .map(|c| {
                    format!("{}/{}", c.ctype(), c.subtype().unwrap_or_default())
                        .to_ascii_lowercase()
                })
                .unwrap_or_default();
            match (&part.body, ct.as_str()) {
                (PartType::Text(t), "text/plain") => text_parts.push(t.to_string()),
                (PartType::Html(h), "text/html") => html_parts.push(h.to_string()),
                _ => {}
            }
        }
        Mail {
            raw: String::from_utf8_lossy(&bytes).into_owned(),
            from_name: from.and_then(|a| a.name()).map(str::to_string),
            from_addr: from.and_then(|a| a.address()).map(str::to_string),
            to: msg
                .to()
                .and_then(|a| a.first())
                .and_then(|a| a.address())
                .map(str::to_string),
            subject: msg.subject().map(str::to_string),
            message_id: msg.message_id().map(str::to_string),
            auto_submitted: msg
                .header("Auto-Submitted")
                .and_then(|h| h.as_text())
                .map(str::to_string),
            has_date: msg.date().is_some(),
            text_parts,
            html_parts,
        }
    }

    /// Raw text, headers (decoded subject) and every decoded part: where leaked content
    /// would show up in any encoding.
    pub fn everything(&self) -> String {
        format!(
            "{}\n{}\n{}\n{}",
            self.raw,
            self.subject.clone().unwrap_or_default(),
            self.text_parts.join("\n"),
            self.html_parts.join("\n")
        )
    }

    /// The `/m/` links in the text part.
    pub fn links(&self) -> Vec<String> {
        let re = regex::Regex::new(r"https?://[^\s<>]+/m/[A-Za-z0-9_-]+").expect("regex");
        self.text_parts
            .iter()
            .flat_map(|t| {
                re.find_iter(t)
                    .map(|m| m.as_str().to_string())
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

/// Asserts that none of `secrets` appears in the mail, raw or decoded.
pub fn assert_no_content(mail: &Mail, secrets: &[&str]) {
    let all = mail.everything();
    for s in secrets {
        assert!(
            !all.contains(s),
            "the notification leaks message content {s:?}:\n{}",
            mail.raw
        );
    }
}

/// The Python interpreter that has `aiosmtpd`, or a failure that says how to get it.
pub fn python_with_aiosmtpd() -> &'static str {
    static PY: OnceLock<Option<String>> = OnceLock::new();
    let found = PY.get_or_init(|| {
        let mut candidates: Vec<String> = Vec::new();
        if let Ok(p) = std::env::var("ZEGEL_TEST_PYTHON") {
            candidates.push(p);
        }
        // `python3` may be a pyenv shim without Debian's packages; Debian's python3-aiosmtpd
        // lives in /usr/bin/python3.
        candidates.extend(["python3".to_string(), "/usr/bin/python3".to_string()]);
        candidates.into_iter().find(|py| {
            std::process::Command::new(py)
                .args(["-c", "import aiosmtpd.controller"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
    });
    match found {
        Some(py) => py,
        None => panic!(
            "the SMTP tests need Python's aiosmtpd, which is not installed (neither `python3` nor \
             /usr/bin/python3 can `import aiosmtpd`). Run scripts/test.sh, which installs it \
             (apt-get install python3-aiosmtpd), or set ZEGEL_TEST_PYTHON to an interpreter that \
             has it."
        ),
    }
}

/// Saves each received message as `<dir>/<ns>-<n>.eml` (written to a dot file, then renamed),
/// with how it arrived in `<dir>/.<ns>-<n>.eml.json` (`{"peer_port", "tls"}`: the client's
/// port stands for the TCP session). Every QUIT appends the client's port to `<dir>/.quits`.
/// Lives until its stdin closes or it is killed.
const SMTP_SINK: &str = r#"
import asyncio, json, os, sys, time
from aiosmtpd.controller import Controller

def over_tls(server, session):
    # STARTTLS sets session.ssl; implicit TLS (smtps) shows on the transport.
    if session.ssl is not None:
        return True
    t = server.transport
    return t is not None and t.get_extra_info("ssl_object") is not None

def write_file(path, data):
    d, name = os.path.split(path)
    tmp = os.path.join(d, "." + name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)

def quoted_code_mail(data):
    # A content filter that quotes what it refuses: the text of a code mail, code and all.
    import email, email.policy
    msg = email.message_from_bytes(data, policy=email.policy.default)
    if "toegangscode" not in str(msg["Subject"]):
        return None
    body = msg.get_body(preferencelist=("plain",))
    return " ".join(body.get_content().split())[:300] if body is not None else ""

class Saver:
    def __init__(self, d):
        self.d = d
        self.n = 0
        self.per_session = {}

    def close_soon(self, server):
        # After the reply that is being sent now.
        asyncio.get_running_loop().call_soon(server.transport.close)

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if MODE.startswith("maxper:") and self.per_session.get(session.peer, 0) >= int(MODE[7:]):
            self.close_soon(server)
            return "421 4.7.0 Too many messages in this session, closing"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if MODE.startswith("slow:"):
            await asyncio.sleep(float(MODE[5:]))
        if MODE == "reject550":
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % envelope.rcpt_tos[0]
        if MODE.startswith("reject550to:") and MODE[12:] in envelope.rcpt_tos:
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % MODE[12:]
        if MODE == "tempfail451":
            return "451 4.3.0 Mail server temporarily unavailable"
        self.n += 1
        name = "%d-%05d.eml" % (time.time_ns(), self.n)
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        meta = {"peer_port": session.peer[1], "tls": over_tls(server, session),
                "mail_from": envelope.mail_from, "helo": session.host_name}
        # The sidecar first: when the mail shows up, its sidecar is there.
        write_file(os.path.join(self.d, "." + name + ".json"), json.dumps(meta).encode())
        write_file(os.path.join(self.d, name), data)
        self.per_session[session.peer] = self.per_session.get(session.peer, 0) + 1
        if MODE.startswith("closeafter:") and self.per_session[session.peer] >= int(MODE[11:]):
            self.close_soon(server)
        if MODE == "quotecode550":
            quote = quoted_code_mail(data)
            if quote is not None:
                return "550 5.7.1 Rejected by content filter: " + quote
        return "250 2.0.0 Message accepted"

    async def handle_QUIT(self, server, session, envelope):
        with open(os.path.join(self.d, ".quits"), "a") as f:
            f.write("%d\n" % session.peer[1])
        return "221 Bye"

port, d = int(sys.argv[1]), sys.argv[2]
MODE = sys.argv[3] if len(sys.argv) > 3 else "accept"
kw = {}
if MODE.startswith("starttls:") or MODE.startswith("smtps:"):
    import ssl
    kind, cert, key = MODE.split(":", 2)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    if kind == "starttls":
        kw = {"tls_context": ctx, "require_starttls": True}
    else:
        kw = {"ssl_context": ctx}
if MODE.startswith("auth:"):
    from aiosmtpd.smtp import AuthResult
    _, user, pw = MODE.split(":", 2)
    def check(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login.decode() == user and auth_data.password.decode() == pw
        return AuthResult(success=ok)
    kw = {"authenticator": check, "auth_required": True, "auth_require_tls": False}
c = Controller(Saver(d), hostname=os.environ.get("SINK_HOST", "127.0.0.1"), port=port,
               data_size_limit=int(os.environ.get("SINK_SIZE", 33554432)), **kw)
c.start()
print("ready", flush=True)
try:
    sys.stdin.read()
finally:
    c.stop()
"#;

/// A field of `/proc/PID/status` in bytes (`VmRSS`, `VmHWM`).
#[allow(dead_code)] // hostile.rs and nta.rs measure memory, as `Peak`
fn status_kb(pid: u32, field: &str) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
        * 1024
}

/// How much a process's memory grew at its peak since [`Peak::start`]: the peak resident size
/// (`VmHWM`, reset by writing 5 to `/proc/PID/clear_refs`) against the resident size at the start.
// hostile.rs and nta.rs measure memory; binary.rs includes this module without
// `allow(dead_code)`.
#[allow(dead_code)]
pub struct Peak {
    pid: u32,
    baseline: usize,
}

#[allow(dead_code)]
impl Peak {
    pub fn start(pid: u32) -> Peak {
        std::fs::write(format!("/proc/{pid}/clear_refs"), "5").expect("reset VmHWM");
        Peak {
            pid,
            baseline: status_kb(pid, "VmRSS"),
        }
    }

    /// (resident size at the start, peak since).
    pub fn read(&self) -> (usize, usize) {
        (self.baseline, status_kb(self.pid, "VmHWM"))
    }
}

/// Runs each `name(env: Env)` once per backend, as `sqlite::name` (a fresh data directory) and
/// `postgres::name` (`ZEGEL_DATABASE_URL` a fresh PostgreSQL database, dropped afterwards).
#[macro_export]
macro_rules! env_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::common_bin::Env::new()).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(db) = zegel_testkit::PgDb::create().await else {
                        return;
                    };
                    let mut env = super::common_bin::Env::new();
                    env.set("ZEGEL_DATABASE_URL", db.url());
                    super::$name(env).await;
                    drop(db);
                }
            )*
        }
    };
}

/// How one mail reached the sink.
// Only delivery.rs reads arrivals; binary.rs includes this module without `allow(dead_code)`,
// and an `expect` would go unfulfilled where it is used.
#[allow(dead_code)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    /// The client's port: one per TCP session.
    pub peer_port: u16,
    /// Whether the session was encrypted (STARTTLS or implicit TLS).
    pub tls: bool,
}

/// A real SMTP server (aiosmtpd) on 127.0.0.1:`port` saving mails into `dir`; killed on drop.
pub struct SmtpSink {
    child: Child,
    pub dir: PathBuf,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

impl SmtpSink {
    /// Starts the sink and waits until it accepts connections.
    pub async fn start(port: u16, dir: &Path) -> SmtpSink {
        Self::start_mode(port, dir, "accept").await
    }

    /// Like `start`, with a behaviour: `accept`, `reject550`, `reject550to:<address>` (only
    /// mail to that address is refused), `tempfail451`, `slow:<seconds>`,
    /// `starttls:<cert.pem>:<key.pem>` (STARTTLS offered and required),
    /// `smtps:<cert.pem>:<key.pem>` (TLS from the first byte), `auth:<user>:<pass>` (AUTH
    /// PLAIN/LOGIN required), `maxper:<n>` (the MAIL after `n` mails in one session gets
    /// `421` and the connection is closed) or `closeafter:<n>` (the server closes the
    /// connection right after accepting the `n`th mail of a session), or `quotecode550` (saves
    /// every mail, then refuses a code mail with `550` quoting its text, code and all).
    pub async fn start_mode(port: u16, dir: &Path, mode: &str) -> SmtpSink {
        Self::start_mode_at("127.0.0.1", port, dir, mode).await
    }

    /// Like `start_mode`, listening on `host` (another loopback address such as `127.0.0.2`:
    /// several sinks with their own certificates on one port).
    pub async fn start_mode_at(host: &str, port: u16, dir: &Path, mode: &str) -> SmtpSink {
        Self::start_sized_at(host, port, dir, mode, 32 << 20).await
    }

    /// Like `start_mode_at`, taking mail up to `size` bytes (announced in EHLO as `SIZE`).
    #[allow(dead_code)] // nta.rs
    pub async fn start_sized_at(
        host: &str,
        port: u16,
        dir: &Path,
        mode: &str,
        size: usize,
    ) -> SmtpSink {
        let py = python_with_aiosmtpd();
        std::fs::create_dir_all(dir).expect("create the sink directory");
        let script = dir
            .parent()
            .expect("sink directory has a parent")
            .join("smtp_sink.py");
        std::fs::write(&script, SMTP_SINK).expect("write the sink script");
        let mut child = Command::new(py)
            .env("SINK_HOST", host)
            .env("SINK_SIZE", size.to_string())
            .arg(&script)
            .arg(port.to_string())
            .arg(dir)
            .arg(mode)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the SMTP sink");
        let stderr = Arc::new(Mutex::new(String::new()));
        drain_into(child.stderr.take().expect("piped stderr"), stderr.clone());
        let mut out = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let ready = tokio::time::timeout(Duration::from_secs(20), out.next_line()).await;
        match ready {
            Ok(Ok(Some(line))) if line.trim() == "ready" => {}
            other => {
                // Give the stderr reader a moment to collect the traceback.
                let _ = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
                panic!(
                    "the SMTP sink on port {port} did not start ({other:?}):\n{}",
                    stderr.lock().expect("stderr lock")
                );
            }
        }
        SmtpSink {
            child,
            dir: dir.to_path_buf(),
        }
    }

    /// Received mails, oldest first.
    pub fn mails(&self) -> Vec<Mail> {
        files_in(&self.dir).iter().map(|p| Mail::read(p)).collect()
    }

    /// How each received mail arrived, in the order of `mails()`.
    #[allow(dead_code)] // as `Arrival`
    pub fn arrivals(&self) -> Vec<Arrival> {
        files_in(&self.dir)
            .iter()
            .map(|p| {
                let name = p.file_name().expect("a file name").to_string_lossy();
                let meta = self.dir.join(format!(".{name}.json"));
                let meta: serde_json::Value = serde_json::from_slice(
                    &std::fs::read(&meta).unwrap_or_else(|e| panic!("{}: {e}", meta.display())),
                )
                .expect("arrival JSON");
                Arrival {
                    peer_port: meta["peer_port"].as_u64().expect("peer_port") as u16,
                    tls: meta["tls"].as_bool().expect("tls"),
                }
            })
            .collect()
    }

    /// The number of distinct TCP sessions that delivered mail.
    #[allow(dead_code)] // as `Arrival`
    pub fn sessions(&self) -> usize {
        let mut ports: Vec<u16> = self.arrivals().iter().map(|a| a.peer_port).collect();
        ports.sort_unstable();
        ports.dedup();
        ports.len()
    }

    /// The client ports of the sessions that ended with QUIT, in order.
    #[allow(dead_code)] // as `Arrival`
    pub fn quits(&self) -> Vec<u16> {
        std::fs::read_to_string(self.dir.join(".quits"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }
}

/// An internal CA and a server certificate for 127.0.0.1 signed by it (openssl):
/// (CA cert path, server cert path, server key path).
#[allow(dead_code)] // delivery.rs and submission.rs only
pub fn internal_ca(
    dir: &std::path::Path,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    internal_ca_for(dir, "IP:127.0.0.1")
}

/// Runs `openssl` with `args` in `dir`; panics when it fails.
#[allow(dead_code)] // internal_ca_for, nta.rs
pub fn openssl(dir: &std::path::Path, args: &[&str]) {
    let ok = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(ok.success(), "openssl {args:?}");
}

/// [`internal_ca`] with the server certificate for `sans` (an openssl subjectAltName value,
/// e.g. `DNS:mx.nta.test,IP:127.0.0.1`).
#[allow(dead_code)] // nta.rs only
pub fn internal_ca_for(
    dir: &std::path::Path,
    sans: &str,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let p = |n: &str| dir.join(n);
    let run = |args: &[&str]| openssl(dir, args);
    std::fs::write(
        p("leaf.ext"),
        format!("basicConstraints=CA:FALSE\nsubjectAltName={sans}\nextendedKeyUsage=serverAuth\n"),
    )
    .unwrap();
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=Zegel test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "leaf.ext",
        "-out",
        "server.pem",
    ]);
    (p("ca.pem"), p("server.pem"), p("server.key"))
}

/// The code the API tests give their recipients (verification `code`).
#[allow(dead_code)] // not every test binary sends or reads over the API
pub const PHONE_CODE: &str = "493817";

/// Sends `subject` and `body` with one PDF attachment `file_name` to `email` (verification by
/// the sender's code [`PHONE_CODE`]) over the API; the message id.
#[allow(dead_code)] // not every test binary sends or reads over the API
pub async fn send_with_file(
    server: &Server,
    token: &str,
    (subject, body): (&str, &str),
    email: &str,
    (file_name, file): (&str, &[u8]),
) -> String {
    let msg = serde_json::json!({
        "subject": subject,
        "body": body,
        "recipients": [{"email": email, "verification": "code", "code": PHONE_CODE}],
    });
    let form = reqwest::multipart::Form::new()
        .part(
            "message",
            reqwest::multipart::Part::text(msg.to_string())
                .mime_str("application/json")
                .unwrap(),
        )
        .part(
            "attachment",
            reqwest::multipart::Part::bytes(file.to_vec())
                .file_name(file_name.to_owned())
                .mime_str("application/pdf")
                .unwrap(),
        );
    let res = server
        .client
        .post(server.url("/api/v1/messages"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let v: serde_json::Value = res.json().await.unwrap();
    v["id"].as_str().unwrap().to_string()
}

/// The link token of a notification to `email` in the outbox of `data`, once the outbox
/// holds at least `n` mails and one of them is to `email` (within 30 s).
#[allow(dead_code)] // not every test binary sends or reads over the API
pub async fn link_of(data: &Path, email: &str, n: usize) -> String {
    let dir = data.join("outbox/mail");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mails = wait_for_files(&dir, n, Duration::from_secs(30)).await;
        if let Some(m) = mails
            .iter()
            .map(|p| Mail::read(p))
            .find(|m| m.everything().contains(email) && !m.links().is_empty())
        {
            return m.links()[0].rsplit('/').next().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "no notification to {email}");
        tokio::time::sleep(POLL).await;
    }
}

/// The recipient verifies with [`PHONE_CODE`] and reads the message: `Ok((message JSON,
/// access token))`, or `Err(status of verify)`.
#[allow(dead_code)] // not every test binary sends or reads over the API
pub async fn open_message(server: &Server, link: &str) -> Result<(serde_json::Value, String), u16> {
    let c = &server.client;
    let res = c
        .post(server.url(&format!("/api/v1/access/{link}/verify")))
        .json(&serde_json::json!({"code": PHONE_CODE}))
        .send()
        .await
        .unwrap();
    if res.status() != 200 {
        return Err(res.status().as_u16());
    }
    let grant: serde_json::Value = res.json().await.unwrap();
    let at = grant["access_token"].as_str().unwrap().to_owned();
    let m: serde_json::Value = c
        .get(server.url(&format!("/api/v1/access/{link}/message")))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    Ok((m, at))
}

/// The first attachment of an opened message (200 asserted).
#[allow(dead_code)] // not every test binary sends or reads over the API
pub async fn download_first(
    server: &Server,
    link: &str,
    message: &serde_json::Value,
    at: &str,
) -> Vec<u8> {
    let att = message["attachments"][0]["id"].as_str().unwrap();
    let res = server
        .client
        .get(server.url(&format!("/api/v1/access/{link}/attachments/{att}")))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.bytes().await.unwrap().to_vec()
}

/// Runs Python's `smtplib` (tests/smtp_client.py) against 127.0.0.1:`port`, whose certificate
/// `ca` signed, with these steps (`["ehlo"]`, `["starttls"]`, `["auth", mech, user, pw]`,
/// `["mail", from, size]`, `["rcpt", to]`, `["data", path]`, `["raw", line]`, `["quit"]`); the
/// replies as (code, text).
#[allow(dead_code)] // submission.rs and nta.rs only
pub async fn smtp_client(
    port: u16,
    ca: &Path,
    steps: serde_json::Value,
) -> Vec<(serde_json::Value, String)> {
    let plan = serde_json::json!({"port": port, "cafile": ca, "steps": steps});
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_client.py");
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs");
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().expect("piped stdin");
        stdin
            .write_all(plan.to_string().as_bytes())
            .await
            .expect("write the plan");
    }
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the client finishes")
        .expect("the client's output");
    assert!(
        out.status.success(),
        "client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the replies as JSON")
}

//! TestApp: the real router on 127.0.0.1:0 over a real store (SQLite file or a fresh
//! PostgreSQL database), real local blobs and the dev outbox in a temp dir.
#![allow(dead_code)]

use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::Notify;
use zegel::http::{router, HttpOptions};
use zegel_core::blobs::Blobs;
use zegel_core::keys::KeyRing;
use zegel_core::model::User;
use zegel_core::outbound::{OutboxMailer, OutboxSms};
use zegel_core::service::Worker;
use zegel_core::{DynStore, Settings, Zegel};
use zegel_crypto::MasterKey;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub z: Arc<Zegel>,
    pub base: String,
    pub client: reqwest::Client,
    pub dir: tempfile::TempDir,
    pub sender: User,
    pub token: String,
    pub backend: Backend,
    pub store_guard: Box<dyn std::any::Any + Send>,
    server: tokio::task::JoinHandle<()>,
    /// Jobs may be left pending or dead on drop (the test is about them).
    leave_jobs: bool,
}

/// Dropping a TestApp fails the test when jobs are left pending or dead (as crates.io's test
/// app does): a test that queued work must run it (`run_jobs`) and see it through, or say
/// with `.leave_jobs()` that leftover jobs are its point. Needs the multi-thread runtime
/// (`backend_tests!` uses it) to ask the store from `drop`.
impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
        if self.leave_jobs || std::thread::panicking() {
            return;
        }
        let handle = tokio::runtime::Handle::current();
        assert_eq!(
            handle.runtime_flavor(),
            tokio::runtime::RuntimeFlavor::MultiThread,
            "a TestApp checks its job queue on drop: use #[tokio::test(flavor = \"multi_thread\")]"
        );
        let store = self.z.store.clone();
        let counts = tokio::task::block_in_place(|| handle.block_on(store.job_counts()));
        match counts {
            Ok((0, 0)) => {}
            Ok((pending, dead)) => panic!(
                "the test left {pending} pending and {dead} dead job(s): run them with \
                 app.run_jobs(), or build the TestApp with .leave_jobs() when that is the point"
            ),
            Err(e) => panic!("job counts on drop: {e}"),
        }
    }
}

/// Builds a [`TestApp`]: `TestApp::builder(backend).settings(|s| ..).build().await`.
pub struct TestAppBuilder {
    backend: Backend,
    store: Option<(DynStore, Box<dyn std::any::Any + Send>)>,
    settings: Box<dyn FnOnce(&mut Settings) + Send>,
    http: HttpOptions,
    dkim: Option<Arc<zegel_core::dkim::Dkim>>,
    mailer: Option<Arc<dyn zegel_core::outbound::Mailer>>,
    sms: Option<Arc<dyn zegel_core::outbound::SmsSender>>,
    leave_jobs: bool,
}

impl TestAppBuilder {
    /// Changes the settings from their test defaults.
    pub fn settings(mut self, f: impl FnOnce(&mut Settings) + Send + 'static) -> Self {
        self.settings = Box::new(f);
        self
    }

    /// HTTP options (rate limits, proxies, cookies).
    pub fn http(mut self, opts: HttpOptions) -> Self {
        self.http = opts;
        self
    }

    /// DKIM-signs the dev outbox's mail.
    pub fn dkim(mut self, dkim: Arc<zegel_core::dkim::Dkim>) -> Self {
        self.dkim = Some(dkim);
        self
    }

    /// A real mailer (e.g. SMTP to a local server) instead of the dev outbox.
    pub fn mailer(mut self, mailer: Arc<dyn zegel_core::outbound::Mailer>) -> Self {
        self.mailer = Some(mailer);
        self
    }

    /// A real SMS gateway (e.g. HTTP to a local server) instead of the dev outbox.
    pub fn sms(mut self, sms: Arc<dyn zegel_core::outbound::SmsSender>) -> Self {
        self.sms = Some(sms);
        self
    }

    /// An existing store (with the value that keeps it alive) instead of a fresh one.
    pub fn store(mut self, store: DynStore, guard: Box<dyn std::any::Any + Send>) -> Self {
        self.store = Some((store, guard));
        self
    }

    /// Jobs may be left pending or dead when the app is dropped.
    pub fn leave_jobs(mut self) -> Self {
        self.leave_jobs = true;
        self
    }

    /// The running app; `None` when PostgreSQL tests are skipped on purpose.
    pub async fn build(mut self) -> Option<TestApp> {
        let (store, guard) = match self.store.take() {
            Some(s) => s,
            None => store_for(self.backend).await?,
        };
        Some(TestApp::start(self, store, guard).await)
    }
}

pub const MASTER: [u8; 32] = [7u8; 32];

pub fn default_http() -> HttpOptions {
    HttpOptions {
        rate_limit_per_minute: 600,
        rate_limit_burst: 300,
        proxies: zegel::http::TrustedProxies::none(),
        secure_cookies: false,
        metrics_elsewhere: false,
    }
}

pub async fn store_for(backend: Backend) -> Option<(DynStore, Box<dyn std::any::Any + Send>)> {
    match backend {
        Backend::Sqlite => {
            let (s, dir) = zegel_testkit::sqlite_store().await;
            Some((s, Box::new(dir)))
        }
        Backend::Postgres => {
            let (s, db) = zegel_testkit::postgres_store().await?;
            Some((s, Box::new(db)))
        }
    }
}

impl TestApp {
    /// A builder for a TestApp on `backend`.
    pub fn builder(backend: Backend) -> TestAppBuilder {
        TestAppBuilder {
            backend,
            store: None,
            settings: Box::new(|_| {}),
            http: default_http(),
            dkim: None,
            mailer: None,
            sms: None,
            leave_jobs: false,
        }
    }

    /// A TestApp with the defaults.
    pub async fn new(backend: Backend) -> Option<TestApp> {
        Self::builder(backend).build().await
    }

    async fn start(
        b: TestAppBuilder,
        store: DynStore,
        store_guard: Box<dyn std::any::Any + Send>,
    ) -> TestApp {
        let TestAppBuilder {
            backend,
            settings: f,
            http: opts,
            dkim,
            mailer,
            sms,
            leave_jobs,
            ..
        } = b;
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut settings = Settings {
            public_url: format!("http://{addr}"),
            ..Settings::default()
        };
        f(&mut settings);
        let keys = KeyRing::open(&store, MasterKey::from_bytes(MASTER))
            .await
            .unwrap();
        let z = Arc::new(Zegel {
            store,
            blobs: Blobs::local(dir.path().join("blobs")).unwrap(),
            keys,
            mailer: mailer.unwrap_or_else(|| {
                Arc::new(
                    OutboxMailer::new(dir.path().join("outbox/mail"), "zegel@ziekenhuis.example")
                        .unwrap()
                        .with_dkim(dkim),
                )
            }),
            sms: sms.unwrap_or_else(|| {
                Arc::new(OutboxSms::new(dir.path().join("outbox/sms")).unwrap())
            }),
            direct: None,
            mail_dns: None,
            settings,
            job_wakeup: Arc::new(Notify::new()),
            smtp_logins: zegel_core::service::smtp_logins(),
        });
        let app = router(z.clone(), opts);
        let server = tokio::spawn(async move {
            let limits = zegel::http::server::ServerLimits::default();
            zegel::http::server::serve(listener, app, limits, std::future::pending())
                .await
                .unwrap();
        });
        let org = z.ensure_org("default", "Ziekenhuis Test").await.unwrap();
        let sender = z
            .create_user(zegel_core::service::NewUserReq {
                email: "arts@ziekenhuis.example".into(),
                name: "Dr. Test".into(),
                org_slug: Some(org.slug),
                password: None,
                role: zegel_core::model::Role::Sender,
            })
            .await
            .unwrap();
        let token = z.create_api_token(&sender, "test").await.unwrap();
        TestApp {
            z,
            base: format!("http://{addr}"),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            dir,
            sender,
            token,
            backend,
            store_guard,
            server,
            leave_jobs,
        }
    }

    /// A signed-in session for the user with `email`, made directly (no sign-in pages): the
    /// `Cookie` header value (`zegel_sender=...`) and the session's CSRF token.
    #[allow(dead_code)]
    pub async fn sender_session(&self, email: &str) -> (String, String) {
        let user = self
            .z
            .store
            .user_by_email(email)
            .await
            .unwrap()
            .expect("sender_session: no such user");
        let token = self.z.start_sender_session(&user.id).await.unwrap();
        let session = self.z.sender_session(&token).await.unwrap().unwrap();
        (format!("zegel_sender={token}"), session.csrf)
    }

    /// The `Cookie` header value of a fresh session for the user with `email`.
    #[allow(dead_code)]
    pub async fn sender_cookie(&self, email: &str) -> String {
        self.sender_session(email).await.0
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn run_jobs(&self) -> usize {
        Worker::new(self.z.clone()).drain().await.unwrap()
    }

    pub fn outbox_dir(&self, kind: &str) -> PathBuf {
        self.dir.path().join("outbox").join(kind)
    }

    /// Outbox files of one kind, oldest first.
    pub fn outbox(&self, kind: &str) -> Vec<String> {
        let mut files: Vec<_> = std::fs::read_dir(self.outbox_dir(kind))
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.retain(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'));
        files.sort();
        files
            .into_iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }

    /// The link token in the newest notification to `email`.
    pub fn link_token(&self, email: &str) -> String {
        let re = regex::Regex::new(r"/m/([A-Za-z0-9_-]{43})").unwrap();
        let mails = self.outbox("mail");
        let mail = mails
            .iter()
            .rev()
            .find(|m| m.contains(&format!("To: {email}")) && re.is_match(m))
            .unwrap_or_else(|| panic!("no notification to {email} in {} mails", mails.len()));
        re.captures(mail).unwrap()[1].to_string()
    }

    /// The newest 6-digit code sent to this e-mail address or phone number.
    pub fn last_code(&self, to: &str) -> String {
        let re = regex::Regex::new(r"\b(\d{6})\b").unwrap();
        let from_sms = self
            .outbox("sms")
            .into_iter()
            .rev()
            .find(|s| s.contains(to));
        let text = from_sms.unwrap_or_else(|| {
            self.outbox("mail")
                .into_iter()
                .rev()
                .find(|m| m.contains(&format!("To: {to}")) && m.contains("toegangscode"))
                .unwrap_or_else(|| panic!("no code sent to {to}"))
        });
        let parsed = if text.starts_with('{') {
            text
        } else {
            let msg = mail_parser::MessageParser::default()
                .parse(text.as_bytes())
                .unwrap();
            msg.body_text(0).unwrap().into_owned()
        };
        re.captures(&parsed).unwrap()[1].to_string()
    }

    pub fn auth(&self) -> String {
        format!("Bearer {}", self.token)
    }

    pub async fn send_json(&self, body: serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.url("/api/v1/messages"))
            .header("authorization", self.auth())
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Sends a message to one e-mail-verified recipient and returns (message id, link token).
    pub async fn send_simple(&self, email: &str) -> (String, String) {
        let res = self
            .send_json(serde_json::json!({
                "subject": "Uitslag",
                "body": "Alles goed.",
                "recipients": [{"email": email, "verification": "email"}],
            }))
            .await;
        assert_eq!(res.status(), 201);
        let v: serde_json::Value = res.json().await.unwrap();
        self.run_jobs().await;
        (
            v["id"].as_str().unwrap().to_string(),
            self.link_token(email),
        )
    }

    /// Challenge + verify by e-mail; returns the access token.
    pub async fn open_by_email(&self, link: &str, email: &str) -> String {
        let res = self
            .client
            .post(self.url(&format!("/api/v1/access/{link}/challenge")))
            .json(&serde_json::json!({"method": "email"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 202);
        self.run_jobs().await;
        let code = self.last_code(email);
        let res = self
            .client
            .post(self.url(&format!("/api/v1/access/{link}/verify")))
            .json(&serde_json::json!({"code": code}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let v: serde_json::Value = res.json().await.unwrap();
        v["access_token"].as_str().unwrap().to_string()
    }

    /// The sender's view of one message (`GET /api/v1/messages/{id}`, 200 asserted).
    #[allow(dead_code)]
    pub async fn message_status(&self, id: &str) -> Value {
        let res = self
            .client
            .get(self.url(&format!("/api/v1/messages/{id}")))
            .header("authorization", self.auth())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }

    /// The recipient's view of the message behind `link` with the access token `at`
    /// (`GET /api/v1/access/{link}/message`, 200 asserted).
    #[allow(dead_code)]
    pub async fn access_message(&self, link: &str, at: &str) -> Value {
        let res = self
            .client
            .get(self.url(&format!("/api/v1/access/{link}/message")))
            .bearer_auth(at)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }

    /// The replies of the sender's refused sends (`HTTP 422`, `SMTP 554 5.6.0`), as the audit
    /// trail has them (oldest first).
    pub async fn refused_sends(&self) -> Vec<String> {
        self.z
            .store
            .account_events(&self.sender.id)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.event.kind == zegel_core::signin::AccountEventKind::SendFailed)
            .map(|e| e.event.detail.unwrap_or_default())
            .collect()
    }

    /// The first page of the sender's sent messages (`GET /api/v1/messages`).
    pub async fn sent_messages(&self) -> Vec<Value> {
        let res = self
            .client
            .get(self.url("/api/v1/messages"))
            .header("authorization", self.auth())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let list: Value = res.json().await.unwrap();
        list["messages"]
            .as_array()
            .expect("a messages list")
            .clone()
    }

    /// The `last_error` of every job row that has one, read straight from the database (no
    /// Store method shows it).
    pub async fn job_errors(&self) -> Vec<String> {
        let url = if let Some(dir) = self.store_guard.downcast_ref::<tempfile::TempDir>() {
            format!("sqlite://{}", dir.path().join("zegel.db").display())
        } else {
            self.store_guard
                .downcast_ref::<zegel_testkit::PgDb>()
                .expect("store guard is a TempDir or a PgDb")
                .url()
                .to_string()
        };
        zegel_testkit::select_texts(&url, "SELECT last_error FROM jobs ORDER BY id")
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// Every blob key currently stored.
    pub async fn blob_keys(&self) -> Vec<String> {
        self.z.blobs.list("att").await.unwrap()
    }
}

/// Whether `code` (six digits) stands in `text` as a number of its own. Not inside a longer
/// one: every log line's timestamp has six digits of microseconds (`.123456Z`), and ids,
/// durations and times in milliseconds hold six-digit runs too, so a random code would be
/// found in them now and then.
pub fn holds_code(text: &str, code: &str) -> bool {
    text.match_indices(code).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + code.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '.')
            && !after.is_some_and(|c| c.is_ascii_alphanumeric())
    })
}

/// Every log line of this test binary, at every level, from the first call on.
pub fn captured_logs() -> Arc<std::sync::Mutex<Vec<u8>>> {
    static LOGS: std::sync::OnceLock<Arc<std::sync::Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || Appender(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        logs
    })
    .clone()
}

pub struct Appender(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Appender {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs an async test body once per backend: `backend_tests!(name, |app_backend| async { ... })`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name(super::common::Backend::Sqlite).await }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name(super::common::Backend::Postgres).await }
            )*
        }
    };
}

/// Everything the database holds, as bytes: the SQLite files (database, WAL, SHM) or a
/// `pg_dump` of the test database.
pub async fn dump_database(app: &TestApp) -> Vec<u8> {
    if let Some(dir) = app.store_guard.downcast_ref::<tempfile::TempDir>() {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir.path()).unwrap().flatten() {
            if e.path().is_file() {
                out.extend(std::fs::read(e.path()).unwrap());
            }
        }
        return out;
    }
    let db = app
        .store_guard
        .downcast_ref::<zegel_testkit::PgDb>()
        .expect("store guard is a TempDir or a PgDb");
    let out = std::process::Command::new("pg_dump")
        .arg("--no-owner")
        .arg(db.url())
        .output()
        .expect("pg_dump runs (scripts/test.sh installs postgresql-client)");
    assert!(
        out.status.success(),
        "pg_dump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `n` random bytes (file contents that cannot be guessed or compressed).
pub fn random_bytes(n: usize) -> Vec<u8> {
    use rand::RngCore;
    let mut v = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut v);
    v
}

/// The event types of recipient `recipient` in a `GET /api/v1/messages/{id}` answer.
pub fn event_types(status: &Value, recipient: usize) -> Vec<String> {
    status["recipients"][recipient]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

/// A client that keeps cookies and does not follow redirects, like a browser form flow.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The CSRF token in a viewer page's form.
pub fn csrf_of(page: &str) -> String {
    regex::Regex::new(r#"name="csrf" value="([^"]+)""#)
        .unwrap()
        .captures(page)
        .unwrap()[1]
        .to_string()
}

// The patient's steps in the HTML viewer (conversation.rs, patient_view.rs, hostile_logic.rs).

/// A GET: (status, body).
#[allow(dead_code)]
pub async fn page(c: &reqwest::Client, url: String) -> (reqwest::StatusCode, String) {
    let res = c.get(url).send().await.unwrap();
    (res.status(), res.text().await.unwrap())
}

/// Landing -> "Bericht openen" -> "Stuur mij de code"; returns the CSRF token.
#[allow(dead_code)]
pub async fn start_in_viewer(app: &TestApp, c: &reqwest::Client, link: &str) -> String {
    let (_, landing) = page(c, app.url(&format!("/m/{link}"))).await;
    let csrf = csrf_of(&landing);
    for step in ["start", "send"] {
        let res = c
            .post(app.url(&format!("/m/{link}/{step}")))
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
    }
    csrf
}

/// The e-mailed code -> the message page; returns the `Set-Cookie` of a remembered device.
#[allow(dead_code)]
pub async fn finish_in_viewer(
    app: &TestApp,
    c: &reqwest::Client,
    link: &str,
    email: &str,
    csrf: &str,
    remember: bool,
) -> Option<String> {
    app.run_jobs().await;
    let code = app.last_code(email);
    let mut form = vec![("csrf", csrf.to_string()), ("code", code)];
    if remember {
        form.push(("remember", "1".into()));
    }
    let res = c
        .post(app.url(&format!("/m/{link}/verify")))
        .form(&form)
        .send()
        .await
        .unwrap();
    let device = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("zegel_device="));
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    device
}

/// Landing -> "Bericht openen" -> e-mail code -> message page; returns the CSRF token.
#[allow(dead_code)]
pub async fn open_in_viewer(app: &TestApp, c: &reqwest::Client, link: &str, email: &str) -> String {
    let csrf = start_in_viewer(app, c, link).await;
    finish_in_viewer(app, c, link, email, &csrf, false).await;
    csrf
}

//! Configuration: defaults, then `zegel.toml` (`--config`), then `ZEGEL_*` variables.

use anyhow::{bail, Context};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use zegel_core::dkim::Dkim;
use zegel_core::outbound::{SmtpSettings, SmtpTls};
use zegel_core::sms::{BodyFormat, GenericTemplate, HttpSmsSettings, SmsProvider};
use zegel_core::Settings;

use crate::http::server::ServerLimits;
use crate::http::TrustedProxies;

/// The longest the server waits for request headers or for more of a body (DESIGN.md:
/// "disconnected within 60 s").
const MAX_HTTP_TIMEOUT_SECS: u64 = 60;

/// The raw, flat configuration keys (`ZEGEL_<KEY>` in upper case).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Raw {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub blob_url: Option<String>,
    pub listen: String,
    pub public_url: Option<String>,
    pub smtp_url: Option<String>,
    pub smtp_tls: String,
    pub smtp_ca_file: Option<PathBuf>,
    pub smtp_timeout_secs: u64,
    pub retry_first_secs: f64,
    pub notify_max_attempts: i64,
    pub mail_from: Option<String>,
    pub dkim_domain: Option<String>,
    pub dkim_selector: Option<String>,
    pub dkim_key_file: Option<PathBuf>,
    pub sms_provider: String,
    pub sms_url: Option<String>,
    pub sms_token: Option<String>,
    pub sms_sender: String,
    pub sms_method: String,
    pub sms_headers: Option<String>,
    pub sms_body_template: Option<String>,
    pub sms_body_format: String,
    pub sms_success_status: Option<String>,
    pub master_key: Option<String>,
    pub master_key_file: Option<PathBuf>,
    pub max_upload_bytes: u64,
    pub max_body_bytes: usize,
    pub max_recipients: usize,
    pub max_attachments: usize,
    pub max_reply_attachments: usize,
    pub default_expiry_days: i64,
    pub max_expiry_days: i64,
    pub session_ttl_secs: i64,
    pub rate_limit_per_minute: u32,
    pub rate_limit_burst: u32,
    pub trust_forwarded_for: bool,
    pub trusted_proxies: Option<String>,
    pub http_header_timeout_secs: u64,
    pub http_body_idle_secs: u64,
    pub max_connections: usize,
    pub metrics_listen: Option<String>,
    pub log: String,
    pub submission_listen: Option<String>,
    pub submission_tls_cert: Option<PathBuf>,
    pub submission_tls_key: Option<PathBuf>,
    pub submission_max_bytes: usize,
    pub submission_per_minute: u32,
    pub nta7516: String,
    pub dns_resolver: Option<String>,
    pub direct_smtp_port: u16,
    pub direct_max_bytes: u64,
    pub mta_sts_port: u16,
}

impl Default for Raw {
    fn default() -> Self {
        let s = Settings::default();
        let server = ServerLimits::default();
        Raw {
            data_dir: PathBuf::from("./zegel-data"),
            database_url: None,
            blob_url: None,
            listen: "127.0.0.1:8080".into(),
            public_url: None,
            smtp_url: None,
            smtp_tls: "required".into(),
            smtp_ca_file: None,
            smtp_timeout_secs: 30,
            retry_first_secs: 30.0,
            notify_max_attempts: 120,
            mail_from: None,
            dkim_domain: None,
            dkim_selector: None,
            dkim_key_file: None,
            sms_provider: "outbox".into(),
            sms_url: None,
            sms_token: None,
            sms_sender: "Zegel".into(),
            sms_method: "POST".into(),
            sms_headers: None,
            sms_body_template: None,
            sms_body_format: "json".into(),
            sms_success_status: None,
            master_key: None,
            master_key_file: None,
            max_upload_bytes: s.max_upload_bytes,
            max_body_bytes: s.max_body_bytes,
            max_recipients: s.max_recipients,
            max_attachments: s.max_attachments,
            max_reply_attachments: s.max_reply_attachments,
            default_expiry_days: s.default_expiry_days,
            max_expiry_days: s.max_expiry_days,
            session_ttl_secs: s.session_ttl_secs,
            rate_limit_per_minute: 300,
            rate_limit_burst: 100,
            trust_forwarded_for: false,
            trusted_proxies: None,
            http_header_timeout_secs: server.header_timeout.as_secs(),
            http_body_idle_secs: server.body_idle.as_secs(),
            max_connections: server.max_connections,
            metrics_listen: None,
            log: "info".into(),
            submission_listen: None,
            submission_tls_cert: None,
            submission_tls_key: None,
            submission_max_bytes: 50 * 1024 * 1024,
            submission_per_minute: 600,
            nta7516: "off".into(),
            dns_resolver: None,
            direct_smtp_port: 25,
            direct_max_bytes: 25 * 1024 * 1024,
            mta_sts_port: 443,
        }
    }
}

/// Keys accepted from the environment (`ZEGEL_` + upper case): exactly the fields of `Raw`.
fn known_keys() -> Vec<String> {
    match serde_json::to_value(Raw::default()) {
        Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Where the database is.
#[derive(Clone)]
pub enum DatabaseUrl {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL URL.
    Postgres(String),
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseUrl::Sqlite(p) => write!(f, "sqlite://{}", p.display()),
            DatabaseUrl::Postgres(u) => match url::Url::parse(u) {
                Ok(mut u) => {
                    if u.password().is_some() {
                        let _ = u.set_password(Some("***"));
                    }
                    write!(f, "{u}")
                }
                Err(_) => f.write_str("postgres://***"),
            },
        }
    }
}

/// Where the master key comes from.
pub enum MasterKeySource {
    /// Base64 in `ZEGEL_MASTER_KEY`.
    Inline(String),
    /// A file (created on first start).
    File(PathBuf),
}

/// The validated configuration.
pub struct Config {
    pub data_dir: PathBuf,
    pub database: DatabaseUrl,
    pub blob_url: String,
    pub listen: String,
    pub public_url_set: bool,
    pub smtp: Option<SmtpSettings>,
    pub mail_from: String,
    pub dkim: Option<Arc<Dkim>>,
    pub sms: Option<HttpSmsSettings>,
    pub master: MasterKeySource,
    pub settings: Settings,
    pub rate_limit_per_minute: u32,
    pub rate_limit_burst: u32,
    /// Whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
    /// Timeouts and the connection cap of the HTTP server.
    pub server: ServerLimits,
    /// A second listener for `/metrics` only (then not on the main one).
    pub metrics_listen: Option<String>,
    /// The SMTP submission listener (`ZEGEL_SUBMISSION_LISTEN`), when on.
    pub submission: Option<crate::smtp::SubmissionSettings>,
    /// NTA 7516 direct delivery (`ZEGEL_NTA7516=on`).
    pub direct: Option<zegel_core::outbound::direct::DirectSettings>,
    /// `ZEGEL_DNS_RESOLVER`: the DNS server for mail between providers; `None`: the system's.
    pub dns_resolver: Option<std::net::SocketAddr>,
}

impl Raw {
    fn sms_settings(&self) -> anyhow::Result<Option<HttpSmsSettings>> {
        let provider = match self.sms_provider.as_str() {
            "outbox" => return Ok(None),
            "cm" => SmsProvider::Cm,
            "messagebird" => SmsProvider::MessageBird,
            "spryng" => SmsProvider::Spryng,
            "http" => {
                let headers: std::collections::BTreeMap<String, String> = match &self.sms_headers {
                    Some(h) => serde_json::from_str(h)
                        .context("ZEGEL_SMS_HEADERS must be a JSON object of strings")?,
                    None => Default::default(),
                };
                let success = match &self.sms_success_status {
                    Some(list) => list
                        .split(',')
                        .map(|x| x.trim().parse::<u16>())
                        .collect::<Result<Vec<_>, _>>()
                        .context("ZEGEL_SMS_SUCCESS_STATUS must be like 200,201")?,
                    None => Vec::new(),
                };
                SmsProvider::Generic(GenericTemplate {
                    method: self.sms_method.to_uppercase(),
                    headers,
                    body: self.sms_body_template.clone().context(
                        "ZEGEL_SMS_BODY_TEMPLATE is required for ZEGEL_SMS_PROVIDER=http",
                    )?,
                    format: match self.sms_body_format.as_str() {
                        "json" => BodyFormat::Json,
                        "form" => BodyFormat::Form,
                        other => bail!("ZEGEL_SMS_BODY_FORMAT must be json or form (got {other})"),
                    },
                    success,
                })
            }
            other => bail!(
                "ZEGEL_SMS_PROVIDER must be outbox, http, cm, messagebird or spryng (got {other})"
            ),
        };
        let url = self
            .sms_url
            .clone()
            .context("ZEGEL_SMS_URL is required for an SMS gateway")?;
        Ok(Some(HttpSmsSettings {
            provider,
            url,
            token: self.sms_token.clone().unwrap_or_default(),
            sender: self.sms_sender.chars().take(11).collect(),
            timeout: Duration::from_secs(20),
        }))
    }

    /// Defaults, then the TOML file, then `ZEGEL_*`.
    pub fn load(config_file: Option<&Path>) -> anyhow::Result<Raw> {
        let mut fig = Figment::from(Serialized::defaults(Raw::default()));
        if let Some(p) = config_file {
            if !p.exists() {
                bail!("config file {} does not exist", p.display());
            }
            fig = fig.merge(Toml::file(p));
        }
        let known = known_keys();
        let known_refs: Vec<&str> = known.iter().map(String::as_str).collect();
        fig = fig.merge(Env::prefixed("ZEGEL_").only(&known_refs));
        for (k, _) in std::env::vars() {
            if let Some(rest) = k.strip_prefix("ZEGEL_") {
                let key = rest.to_lowercase();
                if !known.contains(&key) && !key.starts_with("test_") && key != "config" {
                    tracing::warn!(variable = %k, "unknown ZEGEL_ variable ignored");
                }
            }
        }
        fig.extract().context("reading configuration")
    }

    /// Checks values and derives paths.
    pub fn validate(self) -> anyhow::Result<Config> {
        let data_dir = self.data_dir.clone();
        let database = match &self.database_url {
            None => DatabaseUrl::Sqlite(data_dir.join("zegel.db")),
            Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
                DatabaseUrl::Postgres(u.clone())
            }
            Some(u) => match u
                .strip_prefix("sqlite://")
                .or_else(|| u.strip_prefix("sqlite:"))
            {
                Some(p) => DatabaseUrl::Sqlite(PathBuf::from(p)),
                None => bail!("ZEGEL_DATABASE_URL must start with sqlite:// or postgres://"),
            },
        };
        let blob_url = self
            .blob_url
            .clone()
            .unwrap_or_else(|| format!("file://{}", data_dir.join("blobs").display()));
        if !blob_url.starts_with("file://") && !blob_url.starts_with("s3://") {
            bail!("ZEGEL_BLOB_URL must start with file:// or s3://");
        }
        let public_url_set = self.public_url.is_some();
        let public_url = self
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
            .trim_end_matches('/')
            .to_string();
        let parsed_public =
            url::Url::parse(&public_url).context("ZEGEL_PUBLIC_URL is not a URL")?;
        let host = parsed_public.host_str().unwrap_or("localhost").to_string();
        let mail_from = self.mail_from.clone().unwrap_or_else(|| {
            format!(
                "noreply@{}",
                if host.contains('.') {
                    host.clone()
                } else {
                    format!("{host}.localhost")
                }
            )
        });
        let tls = match self.smtp_tls.as_str() {
            "required" => SmtpTls::Required,
            "opportunistic" => SmtpTls::Opportunistic,
            "none" => SmtpTls::None,
            other => bail!("ZEGEL_SMTP_TLS must be required, opportunistic or none (got {other})"),
        };
        let dkim = match (&self.dkim_domain, &self.dkim_selector, &self.dkim_key_file) {
            (None, None, None) => None,
            (Some(domain), Some(selector), Some(file)) => {
                let pem = std::fs::read(file)
                    .with_context(|| format!("ZEGEL_DKIM_KEY_FILE {}", file.display()))?;
                Some(Arc::new(Dkim::from_pem(&pem, domain, selector).map_err(anyhow::Error::msg)?))
            }
            _ => bail!("DKIM needs ZEGEL_DKIM_DOMAIN, ZEGEL_DKIM_SELECTOR and ZEGEL_DKIM_KEY_FILE together"),
        };
        let sms = self.sms_settings()?;
        let ca_pem = match &self.smtp_ca_file {
            Some(p) => Some(
                std::fs::read(p).with_context(|| format!("ZEGEL_SMTP_CA_FILE {}", p.display()))?,
            ),
            None => None,
        };
        let direct = self.direct_settings(&mail_from, &host, ca_pem.clone(), dkim.clone())?;
        let dns_resolver = match self.dns_resolver.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(r) => Some(
                r.parse::<std::net::SocketAddr>()
                    .with_context(|| format!("ZEGEL_DNS_RESOLVER must be ip:port (got {r})"))?,
            ),
        };
        let smtp = match &self.smtp_url {
            None => None,
            Some(u) => {
                let url = url::Url::parse(u).context("ZEGEL_SMTP_URL is not a URL")?;
                Some(SmtpSettings {
                    url,
                    tls,
                    ca_pem,
                    from_addr: mail_from.clone(),
                    timeout: Duration::from_secs(self.smtp_timeout_secs.clamp(1, 60)),
                    dkim: dkim.clone(),
                })
            }
        };
        let master = match (&self.master_key, &self.master_key_file) {
            (Some(k), _) => MasterKeySource::Inline(k.clone()),
            (None, Some(f)) => MasterKeySource::File(f.clone()),
            (None, None) => MasterKeySource::File(data_dir.join("master.key")),
        };
        if self.max_upload_bytes == 0 {
            bail!("ZEGEL_MAX_UPLOAD_BYTES must be > 0");
        }
        if self.rate_limit_per_minute == 0 {
            bail!("ZEGEL_RATE_LIMIT_PER_MINUTE must be > 0");
        }
        let days = 1..=zegel_core::service::MAX_AVAILABILITY_DAYS;
        if !days.contains(&self.max_expiry_days) {
            bail!(
                "ZEGEL_MAX_EXPIRY_DAYS must be from 1 to {} (got {})",
                days.end(),
                self.max_expiry_days
            );
        }
        if !(1..=self.max_expiry_days).contains(&self.default_expiry_days) {
            bail!(
                "ZEGEL_DEFAULT_EXPIRY_DAYS must be from 1 to ZEGEL_MAX_EXPIRY_DAYS ({}) (got {})",
                self.max_expiry_days,
                self.default_expiry_days
            );
        }
        let trusted_proxies = self.trusted_proxies()?;
        let server = self.server_limits()?;
        let submission = self.submission_settings(&host)?;
        let settings = Settings {
            public_url,
            max_upload_bytes: self.max_upload_bytes,
            max_body_bytes: self.max_body_bytes,
            max_recipients: self.max_recipients,
            max_attachments: self.max_attachments,
            max_reply_attachments: self.max_reply_attachments,
            default_expiry_days: self.default_expiry_days,
            max_expiry_days: self.max_expiry_days,
            session_ttl_secs: self.session_ttl_secs,
            retry_first_ms: (self.retry_first_secs * 1000.0).clamp(1.0, 900_000.0) as i64,
            notify_max_attempts: self.notify_max_attempts.max(1),
            mail_domain: mail_from
                .rsplit('@')
                .next()
                .unwrap_or("zegel.localhost")
                .to_string(),
            ..Settings::default()
        };
        Ok(Config {
            data_dir,
            database,
            blob_url,
            listen: self.listen,
            public_url_set,
            smtp,
            mail_from,
            dkim,
            sms,
            master,
            settings,
            rate_limit_per_minute: self.rate_limit_per_minute,
            rate_limit_burst: self.rate_limit_burst.max(1),
            trusted_proxies,
            server,
            metrics_listen: self.metrics_listen.filter(|l| !l.trim().is_empty()),
            submission,
            direct,
            dns_resolver,
        })
    }

    /// `ZEGEL_SUBMISSION_*`: off without a listen address; with one, the certificate and key
    /// are required (STARTTLS is always offered) and checked now.
    /// `ZEGEL_NTA7516`, `ZEGEL_DIRECT_SMTP_PORT`, `ZEGEL_DIRECT_MAX_BYTES`, `ZEGEL_MTA_STS_PORT`.
    fn direct_settings(
        &self,
        mail_from: &str,
        host: &str,
        ca_pem: Option<Vec<u8>>,
        dkim: Option<Arc<Dkim>>,
    ) -> anyhow::Result<Option<zegel_core::outbound::direct::DirectSettings>> {
        match self.nta7516.as_str() {
            "off" => return Ok(None),
            "on" => {}
            other => bail!("ZEGEL_NTA7516 must be on or off (got {other})"),
        }
        if self.direct_smtp_port == 0 {
            bail!("ZEGEL_DIRECT_SMTP_PORT must be > 0");
        }
        if self.mta_sts_port == 0 {
            bail!("ZEGEL_MTA_STS_PORT must be > 0");
        }
        Ok(Some(zegel_core::outbound::direct::DirectSettings {
            port: self.direct_smtp_port,
            ca_pem,
            from_addr: mail_from.to_owned(),
            timeout: Duration::from_secs(self.smtp_timeout_secs.clamp(1, 25)),
            dkim,
            max_bytes: self.direct_max_bytes,
            hello_name: Some(host.to_owned()),
            mta_sts_port: self.mta_sts_port,
        }))
    }

    fn submission_settings(
        &self,
        host: &str,
    ) -> anyhow::Result<Option<crate::smtp::SubmissionSettings>> {
        let Some(listen) = self
            .submission_listen
            .as_ref()
            .filter(|l| !l.trim().is_empty())
        else {
            return Ok(None);
        };
        let (Some(cert), Some(key)) = (&self.submission_tls_cert, &self.submission_tls_key) else {
            bail!("ZEGEL_SUBMISSION_LISTEN needs ZEGEL_SUBMISSION_TLS_CERT and ZEGEL_SUBMISSION_TLS_KEY (PEM)");
        };
        if self.submission_max_bytes == 0 {
            bail!("ZEGEL_SUBMISSION_MAX_BYTES must be > 0");
        }
        if self.submission_per_minute == 0 {
            bail!("ZEGEL_SUBMISSION_PER_MINUTE must be > 0");
        }
        let cert_pem = crate::smtp::read_pem(cert, "ZEGEL_SUBMISSION_TLS_CERT")?;
        let key_pem = crate::smtp::read_pem(key, "ZEGEL_SUBMISSION_TLS_KEY")?;
        crate::smtp::tls_config(&cert_pem, &key_pem)?;
        Ok(Some(crate::smtp::SubmissionSettings {
            listen: listen.clone(),
            cert_pem,
            key_pem,
            max_bytes: self.submission_max_bytes,
            per_minute: self.submission_per_minute,
            hostname: host.to_owned(),
        }))
    }

    /// `ZEGEL_TRUSTED_PROXIES`, or the older `ZEGEL_TRUST_FORWARDED_FOR=true` (one proxy, any
    /// address); not both.
    fn trusted_proxies(&self) -> anyhow::Result<TrustedProxies> {
        match (&self.trusted_proxies, self.trust_forwarded_for) {
            (Some(_), true) => bail!(
                "ZEGEL_TRUST_FORWARDED_FOR is replaced by ZEGEL_TRUSTED_PROXIES: set only the latter"
            ),
            (Some(list), false) => TrustedProxies::parse(list)
                .map_err(|e| anyhow::anyhow!("ZEGEL_TRUSTED_PROXIES: {e}")),
            (None, true) => {
                tracing::warn!(
                    "ZEGEL_TRUST_FORWARDED_FOR is deprecated: it trusts any peer as one proxy; \
                     list your proxies in ZEGEL_TRUSTED_PROXIES instead"
                );
                Ok(TrustedProxies::any_peer())
            }
            (None, false) => Ok(TrustedProxies::none()),
        }
    }

    /// The HTTP server's timeouts (1 to 60 s) and connection cap (at least 1).
    fn server_limits(&self) -> anyhow::Result<ServerLimits> {
        let secs = |key: &str, v: u64| {
            if (1..=MAX_HTTP_TIMEOUT_SECS).contains(&v) {
                Ok(Duration::from_secs(v))
            } else {
                Err(anyhow::anyhow!(
                    "{key} must be between 1 and {MAX_HTTP_TIMEOUT_SECS} (got {v})"
                ))
            }
        };
        if self.max_connections == 0 {
            bail!("ZEGEL_MAX_CONNECTIONS must be > 0");
        }
        Ok(ServerLimits {
            header_timeout: secs(
                "ZEGEL_HTTP_HEADER_TIMEOUT_SECS",
                self.http_header_timeout_secs,
            )?,
            body_idle: secs("ZEGEL_HTTP_BODY_IDLE_SECS", self.http_body_idle_secs)?,
            max_connections: self.max_connections,
        })
    }
}

#[cfg(test)]
#[expect(
    clippy::result_large_err,
    reason = "figment::Jail returns figment::Error by value"
)]
mod tests {
    use super::*;
    use figment::Jail;

    fn load() -> Result<Config, String> {
        Raw::load(Some(Path::new("zegel.toml")))
            .and_then(Raw::validate)
            .map_err(|e| format!("{e:#}"))
    }

    #[test]
    fn only_a_data_dir_puts_everything_inside_it() {
        Jail::expect_with(|j| {
            j.create_file("zegel.toml", "")?;
            j.set_env("ZEGEL_DATA_DIR", "/srv/zegel");
            let c = load().map_err(|e| e.to_string())?;
            assert!(
                matches!(&c.database, DatabaseUrl::Sqlite(p) if p == Path::new("/srv/zegel/zegel.db"))
            );
            assert_eq!(c.blob_url, "file:///srv/zegel/blobs");
            assert!(
                matches!(&c.master, MasterKeySource::File(p) if p == Path::new("/srv/zegel/master.key"))
            );
            assert_eq!(c.listen, "127.0.0.1:8080");
            assert!(c.smtp.is_none());
            Ok(())
        });
    }

    #[test]
    fn environment_overrides_the_file_which_overrides_defaults() {
        Jail::expect_with(|j| {
            j.create_file(
                "zegel.toml",
                "listen = \"0.0.0.0:9000\"\nmax_upload_bytes = 5000\npublic_url = \"https://zegel.example.nl/\"",
            )?;
            j.set_env("ZEGEL_MAX_UPLOAD_BYTES", "7000");
            j.set_env(
                "ZEGEL_DATABASE_URL",
                "postgres://zegel:geheim@db.example/zegel",
            );
            j.set_env("ZEGEL_SMTP_URL", "smtp://relay.example:587");
            j.set_env("ZEGEL_SOMETHING_UNKNOWN", "x");
            j.set_env("ZEGEL_SMS_PROVIDER", "messagebird");
            j.set_env("ZEGEL_SMS_URL", "https://rest.example/messages");
            let c = load().map_err(|e| e.to_string())?;
            assert_eq!(c.listen, "0.0.0.0:9000");
            assert_eq!(c.settings.max_upload_bytes, 7000);
            assert_eq!(c.settings.public_url, "https://zegel.example.nl");
            assert_eq!(c.mail_from, "noreply@zegel.example.nl");
            let dbg = format!("{:?}", c.database);
            assert!(
                dbg.contains("db.example") && !dbg.contains("geheim"),
                "{dbg}"
            );
            let smtp = c.smtp.as_ref().map(|s| (s.tls, s.url.port()));
            assert_eq!(smtp, Some((SmtpTls::Required, Some(587))));
            assert_eq!(c.sms.map(|s| s.provider), Some(SmsProvider::MessageBird));
            Ok(())
        });
    }

    #[test]
    fn server_limits_and_proxies_have_safe_defaults_and_the_old_switch_still_works() {
        Jail::expect_with(|j| {
            j.create_file("zegel.toml", "")?;
            let c = load()?;
            assert!(c.server.header_timeout <= Duration::from_secs(60));
            assert!(c.server.body_idle <= Duration::from_secs(60));
            assert!(c.server.max_connections >= 100);
            assert!(c.trusted_proxies.is_empty());
            assert_eq!(c.metrics_listen, None);
            j.set_env("ZEGEL_TRUST_FORWARDED_FOR", "true");
            assert_eq!(load()?.trusted_proxies, TrustedProxies::any_peer());
            j.set_env("ZEGEL_TRUSTED_PROXIES", "10.0.0.0/8");
            let both = load().err().unwrap_or_default();
            assert!(both.contains("ZEGEL_TRUSTED_PROXIES"), "{both}");
            j.set_env("ZEGEL_TRUST_FORWARDED_FOR", "false");
            j.set_env("ZEGEL_HTTP_HEADER_TIMEOUT_SECS", "2");
            j.set_env("ZEGEL_METRICS_LISTEN", "127.0.0.1:9100");
            let c = load()?;
            assert_eq!(
                c.trusted_proxies,
                TrustedProxies::parse("10.0.0.0/8").unwrap()
            );
            assert_eq!(c.server.header_timeout, Duration::from_secs(2));
            assert_eq!(c.metrics_listen.as_deref(), Some("127.0.0.1:9100"));
            Ok(())
        });
    }

    #[test]
    fn bad_values_name_their_key() {
        for (key, value, needle) in [
            ("ZEGEL_SMTP_TLS", "maybe", "ZEGEL_SMTP_TLS"),
            ("ZEGEL_DATABASE_URL", "mysql://x", "ZEGEL_DATABASE_URL"),
            ("ZEGEL_BLOB_URL", "ftp://x", "ZEGEL_BLOB_URL"),
            ("ZEGEL_MAX_UPLOAD_BYTES", "lots", "MAX_UPLOAD_BYTES"),
            ("ZEGEL_SMS_PROVIDER", "pigeon", "ZEGEL_SMS_PROVIDER"),
            ("ZEGEL_SMS_PROVIDER", "cm", "ZEGEL_SMS_URL"),
            ("ZEGEL_DKIM_DOMAIN", "a.nl", "ZEGEL_DKIM_SELECTOR"),
            (
                "ZEGEL_TRUSTED_PROXIES",
                "10.0.0.0/8, proxy",
                "ZEGEL_TRUSTED_PROXIES",
            ),
            (
                "ZEGEL_HTTP_HEADER_TIMEOUT_SECS",
                "61",
                "ZEGEL_HTTP_HEADER_TIMEOUT_SECS",
            ),
            (
                "ZEGEL_HTTP_BODY_IDLE_SECS",
                "0",
                "ZEGEL_HTTP_BODY_IDLE_SECS",
            ),
            ("ZEGEL_MAX_CONNECTIONS", "0", "ZEGEL_MAX_CONNECTIONS"),
        ] {
            Jail::expect_with(|j| {
                j.create_file("zegel.toml", "")?;
                j.set_env(key, value);
                let err = load().err().unwrap_or_default();
                assert!(err.contains(needle), "{key}={value}: {err}");
                Ok(())
            });
        }
    }
}

//! MTA-STS (RFC 8461): a mail domain without DNSSEC can still say, over HTTPS, which hosts take
//! its mail and that they must have a valid certificate. The domain publishes a TXT record at
//! `_mta-sts.DOMAIN` (`v=STSv1; id=...`) and a policy at
//! `https://mta-sts.DOMAIN/.well-known/mta-sts.txt`. In `enforce` mode a host the policy does
//! not list gets no mail; `testing` only logs. Direct delivery verifies every host's
//! certificate anyway, so the policy adds the list of hosts: a forged MX or `ntamx` answer
//! cannot send the mail to another server with a valid certificate of its own.
//!
//! Policies are cached for their `max_age` and refetched when the record's `id` changes; a
//! record that disappears or a policy that cannot be fetched leaves a cached policy in force
//! (§5.1), so an attacker who blocks the lookups cannot switch the policy off.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The largest policy read (RFC 8461 §3.3: 64 KiB).
const MAX_POLICY_BYTES: usize = 64 * 1024;
/// How long fetching a policy may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest `max_age` (RFC 8461 §3.2: about a year).
const MAX_AGE_LIMIT: u64 = 31_557_600;
/// At most this many domains are cached (expired ones are dropped first).
const MAX_CACHED: usize = 10_000;

/// What a policy asks of senders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only the listed hosts, with valid certificates.
    Enforce,
    /// Report, deliver anyway.
    Testing,
    /// No policy.
    None,
}

/// A parsed policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The mode.
    pub mode: Mode,
    /// Host patterns (`mail.example.nl`, `*.example.nl`), lower case.
    pub mx: Vec<String>,
    /// Seconds the policy may be cached.
    pub max_age: u64,
}

impl Policy {
    /// Parses a policy file (RFC 8461 §3.2); `Err` says what is wrong.
    pub fn parse(text: &str) -> Result<Policy, String> {
        let (mut version, mut mode, mut max_age, mut mx) = (None, None, None, Vec::new());
        for line in text.lines() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            let Some((key, value)) = line.split_once(':') else {
                return Err("a line without `:`".into());
            };
            let value = value.trim();
            match key.trim() {
                "version" => version = Some(value.to_owned()),
                "mode" => {
                    mode = Some(match value {
                        "enforce" => Mode::Enforce,
                        "testing" => Mode::Testing,
                        "none" => Mode::None,
                        _ => return Err("unknown mode".into()),
                    })
                }
                "max_age" => {
                    let age: u64 = value
                        .parse()
                        .ok()
                        .filter(|_| value.len() <= 10)
                        .ok_or("max_age is not a number")?;
                    max_age = Some(age.min(MAX_AGE_LIMIT));
                }
                "mx" => mx.push(value.trim_end_matches('.').to_ascii_lowercase()),
                _ => {}
            }
        }
        if version.as_deref() != Some("STSv1") {
            return Err("version is not STSv1".into());
        }
        let mode = mode.ok_or("no mode")?;
        let max_age = max_age.ok_or("no max_age")?;
        if mode != Mode::None && mx.is_empty() {
            return Err("no mx".into());
        }
        Ok(Policy { mode, mx, max_age })
    }

    /// Whether `host` is one the policy lists (a `*.` pattern covers one label, §4.1).
    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.mx.iter().any(|p| match p.strip_prefix("*.") {
            Some(parent) => host
                .split_once('.')
                .is_some_and(|(first, rest)| !first.is_empty() && rest == parent),
            None => *p == host,
        })
    }
}

/// The `id` of a domain's `_mta-sts` TXT record: exactly one record starting `v=STSv1` (§3.1),
/// else none.
pub fn record_id(txts: &[String]) -> Option<String> {
    let mut sts = txts.iter().filter(|t| {
        t.split(';')
            .next()
            .is_some_and(|v| v.trim().replace(' ', "") == "v=STSv1")
    });
    let (Some(one), None) = (sts.next(), sts.next()) else {
        return None;
    };
    one.split(';').skip(1).find_map(|f| {
        let (k, v) = f.split_once('=')?;
        let v = v.trim();
        (k.trim() == "id"
            && !v.is_empty()
            && v.len() <= 32
            && v.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then(|| v.to_owned())
    })
}

struct Cached {
    id: String,
    policy: Policy,
    until: Instant,
}

/// Fetches and caches policies.
pub struct MtaSts {
    port: u16,
    extra_roots: Vec<reqwest::Certificate>,
    cache: Mutex<HashMap<String, Cached>>,
}

impl std::fmt::Debug for MtaSts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MtaSts(port {})", self.port)
    }
}

impl MtaSts {
    /// Policies fetched from `port` (443; another for tests), trusting the system's CAs and
    /// `extra_roots` (DER).
    pub fn new(port: u16, extra_roots: &[Vec<u8>]) -> Result<Self, String> {
        let extra_roots = extra_roots
            .iter()
            .map(|der| reqwest::Certificate::from_der(der).map_err(|e| format!("CA: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(MtaSts {
            port,
            extra_roots,
            cache: Mutex::new(HashMap::new()),
        })
    }

    fn cached(&self, domain: &str, id: Option<&str>) -> Option<Policy> {
        let cache = self.cache.lock().ok()?;
        let c = cache.get(domain)?;
        (c.until > Instant::now() && id.is_none_or(|id| id == c.id)).then(|| c.policy.clone())
    }

    fn keep(&self, domain: &str, id: String, policy: &Policy) {
        let Ok(mut cache) = self.cache.lock() else {
            return;
        };
        if cache.len() >= MAX_CACHED {
            let now = Instant::now();
            cache.retain(|_, c| c.until > now);
            if cache.len() >= MAX_CACHED {
                return;
            }
        }
        cache.insert(
            domain.to_owned(),
            Cached {
                id,
                policy: policy.clone(),
                until: Instant::now() + Duration::from_secs(policy.max_age),
            },
        );
    }

    /// The policy in force for `domain`: `id` is its `_mta-sts` record's (`None`: no record or
    /// the lookup failed), `addr` where `mta-sts.DOMAIN` is (`None`: not found). `Err`: a
    /// policy is announced but none can be had (the reason, for the events).
    pub async fn policy(
        &self,
        domain: &str,
        id: Option<String>,
        addr: Option<std::net::IpAddr>,
    ) -> Result<Option<Policy>, String> {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let Some(id) = id else {
            return Ok(self.cached(&domain, None));
        };
        if let Some(p) = self.cached(&domain, Some(&id)) {
            return Ok(Some(p));
        }
        let fetched = match addr {
            Some(ip) => self.fetch(&domain, SocketAddr::new(ip, self.port)).await,
            None => Err(format!("mta-sts.{domain} has no address")),
        };
        match fetched {
            Ok(policy) => {
                self.keep(&domain, id, &policy);
                Ok(Some(policy))
            }
            // A policy cached under another id stays in force until it expires.
            Err(why) => match self.cached(&domain, None) {
                Some(p) => Ok(Some(p)),
                None => Err(format!("MTA-STS policy of {domain}: {why}")),
            },
        }
    }

    async fn fetch(&self, domain: &str, addr: SocketAddr) -> Result<Policy, String> {
        let host = format!("mta-sts.{domain}");
        let mut builder = reqwest::Client::builder()
            .https_only(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(FETCH_TIMEOUT)
            .resolve(&host, addr);
        for c in &self.extra_roots {
            builder = builder.add_root_certificate(c.clone());
        }
        let client = builder.build().map_err(|e| format!("HTTP client: {e}"))?;
        let url = if self.port == 443 {
            format!("https://{host}/.well-known/mta-sts.txt")
        } else {
            format!("https://{host}:{}/.well-known/mta-sts.txt", self.port)
        };
        let mut resp = client.get(&url).send().await.map_err(|e| {
            let mut inner: &dyn std::error::Error = &e;
            while let Some(next) = inner.source() {
                inner = next;
            }
            format!("fetching the policy failed: {inner}")
        })?;
        if resp.status() != reqwest::StatusCode::OK {
            return Err(format!("the policy server answered {}", resp.status()));
        }
        let text_plain = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case("text/plain"))
            });
        if !text_plain {
            return Err("the policy is not text/plain".into());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| format!("reading the policy failed: {e}"))?
        {
            if body.len() + chunk.len() > MAX_POLICY_BYTES {
                return Err("the policy is larger than 64 KiB".into());
            }
            body.extend_from_slice(&chunk);
        }
        let text = std::str::from_utf8(&body).map_err(|_| "the policy is not UTF-8".to_owned())?;
        Policy::parse(text).map_err(|e| format!("the policy is malformed: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_parses_and_lists_its_hosts() {
        let p = Policy::parse(
            "version: STSv1\r\nmode: enforce\r\nmx: mail.example.nl\r\nmx: *.zorg.example.\r\nmax_age: 604800\r\n",
        )
        .unwrap();
        assert_eq!(p.mode, Mode::Enforce);
        assert_eq!(p.max_age, 604_800);
        assert!(p.allows("mail.example.nl"));
        assert!(p.allows("MX1.zorg.example."));
        assert!(!p.allows("zorg.example"), "a wildcard needs a label");
        assert!(!p.allows("a.b.zorg.example"), "a wildcard covers one label");
        assert!(!p.allows("evil.example.nl"));
        let p = Policy::parse("version: STSv1\nmode: none\nmax_age: 9999999999\n").unwrap();
        assert_eq!(p.mode, Mode::None);
        assert_eq!(p.max_age, MAX_AGE_LIMIT);
    }

    #[test]
    fn a_malformed_policy_is_refused() {
        for (text, why) in [
            (
                "mode: enforce\nmx: a.nl\nmax_age: 1\n",
                "version is not STSv1",
            ),
            (
                "version: STSv2\nmode: enforce\nmx: a.nl\nmax_age: 1\n",
                "version is not STSv1",
            ),
            (
                "version: STSv1\nmode: strict\nmx: a.nl\nmax_age: 1\n",
                "unknown mode",
            ),
            ("version: STSv1\nmode: enforce\nmax_age: 1\n", "no mx"),
            ("version: STSv1\nmode: enforce\nmx: a.nl\n", "no max_age"),
            (
                "version: STSv1\nmode: enforce\nmx: a.nl\nmax_age: -1\n",
                "max_age is not a number",
            ),
            ("<html>", "a line without `:`"),
        ] {
            assert_eq!(Policy::parse(text), Err(why.to_owned()), "{text}");
        }
    }

    #[test]
    fn exactly_one_sts_record_gives_the_id() {
        let t = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            record_id(&t(&["v=spf1 -all", "v=STSv1; id=20261206T1;"])),
            Some("20261206T1".into())
        );
        assert_eq!(record_id(&t(&["v=STSv1; id=a", "v=STSv1; id=b"])), None);
        assert_eq!(record_id(&t(&["v=STSv1;"])), None);
        assert_eq!(record_id(&t(&["v=STSv1; id=bad-id"])), None);
        assert_eq!(record_id(&t(&[])), None);
    }

    #[tokio::test]
    async fn a_cached_policy_outlives_its_record() {
        let sts = MtaSts::new(443, &[]).unwrap();
        let p =
            Policy::parse("version: STSv1\nmode: enforce\nmx: mx.a.nl\nmax_age: 3600\n").unwrap();
        sts.keep("a.nl", "one".into(), &p);
        // No record (or a blocked lookup): the cached policy holds.
        assert_eq!(sts.policy("a.nl", None, None).await, Ok(Some(p.clone())));
        // The same id: no fetch.
        assert_eq!(
            sts.policy("A.nl.", Some("one".into()), None).await,
            Ok(Some(p.clone()))
        );
        // A new id whose policy cannot be fetched: the cached one stays in force.
        assert_eq!(
            sts.policy("a.nl", Some("two".into()), None).await,
            Ok(Some(p))
        );
        // Nothing cached and nothing to fetch: the sender is told.
        assert!(sts.policy("b.nl", Some("x".into()), None).await.is_err());
        assert_eq!(sts.policy("b.nl", None, None).await, Ok(None));
    }
}

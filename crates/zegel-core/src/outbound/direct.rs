//! NTA 7516 direct delivery: where a recipient's domain takes secure mail directly (its DNS TXT
//! record, [`crate::nta`]) and the SMTP transaction to that provider, TLS required and the
//! certificate verified:
//! - by DANE (RFC 7672, [`super::dane`]) when the route and the host's TLSA records were
//!   DNSSEC-validated;
//! - else for the host name against the system's CAs plus `ZEGEL_SMTP_CA_FILE`, and when the
//!   domain publishes an MTA-STS policy in `enforce` mode ([`super::mta_sts`]) only to the
//!   hosts it lists.
//!
//! Anything that does not work is reported, never retried in plain text: the caller falls
//! back to the portal notification.

use super::dane::Tlsa;
use super::direct_smtp::{Attempt, Fail, Tls};
use super::mta_sts::{Mode, MtaSts, Policy};
use super::smtp_conn::parse_ca_pem;
use super::streamed::StreamedMail;
use crate::dkim::Dkim;
use crate::mail_dns::fqdn;
use crate::mail_dns::MailDns;
use crate::nta::YearMonth;
use futures::StreamExt;
use lettre::transport::smtp::extension::ClientId;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// How many direct deliveries run at once: each decrypts and encodes a message of up to
/// `max_bytes` (streamed, never whole in memory), twice when DKIM signs it; the worker's other
/// slots stay free for notifications.
const AT_ONCE: usize = 4;
/// How long connecting to one address may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// At most this many hosts, and addresses per host, are tried.
const MAX_TRIES: usize = 4;
/// How long finding the route may take (the TXT record, the MX hosts): with the delivery's own
/// deadline (at most 25 s) a direct attempt ends well within a job's lease (45 s), so no other
/// worker takes the job over and notifies through the portal while the delivery still runs.
const ROUTE_TIMEOUT: Duration = Duration::from_secs(15);
/// The longest deadline for one delivery.
pub const MAX_DELIVERY_TIMEOUT: Duration = Duration::from_secs(25);

/// Direct delivery settings (`ZEGEL_NTA7516=on`).
#[derive(Clone)]
pub struct DirectSettings {
    /// The providers' SMTP port (`ZEGEL_DIRECT_SMTP_PORT`, 25).
    pub port: u16,
    /// Extra trusted CA (PEM, `ZEGEL_SMTP_CA_FILE`).
    pub ca_pem: Option<Vec<u8>>,
    /// Envelope sender (bounces come back to Zegel, never to a person's mailbox).
    pub from_addr: String,
    /// Deadline for one whole delivery (all hosts).
    pub timeout: Duration,
    /// DKIM signer.
    pub dkim: Option<Arc<Dkim>>,
    /// The name to say in EHLO (the host of `ZEGEL_PUBLIC_URL`).
    pub hello_name: Option<String>,
    /// The largest message (attachments and text) sent directly; a larger one gets the
    /// portal notification.
    pub max_bytes: u64,
    /// The HTTPS port of MTA-STS policy servers (`ZEGEL_MTA_STS_PORT`, 443; for tests).
    pub mta_sts_port: u16,
}

/// Where a recipient's mail goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Directly, to these hosts in order of preference.
    Direct {
        /// The provider the record names.
        provider: String,
        /// Mail hosts, most preferred first.
        hosts: Vec<String>,
        /// The resolver said the record and the hosts' names were DNSSEC-validated (AD bit):
        /// the hosts' TLSA records count (DANE).
        dnssec: bool,
    },
    /// A portal notification; why (no record, a record outside its dates, DNS failure).
    Portal(String),
}

/// Looks up routes and delivers directly. Cheap to share (`Arc`).
pub struct Direct {
    dns: Arc<MailDns>,
    port: u16,
    tls: Tls,
    /// The EHLO name.
    hello: String,
    from_addr: String,
    timeout: Duration,
    dkim: Option<Arc<Dkim>>,
    max_bytes: u64,
    sts: MtaSts,
    gate: Semaphore,
}

/// How a host's certificate is checked.
enum TlsCheck {
    /// Against the CAs, for the host's name.
    Pkix,
    /// Against the host's validated TLSA records (RFC 7672).
    Dane(Vec<Tlsa>),
}

/// A delivery that a host took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The host.
    pub host: String,
    /// How its certificate was checked beyond the CAs (`DANE-EE`, `DANE-TA`, `MTA-STS`).
    pub check: Option<&'static str>,
}

impl std::fmt::Debug for Direct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Direct(port {})", self.port)
    }
}

impl Direct {
    /// Checks the settings (no query or connection is made yet).
    pub fn new(s: &DirectSettings, dns: Arc<MailDns>) -> Result<Self, String> {
        let ders: Vec<Vec<u8>> = match &s.ca_pem {
            Some(pem) => parse_ca_pem(pem)?
                .into_iter()
                .map(|der| der.to_vec())
                .collect(),
            None => Vec::new(),
        };
        let extra: Vec<rustls_pki_types::CertificateDer<'static>> = ders
            .iter()
            .map(|der| rustls_pki_types::CertificateDer::from(der.clone()))
            .collect();
        let tls = Tls::new(&extra)?;
        let sts = MtaSts::new(s.mta_sts_port, &ders)?;
        Ok(Direct {
            dns,
            port: s.port,
            tls,
            // EHLO with the name other providers know us by (the public host), not the
            // machine's own name; an IP address or a bare name: the default.
            hello: match s.hello_name.as_deref() {
                Some(h) if h.contains('.') && h.parse::<std::net::IpAddr>().is_err() => {
                    h.to_owned()
                }
                _ => ClientId::default().to_string(),
            },
            from_addr: s.from_addr.clone(),
            timeout: s.timeout.min(MAX_DELIVERY_TIMEOUT),
            dkim: s.dkim.clone(),
            max_bytes: s.max_bytes,
            sts,
            gate: Semaphore::new(AT_ONCE),
        })
    }

    /// The largest message sent directly.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Where mail for `domain` goes in `month`: directly when the domain publishes an NTA
    /// 7516 record that holds in that month, else the portal.
    pub async fn route(&self, domain: &str, month: YearMonth) -> Route {
        match tokio::time::timeout(ROUTE_TIMEOUT, self.find_route(domain, month)).await {
            Ok(route) => route,
            Err(_) => Route::Portal(format!(
                "the DNS lookups took longer than {} s",
                ROUTE_TIMEOUT.as_secs()
            )),
        }
    }

    async fn find_route(&self, domain: &str, month: YearMonth) -> Route {
        let found = match self.dns.nta_records(domain).await {
            Ok(found) => found,
            Err(why) => return Route::Portal(why),
        };
        if found.records.is_empty() {
            return Route::Portal("no NTA 7516 record".into());
        }
        let holding = found.holding(month);
        let Some(first) = holding.first() else {
            return Route::Portal("the NTA 7516 record is outside its start and end dates".into());
        };
        let mut mx: Vec<(u16, String)> = holding.iter().flat_map(|r| r.mx.clone()).collect();
        let mut dnssec = found.dnssec;
        if mx.is_empty() {
            mx = match self.dns.mx_hosts(domain).await {
                Ok((mx, validated)) => {
                    dnssec &= validated;
                    mx
                }
                Err(why) => return Route::Portal(why),
            };
        }
        mx.sort();
        let mut hosts: Vec<String> = Vec::new();
        for (_, h) in mx {
            let h = h.trim_end_matches('.').to_ascii_lowercase();
            // RFC 7505: a null MX (".") takes no mail.
            if !h.is_empty() && !hosts.contains(&h) {
                hosts.push(h);
            }
        }
        if hosts.is_empty() {
            return Route::Portal("the NTA 7516 domain names no mail host".into());
        }
        Route::Direct {
            provider: first.provider.clone(),
            hosts,
            dnssec,
        }
    }

    /// Delivers `mail` (signed here when DKIM is set) to `to` through the first host that
    /// takes it: STARTTLS required, the certificate verified (see the module documentation;
    /// `dnssec`: the route was validated, so TLSA records count). The mail streams out as its
    /// attachments are read. `Ok`: the host that took it; `Err`: why none did (for the
    /// sender's events; never message content).
    pub async fn deliver(
        &self,
        hosts: &[String],
        dnssec: bool,
        to: &str,
        mail: &StreamedMail<'_>,
    ) -> Result<Delivered, String> {
        // Checked as addresses: nothing else goes into MAIL and RCPT.
        for (what, addr) in [("sender", self.from_addr.as_str()), ("recipient", to)] {
            addr.parse::<lettre::Address>()
                .map_err(|e| format!("bad {what} address: {e}"))?;
        }
        let _permit = self
            .gate
            .acquire()
            .await
            .map_err(|_| "shutting down".to_string())?;
        let domain = to.rsplit_once('@').map_or("", |(_, d)| d);
        let attempt = async {
            // DKIM hashes the whole body before the mail goes out: a first pass over it.
            let dkim_header = match &self.dkim {
                Some(d) => {
                    let mut signing = d.stream();
                    let mut chunks = mail.chunks();
                    while let Some(chunk) = chunks.next().await {
                        signing.write(&chunk.map_err(|e| format!("reading the message: {e}"))?);
                    }
                    Some(signing.header()?)
                }
                None => None,
            };
            let policy = self.sts_policy(domain).await;
            let a = Attempt {
                host: "",
                hello: &self.hello,
                from: &self.from_addr,
                to,
                dkim_header: dkim_header.as_deref().map(str::as_bytes),
            };
            self.try_hosts(hosts, dnssec, policy.as_ref(), &a, mail)
                .await
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "direct delivery did not finish within {} s",
                self.timeout.as_secs()
            )),
        }
    }

    /// The domain's MTA-STS policy, if it has one (RFC 8461 §5: one that cannot be fetched,
    /// with none cached, counts as none).
    async fn sts_policy(&self, domain: &str) -> Option<Policy> {
        let id = self.dns.mta_sts_id(domain).await;
        let addr = match id {
            Some(_) => self.dns.first_ip(&format!("mta-sts.{domain}")).await,
            None => None,
        };
        match self.sts.policy(domain, id, addr).await {
            Ok(p) => p,
            Err(why) => {
                tracing::info!(reason = %why, "an MTA-STS policy could not be had");
                None
            }
        }
    }

    /// How `host`'s certificate is checked; `Err`: the host must not be used.
    async fn tls_check(
        &self,
        host: &str,
        dnssec: bool,
        policy: Option<&Policy>,
    ) -> Result<TlsCheck, String> {
        // RFC 7672 §2.2: TLSA records count only when the host's name came from validated
        // answers; a failed TLSA lookup of a signed zone may hide them, so the host is skipped.
        if dnssec {
            let (records, validated) = self.dns.tlsa(host, self.port).await?;
            if validated && records.iter().any(Tlsa::usable) {
                return Ok(TlsCheck::Dane(records));
            }
        }
        match policy {
            Some(p) if !p.allows(host) && p.mode == Mode::Enforce => {
                Err("MTA-STS: the domain's policy does not list this host".into())
            }
            Some(p) if !p.allows(host) && p.mode == Mode::Testing => {
                tracing::info!("MTA-STS (testing): a host the policy does not list");
                Ok(TlsCheck::Pkix)
            }
            _ => Ok(TlsCheck::Pkix),
        }
    }

    async fn try_hosts(
        &self,
        hosts: &[String],
        dnssec: bool,
        policy: Option<&Policy>,
        a: &Attempt<'_>,
        mail: &StreamedMail<'_>,
    ) -> Result<Delivered, String> {
        let mut why = Vec::new();
        for host in hosts.iter().take(MAX_TRIES) {
            let check = match self.tls_check(host, dnssec, policy).await {
                Ok(c) => c,
                Err(e) => {
                    why.push(format!("{host}: {e}"));
                    continue;
                }
            };
            let ips = match self.dns.resolver().lookup_ip(fqdn(host).as_str()).await {
                Ok(l) => l.iter().take(MAX_TRIES).collect::<Vec<_>>(),
                Err(e) => {
                    why.push(format!("{host}: DNS: {e}"));
                    continue;
                }
            };
            for ip in ips {
                let a = Attempt { host, ..*a };
                match self
                    .one(SocketAddr::new(ip, self.port), &check, &a, mail)
                    .await
                {
                    Ok(how) => {
                        let sts = policy.is_some_and(|p| p.mode == Mode::Enforce);
                        return Ok(Delivered {
                            host: host.clone(),
                            check: how.or(sts.then_some("MTA-STS")),
                        });
                    }
                    Err(e) => {
                        tracing::info!(reason = %e.kind(), "a direct delivery attempt failed");
                        why.push(format!("{host}: {e}"));
                        // Ours, not the host's: another would fare no better.
                        if let Fail::Source(_) = e {
                            return Err(why.join("; "));
                        }
                        // A 5xx is the provider's answer about this mail: another address
                        // of the same host would say the same.
                        if e.is_permanent() {
                            break;
                        }
                    }
                }
            }
        }
        Err(if why.is_empty() {
            "no mail host could be reached".into()
        } else {
            why.join("; ")
        })
    }

    /// One SMTP session to `addr`; `Ok`: the DANE record kind that matched, if DANE applied.
    async fn one(
        &self,
        addr: SocketAddr,
        check: &TlsCheck,
        a: &Attempt<'_>,
        mail: &StreamedMail<'_>,
    ) -> Result<Option<&'static str>, Fail> {
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr))
            .await
            .map_err(|_| {
                Fail::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "connect timed out",
                ))
            })?
            .map_err(Fail::Io)?;
        tcp.set_nodelay(true).map_err(Fail::Io)?;
        let dane = match check {
            TlsCheck::Dane(records) => Some(records.as_slice()),
            TlsCheck::Pkix => None,
        };
        super::direct_smtp::deliver(tcp, &self.tls, dane, a, mail).await
    }
}

//! DNS for mail between providers (NTA 7516): one resolver (`ZEGEL_DNS_RESOLVER`, else the
//! system's) for the NTA 7516 records and MX hosts of a recipient's domain, and for checking
//! who sent mail that arrives from another provider: a DKIM signature of the sender's domain
//! (`mail-auth`) and whether that domain publishes an NTA 7516 record.

use crate::nta::{NtaRecord, YearMonth};
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::proto::rr::RData;
use hickory_resolver::TokioResolver;
use mail_auth::{AuthenticatedMessage, DkimResult, MessageAuthenticator, Parameters};
use std::net::SocketAddr;
use std::time::Duration;

/// The resolver and the DKIM verifier on it.
pub struct MailDns {
    auth: MessageAuthenticator,
}

impl std::fmt::Debug for MailDns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MailDns")
    }
}

/// A domain's NTA 7516 records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NtaLookup {
    /// Every well-formed record (other TXT records and malformed ones left out).
    pub records: Vec<NtaRecord>,
    /// The resolver said the answer was DNSSEC-validated (AD bit).
    pub dnssec: bool,
}

impl NtaLookup {
    /// The records that hold in `month`: none means no direct delivery.
    pub fn holding(&self, month: YearMonth) -> Vec<&NtaRecord> {
        self.records.iter().filter(|r| r.holds_in(month)).collect()
    }
}

/// `domain` as a fully qualified name (one lookup, no search list).
pub(crate) fn fqdn(domain: &str) -> String {
    format!("{}.", domain.trim_end_matches('.'))
}

/// What is known of who sent a mail from another provider.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SenderCheck {
    /// The domain of a valid DKIM signature aligned with the From address's domain (the same
    /// domain or a parent of it).
    pub dkim_domain: Option<String>,
    /// The provider named by an NTA 7516 record of the From domain that holds this month.
    pub nta_provider: Option<String>,
}

impl SenderCheck {
    /// The sender's domain vouched for the mail (aligned DKIM pass).
    pub fn verified(&self) -> bool {
        self.dkim_domain.is_some()
    }

    /// For the `mail_received` event: what was checked and found.
    pub fn describe(&self) -> String {
        format!(
            "DKIM {}; NTA 7516 {}",
            self.dkim_domain
                .as_deref()
                .map_or_else(|| "none".to_owned(), |d| format!("pass ({d})")),
            self.nta_provider
                .as_deref()
                .map_or_else(|| "none".to_owned(), |p| format!("provider {p}")),
        )
    }
}

impl MailDns {
    /// A resolver at `server` (`ip:port`), else the system's.
    pub fn new(server: Option<SocketAddr>) -> Result<Self, String> {
        let (config, mut opts) = match server {
            Some(addr) => {
                let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
                for c in &mut ns.connections {
                    c.port = addr.port();
                }
                (
                    ResolverConfig::from_name_servers(vec![ns]),
                    ResolverOpts::default(),
                )
            }
            None => hickory_resolver::system_conf::read_system_conf()
                .map_err(|e| format!("the system's DNS settings: {e}"))?,
        };
        opts.timeout = Duration::from_secs(5);
        opts.attempts = 2;
        let auth =
            MessageAuthenticator::new(config, opts).map_err(|e| format!("DNS resolver: {e}"))?;
        Ok(MailDns { auth })
    }

    /// The resolver.
    pub fn resolver(&self) -> &TokioResolver {
        self.auth.resolver()
    }

    /// The NTA 7516 records of `domain`; `Err`: why the lookup failed (not "no record").
    pub async fn nta_records(&self, domain: &str) -> Result<NtaLookup, String> {
        let name = fqdn(domain);
        let lookup = match self.resolver().txt_lookup(name.as_str()).await {
            Ok(l) => l,
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => {
                return Ok(NtaLookup::default())
            }
            Err(e) => return Err(format!("DNS lookup of the NTA 7516 record failed: {e}")),
        };
        let txts: Vec<String> = lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::TXT(t) => Some(
                    t.txt_data
                        .iter()
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect();
        let records = crate::nta::records(&txts);
        Ok(NtaLookup {
            records,
            dnssec: lookup.message().metadata.authentic_data,
        })
    }

    /// The MX hosts of `domain` with their preference.
    pub async fn mx_hosts(&self, domain: &str) -> Result<Vec<(u16, String)>, String> {
        let name = fqdn(domain);
        match self.resolver().mx_lookup(name.as_str()).await {
            Ok(l) => Ok(l
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::MX(m) => Some((m.preference, m.exchange.to_ascii())),
                    _ => None,
                })
                .collect()),
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(Vec::new()),
            Err(e) => Err(format!("DNS lookup of the MX hosts failed: {e}")),
        }
    }

    /// Who vouches for `raw`, a mail whose From address is in `from_domain`. The lookups may
    /// take 15 s in all (the sending provider waits for the reply); after that the mail counts
    /// as unverified.
    pub async fn check_sender(
        &self,
        raw: &[u8],
        from_domain: &str,
        month: YearMonth,
    ) -> SenderCheck {
        tokio::time::timeout(
            Duration::from_secs(15),
            self.check_sender_now(raw, from_domain, month),
        )
        .await
        .unwrap_or_default()
    }

    async fn check_sender_now(
        &self,
        raw: &[u8],
        from_domain: &str,
        month: YearMonth,
    ) -> SenderCheck {
        let from_domain = from_domain.trim_end_matches('.').to_ascii_lowercase();
        let mut check = SenderCheck::default();
        if let Some(msg) = AuthenticatedMessage::parse(raw) {
            let outputs = self.auth.verify_dkim(Parameters::new(&msg)).await;
            check.dkim_domain = outputs
                .iter()
                .filter(|o| o.result() == &DkimResult::Pass)
                .filter_map(|o| o.signature().map(|s| s.d.to_ascii_lowercase()))
                .find(|d| from_domain == *d || from_domain.ends_with(&format!(".{d}")));
        }
        if let Ok(found) = self.nta_records(&from_domain).await {
            check.nta_provider = found.holding(month).first().map(|r| r.provider.clone());
        }
        check
    }
}

//! DNS for mail between providers (NTA 7516): one resolver (`ZEGEL_DNS_RESOLVER`, else the
//! system's) for the NTA 7516 records and MX hosts of a recipient's domain, and for checking
//! who sent mail that arrives from another provider: a DKIM signature of the sender's domain
//! (`mail-auth`) and whether that domain publishes an NTA 7516 record.

use crate::nta::{NtaRecord, YearMonth};
use futures::StreamExt;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::client::Client;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::udp::UdpClientStream;
use hickory_resolver::net::xfer::DnsHandle;
use hickory_resolver::proto::op::{DnsRequest, DnsRequestOptions, Query, ResponseCode};
use hickory_resolver::proto::rr::{Name, RData, RecordType};
use hickory_resolver::TokioResolver;
use mail_auth::{AuthenticatedMessage, DkimResult, MessageAuthenticator, Parameters};
use std::net::SocketAddr;
use std::time::Duration;

/// The resolver and the DKIM verifier on it.
pub struct MailDns {
    auth: MessageAuthenticator,
    /// The first name server, asked directly with the DNSSEC OK bit (see [`MailDns::lookup`]).
    server: SocketAddr,
}

/// The answers to one query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answer {
    /// The records of the type asked for (CNAMEs on the way left out).
    pub records: Vec<RData>,
    /// The resolver said it validated them (the AD bit).
    pub dnssec: bool,
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

/// The text of TXT records (each record's strings joined).
fn txt_strings(records: &[RData]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| match r {
            RData::TXT(t) => Some(
                t.txt_data
                    .iter()
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect::<String>(),
            ),
            _ => None,
        })
        .collect()
}

impl MailDns {
    /// A resolver at `server` (`ip:port`), else the system's.
    pub fn new(server: Option<SocketAddr>) -> Result<Self, String> {
        let (config, mut opts): (ResolverConfig, ResolverOpts) = match server {
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
        let first = config
            .name_servers()
            .first()
            .ok_or("the system's DNS settings name no server")?;
        let server = SocketAddr::new(first.ip, first.connections.first().map_or(53, |c| c.port));
        let auth =
            MessageAuthenticator::new(config, opts).map_err(|e| format!("DNS resolver: {e}"))?;
        Ok(MailDns { auth, server })
    }

    /// The records of `rtype` at `name`, and whether the resolver validated them: the query
    /// goes to the first name server with the DNSSEC OK bit set, so that a validating resolver
    /// (unbound, BIND, Knot Resolver on the machine, as Postfix's and Exim's DANE also expect)
    /// sets the AD bit on an answer it proved. A truncated answer or a server that does not
    /// answer: the ordinary resolver (TCP, retries, the other servers), counted as not
    /// validated. No records and no such name: empty.
    pub async fn lookup(&self, name: &str, rtype: RecordType) -> Result<Answer, String> {
        let name = Name::from_ascii(fqdn(name)).map_err(|e| format!("bad DNS name: {e}"))?;
        if let Some(answer) = self.lookup_do(name.clone(), rtype).await {
            return Ok(answer);
        }
        match self.resolver().lookup(name, rtype).await {
            Ok(l) => Ok(Answer {
                records: l
                    .answers()
                    .iter()
                    .filter(|r| r.record_type() == rtype)
                    .map(|r| r.data.clone())
                    .collect(),
                dnssec: false,
            }),
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(Answer::default()),
            Err(e) => Err(format!("DNS lookup of {rtype} failed: {e}")),
        }
    }

    /// One UDP query with the DNSSEC OK bit; `None`: no usable answer (truncated, an error
    /// code, or nothing came back twice).
    async fn lookup_do(&self, name: Name, rtype: RecordType) -> Option<Answer> {
        let stream = UdpClientStream::builder(self.server, TokioRuntimeProvider::default())
            .with_timeout(Some(Duration::from_secs(5)))
            .build();
        let (client, background) = Client::<TokioRuntimeProvider>::from_sender(stream);
        let background = tokio::spawn(background);
        let mut options = DnsRequestOptions::default();
        options.use_edns = true;
        options.edns_set_dnssec_ok = true;
        options.recursion_desired = true;
        let mut answer = None;
        for _ in 0..2 {
            let request = DnsRequest::from_query(Query::query(name.clone(), rtype), options);
            let Some(Ok(response)) = client.send(request).next().await else {
                continue;
            };
            if response.metadata.truncation {
                break;
            }
            answer = match response.metadata.response_code {
                ResponseCode::NoError => Some(Answer {
                    records: response
                        .answers
                        .iter()
                        .filter(|r| r.record_type() == rtype)
                        .map(|r| r.data.clone())
                        .collect(),
                    dnssec: response.metadata.authentic_data,
                }),
                ResponseCode::NXDomain => Some(Answer {
                    records: Vec::new(),
                    dnssec: response.metadata.authentic_data,
                }),
                // SERVFAIL (a validating resolver's answer to a forged or broken signature),
                // REFUSED ...: the ordinary resolver asks again (its other servers, TCP) and
                // says what failed.
                code => {
                    tracing::debug!(%code, "a DNSSEC OK query was not answered");
                    None
                }
            };
            break;
        }
        background.abort();
        answer
    }

    /// The TLSA records of a mail host (`_PORT._tcp.HOST`, RFC 7672), and whether they were
    /// validated.
    pub async fn tlsa(
        &self,
        host: &str,
        port: u16,
    ) -> Result<(Vec<crate::outbound::dane::Tlsa>, bool), String> {
        let found = self
            .lookup(&format!("_{port}._tcp.{host}"), RecordType::TLSA)
            .await
            .map_err(|e| format!("{host}: {e}"))?;
        let records = found
            .records
            .iter()
            .filter_map(|r| match r {
                RData::TLSA(t) => Some(crate::outbound::dane::Tlsa {
                    usage: u8::from(t.cert_usage),
                    selector: u8::from(t.selector),
                    matching: u8::from(t.matching),
                    data: t.cert_data.clone(),
                }),
                _ => None,
            })
            .collect();
        Ok((records, found.dnssec))
    }

    /// The `id` of `domain`'s MTA-STS record (`_mta-sts.DOMAIN`), if it has exactly one.
    pub async fn mta_sts_id(&self, domain: &str) -> Option<String> {
        let found = self
            .lookup(&format!("_mta-sts.{domain}"), RecordType::TXT)
            .await
            .ok()?;
        crate::outbound::mta_sts::record_id(&txt_strings(&found.records))
    }

    /// The first address of `host`.
    pub async fn first_ip(&self, host: &str) -> Option<std::net::IpAddr> {
        self.resolver()
            .lookup_ip(fqdn(host).as_str())
            .await
            .ok()?
            .iter()
            .next()
    }

    /// The resolver.
    pub fn resolver(&self) -> &TokioResolver {
        self.auth.resolver()
    }

    /// The NTA 7516 records of `domain`; `Err`: why the lookup failed (not "no record").
    pub async fn nta_records(&self, domain: &str) -> Result<NtaLookup, String> {
        let found = self
            .lookup(domain, RecordType::TXT)
            .await
            .map_err(|e| format!("the NTA 7516 record: {e}"))?;
        Ok(NtaLookup {
            records: crate::nta::records(&txt_strings(&found.records)),
            dnssec: found.dnssec,
        })
    }

    /// The MX hosts of `domain` with their preference, and whether they were validated.
    pub async fn mx_hosts(&self, domain: &str) -> Result<(Vec<(u16, String)>, bool), String> {
        let found = self
            .lookup(domain, RecordType::MX)
            .await
            .map_err(|e| format!("the MX hosts: {e}"))?;
        let hosts = found
            .records
            .iter()
            .filter_map(|r| match r {
                RData::MX(m) => Some((m.preference, m.exchange.to_ascii())),
                _ => None,
            })
            .collect();
        Ok((hosts, found.dnssec))
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

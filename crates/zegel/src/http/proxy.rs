//! Who the client is: the peer of the connection, or, when that peer is one of the operator's
//! own proxies (`ZEGEL_TRUSTED_PROXIES`), the rightmost `X-Forwarded-For` hop that is not a
//! trusted proxy. Every hop left of it was written by the client and proves nothing.
//!
//! The rate limits key on [`rate_key`]: an IPv4 address, or the /64 of an IPv6 address (one
//! subscriber line gets a whole /64, so counting single IPv6 addresses counts nothing).

use axum::http::HeaderMap;
use ipnet::IpNet;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
    /// `ZEGEL_TRUST_FORWARDED_FOR=true` (the older setting): the peer is one proxy, whatever its
    /// address, and the last hop it adds is the client.
    any_peer: bool,
}

impl TrustedProxies {
    /// No proxy: the peer is the client.
    pub fn none() -> Self {
        Self::default()
    }

    /// One proxy in front, whatever its address (the older `ZEGEL_TRUST_FORWARDED_FOR=true`).
    pub fn any_peer() -> Self {
        TrustedProxies {
            nets: Vec::new(),
            any_peer: true,
        }
    }

    /// A comma-separated list of networks (`10.0.0.0/8`) and addresses (`192.0.2.7`, `::1`).
    pub fn parse(list: &str) -> Result<Self, String> {
        let nets = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map(|n| n.trunc())
                    .map_err(|_| format!("{s:?} is not an IP address or network"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TrustedProxies {
            nets,
            any_peer: false,
        })
    }

    /// Whether `X-Forwarded-For` is read at all.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty() && !self.any_peer
    }

    fn listed(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// The client behind a connection from `peer` carrying `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !(self.any_peer || self.listed(peer)) {
            return peer;
        }
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .rev()
            .flat_map(|v| v.to_str().unwrap_or("").rsplit(','));
        let mut client = peer;
        for hop in hops {
            let Some(ip) = parse_hop(hop) else {
                // Not an address: the last trusted one is all we know.
                break;
            };
            client = ip;
            if self.any_peer || !self.listed(ip) {
                break;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: `192.0.2.7`, `2001:db8::1`, `[2001:db8::1]:443` or
/// `192.0.2.7:443`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            hop.strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .and_then(|h| h.parse().ok())
        })
        .map(|ip: IpAddr| ip.to_canonical())
}

/// What the rate limits count by: the address for IPv4, its /64 for IPv6.
pub fn rate_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !(u64::MAX as u128))),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peers_forwarded_for_is_ignored() {
        let none = TrustedProxies::none();
        assert_eq!(
            none.client(ip("198.51.100.9"), &xff(&["192.0.2.1"])),
            ip("198.51.100.9")
        );
        let lan = TrustedProxies::parse("10.0.0.0/8").unwrap();
        assert_eq!(
            lan.client(ip("198.51.100.9"), &xff(&["192.0.2.1"])),
            ip("198.51.100.9")
        );
    }

    #[test]
    fn a_trusted_chain_gives_the_rightmost_hop_that_is_not_a_proxy() {
        let p = TrustedProxies::parse("10.0.0.0/8, 192.168.1.1 ,2001:db8:ffff::/48").unwrap();
        // The client claims 1.1.1.1; the edge proxy saw 203.0.113.5; an inner proxy 10.1.1.1.
        let h = xff(&["1.1.1.1, 203.0.113.5", "10.1.1.1"]);
        assert_eq!(p.client(ip("10.2.2.2"), &h), ip("203.0.113.5"));
        assert_eq!(p.client(ip("192.168.1.1"), &h), ip("203.0.113.5"));
        // No header, or only proxies: the leftmost proxy is the best there is.
        assert_eq!(p.client(ip("10.2.2.2"), &HeaderMap::new()), ip("10.2.2.2"));
        assert_eq!(
            p.client(ip("10.2.2.2"), &xff(&["10.9.9.9"])),
            ip("10.9.9.9")
        );
        // Garbage written left of a trusted hop stops the walk there.
        assert_eq!(
            p.client(ip("10.2.2.2"), &xff(&["unknown, 10.3.3.3"])),
            ip("10.3.3.3")
        );
        // Ports, brackets, IPv6 and IPv4-mapped IPv6.
        assert_eq!(
            p.client(ip("10.2.2.2"), &xff(&["203.0.113.5:4711"])),
            ip("203.0.113.5")
        );
        assert_eq!(
            p.client(ip("2001:db8:ffff::1"), &xff(&["[2001:db8:1::7]:443"])),
            ip("2001:db8:1::7")
        );
        assert_eq!(
            p.client(ip("::ffff:10.2.2.2"), &xff(&["::ffff:203.0.113.5"])),
            ip("203.0.113.5")
        );
    }

    #[test]
    fn the_older_setting_trusts_one_proxy_whatever_its_address() {
        let p = TrustedProxies::any_peer();
        let h = xff(&["1.1.1.1, 203.0.113.5"]);
        assert_eq!(p.client(ip("198.51.100.9"), &h), ip("203.0.113.5"));
        assert_eq!(
            p.client(ip("198.51.100.9"), &HeaderMap::new()),
            ip("198.51.100.9")
        );
    }

    #[test]
    fn bad_lists_are_refused() {
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("proxy.example").is_err());
        assert!(TrustedProxies::parse("").unwrap().is_empty());
        assert_eq!(
            TrustedProxies::parse("10.1.2.3/8").unwrap(),
            TrustedProxies::parse("10.0.0.0/8").unwrap()
        );
    }

    #[test]
    fn ipv6_addresses_in_one_64_share_a_key() {
        assert_eq!(
            rate_key(ip("2001:db8:1:2::1")),
            rate_key(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            rate_key(ip("2001:db8:1:2::1")),
            rate_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(rate_key(ip("192.0.2.1")), ip("192.0.2.1"));
        assert_ne!(rate_key(ip("192.0.2.1")), rate_key(ip("192.0.2.2")));
        assert_eq!(rate_key(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
    }
}

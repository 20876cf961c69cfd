//! Who the client is: the address of the connection's peer, or, when that peer is one of our
//! own proxies (`server.trusted_proxies`), the address `X-Forwarded-For` names. The header is
//! read from the right (what the nearest proxy appended) and the first address that is not a
//! trusted proxy is the client's; anything further left came from the client and could be
//! forged. A header from an untrusted peer is ignored. The address is used in memory only (a
//! visitor hash, a country) and never written or logged.

use axum::http::HeaderMap;
use linkleaf_domain::net::Net;
use std::net::{IpAddr, SocketAddr};

/// The connection's peer, as the serve loop knows it (a request extension on routed requests).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// Addresses and networks whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<Net>);

impl TrustedProxies {
    /// From `["10.0.0.0/8", "127.0.0.1", "::1"]`; errors name the bad entry.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        entries
            .iter()
            .map(|e| e.parse::<Net>().map(|n| n.canonical()))
            .collect::<Result<_, _>>()
            .map(Self)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(ip))
    }

    /// The client of a request from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if self.0.is_empty() || !self.contains(peer) {
            return canonical(peer);
        }
        let mut client = canonical(peer);
        // every X-Forwarded-For header, in order, each a comma-separated list; right to left
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        for hop in hops.iter().rev() {
            let Some(ip) = parse_hop(hop) else {
                // garbage: stop believing at this point
                break;
            };
            client = ip;
            if !self.contains(ip) {
                break;
            }
        }
        client
    }
}

/// `203.0.113.7`, `2001:db8::1`, `[2001:db8::1]:443`, `203.0.113.7:80`.
fn parse_hop(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    s.parse::<SocketAddr>().ok().map(|a| canonical(a.ip()))
}

/// IPv4-mapped IPv6 addresses as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let t = TrustedProxies::parse(&["10.0.0.0/8".into(), "::1".into()]).unwrap();
        // from a trusted proxy: the right-most address that is not ours
        assert_eq!(
            t.client(ip("10.1.2.3"), &headers(&["198.51.100.9"])),
            ip("198.51.100.9")
        );
        assert_eq!(
            t.client(
                ip("10.1.2.3"),
                &headers(&["1.1.1.1, 198.51.100.9, 10.9.9.9"])
            ),
            ip("198.51.100.9"),
            "the client cannot forge what is to the right of its own address"
        );
        assert_eq!(
            t.client(ip("10.1.2.3"), &headers(&["1.1.1.1", "198.51.100.9"])),
            ip("198.51.100.9"),
            "several headers are one list"
        );
        assert_eq!(
            t.client(ip("::1"), &headers(&["[2001:db8::7]:443"])),
            ip("2001:db8::7")
        );
        // from anyone else: the header is ignored
        assert_eq!(
            t.client(ip("203.0.113.5"), &headers(&["1.2.3.4"])),
            ip("203.0.113.5")
        );
        // garbage stops the walk at the last good hop
        assert_eq!(
            t.client(ip("10.1.2.3"), &headers(&["evil, not-an-ip"])),
            ip("10.1.2.3")
        );
        assert_eq!(
            TrustedProxies::default().client(ip("10.1.2.3"), &headers(&["1.2.3.4"])),
            ip("10.1.2.3"),
            "no trusted proxies: never believed"
        );
        assert_eq!(
            t.client(ip("::ffff:203.0.113.5"), &headers(&[])),
            ip("203.0.113.5")
        );
    }

    #[test]
    fn bad_entries_are_named() {
        assert!(
            TrustedProxies::parse(&["10.0.0.0/33".into()])
                .unwrap_err()
                .contains("10.0.0.0/33")
        );
        assert!(TrustedProxies::parse(&["proxy.local".into()]).is_err());
        assert!(
            TrustedProxies::parse(&["0.0.0.0/0".into()])
                .unwrap()
                .contains(ip("8.8.8.8"))
        );
    }
}

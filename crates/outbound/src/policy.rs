//! Where a URL that a user supplied may lead: public unicast addresses only. Refused are
//! loopback, "this network", the private networks of RFC 1918, shared address space (RFC 6598),
//! link-local (where cloud metadata services answer), unique local, multicast, broadcast, the
//! documentation and benchmarking ranges, reserved and protocol-assignment blocks, and the IPv6
//! forms that embed an IPv4 address (mapped, compatible, translated, NAT64, 6to4) when the
//! embedded address is refused. An operator may allow networks (`webhooks.allow_networks`) for
//! internal receivers. Must not: resolve names or connect (the connector does, through this).

pub use linkleaf_domain::net::Net;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub address: IpAddr,
    /// The rule, in words (`loopback`, `private (RFC 1918)`...).
    pub rule: &'static str,
    /// The refused network the address is in.
    pub network: Net,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is {} ({}): only public addresses are allowed",
            self.address, self.rule, self.network
        )
    }
}

impl std::error::Error for Refusal {}

/// The IPv4 networks refused, most specific first.
const V4: &[(Net, &str)] = &[
    (Net::v4(255, 255, 255, 255, 32), "broadcast"),
    (Net::v4(0, 0, 0, 0, 8), "'this network' (unspecified)"),
    (Net::v4(10, 0, 0, 0, 8), "private (RFC 1918)"),
    (
        Net::v4(100, 64, 0, 0, 10),
        "shared address space (RFC 6598)",
    ),
    (Net::v4(127, 0, 0, 0, 8), "loopback"),
    (Net::v4(169, 254, 0, 0, 16), "link-local (cloud metadata)"),
    (Net::v4(172, 16, 0, 0, 12), "private (RFC 1918)"),
    (
        Net::v4(192, 0, 0, 0, 24),
        "reserved for protocol assignments",
    ),
    (Net::v4(192, 0, 2, 0, 24), "documentation"),
    (
        Net::v4(192, 88, 99, 0, 24),
        "6to4 relay anycast (deprecated)",
    ),
    (Net::v4(192, 168, 0, 0, 16), "private (RFC 1918)"),
    (Net::v4(198, 18, 0, 0, 15), "benchmarking"),
    (Net::v4(198, 51, 100, 0, 24), "documentation"),
    (Net::v4(203, 0, 113, 0, 24), "documentation"),
    (Net::v4(224, 0, 0, 0, 4), "multicast"),
    (Net::v4(240, 0, 0, 0, 4), "reserved"),
];

/// The IPv6 networks refused outright (the forms embedding IPv4 are looked into instead).
const V6: &[(Net, &str)] = &[
    (Net::v6([0, 0, 0, 0, 0, 0, 0, 0], 128), "unspecified"),
    (Net::v6([0, 0, 0, 0, 0, 0, 0, 1], 128), "loopback"),
    (
        Net::v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48),
        "local-use NAT64",
    ),
    (Net::v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64), "discard-only"),
    (
        Net::v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32),
        "documentation",
    ),
    (
        Net::v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23),
        "reserved for protocol assignments (Teredo among them)",
    ),
    (Net::v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20), "documentation"),
    (
        Net::v6([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16),
        "segment routing (not global)",
    ),
    (Net::v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7), "unique local"),
    (Net::v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), "link-local"),
    (
        Net::v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10),
        "site-local (deprecated)",
    ),
    (Net::v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), "multicast"),
];

/// The IPv6 forms that carry an IPv4 address, and where it is.
fn embedded_v4(ip: Ipv6Addr) -> Option<(Ipv4Addr, &'static str)> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some((low, "IPv4-mapped")),
        [0, 0, 0, 0, 0xffff, 0, _, _] => Some((low, "IPv4-translated")),
        [0, 0, 0, 0, 0, 0, _, _] => Some((low, "IPv4-compatible")),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some((low, "NAT64")),
        [0x2002, a, b, ..] => Some((
            Ipv4Addr::new((a >> 8) as u8, a as u8, (b >> 8) as u8, b as u8),
            "6to4",
        )),
        _ => None,
    }
}

/// The rule an address breaks, if any.
pub fn refused(ip: IpAddr) -> Option<Refusal> {
    let hit = |table: &[(Net, &'static str)]| {
        table
            .iter()
            .find(|(n, _)| n.contains(ip))
            .map(|&(network, rule)| Refusal {
                address: ip,
                rule,
                network,
            })
    };
    match ip {
        IpAddr::V4(_) => hit(V4),
        IpAddr::V6(v6) => hit(V6).or_else(|| {
            let (v4, form) = embedded_v4(v6)?;
            let inner = refused(IpAddr::V4(v4))?;
            Some(Refusal {
                address: ip,
                rule: match form {
                    "IPv4-mapped" => "an IPv4-mapped form of a refused address",
                    "IPv4-translated" => "an IPv4-translated form of a refused address",
                    "IPv4-compatible" => "an IPv4-compatible form of a refused address",
                    "NAT64" => "a NAT64 form of a refused address",
                    _ => "a 6to4 form of a refused address",
                },
                network: inner.network,
            })
        }),
    }
}

/// Public addresses, and the networks an operator allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    allow: Vec<Net>,
}

impl AddressPolicy {
    /// Public unicast addresses only, and `allow` (the operator's internal receivers).
    pub fn new(allow: Vec<Net>) -> Self {
        Self { allow }
    }

    pub fn check(&self, ip: IpAddr) -> Result<(), Refusal> {
        if self.allow.iter().any(|n| n.contains(ip)) {
            return Ok(());
        }
        refused(ip).map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str) -> Option<&'static str> {
        refused(s.parse().unwrap()).map(|r| r.rule)
    }

    #[test]
    fn every_refused_range_is_refused_and_public_addresses_pass() {
        for (ip, why) in [
            ("127.0.0.1", "loopback"),
            ("127.255.255.254", "loopback"),
            ("0.0.0.0", "'this network' (unspecified)"),
            ("0.1.2.3", "'this network' (unspecified)"),
            ("10.0.0.1", "private (RFC 1918)"),
            ("172.16.0.1", "private (RFC 1918)"),
            ("172.31.255.255", "private (RFC 1918)"),
            ("192.168.1.1", "private (RFC 1918)"),
            ("100.64.0.1", "shared address space (RFC 6598)"),
            ("100.100.100.200", "shared address space (RFC 6598)"),
            ("169.254.169.254", "link-local (cloud metadata)"),
            ("192.0.0.8", "reserved for protocol assignments"),
            ("192.0.2.1", "documentation"),
            ("198.51.100.7", "documentation"),
            ("203.0.113.9", "documentation"),
            ("198.18.0.1", "benchmarking"),
            ("198.19.255.255", "benchmarking"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("240.0.0.1", "reserved"),
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("fe80::1", "link-local"),
            ("fc00::1", "unique local"),
            ("fd12:3456::1", "unique local"),
            ("ff02::1", "multicast"),
            ("2001:db8::1", "documentation"),
            ("3fff::1", "documentation"),
            ("64:ff9b:1::1", "local-use NAT64"),
            ("100::1", "discard-only"),
            (
                "2001::1",
                "reserved for protocol assignments (Teredo among them)",
            ),
            ("fec0::1", "site-local (deprecated)"),
        ] {
            assert_eq!(rule(ip), Some(why), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "172.32.0.1",
            "100.128.0.1",
            "169.253.1.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
        ] {
            assert_eq!(rule(ip), None, "{ip} is public");
        }
    }

    #[test]
    fn ipv6_forms_that_embed_a_refused_ipv4_address_are_refused() {
        for ip in [
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "::ffff:0:192.168.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:0001::1",
            "2002:c0a8:0101::",
        ] {
            let r = refused(ip.parse().unwrap()).unwrap_or_else(|| panic!("{ip} passed"));
            assert!(
                r.rule.contains("form of a refused address"),
                "{ip}: {}",
                r.rule
            );
        }
        for ip in ["::ffff:8.8.8.8", "64:ff9b::808:808", "2002:0808:0808::1"] {
            assert_eq!(rule(ip), None, "{ip} embeds a public address");
        }
    }

    #[test]
    fn allowed_networks_are_exempt() {
        let p = AddressPolicy::new(vec![
            "127.0.0.0/8".parse().unwrap(),
            "fd00::/8".parse().unwrap(),
        ]);
        assert!(p.check("127.0.0.1".parse().unwrap()).is_ok());
        assert!(p.check("fd00::5".parse().unwrap()).is_ok());
        assert!(p.check("10.0.0.1".parse().unwrap()).is_err());
        let r = p.check("10.1.2.3".parse().unwrap()).unwrap_err();
        assert_eq!(
            r.to_string(),
            "10.1.2.3 is private (RFC 1918) (10.0.0.0/8): only public addresses are allowed"
        );
    }
}

//! Which destinations a tenant-chosen URL may reach.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::OutboundError;

/// One exception an operator grants: a host name (any address it resolves to is allowed)
/// or an address range (`10.1.2.0/24`, `127.0.0.1`, `::1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowRule {
    /// A host name, compared case-insensitively with the URL's host.
    Host(String),
    /// Addresses in this range may be connected to.
    Net(IpNet),
}

impl AllowRule {
    /// Reads `10.0.0.0/8`, `127.0.0.1`, `[::1]`, `::1` or `vera.internal`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let unbracketed = raw.trim_start_matches('[').trim_end_matches(']');
        if let Ok(net) = unbracketed.parse::<IpNet>() {
            return Ok(AllowRule::Net(net));
        }
        if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            return Ok(AllowRule::Net(IpNet::from(ip)));
        }
        let valid_host = !raw.is_empty()
            && raw.len() <= 253
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if valid_host {
            Ok(AllowRule::Host(raw.to_ascii_lowercase()))
        } else {
            Err(format!(
                "`{raw}` is neither a host name nor an address range"
            ))
        }
    }
}

/// The rules outbound requests to tenant-chosen hosts follow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    /// Only `https://` URLs (the production profile).
    pub require_https: bool,
    /// The operator's exceptions to the address guard.
    pub allowed: Vec<AllowRule>,
}

impl OutboundPolicy {
    /// Whether the operator allowed this host name outright.
    pub fn allows_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        self.allowed
            .iter()
            .any(|r| matches!(r, AllowRule::Host(h) if h.eq_ignore_ascii_case(host)))
    }

    /// Whether a connection to `ip` is allowed: a public address, or one in a range the
    /// operator allowed.
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        let in_allowed = |ip: IpAddr| {
            self.allowed
                .iter()
                .any(|r| matches!(r, AllowRule::Net(net) if net.contains(&ip)))
        };
        in_allowed(ip) || in_allowed(canonical(ip)) || !is_internal(ip)
    }

    /// Checks a URL before any connection: its scheme, and its host when it is an address
    /// literal (a resolver never sees those).
    pub fn check_url(&self, url: &reqwest::Url) -> Result<(), OutboundError> {
        match url.scheme() {
            "https" => {}
            "http" if !self.require_https => {}
            _ => return Err(OutboundError::Blocked("only https URLs are allowed")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(OutboundError::Blocked("URLs may not carry credentials"));
        }
        match url.host() {
            Some(url::Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => Ok(()),
            None => Err(OutboundError::Blocked("the URL has no host")),
        }
    }

    fn check_ip(&self, ip: IpAddr) -> Result<(), OutboundError> {
        if self.allows_ip(ip) {
            Ok(())
        } else {
            Err(OutboundError::Blocked("the address is not a public one"))
        }
    }
}

/// The IPv4 address an IPv6 one carries (mapped `::ffff:a.b.c.d`, compatible `::a.b.c.d`,
/// NAT64 `64:ff9b::a.b.c.d`), else the address itself.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let s = v6.segments();
            if s[..6] == [0, 0, 0, 0, 0, 0] && !(s[6] == 0 && s[7] <= 1) {
                return IpAddr::V4(embedded_v4(v6));
            }
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return IpAddr::V4(embedded_v4(v6));
            }
            ip
        }
        IpAddr::V4(_) => ip,
    }
}

fn embedded_v4(v6: Ipv6Addr) -> Ipv4Addr {
    let o = v6.octets();
    Ipv4Addr::new(o[12], o[13], o[14], o[15])
}

/// Loopback, private, link-local, CGNAT, multicast, unspecified, broadcast, reserved,
/// ULA, and every IPv6 form that embeds one of those IPv4 addresses.
pub fn is_internal(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            v4.is_unspecified()
                || a == 0
                || v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64.0.0/10
                || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
                || (a == 198 && (b == 18 || b == 19)) // benchmarking
                || v4.is_multicast()
                || a >= 240 // reserved and broadcast
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // ULA fc00::/7
                || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (first & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
                || v6.to_ipv4_mapped().is_some() // mapped, but canonical() kept it: never public
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_addresses_in_every_spelling_are_refused() {
        for s in [
            "127.0.0.1",
            "127.9.9.9",
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.0.170",
            "198.18.0.1",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::7f00:1",
        ] {
            assert!(is_internal(ip(s)), "{s}");
            assert!(!OutboundPolicy::default().allows_ip(ip(s)), "{s}");
        }
        for s in [
            "8.8.8.8",
            "1.1.1.1",
            "100.128.0.1",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(!is_internal(ip(s)), "{s}");
        }
    }

    #[test]
    fn the_operator_may_allow_ranges_and_hosts() {
        let policy = OutboundPolicy {
            require_https: false,
            allowed: vec![
                AllowRule::parse("127.0.0.1").unwrap(),
                AllowRule::parse("10.1.0.0/16").unwrap(),
                AllowRule::parse("Vera.Internal").unwrap(),
                AllowRule::parse("[::1]").unwrap(),
            ],
        };
        assert!(policy.allows_ip(ip("127.0.0.1")));
        assert!(policy.allows_ip(ip("::ffff:127.0.0.1")));
        assert!(policy.allows_ip(ip("::1")));
        assert!(!policy.allows_ip(ip("127.0.0.2")));
        assert!(policy.allows_ip(ip("10.1.200.3")));
        assert!(!policy.allows_ip(ip("10.2.0.1")));
        assert!(policy.allows_host("vera.internal"));
        assert!(policy.allows_host("VERA.internal."));
        assert!(!policy.allows_host("evil.internal"));
        assert!(AllowRule::parse("not a host!").is_err());
        assert!(AllowRule::parse("").is_err());
    }

    #[test]
    fn urls_are_checked_for_scheme_credentials_and_literal_addresses() {
        let production = OutboundPolicy {
            require_https: true,
            allowed: vec![],
        };
        let url = |s: &str| reqwest::Url::parse(s).unwrap();
        assert!(
            production
                .check_url(&url("https://vera.example.com/v1"))
                .is_ok()
        );
        for bad in [
            "http://vera.example.com/v1",
            "ftp://vera.example.com/",
            "https://127.0.0.1/",
            "https://[::1]/",
            "https://[::ffff:7f00:1]/",
            "https://169.254.169.254/latest/meta-data",
            "https://0x7f000001/",
            "https://2130706433/",
            "https://user:pw@vera.example.com/",
        ] {
            assert!(production.check_url(&url(bad)).is_err(), "{bad}");
        }
        let development = OutboundPolicy::default();
        assert!(
            development
                .check_url(&url("http://vera.example.com/"))
                .is_ok()
        );
        assert!(
            development
                .check_url(&url("http://127.0.0.1:5432/"))
                .is_err()
        );
    }
}

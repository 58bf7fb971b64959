//! Who the client is: the socket peer, or — only when that peer is a proxy the operator
//! trusts — the right-most `X-Forwarded-For` hop that is not itself a trusted proxy.
//! Everything left of that hop is the client's own words and is ignored.

use std::net::{IpAddr, Ipv6Addr};

use actix_web::HttpRequest;
use actix_web::dev::ServiceRequest;
use actix_web::http::header::HeaderMap;
use actix_web::web;
use ipnet::IpNet;

use crate::state::AppState;

/// The proxies whose `X-Forwarded-For` is believed (`OMNI_HTTP__TRUSTED_PROXIES`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// The given ranges.
    pub fn new(nets: Vec<IpNet>) -> Self {
        Self(nets)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = unmapped(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address, given the socket peer and the request headers.
    pub fn client(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = unmapped(peer?);
        if !self.trusts(peer) {
            return Some(peer);
        }
        // Every X-Forwarded-For header, in order, as one list; read from the right.
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            match parse_hop(hop) {
                Some(ip) if self.trusts(ip) => client = ip,
                Some(ip) => return Some(ip),
                // A hop we cannot read: the last proxy we trust is as far as we can see.
                None => return Some(client),
            }
        }
        Some(client)
    }
}

/// `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:443`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(unmapped(ip));
    }
    hop.parse::<std::net::SocketAddr>()
        .ok()
        .map(|a| unmapped(a.ip()))
}

fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// The key rate limits count a client by: its IPv4 address, or the /64 of its IPv6
/// address (one subscriber's whole allocation; a host may pick any address in it).
pub fn limit_key(ip: IpAddr) -> IpAddr {
    match unmapped(ip) {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// The client address of a request, as the configuration says to read it.
pub fn of_request(req: &HttpRequest) -> Option<IpAddr> {
    let peer = req.peer_addr().map(|a| a.ip());
    match req.app_data::<web::Data<AppState>>() {
        Some(state) => state
            .config
            .http
            .trusted_proxies
            .client(peer, req.headers()),
        None => peer,
    }
}

/// The same, for middleware that sees the request before routing.
pub fn of_service_request(req: &ServiceRequest) -> Option<IpAddr> {
    of_request(req.request())
}

/// The key the rate limits count this request's client by.
pub fn limit_key_of(req: &HttpRequest) -> Option<IpAddr> {
    of_request(req).map(limit_key)
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append(
                HeaderName::from_static("x-forwarded-for"),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let none = TrustedProxies::default();
        let nginx = TrustedProxies::new(vec!["10.0.0.0/8".parse().unwrap()]);
        let peer = Some(ip("10.0.0.5"));
        let spoofed = headers(&["1.1.1.1, 203.0.113.7"]);
        assert_eq!(none.client(peer, &spoofed), peer, "untrusted peer: itself");
        assert_eq!(
            nginx.client(Some(ip("198.51.100.1")), &spoofed),
            Some(ip("198.51.100.1")),
            "a client is not trusted because it sends the header"
        );
        assert_eq!(nginx.client(peer, &spoofed), Some(ip("203.0.113.7")));
        // Several proxies, several headers: the right-most hop that is not ours.
        assert_eq!(
            nginx.client(peer, &headers(&["6.6.6.6, 203.0.113.7", "10.1.1.1"])),
            Some(ip("203.0.113.7"))
        );
        assert_eq!(
            nginx.client(peer, &headers(&["[2001:db8::1]:443"])),
            Some(ip("2001:db8::1"))
        );
        // Only our proxies in the chain, or none at all: the left-most proxy we trust.
        assert_eq!(
            nginx.client(peer, &headers(&["10.2.2.2"])),
            Some(ip("10.2.2.2"))
        );
        assert_eq!(nginx.client(peer, &HeaderMap::new()), peer);
        // Garbage stops the walk at the last trusted hop.
        assert_eq!(
            nginx.client(peer, &headers(&["203.0.113.7, nonsense"])),
            peer
        );
        assert_eq!(
            nginx.client(Some(ip("::ffff:10.0.0.5")), &spoofed),
            Some(ip("203.0.113.7"))
        );
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        assert_eq!(
            limit_key(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(
            limit_key(ip("2001:db8:1:2::1")),
            limit_key(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            limit_key(ip("2001:db8:1:2::1")),
            limit_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(limit_key(ip("203.0.113.7")), ip("203.0.113.7"));
        assert_eq!(limit_key(ip("::ffff:203.0.113.7")), ip("203.0.113.7"));
    }
}

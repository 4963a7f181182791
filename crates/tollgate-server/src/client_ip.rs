//! The client's IP address, for per-IP rate limits: the connection's peer, or, behind
//! trusted reverse proxies (`http.trusted_proxies`), the rightmost `X-Forwarded-For`
//! address that is not itself a trusted proxy. An address a client wrote into the header
//! itself is to the left of what its proxy appended, so it is never believed.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;

use crate::state::AppState;

/// Trusted proxies: addresses and CIDR blocks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Proxies(Vec<(IpAddr, u8)>);

impl Proxies {
    /// Parses `http.trusted_proxies`; the error names the entry that is not an address or a
    /// block.
    pub fn parse(entries: &[String]) -> Result<Proxies, String> {
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            let bad = || {
                format!(
                    "http.trusted_proxies: '{entry}' is not an IP address or a CIDR block such as 10.0.0.0/8"
                )
            };
            let (addr, bits) = match entry.trim().split_once('/') {
                Some((a, b)) => (a, Some(b)),
                None => (entry.trim(), None),
            };
            let ip: IpAddr = addr.parse().map_err(|_| bad())?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                Some(b) => b.parse::<u8>().ok().filter(|b| *b <= max).ok_or_else(bad)?,
                None => max,
            };
            out.push((ip, bits));
        }
        Ok(Proxies(out))
    }

    /// Whether `ip` is one of them.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|&(net, bits)| within(ip, net, bits))
    }

    /// The client's address: `peer`, or behind trusted proxies the rightmost untrusted
    /// address of `X-Forwarded-For` (every header of that name, in order).
    pub fn client(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer?.to_canonical();
        if !self.trusts(peer) {
            return Some(peer);
        }
        let mut client = peer;
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect();
        for hop in hops.iter().rev() {
            match hop_address(hop) {
                Some(ip) => {
                    client = ip;
                    if !self.trusts(ip) {
                        break;
                    }
                }
                // Garbage in the chain: nothing left of it can be believed.
                None => break,
            }
        }
        Some(client)
    }
}

/// One `X-Forwarded-For` entry's address: a bare address, or one with a port (`1.2.3.4:80`,
/// `[::1]:80`), an IPv4 address mapped into IPv6 read as IPv4 (one client, one count).
fn hop_address(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

/// Whether `ip` is in `net`/`bits` (an IPv4 address mapped into IPv6 counts as IPv4).
fn within(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// The client's IP address as a handler argument (None when the server does not know the
/// peer, as in a router driven without a socket).
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<ClientIp, Infallible> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(ClientIp(state.proxies().client(peer, &parts.headers)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().expect("a header value"));
        }
        h
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_whatever_the_header_says() {
        let none = Proxies::default();
        assert_eq!(
            none.client(Some(ip("203.0.113.9")), &headers(&["198.51.100.1"])),
            Some(ip("203.0.113.9"))
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_rightmost_untrusted_address_is_the_client() {
        let proxies = Proxies::parse(&["10.0.0.0/8".into(), "::1".into()]).expect("valid entries");
        // The client forged the first entry; its proxy appended the real address.
        let h = headers(&["1.2.3.4, 198.51.100.7", "10.1.2.3"]);
        assert_eq!(
            proxies.client(Some(ip("10.0.0.5")), &h),
            Some(ip("198.51.100.7"))
        );
        assert_eq!(
            proxies.client(Some(ip("::1")), &headers(&["198.51.100.8"])),
            Some(ip("198.51.100.8"))
        );
        // An untrusted peer's header is not believed.
        assert_eq!(
            proxies.client(Some(ip("192.0.2.1")), &h),
            Some(ip("192.0.2.1"))
        );
    }

    #[test]
    fn an_entry_with_a_port_or_in_mapped_form_is_the_same_client() {
        let proxies = Proxies::parse(&["10.0.0.1".into()]).expect("valid");
        for entry in [
            "198.51.100.7:5678",
            "::ffff:198.51.100.7",
            "[::ffff:198.51.100.7]:80",
        ] {
            assert_eq!(
                proxies.client(Some(ip("10.0.0.1")), &headers(&[entry])),
                Some(ip("198.51.100.7")),
                "{entry}"
            );
        }
        assert_eq!(
            proxies.client(Some(ip("::ffff:10.0.0.1")), &headers(&["198.51.100.7"])),
            Some(ip("198.51.100.7")),
            "a mapped peer is the proxy it maps"
        );
    }

    #[test]
    fn a_trusted_proxy_without_the_header_is_the_client_itself() {
        let proxies = Proxies::parse(&["127.0.0.1".into()]).expect("valid");
        assert_eq!(
            proxies.client(Some(ip("127.0.0.1")), &HeaderMap::new()),
            Some(ip("127.0.0.1"))
        );
    }

    #[test]
    fn an_entry_that_is_neither_an_address_nor_a_block_is_refused_by_name() {
        let err = Proxies::parse(&["10.0.0.0/33".into()]).expect_err("too many bits");
        assert!(err.contains("'10.0.0.0/33'"), "{err}");
        assert!(Proxies::parse(&["proxy.local".into()]).is_err());
    }
}

//! Which addresses webhook deliveries may reach.
//!
//! An endpoint URL is chosen by a tenant's admin, not by the operator, so unless
//! `webhooks.allow_private_networks` is set a delivery never connects to the server's own
//! networks: loopback, private, link-local (where cloud metadata services live), shared
//! (carrier-grade NAT), unique-local and unspecified addresses. An endpoint naming such an IP,
//! or `localhost`, is refused when created; a host name is checked again at every attempt, on
//! the addresses it resolves to then (by the HTTP client's resolver, [`PublicOnly`]), because a
//! name may be pointed at an internal address after the endpoint was created.

use std::error::Error;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether `ip` is on a network of the server's own rather than the public internet.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => private_v4(v4),
        // `::ffff:127.0.0.1` reaches 127.0.0.1.
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or_else(|| private_v6(v6), private_v4),
    }
}

fn private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    a == 0 // 0.0.0.0/8, "this network"; 0.0.0.0 reaches the local host
        || ip.is_loopback() // 127/8
        || ip.is_private() // 10/8, 172.16/12, 192.168/16
        || ip.is_link_local() // 169.254/16
        || (a == 100 && (64..128).contains(&b)) // 100.64/10, shared address space
        || ip.is_broadcast()
}

fn private_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_unspecified()
        || ip.is_loopback()
        || first & 0xfe00 == 0xfc00 // fc00::/7, unique local
        || first & 0xffc0 == 0xfe80 // fe80::/10, link-local
        || first & 0xffc0 == 0xfec0 // fec0::/10, the former site-local
}

/// The IP a URL's host is written as, if it is an IP literal (brackets around IPv6 removed).
pub fn ip_literal(url: &reqwest::Url) -> Option<IpAddr> {
    let host = url.host_str()?;
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// Why an endpoint URL is refused while private networks are not allowed, if it is: its host
/// is a private IP, or `localhost`. (The URL parser has already turned other spellings of an
/// IPv4 address, like `2130706433`, into the dotted form.)
pub fn refused_host(url: &reqwest::Url) -> Option<String> {
    refused_host_for(url, "webhooks", "webhooks.allow_private_networks")
}

/// As [`refused_host`], for other egress (`who` may not reach it, `setting` allows it): the
/// MCP registry's (`mcp.allow_private_networks`) follows the same policy.
pub fn refused_host_for(url: &reqwest::Url, who: &str, setting: &str) -> Option<String> {
    let host = url.host_str()?;
    let setting = format!("set {setting} to allow it");
    if let Some(ip) = ip_literal(url).filter(|ip| is_private(*ip)) {
        return Some(format!(
            "url's host {ip} is a loopback, private, link-local or otherwise internal address, \
             which {who} may not reach; {setting}"
        ));
    }
    let name = host.trim_end_matches('.').to_ascii_lowercase();
    if name == "localhost" || name.ends_with(".localhost") {
        return Some(format!(
            "url's host {host} is this machine, which {who} may not reach; {setting}"
        ));
    }
    None
}

/// The error [`PublicOnly`] fails with when a name resolves only to private addresses.
#[derive(Debug)]
pub struct PrivateAddress;

impl fmt::Display for PrivateAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the host resolves only to private addresses")
    }
}

impl Error for PrivateAddress {}

/// Whether `e`, or an error it was caused by, is [`PrivateAddress`].
pub fn caused_by_private_address(e: &(dyn Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if c.is::<PrivateAddress>() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// A resolver that resolves as the system does and drops private addresses; a name with none
/// left fails with [`PrivateAddress`]. IP literals never reach a resolver: check them with
/// [`ip_literal`] before sending.
#[derive(Debug, Clone, Copy)]
pub struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| !is_private(a.ip()))
                .collect();
            if public.is_empty() && !found.is_empty() {
                return Err(PrivateAddress.into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn private(text: &str) -> bool {
        is_private(text.parse().expect("an IP address"))
    }

    #[test]
    fn internal_ipv4_ranges_are_private_and_public_ones_are_not() {
        for ip in [
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "255.255.255.255",
        ] {
            assert!(private(ip), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "192.169.0.1",
            "1.1.1.1",
        ] {
            assert!(!private(ip), "{ip}");
        }
    }

    #[test]
    fn internal_ipv6_ranges_and_mapped_internal_ipv4_are_private() {
        for ip in [
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
        ] {
            assert!(private(ip), "{ip}");
        }
        for ip in ["2001:4860:4860::8888", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(!private(ip), "{ip}");
        }
    }

    #[test]
    fn endpoints_on_internal_ips_or_localhost_are_refused_and_public_names_are_not() {
        let refused = |u: &str| refused_host(&reqwest::Url::parse(u).expect("a URL"));
        for url in [
            "http://127.0.0.1:9/x",
            "http://169.254.169.254/",
            "http://[::1]/x",
            "http://[::ffff:127.0.0.1]/x",
            "http://2130706433/x",
            "http://localhost:8080/x",
            "http://LOCALHOST./x",
            "http://api.localhost/x",
        ] {
            let why = refused(url).unwrap_or_else(|| panic!("{url} is refused"));
            assert!(why.contains("webhooks.allow_private_networks"), "{why}");
        }
        for url in [
            "https://hooks.example.com/x",
            "http://8.8.8.8/x",
            "https://[2001:db8::1]/x",
            "https://localhost.example.com/x",
        ] {
            assert_eq!(refused(url), None, "{url}");
        }
    }

    #[tokio::test]
    async fn a_name_that_resolves_only_to_loopback_is_not_resolved() {
        let name: Name = "localhost".parse().expect("a name");
        let Err(e) = PublicOnly.resolve(name).await else {
            panic!("localhost resolves to a private address");
        };
        assert!(caused_by_private_address(&*e), "{e}");
    }
}

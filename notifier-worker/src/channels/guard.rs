//! Keeps every channel (HTTP and SMTP) off the worker's own network unless
//! `CERTCTL_OUTBOUND_ALLOW_PRIVATE` says otherwise: a channel must not become a way to reach
//! loopback services, cloud metadata endpoints or private hosts (SSRF).
//!
//! Addresses are checked after name resolution, on the address actually dialled, so a DNS name
//! cannot smuggle a private address past the check; the HTTP client never uses a proxy, so the
//! resolution it checks is the one it connects with.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Why an address is refused, for the attempt's error; `None` if it may be dialled.
pub fn refusal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refusal_v4(v4),
        IpAddr::V6(v6) => refusal_v6(v6),
    }
}

/// Whether certctl must not send to this address by default.
pub fn is_forbidden(ip: IpAddr) -> bool {
    refusal(ip).is_some()
}

fn refusal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    let why = match (a, b, c) {
        (0, ..) => "\"this network\" (0.0.0.0/8)",
        (10, ..) => "private (10.0.0.0/8)",
        (100, 64..=127, _) => "carrier-grade NAT (100.64.0.0/10)",
        (127, ..) => "loopback (127.0.0.0/8)",
        (169, 254, _) => "link-local, cloud metadata (169.254.0.0/16)",
        (172, 16..=31, _) => "private (172.16.0.0/12)",
        (192, 0, 0) => "IETF protocol assignments (192.0.0.0/24)",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation (RFC 5737)",
        (192, 88, 99) => "6to4 relay anycast (192.88.99.0/24)",
        (192, 168, _) => "private (192.168.0.0/16)",
        (198, 18..=19, _) => "benchmarking (198.18.0.0/15)",
        (224..=239, ..) => "multicast (224.0.0.0/4)",
        (255, 255, 255) if ip == Ipv4Addr::BROADCAST => "broadcast",
        (240..=255, ..) => "reserved (240.0.0.0/4)",
        _ => return None,
    };
    Some(why)
}

fn refusal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        // ::ffff:a.b.c.d reaches the IPv4 address itself.
        return refusal_v4(v4).map(|_| "IPv4-mapped (::ffff:0:0/96) of a refused IPv4 address");
    }
    let seg = ip.segments();
    let why = if ip.is_unspecified() {
        "unspecified (::)"
    } else if ip.is_loopback() {
        "loopback (::1)"
    } else if seg[..6] == [0; 6] {
        // ::a.b.c.d, deprecated, and dialled as IPv4 by some stacks.
        "IPv4-compatible (::/96)"
    } else if seg[0] == 0x64 && seg[1] == 0xff9b && seg[2..6] == [0; 4] {
        // A NAT64 gateway turns this into a.b.c.d, whatever that is: refused outright.
        "NAT64 (64:ff9b::/96)"
    } else if seg[0] == 0x64 && seg[1] == 0xff9b && seg[2] == 1 {
        "local-use NAT64 (64:ff9b:1::/48)"
    } else if seg[0] == 0x100 && seg[1..4] == [0; 3] {
        "discard-only (100::/64)"
    } else if seg[0] == 0x2001 && seg[1] == 0 {
        "Teredo (2001::/32)"
    } else if seg[0] == 0x2001 && seg[1] == 0xdb8 {
        "documentation (2001:db8::/32)"
    } else if seg[0] == 0x2002 {
        // 6to4 embeds an IPv4 address and is relayed to it.
        "6to4 (2002::/16)"
    } else if seg[0] & 0xfe00 == 0xfc00 {
        "unique local (fc00::/7)"
    } else if seg[0] & 0xffc0 == 0xfe80 {
        "link-local (fe80::/10)"
    } else if seg[0] & 0xffc0 == 0xfec0 {
        "site-local (fec0::/10)"
    } else if seg[0] & 0xff00 == 0xff00 {
        "multicast (ff00::/8)"
    } else {
        return None;
    };
    Some(why)
}

/// The message of an attempt refused by the guard.
pub fn refused_message(target: &str, ip: IpAddr, why: &str) -> String {
    format!("{target} is {ip}, a {why} address; certctl does not send there unless CERTCTL_OUTBOUND_ALLOW_PRIVATE=true")
}

/// Resolves `host` and keeps only the addresses the guard allows; fails, naming the first address
/// refused, when none is left.
pub async fn resolve_public(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        return match refusal(ip) {
            Some(why) => Err(refused_message(host, ip, why)),
            None => Ok(vec![SocketAddr::new(ip, port)]),
        };
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    let first = addrs.first().copied();
    let public: Vec<SocketAddr> = addrs.into_iter().filter(|a| !is_forbidden(a.ip())).collect();
    match (public.is_empty(), first) {
        (false, _) => Ok(public),
        (true, Some(a)) => Err(refused_message(host, a.ip(), refusal(a.ip()).unwrap_or("refused"))),
        (true, None) => Err(format!("{host} has no address")),
    }
}

/// The HTTP client's resolver: public addresses only.
pub struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = resolve_public(&host, 0).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every address form the guard must refuse, with the range it belongs to. The test only
    /// classifies addresses: nothing is dialled.
    const REFUSED: &[(&str, &str)] = &[
        ("0.0.0.0", "this network"),
        ("0.1.2.3", "this network"),
        ("10.1.2.3", "private"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("100.127.255.254", "carrier-grade NAT"),
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("169.254.169.254", "link-local"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.0.0.8", "IETF"),
        ("192.0.2.1", "documentation"),
        ("198.51.100.7", "documentation"),
        ("203.0.113.9", "documentation"),
        ("192.88.99.1", "6to4 relay"),
        ("192.168.1.1", "private"),
        ("198.18.0.1", "benchmarking"),
        ("198.19.255.255", "benchmarking"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
        ("254.1.2.3", "reserved"),
        ("255.255.255.255", "broadcast"),
        ("::", "unspecified"),
        ("::1", "loopback"),
        ("::ffff:10.0.0.1", "IPv4-mapped"),
        ("::ffff:127.0.0.1", "IPv4-mapped"),
        ("::ffff:169.254.169.254", "IPv4-mapped"),
        ("::127.0.0.1", "IPv4-compatible"),
        ("::8.8.8.8", "IPv4-compatible"),
        ("64:ff9b::10.0.0.1", "NAT64"),
        ("64:ff9b::8.8.8.8", "NAT64"),
        ("64:ff9b:1::1", "local-use NAT64"),
        ("100::1", "discard-only"),
        ("2001::1", "Teredo"),
        ("2001:db8::1", "documentation"),
        ("2002:7f00:1::1", "6to4"),
        ("2002:a00:1::", "6to4"),
        ("fc00::1", "unique local"),
        ("fd12:3456::1", "unique local"),
        ("fe80::1", "link-local"),
        ("febf::1", "link-local"),
        ("fec0::1", "site-local"),
        ("feff::1", "site-local"),
        ("ff02::1", "multicast"),
        ("ff0e::1", "multicast"),
    ];

    const ALLOWED: &[&str] = &[
        "8.8.8.8",
        "1.1.1.1",
        "100.63.255.255",
        "100.128.0.1",
        "172.15.255.255",
        "172.32.0.1",
        "192.0.1.1",
        "198.17.255.255",
        "198.20.0.1",
        "223.255.255.255",
        "2606:4700::1111",
        "2a00:1450:4001:80b::200e",
        "2001:4860:4860::8888",
        "64:ff9b:2::1",
    ];

    #[test]
    fn every_refused_form_is_refused_with_its_range() {
        for (ip, range) in REFUSED {
            let why = refusal(ip.parse().unwrap()).unwrap_or_else(|| panic!("{ip} must be refused"));
            assert!(why.contains(range), "{ip}: {why}");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for ip in ALLOWED {
            assert_eq!(refusal(ip.parse().unwrap()), None, "{ip}");
        }
    }

    #[tokio::test]
    async fn literal_addresses_are_judged_without_a_lookup() {
        let err = resolve_public("127.0.0.1", 25).await.unwrap_err();
        assert!(
            err.contains("loopback") && err.contains("CERTCTL_OUTBOUND_ALLOW_PRIVATE"),
            "{err}"
        );
        let err = resolve_public("[::ffff:10.0.0.1]", 25).await.unwrap_err();
        assert!(err.contains("IPv4-mapped"), "{err}");
        // A public literal is returned as is (and not dialled here).
        assert_eq!(
            resolve_public("192.0.1.1", 25).await.unwrap(),
            vec!["192.0.1.1:25".parse().unwrap()]
        );
    }

    #[tokio::test]
    async fn a_name_that_resolves_only_to_loopback_is_refused() {
        let err = resolve_public("localhost", 25).await.unwrap_err();
        assert!(err.contains("loopback"), "{err}");
    }
}

//! Which addresses certctl refuses to connect to on someone else's behalf (SSRF): loopback,
//! private and link-local ranges (cloud metadata endpoints among them), and every special-purpose
//! range that could lead back into the operator's own network. Pure classification: the
//! notifier's channels and the ACME challenge validator each check the address they actually dial.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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

/// Why an address is refused even where private targets are allowed (an ACME endpoint with
/// `allow_private_targets`, for internal PKI). Only the ranges an internal service lives on are
/// let through: RFC 1918 private, carrier-grade NAT, loopback and IPv6 unique-local. Everything
/// else the guard refuses stays refused, link-local (cloud metadata) first, and so do the IPv6
/// forms that embed or translate to an IPv4 address (mapped, compatible, NAT64, 6to4, Teredo),
/// whatever address they embed.
pub fn refusal_with_private_allowed(ip: IpAddr) -> Option<&'static str> {
    let why = refusal(ip)?;
    let internal = match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            a == 10
                || a == 127
                || (a == 172 && (16..=31).contains(&b))
                || (a == 192 && b == 168)
                || (a == 100 && (64..=127).contains(&b))
        }
        IpAddr::V6(v6) => v6.is_loopback() || v6.segments()[0] & 0xfe00 == 0xfc00,
    };
    (!internal).then_some(why)
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

    #[test]
    fn allowing_private_targets_still_refuses_metadata_and_non_unicast() {
        for ip in ["127.0.0.1", "10.1.2.3", "192.168.1.1", "::1", "fd12::1", "172.16.0.1"] {
            assert_eq!(refusal_with_private_allowed(ip.parse().unwrap()), None, "{ip}");
        }
        for ip in [
            "169.254.169.254",
            "fe80::1",
            "0.0.0.0",
            "::",
            "224.0.0.1",
            "ff02::1",
            "255.255.255.255",
            "240.0.0.1",
            // IPv6 forms that reach an IPv4 address, the metadata endpoint among them.
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:a9fe:a9fe::1",
            "2001::1",
            "192.0.2.1",
            "198.18.0.1",
        ] {
            assert!(refusal_with_private_allowed(ip.parse().unwrap()).is_some(), "{ip}");
        }
        assert_eq!(refusal_with_private_allowed("8.8.8.8".parse().unwrap()), None);
    }
}

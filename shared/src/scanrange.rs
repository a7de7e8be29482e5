//! The address ranges a discovery scan may reach: CIDR blocks (or single addresses) written by an
//! admin, expanded to the exact addresses the worker dials, with a hard cap. The opposite of the
//! SSRF rules in `netguard`: a scan reaches only what was configured, private ranges included,
//! and nothing else (no name resolution, no redirects). Pure functions, tested without a network.

use std::net::IpAddr;

/// The most addresses one scan target may cover, across its ranges.
pub const MAX_ADDRESSES: u64 = 1024;
/// The most ports one scan target may list.
pub const MAX_PORTS: usize = 32;
/// The most ranges one scan target may list.
pub const MAX_RANGES: usize = 32;
/// The longest one scan may take in the worst case (every connection timing out), so it fits in
/// one tick of the worker's loop.
pub const MAX_SCAN: std::time::Duration = std::time::Duration::from_secs(40);

/// Checks a whole target: its ranges and ports, and that a scan in which every connection times
/// out (`addresses × ports / concurrency` rounds of `timeout`) stays within [`MAX_SCAN`].
pub fn check(
    ranges: &[String],
    port_list: &[i32],
    concurrency: u32,
    timeout: std::time::Duration,
) -> Result<(), String> {
    let addresses = expand(ranges)?.len() as u64;
    let probes = addresses * ports(port_list)?.len() as u64;
    let rounds = probes.div_ceil(u64::from(concurrency.max(1)));
    let worst = timeout.saturating_mul(u32::try_from(rounds).unwrap_or(u32::MAX));
    if worst > MAX_SCAN {
        return Err(format!(
            "{probes} connections at concurrency {concurrency} with a {} ms timeout could take {} s; a scan may take at most {} s: raise concurrency, lower timeout_ms or split the target",
            timeout.as_millis(),
            worst.as_secs(),
            MAX_SCAN.as_secs()
        ));
    }
    Ok(())
}

/// A CIDR block: the network address (host bits cleared) and the prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub network: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    /// `10.0.0.0/24`, `2001:db8::/120`, or one address (`/32` or `/128`). Host bits must be zero,
    /// so a typo like `10.0.0.1/24` is refused rather than silently widened.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let network: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{s}` is not an IP address or CIDR block"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{s}` has a prefix length that is not 0-{max}"))?,
        };
        let cidr = Cidr { network, prefix };
        if cidr.first() != network {
            return Err(format!(
                "`{s}` has host bits set: the block starting there is {}/{prefix}",
                cidr.first()
            ));
        }
        Ok(cidr)
    }

    fn host_bits(&self) -> u32 {
        let max = if self.network.is_ipv4() { 32 } else { 128 };
        u32::from(max - self.prefix)
    }

    /// How many addresses the block holds (saturating at `u64::MAX`).
    pub fn size(&self) -> u64 {
        1u64.checked_shl(self.host_bits()).unwrap_or(u64::MAX)
    }

    fn first(&self) -> IpAddr {
        let bits = self.host_bits();
        match self.network {
            IpAddr::V4(v4) => {
                let mask = u32::MAX.checked_shl(bits).unwrap_or(0);
                IpAddr::V4((u32::from(v4) & mask).into())
            }
            IpAddr::V6(v6) => {
                let mask = u128::MAX.checked_shl(bits).unwrap_or(0);
                IpAddr::V6((u128::from(v6) & mask).into())
            }
        }
    }

    /// Every address of the block, in order. Call only on blocks within the cap.
    fn addresses(&self) -> impl Iterator<Item = IpAddr> + '_ {
        let n = self.size();
        (0..n).map(move |i| match self.network {
            IpAddr::V4(v4) => IpAddr::V4((u32::from(v4) + i as u32).into()),
            IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) + u128::from(i)).into()),
        })
    }
}

/// Parses the ranges and expands them to their addresses, each once, refusing more than
/// [`MAX_RANGES`] ranges or [`MAX_ADDRESSES`] addresses in all.
pub fn expand(ranges: &[String]) -> Result<Vec<IpAddr>, String> {
    if ranges.is_empty() {
        return Err("cidrs must list at least one range".into());
    }
    if ranges.len() > MAX_RANGES {
        return Err(format!("cidrs may list at most {MAX_RANGES} ranges"));
    }
    let blocks = ranges.iter().map(|r| Cidr::parse(r)).collect::<Result<Vec<_>, _>>()?;
    let total = blocks.iter().fold(0u64, |n, b| n.saturating_add(b.size()));
    if total > MAX_ADDRESSES {
        return Err(format!(
            "the ranges cover {total} addresses; a scan target may cover at most {MAX_ADDRESSES} (split it into several targets)"
        ));
    }
    let mut out: Vec<IpAddr> = blocks.iter().flat_map(Cidr::addresses).collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// Checks a port list: 1 to [`MAX_PORTS`] ports, each 1-65535; returns them sorted, each once.
pub fn ports(ports: &[i32]) -> Result<Vec<u16>, String> {
    if ports.is_empty() || ports.len() > MAX_PORTS {
        return Err(format!("ports must list 1-{MAX_PORTS} ports"));
    }
    let mut out = ports
        .iter()
        .map(|p| {
            u16::try_from(*p)
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("port {p} is not 1-65535"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn blocks_expand_to_exactly_their_addresses() {
        let a = expand(&v(&["192.0.2.0/30", "198.51.100.7"])).unwrap();
        let a: Vec<String> = a.iter().map(ToString::to_string).collect();
        assert_eq!(a, ["192.0.2.0", "192.0.2.1", "192.0.2.2", "192.0.2.3", "198.51.100.7"]);
        let six = expand(&v(&["2001:db8::/126"])).unwrap();
        assert_eq!(six.len(), 4);
        assert_eq!(six[3].to_string(), "2001:db8::3");
        // Overlapping ranges yield each address once.
        assert_eq!(expand(&v(&["10.0.0.0/31", "10.0.0.1"])).unwrap().len(), 2);
    }

    #[test]
    fn the_cap_and_malformed_ranges_are_refused() {
        assert!(expand(&v(&["10.0.0.0/22"])).is_ok(), "1024 addresses is the cap");
        assert!(expand(&v(&["10.0.0.0/21"])).unwrap_err().contains("at most 1024"));
        assert!(expand(&v(&["10.0.0.0/22", "10.1.0.0/32"])).is_err());
        assert!(expand(&v(&["::/0"])).unwrap_err().contains("at most 1024"));
        assert!(expand(&v(&["0.0.0.0/0"])).is_err());
        assert!(expand(&[]).is_err());
        for bad in [
            "10.0.0.1/24",
            "10.0.0.0/33",
            "example.com",
            "10.0.0.0/",
            "10.0.0.0/x",
            "2001:db8::1/64",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Cidr::parse(" 127.0.0.1 ").unwrap().size(), 1);
    }

    #[test]
    fn a_scan_that_could_outlast_a_tick_is_refused() {
        let one_s = std::time::Duration::from_secs(1);
        // 256 addresses × 2 ports at 16 at a time: 32 rounds of 1 s.
        assert!(check(&v(&["10.0.0.0/24"]), &[443, 8443], 16, one_s).is_ok());
        assert!(
            check(&v(&["10.0.0.0/24"]), &[443, 8443], 8, one_s)
                .unwrap_err()
                .contains("at most 40 s")
        );
        assert!(check(&v(&["10.0.0.0/24"]), &[0], 16, one_s).is_err());
    }

    #[test]
    fn ports_are_checked_and_deduplicated() {
        assert_eq!(ports(&[443, 8443, 443]).unwrap(), [443, 8443]);
        assert!(ports(&[]).is_err());
        assert!(ports(&[0]).is_err());
        assert!(ports(&[65536]).is_err());
        assert!(ports(&(1..=33).collect::<Vec<_>>()).is_err());
    }
}

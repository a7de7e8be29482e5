//! Keeps every channel (HTTP and SMTP) off the worker's own network unless
//! `CERTCTL_OUTBOUND_ALLOW_PRIVATE` says otherwise: a channel must not become a way to reach
//! loopback services, cloud metadata endpoints or private hosts (SSRF).
//!
//! Addresses are checked after name resolution, on the address actually dialled, so a DNS name
//! cannot smuggle a private address past the check; the HTTP client never uses a proxy, so the
//! resolution it checks is the one it connects with.

use std::net::{IpAddr, SocketAddr};

pub use certctl_shared::netguard::{is_forbidden, refusal};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

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

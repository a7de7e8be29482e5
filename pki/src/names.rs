//! Subject alternative name rules of a profile and their enforcement.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// A profile's rules for the names it certifies. An empty `allowed_domains` allows any DNS name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SanRules {
    /// DNS names (and with `allow_subdomains`, names under them) this profile may certify.
    pub allowed_domains: Vec<String>,
    pub allow_subdomains: bool,
    pub allow_wildcards: bool,
    pub allow_ip_addresses: bool,
    /// At most this many names per certificate (0 means the default of 100).
    pub max_names: usize,
}

/// One subject alternative name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SanName {
    Dns(String),
    Ip(IpAddr),
}

impl SanName {
    pub fn as_string(&self) -> String {
        match self {
            SanName::Dns(d) => d.clone(),
            SanName::Ip(ip) => ip.to_string(),
        }
    }
}

const DEFAULT_MAX_NAMES: usize = 100;

impl SanRules {
    /// Checks the names against syntax and these rules, returning them parsed and deduplicated
    /// in the order given.
    pub fn check(&self, names: &[String]) -> Result<Vec<SanName>, String> {
        let max = if self.max_names == 0 {
            DEFAULT_MAX_NAMES
        } else {
            self.max_names
        };
        if names.is_empty() {
            return Err("at least one name is required".into());
        }
        if names.len() > max {
            return Err(format!(
                "{} names requested, the profile allows at most {max}",
                names.len()
            ));
        }
        let mut out: Vec<SanName> = Vec::with_capacity(names.len());
        for raw in names {
            let name = self.check_one(raw)?;
            if !out.contains(&name) {
                out.push(name);
            }
        }
        Ok(out)
    }

    fn check_one(&self, raw: &str) -> Result<SanName, String> {
        if let Ok(ip) = raw.parse::<IpAddr>() {
            return if self.allow_ip_addresses {
                Ok(SanName::Ip(ip))
            } else {
                Err(format!("IP address `{raw}` is not allowed by the profile"))
            };
        }
        let name = raw.to_ascii_lowercase();
        let (wildcard, base) = match name.strip_prefix("*.") {
            Some(base) => (true, base),
            None => (false, name.as_str()),
        };
        if !is_dns_name(base) {
            return Err(format!("`{raw}` is not a valid DNS name"));
        }
        if wildcard && !self.allow_wildcards {
            return Err(format!("wildcard name `{raw}` is not allowed by the profile"));
        }
        if !self.allowed_domains.is_empty() {
            let permitted = self.allowed_domains.iter().any(|d| {
                let d = d.to_ascii_lowercase();
                (!wildcard && base == d)
                    || (self.allow_subdomains && (base.ends_with(&format!(".{d}")) || (wildcard && base == d)))
            });
            if !permitted {
                return Err(format!("`{raw}` is outside the profile's allowed domains"));
            }
        }
        Ok(SanName::Dns(name))
    }

    /// Rejects rules that could never match or are malformed.
    pub fn validate(&self) -> Result<(), String> {
        for d in &self.allowed_domains {
            if !is_dns_name(&d.to_ascii_lowercase()) {
                return Err(format!("allowed domain `{d}` is not a valid DNS name"));
            }
        }
        Ok(())
    }
}

/// LDH labels of 1–63 characters, at most 253 in all (RFC 1035 §2.3.4, RFC 5280 §4.2.1.6).
pub fn is_dns_name(name: &str) -> bool {
    if name.is_empty() || name.len() > 253 || name.ends_with('.') {
        return false;
    }
    name.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn domains_subdomains_and_wildcards() {
        let rules = SanRules {
            allowed_domains: names(&["example.com"]),
            ..Default::default()
        };
        assert!(rules.check(&names(&["example.com"])).is_ok());
        assert!(rules.check(&names(&["a.example.com"])).is_err());
        let sub = SanRules {
            allow_subdomains: true,
            ..rules.clone()
        };
        assert!(sub.check(&names(&["a.b.example.com"])).is_ok());
        assert!(sub.check(&names(&["badexample.com"])).is_err());
        assert!(sub.check(&names(&["*.example.com"])).is_err());
        let wild = SanRules {
            allow_wildcards: true,
            ..sub
        };
        assert!(wild.check(&names(&["*.example.com"])).is_ok());
    }

    #[test]
    fn syntax_ips_and_limits() {
        let any = SanRules::default();
        assert!(any.check(&names(&["bad_name.example"])).is_err());
        assert!(any.check(&names(&["10.0.0.1"])).is_err());
        assert!(any.check(&[]).is_err());
        let ip = SanRules {
            allow_ip_addresses: true,
            max_names: 1,
            ..Default::default()
        };
        assert_eq!(
            ip.check(&names(&["10.0.0.1"])).unwrap(),
            vec![SanName::Ip("10.0.0.1".parse().unwrap())]
        );
        assert!(ip.check(&names(&["a.example", "b.example"])).is_err());
        assert_eq!(any.check(&names(&["A.example", "a.example"])).unwrap().len(), 1);
    }
}

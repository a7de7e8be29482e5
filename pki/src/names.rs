//! Subject alternative name rules of a profile and their enforcement.

use std::net::IpAddr;

pub use certctl_types::api::policy::SanRules;

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

/// Checks the names against syntax and a profile's rules, returning them parsed and
/// deduplicated in the order given.
pub fn check_names(rules: &SanRules, names: &[String]) -> Result<Vec<SanName>, String> {
    let max = if rules.max_names == 0 {
        DEFAULT_MAX_NAMES
    } else {
        rules.max_names
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
        let name = check_one(rules, raw)?;
        if !out.contains(&name) {
            out.push(name);
        }
    }
    Ok(out)
}

fn check_one(rules: &SanRules, raw: &str) -> Result<SanName, String> {
    if let Ok(ip) = raw.parse::<IpAddr>() {
        return if rules.allow_ip_addresses {
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
    if wildcard && !rules.allow_wildcards {
        return Err(format!("wildcard name `{raw}` is not allowed by the profile"));
    }
    if !rules.allowed_domains.is_empty() {
        let permitted = rules.allowed_domains.iter().any(|d| {
            let d = d.to_ascii_lowercase();
            (!wildcard && base == d)
                || (rules.allow_subdomains && (base.ends_with(&format!(".{d}")) || (wildcard && base == d)))
        });
        if !permitted {
            return Err(format!("`{raw}` is outside the profile's allowed domains"));
        }
    }
    Ok(SanName::Dns(name))
}

/// Rejects rules that could never match or are malformed.
pub fn validate_rules(rules: &SanRules) -> Result<(), String> {
    for d in &rules.allowed_domains {
        if !is_dns_name(&d.to_ascii_lowercase()) {
            return Err(format!("allowed domain `{d}` is not a valid DNS name"));
        }
    }
    Ok(())
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
        assert!(check_names(&rules, &names(&["example.com"])).is_ok());
        assert!(check_names(&rules, &names(&["a.example.com"])).is_err());
        let sub = SanRules {
            allow_subdomains: true,
            ..rules.clone()
        };
        assert!(check_names(&sub, &names(&["a.b.example.com"])).is_ok());
        assert!(check_names(&sub, &names(&["badexample.com"])).is_err());
        assert!(check_names(&sub, &names(&["*.example.com"])).is_err());
        let wild = SanRules {
            allow_wildcards: true,
            ..sub
        };
        assert!(check_names(&wild, &names(&["*.example.com"])).is_ok());
    }

    #[test]
    fn syntax_ips_and_limits() {
        let any = SanRules::default();
        assert!(check_names(&any, &names(&["bad_name.example"])).is_err());
        assert!(check_names(&any, &names(&["10.0.0.1"])).is_err());
        assert!(check_names(&any, &[]).is_err());
        let ip = SanRules {
            allow_ip_addresses: true,
            max_names: 1,
            ..Default::default()
        };
        assert_eq!(
            check_names(&ip, &names(&["10.0.0.1"])).unwrap(),
            vec![SanName::Ip("10.0.0.1".parse().unwrap())]
        );
        assert!(check_names(&ip, &names(&["a.example", "b.example"])).is_err());
        assert_eq!(check_names(&any, &names(&["A.example", "a.example"])).unwrap().len(), 1);
    }
}

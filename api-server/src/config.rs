//! `certctl-api-server` configuration, from `CERTCTL_*` environment variables (the shared ones
//! are read by `certctl_shared::config`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use certctl_shared::config::{
    AmqpConfig, CommonConfig, ConfigError, Env, NotificationConfig, Secret, TlsFiles, ca_keys, tls_from_env,
};
use certctl_shared::crypto::KeyEncryptionKeys;

/// `certctl-api-server` configuration.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    pub common: CommonConfig,
    pub api_addr: SocketAddr,
    pub amqp: AmqpConfig,
    pub tls: Option<TlsFiles>,
    pub keys: KeyEncryptionKeys,
    pub public_pki_url: String,
    pub notifications: NotificationConfig,
    pub bootstrap_admin_key: Option<Secret>,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    /// Identical 403s of one key on one route within this window share one audit row (and a
    /// second with their count when the window closes).
    pub audit_denial_window: Duration,
    /// The built web console (`index.html` and `assets/`), served at `/` beside the API; `None`
    /// serves no console. An absolute path, checked at start to hold `index.html`.
    pub web_dir: Option<PathBuf>,
    /// EST/SCEP requests per minute allowed from one source address, per replica (0: no limit).
    pub enroll_rate_per_ip: u32,
    /// EST/SCEP requests per minute allowed for one credential (an enrollment profile and the
    /// identity presented through it), per replica (0: no limit).
    pub enroll_rate_per_credential: u32,
    pub acme: AcmeConfig,
    pub dev_mode: bool,
}

/// How the ACME server validates challenges and how hard clients may push it.
#[derive(Clone, Debug)]
pub struct AcmeConfig {
    /// `CERTCTL_ACME_RESOLVE`: names answered from this list instead of DNS, for tests and
    /// closed networks (`*.test=127.0.0.1,host.example=10.0.0.5`); the first rule that matches wins.
    pub resolve: Vec<ResolveRule>,
    /// `CERTCTL_ACME_HTTP_PORT`: where http-01 is fetched (RFC 8555: 80).
    pub http_port: u16,
    /// `CERTCTL_ACME_TLS_ALPN_PORT`: where tls-alpn-01 connects (RFC 8737: 443).
    pub tls_alpn_port: u16,
    /// `CERTCTL_ACME_DNS_RESOLVER`: the recursive resolver dns-01 asks (`ip:port`); unset, the
    /// first `nameserver` of /etc/resolv.conf, port 53.
    pub dns_resolver: Option<SocketAddr>,
    /// `CERTCTL_ACME_VALIDATION_TIMEOUT`: how long one validation attempt may take.
    pub validation_timeout: Duration,
    /// `CERTCTL_ACME_RATE_PER_IP`: ACME requests per minute from one address, per replica (0: no limit).
    pub rate_per_ip: u32,
    /// `CERTCTL_ACME_RATE_PER_ACCOUNT`: ACME requests per minute by one account, per replica (0: no limit).
    pub rate_per_account: u32,
}

/// One `CERTCTL_ACME_RESOLVE` rule: a name, or `*.suffix` for every name under it, and its addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolveRule {
    pub pattern: String,
    pub addrs: Vec<std::net::IpAddr>,
}

impl ResolveRule {
    /// Whether `name` (lower-case, no trailing dot) is covered.
    pub fn matches(&self, name: &str) -> bool {
        match self.pattern.strip_prefix("*.") {
            Some(suffix) => {
                name.len() > suffix.len() + 1
                    && name.ends_with(suffix)
                    && name.as_bytes()[name.len() - suffix.len() - 1] == b'.'
            }
            None => name == self.pattern,
        }
    }
}

/// Parses `CERTCTL_ACME_RESOLVE`: comma-separated `pattern=address[|address…]`.
pub fn parse_resolve_rules(text: &str) -> Result<Vec<ResolveRule>, String> {
    let mut rules = Vec::new();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (pattern, addrs) = item
            .split_once('=')
            .ok_or_else(|| format!("`{item}` is not pattern=address (e.g. *.test=127.0.0.1)"))?;
        let pattern = pattern.trim().trim_end_matches('.').to_ascii_lowercase();
        let name = pattern.strip_prefix("*.").unwrap_or(&pattern);
        if !certctl_pki::names::is_dns_name(name) {
            return Err(format!("`{pattern}` is not a DNS name or *.suffix"));
        }
        let addrs = addrs
            .split('|')
            .map(|a| {
                a.trim()
                    .parse::<std::net::IpAddr>()
                    .map_err(|_| format!("`{a}` is not an IP address"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        rules.push(ResolveRule { pattern, addrs });
    }
    Ok(rules)
}

impl AcmeConfig {
    fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let resolve = parse_resolve_rules(&env.string("CERTCTL_ACME_RESOLVE", ""))
            .map_err(|m| ConfigError::new("CERTCTL_ACME_RESOLVE", m))?;
        let dns_resolver = match env.get("CERTCTL_ACME_DNS_RESOLVER") {
            None => None,
            Some(_) => Some(env.addr("CERTCTL_ACME_DNS_RESOLVER", "127.0.0.1:53")?),
        };
        let validation_timeout = env.duration("CERTCTL_ACME_VALIDATION_TIMEOUT", Duration::from_secs(10))?;
        if validation_timeout < Duration::from_secs(1) || validation_timeout > Duration::from_secs(120) {
            return Err(ConfigError::new(
                "CERTCTL_ACME_VALIDATION_TIMEOUT",
                "must be between 1s and 120s",
            ));
        }
        Ok(Self {
            resolve,
            http_port: env.number("CERTCTL_ACME_HTTP_PORT", 80u16)?,
            tls_alpn_port: env.number("CERTCTL_ACME_TLS_ALPN_PORT", 443u16)?,
            dns_resolver,
            validation_timeout,
            rate_per_ip: env.number("CERTCTL_ACME_RATE_PER_IP", 600u32)?,
            rate_per_account: env.number("CERTCTL_ACME_RATE_PER_ACCOUNT", 600u32)?,
        })
    }
}

/// Where the console is looked for when `CERTCTL_WEB_DIR` is unset: relative to the working
/// directory, so a checkout with a built console serves it.
pub const DEFAULT_WEB_DIR: &str = "web/dist";

impl ApiConfig {
    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let dev_mode = env.bool("CERTCTL_DEV_MODE", false)?;
        let keys = ca_keys(env, dev_mode)?;
        // Trimmed as the API trims presented keys, so a secret mounted from a file with a trailing
        // newline still works.
        let bootstrap_admin_key = env.get("CERTCTL_BOOTSTRAP_ADMIN_KEY").map(|k| k.trim().to_owned());
        if let Some(k) = &bootstrap_admin_key
            && k.chars().count() < 32
        {
            return Err(ConfigError::new(
                "CERTCTL_BOOTSTRAP_ADMIN_KEY",
                "must be at least 32 characters",
            ));
        }
        let bootstrap_admin_key = bootstrap_admin_key.map(Secret::new);
        let public_pki_url = certctl_shared::config::public_pki_url(env)?;
        let max_body_bytes = env.number("CERTCTL_MAX_BODY_BYTES", 1024 * 1024usize)?;
        Ok(Self {
            common: CommonConfig::from_env(env, "127.0.0.1:9090")?,
            api_addr: env.addr("CERTCTL_API_ADDR", "127.0.0.1:8080")?,
            amqp: AmqpConfig::from_env(env)?,
            // EST authenticates devices by TLS client certificate, so the API listener asks for one.
            tls: tls_from_env(env)?.map(|tls| TlsFiles {
                request_client_certificate: true,
                ..tls
            }),
            keys,
            public_pki_url,
            notifications: NotificationConfig::from_env(env)?,
            bootstrap_admin_key,
            max_body_bytes,
            request_timeout: env.duration("CERTCTL_REQUEST_TIMEOUT", Duration::from_secs(30))?,
            audit_denial_window: audit_denial_window(env)?,
            web_dir: web_dir(env)?,
            enroll_rate_per_ip: env.number("CERTCTL_ENROLL_RATE_PER_IP", 120u32)?,
            enroll_rate_per_credential: env.number("CERTCTL_ENROLL_RATE_PER_CREDENTIAL", 600u32)?,
            acme: AcmeConfig::from_env(env)?,
            dev_mode,
        })
    }
}

fn audit_denial_window(env: &Env<'_>) -> Result<Duration, ConfigError> {
    let window = env.duration("CERTCTL_AUDIT_DENIAL_WINDOW", Duration::from_secs(60))?;
    if window < Duration::from_secs(1) || window > Duration::from_secs(3600) {
        return Err(ConfigError::new(
            "CERTCTL_AUDIT_DENIAL_WINDOW",
            "must be between 1s and 1h",
        ));
    }
    Ok(window)
}

/// `CERTCTL_WEB_DIR`: unset, `web/dist` if it holds `index.html` (else no console); `off`, no
/// console; any other value, a directory that must hold `index.html`.
fn web_dir(env: &Env<'_>) -> Result<Option<PathBuf>, ConfigError> {
    const VAR: &str = "CERTCTL_WEB_DIR";
    let Some(raw) = env.get(VAR) else {
        let default = Path::new(DEFAULT_WEB_DIR);
        return Ok(default
            .join("index.html")
            .is_file()
            .then(|| std::path::absolute(default).ok())
            .flatten());
    };
    let raw = raw.trim();
    if raw.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let dir = std::path::absolute(raw).map_err(|e| ConfigError::new(VAR, format!("`{raw}`: {e}")))?;
    if !dir.join("index.html").is_file() {
        return Err(ConfigError::new(
            VAR,
            format!(
                "`{raw}` is not a directory holding index.html (build the console with `npm run build` in web/, or set {VAR}=off)"
            ),
        ));
    }
    Ok(Some(dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn api_config_requires_a_key_encryption_key_outside_dev_mode() {
        let vars = env(&[]);
        let err = ApiConfig::from_env(&Env::from_fn(|k| vars.get(k).cloned())).unwrap_err();
        assert_eq!(err.var, "CERTCTL_KEY_ENCRYPTION_KEY");

        let vars = env(&[("CERTCTL_DEV_MODE", "true")]);
        let cfg = ApiConfig::from_env(&Env::from_fn(|k| vars.get(k).cloned())).unwrap();
        assert!(cfg.dev_mode);
        assert_eq!(cfg.api_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(cfg.common.admin_addr.to_string(), "127.0.0.1:9090");
    }

    #[test]
    fn bad_values_name_their_variable() {
        let vars = env(&[("CERTCTL_DEV_MODE", "true"), ("CERTCTL_API_ADDR", "nope")]);
        let err = ApiConfig::from_env(&Env::from_fn(|k| vars.get(k).cloned())).unwrap_err();
        assert_eq!(err.var, "CERTCTL_API_ADDR");
        let vars = env(&[("CERTCTL_DEV_MODE", "true"), ("CERTCTL_BOOTSTRAP_ADMIN_KEY", "short")]);
        let err = ApiConfig::from_env(&Env::from_fn(|k| vars.get(k).cloned())).unwrap_err();
        assert_eq!(err.var, "CERTCTL_BOOTSTRAP_ADMIN_KEY");
        let vars = env(&[("CERTCTL_DEV_MODE", "maybe")]);
        let err = ApiConfig::from_env(&Env::from_fn(|k| vars.get(k).cloned())).unwrap_err();
        assert_eq!(err.var, "CERTCTL_DEV_MODE");
    }

    #[test]
    fn resolve_rules_match_names_and_suffixes() {
        let rules = parse_resolve_rules(" *.test=127.0.0.1 , host.example=::1|127.0.0.2,").unwrap();
        assert_eq!(rules.len(), 2);
        assert!(rules[0].matches("a.test") && rules[0].matches("b.a.test"));
        assert!(!rules[0].matches("test") && !rules[0].matches("atest") && !rules[0].matches("a.test.org"));
        assert!(rules[1].matches("host.example") && !rules[1].matches("x.host.example"));
        assert_eq!(rules[1].addrs.len(), 2);
        assert!(parse_resolve_rules("*.test").is_err());
        assert!(parse_resolve_rules("*.test=localhost").is_err());
        assert!(parse_resolve_rules("bad_name!=127.0.0.1").is_err());
        assert!(parse_resolve_rules("").unwrap().is_empty());
    }

    #[test]
    fn the_web_dir_must_hold_index_html_unless_off() {
        let read = |value: &str| {
            let vars = env(&[("CERTCTL_DEV_MODE", "true"), ("CERTCTL_WEB_DIR", value)]);
            ApiConfig::from_env(&Env::from_fn(|k| vars.get(k).cloned())).map(|c| c.web_dir)
        };
        let dir = std::env::temp_dir().join(format!("certctl-web-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let err = read(dir.to_str().unwrap()).unwrap_err();
        assert_eq!(err.var, "CERTCTL_WEB_DIR");
        assert!(err.message.contains("index.html"), "{}", err.message);
        let err = read(dir.join("missing").to_str().unwrap()).unwrap_err();
        assert_eq!(err.var, "CERTCTL_WEB_DIR");
        std::fs::write(dir.join("index.html"), "<!doctype html>").unwrap();
        assert_eq!(read(dir.to_str().unwrap()).unwrap(), Some(dir.clone()));
        assert_eq!(read("off").unwrap(), None);
        assert_eq!(read("OFF").unwrap(), None);
        // Unset (or empty, which counts as unset) looks for web/dist in the working directory;
        // the crate directory the tests run in has none.
        assert_eq!(read("").unwrap(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

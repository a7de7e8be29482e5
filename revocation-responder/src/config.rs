//! `certctl-revocation-responder` configuration, from `CERTCTL_*` environment variables (the shared
//! ones are read by `certctl_shared::config`).

use std::net::SocketAddr;
use std::time::Duration;

use certctl_shared::config::{CommonConfig, ConfigError, Env, TlsFiles, responder_keys, tls_from_env};
use certctl_shared::crypto::KeyEncryptionKeys;

/// `certctl-revocation-responder` configuration. It has the responder key-encryption key (to
/// open the OCSP signing keys) and deliberately never the CA one.
#[derive(Clone, Debug)]
pub struct ResponderConfig {
    pub common: CommonConfig,
    pub responder_addr: SocketAddr,
    pub tls: Option<TlsFiles>,
    pub responder_keys: KeyEncryptionKeys,
    /// Cap on `Cache-Control: max-age` of CRL and OCSP answers.
    pub max_age: Duration,
    /// nextUpdate - thisUpdate of OCSP responses.
    pub ocsp_validity: Duration,
    /// How often the status cache is refreshed from the database.
    pub refresh_interval: Duration,
    /// After this long without reaching the database the view is stale: no new response is
    /// signed, cached ones are served until their nextUpdate, then `tryLater`.
    pub stale_after: Duration,
    /// Requests handled at once; more are answered 503 at once rather than queued.
    pub concurrency_limit: usize,
    pub request_timeout: Duration,
    /// Largest OCSP request body accepted.
    pub max_request_bytes: usize,
    /// Bound on signed OCSP responses kept in memory (about 1 KB each).
    pub ocsp_cache_entries: usize,
    pub dev_mode: bool,
}

impl ResponderConfig {
    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let dev_mode = env.bool("CERTCTL_DEV_MODE", false)?;
        let responder_keys = responder_keys(env, dev_mode)?.ok_or_else(|| {
            ConfigError::new(
                "CERTCTL_RESPONDER_KEY_ENCRYPTION_KEY",
                "is required to sign OCSP responses (the same value the notifier-worker has; never the CA key-encryption key)",
            )
        })?;
        let ocsp_validity = env.duration("CERTCTL_OCSP_VALIDITY", Duration::from_secs(3600))?;
        if ocsp_validity < Duration::from_secs(60) {
            return Err(ConfigError::new("CERTCTL_OCSP_VALIDITY", "must be at least 1m"));
        }
        let refresh_interval = env.duration("CERTCTL_RESPONDER_REFRESH_INTERVAL", Duration::from_millis(500))?;
        if refresh_interval.is_zero() || refresh_interval > Duration::from_secs(2) {
            return Err(ConfigError::new(
                "CERTCTL_RESPONDER_REFRESH_INTERVAL",
                "must be between 1ms and 2s: a revocation must reach every replica within 2s",
            ));
        }
        let stale_after = env.duration("CERTCTL_RESPONDER_STALE_AFTER", Duration::from_secs(5))?;
        if stale_after < refresh_interval * 2 {
            return Err(ConfigError::new(
                "CERTCTL_RESPONDER_STALE_AFTER",
                "must be at least twice CERTCTL_RESPONDER_REFRESH_INTERVAL",
            ));
        }
        let concurrency_limit = env.number("CERTCTL_RESPONDER_CONCURRENCY_LIMIT", 1024usize)?;
        if concurrency_limit == 0 {
            return Err(ConfigError::new(
                "CERTCTL_RESPONDER_CONCURRENCY_LIMIT",
                "must be at least 1",
            ));
        }
        Ok(Self {
            common: CommonConfig::from_env(env, "127.0.0.1:9092")?,
            responder_addr: env.addr("CERTCTL_RESPONDER_ADDR", "127.0.0.1:8081")?,
            tls: tls_from_env(env)?,
            responder_keys,
            max_age: pki_max_age(env)?,
            ocsp_validity,
            refresh_interval,
            stale_after,
            concurrency_limit,
            request_timeout: env.duration("CERTCTL_RESPONDER_REQUEST_TIMEOUT", Duration::from_secs(5))?,
            max_request_bytes: env.number("CERTCTL_OCSP_MAX_REQUEST_BYTES", 8192usize)?,
            ocsp_cache_entries: env.number("CERTCTL_OCSP_CACHE_ENTRIES", 100_000usize)?,
            dev_mode,
        })
    }
}

/// The longest `Cache-Control: max-age` the responder may give: a shared cache must not hide a
/// revocation for longer than this.
pub const MAX_PKI_MAX_AGE: Duration = Duration::from_secs(300);

fn pki_max_age(env: &Env<'_>) -> Result<Duration, ConfigError> {
    let max_age = env.duration("CERTCTL_PKI_MAX_AGE", MAX_PKI_MAX_AGE)?;
    if max_age > MAX_PKI_MAX_AGE {
        return Err(ConfigError::new(
            "CERTCTL_PKI_MAX_AGE",
            "must be at most 5m: a cache holding a CRL or OCSP answer longer could hide a revocation",
        ));
    }
    Ok(max_age)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn responder_env(pairs: &[(&str, &str)]) -> Result<ResponderConfig, ConfigError> {
        let mut vars = env(&[
            ("CERTCTL_DEV_MODE", "true"),
            (
                "CERTCTL_RESPONDER_KEY_ENCRYPTION_KEY",
                "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
            ),
        ]);
        vars.extend(env(pairs));
        ResponderConfig::from_env(&Env::from_fn(|k| vars.get(k).cloned()))
    }

    #[test]
    fn pki_max_age_is_capped_at_five_minutes() {
        assert_eq!(responder_env(&[]).unwrap().max_age, Duration::from_secs(300));
        assert_eq!(
            responder_env(&[("CERTCTL_PKI_MAX_AGE", "90s")]).unwrap().max_age,
            Duration::from_secs(90)
        );
        for too_long in ["301s", "6m", "1h"] {
            let err = responder_env(&[("CERTCTL_PKI_MAX_AGE", too_long)]).unwrap_err();
            assert_eq!(err.var, "CERTCTL_PKI_MAX_AGE", "{too_long}");
        }
    }
}

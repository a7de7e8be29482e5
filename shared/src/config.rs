//! Configuration from `CERTCTL_*` environment variables.
//!
//! Every setting has a default that runs on one machine. A value that does not parse fails start-up
//! with a message naming the variable; nothing is silently replaced by a default.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::crypto::KeyEncryptionKeys;

/// A configuration error, naming the variable at fault.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

impl ConfigError {
    pub fn new(var: &'static str, message: impl Into<String>) -> Self {
        Self {
            var,
            message: message.into(),
        }
    }
}

/// A variable lookup: the process environment, or a map in tests.
type Lookup<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;

/// Reads variables through a lookup function so tests can feed a map instead of the process
/// environment.
pub struct Env<'a> {
    lookup: Lookup<'a>,
}

impl Env<'static> {
    /// The process environment.
    pub fn process() -> Self {
        Self {
            lookup: Box::new(|k| std::env::var(k).ok()),
        }
    }
}

impl<'a> Env<'a> {
    pub fn from_fn(lookup: impl Fn(&str) -> Option<String> + 'a) -> Self {
        Self {
            lookup: Box::new(lookup),
        }
    }

    /// The value, with empty strings treated as unset.
    pub fn get(&self, var: &str) -> Option<String> {
        (self.lookup)(var).filter(|v| !v.trim().is_empty())
    }

    pub fn string(&self, var: &'static str, default: &str) -> String {
        self.get(var).unwrap_or_else(|| default.to_owned())
    }

    pub fn addr(&self, var: &'static str, default: &str) -> Result<SocketAddr, ConfigError> {
        let raw = self.string(var, default);
        raw.parse()
            .map_err(|_| ConfigError::new(var, format!("`{raw}` is not an address like 127.0.0.1:8080")))
    }

    pub fn bool(&self, var: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(var).as_deref().map(str::to_ascii_lowercase).as_deref() {
            None => Ok(default),
            Some("1" | "true" | "yes" | "on") => Ok(true),
            Some("0" | "false" | "no" | "off") => Ok(false),
            Some(other) => Err(ConfigError::new(
                var,
                format!("`{other}` is not a boolean (true or false)"),
            )),
        }
    }

    pub fn number<T: std::str::FromStr>(&self, var: &'static str, default: T) -> Result<T, ConfigError> {
        match self.get(var) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse()
                .map_err(|_| ConfigError::new(var, format!("`{raw}` is not a valid number"))),
        }
    }

    pub fn duration(&self, var: &'static str, default: Duration) -> Result<Duration, ConfigError> {
        match self.get(var) {
            None => Ok(default),
            Some(raw) => parse_duration(&raw).map_err(|m| ConfigError::new(var, m)),
        }
    }
}

/// Parses durations written like `30s`, `2m`, `1h`, `500ms` or `1h30m`.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let s = raw.trim();
    if s.is_empty() {
        return Err("empty duration".to_owned());
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("`{raw}` is not a duration like 30s, 2m or 1h"));
        }
        let value: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{raw}` is not a duration like 30s, 2m or 1h"))?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "ms" => Duration::from_millis(value),
            "s" => Duration::from_secs(value),
            "m" => Duration::from_secs(value * 60),
            "h" => Duration::from_secs(value * 3600),
            "d" => Duration::from_secs(value * 86_400),
            _ => return Err(format!("`{raw}` has an unknown unit `{unit}` (use ms, s, m, h or d)")),
        };
        total += part;
    }
    Ok(total)
}

/// A secret setting: never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Settings every daemon shares.
#[derive(Clone, Debug)]
pub struct CommonConfig {
    pub database_url: String,
    pub database_max_connections: u32,
    /// How long a request waits for a database connection before it is answered 503.
    pub database_acquire_timeout: Duration,
    pub admin_addr: SocketAddr,
    pub log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/certctl";
pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

impl CommonConfig {
    pub fn from_env(env: &Env<'_>, default_admin: &str) -> Result<Self, ConfigError> {
        let log_format = match env.string("CERTCTL_LOG_FORMAT", "pretty").as_str() {
            "pretty" | "text" => LogFormat::Pretty,
            "json" => LogFormat::Json,
            other => {
                return Err(ConfigError::new(
                    "CERTCTL_LOG_FORMAT",
                    format!("`{other}` is not a log format (pretty or json)"),
                ));
            }
        };
        let database_url = env.string("CERTCTL_DATABASE_URL", DEFAULT_DATABASE_URL);
        if !database_url.starts_with("postgres://") && !database_url.starts_with("postgresql://") {
            return Err(ConfigError::new("CERTCTL_DATABASE_URL", "must be a postgres:// URL"));
        }
        let database_max_connections = env.number("CERTCTL_DATABASE_MAX_CONNECTIONS", 20u32)?;
        if database_max_connections == 0 {
            return Err(ConfigError::new(
                "CERTCTL_DATABASE_MAX_CONNECTIONS",
                "must be at least 1",
            ));
        }
        let database_acquire_timeout = env.duration("CERTCTL_DATABASE_ACQUIRE_TIMEOUT", Duration::from_secs(5))?;
        if database_acquire_timeout < Duration::from_millis(100) || database_acquire_timeout > Duration::from_secs(60) {
            return Err(ConfigError::new(
                "CERTCTL_DATABASE_ACQUIRE_TIMEOUT",
                "must be between 100ms and 60s",
            ));
        }
        Ok(Self {
            database_url,
            database_max_connections,
            database_acquire_timeout,
            admin_addr: env.addr("CERTCTL_ADMIN_ADDR", default_admin)?,
            log_format,
        })
    }
}

/// TLS material for a public listener: both or neither.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn tls_from_env(env: &Env<'_>) -> Result<Option<TlsFiles>, ConfigError> {
    match (env.get("CERTCTL_TLS_CERT_FILE"), env.get("CERTCTL_TLS_KEY_FILE")) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => Ok(Some(TlsFiles {
            cert: cert.into(),
            key: key.into(),
        })),
        (Some(_), None) => Err(ConfigError::new(
            "CERTCTL_TLS_KEY_FILE",
            "must be set with CERTCTL_TLS_CERT_FILE",
        )),
        (None, Some(_)) => Err(ConfigError::new(
            "CERTCTL_TLS_CERT_FILE",
            "must be set with CERTCTL_TLS_KEY_FILE",
        )),
    }
}

/// Notification delivery settings, read by both the API server (to show `max_attempts`) and the
/// worker (to deliver).
#[derive(Clone, Debug)]
pub struct NotificationConfig {
    pub retry: crate::retry::RetryPolicy,
    /// The sweep runs this often, and also wakes at the earliest `next_retry_at`.
    pub retry_interval: Duration,
    /// How often the relay looks for rows the broker may have lost.
    pub relay_interval: Duration,
    /// How long a row may stay `pending` before the relay republishes it.
    pub relay_grace: Duration,
    /// How long a worker holds a row while attempting it; longer than any delivery can take.
    pub lease: Duration,
    /// Timeout of one delivery (connect + send + response).
    pub delivery_timeout: Duration,
    pub expiry_scan_interval: Duration,
    pub expiry_thresholds_days: Vec<i32>,
    /// Lets every channel (HTTP and SMTP) reach private, loopback and other non-public addresses.
    pub outbound_allow_private: bool,
    pub pagerduty_url: String,
    pub opsgenie_url: String,
    /// Deliveries in flight per worker.
    pub concurrency: usize,
    /// Messages the broker may hand a worker ahead of acks.
    pub prefetch: u16,
}

impl NotificationConfig {
    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let max_attempts = env.number("CERTCTL_NOTIFICATION_MAX_ATTEMPTS", 5u32)?;
        if max_attempts == 0 {
            return Err(ConfigError::new(
                "CERTCTL_NOTIFICATION_MAX_ATTEMPTS",
                "must be at least 1",
            ));
        }
        let retry = crate::retry::RetryPolicy {
            max_attempts,
            base: env.duration("CERTCTL_NOTIFICATION_BACKOFF_BASE", Duration::from_secs(60))?,
            cap: env.duration("CERTCTL_NOTIFICATION_BACKOFF_CAP", Duration::from_secs(3600))?,
        };
        if retry.base.is_zero() || retry.cap < retry.base {
            return Err(ConfigError::new(
                "CERTCTL_NOTIFICATION_BACKOFF_CAP",
                "the backoff base must be positive and the cap at least the base",
            ));
        }
        let thresholds_raw = env.string("CERTCTL_EXPIRY_WARNING_DAYS", "30,14,7,1,0");
        let mut expiry_thresholds_days = thresholds_raw
            .split(',')
            .map(|t| t.trim().parse::<i32>().ok().filter(|d| (0..=3650).contains(d)))
            .collect::<Option<Vec<_>>>()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                ConfigError::new(
                    "CERTCTL_EXPIRY_WARNING_DAYS",
                    format!("`{thresholds_raw}` is not a list of days like 30,14,7,1,0"),
                )
            })?;
        expiry_thresholds_days.sort_unstable();
        expiry_thresholds_days.dedup();
        let delivery_timeout = env.duration("CERTCTL_NOTIFICATION_DELIVERY_TIMEOUT", Duration::from_secs(10))?;
        let lease = env.duration("CERTCTL_NOTIFICATION_LEASE", Duration::from_secs(60))?;
        if lease < delivery_timeout * 2 {
            return Err(ConfigError::new(
                "CERTCTL_NOTIFICATION_LEASE",
                "must be at least twice CERTCTL_NOTIFICATION_DELIVERY_TIMEOUT, so a live worker never loses its row mid-attempt",
            ));
        }
        let concurrency = env.number("CERTCTL_NOTIFICATION_CONCURRENCY", 16usize)?;
        let prefetch = env.number("CERTCTL_NOTIFICATION_PREFETCH", 32u16)?;
        if concurrency == 0 || prefetch == 0 {
            return Err(ConfigError::new(
                "CERTCTL_NOTIFICATION_CONCURRENCY",
                "concurrency and prefetch must be at least 1",
            ));
        }
        Ok(Self {
            retry,
            retry_interval: env.duration("CERTCTL_NOTIFICATION_RETRY_INTERVAL", Duration::from_secs(120))?,
            relay_interval: env.duration("CERTCTL_NOTIFICATION_RELAY_INTERVAL", Duration::from_secs(10))?,
            relay_grace: env.duration("CERTCTL_NOTIFICATION_RELAY_GRACE", Duration::from_secs(30))?,
            lease,
            delivery_timeout,
            expiry_scan_interval: env.duration("CERTCTL_EXPIRY_SCAN_INTERVAL", Duration::from_secs(3600))?,
            expiry_thresholds_days,
            outbound_allow_private: outbound_allow_private(env)?,
            pagerduty_url: env
                .string("CERTCTL_PAGERDUTY_URL", "https://events.pagerduty.com")
                .trim_end_matches('/')
                .to_owned(),
            opsgenie_url: env
                .string("CERTCTL_OPSGENIE_URL", "https://api.opsgenie.com")
                .trim_end_matches('/')
                .to_owned(),
            concurrency,
            prefetch,
        })
    }
}

/// `certctl-api-server` configuration.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    pub common: CommonConfig,
    pub api_addr: SocketAddr,
    pub amqp_url: String,
    /// Prefix of exchange and queue names (tests use their own).
    pub amqp_prefix: String,
    /// Queue expiry for ephemeral prefixes (`CERTCTL_AMQP_QUEUE_EXPIRES`); unset in production.
    pub amqp_queue_expires: Option<Duration>,
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
    pub dev_mode: bool,
}

impl ApiConfig {
    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let dev_mode = env.bool("CERTCTL_DEV_MODE", false)?;
        let keys = KeyEncryptionKeys::from_env(env, dev_mode)?;
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
        let bootstrap_admin_key = bootstrap_admin_key.map(Secret);
        let public_pki_url = env
            .string("CERTCTL_PUBLIC_PKI_URL", "http://127.0.0.1:8081")
            .trim_end_matches('/')
            .to_owned();
        if !(public_pki_url.starts_with("http://") || public_pki_url.starts_with("https://"))
            || !public_pki_url.is_ascii()
        {
            return Err(ConfigError::new(
                "CERTCTL_PUBLIC_PKI_URL",
                "must be an ASCII http:// or https:// URL",
            ));
        }
        let max_body_bytes = env.number("CERTCTL_MAX_BODY_BYTES", 1024 * 1024usize)?;
        Ok(Self {
            common: CommonConfig::from_env(env, "127.0.0.1:9090")?,
            api_addr: env.addr("CERTCTL_API_ADDR", "127.0.0.1:8080")?,
            amqp_url: env.string("CERTCTL_AMQP_URL", DEFAULT_AMQP_URL),
            amqp_prefix: amqp_prefix(env)?,
            amqp_queue_expires: queue_expires(env)?,
            tls: tls_from_env(env)?,
            keys,
            public_pki_url,
            notifications: NotificationConfig::from_env(env)?,
            bootstrap_admin_key,
            max_body_bytes,
            request_timeout: env.duration("CERTCTL_REQUEST_TIMEOUT", Duration::from_secs(30))?,
            audit_denial_window: audit_denial_window(env)?,
            dev_mode,
        })
    }
}

/// `certctl-notifier-worker` configuration.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    pub common: CommonConfig,
    pub amqp_url: String,
    pub amqp_prefix: String,
    pub amqp_queue_expires: Option<Duration>,
    pub keys: KeyEncryptionKeys,
    pub dev_mode: bool,
    pub notifications: NotificationConfig,
    pub revocation: RevocationPublishing,
    /// Names this worker in leases and attempt records.
    pub worker_id: String,
}

/// CRL publishing and OCSP signer management (the worker side of the revocation responder).
#[derive(Clone, Debug)]
pub struct RevocationPublishing {
    /// Seals the OCSP responder keys. `None` turns OCSP signing off: no signers are made.
    pub responder_keys: Option<KeyEncryptionKeys>,
    /// nextUpdate - thisUpdate of every CRL.
    pub crl_validity: Duration,
    /// How often the publisher looks for issuers whose CRL is out of date; a revocation reaches a
    /// new CRL within about this long.
    pub check_interval: Duration,
    /// Validity of a delegated OCSP responder certificate; it is replaced at half its life.
    pub signer_validity: Duration,
    /// How many CRLs are kept per issuer (the newest is served).
    pub crls_kept: u32,
}

impl RevocationPublishing {
    pub fn from_env(env: &Env<'_>, dev_mode: bool, ca_keys: &KeyEncryptionKeys) -> Result<Self, ConfigError> {
        let responder_keys = KeyEncryptionKeys::responder_from_env(env, dev_mode)?;
        if let Some(keys) = &responder_keys
            && keys.shares_a_key_with(ca_keys)
        {
            return Err(ConfigError::new(
                "CERTCTL_RESPONDER_KEY_ENCRYPTION_KEY",
                "must differ from every CA key-encryption key: the responder must never be able to open a CA key",
            ));
        }
        let crl_validity = env.duration("CERTCTL_CRL_VALIDITY", Duration::from_secs(24 * 3600))?;
        if crl_validity < Duration::from_secs(600) {
            return Err(ConfigError::new("CERTCTL_CRL_VALIDITY", "must be at least 10m"));
        }
        let signer_validity = env.duration("CERTCTL_OCSP_SIGNER_VALIDITY", Duration::from_secs(7 * 24 * 3600))?;
        if signer_validity < Duration::from_secs(3600) {
            return Err(ConfigError::new("CERTCTL_OCSP_SIGNER_VALIDITY", "must be at least 1h"));
        }
        let crls_kept = env.number("CERTCTL_CRLS_KEPT", 10u32)?;
        if crls_kept == 0 {
            return Err(ConfigError::new("CERTCTL_CRLS_KEPT", "must be at least 1"));
        }
        Ok(Self {
            responder_keys,
            crl_validity,
            check_interval: env.duration("CERTCTL_CRL_CHECK_INTERVAL", Duration::from_secs(1))?,
            signer_validity,
            crls_kept,
        })
    }
}

impl WorkerConfig {
    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let dev_mode = env.bool("CERTCTL_DEV_MODE", false)?;
        let keys = KeyEncryptionKeys::from_env(env, dev_mode)?;
        Ok(Self {
            common: CommonConfig::from_env(env, "127.0.0.1:9091")?,
            amqp_url: env.string("CERTCTL_AMQP_URL", DEFAULT_AMQP_URL),
            amqp_prefix: amqp_prefix(env)?,
            amqp_queue_expires: queue_expires(env)?,
            keys: keys.clone(),
            dev_mode,
            notifications: NotificationConfig::from_env(env)?,
            revocation: RevocationPublishing::from_env(env, dev_mode, &keys)?,
            worker_id: env.get("CERTCTL_WORKER_ID").unwrap_or_else(default_worker_id),
        })
    }
}

/// `CERTCTL_OUTBOUND_ALLOW_PRIVATE`, or its former name `CERTCTL_WEBHOOK_ALLOW_PRIVATE` (which
/// always covered every channel, not only webhooks). Both set to different values is an error.
fn outbound_allow_private(env: &Env<'_>) -> Result<bool, ConfigError> {
    const NEW: &str = "CERTCTL_OUTBOUND_ALLOW_PRIVATE";
    const OLD: &str = "CERTCTL_WEBHOOK_ALLOW_PRIVATE";
    match (env.get(NEW).is_some(), env.get(OLD).is_some()) {
        (true, true) if env.bool(NEW, false)? != env.bool(OLD, false)? => Err(ConfigError::new(
            NEW,
            format!("disagrees with {OLD}, its former name; set only {NEW}"),
        )),
        (false, true) => env.bool(OLD, false),
        _ => env.bool(NEW, false),
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

fn amqp_prefix(env: &Env<'_>) -> Result<String, ConfigError> {
    let prefix = env.string("CERTCTL_AMQP_PREFIX", "certctl");
    if prefix.is_empty()
        || prefix.len() > 100
        || !prefix.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(ConfigError::new(
            "CERTCTL_AMQP_PREFIX",
            "must be 1-100 characters of letters, digits, '-', '_' and '.'",
        ));
    }
    Ok(prefix)
}

fn queue_expires(env: &Env<'_>) -> Result<Option<Duration>, ConfigError> {
    match env.get("CERTCTL_AMQP_QUEUE_EXPIRES") {
        None => Ok(None),
        Some(raw) => parse_duration(&raw)
            .map(Some)
            .map_err(|m| ConfigError::new("CERTCTL_AMQP_QUEUE_EXPIRES", m)),
    }
}

/// `hostname-pid`, unique enough to tell workers apart in leases and attempts.
fn default_worker_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    let host = if host.is_empty() { "worker".to_owned() } else { host };
    format!("{host}-{}", std::process::id())
}

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
        let responder_keys = KeyEncryptionKeys::responder_from_env(env, dev_mode)?.ok_or_else(|| {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn durations_parse_like_the_documented_examples() {
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("2 minutes").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("").is_err());
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
    fn notification_settings_have_the_documented_defaults_and_refuse_nonsense() {
        let vars = env(&[]);
        let n = NotificationConfig::from_env(&Env::from_fn(|k| vars.get(k).cloned())).unwrap();
        assert_eq!(n.retry, crate::retry::RetryPolicy::default());
        assert_eq!(n.retry_interval, Duration::from_secs(120));
        assert_eq!(n.expiry_thresholds_days, vec![0, 1, 7, 14, 30]);
        for (var, value) in [
            ("CERTCTL_NOTIFICATION_MAX_ATTEMPTS", "0"),
            ("CERTCTL_NOTIFICATION_RETRY_INTERVAL", "2 minutes"),
            ("CERTCTL_EXPIRY_WARNING_DAYS", "30,x"),
            ("CERTCTL_NOTIFICATION_LEASE", "5s"),
            ("CERTCTL_NOTIFICATION_BACKOFF_CAP", "1s"),
        ] {
            let vars = env(&[(var, value)]);
            let err = NotificationConfig::from_env(&Env::from_fn(|k| vars.get(k).cloned())).unwrap_err();
            assert_eq!(err.var, var, "{value}");
        }
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

    #[test]
    fn the_private_address_switch_has_a_name_for_every_channel_and_keeps_the_old_one() {
        let read = |pairs: &[(&str, &str)]| {
            let vars = env(pairs);
            NotificationConfig::from_env(&Env::from_fn(|k| vars.get(k).cloned())).map(|n| n.outbound_allow_private)
        };
        assert!(!read(&[]).unwrap());
        assert!(read(&[("CERTCTL_OUTBOUND_ALLOW_PRIVATE", "true")]).unwrap());
        assert!(read(&[("CERTCTL_WEBHOOK_ALLOW_PRIVATE", "true")]).unwrap());
        assert!(
            read(&[
                ("CERTCTL_OUTBOUND_ALLOW_PRIVATE", "true"),
                ("CERTCTL_WEBHOOK_ALLOW_PRIVATE", "true")
            ])
            .unwrap()
        );
        let err = read(&[
            ("CERTCTL_OUTBOUND_ALLOW_PRIVATE", "false"),
            ("CERTCTL_WEBHOOK_ALLOW_PRIVATE", "true"),
        ])
        .unwrap_err();
        assert_eq!(err.var, "CERTCTL_OUTBOUND_ALLOW_PRIVATE");
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
}

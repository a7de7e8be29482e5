//! Configuration from `CERTCTL_*` environment variables: the reader ([`Env`]) and the settings more
//! than one daemon reads (database, admin listener, logs, broker, TLS files, key-encryption keys,
//! notifications). Each daemon assembles its own configuration from these in its `config.rs`.
//!
//! Every setting has a default that runs on one machine. A value that does not parse fails start-up
//! with a message naming the variable; nothing is silently replaced by a default.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::crypto::{Kek, KeyEncryptionKeys};

/// A configuration error, naming the variable at fault.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {var}: {message}")]
pub struct ConfigError {
    pub var: Cow<'static, str>,
    pub message: String,
}

impl ConfigError {
    pub fn new(var: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self {
            var: var.into(),
            message: message.into(),
        }
    }
}

/// The secret settings. Each may instead be given as a file holding the value, named by the same
/// variable with `_FILE` appended (`CERTCTL_DATABASE_URL_FILE=/var/run/secrets/certctl/...`), as
/// Kubernetes secret volumes and Docker secrets provide them. Setting both is an error.
pub const SECRET_VARIABLES: &[&str] = &[
    "CERTCTL_DATABASE_URL",
    "CERTCTL_AMQP_URL",
    "CERTCTL_KEY_ENCRYPTION_KEY",
    "CERTCTL_PREVIOUS_KEY_ENCRYPTION_KEYS",
    "CERTCTL_RESPONDER_KEY_ENCRYPTION_KEY",
    "CERTCTL_PREVIOUS_RESPONDER_KEY_ENCRYPTION_KEYS",
    "CERTCTL_BOOTSTRAP_ADMIN_KEY",
    "CERTCTL_RESPONDER_DB_PASSWORD",
];

/// Resolves the `_FILE` forms of [`SECRET_VARIABLES`] through `lookup` and `read`: the file's
/// content, without its trailing line break, becomes the variable's value. Returns the values
/// read from files; variables given directly are left to `lookup`.
pub fn secrets_from_files(
    lookup: impl Fn(&str) -> Option<String>,
    read: impl Fn(&str) -> std::io::Result<String>,
) -> Result<HashMap<&'static str, String>, ConfigError> {
    let mut resolved = HashMap::new();
    for &var in SECRET_VARIABLES {
        let file_var = format!("{var}_FILE");
        let Some(path) = lookup(&file_var).filter(|p| !p.trim().is_empty()) else {
            continue;
        };
        if lookup(var).is_some_and(|v| !v.trim().is_empty()) {
            return Err(ConfigError::new(file_var, format!("{var} is set too; set one of them")));
        }
        let content =
            read(&path).map_err(|e| ConfigError::new(file_var.clone(), format!("cannot read `{path}`: {e}")))?;
        let value = content.strip_suffix('\n').unwrap_or(&content);
        let value = value.strip_suffix('\r').unwrap_or(value);
        if value.trim().is_empty() {
            return Err(ConfigError::new(file_var, format!("`{path}` is empty")));
        }
        resolved.insert(var, value.to_owned());
    }
    Ok(resolved)
}

/// A variable lookup: the process environment, or a map in tests.
type Lookup<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;

/// Reads variables through a lookup function so tests can feed a map instead of the process
/// environment.
pub struct Env<'a> {
    lookup: Lookup<'a>,
}

impl Env<'static> {
    /// The process environment, with the secrets given as files read in (see
    /// [`SECRET_VARIABLES`]). Files are read once, here: a rotated secret takes effect at the
    /// next start.
    pub fn process() -> Result<Self, ConfigError> {
        let from_files = secrets_from_files(|k| std::env::var(k).ok(), |p| std::fs::read_to_string(p))?;
        Ok(Self {
            lookup: Box::new(move |k| from_files.get(k).cloned().or_else(|| std::env::var(k).ok())),
        })
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
    pub fn new(value: String) -> Self {
        Self(value)
    }

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
    /// Ask clients for a certificate (accepting connections without one): the api-server does,
    /// for EST; the responder does not.
    pub request_client_certificate: bool,
}

pub fn tls_from_env(env: &Env<'_>) -> Result<Option<TlsFiles>, ConfigError> {
    match (env.get("CERTCTL_TLS_CERT_FILE"), env.get("CERTCTL_TLS_KEY_FILE")) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => Ok(Some(TlsFiles {
            cert: cert.into(),
            key: key.into(),
            request_client_certificate: false,
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

/// `CERTCTL_NOTIFICATION_SENT_RETENTION`: a duration or `off`. An expiry warning's row is what
/// stops the scan from queueing it again, and the scan looks at certificates from the widest
/// threshold before expiry to 7 days after it; a retention shorter than that window (plus a day)
/// could send a warning twice, so it is refused. Unset, it is 90 days, or that floor if longer
/// (a wide warning threshold never stops a start for want of this setting).
fn sent_retention(env: &Env<'_>, thresholds_days: &[i32]) -> Result<Option<Duration>, ConfigError> {
    const VAR: &str = "CERTCTL_NOTIFICATION_SENT_RETENTION";
    let widest = thresholds_days.iter().copied().max().unwrap_or(0).max(0) as u64;
    let floor_days = widest + 8;
    let floor = Duration::from_secs(floor_days * 86_400);
    if env.get(VAR).is_some_and(|v| v.trim() == "off") {
        return Ok(None);
    }
    let retention = env.duration(VAR, Duration::from_secs(90 * 86_400).max(floor))?;
    if retention > Duration::from_secs(36_500 * 86_400) {
        return Err(ConfigError::new(
            VAR,
            "must be at most 36500d; use `off` to keep sent notifications for ever",
        ));
    }
    if retention < floor {
        return Err(ConfigError::new(
            VAR,
            format!(
                "must be at least {floor_days}d (the widest expiry warning, {widest} days, plus the 7 days after expiry \
                 the scan still looks, plus a day), or `off`"
            ),
        ));
    }
    Ok(Some(retention))
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
    /// How long `sent` notifications (and their attempts) are kept, by creation time; `None`
    /// keeps them for ever. `dead` ones are kept until requeued or purged through the API.
    pub sent_retention: Option<Duration>,
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
        let sent_retention = sent_retention(env, &expiry_thresholds_days)?;
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
            sent_retention,
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

pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// The broker, for the daemons that use it (the api-server publishes, the worker consumes).
#[derive(Clone, Debug)]
pub struct AmqpConfig {
    pub url: String,
    /// Prefix of exchange and queue names (tests use their own).
    pub prefix: String,
    /// Queue expiry for ephemeral prefixes (`CERTCTL_AMQP_QUEUE_EXPIRES`); unset in production.
    pub queue_expires: Option<Duration>,
}

impl AmqpConfig {
    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            url: env.string("CERTCTL_AMQP_URL", DEFAULT_AMQP_URL),
            prefix: amqp_prefix(env)?,
            queue_expires: queue_expires(env)?,
        })
    }
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

/// The names of a pair of key-encryption key settings.
#[derive(Clone, Copy)]
struct KeyVars {
    current: &'static str,
    previous: &'static str,
    /// Seeds the fixed, publicly known key used in dev mode when `current` is unset.
    dev_seed: &'static [u8],
}

const CA_KEYS: KeyVars = KeyVars {
    current: "CERTCTL_KEY_ENCRYPTION_KEY",
    previous: "CERTCTL_PREVIOUS_KEY_ENCRYPTION_KEYS",
    dev_seed: b"certctl insecure development key-encryption key",
};

const RESPONDER_KEYS: KeyVars = KeyVars {
    current: "CERTCTL_RESPONDER_KEY_ENCRYPTION_KEY",
    previous: "CERTCTL_PREVIOUS_RESPONDER_KEY_ENCRYPTION_KEYS",
    dev_seed: b"certctl insecure development responder key-encryption key",
};

/// Reads `CERTCTL_KEY_ENCRYPTION_KEY` (32 bytes, base64) and
/// `CERTCTL_PREVIOUS_KEY_ENCRYPTION_KEYS` (comma-separated): the keys that seal CA keys and channel
/// secrets. Without a key, only dev mode starts, with a fixed, publicly known key that is reported
/// as insecure.
/// `CERTCTL_PUBLIC_PKI_URL`: where relying parties fetch CRLs, OCSP and CA certificates, written
/// into every certificate. The API server and the worker (which signs automatic renewals) must
/// agree on it.
pub fn public_pki_url(env: &Env<'_>) -> Result<String, ConfigError> {
    let url = env
        .string("CERTCTL_PUBLIC_PKI_URL", "http://127.0.0.1:8081")
        .trim_end_matches('/')
        .to_owned();
    if !(url.starts_with("http://") || url.starts_with("https://")) || !url.is_ascii() {
        return Err(ConfigError::new(
            "CERTCTL_PUBLIC_PKI_URL",
            "must be an ASCII http:// or https:// URL",
        ));
    }
    Ok(url)
}

pub fn ca_keys(env: &Env<'_>, dev_mode: bool) -> Result<KeyEncryptionKeys, ConfigError> {
    keys(env, CA_KEYS, dev_mode)?.ok_or_else(|| {
        ConfigError::new(
            CA_KEYS.current,
            "is required (32 random bytes, base64: `openssl rand -base64 32`); set CERTCTL_DEV_MODE=true only for local development",
        )
    })
}

/// Reads `CERTCTL_RESPONDER_KEY_ENCRYPTION_KEY` and `CERTCTL_PREVIOUS_RESPONDER_KEY_ENCRYPTION_KEYS`:
/// the key that seals the OCSP responder keys, which the revocation responder holds instead of
/// the CA key-encryption key. `None` when unset outside dev mode.
pub fn responder_keys(env: &Env<'_>, dev_mode: bool) -> Result<Option<KeyEncryptionKeys>, ConfigError> {
    keys(env, RESPONDER_KEYS, dev_mode)
}

fn keys(env: &Env<'_>, vars: KeyVars, dev_mode: bool) -> Result<Option<KeyEncryptionKeys>, ConfigError> {
    let previous = env
        .get(vars.previous)
        .map(|raw| {
            raw.split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|k| Kek::from_base64(k).map_err(|m| ConfigError::new(vars.previous, m)))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?
        .unwrap_or_default();
    match env.get(vars.current) {
        Some(raw) => Ok(Some(KeyEncryptionKeys::new(
            Kek::from_base64(&raw).map_err(|m| ConfigError::new(vars.current, m))?,
            previous,
        ))),
        None if dev_mode => Ok(Some(KeyEncryptionKeys::insecure_dev(vars.dev_seed, previous))),
        None => Ok(None),
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
    fn secrets_are_read_from_files_without_their_line_break() {
        let vars = env(&[
            ("CERTCTL_DATABASE_URL_FILE", "/s/db"),
            ("CERTCTL_AMQP_URL", "amqp://direct"),
            ("CERTCTL_KEY_ENCRYPTION_KEY_FILE", "/s/kek"),
            ("CERTCTL_LOG_FORMAT_FILE", "/s/not-a-secret"),
        ]);
        let files = env(&[("/s/db", "postgres://u:p@db/certctl\n"), ("/s/kek", "a2V5\r\n")]);
        let read = |p: &str| {
            files
                .get(p)
                .cloned()
                .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
        };
        let resolved = secrets_from_files(|k| vars.get(k).cloned(), read).unwrap();
        assert_eq!(resolved["CERTCTL_DATABASE_URL"], "postgres://u:p@db/certctl");
        assert_eq!(resolved["CERTCTL_KEY_ENCRYPTION_KEY"], "a2V5");
        // Only secrets have a file form; the direct value is left to the environment.
        assert_eq!(resolved.len(), 2, "{resolved:?}");
    }

    #[test]
    fn a_secret_set_twice_or_unreadable_fails_naming_the_file_variable() {
        let read = |_: &str| Ok("x".to_owned());
        let both = env(&[("CERTCTL_AMQP_URL", "amqp://a"), ("CERTCTL_AMQP_URL_FILE", "/s/amqp")]);
        let err = secrets_from_files(|k| both.get(k).cloned(), read).unwrap_err();
        assert_eq!(err.var, "CERTCTL_AMQP_URL_FILE");
        let missing = env(&[("CERTCTL_BOOTSTRAP_ADMIN_KEY_FILE", "/nowhere")]);
        let err = secrets_from_files(
            |k| missing.get(k).cloned(),
            |_| Err(std::io::Error::from(std::io::ErrorKind::NotFound)),
        )
        .unwrap_err();
        assert_eq!(err.var, "CERTCTL_BOOTSTRAP_ADMIN_KEY_FILE");
        assert!(err.message.contains("/nowhere"), "{}", err.message);
        let empty = env(&[("CERTCTL_DATABASE_URL_FILE", "/s/empty")]);
        let err = secrets_from_files(|k| empty.get(k).cloned(), |_| Ok("\n".to_owned())).unwrap_err();
        assert!(err.message.contains("empty"), "{}", err.message);
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
    fn notification_settings_have_the_documented_defaults_and_refuse_nonsense() {
        let vars = env(&[]);
        let n = NotificationConfig::from_env(&Env::from_fn(|k| vars.get(k).cloned())).unwrap();
        assert_eq!(n.retry, crate::retry::RetryPolicy::default());
        assert_eq!(n.retry_interval, Duration::from_secs(120));
        assert_eq!(n.expiry_thresholds_days, vec![0, 1, 7, 14, 30]);
        assert_eq!(n.sent_retention, Some(Duration::from_secs(90 * 86_400)));
        let read = |pairs: &[(&str, &str)]| {
            let vars = env(pairs);
            NotificationConfig::from_env(&Env::from_fn(|k| vars.get(k).cloned())).map(|n| n.sent_retention)
        };
        assert_eq!(read(&[("CERTCTL_NOTIFICATION_SENT_RETENTION", "off")]).unwrap(), None);
        // The floor follows the widest warning: 30 + 8 days by default, 60 + 8 with a 60-day one.
        assert!(read(&[("CERTCTL_NOTIFICATION_SENT_RETENTION", "38d")]).is_ok());
        assert!(read(&[("CERTCTL_NOTIFICATION_SENT_RETENTION", "37d")]).is_err());
        assert!(
            read(&[
                ("CERTCTL_NOTIFICATION_SENT_RETENTION", "60d"),
                ("CERTCTL_EXPIRY_WARNING_DAYS", "60,7")
            ])
            .is_err()
        );
        // Unset, the default rises to the floor rather than refusing to start.
        assert_eq!(
            read(&[("CERTCTL_EXPIRY_WARNING_DAYS", "365,30")]).unwrap(),
            Some(Duration::from_secs(373 * 86_400))
        );
        for (var, value) in [
            ("CERTCTL_NOTIFICATION_MAX_ATTEMPTS", "0"),
            ("CERTCTL_NOTIFICATION_RETRY_INTERVAL", "2 minutes"),
            ("CERTCTL_EXPIRY_WARNING_DAYS", "30,x"),
            ("CERTCTL_NOTIFICATION_LEASE", "5s"),
            ("CERTCTL_NOTIFICATION_BACKOFF_CAP", "1s"),
            ("CERTCTL_NOTIFICATION_SENT_RETENTION", "1d"),
            ("CERTCTL_NOTIFICATION_SENT_RETENTION", "never"),
        ] {
            let vars = env(&[(var, value)]);
            let err = NotificationConfig::from_env(&Env::from_fn(|k| vars.get(k).cloned())).unwrap_err();
            assert_eq!(err.var, var, "{value}");
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
}

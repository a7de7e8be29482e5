//! `certctl-notifier-worker` configuration, from `CERTCTL_*` environment variables (the shared
//! ones are read by `certctl_shared::config`).

use std::time::Duration;

use certctl_shared::config::{AmqpConfig, CommonConfig, ConfigError, Env, NotificationConfig, ca_keys, responder_keys};
use certctl_shared::crypto::KeyEncryptionKeys;

/// `certctl-notifier-worker` configuration.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    pub common: CommonConfig,
    pub amqp: AmqpConfig,
    pub keys: KeyEncryptionKeys,
    pub dev_mode: bool,
    pub notifications: NotificationConfig,
    pub revocation: RevocationPublishing,
    /// Names this worker in leases and attempt records.
    pub worker_id: String,
    /// `CERTCTL_PUBLIC_PKI_URL`, written into the certificates automatic renewals issue.
    pub public_pki_url: String,
    /// `CERTCTL_RENEWAL_INTERVAL`: how often the renewal loop looks for certificates entering
    /// their window, expired ones and renewal jobs due (default 60 s).
    pub renewal_interval: Duration,
    /// `CERTCTL_DISCOVERY_INTERVAL`: how often the discovery loop looks for scan targets that are
    /// due (default 10 s; each target has its own scan interval).
    pub discovery_interval: Duration,
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
        let responder_keys = responder_keys(env, dev_mode)?;
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
        let keys = ca_keys(env, dev_mode)?;
        Ok(Self {
            common: CommonConfig::from_env(env, "127.0.0.1:9091")?,
            amqp: AmqpConfig::from_env(env)?,
            keys: keys.clone(),
            dev_mode,
            notifications: NotificationConfig::from_env(env)?,
            revocation: RevocationPublishing::from_env(env, dev_mode, &keys)?,
            worker_id: env.get("CERTCTL_WORKER_ID").unwrap_or_else(default_worker_id),
            public_pki_url: certctl_shared::config::public_pki_url(env)?,
            renewal_interval: env.duration("CERTCTL_RENEWAL_INTERVAL", Duration::from_secs(60))?,
            discovery_interval: env.duration("CERTCTL_DISCOVERY_INTERVAL", Duration::from_secs(10))?,
        })
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

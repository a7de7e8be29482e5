//! Notification channel settings per kind, and the split between what is stored in the clear and
//! what is sealed under the key-encryption key.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::model::ChannelKind;

/// Webhook: a JSON POST signed per Standard Webhooks.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    /// `whsec_` followed by the base64 of the signing key.
    pub secret: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Implicit,
    /// No TLS at all: for a relay on the same host only.
    None,
}

/// Email over SMTP.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    pub smtp_host: String,
    pub smtp_port: Option<u16>,
    #[serde(default)]
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<String>,
    pub from: String,
    pub to: Vec<String>,
}

/// Slack or Microsoft Teams incoming webhook.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatConfig {
    pub webhook_url: String,
}

/// PagerDuty Events API v2.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDutyConfig {
    pub routing_key: String,
    /// `critical`, `error`, `warning` or `info`; default `warning`.
    pub severity: Option<String>,
    /// Overrides `CERTCTL_PAGERDUTY_URL`.
    pub api_url: Option<String>,
}

/// OpsGenie Alert API.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpsGenieConfig {
    pub api_key: String,
    /// `P1` to `P5`; default `P3`.
    pub priority: Option<String>,
    /// Overrides `CERTCTL_OPSGENIE_URL` (for example the EU instance).
    pub api_url: Option<String>,
}

#[derive(Clone, Debug)]
pub enum ChannelConfig {
    Webhook(WebhookConfig),
    Email(EmailConfig),
    Slack(ChatConfig),
    Teams(ChatConfig),
    PagerDuty(PagerDutyConfig),
    OpsGenie(OpsGenieConfig),
}

/// The fields of each kind that are secrets: sealed at rest, never returned.
pub fn secret_fields(kind: ChannelKind) -> &'static [&'static str] {
    match kind {
        ChannelKind::Webhook => &["secret", "url"],
        ChannelKind::Email => &["password"],
        ChannelKind::Slack | ChannelKind::Teams => &["webhook_url"],
        ChannelKind::Pagerduty => &["routing_key"],
        ChannelKind::Opsgenie => &["api_key"],
    }
}

/// The secret fields that are URLs: sealed like any secret, but shown as their scheme and host
/// (`https://hooks.example.com/…`), so people can tell channels apart. A receiver URL's path,
/// query and user information routinely carry tokens (Slack and Teams URLs are credentials).
fn url_secrets(kind: ChannelKind) -> &'static [&'static str] {
    match kind {
        ChannelKind::Webhook => &["url"],
        ChannelKind::Slack | ChannelKind::Teams => &["webhook_url"],
        _ => &[],
    }
}

/// `scheme://host[:port]/…`: what may be shown of a secret URL.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(u) => match (u.host_str(), u.port()) {
            (Some(host), Some(port)) => format!("{}://{host}:{port}/…", u.scheme()),
            (Some(host), None) => format!("{}://{host}/…", u.scheme()),
            (None, _) => "…".to_owned(),
        },
        Err(_) => "…".to_owned(),
    }
}

fn http_url(field: &str, raw: &str) -> Result<(), String> {
    if raw.ends_with("/…") {
        return Err(format!(
            "{field} is the redacted form the API shows; to change it, send the whole URL"
        ));
    }
    let parsed = url::Url::parse(raw).ok().filter(|u| {
        matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty()) && raw.is_ascii()
    });
    match parsed {
        Some(_) => Ok(()),
        None => Err(format!("{field} must be an http:// or https:// URL")),
    }
}

/// A base URL that is not a secret: no credentials or query may hide in it.
fn base_url(field: &str, raw: &str) -> Result<(), String> {
    http_url(field, raw)?;
    let u = url::Url::parse(raw).map_err(|e| format!("{field}: {e}"))?;
    if !u.username().is_empty() || u.password().is_some() || u.query().is_some() {
        return Err(format!(
            "{field} must not carry credentials or a query: it is shown to every reader; the key goes in its own field"
        ));
    }
    Ok(())
}

/// Whether an SMTP relay name is this host: plain SMTP with a password is allowed only there.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.');
    if host.eq_ignore_ascii_case("localhost") || host.to_ascii_lowercase().ends_with(".localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl ChannelConfig {
    /// Parses and validates the full settings (clear and secret merged) of a channel.
    pub fn parse(kind: ChannelKind, full: &Value) -> Result<Self, String> {
        fn de<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T, String> {
            serde_json::from_value(v.clone()).map_err(|e| format!("invalid config: {e}"))
        }
        let cfg = match kind {
            ChannelKind::Webhook => {
                let c: WebhookConfig = de(full)?;
                http_url("url", &c.url)?;
                webhook_key(&c.secret)?;
                ChannelConfig::Webhook(c)
            }
            ChannelKind::Email => {
                let c: EmailConfig = de(full)?;
                if c.smtp_host.trim().is_empty() {
                    return Err("smtp_host is required".into());
                }
                if c.to.is_empty() || c.to.iter().chain(std::iter::once(&c.from)).any(|a| !a.contains('@')) {
                    return Err("from and at least one `to` must be email addresses".into());
                }
                if c.username.is_some() != c.password.is_some() {
                    return Err("username and password go together".into());
                }
                if c.tls == SmtpTls::None && c.password.is_some() && !is_loopback_host(&c.smtp_host) {
                    return Err(
                        "tls none with a password would send the password in the clear: use starttls or implicit, or a relay on this host (localhost)"
                            .into(),
                    );
                }
                ChannelConfig::Email(c)
            }
            ChannelKind::Slack | ChannelKind::Teams => {
                let c: ChatConfig = de(full)?;
                http_url("webhook_url", &c.webhook_url)?;
                if kind == ChannelKind::Slack {
                    ChannelConfig::Slack(c)
                } else {
                    ChannelConfig::Teams(c)
                }
            }
            ChannelKind::Pagerduty => {
                let c: PagerDutyConfig = de(full)?;
                if c.routing_key.trim().is_empty() {
                    return Err("routing_key is required".into());
                }
                if let Some(s) = &c.severity
                    && !["critical", "error", "warning", "info"].contains(&s.as_str())
                {
                    return Err("severity must be critical, error, warning or info".into());
                }
                if let Some(u) = &c.api_url {
                    base_url("api_url", u)?;
                }
                ChannelConfig::PagerDuty(c)
            }
            ChannelKind::Opsgenie => {
                let c: OpsGenieConfig = de(full)?;
                if c.api_key.trim().is_empty() {
                    return Err("api_key is required".into());
                }
                if let Some(p) = &c.priority
                    && !["P1", "P2", "P3", "P4", "P5"].contains(&p.as_str())
                {
                    return Err("priority must be P1 to P5".into());
                }
                if let Some(u) = &c.api_url {
                    base_url("api_url", u)?;
                }
                ChannelConfig::OpsGenie(c)
            }
        };
        Ok(cfg)
    }
}

/// Decodes a Standard Webhooks secret (`whsec_` + base64) into the HMAC key.
pub fn webhook_key(secret: &str) -> Result<Vec<u8>, String> {
    use base64::Engine;
    let b64 = secret.strip_prefix("whsec_").ok_or("secret must start with whsec_")?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| "secret must be whsec_ followed by base64".to_owned())?;
    if key.len() < 16 || key.len() > 64 {
        return Err("the secret's key must be 16 to 64 bytes".into());
    }
    Ok(key)
}

/// Splits full settings into the clear part and the secret part. A secret URL also leaves its
/// redacted form in the clear part, for display.
pub fn split(kind: ChannelKind, full: &Value) -> (Value, Value) {
    let mut clear = Map::new();
    let mut secret = Map::new();
    if let Some(obj) = full.as_object() {
        for (k, v) in obj {
            if v.is_null() {
                continue;
            }
            if secret_fields(kind).contains(&k.as_str()) {
                secret.insert(k.clone(), v.clone());
                if url_secrets(kind).contains(&k.as_str())
                    && let Some(u) = v.as_str()
                {
                    clear.insert(k.clone(), Value::String(redact_url(u)));
                }
            } else {
                clear.insert(k.clone(), v.clone());
            }
        }
    }
    (Value::Object(clear), Value::Object(secret))
}

/// The clear part as it may be shown: secret URLs redacted even in rows stored before they were
/// sealed, and nothing else secret.
pub fn displayed(kind: ChannelKind, clear: &Value) -> Value {
    let mut out = clear.as_object().cloned().unwrap_or_default();
    for field in secret_fields(kind) {
        if url_secrets(kind).contains(field) {
            if let Some(Value::String(u)) = out.get(*field)
                && !u.ends_with("/…")
            {
                let redacted = redact_url(u);
                out.insert((*field).to_owned(), Value::String(redacted));
            }
        } else {
            out.remove(*field);
        }
    }
    Value::Object(out)
}

/// The clear and secret parts a row should have, if they differ from what it has: a row written
/// before a field became secret (a webhook URL in the clear), or before secret URLs left their
/// redacted form in the clear part (older Slack and Teams channels). Such rows are sealed again
/// at start-up.
pub fn resplit(kind: ChannelKind, clear: &Value, secret: &Value) -> Option<(Value, Value)> {
    let (new_clear, new_secret) = split(kind, &merge(clear, secret));
    (new_clear != *clear || new_secret != *secret).then_some((new_clear, new_secret))
}

/// Joins the clear and secret parts back into full settings.
pub fn merge(clear: &Value, secret: &Value) -> Value {
    let mut out = clear.as_object().cloned().unwrap_or_default();
    if let Some(s) = secret.as_object() {
        for (k, v) in s {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

/// The AAD binding a channel's sealed secrets to its row.
pub fn secret_context(channel_id: crate::model::ChannelId) -> String {
    format!("channel:{channel_id}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_split_off_and_merged_back() {
        let full = json!({ "url": "https://hooks.example/x", "secret": "whsec_MDEyMzQ1Njc4OWFiY2RlZg==" });
        let (clear, secret) = split(ChannelKind::Webhook, &full);
        assert_eq!(clear, json!({ "url": "https://hooks.example/…" }));
        assert_eq!(secret, full);
        assert_eq!(merge(&clear, &secret), full);
        assert!(ChannelConfig::parse(ChannelKind::Webhook, &full).is_ok());
    }

    #[test]
    fn webhook_urls_are_sealed_and_shown_as_scheme_and_host() {
        let full = json!({ "url": "https://bot:hunter2@hooks.example.com:8443/in/T0K3N?sig=abc", "secret": "whsec_MDEyMzQ1Njc4OWFiY2RlZg==" });
        let (clear, secret) = split(ChannelKind::Webhook, &full);
        assert_eq!(clear, json!({ "url": "https://hooks.example.com:8443/…" }));
        assert_eq!(secret["url"], full["url"]);
        assert!(!clear.to_string().contains("hunter2") && !clear.to_string().contains("T0K3N"));
        // Merged back, the real URL wins over its redacted form.
        assert_eq!(merge(&clear, &secret), full);
        assert_eq!(displayed(ChannelKind::Webhook, &clear), clear);
        assert_eq!(resplit(ChannelKind::Webhook, &clear, &secret), None);
        // The redacted form sent back is refused with a reason, not taken as a new URL.
        let err = ChannelConfig::parse(ChannelKind::Webhook, &merge(&secret, &clear)).unwrap_err();
        assert!(err.contains("redacted"), "{err}");
        // A row stored before URLs were sealed is shown redacted, and sealed at start-up.
        let old = json!({ "url": "https://hooks.example.com/in/T0K3N" });
        assert_eq!(
            displayed(ChannelKind::Webhook, &old),
            json!({ "url": "https://hooks.example.com/…" })
        );
        let (clear, secret) = resplit(ChannelKind::Webhook, &old, &json!({})).unwrap();
        assert_eq!(clear, json!({ "url": "https://hooks.example.com/…" }));
        assert_eq!(secret, old);
        let slack = json!({ "webhook_url": "https://hooks.slack.com/services/T/B/X" });
        let (clear, _) = split(ChannelKind::Slack, &slack);
        assert_eq!(clear, json!({ "webhook_url": "https://hooks.slack.com/…" }));
        // An older Slack row kept its URL sealed but showed nothing: it gains the redacted form.
        assert_eq!(resplit(ChannelKind::Slack, &json!({}), &slack), Some((clear, slack)));
    }

    #[test]
    fn plain_smtp_with_a_password_is_only_for_a_relay_on_this_host() {
        let email = |host: &str, tls: &str| json!({ "smtp_host": host, "tls": tls, "username": "u", "password": "p", "from": "a@b.test", "to": ["c@d.test"] });
        for host in ["mx.example.com", "10.0.0.5", "localhost.example.com"] {
            let err = ChannelConfig::parse(ChannelKind::Email, &email(host, "none")).unwrap_err();
            assert!(err.contains("in the clear"), "{host}: {err}");
            assert!(ChannelConfig::parse(ChannelKind::Email, &email(host, "starttls")).is_ok());
        }
        for host in ["localhost", "127.0.0.1", "::1", "[::1]", "mail.localhost"] {
            assert!(
                ChannelConfig::parse(ChannelKind::Email, &email(host, "none")).is_ok(),
                "{host}"
            );
        }
        // Without a password, plain SMTP is a choice the operator may make.
        let open = json!({ "smtp_host": "mx.example.com", "tls": "none", "from": "a@b.test", "to": ["c@d.test"] });
        assert!(ChannelConfig::parse(ChannelKind::Email, &open).is_ok());
    }

    #[test]
    fn base_urls_carry_no_credentials() {
        for bad in ["https://k:s@events.example.com", "https://events.example.com/?token=x"] {
            let c = json!({ "routing_key": "k", "api_url": bad });
            assert!(ChannelConfig::parse(ChannelKind::Pagerduty, &c).is_err(), "{bad}");
        }
    }

    #[test]
    fn invalid_settings_are_refused_with_a_reason() {
        assert!(
            ChannelConfig::parse(
                ChannelKind::Webhook,
                &json!({ "url": "ftp://x", "secret": "whsec_MDEyMzQ1Njc4OWFiY2RlZg==" })
            )
            .is_err()
        );
        assert!(
            ChannelConfig::parse(
                ChannelKind::Webhook,
                &json!({ "url": "https://x.example", "secret": "nope" })
            )
            .is_err()
        );
        assert!(
            ChannelConfig::parse(
                ChannelKind::Email,
                &json!({ "smtp_host": "mx", "from": "a@b", "to": [] })
            )
            .is_err()
        );
        assert!(
            ChannelConfig::parse(
                ChannelKind::Pagerduty,
                &json!({ "routing_key": "k", "severity": "meh" })
            )
            .is_err()
        );
        assert!(
            ChannelConfig::parse(
                ChannelKind::Slack,
                &json!({ "webhook_url": "https://hooks.slack.test/x", "extra": 1 })
            )
            .is_err()
        );
    }
}

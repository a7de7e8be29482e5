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
        ChannelKind::Webhook => &["secret"],
        ChannelKind::Email => &["password"],
        ChannelKind::Slack | ChannelKind::Teams => &["webhook_url"],
        ChannelKind::Pagerduty => &["routing_key"],
        ChannelKind::Opsgenie => &["api_key"],
    }
}

fn http_url(field: &str, url: &str) -> Result<(), String> {
    if (url.starts_with("https://") || url.starts_with("http://")) && url.len() > 8 && url.is_ascii() {
        Ok(())
    } else {
        Err(format!("{field} must be an http:// or https:// URL"))
    }
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
                    http_url("api_url", u)?;
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
                    http_url("api_url", u)?;
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

/// Splits full settings into the clear part and the secret part.
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
            } else {
                clear.insert(k.clone(), v.clone());
            }
        }
    }
    (Value::Object(clear), Value::Object(secret))
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
pub fn secret_context(channel_id: uuid::Uuid) -> String {
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
        assert_eq!(clear, json!({ "url": "https://hooks.example/x" }));
        assert_eq!(secret, json!({ "secret": "whsec_MDEyMzQ1Njc4OWFiY2RlZg==" }));
        assert_eq!(merge(&clear, &secret), full);
        assert!(ChannelConfig::parse(ChannelKind::Webhook, &full).is_ok());
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

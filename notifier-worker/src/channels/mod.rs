//! Delivery channels: each turns a notification into one protocol exchange and classifies what
//! happened. Deliveries are not errors: a receiver that says no, or cannot be reached, is an
//! outcome for the retry policy to weigh.

pub mod email;
pub mod guard;
mod http;
pub mod opsgenie;
pub mod pagerduty;
pub mod slack;
pub mod teams;
pub mod webhook;

use std::time::Duration;

use certctl_shared::channel_config::ChannelConfig;
use certctl_shared::model::NotificationId;
use serde_json::Value;

pub use http::HttpSender;

/// What one attempt came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    Delivered {
        status: Option<u16>,
    },
    /// The receiver answered and refused (an HTTP status outside 2xx, an SMTP rejection).
    Rejected {
        status: u16,
        detail: String,
    },
    /// No answer: connection refused, DNS, TLS, timeout, or a target certctl refuses to reach.
    Unreachable {
        error: String,
    },
}

impl Delivery {
    pub fn outcome(&self) -> &'static str {
        match self {
            Delivery::Delivered { .. } => "delivered",
            Delivery::Rejected { .. } => "rejected",
            Delivery::Unreachable { .. } => "unreachable",
        }
    }

    pub fn status_code(&self) -> Option<i32> {
        match self {
            Delivery::Delivered { status } => status.map(i32::from),
            Delivery::Rejected { status, .. } => Some(i32::from(*status)),
            Delivery::Unreachable { .. } => None,
        }
    }

    pub fn error(&self) -> Option<String> {
        match self {
            Delivery::Delivered { .. } => None,
            Delivery::Rejected { status, detail } => Some(format!("rejected with status {status}{detail}")),
            Delivery::Unreachable { error } => Some(format!("unreachable: {error}")),
        }
    }
}

/// A notification ready to send: its id (the receivers' idempotency key) and its stored envelope.
pub struct Outgoing<'a> {
    pub id: NotificationId,
    pub event_type: &'a str,
    /// `{"type", "timestamp", "data"}`.
    pub payload: &'a Value,
}

impl Outgoing<'_> {
    /// A one-line human summary for chat and paging channels.
    pub fn summary(&self) -> String {
        let d = &self.payload["data"];
        let name = d["common_name"].as_str().unwrap_or("");
        match self.event_type {
            "certificate_issued" => format!("certctl: certificate issued for {name}"),
            "certificate_renewed" => format!("certctl: certificate renewed for {name}"),
            "certificate_revoked" if d["bulk"].as_bool() == Some(true) => format!(
                "certctl: {} certificates revoked ({})",
                d["revoked"].as_u64().unwrap_or(0),
                d["reason"].as_str().unwrap_or("unspecified")
            ),
            "certificate_revoked" => format!(
                "certctl: certificate for {name} revoked ({})",
                d["reason"].as_str().unwrap_or("unspecified")
            ),
            "approval_requested" => format!(
                "certctl: approval requested by {} for {name}",
                d["requested_by"].as_str().unwrap_or("someone")
            ),
            "approval_decided" => format!(
                "certctl: request {} was {}",
                d["job_id"].as_str().unwrap_or(""),
                d["decision"].as_str().unwrap_or("decided")
            ),
            "expiration_warning" if d["expired"].as_bool() == Some(true) => {
                format!("certctl: certificate for {name} has expired")
            }
            "expiration_warning" => format!(
                "certctl: certificate for {name} expires within {} days ({})",
                d["threshold_days"].as_i64().unwrap_or(0),
                d["not_after"].as_str().unwrap_or("")
            ),
            "channel_test" => "certctl: test notification, this channel works".to_owned(),
            other => format!("certctl: {other}"),
        }
    }
}

/// Sends through whichever protocol the channel speaks.
pub async fn send(http: &HttpSender, config: &ChannelConfig, n: &Outgoing<'_>, timeout: Duration) -> Delivery {
    match config {
        ChannelConfig::Webhook(c) => webhook::send(http, c, n).await,
        ChannelConfig::Slack(c) => slack::send(http, c, n).await,
        ChannelConfig::Teams(c) => teams::send(http, c, n).await,
        ChannelConfig::PagerDuty(c) => pagerduty::send(http, c, n).await,
        ChannelConfig::OpsGenie(c) => opsgenie::send(http, c, n).await,
        ChannelConfig::Email(c) => email::send(c, n, timeout, http.allow_private()).await,
    }
}

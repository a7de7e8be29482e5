//! Notification channels and the notifications delivered through them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::ids::{CertificateId, ChannelId, NotificationId};
use crate::vocab::{ChannelKind, EventType, NotificationStatus};

/// `POST /api/v1/notification-channels`. `config` depends on `kind`; its secret fields (a
/// webhook URL's credentials and query, SMTP passwords, routing keys) are stored sealed and
/// never shown again.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelIn {
    /// 1-100 printable characters, no spaces at the ends; unique.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
    )]
    pub name: String,
    pub kind: ChannelKind,
    pub config: serde_json::Map<String, Value>,
    #[schema(min_items = 1)]
    pub event_types: Vec<EventType>,
    #[serde(default = "enabled_by_default")]
    #[schema(default = true)]
    pub enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

/// `PATCH /api/v1/notification-channels/{id}`: only the fields given change.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Merged into the current settings key by key; secret fields omitted keep their value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<serde_json::Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1)]
    pub event_types: Option<Vec<EventType>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// A channel as shown: settings without secrets, and which secrets are set.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ChannelOut {
    pub id: ChannelId,
    pub name: String,
    #[schema(value_type = ChannelKind)]
    pub kind: String,
    pub config: serde_json::Map<String, Value>,
    /// The secret fields that hold a value.
    pub secrets_set: Vec<String>,
    #[schema(value_type = Vec<EventType>)]
    pub event_types: Vec<String>,
    pub enabled: bool,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One notification to one channel. `retry_count` of `max_attempts` attempts are spent; a
/// `dead` notification gets no more until an operator requeues it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct NotificationOut {
    pub id: NotificationId,
    #[serde(rename = "type")]
    #[schema(value_type = EventType)]
    pub event_type: String,
    pub status: NotificationStatus,
    pub channel_id: ChannelId,
    #[schema(value_type = Option<ChannelKind>)]
    pub channel_kind: Option<String>,
    pub certificate_id: Option<CertificateId>,
    pub retry_count: i32,
    pub max_attempts: u32,
    pub next_retry_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// A notification with what it carries and every delivery attempt so far.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct NotificationDetailOut {
    #[serde(flatten)]
    pub notification: NotificationOut,
    /// The event as delivered to the channel.
    pub payload: Value,
    pub attempts: Vec<AttemptOut>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AttemptOut {
    pub attempt: i32,
    pub started_at: DateTime<Utc>,
    /// `null` while the attempt is in progress.
    pub duration_ms: Option<i32>,
    /// `delivered`, `rejected` (the receiver refused it), `unreachable`, `channel_unavailable`,
    /// `lost` (the worker died mid-attempt) or `in_progress`.
    pub outcome: String,
    /// The receiver's HTTP status, where there was one.
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub worker: String,
}

/// `GET /api/v1/notifications`: filters combine with AND; newest first.
/// `POST /api/v1/notifications/purge-dead`
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PurgeDeadIn {
    /// Dead notifications created before this RFC 3339 time are deleted, with their attempts.
    pub created_before: chrono::DateTime<chrono::Utc>,
}

/// What a purge deleted.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PurgeOut {
    pub purged: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NotificationQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<NotificationStatus>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<EventType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<ChannelId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_id: Option<CertificateId>,
    /// `next_cursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(pattern = "^[A-Za-z0-9_-]{1,256}$")]
    pub cursor: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
}

impl NotificationQuery {
    pub const NAMES: &[&str] = &["status", "type", "channel_id", "certificate_id", "cursor", "limit"];
}

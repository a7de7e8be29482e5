//! Who may call the API (API keys, the caller's identity) and what they did (the audit log).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::ids::ApiKeyId;
use crate::vocab::Role;

/// `POST /api/v1/api-keys`
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyIn {
    /// 1-100 printable characters, no spaces at the ends; unique.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
    )]
    pub name: String,
    pub role: Role,
    /// The person or system the key acts for, as audit shows it; the key's name when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
    )]
    pub principal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyOut {
    pub id: ApiKeyId,
    pub name: String,
    pub principal: String,
    pub role: Role,
    pub created_by: String,
    /// The key that created this one (`null` for the bootstrap key).
    pub created_by_key_id: Option<ApiKeyId>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A new key: the secret is shown this once and cannot be read again.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyCreatedOut {
    #[serde(flatten)]
    pub api_key: ApiKeyOut,
    /// The bearer token (`Authorization: Bearer …`).
    pub key: String,
}

/// `GET /api/v1/auth/me`: who the presented key acts for.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct MeOut {
    pub principal: String,
    pub role: Role,
    pub key_id: ApiKeyId,
    pub key_name: String,
    /// What the role grants (`certificates:read`, `jobs:decide`, …): each operation of the API
    /// names the one it requires in `x-required-permission`.
    pub permissions: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditEventOut {
    pub id: Uuid,
    /// `api:<principal>`, `system:<loop>`, …
    pub actor: String,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    /// `success` or `denied`.
    pub outcome: String,
    pub details: serde_json::Value,
    pub request_id: Option<String>,
    /// The API key that acted; `null` for system actors.
    pub key_id: Option<ApiKeyId>,
    /// How the actor came in (`api`, `system`); `null` on rows older than this field.
    pub protocol: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// `GET /api/v1/audit`: filters combine with AND; newest first.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<ApiKeyId>,
    /// Only events written at or after this RFC 3339 time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// Only events written before this RFC 3339 time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
    /// `next_cursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(pattern = "^[A-Za-z0-9_-]{1,256}$")]
    pub cursor: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
}

impl AuditQuery {
    pub const NAMES: &[&str] = &[
        "actor",
        "action",
        "resource_type",
        "resource_id",
        "key_id",
        "since",
        "until",
        "cursor",
        "limit",
    ];
}

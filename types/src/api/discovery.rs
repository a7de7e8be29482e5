//! Discovery: the address ranges the worker scans for TLS certificates, and what it found.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::ids::{CertificateId, DiscoveredCertificateId, ScanTargetId};

fn yes() -> bool {
    true
}

fn default_interval() -> i32 {
    3600
}

fn default_timeout() -> i32 {
    2000
}

fn default_concurrency() -> i32 {
    32
}

/// `POST /api/v1/scan-targets` and `PUT /api/v1/scan-targets/{id}` (a whole replacement).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanTargetIn {
    /// 1-100 printable characters, no spaces at the ends; unique.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
    )]
    pub name: String,
    /// CIDR blocks or single addresses (`10.0.0.0/24`, `2001:db8::/120`, `192.0.2.7`), at most
    /// 1024 addresses in all. Only these addresses are dialled.
    #[schema(min_items = 1, max_items = 32)]
    pub cidrs: Vec<String>,
    /// TCP ports to connect to with TLS, 1-32 of them.
    #[schema(min_items = 1, max_items = 32)]
    pub ports: Vec<i32>,
    /// Sent as SNI (for servers that pick a certificate by name); omitted: no SNI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 253)]
    pub server_name: Option<String>,
    /// Seconds between scans (at least 10; default 3600).
    #[serde(default = "default_interval")]
    #[schema(minimum = 10, default = 3600)]
    pub interval_seconds: i32,
    /// Per connection, handshake included (100-60000 ms; default 2000).
    #[serde(default = "default_timeout")]
    #[schema(minimum = 100, maximum = 60000, default = 2000)]
    pub timeout_ms: i32,
    /// Connections in flight (1-256; default 32). A scan in which every connection times out must
    /// fit in 40 s.
    #[serde(default = "default_concurrency")]
    #[schema(minimum = 1, maximum = 256, default = 32)]
    pub concurrency: i32,
    #[serde(default = "yes")]
    pub enabled: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ScanTargetOut {
    pub id: ScanTargetId,
    pub name: String,
    pub cidrs: Vec<String>,
    pub ports: Vec<i32>,
    pub server_name: Option<String>,
    pub interval_seconds: i32,
    pub timeout_ms: i32,
    pub concurrency: i32,
    pub enabled: bool,
    /// When the next scan is due.
    pub next_scan_at: DateTime<Utc>,
    pub last_scan_started_at: Option<DateTime<Utc>>,
    pub last_scan_finished_at: Option<DateTime<Utc>>,
    /// Certificates the last scan saw.
    pub last_scan_found: Option<i32>,
    pub last_scan_error: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Where a discovered certificate was seen.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct EndpointOut {
    pub address: String,
    pub port: i32,
    /// The SNI sent (empty: none).
    pub server_name: String,
    pub target_id: Option<ScanTargetId>,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DiscoveredCertificateOut {
    pub id: DiscoveredCertificateId,
    /// SHA-256 of the certificate's DER, lowercase hex.
    pub fingerprint_sha256: String,
    pub subject: String,
    pub common_name: Option<String>,
    pub sans: Vec<String>,
    pub issuer: String,
    pub serial_hex: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub expired: bool,
    pub key_algorithm: String,
    pub self_signed: bool,
    /// `managed` (certctl issued it: see `certificate_id`), `unmanaged`, `claimed` or `dismissed`.
    pub status: String,
    pub certificate_id: Option<CertificateId>,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub note: Option<String>,
    /// Where it was seen; present on single reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Vec<EndpointOut>>,
    /// The certificate and the chain the server sent after it, PEM; present on single reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_pem: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_pem: Option<String>,
}

/// `POST /api/v1/discovered-certificates/{id}/claim` and `/dismiss`: an optional note.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscoveryDecisionIn {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 2000)]
    pub note: Option<String>,
}

/// `GET /api/v1/discovered-certificates`: filters combine with AND; newest discoveries first.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DiscoveredQuery {
    /// `managed`, `unmanaged`, `claimed` or `dismissed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(pattern = "^(managed|unmanaged|claimed|dismissed)$")]
    pub status: Option<String>,
    /// The subject, the issuer or a SAN contains this (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(max_length = 256)]
    pub q: Option<String>,
    /// Only certificates whose `not_after` is before this RFC 3339 time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiring_before: Option<DateTime<Utc>>,
    /// Seen by this scan target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_id: Option<ScanTargetId>,
    /// `next_cursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(pattern = "^[A-Za-z0-9_-]{1,256}$")]
    pub cursor: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
}

impl DiscoveredQuery {
    pub const NAMES: &[&str] = &["status", "q", "expiring_before", "target_id", "cursor", "limit"];
}

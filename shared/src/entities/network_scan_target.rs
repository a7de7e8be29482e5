//! `network_scan_targets`: address ranges and ports the worker scans for TLS certificates.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "network_scan_targets")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: crate::model::ScanTargetId,
    pub name: String,
    /// CIDR blocks or single addresses; at most `scanrange::MAX_ADDRESSES` addresses in all.
    pub cidrs: Vec<String>,
    pub ports: Vec<i32>,
    /// Sent as SNI when set; without it the TLS handshake names no server.
    pub server_name: Option<String>,
    pub interval_seconds: i32,
    pub timeout_ms: i32,
    pub concurrency: i32,
    pub enabled: bool,
    pub next_scan_at: DateTimeUtc,
    /// A worker scanning it holds it until then.
    pub lease_until: Option<DateTimeUtc>,
    pub leased_by: Option<String>,
    pub last_scan_started_at: Option<DateTimeUtc>,
    pub last_scan_finished_at: Option<DateTimeUtc>,
    /// Certificates the last scan saw.
    pub last_scan_found: Option<i32>,
    pub last_scan_error: Option<String>,
    pub created_by: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

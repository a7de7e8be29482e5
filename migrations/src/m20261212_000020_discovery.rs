//! Discovery of certificates nobody registered: `network_scan_targets` (address ranges and ports
//! the worker connects to with TLS, on a schedule, each scan claimed by one worker under a
//! lease), `discovered_certificates` (each leaf certificate seen, by the SHA-256 fingerprint of
//! its DER, linked to the inventory when certctl issued it) and `discovered_endpoints` (where
//! each was seen, and when).

use sea_orm_migration::prelude::*;

use crate::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261212_000020_discovery"
    }
}

const UP: &[&str] = &[
    r"CREATE TABLE IF NOT EXISTS network_scan_targets (
        id UUID PRIMARY KEY,
        name TEXT NOT NULL,
        cidrs TEXT[] NOT NULL,
        ports INT[] NOT NULL,
        server_name TEXT,
        interval_seconds INT NOT NULL CHECK (interval_seconds >= 10),
        timeout_ms INT NOT NULL CHECK (timeout_ms BETWEEN 100 AND 60000),
        concurrency INT NOT NULL CHECK (concurrency BETWEEN 1 AND 256),
        enabled BOOLEAN NOT NULL DEFAULT true,
        next_scan_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        lease_until TIMESTAMPTZ,
        leased_by TEXT,
        last_scan_started_at TIMESTAMPTZ,
        last_scan_finished_at TIMESTAMPTZ,
        last_scan_found INT,
        last_scan_error TEXT,
        created_by TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        CONSTRAINT network_scan_targets_name_key UNIQUE (name)
    )",
    "CREATE INDEX IF NOT EXISTS idx_scan_targets_due ON network_scan_targets (next_scan_at) WHERE enabled",
    r"CREATE TABLE IF NOT EXISTS discovered_certificates (
        id UUID PRIMARY KEY,
        fingerprint_sha256 TEXT NOT NULL,
        subject TEXT NOT NULL,
        common_name TEXT,
        sans TEXT[] NOT NULL,
        issuer TEXT NOT NULL,
        serial_hex TEXT NOT NULL,
        not_before TIMESTAMPTZ NOT NULL,
        not_after TIMESTAMPTZ NOT NULL,
        key_algorithm TEXT NOT NULL,
        self_signed BOOLEAN NOT NULL,
        certificate_pem TEXT NOT NULL,
        chain_pem TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('managed', 'unmanaged', 'claimed', 'dismissed')),
        certificate_id UUID REFERENCES certificates (id),
        first_seen_at TIMESTAMPTZ NOT NULL,
        last_seen_at TIMESTAMPTZ NOT NULL,
        decided_by TEXT,
        decided_at TIMESTAMPTZ,
        note TEXT,
        CONSTRAINT discovered_certificates_fingerprint_key UNIQUE (fingerprint_sha256)
    )",
    "CREATE INDEX IF NOT EXISTS idx_discovered_status ON discovered_certificates (status, first_seen_at DESC, id DESC)",
    "CREATE INDEX IF NOT EXISTS idx_discovered_not_after ON discovered_certificates (not_after) \
        WHERE status IN ('unmanaged', 'claimed')",
    "CREATE INDEX IF NOT EXISTS idx_discovered_certificate ON discovered_certificates (certificate_id) \
        WHERE certificate_id IS NOT NULL",
    r"CREATE TABLE IF NOT EXISTS discovered_endpoints (
        discovered_id UUID NOT NULL REFERENCES discovered_certificates (id) ON DELETE CASCADE,
        address TEXT NOT NULL,
        port INT NOT NULL,
        server_name TEXT NOT NULL DEFAULT '',
        target_id UUID REFERENCES network_scan_targets (id) ON DELETE SET NULL,
        first_seen_at TIMESTAMPTZ NOT NULL,
        last_seen_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (discovered_id, address, port, server_name)
    )",
    "CREATE INDEX IF NOT EXISTS idx_discovered_endpoints_target ON discovered_endpoints (target_id)",
];

const DOWN: &[&str] = &[
    "DROP TABLE IF EXISTS discovered_endpoints",
    "DROP TABLE IF EXISTS discovered_certificates",
    "DROP TABLE IF EXISTS network_scan_targets",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, DOWN).await
    }
}

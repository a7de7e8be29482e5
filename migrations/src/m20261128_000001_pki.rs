//! Issuers, certificate profiles, certificates, revocations and approval jobs.

use sea_orm_migration::prelude::*;

use crate::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261128_000001_pki"
    }
}

const UP: &[&str] = &[
    r#"CREATE TABLE IF NOT EXISTS issuers (
        id UUID PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        common_name TEXT NOT NULL,
        key_algorithm TEXT NOT NULL,
        parent_issuer_id UUID REFERENCES issuers (id),
        serial_hex TEXT NOT NULL,
        certificate_der BYTEA NOT NULL,
        certificate_pem TEXT NOT NULL,
        -- AES-256-GCM ciphertext of the PKCS#8 private key; the key-encryption key id travels in the
        -- envelope. The revocation responder's role is denied SELECT on this column.
        private_key_ciphertext BYTEA NOT NULL,
        not_before TIMESTAMPTZ NOT NULL,
        not_after TIMESTAMPTZ NOT NULL,
        created_by TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )"#,
    r#"CREATE TABLE IF NOT EXISTS certificate_profiles (
        id UUID PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        description TEXT NOT NULL DEFAULT '',
        allowed_key_algorithms TEXT[] NOT NULL,
        max_ttl_seconds BIGINT NOT NULL CHECK (max_ttl_seconds > 0),
        ekus TEXT[] NOT NULL,
        san_rules JSONB NOT NULL DEFAULT '{}'::jsonb,
        requires_approval BOOLEAN NOT NULL DEFAULT false,
        allow_short_lived BOOLEAN NOT NULL DEFAULT false,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )"#,
    r#"CREATE TABLE IF NOT EXISTS certificates (
        id UUID PRIMARY KEY,
        issuer_id UUID NOT NULL REFERENCES issuers (id),
        profile_id UUID NOT NULL REFERENCES certificate_profiles (id),
        serial_hex TEXT NOT NULL,
        common_name TEXT NOT NULL,
        sans TEXT[] NOT NULL,
        key_algorithm TEXT NOT NULL,
        public_key_der BYTEA NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('active', 'revoked', 'superseded')),
        short_lived BOOLEAN NOT NULL DEFAULT false,
        not_before TIMESTAMPTZ NOT NULL,
        not_after TIMESTAMPTZ NOT NULL,
        certificate_der BYTEA NOT NULL,
        certificate_pem TEXT NOT NULL,
        renewed_from_id UUID REFERENCES certificates (id),
        superseded_by_id UUID REFERENCES certificates (id),
        job_id UUID,
        requested_by TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        UNIQUE (issuer_id, serial_hex)
    )"#,
    "CREATE INDEX IF NOT EXISTS idx_certificates_status_not_after ON certificates (status, not_after)",
    "CREATE INDEX IF NOT EXISTS idx_certificates_issuer ON certificates (issuer_id)",
    "CREATE INDEX IF NOT EXISTS idx_certificates_profile ON certificates (profile_id)",
    "CREATE INDEX IF NOT EXISTS idx_certificates_common_name ON certificates (common_name)",
    "CREATE INDEX IF NOT EXISTS idx_certificates_created ON certificates (created_at DESC, id DESC)",
    r#"CREATE TABLE IF NOT EXISTS certificate_revocations (
        id UUID PRIMARY KEY,
        certificate_id UUID NOT NULL UNIQUE REFERENCES certificates (id),
        issuer_id UUID NOT NULL REFERENCES issuers (id),
        serial_hex TEXT NOT NULL,
        reason TEXT NOT NULL,
        -- RFC 5280 §5.3.1 CRLReason code; NULL for `unspecified`, which is written without one.
        reason_code SMALLINT,
        revoked_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        revoked_by TEXT NOT NULL,
        CONSTRAINT certificate_revocations_issuer_serial_key UNIQUE (issuer_id, serial_hex)
    )"#,
    "CREATE INDEX IF NOT EXISTS idx_certificate_revocations_revoked_at ON certificate_revocations (issuer_id, revoked_at)",
    r#"CREATE TABLE IF NOT EXISTS jobs (
        id UUID PRIMARY KEY,
        kind TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('awaiting_approval', 'approved', 'rejected', 'failed')),
        issuer_id UUID NOT NULL REFERENCES issuers (id),
        profile_id UUID NOT NULL REFERENCES certificate_profiles (id),
        request JSONB NOT NULL,
        requested_by TEXT NOT NULL,
        decided_by TEXT,
        decision_note TEXT,
        decided_at TIMESTAMPTZ,
        certificate_id UUID REFERENCES certificates (id),
        error TEXT,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )"#,
    "CREATE INDEX IF NOT EXISTS idx_jobs_status ON jobs (status, created_at)",
];

const DOWN: &[&str] = &[
    "DROP TABLE IF EXISTS jobs",
    "DROP TABLE IF EXISTS certificate_revocations",
    "DROP TABLE IF EXISTS certificates",
    "DROP TABLE IF EXISTS certificate_profiles",
    "DROP TABLE IF EXISTS issuers",
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

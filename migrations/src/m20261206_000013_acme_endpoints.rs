//! ACME endpoints: each binds a URL label (`/acme/{label}/…`) to an issuer and a certificate
//! profile, says whether accounts need External Account Binding, which identifiers may be asked
//! for (DNS suffixes and IP ranges, on top of the profile's own rules), and whether challenge
//! validation may reach private addresses. EAB keys are HMAC keys the server must use to verify,
//! so they are sealed under the CA key-encryption key, not hashed; each binds one account.

use sea_orm_migration::prelude::*;

use crate::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000013_acme_endpoints"
    }
}

const UP: &[&str] = &[
    r#"CREATE TABLE IF NOT EXISTS acme_endpoints (
        id UUID PRIMARY KEY,
        name TEXT NOT NULL,
        label TEXT NOT NULL CHECK (label ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
        issuer_id UUID NOT NULL REFERENCES issuers (id),
        profile_id UUID NOT NULL REFERENCES certificate_profiles (id),
        eab_required BOOLEAN NOT NULL DEFAULT false,
        allowed_dns_suffixes TEXT[] NOT NULL DEFAULT '{}',
        allowed_ip_ranges TEXT[] NOT NULL DEFAULT '{}',
        allow_private_targets BOOLEAN NOT NULL DEFAULT false,
        terms_of_service_url TEXT,
        created_by TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        disabled_at TIMESTAMPTZ
    )"#,
    r#"CREATE UNIQUE INDEX IF NOT EXISTS acme_endpoints_name_key
        ON acme_endpoints (name) WHERE disabled_at IS NULL"#,
    r#"CREATE UNIQUE INDEX IF NOT EXISTS acme_endpoints_label_key
        ON acme_endpoints (label) WHERE disabled_at IS NULL"#,
    r#"CREATE TABLE IF NOT EXISTS acme_eab_keys (
        kid TEXT PRIMARY KEY,
        endpoint_id UUID NOT NULL REFERENCES acme_endpoints (id),
        key_ciphertext BYTEA NOT NULL,
        created_by TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        bound_at TIMESTAMPTZ,
        revoked_at TIMESTAMPTZ
    )"#,
    "CREATE INDEX IF NOT EXISTS acme_eab_keys_endpoint_idx ON acme_eab_keys (endpoint_id, created_at)",
];

const DOWN: &[&str] = &[
    "DROP TABLE IF EXISTS acme_eab_keys",
    "DROP TABLE IF EXISTS acme_endpoints",
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

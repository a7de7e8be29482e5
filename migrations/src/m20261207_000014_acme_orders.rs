//! The ACME protocol's own records (RFC 8555 §7.1): accounts, orders, authorizations and
//! challenges.
//!
//! An account is a client's public key registered at one endpoint (unique per endpoint by the
//! key's JWK thumbprint). An order asks for a certificate for a set of identifiers; each
//! identifier gets an authorization with one challenge per validation method. Validation runs in
//! the background on whichever api-server replica claims the challenge row first
//! (`claimed_until`), so several replicas never validate the same challenge at once and a replica
//! that dies mid-validation only delays it. An order that is finalized points at the certificate
//! it produced, or at the approval job it waits on.

use sea_orm_migration::prelude::*;

use crate::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000014_acme_orders"
    }
}

const UP: &[&str] = &[
    r#"CREATE TABLE IF NOT EXISTS acme_accounts (
        id UUID PRIMARY KEY,
        endpoint_id UUID NOT NULL REFERENCES acme_endpoints (id),
        thumbprint TEXT NOT NULL,
        public_key_der BYTEA NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('valid', 'deactivated', 'revoked')),
        contact TEXT[] NOT NULL DEFAULT '{}',
        eab_kid TEXT REFERENCES acme_eab_keys (kid),
        registered_by TEXT,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )"#,
    r#"CREATE UNIQUE INDEX IF NOT EXISTS acme_accounts_key_key
        ON acme_accounts (endpoint_id, thumbprint)"#,
    r#"CREATE TABLE IF NOT EXISTS acme_orders (
        id UUID PRIMARY KEY,
        account_id UUID NOT NULL REFERENCES acme_accounts (id),
        endpoint_id UUID NOT NULL REFERENCES acme_endpoints (id),
        status TEXT NOT NULL CHECK (status IN ('pending', 'ready', 'processing', 'valid', 'invalid')),
        identifiers JSONB NOT NULL,
        not_before TIMESTAMPTZ,
        not_after TIMESTAMPTZ,
        expires_at TIMESTAMPTZ NOT NULL,
        error JSONB,
        job_id UUID REFERENCES jobs (id),
        certificate_id UUID REFERENCES certificates (id),
        replaces_certificate_id UUID REFERENCES certificates (id),
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )"#,
    "CREATE INDEX IF NOT EXISTS acme_orders_account_idx ON acme_orders (account_id, created_at)",
    "CREATE INDEX IF NOT EXISTS acme_orders_certificate_idx ON acme_orders (certificate_id) WHERE certificate_id IS NOT NULL",
    r#"CREATE TABLE IF NOT EXISTS acme_authorizations (
        id UUID PRIMARY KEY,
        order_id UUID NOT NULL REFERENCES acme_orders (id),
        account_id UUID NOT NULL REFERENCES acme_accounts (id),
        identifier_type TEXT NOT NULL CHECK (identifier_type IN ('dns', 'ip')),
        identifier_value TEXT NOT NULL,
        wildcard BOOLEAN NOT NULL DEFAULT false,
        status TEXT NOT NULL CHECK (status IN ('pending', 'valid', 'invalid', 'deactivated', 'expired', 'revoked')),
        expires_at TIMESTAMPTZ NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )"#,
    "CREATE INDEX IF NOT EXISTS acme_authorizations_order_idx ON acme_authorizations (order_id)",
    r#"CREATE TABLE IF NOT EXISTS acme_challenges (
        id UUID PRIMARY KEY,
        authz_id UUID NOT NULL REFERENCES acme_authorizations (id),
        type TEXT NOT NULL CHECK (type IN ('http-01', 'dns-01', 'tls-alpn-01')),
        token TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'valid', 'invalid')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TIMESTAMPTZ,
        claimed_until TIMESTAMPTZ,
        validated_at TIMESTAMPTZ,
        error JSONB,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        UNIQUE (authz_id, type)
    )"#,
    r#"CREATE INDEX IF NOT EXISTS acme_challenges_due_idx
        ON acme_challenges (next_attempt_at) WHERE status = 'processing'"#,
];

const DOWN: &[&str] = &[
    "DROP TABLE IF EXISTS acme_challenges",
    "DROP TABLE IF EXISTS acme_authorizations",
    "DROP TABLE IF EXISTS acme_orders",
    "DROP TABLE IF EXISTS acme_accounts",
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

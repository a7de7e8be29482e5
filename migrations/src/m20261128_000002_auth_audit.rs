//! Named API keys and the append-only audit log.

use sea_orm_migration::prelude::*;

use crate::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261128_000002_auth_audit"
    }
}

const UP: &[&str] = &[
    r#"CREATE TABLE IF NOT EXISTS api_keys (
        id UUID PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        -- SHA-256 of the secret; the secret itself is never stored.
        key_hash BYTEA NOT NULL UNIQUE,
        principal TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer', 'auditor')),
        created_by TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        last_used_at TIMESTAMPTZ,
        disabled_at TIMESTAMPTZ,
        expires_at TIMESTAMPTZ
    )"#,
    r#"CREATE TABLE IF NOT EXISTS audit_events (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id UUID NOT NULL UNIQUE,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        resource_type TEXT NOT NULL,
        resource_id TEXT,
        outcome TEXT NOT NULL CHECK (outcome IN ('success', 'denied')),
        details JSONB NOT NULL DEFAULT '{}'::jsonb,
        request_id TEXT,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )"#,
    "CREATE INDEX IF NOT EXISTS idx_audit_events_actor ON audit_events (actor, seq)",
    "CREATE INDEX IF NOT EXISTS idx_audit_events_action ON audit_events (action, seq)",
    "CREATE INDEX IF NOT EXISTS idx_audit_events_resource ON audit_events (resource_type, resource_id, seq)",
    r#"CREATE OR REPLACE FUNCTION certctl_audit_events_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit log is append-only: % on audit_events is not allowed', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END
        $$"#,
    r#"CREATE OR REPLACE TRIGGER audit_events_append_only
        BEFORE UPDATE OR DELETE ON audit_events
        FOR EACH ROW EXECUTE FUNCTION certctl_audit_events_append_only()"#,
    r#"CREATE OR REPLACE TRIGGER audit_events_no_truncate
        BEFORE TRUNCATE ON audit_events
        FOR EACH STATEMENT EXECUTE FUNCTION certctl_audit_events_append_only()"#,
];

const DOWN: &[&str] = &[
    "DROP TABLE IF EXISTS audit_events",
    "DROP FUNCTION IF EXISTS certctl_audit_events_append_only()",
    "DROP TABLE IF EXISTS api_keys",
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

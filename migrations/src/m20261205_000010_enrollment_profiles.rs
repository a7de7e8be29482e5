//! Enrollment profiles: how devices enroll over EST and SCEP. Each binds a protocol, a URL label,
//! an issuer and a certificate profile, and says how an enrolling client proves itself: for EST a
//! username and password (an argon2id hash) and/or a client certificate chained to one of
//! certctl's issuers; for SCEP a challenge password (an argon2id hash) with an optional expiry and
//! one-time use. Disabling keeps the row (audit and history refer to it). Certificates record the
//! way they came in (`source`): `api` for every certificate issued before this migration.

use sea_orm_migration::prelude::*;

use crate::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000010_enrollment_profiles"
    }
}

const UP: &[&str] = &[
    r#"CREATE TABLE IF NOT EXISTS enrollment_profiles (
        id UUID PRIMARY KEY,
        name TEXT NOT NULL,
        protocol TEXT NOT NULL CHECK (protocol IN ('est', 'scep')),
        label TEXT NOT NULL CHECK (label ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
        issuer_id UUID NOT NULL REFERENCES issuers (id),
        profile_id UUID NOT NULL REFERENCES certificate_profiles (id),
        is_default BOOLEAN NOT NULL DEFAULT false,
        est_username TEXT,
        est_password_hash TEXT,
        est_client_ca_issuer_id UUID REFERENCES issuers (id),
        scep_challenge_hash TEXT,
        scep_challenge_expires_at TIMESTAMPTZ,
        scep_challenge_one_time BOOLEAN NOT NULL DEFAULT false,
        scep_challenge_used_at TIMESTAMPTZ,
        created_by TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        disabled_at TIMESTAMPTZ,
        CHECK ((est_username IS NULL) = (est_password_hash IS NULL)),
        CHECK (protocol <> 'est' OR est_password_hash IS NOT NULL OR est_client_ca_issuer_id IS NOT NULL),
        CHECK (protocol <> 'scep' OR scep_challenge_hash IS NOT NULL)
    )"#,
    // Names, and each protocol's labels and default, are unique among the profiles in use.
    r#"CREATE UNIQUE INDEX IF NOT EXISTS enrollment_profiles_name_key
        ON enrollment_profiles (name) WHERE disabled_at IS NULL"#,
    r#"CREATE UNIQUE INDEX IF NOT EXISTS enrollment_profiles_label_key
        ON enrollment_profiles (protocol, label) WHERE disabled_at IS NULL"#,
    r#"CREATE UNIQUE INDEX IF NOT EXISTS enrollment_profiles_default_key
        ON enrollment_profiles (protocol) WHERE is_default AND disabled_at IS NULL"#,
    r#"ALTER TABLE certificates ADD COLUMN IF NOT EXISTS source TEXT NOT NULL DEFAULT 'api'
        CHECK (source IN ('api', 'est', 'scep'))"#,
];

const DOWN: &[&str] = &[
    "ALTER TABLE certificates DROP COLUMN IF EXISTS source",
    "DROP TABLE IF EXISTS enrollment_profiles",
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

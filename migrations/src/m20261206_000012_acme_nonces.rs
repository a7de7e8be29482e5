//! The first piece of the ACME server (RFC 8555): its anti-replay nonces, and `acme` as a way
//! a certificate can come in.
//!
//! Every ACME response carries a fresh `Replay-Nonce`, and every signed request must bring one
//! that this server issued and nobody has used: a nonce is a row, issued by one api-server replica
//! and used up (deleted) by whichever replica the client's next request reaches, so it is valid
//! across replicas and accepted once. Rows past `expires_at` are refused and swept.

use sea_orm_migration::prelude::*;

use crate::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000012_acme_nonces"
    }
}

const UP: &[&str] = &[
    r#"CREATE TABLE IF NOT EXISTS acme_nonces (
        nonce TEXT PRIMARY KEY,
        expires_at TIMESTAMPTZ NOT NULL
    )"#,
    "CREATE INDEX IF NOT EXISTS acme_nonces_expires_idx ON acme_nonces (expires_at)",
    // `source` may now also say `acme`. Replaced only while it does not, so re-running is a no-op.
    r#"DO $$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'certificates_source_check'
                       AND pg_get_constraintdef(oid) LIKE '%acme%') THEN
            ALTER TABLE certificates DROP CONSTRAINT IF EXISTS certificates_source_check;
            ALTER TABLE certificates ADD CONSTRAINT certificates_source_check
                CHECK (source IN ('api', 'est', 'scep', 'acme'));
        END IF;
    END $$"#,
];

const DOWN: &[&str] = &[
    "ALTER TABLE certificates DROP CONSTRAINT IF EXISTS certificates_source_check",
    "ALTER TABLE certificates ADD CONSTRAINT certificates_source_check CHECK (source IN ('api', 'est', 'scep'))",
    "DROP TABLE IF EXISTS acme_nonces",
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

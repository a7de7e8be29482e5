//! Public keys revoked for keyCompromise, so they are never certified again under any request.

use sea_orm_migration::prelude::*;

use crate::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261128_000003_compromised_keys"
    }
}

const UP: &[&str] = &[
    r#"CREATE TABLE IF NOT EXISTS compromised_keys (
        -- SHA-256 of the DER SubjectPublicKeyInfo.
        spki_sha256 BYTEA PRIMARY KEY,
        certificate_id UUID NOT NULL REFERENCES certificates (id),
        recorded_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )"#,
    // Keys of certificates already revoked for keyCompromise before this table existed.
    r#"INSERT INTO compromised_keys (spki_sha256, certificate_id, recorded_at)
        SELECT DISTINCT ON (sha256(c.public_key_der)) sha256(c.public_key_der), c.id, r.revoked_at
        FROM certificate_revocations r JOIN certificates c ON c.id = r.certificate_id
        WHERE r.reason = 'keyCompromise'
        ORDER BY sha256(c.public_key_der), r.revoked_at
        ON CONFLICT DO NOTHING"#,
];

const DOWN: &[&str] = &["DROP TABLE IF EXISTS compromised_keys"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, DOWN).await
    }
}

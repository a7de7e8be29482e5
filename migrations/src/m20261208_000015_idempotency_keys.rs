//! Idempotent issuance: a client may send `Idempotency-Key` with `POST /api/v1/certificates`, and
//! the certificate keeps it. A request retried with the same key by the same principal (after a
//! connection cut before the answer arrived, say) gets the certificate issued the first time
//! instead of a second one. Uniqueness per principal is enforced by the index, so two concurrent
//! requests with one key cannot both issue.

use sea_orm_migration::prelude::*;

use crate::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261208_000015_idempotency_keys"
    }
}

const UP: &[&str] = &[
    "ALTER TABLE certificates ADD COLUMN IF NOT EXISTS idempotency_key TEXT",
    // Only rows that have a key are indexed: the index costs nothing for the others, and
    // building it reads the table once without finding anything to add.
    "CREATE UNIQUE INDEX IF NOT EXISTS certificates_idempotency_key \
       ON certificates (requested_by, idempotency_key) WHERE idempotency_key IS NOT NULL",
];

const DOWN: &[&str] = &[
    "DROP INDEX IF EXISTS certificates_idempotency_key",
    "ALTER TABLE certificates DROP COLUMN IF EXISTS idempotency_key",
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

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
    // A catalogue change only: no table rewrite, the lock is held for an instant (and given up
    // after 5 s rather than queueing every query behind a long-running one).
    "SET lock_timeout = '5s'",
    "ALTER TABLE certificates ADD COLUMN IF NOT EXISTS idempotency_key TEXT",
    "RESET lock_timeout",
    // A build interrupted earlier leaves an invalid index that IF NOT EXISTS would keep.
    r#"DO $$ BEGIN
        IF EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                   WHERE c.relname = 'certificates_idempotency_key' AND NOT i.indisvalid) THEN
            DROP INDEX certificates_idempotency_key;
        END IF;
    END $$"#,
    // Built without blocking reads or writes (CONCURRENTLY, hence no transaction around this
    // migration). Only rows that have a key are indexed.
    "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS certificates_idempotency_key \
       ON certificates (requested_by, idempotency_key) WHERE idempotency_key IS NOT NULL",
];

const DOWN: &[&str] = &[
    "DROP INDEX IF EXISTS certificates_idempotency_key",
    "ALTER TABLE certificates DROP COLUMN IF EXISTS idempotency_key",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// `CREATE INDEX CONCURRENTLY` cannot run inside a transaction. Each statement is idempotent,
    /// so a run interrupted between them is completed by the next.
    fn use_transaction(&self) -> Option<bool> {
        Some(false)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, DOWN).await
    }
}

//! Audit rows name the protocol the actor came through (`api`, `system`, and the enrollment
//! protocols to come), beside the key it presented. Rows written before this column stay NULL:
//! the table is append-only, so they are never backfilled.

use sea_orm_migration::prelude::*;

use crate::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000009_audit_protocol"
    }
}

const UP: &[&str] = &["ALTER TABLE audit_events ADD COLUMN IF NOT EXISTS protocol TEXT"];

const DOWN: &[&str] = &["ALTER TABLE audit_events DROP COLUMN IF EXISTS protocol"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, DOWN).await
    }
}

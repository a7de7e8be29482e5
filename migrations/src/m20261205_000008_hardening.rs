//! Accountability and delivery bookkeeping:
//!
//! - audit rows name the API key that acted (`key_id`), not only its free-form principal;
//! - every key records the key that created it, and every approval job the key that filed it, so
//!   an approval by the requester's own key, or by a key it created, can be refused;
//! - delivery attempts are recorded when they start (`in_progress`), so an attempt cut short by a
//!   crashed worker is still on record (`lost`) and counts toward the attempt budget;
//! - the relay and the retry sweep stamp `dispatched_at` when they publish a row, so a backlog is
//!   not published again and again before a worker gets to it.

use sea_orm_migration::prelude::*;

use crate::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000008_hardening"
    }
}

const UP: &[&str] = &[
    "ALTER TABLE audit_events ADD COLUMN IF NOT EXISTS key_id UUID",
    "CREATE INDEX IF NOT EXISTS idx_audit_events_key ON audit_events (key_id, seq) WHERE key_id IS NOT NULL",
    "ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS created_by_key_id UUID REFERENCES api_keys (id)",
    "ALTER TABLE jobs ADD COLUMN IF NOT EXISTS requested_by_key_id UUID",
    "ALTER TABLE notification_events ADD COLUMN IF NOT EXISTS dispatched_at TIMESTAMPTZ",
    // An attempt in progress has no duration yet.
    "ALTER TABLE notification_attempts ALTER COLUMN duration_ms DROP NOT NULL",
    "ALTER TABLE notification_attempts DROP CONSTRAINT IF EXISTS notification_attempts_outcome_check",
    r#"ALTER TABLE notification_attempts ADD CONSTRAINT notification_attempts_outcome_check
        CHECK (outcome IN ('in_progress', 'delivered', 'rejected', 'unreachable', 'channel_unavailable', 'lost'))"#,
];

const DOWN: &[&str] = &[
    "UPDATE notification_attempts SET outcome = 'unreachable', duration_ms = coalesce(duration_ms, 0) WHERE outcome IN ('in_progress', 'lost')",
    "ALTER TABLE notification_attempts DROP CONSTRAINT IF EXISTS notification_attempts_outcome_check",
    r#"ALTER TABLE notification_attempts ADD CONSTRAINT notification_attempts_outcome_check
        CHECK (outcome IN ('delivered', 'rejected', 'unreachable', 'channel_unavailable'))"#,
    "ALTER TABLE notification_attempts ALTER COLUMN duration_ms SET NOT NULL",
    "ALTER TABLE notification_events DROP COLUMN IF EXISTS dispatched_at",
    "ALTER TABLE jobs DROP COLUMN IF EXISTS requested_by_key_id",
    "ALTER TABLE api_keys DROP COLUMN IF EXISTS created_by_key_id",
    "DROP INDEX IF EXISTS idx_audit_events_key",
    "ALTER TABLE audit_events DROP COLUMN IF EXISTS key_id",
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

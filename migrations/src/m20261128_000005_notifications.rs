//! Notification channels, the notification outbox (`notification_events`) and every delivery
//! attempt. The retry columns and the sweep's partial index keep the names earlier certctl releases used.

use sea_orm_migration::prelude::*;

use crate::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261128_000005_notifications"
    }
}

const UP: &[&str] = &[
    r#"CREATE TABLE IF NOT EXISTS notification_channels (
        id UUID PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL CHECK (kind IN ('webhook', 'email', 'slack', 'teams', 'pagerduty', 'opsgenie')),
        -- Settings that are not secret (addresses, base URLs, recipients).
        config JSONB NOT NULL DEFAULT '{}'::jsonb,
        -- The secret settings (webhook signing secret, Slack and Teams webhook URLs, SMTP password,
        -- PagerDuty routing key, OpsGenie API key), sealed with AES-256-GCM under the
        -- key-encryption key, bound to the channel id.
        secret_ciphertext BYTEA,
        event_types TEXT[] NOT NULL,
        enabled BOOLEAN NOT NULL DEFAULT true,
        created_by TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        deleted_at TIMESTAMPTZ
    )"#,
    r#"CREATE TABLE IF NOT EXISTS notification_events (
        id UUID PRIMARY KEY,
        type TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'dead')),
        channel_id UUID NOT NULL REFERENCES notification_channels (id),
        certificate_id UUID,
        payload JSONB NOT NULL,
        retry_count INTEGER NOT NULL DEFAULT 0,
        next_retry_at TIMESTAMPTZ,
        last_error TEXT,
        -- The lease of the worker attempting delivery; a row whose lease expired is taken again.
        locked_until TIMESTAMPTZ,
        lease_token UUID,
        locked_by TEXT,
        -- Expiry warnings: one per certificate, threshold and channel.
        dedup_key TEXT UNIQUE,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        sent_at TIMESTAMPTZ
    )"#,
    r#"CREATE INDEX IF NOT EXISTS idx_notification_events_retry_sweep
        ON notification_events (next_retry_at) WHERE status = 'failed' AND next_retry_at IS NOT NULL"#,
    r#"CREATE INDEX IF NOT EXISTS idx_notification_events_relay_pending
        ON notification_events (created_at) WHERE status = 'pending'"#,
    r#"CREATE INDEX IF NOT EXISTS idx_notification_events_relay_leases
        ON notification_events (locked_until) WHERE status = 'sending'"#,
    "CREATE INDEX IF NOT EXISTS idx_notification_events_listing ON notification_events (created_at DESC, id DESC)",
    "CREATE INDEX IF NOT EXISTS idx_notification_events_status ON notification_events (status, created_at DESC)",
    "CREATE INDEX IF NOT EXISTS idx_notification_events_channel ON notification_events (channel_id, created_at DESC)",
    "CREATE INDEX IF NOT EXISTS idx_notification_events_certificate ON notification_events (certificate_id)",
    r#"CREATE TABLE IF NOT EXISTS notification_attempts (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        notification_id UUID NOT NULL REFERENCES notification_events (id),
        -- 1-based; each attempt number is recorded once.
        attempt INTEGER NOT NULL,
        started_at TIMESTAMPTZ NOT NULL,
        duration_ms INTEGER NOT NULL,
        outcome TEXT NOT NULL CHECK (outcome IN ('delivered', 'rejected', 'unreachable', 'channel_unavailable')),
        -- HTTP status, or SMTP reply code.
        status_code INTEGER,
        error TEXT,
        worker TEXT NOT NULL,
        UNIQUE (notification_id, attempt)
    )"#,
];

const DOWN: &[&str] = &[
    "DROP TABLE IF EXISTS notification_attempts",
    "DROP TABLE IF EXISTS notification_events",
    "DROP TABLE IF EXISTS notification_channels",
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

//! The retry sweep: publishes failed rows whose `next_retry_at` has come, through the partial
//! index `idx_notification_events_retry_sweep`, every `CERTCTL_NOTIFICATION_RETRY_INTERVAL` and
//! also at the earliest `next_retry_at`, so a retry is not late by up to an interval.
//!
//! Each row it publishes is stamped `dispatched_at` and not published again within the relay's
//! grace period unless a worker claimed it meanwhile (a claim clears the stamp): a backlog of due
//! rows behind a slow receiver is published once, not on every tick until a worker gets to it.

use std::sync::Arc;
use std::time::Duration;

use certctl_shared::queue::Publisher;
use certctl_shared::repo::notifications;
use chrono::Utc;
use sea_orm::DatabaseConnection;

use crate::metrics::WorkerMetrics;

/// Rows published per tick; a larger backlog is taken on the next tick, at once.
pub const BATCH: i64 = 500;

pub struct RetrySweep {
    pub db: DatabaseConnection,
    pub publisher: Publisher,
    pub metrics: Arc<WorkerMetrics>,
    /// How long a published row is left alone before it is published again.
    pub grace: Duration,
    /// The longest sleep between ticks.
    pub interval: Duration,
}

impl super::Tick for RetrySweep {
    const NAME: &'static str = "retry_sweep";

    async fn tick(&self) -> anyhow::Result<Duration> {
        let due = notifications::dispatch_due_retries(&self.db, self.grace, BATCH).await?;
        let mut published = 0;
        let mut failed = false;
        for id in &due {
            match self.publisher.publish(*id).await {
                Ok(()) => published += 1,
                Err(e) => {
                    // The rest were stamped but not sent: they come round again after the grace.
                    tracing::warn!(error = %e, "retry sweep could not publish; will try again");
                    failed = true;
                    break;
                }
            }
        }
        self.metrics
            .republished
            .with_label_values(&[Self::NAME])
            .inc_by(published);
        if failed {
            return Ok(Duration::from_secs(1));
        }
        if due.len() as i64 == BATCH {
            return Ok(Duration::ZERO);
        }
        // Sleep until the earliest scheduled retry, or the interval, whichever is sooner.
        let wait = match notifications::earliest_retry(&self.db).await? {
            Some(at) => (at - Utc::now()).to_std().unwrap_or(Duration::ZERO).min(self.interval),
            None => self.interval,
        };
        // A row published now is claimable only once due, so never spin faster than this.
        Ok(wait.max(Duration::from_millis(20)))
    }
}

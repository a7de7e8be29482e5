//! The retry sweep: publishes failed rows whose `next_retry_at` has come, through the partial
//! index `idx_notification_events_retry_sweep`, every `CERTCTL_NOTIFICATION_RETRY_INTERVAL` and
//! also at the earliest `next_retry_at`, so a retry is not late by up to an interval.
//!
//! Each row it publishes is stamped `dispatched_at` and not published again within the relay's
//! grace period unless a worker claimed it meanwhile (a claim clears the stamp): a backlog of due
//! rows behind a slow receiver is published once, not on every tick until a worker gets to it.

use std::time::Duration;

use certctl_shared::queue::Publisher;
use certctl_shared::repo::notifications;
use chrono::Utc;
use sea_orm::DatabaseConnection;

use crate::metrics::WorkerMetrics;

/// Rows published per tick; a larger backlog is taken on the next tick, at once.
pub const BATCH: i64 = 500;

pub async fn tick(
    db: &DatabaseConnection,
    publisher: &Publisher,
    metrics: &WorkerMetrics,
    grace: Duration,
    interval: Duration,
) -> anyhow::Result<Duration> {
    let due = notifications::dispatch_due_retries(db, grace, BATCH).await?;
    let mut published = 0;
    for id in &due {
        match publisher.publish(*id).await {
            Ok(()) => published += 1,
            Err(e) => {
                // The rest were stamped but not sent: they come round again after the grace.
                tracing::warn!(error = %e, "retry sweep could not publish; will try again");
                metrics
                    .republished
                    .with_label_values(&["retry_sweep"])
                    .inc_by(published);
                return Ok(Duration::from_secs(1));
            }
        }
    }
    metrics
        .republished
        .with_label_values(&["retry_sweep"])
        .inc_by(published);
    if due.len() as i64 == BATCH {
        return Ok(Duration::ZERO);
    }
    // Sleep until the earliest scheduled retry, or the interval, whichever is sooner.
    let wait = match notifications::earliest_retry(db).await? {
        Some(at) => (at - Utc::now()).to_std().unwrap_or(Duration::ZERO).min(interval),
        None => interval,
    };
    // A row published now is claimable only once due, so never spin faster than this.
    Ok(wait.max(Duration::from_millis(20)))
}

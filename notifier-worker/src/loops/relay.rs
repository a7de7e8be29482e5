//! The outbox relay: republishes rows left `pending` past the grace period (a crash or broker
//! outage between commit and publish) and rows stuck in `sending` whose lease expired (a worker
//! died mid-delivery), through their partial indexes.

use std::time::Duration;

use certctl_shared::queue::Publisher;
use certctl_shared::repo::notifications;
use sea_orm::DatabaseConnection;

use crate::metrics::WorkerMetrics;

pub const BATCH: i64 = 500;

pub async fn tick(
    db: &DatabaseConnection,
    publisher: &Publisher,
    metrics: &WorkerMetrics,
    grace: Duration,
    interval: Duration,
) -> anyhow::Result<Duration> {
    let stranded = notifications::stranded(db, grace, BATCH).await?;
    let mut published = 0;
    for id in &stranded {
        match publisher.publish(*id).await {
            Ok(()) => published += 1,
            Err(e) => {
                tracing::warn!(error = %e, "relay could not publish; will try again");
                return Ok(interval);
            }
        }
    }
    if published > 0 {
        tracing::info!(count = published, "relay republished stranded notifications");
    }
    metrics.republished.with_label_values(&["relay"]).inc_by(published);
    Ok(interval)
}

//! The expiry scan: queues `expiration_warning` notifications as certificates cross the
//! configured thresholds, once per certificate × threshold × channel.

use std::time::Duration;

use certctl_shared::queue::Publisher;
use certctl_shared::repo::notifications;
use sea_orm::DatabaseConnection;

use crate::metrics::WorkerMetrics;

pub async fn tick(
    db: &DatabaseConnection,
    publisher: &Publisher,
    metrics: &WorkerMetrics,
    thresholds: &[i32],
    interval: Duration,
) -> anyhow::Result<Duration> {
    let queued = notifications::enqueue_expiry_warnings(db, thresholds).await?;
    if !queued.is_empty() {
        tracing::info!(count = queued.len(), "queued expiry warnings");
    }
    let mut published = 0;
    for id in &queued {
        // A row not published now stays pending; the relay picks it up after its grace period.
        if let Err(e) = publisher.publish(*id).await {
            tracing::warn!(error = %e, "could not publish expiry warnings; the relay will");
            break;
        }
        published += 1;
    }
    metrics.republished.with_label_values(&["expiry"]).inc_by(published);
    Ok(interval)
}

//! The expiry scan: queues `expiration_warning` notifications as certificates cross the
//! configured thresholds, once per certificate × threshold × channel: certificates of the
//! inventory, and certificates discovery found that certctl did not issue.

use std::sync::Arc;
use std::time::Duration;

use certctl_shared::queue::Publisher;
use certctl_shared::repo::notifications;
use sea_orm::DatabaseConnection;

use crate::metrics::WorkerMetrics;

pub struct ExpiryScan {
    pub db: DatabaseConnection,
    pub publisher: Publisher,
    pub metrics: Arc<WorkerMetrics>,
    /// Warning thresholds in days (0: has expired).
    pub thresholds: Vec<i32>,
    pub interval: Duration,
}

impl super::Tick for ExpiryScan {
    const NAME: &'static str = "expiry_scan";

    async fn tick(&self) -> anyhow::Result<Duration> {
        let mut queued = notifications::enqueue_expiry_warnings(&self.db, &self.thresholds).await?;
        queued.extend(notifications::enqueue_discovered_expiry_warnings(&self.db, &self.thresholds).await?);
        if !queued.is_empty() {
            tracing::info!(count = queued.len(), "queued expiry warnings");
        }
        let mut published = 0;
        for id in &queued {
            // A row not published now stays pending; the relay picks it up after its grace period.
            if let Err(e) = self.publisher.publish(*id).await {
                tracing::warn!(error = %e, "could not publish expiry warnings; the relay will");
                break;
            }
            published += 1;
        }
        self.metrics
            .republished
            .with_label_values(&["expiry"])
            .inc_by(published);
        Ok(self.interval)
    }
}

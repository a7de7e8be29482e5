//! The outbox relay. Each tick it
//!
//! 1. takes over rows whose lease expired mid-attempt (their worker died, or lost the database for
//!    longer than the lease): the attempt recorded at claim time becomes `lost`, and counts like
//!    any failed attempt, so the row is retried on the schedule, or goes `dead` if that was its
//!    last attempt. A row whose deliveries keep killing workers therefore ends up dead and
//!    visible instead of looping forever;
//! 2. publishes rows left `pending` past the grace period (a crash or broker outage between commit
//!    and publish), stamping `dispatched_at` so that a row is published at most once per grace
//!    period, however long the queue ahead of it.

use std::sync::Arc;
use std::time::Duration;

use certctl_shared::queue::Publisher;
use certctl_shared::repo::notifications::{self, Lost, Outcome};
use certctl_shared::retry::RetryPolicy;
use chrono::Utc;
use sea_orm::{DatabaseConnection, TransactionTrait};
use tokio::sync::Notify;

use crate::metrics::WorkerMetrics;

pub const BATCH: i64 = 500;

pub struct Relay {
    pub db: DatabaseConnection,
    pub publisher: Publisher,
    pub metrics: Arc<WorkerMetrics>,
    pub policy: RetryPolicy,
    pub grace: Duration,
    pub interval: Duration,
    /// Woken when a lost attempt was scheduled for a retry.
    pub sweep_wake: Arc<Notify>,
}

impl super::Tick for Relay {
    const NAME: &'static str = "relay";

    async fn tick(&self) -> anyhow::Result<Duration> {
        self.reclaim_lost().await?;
        let stranded = notifications::dispatch_stranded(&self.db, self.grace, BATCH).await?;
        let mut published = 0;
        for id in &stranded {
            match self.publisher.publish(*id).await {
                Ok(()) => published += 1,
                Err(e) => {
                    // The rest were stamped but not sent: they come round again after the grace.
                    tracing::warn!(error = %e, "relay could not publish; will try again");
                    break;
                }
            }
        }
        if published > 0 {
            tracing::info!(count = published, "relay republished stranded notifications");
        }
        self.metrics
            .republished
            .with_label_values(&[Self::NAME])
            .inc_by(published);
        Ok(self.interval)
    }
}

impl Relay {
    /// Records the attempts of rows abandoned mid-attempt as lost, and schedules their rows.
    async fn reclaim_lost(&self) -> anyhow::Result<()> {
        let txn = self.db.begin().await?;
        let abandoned = notifications::lock_abandoned(&txn, BATCH).await?;
        if abandoned.is_empty() {
            return Ok(());
        }
        let now = Utc::now();
        let lost: Vec<Lost> = abandoned
            .iter()
            .map(|a| {
                let error = format!(
                    "lost: worker {} stopped before recording the attempt's outcome (its lease expired)",
                    a.locked_by.as_deref().unwrap_or("unknown")
                );
                let attempt = u32::try_from(a.retry_count).unwrap_or(0) + 1;
                let outcome = Outcome::failed(self.policy.after_failure(attempt, now), error);
                Lost { id: a.id, outcome }
            })
            .collect();
        notifications::record_lost(&txn, &lost).await?;
        txn.commit().await?;
        for l in &lost {
            self.metrics.attempts.with_label_values(&["unknown", "lost"]).inc();
            match &l.outcome {
                Outcome::Dead { retry_count, .. } => {
                    self.metrics.dead_total.inc();
                    tracing::error!(notification.id = %l.id, retry_count, "attempt lost with its worker; that was the last one, the notification is dead");
                }
                _ => tracing::warn!(notification.id = %l.id, "attempt lost with its worker; retry scheduled"),
            }
        }
        self.sweep_wake.notify_one();
        Ok(())
    }
}

//! Prometheus metrics of the worker.

use prometheus::{HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry};

pub struct WorkerMetrics {
    /// Attempts by channel kind and outcome (delivered, rejected, unreachable, channel_unavailable).
    pub attempts: IntCounterVec,
    pub latency: HistogramVec,
    /// Rows moved to `dead` (the seed's name, as a counter of transitions).
    pub dead_total: IntCounter,
    /// Messages that could not be understood; their rows, if any, are safe in PostgreSQL.
    pub poison: IntCounter,
    /// Messages whose row was not claimable (already sent, dead, not yet due, or leased).
    pub skipped: IntCounter,
    pub lost_leases: IntCounter,
    pub republished: IntCounterVec,
    pub loop_ticks: IntCounterVec,
}

impl WorkerMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let m = Self {
            attempts: IntCounterVec::new(
                Opts::new(
                    "certctl_notification_attempts_total",
                    "delivery attempts by channel kind and outcome",
                ),
                &["kind", "outcome"],
            )?,
            latency: HistogramVec::new(
                HistogramOpts::new(
                    "certctl_notification_delivery_seconds",
                    "delivery attempt duration by channel kind",
                )
                .buckets(vec![
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                ]),
                &["kind"],
            )?,
            dead_total: IntCounter::new(
                "certctl_notification_dead_total",
                "notifications moved to dead (attempts exhausted or channel gone)",
            )?,
            poison: IntCounter::new(
                "certctl_notification_poison_messages_total",
                "queue messages that could not be parsed",
            )?,
            skipped: IntCounter::new(
                "certctl_notification_messages_skipped_total",
                "queue messages whose row was not claimable (duplicates, not yet due, or done)",
            )?,
            lost_leases: IntCounter::new(
                "certctl_notification_lost_leases_total",
                "attempts whose outcome was not recorded because the lease had expired and passed on",
            )?,
            republished: IntCounterVec::new(
                Opts::new(
                    "certctl_notification_republished_total",
                    "rows published again by the worker's loops",
                ),
                &["loop"],
            )?,
            loop_ticks: IntCounterVec::new(
                Opts::new("certctl_worker_loop_ticks_total", "loop ticks by loop and result"),
                &["loop", "result"],
            )?,
        };
        registry.register(Box::new(m.attempts.clone()))?;
        registry.register(Box::new(m.latency.clone()))?;
        registry.register(Box::new(m.dead_total.clone()))?;
        registry.register(Box::new(m.poison.clone()))?;
        registry.register(Box::new(m.skipped.clone()))?;
        registry.register(Box::new(m.lost_leases.clone()))?;
        registry.register(Box::new(m.republished.clone()))?;
        registry.register(Box::new(m.loop_ticks.clone()))?;
        Ok(m)
    }
}

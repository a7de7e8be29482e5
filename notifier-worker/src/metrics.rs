//! Prometheus metrics of the worker.

use prometheus::{
    GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};

pub struct WorkerMetrics {
    /// Attempts by channel kind and outcome (delivered, rejected, unreachable, channel_unavailable;
    /// `lost` ones, counted by the relay, under kind `unknown`).
    pub attempts: IntCounterVec,
    pub latency: HistogramVec,
    /// Rows moved to `dead` (the name earlier certctl dashboards use, as a counter of transitions).
    pub dead_total: IntCounter,
    /// Messages dead-lettered to the poison queue, by reason (`unparseable`, `delivery_limit`);
    /// their rows, if any, are safe in PostgreSQL.
    pub poison: IntCounterVec,
    /// Deliveries waiting for the database to answer again, holding their messages unacked.
    pub paused: IntGauge,
    /// Messages whose row was not claimable (already sent, dead, not yet due, or leased).
    pub skipped: IntCounter,
    pub lost_leases: IntCounter,
    pub republished: IntCounterVec,
    pub loop_ticks: IntCounterVec,
    pub crl_builds: IntCounterVec,
    pub crl_build_seconds: Histogram,
    /// Seconds since the thisUpdate of each issuer's newest CRL (+Inf with none).
    pub crl_age: GaugeVec,
    /// Seconds until the nextUpdate of each issuer's newest CRL.
    pub crl_next_update: GaugeVec,
    /// Seconds until each issuer's newest OCSP responder certificate expires.
    pub signer_expiry: GaugeVec,
    /// Seconds until each CA certificate expires.
    pub ca_expiry: GaugeVec,
    pub ocsp_signers_created: IntCounter,
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
            poison: IntCounterVec::new(
                Opts::new(
                    "certctl_notification_poison_messages_total",
                    "queue messages sent to the poison queue, by reason",
                ),
                &["reason"],
            )?,
            paused: IntGauge::new(
                "certctl_notification_deliveries_paused",
                "deliveries waiting for the database to answer again",
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
            crl_builds: IntCounterVec::new(
                Opts::new("certctl_crl_builds_total", "CRL builds by result"),
                &["result"],
            )?,
            crl_build_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "certctl_crl_build_seconds",
                    "time to read, build, sign and store one CRL",
                )
                .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
            )?,
            crl_age: GaugeVec::new(
                Opts::new(
                    "certctl_crl_age_seconds",
                    "seconds since the newest CRL of each issuer was issued",
                ),
                &["issuer"],
            )?,
            crl_next_update: GaugeVec::new(
                Opts::new(
                    "certctl_crl_next_update_seconds",
                    "seconds until the nextUpdate of the newest CRL of each issuer (negative: stale)",
                ),
                &["issuer"],
            )?,
            signer_expiry: GaugeVec::new(
                Opts::new(
                    "certctl_ocsp_signer_expiry_seconds",
                    "seconds until the newest OCSP responder certificate of each issuer expires",
                ),
                &["issuer"],
            )?,
            ca_expiry: GaugeVec::new(
                Opts::new("certctl_ca_expiry_seconds", "seconds until each CA certificate expires"),
                &["issuer"],
            )?,
            ocsp_signers_created: IntCounter::new(
                "certctl_ocsp_signers_created_total",
                "delegated OCSP responder certificates issued",
            )?,
        };
        registry.register(Box::new(m.crl_builds.clone()))?;
        registry.register(Box::new(m.crl_build_seconds.clone()))?;
        registry.register(Box::new(m.crl_age.clone()))?;
        registry.register(Box::new(m.crl_next_update.clone()))?;
        registry.register(Box::new(m.signer_expiry.clone()))?;
        registry.register(Box::new(m.ca_expiry.clone()))?;
        registry.register(Box::new(m.ocsp_signers_created.clone()))?;
        registry.register(Box::new(m.attempts.clone()))?;
        registry.register(Box::new(m.latency.clone()))?;
        registry.register(Box::new(m.dead_total.clone()))?;
        registry.register(Box::new(m.poison.clone()))?;
        registry.register(Box::new(m.paused.clone()))?;
        registry.register(Box::new(m.skipped.clone()))?;
        registry.register(Box::new(m.lost_leases.clone()))?;
        registry.register(Box::new(m.republished.clone()))?;
        registry.register(Box::new(m.loop_ticks.clone()))?;
        Ok(m)
    }
}

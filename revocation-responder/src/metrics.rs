//! Prometheus metrics of the responder.

use prometheus::{Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

pub struct ResponderMetrics {
    /// Answers by kind (crl, ca, ocsp) and result.
    pub responses: IntCounterVec,
    pub shed: IntCounter,
    pub refresh_errors: IntCounter,
    pub refresh_seconds: Histogram,
    /// Seconds since the database last answered a refresh.
    pub staleness: Gauge,
    pub serials: IntGauge,
    pub issuers_without_signer: IntGauge,
    pub cached_responses: IntGauge,
}

impl ResponderMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let m = Self {
            responses: IntCounterVec::new(
                Opts::new("certctl_responder_responses_total", "answers by kind and result"),
                &["kind", "result"],
            )?,
            shed: IntCounter::new(
                "certctl_responder_shed_total",
                "requests refused at once because the concurrency limit was reached or they timed out",
            )?,
            refresh_errors: IntCounter::new(
                "certctl_responder_refresh_errors_total",
                "status cache refreshes that failed to reach the database",
            )?,
            refresh_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "certctl_responder_refresh_seconds",
                    "duration of one status cache refresh",
                )
                .buckets(vec![0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0]),
            )?,
            staleness: Gauge::new(
                "certctl_responder_cache_staleness_seconds",
                "seconds since the status cache last reached the database",
            )?,
            serials: IntGauge::new("certctl_responder_serials", "serials in the status cache")?,
            issuers_without_signer: IntGauge::new(
                "certctl_responder_issuers_without_signer",
                "live issuers this responder cannot sign OCSP responses for",
            )?,
            cached_responses: IntGauge::new(
                "certctl_responder_cached_responses",
                "signed OCSP responses held in memory",
            )?,
        };
        registry.register(Box::new(m.cached_responses.clone()))?;
        registry.register(Box::new(m.responses.clone()))?;
        registry.register(Box::new(m.shed.clone()))?;
        registry.register(Box::new(m.refresh_errors.clone()))?;
        registry.register(Box::new(m.refresh_seconds.clone()))?;
        registry.register(Box::new(m.staleness.clone()))?;
        registry.register(Box::new(m.serials.clone()))?;
        registry.register(Box::new(m.issuers_without_signer.clone()))?;
        Ok(m)
    }

    pub fn served(&self, kind: &str, result: &str) {
        self.responses.with_label_values(&[kind, result]).inc();
    }
}

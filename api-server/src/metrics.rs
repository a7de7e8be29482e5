//! Prometheus metrics of the API server.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

pub struct ApiMetrics {
    pub requests: IntCounterVec,
    pub latency: HistogramVec,
    pub auth_failures: IntCounterVec,
    pub authz_denials: IntCounterVec,
    pub certificates_issued: IntCounterVec,
}

impl ApiMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let m = Self {
            requests: IntCounterVec::new(
                Opts::new(
                    "certctl_http_requests_total",
                    "HTTP requests by route, method and status",
                ),
                &["method", "route", "status"],
            )?,
            latency: HistogramVec::new(
                HistogramOpts::new("certctl_http_request_duration_seconds", "HTTP request latency by route").buckets(
                    vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0],
                ),
                &["method", "route"],
            )?,
            auth_failures: IntCounterVec::new(
                Opts::new("certctl_auth_failures_total", "requests refused with 401, by reason"),
                &["reason"],
            )?,
            authz_denials: IntCounterVec::new(
                Opts::new(
                    "certctl_authz_denials_total",
                    "requests refused with 403, by permission",
                ),
                &["permission"],
            )?,
            certificates_issued: IntCounterVec::new(
                Opts::new(
                    "certctl_certificates_issued_total",
                    "certificates issued, by key algorithm",
                ),
                &["key_algorithm"],
            )?,
        };
        registry.register(Box::new(m.requests.clone()))?;
        registry.register(Box::new(m.latency.clone()))?;
        registry.register(Box::new(m.auth_failures.clone()))?;
        registry.register(Box::new(m.authz_denials.clone()))?;
        registry.register(Box::new(m.certificates_issued.clone()))?;
        Ok(m)
    }
}

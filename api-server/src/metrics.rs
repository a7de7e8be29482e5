//! Prometheus metrics of the API server.

use prometheus::{Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

/// The use cases' own counters (certificates issued, publish failures) are
/// `certctl_usecases::Counters`, registered beside these.
pub struct ApiMetrics {
    pub requests: IntCounterVec,
    pub latency: HistogramVec,
    pub auth_failures: IntCounterVec,
    pub authz_denials: IntCounterVec,
    /// Dead notifications right now, refreshed in the background.
    pub notifications_dead: IntGauge,
    pub notifications_undelivered: IntGaugeVec,
    pub oldest_undelivered: Gauge,
    /// EST, SCEP and ACME enrollments by protocol and outcome (`issued`, `pending`, `refused`;
    /// ACME also counts `error`, server-side failures).
    pub enrollments: IntCounterVec,
    /// Enrollment requests refused by a rate limit, by protocol and scope (`ip`, `credential`,
    /// `account`).
    pub enrollment_rate_limited: IntCounterVec,
    /// ACME challenge validation attempts by type and outcome (`valid`, `retry`, `invalid`).
    pub acme_validations: IntCounterVec,
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
            notifications_dead: IntGauge::new(
                "certctl_notifications_dead",
                "notifications that exhausted their attempts and wait for an operator",
            )?,
            notifications_undelivered: IntGaugeVec::new(
                Opts::new(
                    "certctl_notifications_undelivered",
                    "notifications still to be delivered, by status (pending, sending, failed)",
                ),
                &["status"],
            )?,
            oldest_undelivered: Gauge::new(
                "certctl_notification_oldest_undelivered_seconds",
                "age of the oldest notification still to be delivered (0 when none)",
            )?,
            enrollments: IntCounterVec::new(
                Opts::new(
                    "certctl_enrollments_total",
                    "EST, SCEP and ACME enrollments, by protocol and outcome (issued, pending, refused, error)",
                ),
                &["protocol", "outcome"],
            )?,
            enrollment_rate_limited: IntCounterVec::new(
                Opts::new(
                    "certctl_enrollment_rate_limited_total",
                    "enrollment requests refused by a rate limit, by protocol and scope (ip, credential, account)",
                ),
                &["protocol", "scope"],
            )?,
            acme_validations: IntCounterVec::new(
                Opts::new(
                    "certctl_acme_validations_total",
                    "ACME challenge validation attempts, by challenge type and outcome (valid, retry, invalid)",
                ),
                &["type", "outcome"],
            )?,
        };
        registry.register(Box::new(m.acme_validations.clone()))?;
        registry.register(Box::new(m.enrollments.clone()))?;
        registry.register(Box::new(m.enrollment_rate_limited.clone()))?;
        registry.register(Box::new(m.notifications_dead.clone()))?;
        registry.register(Box::new(m.notifications_undelivered.clone()))?;
        registry.register(Box::new(m.oldest_undelivered.clone()))?;
        registry.register(Box::new(m.requests.clone()))?;
        registry.register(Box::new(m.latency.clone()))?;
        registry.register(Box::new(m.auth_failures.clone()))?;
        registry.register(Box::new(m.authz_denials.clone()))?;
        Ok(m)
    }
}

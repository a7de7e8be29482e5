//! Shared application state.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::config::ApiConfig;
use certctl_pki::PkiUrls;
use certctl_shared::model::{ApiKeyId, NotificationId};
use sea_orm::DatabaseConnection;

use certctl_shared::queue::Publisher;

use crate::cache::Caches;
use crate::denials::Denials;
use crate::metrics::ApiMetrics;

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Arc<ApiConfig>,
    pub urls: Arc<PkiUrls>,
    pub metrics: Arc<ApiMetrics>,
    /// Issuers with their opened keys, and profiles as last read (see [`Caches`]).
    pub caches: Arc<Caches>,
    /// Publishes notification ids after their rows are committed.
    pub publisher: Publisher,
    /// When this replica last stamped each key's `last_used_at`, to keep that off the hot path.
    pub key_stamps: Arc<Mutex<HashMap<ApiKeyId, Instant>>>,
    /// Repeated identical 403s, aggregated before they reach the audit log.
    pub denials: Arc<Denials>,
    /// Rate limits of the enrollment protocols (EST, SCEP).
    pub enroll_limits: Arc<crate::throttle::Limits>,
    /// Rate limits of the ACME server (per source address and per account).
    pub acme_limits: Arc<crate::throttle::Limits>,
    /// Wakes this replica's ACME challenge validator when a client asks for a validation.
    pub acme_wake: Arc<tokio::sync::Notify>,
    /// EST passwords and SCEP challenges that verified recently (see `VerifiedSecrets`).
    pub verified_secrets: Arc<crate::secrets::VerifiedSecrets>,
}

impl AppState {
    /// Publishes committed notifications in the background. The request does not wait on the
    /// broker: if publishing fails (the broker is down, say), the rows stay `pending` and the
    /// worker's relay loop republishes them after its grace period.
    pub fn dispatch(&self, ids: Vec<NotificationId>) {
        if ids.is_empty() {
            return;
        }
        let publisher = self.publisher.clone();
        let metrics = self.metrics.clone();
        // Publish inside the request's span, so its W3C trace context travels in the headers.
        let span = tracing::Span::current();
        tokio::spawn(tracing::Instrument::instrument(
            async move {
                for id in ids {
                    if let Err(e) = publisher.publish(id).await {
                        metrics.publish_failures.inc();
                        tracing::warn!(notification.id = %id, error = %e, "failed to publish a notification; the relay will retry it");
                    }
                }
            },
            span,
        ));
    }
}

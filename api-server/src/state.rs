//! Shared application state.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::config::ApiConfig;
use certctl_shared::model::ApiKeyId;
use certctl_usecases::Core;

use crate::denials::Denials;
use crate::metrics::ApiMetrics;

/// The API server's state: the use cases' [`Core`] (reached through `Deref`, so `state.db` and
/// `state.dispatch(…)` read as before) and what only request handling needs.
#[derive(Clone)]
pub struct AppState {
    pub core: Core,
    pub config: Arc<ApiConfig>,
    pub metrics: Arc<ApiMetrics>,
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

impl std::ops::Deref for AppState {
    type Target = Core;

    fn deref(&self) -> &Core {
        &self.core
    }
}

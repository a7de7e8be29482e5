//! Shared application state.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use certctl_shared::config::ApiConfig;
use certctl_shared::pki::{LoadedIssuer, PkiUrls};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::metrics::ApiMetrics;

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Arc<ApiConfig>,
    pub urls: Arc<PkiUrls>,
    pub metrics: Arc<ApiMetrics>,
    /// Decrypted CA keys, loaded on first use. A CA's certificate and key never change, so the
    /// cache needs no invalidation; it only saves an unseal and key parse per issuance.
    pub issuers: Arc<Mutex<HashMap<Uuid, Arc<LoadedIssuer>>>>,
    /// When this replica last stamped each key's `last_used_at`, to keep that off the hot path.
    pub key_stamps: Arc<Mutex<HashMap<Uuid, Instant>>>,
}

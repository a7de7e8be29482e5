//! `certctl-api-server`: the REST API (`/api/v1`) — PKI lifecycle, named API keys and roles, and
//! the append-only audit log. Stateless: every replica reads and writes PostgreSQL only.

pub mod acme;
pub mod auth;
pub mod config;
pub mod denials;
pub mod enroll;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod openapi;
pub mod query;
pub mod routes;
pub mod secrets;
/// The use cases, in their own crate so the worker's loops run the same ones.
pub use certctl_usecases as service;
pub use certctl_usecases::cache;
pub mod state;
pub mod throttle;
pub mod web;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::config::ApiConfig;
use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::header;
use axum::response::IntoResponse;
use certctl_pki::PkiUrls;
use certctl_shared::admin;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::metrics::ApiMetrics;
use crate::state::AppState;

/// The two sockets the API server serves: the public API and the admin endpoints.
pub struct Listeners {
    pub api: TcpListener,
    pub admin: TcpListener,
}

/// Runs the API server until `shutdown` is cancelled.
pub async fn run(config: ApiConfig, listeners: Listeners, shutdown: CancellationToken) -> anyhow::Result<()> {
    if config.keys.is_insecure_dev_key() {
        tracing::warn!(
            "CERTCTL_DEV_MODE without CERTCTL_KEY_ENCRYPTION_KEY: CA keys are sealed with a publicly known development key"
        );
    }
    let db = certctl_shared::db::connect(&config.common)
        .await
        .context("failed to connect to CERTCTL_DATABASE_URL")?;
    if let Some(secret) = &config.bootstrap_admin_key {
        let created = service::api_keys::bootstrap(&db, secret.expose())
            .await
            .map_err(|e| anyhow::anyhow!("failed to bootstrap the admin key: {e}"))?;
        if created {
            tracing::info!(
                name = service::api_keys::BOOTSTRAP_KEY_NAME,
                "created the bootstrap admin key"
            );
        }
    }
    match service::channels::reseal_legacy_rows(&db, &config.keys).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(channels = n, "resealed channel settings written by an earlier version"),
        // Not fatal: such rows are still shown redacted, and the next start tries again.
        Err(e) => tracing::error!(error = format!("{e:#}"), "failed to reseal channel settings"),
    }
    let registry = admin::registry("api-server");
    let metrics = ApiMetrics::register(&registry).context("failed to register metrics")?;
    let counters = certctl_usecases::Counters::register(&registry).context("failed to register metrics")?;
    let broker = certctl_shared::queue::Broker::default();
    // The broker connection outlives the HTTP drain, so requests finishing late still publish.
    let broker_shutdown = CancellationToken::new();
    let supervisor = tokio::spawn(
        broker
            .clone()
            .supervise(config.amqp.url.clone(), broker_shutdown.clone()),
    );
    let publisher = certctl_shared::queue::Publisher::new(
        broker,
        certctl_shared::queue::Topology::new(&config.amqp.prefix).with_expiry(config.amqp.queue_expires),
    );
    match &config.web_dir {
        Some(dir) => tracing::info!(dir = %dir.display(), "serving the web console at /"),
        None => tracing::info!(
            "no web console: CERTCTL_WEB_DIR is off, or unset and {} has no index.html",
            config::DEFAULT_WEB_DIR
        ),
    }
    let config_denial_window = config.audit_denial_window;
    let config = Arc::new(config);
    let state = AppState {
        core: certctl_usecases::Core {
            publisher,
            db: db.clone(),
            keys: config.keys.clone(),
            urls: Arc::new(PkiUrls::new(&config.public_pki_url)),
            caches: Arc::new(cache::Caches::default()),
            counters: Arc::new(counters),
        },
        config: config.clone(),
        metrics: Arc::new(metrics),
        key_stamps: Arc::new(Mutex::new(HashMap::new())),
        denials: Arc::new(denials::Denials::new(config_denial_window)),
        verified_secrets: Arc::new(secrets::VerifiedSecrets::new()),
        enroll_limits: Arc::new(throttle::Limits::new(
            config.enroll_rate_per_ip,
            config.enroll_rate_per_credential,
        )),
        acme_limits: Arc::new(throttle::Limits::new(
            config.acme.rate_per_ip,
            config.acme.rate_per_account,
        )),
        acme_wake: Arc::new(tokio::sync::Notify::new()),
    };
    // Ready means the database answers and has this build's schema; a broker outage is absorbed
    // by the outbox.
    let (ready_db, schema) = (db.clone(), certctl_shared::db::SchemaGate::default());
    let readiness: admin::ReadinessCheck = Arc::new(move || {
        let (db, schema) = (ready_db.clone(), schema.clone());
        Box::pin(async move {
            certctl_shared::db::ping(&db)
                .await
                .map_err(|e| format!("database: {e}"))?;
            schema.check(&db).await
        })
    });
    let api_addr = listeners.api.local_addr()?;
    let admin_addr = listeners.admin.local_addr()?;
    tracing::info!(api = %api_addr, admin = %admin_addr, tls = state.config.tls.is_some(), "api-server listening");
    let tls = state.config.tls.clone();
    let validator_state = state.clone();
    let gauge_metrics = state.metrics.clone();
    let denials = state.denials.clone();
    let api = certctl_shared::serve::serve(listeners.api, app(state), tls.as_ref(), shutdown.clone());
    let admin = certctl_shared::serve::serve(
        listeners.admin,
        admin::router(registry, readiness),
        None,
        shutdown.clone(),
    );
    let gauges = tokio::spawn(refresh_gauges(db.clone(), gauge_metrics, shutdown.clone()));
    let validator = tokio::spawn(acme::validate::run(validator_state, shutdown.clone()));
    // Stops only after the listeners have drained, so the last denials are written too.
    let denials_stop = CancellationToken::new();
    let denials_flush = {
        let (denials, db, stop) = (denials.clone(), db.clone(), denials_stop.clone());
        tokio::spawn(async move { denials.flush_until(&db, stop).await })
    };
    let (a, b) = tokio::join!(api, admin);
    shutdown.cancel();
    denials_stop.cancel();
    broker_shutdown.cancel();
    let _ = tokio::join!(supervisor, gauges, denials_flush, validator);
    a.context("api listener failed")?;
    b.context("admin listener failed")?;
    db.close().await.ok();
    tracing::info!("api-server stopped");
    Ok(())
}

/// The API router with its tower layers: request ids, tracing, panics and body limits (the
/// per-request deadline sits inside, in `routes`, so timeouts are counted and answered as problems).
pub fn app(state: AppState) -> Router {
    let max_body = state.config.max_body_bytes;
    routes::router(state)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal(anyhow::anyhow!("handler panicked")).into_response()
        }))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            let request_id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
            let span = tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %request_id);
            certctl_shared::telemetry::set_parent_from_http(&span, req.headers());
            span
        }))
        .layer(SetSensitiveRequestHeadersLayer::new([header::AUTHORIZATION]))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// Refreshes the notification backlog gauges (`certctl_notifications_dead`,
/// `certctl_notifications_undelivered`, `certctl_notification_oldest_undelivered_seconds`) every
/// 15 s, from one indexed pass over the unsent rows.
async fn refresh_gauges(db: sea_orm::DatabaseConnection, metrics: Arc<ApiMetrics>, shutdown: CancellationToken) {
    let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    loop {
        match certctl_shared::repo::notifications::backlog(&db).await {
            Ok(b) => {
                metrics.notifications_dead.set(gauge(b.dead));
                for (status, n) in [("pending", b.pending), ("sending", b.sending), ("failed", b.failed)] {
                    metrics
                        .notifications_undelivered
                        .with_label_values(&[status])
                        .set(gauge(n));
                }
                metrics.oldest_undelivered.set(b.oldest_undelivered_secs);
            }
            Err(e) => tracing::warn!(error = %e, "failed to count the notification backlog"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(std::time::Duration::from_secs(15)) => {}
        }
    }
}

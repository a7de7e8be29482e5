//! `certctl-revocation-responder`: the public, unauthenticated CRL and OCSP service under
//! `/.well-known/pki/`. It reads PostgreSQL only (through a role that cannot see CA keys), serves
//! CRLs as the worker stored them and signs OCSP responses with the delegated responder keys.
//! Requests are answered from memory; a refresher keeps that memory within
//! `CERTCTL_RESPONDER_REFRESH_INTERVAL` of the database.

pub mod config;
#[cfg(feature = "fixture")]
pub mod fixture;
pub mod metrics;
pub mod ocsp;
pub mod openapi;
pub mod routes;
pub mod store;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::ResponderConfig;
use anyhow::Context;
use axum::error_handling::HandleErrorLayer;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use certctl_shared::admin;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;

use crate::metrics::ResponderMetrics;
use crate::ocsp::OcspSettings;
use crate::routes::PublicState;
use crate::store::{Refresher, Store};

pub struct Listeners {
    pub public: TcpListener,
    pub admin: TcpListener,
}

/// Runs the responder until `shutdown` is cancelled.
pub async fn run(config: ResponderConfig, listeners: Listeners, shutdown: CancellationToken) -> anyhow::Result<()> {
    if config.responder_keys.is_insecure_dev_key() {
        tracing::warn!(
            "CERTCTL_DEV_MODE without CERTCTL_RESPONDER_KEY_ENCRYPTION_KEY: using the publicly known development key"
        );
    }
    let db = certctl_shared::db::connect(&config.common)
        .await
        .context("failed to connect to CERTCTL_DATABASE_URL")?;
    let registry = admin::registry("revocation-responder");
    let metrics = Arc::new(ResponderMetrics::register(&registry).context("failed to register metrics")?);
    let store = Arc::new(Store::with_cache_limit(config.ocsp_cache_entries));
    let mut refresher = Refresher::new(store.clone(), db.clone(), config.responder_keys.clone());

    // The first load happens before the listener answers anything but 503s from readiness.
    let refresh = {
        let (metrics, shutdown, interval) = (metrics.clone(), shutdown.clone(), config.refresh_interval);
        let store = store.clone();
        tokio::spawn(async move {
            loop {
                let started = Instant::now();
                match tokio::time::timeout(Duration::from_secs(30), refresher.refresh()).await {
                    Ok(Ok(stats)) => {
                        metrics.refresh_seconds.observe(started.elapsed().as_secs_f64());
                        if stats.status_changes > 0 {
                            tracing::info!(revocations = stats.status_changes, "status cache updated");
                        }
                    }
                    Ok(Err(e)) => {
                        metrics.refresh_errors.inc();
                        tracing::warn!(
                            error = format!("{e:#}"),
                            "status cache refresh failed; serving what is cached"
                        );
                    }
                    Err(_) => {
                        metrics.refresh_errors.inc();
                        tracing::warn!("status cache refresh timed out; serving what is cached");
                    }
                }
                metrics.staleness.set(store.staleness().as_secs_f64());
                let issuers = store.issuers();
                metrics
                    .serials
                    .set(issuers.iter().map(|i| i.serial_count()).sum::<usize>() as i64);
                let now = time::OffsetDateTime::now_utc();
                metrics.issuers_without_signer.set(
                    issuers
                        .iter()
                        .filter(|i| i.not_after > now && i.valid_signer(now).is_none())
                        .count() as i64,
                );
                metrics.cached_responses.set(store.cached_responses() as i64);
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(interval) => {}
                }
            }
        })
    };

    // Ready once the schema is this build's (checked against the database until it is, then
    // remembered: later database outages are served from the cache) and the cache is loaded.
    let (ready_store, ready_db, schema) = (store.clone(), db.clone(), certctl_shared::db::SchemaGate::default());
    let readiness: admin::ReadinessCheck = Arc::new(move || {
        let (store, db, schema) = (ready_store.clone(), ready_db.clone(), schema.clone());
        Box::pin(async move {
            schema.check(&db).await?;
            store.readiness()
        })
    });
    let state = PublicState {
        store,
        settings: OcspSettings {
            validity: config.ocsp_validity,
            stale_after: config.stale_after,
        },
        max_age: config.max_age,
        metrics: metrics.clone(),
    };
    let shed_metrics = metrics.clone();
    // Load shedding: past the concurrency limit a request is refused at once (503) instead of
    // queueing, and none runs longer than the timeout.
    let public = routes::router(state, config.max_request_bytes)
        .merge(openapi::router())
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(move |err: tower::BoxError| {
                    let metrics = shed_metrics.clone();
                    async move {
                        metrics.shed.inc();
                        let detail = if err.is::<tower::timeout::error::Elapsed>() {
                            "the request took too long"
                        } else {
                            "the responder is at its concurrency limit"
                        };
                        let mut r = routes::problem(StatusCode::SERVICE_UNAVAILABLE, "overloaded", detail);
                        r.headers_mut()
                            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                        r.into_response()
                    }
                }))
                .load_shed()
                .concurrency_limit(config.concurrency_limit)
                .timeout(config.request_timeout),
        );
    tracing::info!(public = %listeners.public.local_addr()?, admin = %listeners.admin.local_addr()?, "revocation-responder listening");
    let (a, b) = tokio::join!(
        async {
            match config.tls.as_ref() {
                Some(tls) => certctl_shared::serve::serve(listeners.public, public, Some(tls), shutdown.clone()).await,
                None => certctl_shared::serve::serve_http1(listeners.public, public, shutdown.clone()).await,
            }
        },
        certctl_shared::serve::serve(
            listeners.admin,
            admin::router(registry, readiness),
            None,
            shutdown.clone()
        ),
    );
    shutdown.cancel();
    refresh.await.ok();
    a.context("public listener failed")?;
    b.context("admin listener failed")?;
    db.close().await.ok();
    tracing::info!("revocation-responder stopped");
    Ok(())
}

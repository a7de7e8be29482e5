//! The admin listener every daemon runs: `/healthz` (alive), `/readyz` (able to do its job) and
//! `/metrics` (Prometheus text format).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_core_shim::BoxFuture;
use prometheus::{Encoder, Registry, TextEncoder};

/// Boxed future alias without pulling in the `futures` crate.
mod futures_core_shim {
    pub type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;
}

/// A readiness probe: `Ok` when ready, otherwise the reason it is not.
pub type ReadinessCheck = Arc<dyn Fn() -> BoxFuture<Result<(), String>> + Send + Sync>;

#[derive(Clone)]
struct AdminState {
    registry: Registry,
    ready: ReadinessCheck,
}

pub fn router(registry: Registry, ready: ReadinessCheck) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(AdminState { registry, ready })
}

async fn readyz(State(state): State<AdminState>) -> Response {
    match (state.ready)().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(reason) => {
            tracing::warn!(reason = %reason, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {reason}")).into_response()
        }
    }
}

async fn metrics(State(state): State<AdminState>) -> Response {
    let encoder = TextEncoder::new();
    let mut buf = Vec::new();
    match encoder.encode(&state.registry.gather(), &mut buf) {
        Ok(()) => ([(header::CONTENT_TYPE, encoder.format_type().to_owned())], buf).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "failed to encode metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// A registry with `certctl_build_info{daemon, version}` set to 1.
pub fn registry(daemon: &str) -> Registry {
    let registry = Registry::new();
    let info = prometheus::IntGaugeVec::new(
        prometheus::Opts::new("certctl_build_info", "build information; always 1"),
        &["daemon", "version"],
    )
    .expect("static metric definition");
    info.with_label_values(&[daemon, env!("CARGO_PKG_VERSION")]).set(1);
    registry.register(Box::new(info)).expect("fresh registry");
    registry
}

//! `certctl-revocation-responder`: the public, unauthenticated CRL and OCSP service under
//! `/.well-known/pki/`. It reads PostgreSQL only and never holds a CA key.
//!
//! At this stage it connects, serves its admin endpoints and an empty public router, and stops
//! cleanly; the CRL and OCSP routes arrive with the revocation work.

use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use certctl_shared::admin;
use certctl_shared::config::ResponderConfig;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub struct Listeners {
    pub public: TcpListener,
    pub admin: TcpListener,
}

/// Runs the responder until `shutdown` is cancelled.
pub async fn run(config: ResponderConfig, listeners: Listeners, shutdown: CancellationToken) -> anyhow::Result<()> {
    let db = certctl_shared::db::connect(&config.common)
        .await
        .context("failed to connect to CERTCTL_DATABASE_URL")?;
    let ready_db = db.clone();
    let readiness: admin::ReadinessCheck = Arc::new(move || {
        let db = ready_db.clone();
        Box::pin(async move {
            certctl_shared::db::ping(&db)
                .await
                .map_err(|e| format!("database: {e}"))
        })
    });
    let registry = admin::registry("revocation-responder");
    let public = Router::new().fallback(|| async { (axum::http::StatusCode::NOT_FOUND, "not found") });
    tracing::info!(public = %listeners.public.local_addr()?, admin = %listeners.admin.local_addr()?, "revocation-responder listening");
    let (a, b) = tokio::join!(
        certctl_shared::serve::serve(listeners.public, public, config.tls.as_ref(), shutdown.clone()),
        certctl_shared::serve::serve(
            listeners.admin,
            admin::router(registry, readiness),
            None,
            shutdown.clone()
        ),
    );
    a.context("public listener failed")?;
    b.context("admin listener failed")?;
    db.close().await.ok();
    tracing::info!("revocation-responder stopped");
    Ok(())
}

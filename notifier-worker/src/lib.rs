//! `certctl-notifier-worker`: the notification delivery pool and the scheduled loops.
//!
//! At this stage it connects to PostgreSQL and RabbitMQ, serves its admin endpoints and stops
//! cleanly on shutdown; delivery and the loops arrive with the notifications and revocation work.

pub mod broker;

use std::sync::Arc;

use anyhow::Context;
use certctl_shared::admin;
use certctl_shared::config::WorkerConfig;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::broker::Broker;

pub struct Listeners {
    pub admin: TcpListener,
}

/// Runs the worker until `shutdown` is cancelled.
pub async fn run(config: WorkerConfig, listeners: Listeners, shutdown: CancellationToken) -> anyhow::Result<()> {
    if config.keys.is_insecure_dev_key() {
        tracing::warn!("CERTCTL_DEV_MODE without CERTCTL_KEY_ENCRYPTION_KEY: using the publicly known development key");
    }
    let db = certctl_shared::db::connect(&config.common)
        .await
        .context("failed to connect to CERTCTL_DATABASE_URL")?;
    let broker = Broker::default();
    let supervisor = tokio::spawn(broker.clone().supervise(config.amqp_url.clone(), shutdown.clone()));

    // The worker needs both: it reads rows from the database and work from the broker.
    let (ready_db, ready_broker) = (db.clone(), broker.clone());
    let readiness: admin::ReadinessCheck = Arc::new(move || {
        let (db, broker) = (ready_db.clone(), ready_broker.clone());
        Box::pin(async move {
            certctl_shared::db::ping(&db)
                .await
                .map_err(|e| format!("database: {e}"))?;
            if broker.connected() {
                Ok(())
            } else {
                Err("broker: not connected".to_owned())
            }
        })
    });
    let registry = admin::registry("notifier-worker");
    tracing::info!(admin = %listeners.admin.local_addr()?, "notifier-worker running");
    certctl_shared::serve::serve(
        listeners.admin,
        admin::router(registry, readiness),
        None,
        shutdown.clone(),
    )
    .await
    .context("admin listener failed")?;
    supervisor.await.ok();
    db.close().await.ok();
    tracing::info!("notifier-worker stopped");
    Ok(())
}

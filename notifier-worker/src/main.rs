//! `certctl-notifier-worker`: loads config, installs telemetry, binds, runs.

use anyhow::Context;
use certctl_notifier_worker::{Listeners, run};
use certctl_shared::config::{Env, WorkerConfig};

/// mimalloc: the request path allocates many small, short-lived buffers, which it serves with
/// less contention and CPU than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    certctl_shared::telemetry::install_crypto_provider();
    let config = WorkerConfig::from_env(&Env::process())?;
    let _telemetry = certctl_shared::telemetry::init("certctl-notifier-worker", config.common.log_format)?;
    let admin = tokio::net::TcpListener::bind(config.common.admin_addr)
        .await
        .with_context(|| format!("failed to bind CERTCTL_ADMIN_ADDR {}", config.common.admin_addr))?;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        certctl_shared::serve::shutdown_signal().await;
        trigger.cancel();
    });
    run(config, Listeners { admin }, shutdown).await
}

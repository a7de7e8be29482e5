//! `certctl-revocation-responder`: loads config, installs telemetry, binds, runs.

use anyhow::Context;
use certctl_revocation_responder::{Listeners, run};
use certctl_shared::config::{Env, ResponderConfig};

/// mimalloc: the request path allocates many small, short-lived buffers, which it serves with
/// less contention and CPU than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    certctl_shared::telemetry::install_crypto_provider();
    let config = ResponderConfig::from_env(&Env::process())?;
    let _telemetry = certctl_shared::telemetry::init("certctl-revocation-responder", config.common.log_format)?;
    let public = tokio::net::TcpListener::bind(config.responder_addr)
        .await
        .with_context(|| format!("failed to bind CERTCTL_RESPONDER_ADDR {}", config.responder_addr))?;
    let admin = tokio::net::TcpListener::bind(config.common.admin_addr)
        .await
        .with_context(|| format!("failed to bind CERTCTL_ADMIN_ADDR {}", config.common.admin_addr))?;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        certctl_shared::serve::shutdown_signal().await;
        trigger.cancel();
    });
    run(config, Listeners { public, admin }, shutdown).await
}

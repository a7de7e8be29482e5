//! `certctl-notifier-worker`: loads config, installs telemetry, binds, runs.

use certctl_notifier_worker::config::WorkerConfig;
use certctl_notifier_worker::{Listeners, run};
use certctl_shared::config::Env;

/// mimalloc: the request path allocates many small, short-lived buffers, which it serves with
/// less contention and CPU than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    certctl_shared::telemetry::install_crypto_provider();
    let config = WorkerConfig::from_env(&Env::process()?)?;
    let _telemetry = certctl_shared::telemetry::init("certctl-notifier-worker", config.common.log_format)?;
    let admin = certctl_shared::serve::bind("CERTCTL_ADMIN_ADDR", config.common.admin_addr).await?;
    let shutdown = certctl_shared::serve::shutdown_on_signal();
    run(config, Listeners { admin }, shutdown).await
}

//! `certctl-revocation-responder`: loads config, installs telemetry, binds, runs.

use certctl_revocation_responder::config::ResponderConfig;
use certctl_revocation_responder::{Listeners, run};
use certctl_shared::config::Env;

/// mimalloc: the request path allocates many small, short-lived buffers, which it serves with
/// less contention and CPU than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    certctl_shared::telemetry::install_crypto_provider();
    let config = ResponderConfig::from_env(&Env::process()?)?;
    let _telemetry = certctl_shared::telemetry::init("certctl-revocation-responder", config.common.log_format)?;
    let public = certctl_shared::serve::bind("CERTCTL_RESPONDER_ADDR", config.responder_addr).await?;
    let admin = certctl_shared::serve::bind("CERTCTL_ADMIN_ADDR", config.common.admin_addr).await?;
    let shutdown = certctl_shared::serve::shutdown_on_signal();
    run(config, Listeners { public, admin }, shutdown).await
}

//! `certctl-api-server`: loads config, installs telemetry, binds, runs.

use anyhow::Context;
use certctl_api_server::config::ApiConfig;
use certctl_api_server::{Listeners, run, service};
use certctl_shared::config::{CommonConfig, Env};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "certctl-api-server", version, about = "certctl REST API server")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Create an admin API key and print its secret (shown once).
    CreateAdminKey {
        #[arg(long)]
        name: String,
        /// The identity recorded in audit rows; defaults to the name.
        #[arg(long)]
        principal: Option<String>,
    },
}

/// mimalloc: the request path allocates many small, short-lived buffers, which it serves with
/// less contention and CPU than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    certctl_shared::telemetry::install_crypto_provider();
    let cli = Cli::parse();
    let env = Env::process()?;
    if let Some(Command::CreateAdminKey { name, principal }) = cli.command {
        let common = CommonConfig::from_env(&env, "127.0.0.1:9090")?;
        let db = certctl_shared::db::connect(&common)
            .await
            .context("failed to connect to CERTCTL_DATABASE_URL")?;
        let actor = service::Actor::system("create-admin-key");
        let new = service::api_keys::NewKey {
            name,
            role: certctl_shared::model::Role::Admin,
            principal,
            expires_at: None,
        };
        let (key, secret) = service::api_keys::create(&db, &actor, new)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        eprintln!(
            "created admin key `{}` ({}); the secret is shown once:",
            key.name, key.id
        );
        println!("{secret}");
        return Ok(());
    }
    let config = ApiConfig::from_env(&env)?;
    let _telemetry = certctl_shared::telemetry::init("certctl-api-server", config.common.log_format)?;
    let api = certctl_shared::serve::bind("CERTCTL_API_ADDR", config.api_addr).await?;
    let admin = certctl_shared::serve::bind("CERTCTL_ADMIN_ADDR", config.common.admin_addr).await?;
    let shutdown = certctl_shared::serve::shutdown_on_signal();
    run(config, Listeners { api, admin }, shutdown).await
}

//! The PostgreSQL pool.

use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

use crate::config::CommonConfig;

/// Opens the pool. The first connection is made here, so a daemon does not start without its
/// database; later outages show in `/readyz` while the pool reconnects.
pub async fn connect(cfg: &CommonConfig) -> Result<DatabaseConnection, DbErr> {
    Database::connect(options(cfg, cfg.database_max_connections)).await
}

/// A small pool whose statements are planned for their actual parameters on every execution
/// (`plan_cache_mode = force_custom_plan`), for statements that take a variable-length set of
/// rows. A cached generic plan for those is chosen once, from the table as it was then: a plan
/// made while the table was nearly empty (a sequential scan) stays in use as the table grows,
/// until the next ANALYZE. Planning costs a fraction of a millisecond, paid once per batch.
pub async fn connect_custom_plans(cfg: &CommonConfig, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    let mut opts = options(cfg, max_connections);
    opts.map_sqlx_postgres_opts(|o| o.options([("plan_cache_mode", "force_custom_plan")]));
    Database::connect(opts).await
}

fn options(cfg: &CommonConfig, max_connections: u32) -> ConnectOptions {
    let mut opts = ConnectOptions::new(cfg.database_url.clone());
    opts.max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .idle_timeout(Duration::from_secs(300))
        .sqlx_logging(false);
    opts
}

/// `SELECT 1`, for readiness.
pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.ping().await
}

//! The PostgreSQL pool.

use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

use crate::config::CommonConfig;

/// Opens the pool. The first connection is made here, so a daemon does not start without its
/// database; later outages show in `/readyz` while the pool reconnects.
pub async fn connect(cfg: &CommonConfig) -> Result<DatabaseConnection, DbErr> {
    let mut opts = ConnectOptions::new(cfg.database_url.clone());
    opts.max_connections(cfg.database_max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .idle_timeout(Duration::from_secs(300))
        .sqlx_logging(false);
    Database::connect(opts).await
}

/// `SELECT 1`, for readiness.
pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.ping().await
}

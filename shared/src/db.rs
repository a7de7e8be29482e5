//! The PostgreSQL pool.

use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr, RuntimeErr};

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
        // sea-orm hands both its connect and acquire timeouts to sqlx's one acquire timeout,
        // which covers opening a connection as well as waiting for a pooled one.
        .acquire_timeout(cfg.database_acquire_timeout)
        .idle_timeout(Duration::from_secs(300))
        .sqlx_logging(false);
    opts
}

/// `SELECT 1`, for readiness.
pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.ping().await
}

/// Whether an error means the database cannot be reached right now (connection refused or cut,
/// pool exhausted or timed out, the server shutting down or starting up), as opposed to a
/// statement that failed on its own merits. Callers answer the first with "try again later"
/// (a 503, a paused consumer) and never treat it as a verdict on the request.
pub fn is_unavailable(e: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    let sqlx = match e {
        DbErr::ConnectionAcquire(_) => return true,
        DbErr::Conn(RuntimeErr::SqlxError(s))
        | DbErr::Exec(RuntimeErr::SqlxError(s))
        | DbErr::Query(RuntimeErr::SqlxError(s)) => s,
        DbErr::Conn(_) => return true,
        _ => return false,
    };
    match sqlx.as_ref() {
        Sqlx::Io(_) | Sqlx::Tls(_) | Sqlx::PoolTimedOut | Sqlx::PoolClosed | Sqlx::WorkerCrashed => true,
        Sqlx::Protocol(_) => true,
        // SQLSTATE class 08 (connection exception), 57P01-57P03 (admin shutdown, crash
        // shutdown, cannot connect now: a server restarting), 53300 (too many connections).
        Sqlx::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03" | "53300")),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::ConnAcquireErr;
    use std::sync::Arc;

    #[test]
    fn connection_failures_are_unavailable_and_statement_failures_are_not() {
        let io = || {
            Arc::new(sea_orm::sqlx::Error::Io(std::io::Error::from(
                std::io::ErrorKind::ConnectionReset,
            )))
        };
        assert!(is_unavailable(&DbErr::ConnectionAcquire(ConnAcquireErr::Timeout)));
        assert!(is_unavailable(&DbErr::Query(RuntimeErr::SqlxError(io()))));
        assert!(is_unavailable(&DbErr::Exec(RuntimeErr::SqlxError(io()))));
        assert!(is_unavailable(&DbErr::Conn(RuntimeErr::SqlxError(Arc::new(
            sea_orm::sqlx::Error::PoolTimedOut
        )))));
        assert!(!is_unavailable(&DbErr::RecordNotFound("x".into())));
        assert!(!is_unavailable(&DbErr::Query(RuntimeErr::SqlxError(Arc::new(
            sea_orm::sqlx::Error::RowNotFound
        )))));
        assert!(!is_unavailable(&DbErr::Custom("bad".into())));
    }
}

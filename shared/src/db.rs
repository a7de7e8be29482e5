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

/// The newest migration this build's queries rely on. A daemon is not ready until the database
/// has it: during an upgrade, the new version's pods wait for `certctl-migrate up` while the old
/// ones (whose newest migration is older, and already applied) keep serving. The migrations crate
/// tests that this names its last migration.
pub const REQUIRED_MIGRATION: &str = "m20261213_000021_crl_this_update";

/// Remembers that the schema has [`REQUIRED_MIGRATION`], so readiness asks the database only until
/// it has (a schema never moves backwards under a running daemon).
#[derive(Clone, Default)]
pub struct SchemaGate {
    current: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl SchemaGate {
    /// `Ok` once the database has [`REQUIRED_MIGRATION`]; otherwise why not, for `/readyz`.
    pub async fn check(&self, db: &DatabaseConnection) -> Result<(), String> {
        use std::sync::atomic::Ordering;
        if self.current.load(Ordering::Relaxed) {
            return Ok(());
        }
        match schema_has(db, REQUIRED_MIGRATION).await {
            Ok(true) => {
                self.current.store(true, Ordering::Relaxed);
                tracing::info!(migration = REQUIRED_MIGRATION, "database schema is current");
                Ok(())
            }
            Ok(false) => Err(format!(
                "schema is behind: waiting for migration {REQUIRED_MIGRATION} (run certctl-migrate up)"
            )),
            Err(e) => Err(format!("database: {e}")),
        }
    }
}

/// Whether `seaql_migrations` records `version`; `false` when the table does not exist yet.
pub async fn schema_has(db: &DatabaseConnection, version: &str) -> Result<bool, DbErr> {
    use sea_orm::{ConnectionTrait, Statement};
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT EXISTS (SELECT 1 FROM seaql_migrations WHERE version = $1) AS present",
            [version.into()],
        ))
        .await;
    match row {
        Ok(Some(row)) => row.try_get::<bool>("", "present"),
        Ok(None) => Ok(false),
        Err(e) if sqlstate(&e).as_deref() == Some("42P01") => Ok(false), // no table: never migrated
        Err(e) => Err(e),
    }
}

/// The constraint (or unique index) a statement violated, if the server named one.
pub fn violated_constraint(e: &DbErr) -> Option<String> {
    refusal(e)?.constraint().map(str::to_owned)
}

/// The SQLSTATE of a statement the server refused.
fn sqlstate(e: &DbErr) -> Option<String> {
    refusal(e)?.code().map(|c| c.into_owned())
}

/// The server's own error, when a statement was refused by PostgreSQL.
fn refusal(e: &DbErr) -> Option<&(dyn sea_orm::sqlx::error::DatabaseError + 'static)> {
    match e {
        DbErr::Exec(RuntimeErr::SqlxError(s)) | DbErr::Query(RuntimeErr::SqlxError(s)) => match s.as_ref() {
            sea_orm::sqlx::Error::Database(db) => Some(db.as_ref()),
            _ => None,
        },
        _ => None,
    }
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

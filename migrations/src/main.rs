//! `certctl-migrate up | status`: applies pending migrations to `CERTCTL_DATABASE_URL`.

use certctl_migrations::{Migrator, MigratorTrait};
use sea_orm_migration::sea_orm::{ConnectOptions, ConnectionTrait, Database};

const USAGE: &str = "usage: certctl-migrate <up|status>\n\napplies pending migrations to CERTCTL_DATABASE_URL";
/// Serialises migrators started together (several replicas, a Job retried while the first runs).
const MIGRATION_LOCK: i64 = 0x6365_7274_6d69_6772; // "certmigr"

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("certctl-migrate: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let command = std::env::args().nth(1).unwrap_or_default();
    if !matches!(command.as_str(), "up" | "status") {
        return Err(USAGE.to_owned());
    }
    let url = std::env::var("CERTCTL_DATABASE_URL").map_err(|_| "CERTCTL_DATABASE_URL is not set".to_owned())?;
    // One connection: the advisory lock is per session, so lock and unlock must share it.
    let mut opts = ConnectOptions::new(url);
    opts.max_connections(1).min_connections(1).sqlx_logging(false);
    let db = Database::connect(opts)
        .await
        .map_err(|e| format!("failed to connect to CERTCTL_DATABASE_URL: {e}"))?;
    match command.as_str() {
        "up" => {
            db.execute_unprepared(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
                .await
                .map_err(|e| format!("failed to take the migration lock: {e}"))?;
            let result = Migrator::up(&db, None).await;
            let _ = db
                .execute_unprepared(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
                .await;
            result.map_err(|e| format!("migration failed: {e}"))?;
            println!("migrations applied");
        }
        _ => {
            let pending = Migrator::get_pending_migrations(&db)
                .await
                .map_err(|e| format!("failed to read migration status: {e}"))?;
            if pending.is_empty() {
                println!("schema is up to date");
            } else {
                for m in pending {
                    println!("pending: {}", m.name());
                }
            }
        }
    }
    Ok(())
}

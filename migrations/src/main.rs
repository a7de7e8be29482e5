//! `certctl-migrate up | status | wait | responder-role` against `CERTCTL_DATABASE_URL`.

use std::time::{Duration, Instant};

use certctl_migrations::{Migrator, MigratorTrait};
use certctl_shared::config::Env;
use sea_orm_migration::sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, Statement};

const USAGE: &str = "usage: certctl-migrate <up|status|wait|responder-role>

  up              applies pending migrations (idempotent; concurrent runs wait for each other)
  status          lists pending migrations
  wait            waits until every migration this build knows is applied
                  (CERTCTL_MIGRATE_WAIT_TIMEOUT, default 10m; needs only read access)
  responder-role  creates or updates the revocation responder's read-only role certctl_responder
                  and its grants; its password from CERTCTL_RESPONDER_DB_PASSWORD if set

CERTCTL_DATABASE_URL and CERTCTL_RESPONDER_DB_PASSWORD may instead be given as files with
CERTCTL_DATABASE_URL_FILE and CERTCTL_RESPONDER_DB_PASSWORD_FILE.";
/// Serialises migrators started together (several replicas, a Job retried while the first runs).
const MIGRATION_LOCK: i64 = 0x6365_7274_6d69_6772; // "certmigr"
const RESPONDER_ROLE_SQL: &str = include_str!("../sql/responder-role.sql");

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
    if !matches!(command.as_str(), "up" | "status" | "wait" | "responder-role") {
        return Err(USAGE.to_owned());
    }
    let env = Env::process().map_err(|e| e.to_string())?;
    let url = env
        .get("CERTCTL_DATABASE_URL")
        .ok_or_else(|| "CERTCTL_DATABASE_URL is not set".to_owned())?;
    if command == "wait" {
        let timeout = env
            .duration("CERTCTL_MIGRATE_WAIT_TIMEOUT", Duration::from_secs(600))
            .map_err(|e| e.to_string())?;
        return wait(&url, timeout).await;
    }
    let db = connect(&url)
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
        "responder-role" => {
            // Serialised with `up` and with other runs: concurrent GRANTs on one role can fail
            // with "tuple concurrently updated".
            db.execute_unprepared(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
                .await
                .map_err(|e| format!("failed to take the migration lock: {e}"))?;
            let result = responder_role(&db, env.get("CERTCTL_RESPONDER_DB_PASSWORD")).await;
            let _ = db
                .execute_unprepared(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
                .await;
            result?;
            println!("role certctl_responder is up to date");
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

/// One connection: the advisory lock is per session, so lock and unlock must share it.
async fn connect(url: &str) -> Result<DatabaseConnection, sea_orm_migration::DbErr> {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.max_connections(1)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    Database::connect(opts).await
}

/// Polls until the newest migration this build knows is recorded. It only reads
/// `seaql_migrations`, so the responder's read-only role can run it, and it tolerates a database
/// that is not up yet: in a pod's init container it simply keeps the daemon from starting early.
async fn wait(url: &str, timeout: Duration) -> Result<(), String> {
    let newest = Migrator::migrations()
        .last()
        .map(|m| m.name().to_owned())
        .ok_or("this build has no migrations")?;
    let deadline = Instant::now() + timeout;
    let mut reported = String::new();
    loop {
        let state = match connect(url).await {
            Ok(db) => {
                let state = certctl_shared::db::schema_has(&db, &newest).await;
                db.close().await.ok();
                state.map_err(|e| format!("cannot read the applied migrations: {e}"))
            }
            Err(e) => Err(format!("cannot connect: {e}")),
        };
        let status = match state {
            Ok(true) => {
                println!("schema is current ({newest})");
                return Ok(());
            }
            Ok(false) => format!("waiting for migration {newest} (certctl-migrate up)"),
            Err(e) => e,
        };
        if status != reported {
            eprintln!("certctl-migrate wait: {status}");
            reported = status.clone();
        }
        if Instant::now() >= deadline {
            return Err(format!("schema not current after {}s: {status}", timeout.as_secs()));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Applies the role and its grants (one multi-statement query: one implicit transaction), then
/// the password, sent as its SCRAM-SHA-256 verifier so the clear text never reaches the server or
/// its logs (DDL takes no bind parameters, so the server quotes the verifier with `format('%L')`).
async fn responder_role(db: &DatabaseConnection, password: Option<String>) -> Result<(), String> {
    if !certctl_shared::db::schema_has(db, certctl_shared::db::REQUIRED_MIGRATION)
        .await
        .map_err(|e| format!("cannot read the applied migrations: {e}"))?
    {
        return Err("the schema is not migrated: run `certctl-migrate up` first".to_owned());
    }
    db.execute_unprepared(RESPONDER_ROLE_SQL).await.map_err(|e| {
        format!("failed to apply the responder role (run this as the schema owner, with CREATEROLE): {e}")
    })?;
    if let Some(password) = password {
        let verifier = certctl_shared::crypto::scram_sha256_verifier(&password)
            .map_err(|e| format!("CERTCTL_RESPONDER_DB_PASSWORD: {e}"))?;
        let backend = db.get_database_backend();
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                "SELECT format('ALTER ROLE certctl_responder PASSWORD %L', $1::text) AS sql",
                [verifier.into()],
            ))
            .await
            .map_err(|e| format!("failed to prepare the password statement: {e}"))?
            .ok_or("the server returned no row")?;
        let sql: String = row.try_get("", "sql").map_err(|e| e.to_string())?;
        db.execute_unprepared(&sql)
            .await
            .map_err(|e| format!("failed to set the responder role's password: {e}"))?;
    }
    Ok(())
}

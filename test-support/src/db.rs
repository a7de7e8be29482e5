//! Test databases: each test gets its own, cloned from a template migrated once per test run
//! (`CREATE DATABASE … TEMPLATE …`, a few tenths of a second), so tests never share rows and
//! never wait for migrations. Databases of runs older than three hours are dropped when a new
//! run makes its template.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use certctl_migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};

/// The server of the machine's PostgreSQL; override with `CERTCTL_TEST_PG` (no database path).
pub fn pg_base() -> String {
    std::env::var("CERTCTL_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

const TEMPLATE_LOCK: i64 = 0x7465_7374_746d_706c;
/// Test databases older than this are dropped when a new run starts.
const STALE_AFTER_SECS: u64 = 3 * 3600;

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// One template per test run: nextest runs every test in its own process and names the run.
fn run_tag() -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| {
        let raw = std::env::var("NEXTEST_RUN_ID").unwrap_or_else(|_| format!("pid{}", std::process::id()));
        raw.chars()
            .filter(char::is_ascii_alphanumeric)
            .take(12)
            .collect::<String>()
            .to_lowercase()
    })
}

async fn admin_conn() -> DatabaseConnection {
    Database::connect(format!("{}/postgres", pg_base()))
        .await
        .expect("PostgreSQL must be running on 127.0.0.1:5432 (see .ci/run)")
}

async fn exec(conn: &DatabaseConnection, sql: &str) {
    conn.execute_unprepared(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn database_exists(conn: &DatabaseConnection, name: &str) -> bool {
    conn.query_one_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT 1 AS one FROM pg_database WHERE datname = $1",
        [name.into()],
    ))
    .await
    .expect("query pg_database")
    .is_some()
}

/// Creates (once per run, across processes) the migrated template and returns its name.
async fn template() -> String {
    let name = format!("certctl_tpl_{}", run_tag());
    let admin = admin_conn().await;
    exec(&admin, &format!("SELECT pg_advisory_lock({TEMPLATE_LOCK})")).await;
    if !database_exists(&admin, &name).await {
        drop_stale(&admin).await;
        exec(&admin, &format!("CREATE DATABASE {name}")).await;
        // The creation time, so later runs drop it only once it is stale (a run in progress uses it).
        exec(&admin, &format!("COMMENT ON DATABASE {name} IS '{}'", now_secs())).await;
        let tpl = Database::connect(format!("{}/{name}", pg_base()))
            .await
            .expect("connect template");
        Migrator::up(&tpl, None).await.expect("migrate template");
        tpl.close().await.ok();
        // Mark it as a template only once it is complete.
        exec(&admin, &format!("ALTER DATABASE {name} WITH IS_TEMPLATE true")).await;
    }
    exec(&admin, &format!("SELECT pg_advisory_unlock({TEMPLATE_LOCK})")).await;
    admin.close().await.ok();
    name
}

async fn drop_stale(admin: &DatabaseConnection) {
    let rows = admin
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT datname, coalesce(shobj_description(oid, 'pg_database'), '0') AS created \
             FROM pg_database WHERE datname LIKE 'certctl_it_%' OR datname LIKE 'certctl_tpl_%'",
        ))
        .await
        .expect("list databases");
    for row in rows {
        let name: String = row.try_get("", "datname").expect("datname");
        // Test databases carry their creation time in the name, templates in their comment.
        let created = match name.strip_prefix("certctl_it_") {
            Some(rest) => rest.split('_').next().and_then(|t| t.parse::<u64>().ok()),
            None => row
                .try_get::<String>("", "created")
                .ok()
                .and_then(|c| c.parse::<u64>().ok()),
        };
        let stale = created.is_none_or(|t| now_secs().saturating_sub(t) > STALE_AFTER_SECS);
        if stale {
            let _ = admin
                .execute_unprepared(&format!("ALTER DATABASE {name} WITH IS_TEMPLATE false"))
                .await;
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
        }
    }
}

/// A fresh database cloned from the template. Returns its name and URL.
pub async fn fresh_database() -> (String, String) {
    let tpl = template().await;
    let name = format!("certctl_it_{}_{}", now_secs(), uuid::Uuid::new_v4().simple());
    let admin = admin_conn().await;
    let mut tries = 0;
    loop {
        match admin
            .execute_unprepared(&format!("CREATE DATABASE {name} TEMPLATE {tpl}"))
            .await
        {
            Ok(_) => break,
            // Another process may be connected to the template for a moment (it is being created).
            Err(e) if tries < 50 && e.to_string().contains("being accessed by other users") => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("create test database: {e}"),
        }
    }
    admin.close().await.ok();
    let url = format!("{}/{name}", pg_base());
    (name, url)
}

//! Migrations are idempotent: applying them again, even with their bookkeeping lost, is a no-op.

use certctl_migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};

use crate::helpers::pg_base;

/// Columns, indexes, constraints and triggers of the public schema, as text.
async fn schema_fingerprint(db: &DatabaseConnection) -> Vec<String> {
    let sql = "SELECT 'col ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '') AS d \
                 FROM information_schema.columns WHERE table_schema = 'public' \
               UNION ALL SELECT 'idx ' || indexdef FROM pg_indexes WHERE schemaname = 'public' \
               UNION ALL SELECT 'con ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE connamespace = 'public'::regnamespace \
               UNION ALL SELECT 'trg ' || tgname || ' ' || pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal \
               ORDER BY 1";
    db.query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.try_get::<String>("", "d").unwrap())
        .collect()
}

#[tokio::test]
async fn applying_the_migrations_twice_changes_nothing() {
    // An empty database, migrated from scratch.
    let admin = Database::connect(format!("{}/postgres", pg_base())).await.unwrap();
    let name = format!(
        "certctl_it_{}_mig{}",
        chrono::Utc::now().timestamp(),
        uuid::Uuid::new_v4().simple()
    );
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let db = Database::connect(format!("{}/{name}", pg_base())).await.unwrap();
    Migrator::up(&db, None).await.unwrap();
    let first = schema_fingerprint(&db).await;
    assert!(first.iter().any(|l| l.contains("audit_events_append_only")));
    // Running the set again is a no-op.
    Migrator::up(&db, None).await.unwrap();
    assert_eq!(schema_fingerprint(&db).await, first);
    // Even with the bookkeeping gone, every migration's SQL re-applies cleanly and changes nothing.
    db.execute_unprepared("DELETE FROM seaql_migrations").await.unwrap();
    Migrator::up(&db, None).await.unwrap();
    assert_eq!(schema_fingerprint(&db).await, first);
    db.close().await.unwrap();
    admin
        .execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await
        .unwrap();
}

/// `certctl-migrate` run as a process with `env`; returns (success, stdout + stderr).
fn migrate(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let out = std::process::Command::new(certctl_test_support::process::binary("certctl-migrate"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("run certctl-migrate");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The rollout order on Kubernetes: `certctl-migrate wait` (an init container) holds a pod until
/// the migrate Job has applied everything its build knows, and a daemon started early answers
/// `/readyz` with 503 until then. Secrets are read from `*_FILE` throughout.
#[tokio::test]
async fn daemons_wait_for_the_schema_they_were_built_for() {
    use base64::Engine;
    use certctl_test_support::process::{Daemon, free_addr};
    certctl_shared::telemetry::install_crypto_provider();
    let (_, db_url) = certctl_test_support::db::fresh_database().await;
    let db = Database::connect(db_url.as_str()).await.unwrap();
    let newest = Migrator::migrations().last().unwrap().name().to_owned();
    db.execute_unprepared(&format!("DELETE FROM seaql_migrations WHERE version = '{newest}'"))
        .await
        .unwrap();

    let dir = certctl_test_support::tempdir();
    let url_file = dir.join("database-url");
    std::fs::write(&url_file, format!("{db_url}\n")).unwrap();
    let url_file = url_file.to_str().unwrap().to_owned();
    let file_env = [
        ("CERTCTL_DATABASE_URL_FILE", url_file.as_str()),
        ("CERTCTL_MIGRATE_WAIT_TIMEOUT", "1s"),
    ];
    let (ok, out) = migrate(&["wait"], &file_env);
    assert!(!ok, "wait succeeded on a schema one migration behind: {out}");
    assert!(out.contains(&format!("waiting for migration {newest}")), "{out}");
    // Both forms at once is a configuration error naming the file variable.
    let (ok, out) = migrate(
        &["status"],
        &[
            ("CERTCTL_DATABASE_URL", &db_url),
            ("CERTCTL_DATABASE_URL_FILE", &url_file),
        ],
    );
    assert!(!ok && out.contains("CERTCTL_DATABASE_URL_FILE"), "{out}");

    let kek_file = dir.join("kek");
    let kek = base64::engine::general_purpose::STANDARD.encode(crate::helpers::rand_bytes::<32>());
    std::fs::write(&kek_file, &kek).unwrap();
    let (api_addr, admin_addr) = (free_addr(), free_addr());
    let api = Daemon::start(
        "certctl-api-server",
        &[
            ("CERTCTL_DATABASE_URL_FILE", url_file.clone()),
            ("CERTCTL_KEY_ENCRYPTION_KEY_FILE", kek_file.to_str().unwrap().to_owned()),
            (
                "CERTCTL_AMQP_PREFIX",
                format!("certctl-it-{}", uuid::Uuid::new_v4().simple()),
            ),
            ("CERTCTL_AMQP_QUEUE_EXPIRES", "60s".to_owned()),
            ("CERTCTL_API_ADDR", api_addr),
            ("CERTCTL_ADMIN_ADDR", admin_addr.clone()),
        ],
    );
    let http = reqwest::Client::new();
    let readyz = format!("http://{admin_addr}/readyz");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let body = loop {
        match http.get(&readyz).send().await {
            Ok(r) => break (r.status().as_u16(), r.text().await.unwrap()),
            Err(_) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(e) => panic!("api-server never answered: {e}"),
        }
    };
    assert_eq!(body.0, 503, "{}", body.1);
    assert!(body.1.contains("schema is behind"), "{}", body.1);

    // The waiter started now returns once `up` (the migrate Job) has run.
    let waiter = {
        let url_file = url_file.clone();
        tokio::task::spawn_blocking(move || {
            migrate(
                &["wait"],
                &[
                    ("CERTCTL_DATABASE_URL_FILE", &url_file),
                    ("CERTCTL_MIGRATE_WAIT_TIMEOUT", "60s"),
                ],
            )
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(!waiter.is_finished(), "wait returned before the schema was current");
    let (ok, out) = migrate(&["up"], &[("CERTCTL_DATABASE_URL_FILE", &url_file)]);
    assert!(ok, "{out}");
    let (ok, out) = waiter.await.unwrap();
    assert!(ok && out.contains("schema is current"), "{out}");
    crate::process::wait_ready(&http, &admin_addr, "api-server").await;
    api.terminate();
    db.close().await.ok();
}

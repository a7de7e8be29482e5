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

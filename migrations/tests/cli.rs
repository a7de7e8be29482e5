//! `certctl-migrate up` against a real, empty database: applies everything, then is a no-op.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use sea_orm_migration::sea_orm::{ConnectionTrait, Database};

fn pg_base() -> String {
    std::env::var("CERTCTL_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

#[tokio::test]
async fn migrate_up_twice_then_status_is_up_to_date() {
    let admin = Database::connect(format!("{}/postgres", pg_base()))
        .await
        .expect("PostgreSQL must be running");
    let name = format!(
        "certctl_it_{}_cli{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
        std::process::id()
    );
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}"))
        .await
        .unwrap();
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let url = format!("{}/{name}", pg_base());
    for _ in 0..2 {
        let out = Command::new(env!("CARGO_BIN_EXE_certctl-migrate"))
            .arg("up")
            .env("CERTCTL_DATABASE_URL", &url)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let out = Command::new(env!("CARGO_BIN_EXE_certctl-migrate"))
        .arg("status")
        .env("CERTCTL_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "schema is up to date");
    let out = Command::new(env!("CARGO_BIN_EXE_certctl-migrate"))
        .arg("sideways")
        .env("CERTCTL_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let out = Command::new(env!("CARGO_BIN_EXE_certctl-migrate"))
        .arg("up")
        .env_remove("CERTCTL_DATABASE_URL")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("CERTCTL_DATABASE_URL"));
    admin
        .execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await
        .unwrap();
}

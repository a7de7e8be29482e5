//! The responder starts against the real PostgreSQL (a fresh, migrated database), reports ready,
//! and stops cleanly.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::Duration;

use certctl_migrations::{Migrator, MigratorTrait};
use certctl_revocation_responder::config::ResponderConfig;
use certctl_revocation_responder::{Listeners, run};
use certctl_shared::config::Env;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn starts_reports_ready_and_stops_on_shutdown() {
    certctl_shared::telemetry::install_crypto_provider();
    let pg = std::env::var("CERTCTL_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let name = format!("certctl_responder_lifecycle_{}", uuid::Uuid::new_v4().simple());
    let admin_db = sea_orm::Database::connect(format!("{pg}/postgres")).await.unwrap();
    use sea_orm::ConnectionTrait;
    admin_db
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let url = format!("{pg}/{name}");
    let db = sea_orm::Database::connect(url.as_str()).await.unwrap();
    Migrator::up(&db, None).await.unwrap();
    db.close().await.unwrap();
    let vars: HashMap<&str, String> = HashMap::from([
        ("CERTCTL_DATABASE_URL", url),
        // Any 32 bytes: this test has no signers to open.
        (
            "CERTCTL_RESPONDER_KEY_ENCRYPTION_KEY",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into(),
        ),
    ]);
    let config = ResponderConfig::from_env(&Env::from_fn(|k| vars.get(k).cloned())).unwrap();
    let public = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", admin.local_addr().unwrap());
    let public_base = format!("http://{}", public.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let responder = tokio::spawn(run(config, Listeners { public, admin }, shutdown.clone()));
    let http = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..100 {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready);
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("certctl_build_info{daemon=\"revocation-responder\""));
    // No route needs a key; an issuer that does not exist is a 404.
    assert_eq!(
        http.get(format!("{public_base}/.well-known/pki/crl/x"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), responder)
        .await
        .expect("stops promptly")
        .unwrap()
        .unwrap();
    admin_db
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .unwrap();
}

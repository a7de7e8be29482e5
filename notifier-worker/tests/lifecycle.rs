//! The worker starts against the real PostgreSQL and RabbitMQ, reports ready, serves metrics and
//! stops cleanly when asked.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::Duration;

use certctl_notifier_worker::config::WorkerConfig;
use certctl_notifier_worker::{Listeners, run};
use certctl_shared::config::Env;
use certctl_test_support::db::fresh_database;
use certctl_test_support::wait_ready;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn starts_reports_ready_and_stops_on_shutdown() {
    certctl_shared::telemetry::install_crypto_provider();
    let vars: HashMap<&str, String> = HashMap::from([
        ("CERTCTL_DATABASE_URL", fresh_database().await.1),
        ("CERTCTL_DEV_MODE", "true".into()),
    ]);
    let config = WorkerConfig::from_env(&Env::from_fn(|k| vars.get(k).cloned())).unwrap();
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", admin.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let worker = tokio::spawn(run(config, Listeners { admin }, shutdown.clone()));
    let http = reqwest::Client::new();
    // RabbitMQ must run on 127.0.0.1:5672 (scripts/test.sh starts it).
    wait_ready(&http, &base, "notifier-worker", Duration::from_secs(10)).await;
    assert_eq!(http.get(format!("{base}/healthz")).send().await.unwrap().status(), 200);
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("certctl_build_info{daemon=\"notifier-worker\""),
        "{metrics}"
    );
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), worker)
        .await
        .expect("stops promptly")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn is_not_ready_without_a_broker() {
    certctl_shared::telemetry::install_crypto_provider();
    let vars: HashMap<&str, String> = HashMap::from([
        ("CERTCTL_DATABASE_URL", fresh_database().await.1),
        ("CERTCTL_DEV_MODE", "true".into()),
        // Nothing listens on port 1.
        ("CERTCTL_AMQP_URL", "amqp://guest:guest@127.0.0.1:1/%2f".into()),
    ]);
    let config = WorkerConfig::from_env(&Env::from_fn(|k| vars.get(k).cloned())).unwrap();
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", admin.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let worker = tokio::spawn(run(config, Listeners { admin }, shutdown.clone()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.text().await.unwrap().contains("broker"));
    assert_eq!(reqwest::get(format!("{base}/healthz")).await.unwrap().status(), 200);
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), worker)
        .await
        .expect("stops promptly")
        .unwrap()
        .unwrap();
}

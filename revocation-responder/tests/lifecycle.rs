//! The responder starts against the real PostgreSQL (a fresh database from the test kit), reports
//! ready, and stops cleanly.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::Duration;

use certctl_revocation_responder::config::ResponderConfig;
use certctl_revocation_responder::{Listeners, run};
use certctl_shared::config::Env;
use certctl_test_support::db::fresh_database;
use certctl_test_support::wait_ready;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn starts_reports_ready_and_stops_on_shutdown() {
    certctl_shared::telemetry::install_crypto_provider();
    let (_, url) = fresh_database().await;
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
    wait_ready(&http, &base, "revocation-responder", Duration::from_secs(5)).await;
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
}

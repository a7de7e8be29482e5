//! TLS on the public listener, and a clear failure when the TLS files are wrong.

use std::collections::HashMap;
use std::time::Duration;

use certctl_api_server::config::ApiConfig;
use certctl_api_server::{Listeners, run};
use certctl_shared::config::Env;
use tokio_util::sync::CancellationToken;

use crate::helpers::{TestApp, fresh_database, tempdir};

#[tokio::test]
async fn serves_https_when_a_certificate_and_key_are_configured() {
    let dir = tempdir();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    let cert = params.self_signed(&key).unwrap();
    let (cert_file, key_file) = (dir.join("tls.crt"), dir.join("tls.key"));
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    let app = TestApp::spawn_with(&[
        ("CERTCTL_TLS_CERT_FILE", cert_file.to_str().unwrap()),
        ("CERTCTL_TLS_KEY_FILE", key_file.to_str().unwrap()),
    ])
    .await;
    let https = app.base.replace("http://", "https://");
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let me: serde_json::Value = client
        .get(format!("{https}/api/v1/auth/me"))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["principal"], "bootstrap-admin");
    // Plain HTTP is not served on the TLS port.
    assert!(
        app.http
            .get(format!("{}/api/v1/version", app.base))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn unreadable_tls_files_stop_the_server_with_an_error_naming_them() {
    certctl_shared::telemetry::install_crypto_provider();
    let (_, db_url) = fresh_database().await;
    let vars: HashMap<&str, String> = HashMap::from([
        ("CERTCTL_DATABASE_URL", db_url),
        ("CERTCTL_DEV_MODE", "true".to_owned()),
        ("CERTCTL_TLS_CERT_FILE", "/nonexistent/tls.crt".to_owned()),
        ("CERTCTL_TLS_KEY_FILE", "/nonexistent/tls.key".to_owned()),
    ]);
    let config = ApiConfig::from_env(&Env::from_fn(|k| vars.get(k).cloned())).unwrap();
    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        run(config, Listeners { api, admin }, CancellationToken::new()),
    )
    .await
    .expect("the server must stop, admin listener included, instead of running half-broken");
    let err = format!("{:#}", result.unwrap_err());
    assert!(err.contains("/nonexistent/tls.crt"), "{err}");
}

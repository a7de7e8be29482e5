//! Discovery against three TLS servers on loopback: one presenting a certificate certctl issued,
//! a foreign self-signed one, and an expired one. The scan finds all three, links ours to the
//! inventory, leaves the others unmanaged, and the expired one raises an expiry warning. Every
//! address scanned is in 127.0.0.0/8.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::notify_harness::Receiver;

/// A TLS server on 127.0.0.1 presenting `chain` (leaf first) until the test ends; its port.
async fn tls_server(chain_pem: &str, key_pem: &str) -> u16 {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = acceptor.accept(tcp).await;
            });
        }
    });
    port
}

/// A self-signed certificate for `name`, valid from `days_from` to `days_to` days from now, and
/// its key, both PEM.
fn self_signed(name: &str, days_from: i64, days_to: i64) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now + time::Duration::days(days_from);
    params.not_after = now + time::Duration::days(days_to);
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

async fn wait_until(what: &str, within: Duration, mut done: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !done().await {
        assert!(start.elapsed() < within, "{what} within {within:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_finds_ours_a_foreign_and_an_expired_certificate_on_loopback() {
    let app = TestApp::spawn().await;
    let (issuer, profile) = app.pki().await;
    let ours = app.issue(&issuer, &profile, "ours.test").await;
    let ours_chain = format!(
        "{}{}",
        ours["certificate_pem"].as_str().unwrap(),
        ours["chain_pem"].as_str().unwrap()
    );
    let ours_port = tls_server(&ours_chain, ours["private_key_pem"].as_str().unwrap()).await;
    let (foreign, foreign_key) = self_signed("foreign.test", -1, 365);
    let foreign_port = tls_server(&foreign, &foreign_key).await;
    let (expired, expired_key) = self_signed("expired.test", -30, -1);
    let expired_port = tls_server(&expired, &expired_key).await;

    let receiver = Receiver::start().await;
    receiver.always(200);
    app.webhook_channel("expiry", &receiver.url, &["expiration_warning"])
        .await;

    // Admins only; the caps are enforced when the target is written.
    let viewer = app.key("vera", "viewer").await;
    let target = json!({ "name": "loopback", "cidrs": ["127.0.0.0/30"],
                         "ports": [ours_port, foreign_port, expired_port], "timeout_ms": 1000, "concurrency": 16 });
    let (s, _) = app.post("/api/v1/scan-targets", &viewer, target.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    for (bad, why) in [
        (
            json!({ "name": "wide", "cidrs": ["10.0.0.0/16"], "ports": [443] }),
            "at most 1024",
        ),
        (
            json!({ "name": "typo", "cidrs": ["127.0.0.1/24"], "ports": [443] }),
            "host bits",
        ),
        (
            json!({ "name": "slow", "cidrs": ["10.0.0.0/22"], "ports": [443, 8443], "concurrency": 4 }),
            "at most 40 s",
        ),
        (
            json!({ "name": "port", "cidrs": ["127.0.0.1"], "ports": [0] }),
            "1-65535",
        ),
    ] {
        let (s, v) = app.post("/api/v1/scan-targets", &app.admin_key, bad).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        assert!(v["detail"].as_str().unwrap().contains(why), "{v}");
    }
    let (s, created) = app.post("/api/v1/scan-targets", &app.admin_key, target).await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let target_id = id(&created);

    let worker = app
        .worker(&[
            ("CERTCTL_DISCOVERY_INTERVAL", "200ms"),
            ("CERTCTL_EXPIRY_SCAN_INTERVAL", "1s"),
        ])
        .await;
    let mut listed = Value::Null;
    wait_until("the scan", Duration::from_secs(30), async || {
        let (_, t) = app
            .get(&format!("/api/v1/scan-targets/{target_id}"), &app.admin_key)
            .await;
        if t["last_scan_finished_at"].is_null() {
            return false;
        }
        let (_, l) = app.get("/api/v1/discovered-certificates", &app.admin_key).await;
        listed = l;
        true
    })
    .await;
    let (_, t) = app
        .get(&format!("/api/v1/scan-targets/{target_id}"), &app.admin_key)
        .await;
    assert_eq!(t["last_scan_found"], 3, "{t}");
    assert!(t["last_scan_error"].is_null(), "{t}");
    assert_eq!(listed["total"], 3, "{listed}");
    let by_cn = |cn: &str| -> Value {
        listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["common_name"] == cn)
            .unwrap_or_else(|| panic!("{cn} not found in {listed}"))
            .clone()
    };
    let (d_ours, d_foreign, d_expired) = (by_cn("ours.test"), by_cn("foreign.test"), by_cn("expired.test"));
    assert_eq!(d_ours["status"], "managed");
    assert_eq!(d_ours["certificate_id"], ours["id"]);
    assert_eq!(d_ours["self_signed"], false);
    assert_eq!(d_foreign["status"], "unmanaged");
    assert_eq!(d_foreign["self_signed"], true);
    assert!(d_foreign["certificate_id"].is_null());
    assert_eq!(
        (d_expired["status"].as_str(), d_expired["expired"].as_bool()),
        (Some("unmanaged"), Some(true))
    );
    assert!(d_foreign["sans"].as_array().unwrap().contains(&json!("foreign.test")));
    // Where each was seen, and the fingerprint openssl computes.
    let (s, one) = app
        .get(
            &format!("/api/v1/discovered-certificates/{}", id(&d_ours)),
            &app.admin_key,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{one}");
    assert_eq!(one["endpoints"][0]["address"], "127.0.0.1");
    assert_eq!(one["endpoints"][0]["port"], ours_port);
    assert_eq!(one["endpoints"].as_array().unwrap().len(), 1);
    assert!(
        one["chain_pem"].as_str().unwrap().contains("BEGIN CERTIFICATE"),
        "the intermediate chain too"
    );
    let dir = tempdir();
    let pem = write(&dir, "foreign.pem", &foreign);
    let (ok, fp) = openssl(&["x509", "-in", &pem, "-noout", "-fingerprint", "-sha256"]);
    assert!(ok, "{fp}");
    let fp = fp.trim().rsplit('=').next().unwrap().replace(':', "").to_lowercase();
    assert_eq!(d_foreign["fingerprint_sha256"], fp);
    // Filters.
    let (_, unmanaged) = app
        .get("/api/v1/discovered-certificates?status=unmanaged", &app.admin_key)
        .await;
    assert_eq!(unmanaged["total"], 2);
    let (_, found) = app
        .get("/api/v1/discovered-certificates?q=FOREIGN", &app.admin_key)
        .await;
    assert_eq!(found["total"], 1);
    let (s, _) = app
        .get("/api/v1/discovered-certificates?status=lost", &app.admin_key)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // The expired, unmanaged one raises an expiry warning; the others do not.
    wait_until("the expiry warning", Duration::from_secs(20), async || {
        receiver
            .seen()
            .iter()
            .any(|r| String::from_utf8_lossy(&r.body).contains(d_expired["id"].as_str().unwrap()))
    })
    .await;
    let warned: Vec<Value> = app
        .notifications_of("type=expiration_warning")
        .await
        .into_iter()
        .map(|n| n["id"].clone())
        .collect();
    assert_eq!(warned.len(), 1, "{warned:?}");
    let n = app.notification(warned[0].as_str().unwrap()).await;
    assert_eq!(n["payload"]["data"]["discovered_certificate_id"], d_expired["id"]);
    assert_eq!(n["payload"]["data"]["expired"], true);
    assert_eq!(n["payload"]["data"]["threshold_days"], 0);

    // Operators decide about the unmanaged ones; a managed one is the inventory's.
    let operator = app.key("otto", "operator").await;
    let (s, v) = app
        .post(
            &format!("/api/v1/discovered-certificates/{}/dismiss", id(&d_foreign)),
            &operator,
            json!({ "note": "lab box" }),
        )
        .await;
    assert_eq!((s, v["status"].as_str()), (StatusCode::OK, Some("dismissed")), "{v}");
    let (s, v) = app
        .post(
            &format!("/api/v1/discovered-certificates/{}/claim", id(&d_expired)),
            &operator,
            json!({}),
        )
        .await;
    assert_eq!(
        (s, v["status"].as_str(), v["decided_by"].as_str()),
        (StatusCode::OK, Some("claimed"), Some("otto")),
        "{v}"
    );
    let (s, v) = app
        .post(
            &format!("/api/v1/discovered-certificates/{}/claim", id(&d_ours)),
            &operator,
            json!({}),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("certificate_managed")),
        "{v}"
    );
    let (s, _) = app
        .post(
            &format!("/api/v1/discovered-certificates/{}/dismiss", id(&d_expired)),
            &viewer,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(
        app.scalar_i64(
            "SELECT count(*) FROM audit_events WHERE action IN ('discovered_certificate.claim', \
             'discovered_certificate.dismiss', 'scan_target.create')"
        )
        .await,
        3
    );

    // A second scan sees the same certificates again, and adds none.
    let (s, _) = app
        .post(
            &format!("/api/v1/scan-targets/{target_id}/scan"),
            &app.admin_key,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    wait_until("the second scan", Duration::from_secs(30), async || {
        app.scalar_i64(&format!(
            "SELECT count(*) FROM discovered_certificates WHERE last_seen_at > first_seen_at + interval '200 milliseconds' \
             AND id = '{}'",
            id(&d_foreign)
        ))
        .await
            == 1
    })
    .await;
    assert_eq!(app.scalar_i64("SELECT count(*) FROM discovered_certificates").await, 3);
    let (_, d) = app
        .get(
            &format!("/api/v1/discovered-certificates/{}", id(&d_foreign)),
            &app.admin_key,
        )
        .await;
    assert_eq!(d["status"], "dismissed", "a decision survives new sightings");
    worker.stop().await;
}

//! The API description against the live server: the document is served without a key, and
//! schemathesis, driving every operation with generated valid and invalid input (and chains of
//! calls linked by the ids they return), finds no server error, no response that breaks the
//! schema and no undocumented status code.

use std::process::Command;

use serde_json::{Value, json};

use crate::helpers::{TestApp, id};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_served_without_a_key_and_is_the_committed_one() {
    let app = TestApp::spawn().await;
    let resp = app
        .http
        .get(format!("{}/api/v1/openapi.json", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let served: Value = resp.json().await.unwrap();
    let committed: Value =
        serde_json::from_str(include_str!("../../../docs/openapi.json")).expect("docs/openapi.json parses");
    assert_eq!(served, committed);
    assert_eq!(served["openapi"], "3.1.0");
    app.stop().await.unwrap();
}

/// Some data for the generated calls to find: an issuer, a profile that lets anything through,
/// one that needs approval, a certificate, and a channel.
async fn seed(app: &TestApp) {
    let issuer = app.issuer("st-root", "ecdsa-p256").await;
    let open = app
        .profile(json!({
            "name": "st-open", "max_ttl_seconds": 86400 * 30,
            "allowed_key_algorithms": ["ecdsa-p256", "ecdsa-p384"], "ekus": ["server_auth"],
            "san_rules": { "allow_subdomains": true, "allow_wildcards": true, "allow_ip_addresses": true },
        }))
        .await;
    app.profile(json!({
        "name": "st-gated", "max_ttl_seconds": 86400, "allowed_key_algorithms": ["ecdsa-p256"],
        "ekus": ["server_auth"], "requires_approval": true,
    }))
    .await;
    app.issue(&id(&issuer), &id(&open), "seed.example.com").await;
    let (status, body) = app
        .post(
            "/api/v1/notification-channels",
            &app.admin_key,
            json!({ "name": "st-hook", "kind": "webhook", "config": { "url": "https://hooks.example.com/certctl", "secret": "whsec_c2NoZW1hdGhlc2lzLXNpZ25pbmcta2V5" },
                    "event_types": ["certificate_issued"] }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_wrong_with_any_operation() {
    let app = TestApp::spawn().await;
    seed(&app).await;
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/schemathesis.toml");
    let report = certctl_test_support::tempdir();
    let schema = format!("{}/api/v1/openapi.json", app.base);
    let (base, key) = (app.base.clone(), app.admin_key.clone());
    let out = tokio::task::spawn_blocking(move || {
        Command::new("schemathesis")
            .current_dir(&report)
            .env("CERTCTL_ST_BASE_URL", base)
            .env("CERTCTL_ST_KEY", key)
            .args(["--config-file", config, "run", &schema])
            .args([
                "--phases",
                "examples,coverage,fuzzing,stateful",
                "--checks",
                "all",
                "--mode",
                "all",
            ])
            .output()
            .expect("schemathesis must be on PATH (scripts/test.sh installs it into .venv)")
    })
    .await
    .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{text}");
    assert!(
        out.status.success(),
        "schemathesis found problems (exit {:?})",
        out.status.code()
    );
    // The admin key still works: the run did not lock itself out and pass on 401s.
    let (status, _) = app.get("/api/v1/auth/me", &app.admin_key).await;
    assert_eq!(status, 200);
    app.stop().await.unwrap();
}

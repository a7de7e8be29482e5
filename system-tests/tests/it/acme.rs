//! The groundwork of the ACME server: nonces shared by every api-server replica, each accepted once.

use certctl_shared::repo::acme;
use chrono::{Duration, Utc};

use crate::helpers::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nonce_is_accepted_once_by_whichever_replica_sees_it_and_never_after_it_expires() {
    let app = TestApp::spawn().await;
    // A second connection pool stands for a second api-server replica.
    let other = sea_orm::Database::connect(&app.db_url).await.unwrap();
    let in_a_minute = Utc::now() + Duration::minutes(1);
    acme::issue_nonce(&app.db, "n-1", in_a_minute).await.unwrap();
    assert!(
        acme::use_nonce(&other, "n-1").await.unwrap(),
        "issued by one, used at another"
    );
    assert!(!acme::use_nonce(&app.db, "n-1").await.unwrap(), "used once only");
    assert!(!acme::use_nonce(&app.db, "never-issued").await.unwrap());

    // Racing requests with the same nonce: exactly one wins.
    acme::issue_nonce(&app.db, "n-race", in_a_minute).await.unwrap();
    let mut racers = Vec::new();
    for i in 0..16 {
        let db = if i % 2 == 0 { app.db.clone() } else { other.clone() };
        racers.push(tokio::spawn(
            async move { acme::use_nonce(&db, "n-race").await.unwrap() },
        ));
    }
    let mut winners = 0;
    for r in racers {
        winners += usize::from(r.await.unwrap());
    }
    assert_eq!(winners, 1);

    // Expired nonces are refused and swept.
    acme::issue_nonce(&app.db, "n-old", Utc::now() - Duration::seconds(1))
        .await
        .unwrap();
    acme::issue_nonce(&app.db, "n-live", in_a_minute).await.unwrap();
    assert!(!acme::use_nonce(&app.db, "n-old").await.unwrap());
    assert_eq!(acme::sweep_nonces(&app.db).await.unwrap(), 1);
    assert!(acme::use_nonce(&app.db, "n-live").await.unwrap());
    other.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_manage_acme_endpoints_and_eab_keys_shown_once_and_audited() {
    use reqwest::{Method, StatusCode};
    use serde_json::json;

    use crate::helpers::id;

    let app = TestApp::spawn().await;
    let (issuer, profile) = app.pki().await;
    let body = json!({ "name": "k8s", "label": "k8s", "issuer_id": issuer, "profile_id": profile,
                       "eab_required": true, "allowed_dns_suffixes": ["Svc.Cluster.Local."],
                       "allowed_ip_ranges": ["10.0.0.0/8", "fd00::/8"], "allow_private_targets": true });
    let operator = app.key("ops", "operator").await;
    assert_eq!(
        app.post("/api/v1/acme-endpoints", &operator, body.clone()).await.0,
        StatusCode::FORBIDDEN
    );
    let (s, created) = app.post("/api/v1/acme-endpoints", &app.admin_key, body.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    assert_eq!(created["directory_path"], "/acme/k8s/directory");
    assert_eq!(
        created["allowed_dns_suffixes"],
        json!(["svc.cluster.local"]),
        "normalised"
    );
    let endpoint = id(&created);
    let (s, v) = app.post("/api/v1/acme-endpoints", &app.admin_key, body.clone()).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("already_exists")),
        "{v}"
    );
    for (field, bad) in [
        ("allowed_ip_ranges", json!(["10.0.0.1/8"])),
        ("allowed_dns_suffixes", json!(["*.example.com"])),
        ("terms_of_service_url", json!("ftp://example.com/tos")),
        ("label", json!("Not A Label")),
    ] {
        let mut b = body.clone();
        b["name"] = json!("other");
        b["label"] = json!("other");
        b[field] = bad;
        let (s, v) = app.post("/api/v1/acme-endpoints", &app.admin_key, b).await;
        assert_eq!(
            (s, v["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_request")),
            "{field}: {v}"
        );
    }

    // An EAB key: its HMAC key is shown once, stored only sealed, and its creation audited.
    let (s, eab) = app
        .post(
            &format!("/api/v1/acme-endpoints/{endpoint}/eab-keys"),
            &app.admin_key,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{eab}");
    let hmac_key = eab["hmac_key"].as_str().unwrap();
    let decoded = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, hmac_key).unwrap();
    assert_eq!(decoded.len(), 32);
    assert_eq!(
        app.scalar_i64(&format!(
            "SELECT count(*) FROM acme_eab_keys WHERE kid = '{}' AND position(decode('{}', 'hex') in key_ciphertext) = 0",
            eab["kid"].as_str().unwrap(),
            hex::encode(&decoded)
        ))
        .await,
        1,
        "the key is stored sealed"
    );
    let (_, list) = app.get("/api/v1/acme-endpoints", &app.admin_key).await;
    assert_eq!(list["total"], 1);
    assert!(!list.to_string().contains(hmac_key));
    for action in ["acme_endpoint.create", "acme_eab_key.create"] {
        assert_eq!(
            app.scalar_i64(&format!(
                "SELECT count(*) FROM audit_events WHERE action = '{action}' AND actor = 'bootstrap-admin'"
            ))
            .await,
            1,
            "{action}"
        );
    }

    // Disabled: no more keys, and its name and label are free again.
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/acme-endpoints/{endpoint}"),
            Some(&app.admin_key),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app
        .post(
            &format!("/api/v1/acme-endpoints/{endpoint}/eab-keys"),
            &app.admin_key,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        app.post("/api/v1/acme-endpoints", &app.admin_key, body).await.0,
        StatusCode::CREATED
    );
}

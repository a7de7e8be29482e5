//! Named API keys: creation, listing, disabling, expiry, bootstrap.

use certctl_shared::crypto::hash_api_key;
use certctl_shared::entities::api_key::Model as ApiKey;
use certctl_shared::repo::api_keys;
use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, fresh_database, random_secret};

#[tokio::test]
async fn keys_are_shown_once_and_listed_without_secrets() {
    let app = TestApp::spawn().await;
    let (s, created) = app
        .post(
            "/api/v1/api-keys",
            &app.admin_key,
            json!({ "name": "ci-deployer", "role": "operator", "principal": "alice@example.com" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let secret = created["key"].as_str().unwrap();
    assert_eq!(created["principal"], "alice@example.com");
    assert_eq!(created["role"], "operator");
    let (s, me) = app.get("/api/v1/auth/me", secret).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(me["principal"], "alice@example.com");
    assert_eq!(me["role"], "operator");

    let (s, list) = app.get("/api/v1/api-keys", &app.admin_key).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["total"], 2);
    let text = list.to_string();
    assert!(!text.contains(secret), "the secret leaked into the listing");
    assert!(!text.contains("key_hash"));
    // Only the SHA-256 is stored.
    let stored = api_keys::find_by_hash(&app.db, &hash_api_key(secret))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.name, "ci-deployer");

    // The principal defaults to the name.
    let (_, v) = app
        .post(
            "/api/v1/api-keys",
            &app.admin_key,
            json!({ "name": "bob", "role": "viewer" }),
        )
        .await;
    assert_eq!(v["principal"], "bob");
    // Names are unique; roles are checked.
    let (s, v) = app
        .post(
            "/api/v1/api-keys",
            &app.admin_key,
            json!({ "name": "bob", "role": "viewer" }),
        )
        .await;
    assert_eq!((s, v["code"].as_str()), (StatusCode::CONFLICT, Some("already_exists")));
    let (s, _) = app
        .post(
            "/api/v1/api-keys",
            &app.admin_key,
            json!({ "name": "eve", "role": "superuser" }),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = app
        .post(
            "/api/v1/api-keys",
            &app.admin_key,
            json!({ "name": "old", "role": "viewer", "expires_at": "2001-01-01T00:00:00Z" }),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // Creation is audited with the actor.
    let n = app
        .scalar_i64("SELECT count(*) FROM audit_events WHERE action = 'api_key.create' AND actor = 'bootstrap-admin'")
        .await;
    assert_eq!(n, 2);
}

#[tokio::test]
async fn a_disabled_key_is_refused_on_its_next_request_on_every_replica() {
    let app = TestApp::spawn().await;
    let replica = TestApp::spawn_on(app.db_url.clone(), app.admin_key.clone(), &[]).await;
    let (_, created) = app
        .post(
            "/api/v1/api-keys",
            &app.admin_key,
            json!({ "name": "temp", "role": "viewer" }),
        )
        .await;
    let secret = created["key"].as_str().unwrap().to_owned();
    for a in [&app, &replica] {
        assert_eq!(a.get("/api/v1/auth/me", &secret).await.0, StatusCode::OK);
    }
    let (s, v) = app
        .post(
            &format!("/api/v1/api-keys/{}/disable", created["id"].as_str().unwrap()),
            &app.admin_key,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["disabled_at"].is_string());
    for a in [&app, &replica] {
        let (s, v) = a.get("/api/v1/auth/me", &secret).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    }
    let (s, _) = app
        .post(
            &format!("/api/v1/api-keys/{}/disable", uuid::Uuid::new_v4()),
            &app.admin_key,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn expired_keys_are_refused_and_last_used_is_stamped() {
    let app = TestApp::spawn().await;
    let secret = random_secret();
    api_keys::insert(
        &app.db,
        ApiKey {
            id: certctl_shared::model::ApiKeyId::new(),
            name: "expired".into(),
            key_hash: hash_api_key(&secret).to_vec(),
            principal: "expired".into(),
            role: certctl_shared::model::Role::Admin,
            created_by: "test".into(),
            created_at: Utc::now() - Duration::days(2),
            last_used_at: None,
            disabled_at: None,
            expires_at: Some(Utc::now() - Duration::seconds(1)),
            created_by_key_id: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(app.get("/api/v1/auth/me", &secret).await.0, StatusCode::UNAUTHORIZED);
    let key = app.key("fresh", "viewer").await;
    for _ in 0..5 {
        assert_eq!(app.get("/api/v1/auth/me", &key).await.0, StatusCode::OK);
    }
    // The stamp is written off the request path; give it a moment.
    let mut stamped = 0;
    for _ in 0..50 {
        stamped = app
            .scalar_i64("SELECT count(*) FROM api_keys WHERE name = 'fresh' AND last_used_at IS NOT NULL")
            .await;
        if stamped == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(stamped, 1);
}

#[tokio::test]
async fn the_last_admin_key_cannot_be_disabled() {
    let app = TestApp::spawn().await;
    let (_, list) = app.get("/api/v1/api-keys", &app.admin_key).await;
    let id = list["data"][0]["id"].as_str().unwrap().to_owned();
    let (s, v) = app
        .post(&format!("/api/v1/api-keys/{id}/disable"), &app.admin_key, json!({}))
        .await;
    assert_eq!((s, v["code"].as_str()), (StatusCode::CONFLICT, Some("last_admin_key")));
}

#[tokio::test]
async fn bootstrap_creates_one_key_even_with_replicas_racing_and_never_recreates_it() {
    let (_, db_url) = fresh_database().await;
    let secret = random_secret();
    let (a, b, c) = tokio::join!(
        TestApp::spawn_on(db_url.clone(), secret.clone(), &[]),
        TestApp::spawn_on(db_url.clone(), secret.clone(), &[]),
        TestApp::spawn_on(db_url.clone(), secret.clone(), &[]),
    );
    assert_eq!(a.scalar_i64("SELECT count(*) FROM api_keys").await, 1);
    let (s, me) = b.get("/api/v1/auth/me", &secret).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(me["principal"], "bootstrap-admin");
    assert_eq!(me["role"], "admin");
    // A second admin disables the bootstrap key; a restart must not bring it back.
    let other = a.key("second-admin", "admin").await;
    let (_, list) = a.get("/api/v1/api-keys", &other).await;
    let boot = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "bootstrap-admin")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        a.post(&format!("/api/v1/api-keys/{boot}/disable"), &other, json!({}))
            .await
            .0,
        StatusCode::OK
    );
    drop((a, b, c));
    let restarted = TestApp::spawn_on(db_url, secret.clone(), &[]).await;
    assert_eq!(
        restarted.get("/api/v1/auth/me", &secret).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        restarted
            .scalar_i64("SELECT count(*) FROM api_keys WHERE name = 'bootstrap-admin'")
            .await,
        1
    );
}

#[tokio::test]
async fn create_admin_key_subcommand_prints_a_working_key_once() {
    let app = TestApp::spawn().await;
    let out = std::process::Command::new(certctl_test_support::process::binary("certctl-api-server"))
        .args(["create-admin-key", "--name", "break-glass"])
        .env("CERTCTL_DATABASE_URL", &app.db_url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let secret = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let (s, me) = app.get("/api/v1/auth/me", &secret).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(me["principal"], "break-glass");
    assert_eq!(me["role"], "admin");
}

#[tokio::test]
async fn graceful_shutdown_returns_cleanly() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.get("/api/v1/auth/me", &app.admin_key.clone()).await.0,
        StatusCode::OK
    );
    app.stop().await.expect("clean stop");
}

//! The route table as a whole: the role matrix, unauthenticated paths and error shapes.

use certctl_api_server::auth::{Access, role_grants};
use certctl_api_server::routes::{ROUTES, Verb};
use certctl_shared::model::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::TestApp;

fn method(v: Verb) -> Method {
    match v {
        Verb::Get => Method::GET,
        Verb::Post => Method::POST,
        Verb::Put => Method::PUT,
        Verb::Patch => Method::PATCH,
        Verb::Delete => Method::DELETE,
    }
}

#[tokio::test]
async fn every_route_enforces_its_declared_access_for_every_role() {
    let app = TestApp::spawn().await;
    let mut keys = Vec::new();
    for role in Role::ALL {
        keys.push((*role, app.key(&format!("matrix-{role}"), role.as_str()).await));
    }
    assert!(ROUTES.len() >= 25, "the route table lost routes");
    let audit_before = app.scalar_i64("SELECT count(*) FROM audit_events").await;
    let mut expected_denials = 0;
    for def in ROUTES {
        let path = def.path.replace("{id}", &uuid::Uuid::new_v4().to_string());
        let body = matches!(def.verb, Verb::Post | Verb::Put | Verb::Patch).then(|| json!({}));
        let (status, problem) = app.call(method(def.verb), &path, None, body.clone()).await;
        match def.access {
            Access::Public => assert_ne!(
                status,
                StatusCode::UNAUTHORIZED,
                "{} {path} is public",
                def.verb.as_str()
            ),
            _ => {
                assert_eq!(
                    status,
                    StatusCode::UNAUTHORIZED,
                    "{} {path} without a key",
                    def.verb.as_str()
                );
                assert_eq!(problem["code"], "unauthorized");
            }
        }
        for (role, key) in &keys {
            let (status, v) = app.call(method(def.verb), &path, Some(key), body.clone()).await;
            assert_ne!(
                status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{} {path} is not routed",
                def.verb.as_str()
            );
            assert_ne!(
                status,
                StatusCode::UNAUTHORIZED,
                "{} {path} refused a valid {role} key",
                def.verb.as_str()
            );
            let allowed = match def.access {
                Access::Public | Access::Authenticated => true,
                Access::Require(p) => role_grants(*role, p),
            };
            if allowed {
                assert_ne!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{} {path} must allow {role}: {v}",
                    def.verb.as_str()
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{} {path} must refuse {role}: {v}",
                    def.verb.as_str()
                );
                assert_eq!(v["code"], "forbidden");
                expected_denials += 1;
            }
        }
    }
    // Every 403 is audited; no 401 is.
    let denied = app
        .scalar_i64("SELECT count(*) FROM audit_events WHERE outcome = 'denied' AND action = 'authorization.denied'")
        .await;
    assert_eq!(denied, expected_denials);
    let audit_after = app.scalar_i64("SELECT count(*) FROM audit_events").await;
    assert!(audit_after - audit_before >= expected_denials);
}

#[tokio::test]
async fn unauthenticated_requests_never_write_to_the_database() {
    let app = TestApp::spawn().await;
    let before = app.scalar_i64("SELECT count(*) FROM audit_events").await;
    for key in [None, Some("cctl_not-a-real-key"), Some("")] {
        for _ in 0..20 {
            let (s, _) = app
                .call(
                    Method::POST,
                    "/api/v1/certificates/bulk-revoke",
                    key,
                    Some(json!({"reason": "keyCompromise"})),
                )
                .await;
            assert_eq!(s, StatusCode::UNAUTHORIZED);
        }
    }
    assert_eq!(app.scalar_i64("SELECT count(*) FROM audit_events").await, before);
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("certctl_auth_failures_total{reason=\"missing\"} 20"),
        "{metrics}"
    );
    assert!(
        metrics.contains("certctl_auth_failures_total{reason=\"unknown\"} 20"),
        "{metrics}"
    );
}

#[tokio::test]
async fn old_revocation_paths_and_unknown_routes_are_problem_404s() {
    let app = TestApp::spawn().await;
    let issuer = uuid::Uuid::new_v4();
    for path in [
        "/api/v1/crl".to_owned(),
        format!("/api/v1/crl/{issuer}"),
        format!("/api/v1/ocsp/{issuer}/0a1b"),
        "/api/v1/nope".to_owned(),
    ] {
        let resp = app
            .http
            .get(format!("{}{path}", app.base))
            .bearer_auth(&app.admin_key)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(resp.headers()["content-type"], "application/problem+json");
        let v: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(v["code"], "not_found");
    }
    let resp = app
        .http
        .post(format!("{}/api/v1/ocsp/{issuer}", app.base))
        .body(vec![0x30, 0x00])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let (s, v) = app
        .call(Method::DELETE, "/api/v1/issuers", Some(&app.admin_key), None)
        .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED, "{v}");
}

#[tokio::test]
async fn malformed_bodies_are_400_problems_never_422() {
    let app = TestApp::spawn().await;
    let url = format!("{}/api/v1/issuers", app.base);
    let cases: Vec<(&str, &str)> = vec![
        ("application/json", "{not json"),
        ("application/json", r#"{"name": 5}"#),
        (
            "application/json",
            r#"{"name": "x", "common_name": "x", "key_algorithm": "dsa-1024"}"#,
        ),
        (
            "application/json",
            r#"{"name": "x", "common_name": "x", "key_algorithm": "ecdsa-p256", "surprise": 1}"#,
        ),
        ("application/json", "[]"),
    ];
    for (ct, body) in cases {
        let resp = app
            .http
            .post(&url)
            .bearer_auth(&app.admin_key)
            .header("content-type", ct)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(resp.headers()["content-type"], "application/problem+json");
        let v: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(v["code"], "invalid_request", "{body}");
        assert_eq!(v["status"], 400);
    }
    let resp = app
        .http
        .post(&url)
        .bearer_auth(&app.admin_key)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (s, v) = app.get("/api/v1/certificates/not-a-uuid", &app.admin_key).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let (s, v) = app.get("/api/v1/certificates?status=sideways", &app.admin_key).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_query"))
    );
    let (s, v) = app.get("/api/v1/certificates?cursor=garbage", &app.admin_key).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_cursor"))
    );
    // Permission is checked before the body is read: a viewer gets 403 even for garbage.
    let viewer = app.key("v", "viewer").await;
    let resp = app
        .http
        .post(&url)
        .bearer_auth(&viewer)
        .header("content-type", "application/json")
        .body("{garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // Bodies over the limit are refused.
    let big = format!("{{\"name\": \"{}\"}}", "a".repeat(2 * 1024 * 1024));
    let resp = app
        .http
        .post(&url)
        .bearer_auth(&app.admin_key)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn version_is_public_and_requests_carry_ids() {
    let app = TestApp::spawn().await;
    let resp = app
        .http
        .get(format!("{}/api/v1/version", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().contains_key("x-request-id"));
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["name"], "certctl");
    for path in ["/healthz", "/readyz", "/metrics"] {
        let r = app.http.get(format!("{}{path}", app.admin_base)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
}

//! Enrollment profiles over REST: admins bind a protocol, a label, an issuer and a profile, with
//! credentials kept only as argon2id hashes; every create and disable is audited.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, id};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrollment_profiles_keep_only_hashes_and_are_audited() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key.clone();
    let (issuer, profile) = app.pki().await;
    let est = |label: &str, extra: Value| {
        let mut body = json!({ "name": format!("est {label}"), "protocol": "est", "label": label,
                               "issuer_id": issuer, "profile_id": profile,
                               "est": { "username": "router", "password": "a long router password" } });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };

    // EST with Basic credentials: the password is never shown, and stored as an argon2id hash.
    let (s, created) = app
        .post(
            "/api/v1/enrollment-profiles",
            &admin,
            est("routers", json!({ "is_default": true })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    assert!(created.get("scep_challenge").is_none());
    assert!(!created.to_string().contains("a long router password"), "{created}");
    assert_eq!(created["est_username"], "router");
    let hash = app
        .scalar_text(&format!(
            "SELECT est_password_hash FROM enrollment_profiles WHERE id = '{}'",
            id(&created)
        ))
        .await;
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(certctl_api_server::service::enrollment::verify_secret(
        "a long router password",
        &hash
    ));

    // SCEP: a challenge is generated and shown once; only its hash is kept.
    let (s, scep) = app
        .post(
            "/api/v1/enrollment-profiles",
            &admin,
            json!({ "name": "mdm", "protocol": "scep", "label": "routers", "issuer_id": issuer, "profile_id": profile,
                    "scep": { "one_time": true } }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{scep}");
    let challenge = scep["scep_challenge"]
        .as_str()
        .expect("challenge shown once")
        .to_owned();
    assert_eq!(scep["scep_challenge_one_time"], true);
    let hash = app
        .scalar_text(&format!(
            "SELECT scep_challenge_hash FROM enrollment_profiles WHERE id = '{}'",
            id(&scep)
        ))
        .await;
    assert!(certctl_api_server::service::enrollment::verify_secret(
        &challenge, &hash
    ));
    let (_, shown) = app
        .get(&format!("/api/v1/enrollment-profiles/{}", id(&scep)), &admin)
        .await;
    assert!(
        shown.get("scep_challenge").is_none() && !shown.to_string().contains(&challenge),
        "{shown}"
    );

    // Labels are unique per protocol among profiles in use, as is the default.
    let (s, p) = app
        .post(
            "/api/v1/enrollment-profiles",
            &admin,
            est("routers", json!({ "name": "again" })),
        )
        .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::CONFLICT, Some("label_taken")),
        "{p}"
    );
    let (s, p) = app
        .post(
            "/api/v1/enrollment-profiles",
            &admin,
            est("switches", json!({ "is_default": true })),
        )
        .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::CONFLICT, Some("default_taken")),
        "{p}"
    );

    // Bad requests are 400s that say what is wrong.
    for (body, needle) in [
        (est("Bad/Label", json!({})), "label"),
        (est("nocreds", json!({ "est": {} })), "needs est.username"),
        (
            est("short", json!({ "est": { "username": "u", "password": "short" } })),
            "12 to 1024",
        ),
        (est("scepish", json!({ "scep": {} })), "not `scep`"),
        (
            est("ghost", json!({ "profile_id": "0191e7a4-5b7c-7d2e-9f10-123456789abc" })),
            "does not exist",
        ),
    ] {
        let (s, p) = app.post("/api/v1/enrollment-profiles", &admin, body).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{p}");
        assert!(p["detail"].as_str().unwrap().contains(needle), "{needle}: {p}");
    }

    // Only admins manage them.
    let operator = app.key("op", "operator").await;
    let (s, _) = app.get("/api/v1/enrollment-profiles", &operator).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Disabling keeps the row, frees the label, and is audited; a second disable is a 404.
    let (s, off) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/enrollment-profiles/{}", id(&created)),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{off}");
    assert!(off["disabled_at"].is_string());
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/enrollment-profiles/{}", id(&created)),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, p) = app
        .post(
            "/api/v1/enrollment-profiles",
            &admin,
            est("routers", json!({ "name": "est routers v2" })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let (_, list) = app.get("/api/v1/enrollment-profiles", &admin).await;
    assert_eq!(list["total"], 3, "{list}");
    let (_, audit) = app.get("/api/v1/audit?resource_type=enrollment_profile", &admin).await;
    let actions: Vec<&str> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "enrollment_profile.create",
            "enrollment_profile.disable",
            "enrollment_profile.create",
            "enrollment_profile.create"
        ]
    );
    assert!(!audit.to_string().contains(&challenge) && !audit.to_string().contains("a long router password"));

    // Certificates say how they came in.
    let cert = app.issue(&issuer, &profile, "src.example.com").await;
    assert_eq!(cert["source"], "api");
    app.stop().await.unwrap();
}

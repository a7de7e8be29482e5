//! Approval jobs: nobody decides their own request.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, id, openssl_csr, tempdir};

async fn approval_setup(app: &TestApp) -> (String, String, String) {
    let (issuer, _) = app.pki().await;
    let profile = app
        .profile(json!({ "name": "gated", "max_ttl_seconds": 30 * 86400, "allowed_key_algorithms": ["ecdsa-p256"], "ekus": ["server_auth"], "requires_approval": true }))
        .await;
    let (csr, _) = openssl_csr(
        &tempdir(),
        &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "gated.example.net",
    );
    (issuer, id(&profile), csr)
}

#[tokio::test]
async fn requesters_cannot_decide_their_own_jobs_and_approval_issues() {
    let app = TestApp::spawn().await;
    let (issuer, profile, csr) = approval_setup(&app).await;
    let alice = app.key("alice", "operator").await;
    let bob = app.key("bob", "operator").await;
    let viewer = app.key("val", "viewer").await;
    // Another key carrying alice's principal is still alice.
    let (_, alice2) = app
        .post(
            "/api/v1/api-keys",
            &app.admin_key,
            json!({ "name": "alice-laptop", "role": "operator", "principal": "ALICE" }),
        )
        .await;
    let (_, alice_admin) = app
        .post(
            "/api/v1/api-keys",
            &app.admin_key,
            json!({ "name": "alice-admin", "role": "admin", "principal": "alice" }),
        )
        .await;

    let (s, job) = app
        .post(
            "/api/v1/certificates",
            &alice,
            json!({ "issuer_id": issuer, "profile_id": profile, "common_name": "gated.example.net", "csr_pem": csr }),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{job}");
    assert_eq!(job["status"], "awaiting_approval");
    let job_id = job["job_id"].as_str().unwrap().to_owned();
    assert_eq!(app.scalar_i64("SELECT count(*) FROM certificates").await, 0);
    let (_, summary) = app.get("/api/v1/stats/summary", &viewer).await;
    assert_eq!(summary["jobs_awaiting_approval"], 1);

    for key in [
        alice.as_str(),
        alice2["key"].as_str().unwrap(),
        alice_admin["key"].as_str().unwrap(),
    ] {
        for verb in ["approve", "reject"] {
            let (s, v) = app.post(&format!("/api/v1/jobs/{job_id}/{verb}"), key, json!({})).await;
            assert_eq!(
                (s, v["code"].as_str()),
                (StatusCode::FORBIDDEN, Some("self_approval_forbidden")),
                "{v}"
            );
        }
    }
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM audit_events WHERE action LIKE 'job.%' AND outcome = 'denied'")
            .await,
        6
    );
    let (s, _) = app
        .post(&format!("/api/v1/jobs/{job_id}/approve"), &viewer, json!({}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let (s, decided) = app
        .post(
            &format!("/api/v1/jobs/{job_id}/approve"),
            &bob,
            json!({ "note": "looks right" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{decided}");
    assert_eq!(decided["status"], "approved");
    assert_eq!(decided["decided_by"], "bob");
    assert_eq!(decided["decision_note"], "looks right");
    let cert_id = decided["certificate_id"].as_str().unwrap();
    let (_, cert) = app.get(&format!("/api/v1/certificates/{cert_id}"), &viewer).await;
    assert_eq!(cert["requested_by"], "alice");
    assert_eq!(cert["job_id"], json!(job_id));
    let (s, v) = app
        .post(&format!("/api/v1/jobs/{job_id}/approve"), &bob, json!({}))
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("job_already_decided"))
    );
    let (s, v) = app
        .post(
            &format!("/api/v1/jobs/{}/approve", uuid::Uuid::new_v4()),
            &bob,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(
        app.scalar_i64(
            "SELECT count(*) FROM audit_events WHERE action = 'job.approve' AND actor = 'bob' AND outcome = 'success'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn rejection_and_renewal_under_approval() {
    let app = TestApp::spawn().await;
    let (issuer, profile, csr) = approval_setup(&app).await;
    let alice = app.key("alice", "operator").await;
    let bob = app.key("bob", "operator").await;
    let (_, job) = app
        .post(
            "/api/v1/certificates",
            &alice,
            json!({ "issuer_id": issuer, "profile_id": profile, "common_name": "gated.example.net", "csr_pem": csr }),
        )
        .await;
    let job_id = job["job_id"].as_str().unwrap();
    let (s, v) = app
        .post(
            &format!("/api/v1/jobs/{job_id}/reject"),
            &bob,
            json!({ "note": "wrong team" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "rejected");
    assert!(v["certificate_id"].is_null());
    let (s, _) = app
        .post(&format!("/api/v1/jobs/{job_id}/approve"), &bob, json!({}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (_, listed) = app.get("/api/v1/jobs?status=rejected", &alice).await;
    assert_eq!(listed["total"], 1);

    // Server-side keys cannot go through approval: only the approver would ever see them.
    let (s, v) = app
        .post("/api/v1/certificates", &alice, json!({ "issuer_id": issuer, "profile_id": profile, "common_name": "gated.example.net", "key_algorithm": "ecdsa-p256" }))
        .await;
    assert_eq!((s, v["code"].as_str()), (StatusCode::BAD_REQUEST, Some("csr_required")));

    // Renewal under a gated profile is a job too, and approval supersedes the old certificate.
    let (_, job) = app
        .post(
            "/api/v1/certificates",
            &alice,
            json!({ "issuer_id": issuer, "profile_id": profile, "common_name": "gated.example.net", "csr_pem": csr }),
        )
        .await;
    let (_, approved) = app
        .post(
            &format!("/api/v1/jobs/{}/approve", job["job_id"].as_str().unwrap()),
            &bob,
            json!({}),
        )
        .await;
    let cert_id = approved["certificate_id"].as_str().unwrap().to_owned();
    let (s, renewal) = app
        .post(&format!("/api/v1/certificates/{cert_id}/renew"), &alice, json!({}))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{renewal}");
    let (_, done) = app
        .post(
            &format!("/api/v1/jobs/{}/approve", renewal["job_id"].as_str().unwrap()),
            &bob,
            json!({}),
        )
        .await;
    assert_eq!(done["status"], "approved", "{done}");
    let (_, old) = app.get(&format!("/api/v1/certificates/{cert_id}"), &alice).await;
    assert_eq!(old["status"], "renewed");
    assert_eq!(old["superseded_by_id"], done["certificate_id"]);
}

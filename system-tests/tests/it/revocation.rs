//! Revocation: RFC 5280 reasons, double revocation, bulk revocation.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, id, openssl_csr, tempdir};

#[tokio::test]
async fn every_supported_reason_revokes_with_its_rfc5280_code() {
    let app = TestApp::spawn().await;
    let (issuer, profile) = app.pki().await;
    let operator = app.key("op", "operator").await;
    let reasons = [
        ("unspecified", None),
        ("keyCompromise", Some(1)),
        ("cACompromise", Some(2)),
        ("affiliationChanged", Some(3)),
        ("superseded", Some(4)),
        ("cessationOfOperation", Some(5)),
        ("privilegeWithdrawn", Some(9)),
    ];
    for (reason, code) in reasons {
        let cert = app
            .issue(&issuer, &profile, &format!("{}.example.net", reason.to_lowercase()))
            .await;
        let (s, v) = app
            .post(
                &format!("/api/v1/certificates/{}/revoke", id(&cert)),
                &operator,
                json!({ "reason": reason }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{reason}: {v}");
        assert_eq!(v["status"], "revoked");
        assert_eq!(v["revocation"]["reason"], reason);
        assert_eq!(v["revocation"]["revoked_by"], "op");
        let stored = app
            .scalar_i64(&format!(
                "SELECT coalesce(reason_code, -1)::bigint FROM certificate_revocations WHERE certificate_id = '{}'",
                id(&cert)
            ))
            .await;
        assert_eq!(stored, code.unwrap_or(-1), "{reason}");
        let audited = app
            .scalar_i64(&format!("SELECT count(*) FROM audit_events WHERE action = 'certificate.revoke' AND actor = 'op' AND resource_id = '{}'", id(&cert)))
            .await;
        assert_eq!(audited, 1);
        // Twice is a clear conflict.
        let (s, v) = app
            .post(
                &format!("/api/v1/certificates/{}/revoke", id(&cert)),
                &operator,
                json!({ "reason": reason }),
            )
            .await;
        assert_eq!(
            (s, v["code"].as_str()),
            (StatusCode::CONFLICT, Some("already_revoked")),
            "{v}"
        );
    }
    let cert = app.issue(&issuer, &profile, "hold.example.net").await;
    for reason in ["certificateHold", "removeFromCRL"] {
        let (s, v) = app
            .post(
                &format!("/api/v1/certificates/{}/revoke", id(&cert)),
                &operator,
                json!({ "reason": reason }),
            )
            .await;
        assert_eq!(
            (s, v["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("unsupported_reason")),
            "{v}"
        );
    }
    let (s, v) = app
        .post(
            &format!("/api/v1/certificates/{}/revoke", id(&cert)),
            &operator,
            json!({ "reason": "boredom" }),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_reason"))
    );
    let (_, still) = app.get(&format!("/api/v1/certificates/{}", id(&cert)), &operator).await;
    assert_eq!(still["status"], "active");
    let (s, _) = app
        .post(
            &format!("/api/v1/certificates/{}/revoke", uuid::Uuid::new_v4()),
            &operator,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // A superseded certificate is still valid until it expires, so it can be revoked.
    let (_, renewed) = app
        .post(
            &format!("/api/v1/certificates/{}/renew", id(&cert)),
            &operator,
            json!({}),
        )
        .await;
    let (s, v) = app
        .post(
            &format!("/api/v1/certificates/{}/revoke", id(&cert)),
            &operator,
            json!({ "reason": "superseded" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(renewed["id"].is_string());
}

#[tokio::test]
async fn bulk_revocation_is_admin_only_needs_criteria_and_counts() {
    let app = TestApp::spawn().await;
    let (issuer, profile) = app.pki().await;
    let other_issuer = app.issuer("other", "ecdsa-p256").await;
    let operator = app.key("op", "operator").await;
    let mut certs = Vec::new();
    for i in 0..6 {
        certs.push(app.issue(&issuer, &profile, &format!("b{i}.example.net")).await);
    }
    let keep = app.issue(&id(&other_issuer), &profile, "keep.example.net").await;
    app.post(
        &format!("/api/v1/certificates/{}/revoke", id(&certs[0])),
        &operator,
        json!({ "reason": "superseded" }),
    )
    .await;

    let (s, v) = app
        .post(
            "/api/v1/certificates/bulk-revoke",
            &operator,
            json!({ "reason": "keyCompromise", "issuer_id": issuer }),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    for empty in [
        json!({ "reason": "keyCompromise" }),
        json!({ "reason": "keyCompromise", "certificate_ids": [] }),
    ] {
        let (s, v) = app
            .post("/api/v1/certificates/bulk-revoke", &app.admin_key, empty)
            .await;
        assert_eq!(
            (s, v["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("empty_criteria")),
            "{v}"
        );
    }
    let (s, v) = app
        .post(
            "/api/v1/certificates/bulk-revoke",
            &app.admin_key,
            json!({ "reason": "certificateHold", "issuer_id": issuer }),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unsupported_reason"))
    );
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM certificates WHERE status = 'revoked'")
            .await,
        1
    );

    let (s, v) = app
        .post(
            "/api/v1/certificates/bulk-revoke",
            &app.admin_key,
            json!({ "reason": "cACompromise", "issuer_id": issuer }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["matched"], 6);
    assert_eq!(v["revoked"], 5);
    assert_eq!(v["skipped"], 1);
    assert_eq!(v["failed"], 0);
    let (_, kept) = app
        .get(&format!("/api/v1/certificates/{}", id(&keep)), &app.admin_key)
        .await;
    assert_eq!(kept["status"], "active");
    let (_, first) = app
        .get(&format!("/api/v1/certificates/{}", id(&certs[0])), &app.admin_key)
        .await;
    assert_eq!(
        first["revocation"]["reason"], "superseded",
        "an earlier revocation is never rewritten"
    );
    assert_eq!(
        app.scalar_i64(&format!("SELECT count(*) FROM certificate_revocations WHERE issuer_id = '{issuer}' AND reason = 'cACompromise' AND reason_code = 2")).await,
        5
    );
    // Each certificate has its own audit row, and the batch one more.
    assert_eq!(
        app.scalar_i64(
            "SELECT count(*) FROM audit_events WHERE action = 'certificate.revoke' AND details->>'bulk' = 'true'"
        )
        .await,
        5
    );
    assert_eq!(
        app.scalar_i64(
            "SELECT count(*) FROM audit_events WHERE action = 'certificate.bulk_revoke' AND actor = 'bootstrap-admin'"
        )
        .await,
        1
    );

    // By ids, AND-ed with other criteria, with an unknown id reported as failed.
    let missing = uuid::Uuid::new_v4();
    let (s, v) = app
        .post(
            "/api/v1/certificates/bulk-revoke",
            &app.admin_key,
            json!({ "reason": "privilegeWithdrawn", "certificate_ids": [id(&keep), missing], "profile_id": profile }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (
            v["matched"].as_u64(),
            v["revoked"].as_u64(),
            v["skipped"].as_u64(),
            v["failed"].as_u64()
        ),
        (Some(1), Some(1), Some(0), Some(1))
    );
    assert_eq!(v["not_found"], json!([missing]));
}

#[tokio::test]
async fn a_key_revoked_for_key_compromise_is_never_certified_again() {
    let app = TestApp::spawn().await;
    let (issuer, profile) = app.pki().await;
    let (csr, _) = openssl_csr(
        &tempdir(),
        &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "leaky.example.net",
    );
    let body =
        json!({ "issuer_id": issuer, "profile_id": profile, "common_name": "leaky.example.net", "csr_pem": csr });
    let (s, first) = app.post("/api/v1/certificates", &app.admin_key, body.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    let (s, second) = app.post("/api/v1/certificates", &app.admin_key, body.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{second}");
    // Revoking one certificate for keyCompromise condemns the key, not just that certificate.
    let (s, _) = app
        .post(
            &format!("/api/v1/certificates/{}/revoke", id(&first)),
            &app.admin_key,
            json!({ "reason": "keyCompromise" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = app.post("/api/v1/certificates", &app.admin_key, body.clone()).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("key_compromised")),
        "{v}"
    );
    let (s, v) = app
        .post(
            &format!("/api/v1/certificates/{}/renew", id(&second)),
            &app.admin_key,
            json!({}),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("key_compromised")),
        "{v}"
    );
    assert_eq!(app.scalar_i64("SELECT count(*) FROM certificates").await, 2);
    // Bulk revocation for keyCompromise records every key it revokes.
    let other = app.issue(&issuer, &profile, "other.example.net").await;
    let (s, _) = app
        .post(
            "/api/v1/certificates/bulk-revoke",
            &app.admin_key,
            json!({ "reason": "keyCompromise", "certificate_ids": [id(&other)] }),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(app.scalar_i64("SELECT count(*) FROM compromised_keys").await, 2);
}

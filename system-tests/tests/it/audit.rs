//! The audit log: append-only in the database, readable by auditors and admins.

use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn the_database_rejects_update_delete_and_truncate_of_audit_rows() {
    let app = TestApp::spawn().await;
    app.key("someone", "viewer").await;
    for sql in [
        "UPDATE audit_events SET actor = 'mallory'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ] {
        let err = app.db.execute_unprepared(sql).await.expect_err(sql);
        assert!(err.to_string().contains("audit log is append-only"), "{sql}: {err}");
    }
    assert!(app.scalar_i64("SELECT count(*) FROM audit_events").await >= 2);
}

#[tokio::test]
async fn auditors_read_the_log_with_filters_and_cursor_pagination() {
    let app = TestApp::spawn().await;
    let auditor = app.key("auditor", "auditor").await;
    for i in 0..5 {
        app.key(&format!("k{i}"), "viewer").await;
    }
    let (s, page) = app.get("/api/v1/audit?action=api_key.create&limit=2", &auditor).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert_eq!(page["total"], 6);
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    let mut seen = 2;
    let mut cursor = page["next_cursor"].as_str().map(str::to_owned);
    while let Some(c) = cursor {
        let (_, p) = app
            .get(
                &format!("/api/v1/audit?action=api_key.create&limit=2&cursor={c}"),
                &auditor,
            )
            .await;
        seen += p["data"].as_array().unwrap().len();
        cursor = p["next_cursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen, 6);
    let (_, by_actor) = app
        .get("/api/v1/audit?actor=bootstrap-admin&resource_type=api_key", &auditor)
        .await;
    assert!(
        by_actor["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor"] == "bootstrap-admin")
    );
    let row = &by_actor["data"][0];
    for field in [
        "id",
        "actor",
        "action",
        "resource_type",
        "resource_id",
        "details",
        "created_at",
    ] {
        assert!(!row[field].is_null(), "{field} missing in {row}");
    }
    // An operator cannot read the audit log.
    let op = app.key("op", "operator").await;
    assert_eq!(app.get("/api/v1/audit", &op).await.0, StatusCode::FORBIDDEN);
    let _ = json!({});
}

//! Notifications end to end: outbox rows written with their cause, published to RabbitMQ,
//! delivered by the real worker to a recording receiver, on the exact retry schedule.

use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{TestApp, id};
use crate::notify_harness::{Answer, Receiver};

fn ts(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("not a time: {v}")))
        .unwrap()
        .with_timezone(&Utc)
}

/// Standard Webhooks verification written from the specification, with RustCrypto's HMAC
/// rather than the ring code the worker signs with.
fn verify_standard_webhook(
    secret: &str,
    headers: &std::collections::HashMap<String, String>,
    body: &[u8],
) -> Result<(), String> {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").ok_or("no whsec_ prefix")?)
        .map_err(|e| e.to_string())?;
    let id = headers.get("webhook-id").ok_or("no webhook-id")?;
    let timestamp = headers.get("webhook-timestamp").ok_or("no webhook-timestamp")?;
    let signatures = headers.get("webhook-signature").ok_or("no webhook-signature")?;
    let sent: i64 = timestamp.parse().map_err(|_| "timestamp is not an integer")?;
    if (Utc::now().timestamp() - sent).abs() > 300 {
        return Err("timestamp outside the tolerance".into());
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|e| e.to_string())?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    if signatures.split(' ').any(|s| s == expected) {
        Ok(())
    } else {
        Err(format!("signature mismatch: {signatures}"))
    }
}

#[tokio::test]
async fn an_issued_certificate_reaches_a_signed_webhook_exactly_as_specified() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (channel, secret) = app
        .webhook_channel(
            "ops-hook",
            &receiver.url,
            &["certificate_issued", "certificate_revoked"],
        )
        .await;
    let _worker = app.worker(&[]).await;
    let (issuer, profile) = app.pki().await;
    let cert = app.issue(&issuer, &profile, "hooked.example.net").await;
    // The notification row was written with the certificate, for the subscribed channel only.
    let rows = app.notifications_of(&format!("certificate_id={}", id(&cert))).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!(row["type"], "certificate_issued");
    assert_eq!(row["channel_id"], json!(channel));
    assert_eq!(row["channel_kind"], "webhook");
    assert_eq!(row["max_attempts"], 5);
    let nid = row["id"].as_str().unwrap().to_owned();
    let done = app
        .wait_notification(&nid, Duration::from_secs(10), |v| v["status"] == "sent")
        .await;
    assert_eq!(done["retry_count"], 0);
    assert!(done["sent_at"].is_string());
    assert_eq!(done["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(done["attempts"][0]["outcome"], "delivered");
    assert_eq!(done["attempts"][0]["status_code"], 200);

    let seen = receiver.seen();
    assert_eq!(seen.len(), 1);
    let req = &seen[0];
    assert_eq!(req.path, "/hook");
    assert_eq!(req.headers["content-type"], "application/json");
    assert_eq!(req.headers["webhook-id"], nid, "webhook-id is the notification id");
    verify_standard_webhook(&secret, &req.headers, &req.body).expect("valid Standard Webhooks signature");
    let body: Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(body["type"], "certificate_issued");
    assert!(body["timestamp"].is_string());
    assert_eq!(body["data"]["certificate_id"], cert["id"]);
    assert_eq!(body["data"]["serial_hex"], cert["serial_hex"]);
    // A tampered body fails the same verification.
    assert!(verify_standard_webhook(&secret, &req.headers, b"{}").is_err());
    // The channel's secret is never returned.
    let (_, shown) = app
        .get(&format!("/api/v1/notification-channels/{channel}"), &app.admin_key)
        .await;
    assert!(!shown.to_string().contains(&secret), "{shown}");
    assert_eq!(shown["secrets_set"], json!(["secret", "url"]));
    // The receiver URL is sealed too, and shown as scheme and host only.
    assert_eq!(shown["config"]["url"], format!("{}/…", receiver.url));
}

#[tokio::test]
async fn failures_follow_the_exact_schedule_then_die_after_the_fifth() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    receiver.always(500);
    let (channel, _) = app.webhook_channel("flaky", &receiver.url, &["channel_test"]).await;
    let _worker = app.worker(&[]).await;
    let (s, n) = app
        .post(
            &format!("/api/v1/notification-channels/{channel}/test"),
            &app.admin_key,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{n}");
    let nid = n["id"].as_str().unwrap().to_owned();
    let dead = app
        .wait_notification(&nid, Duration::from_secs(20), |v| v["status"] == "dead")
        .await;
    assert_eq!(dead["retry_count"], 5);
    assert!(dead["next_retry_at"].is_null());
    assert!(dead["last_error"].as_str().unwrap().contains("500"), "{dead}");
    let attempts = dead["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 5);
    for (i, a) in attempts.iter().enumerate() {
        assert_eq!(a["attempt"], i as i64 + 1);
        assert_eq!(a["outcome"], "rejected");
        assert_eq!(a["status_code"], 500);
    }
    // Attempt k+1 starts no earlier than attempt k's end plus 2^(k-1) × 200 ms, and promptly after.
    let seen = receiver.seen();
    assert_eq!(seen.len(), 5);
    for k in 1..5usize {
        let prev_end = ts(&attempts[k - 1]["started_at"])
            + chrono::Duration::milliseconds(attempts[k - 1]["duration_ms"].as_i64().unwrap());
        let wait = chrono::Duration::milliseconds(200 * (1 << (k - 1)));
        let started = ts(&attempts[k]["started_at"]);
        assert!(
            started >= prev_end + wait - chrono::Duration::milliseconds(5),
            "attempt {} early: {started} < {prev_end} + {wait}",
            k + 1
        );
        assert!(
            started <= prev_end + wait + chrono::Duration::milliseconds(900),
            "attempt {} late: {started} vs {prev_end} + {wait}",
            k + 1
        );
    }
    let (_, summary) = app.get("/api/v1/stats/summary", &app.admin_key).await;
    assert_eq!(summary["notifications_dead"], 1);
}

#[tokio::test]
async fn the_schedule_is_recorded_after_each_failure() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    receiver.always(503);
    let (channel, _) = app.webhook_channel("slowly", &receiver.url, &["channel_test"]).await;
    // A long base so each scheduled state can be read before the next attempt.
    let _worker = app
        .worker(&[
            ("CERTCTL_NOTIFICATION_BACKOFF_BASE", "1s"),
            ("CERTCTL_NOTIFICATION_BACKOFF_CAP", "2s"),
        ])
        .await;
    let (_, n) = app
        .post(
            &format!("/api/v1/notification-channels/{channel}/test"),
            &app.admin_key,
            json!({}),
        )
        .await;
    let nid = n["id"].as_str().unwrap().to_owned();
    // First failure: scheduled like any other (earlier certctl releases stranded it).
    let first = app
        .wait_notification(&nid, Duration::from_secs(5), |v| v["retry_count"] == 1)
        .await;
    assert_eq!(first["status"], "failed");
    let a1 = &first["attempts"][0];
    let end1 = ts(&a1["started_at"]) + chrono::Duration::milliseconds(a1["duration_ms"].as_i64().unwrap());
    let next1 = ts(&first["next_retry_at"]);
    let delta = (next1 - end1).num_milliseconds();
    assert!(
        (950..=1100).contains(&delta),
        "next_retry_at after failure 1 is {delta} ms after it, expected ~1000"
    );
    assert!(first["last_error"].as_str().unwrap().contains("503"));
    let second = app
        .wait_notification(&nid, Duration::from_secs(5), |v| v["retry_count"] == 2)
        .await;
    let a2 = &second["attempts"][1];
    let end2 = ts(&a2["started_at"]) + chrono::Duration::milliseconds(a2["duration_ms"].as_i64().unwrap());
    let delta = (ts(&second["next_retry_at"]) - end2).num_milliseconds();
    assert!(
        (1950..=2100).contains(&delta),
        "next_retry_at after failure 2 is {delta} ms after it, expected ~2000"
    );
    assert!(ts(&a2["started_at"]) >= next1, "attempt 2 ran before it was due");
}

#[tokio::test]
async fn success_on_attempt_n_keeps_retry_count_and_requeue_resets_a_dead_row() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    receiver.script(&[Answer::Status(500), Answer::Status(502)]);
    let (channel, _) = app
        .webhook_channel("eventually", &receiver.url, &["channel_test"])
        .await;
    let worker = app.worker(&[]).await;
    let (_, n) = app
        .post(
            &format!("/api/v1/notification-channels/{channel}/test"),
            &app.admin_key,
            json!({}),
        )
        .await;
    let nid = n["id"].as_str().unwrap().to_owned();
    let sent = app
        .wait_notification(&nid, Duration::from_secs(10), |v| v["status"] == "sent")
        .await;
    assert_eq!(sent["retry_count"], 2, "delivered on attempt 3: retry_count stays 2");
    assert_eq!(sent["attempts"].as_array().unwrap().len(), 3);
    // A sent row cannot be requeued; an unknown one is 404.
    let op = app.key("op", "operator").await;
    let (s, v) = app
        .post(&format!("/api/v1/notifications/{nid}/requeue"), &op, json!({}))
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("not_requeueable")),
        "{v}"
    );
    let (s, _) = app
        .post(
            &format!("/api/v1/notifications/{}/requeue", uuid::Uuid::new_v4()),
            &op,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let viewer = app.key("v", "viewer").await;
    assert_eq!(
        app.post(&format!("/api/v1/notifications/{nid}/requeue"), &viewer, json!({}))
            .await
            .0,
        StatusCode::FORBIDDEN
    );

    // Now make one die, then requeue it once the receiver is healthy.
    receiver.always(500);
    let (_, n) = app
        .post(
            &format!("/api/v1/notification-channels/{channel}/test"),
            &app.admin_key,
            json!({}),
        )
        .await;
    let dead_id = n["id"].as_str().unwrap().to_owned();
    app.wait_notification(&dead_id, Duration::from_secs(20), |v| v["status"] == "dead")
        .await;
    worker.stop().await;
    receiver.always(200);
    let (s, row) = app
        .post(&format!("/api/v1/notifications/{dead_id}/requeue"), &op, json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{row}");
    assert_eq!(row["status"], "pending");
    assert_eq!(row["retry_count"], 0);
    assert!(row["next_retry_at"].is_null());
    assert!(row["last_error"].is_null());
    assert_eq!(
        app.scalar_i64(&format!("SELECT count(*) FROM audit_events WHERE action = 'notification.requeue' AND actor = 'op' AND resource_id = '{dead_id}'")).await,
        1
    );
    let _worker = app.worker(&[]).await;
    let done = app
        .wait_notification(&dead_id, Duration::from_secs(10), |v| v["status"] == "sent")
        .await;
    assert_eq!(done["retry_count"], 0);
    // Every attempt is kept, numbered on from the first life of the row.
    assert_eq!(done["attempts"].as_array().unwrap().len(), 6);
}

#[tokio::test]
async fn a_deleted_or_disabled_channel_sends_its_rows_to_dead_never_to_sent() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (gone, _) = app
        .webhook_channel("gone", &receiver.url, &["certificate_issued"])
        .await;
    let (off, _) = app.webhook_channel("off", &receiver.url, &["certificate_issued"]).await;
    let (issuer, profile) = app.pki().await;
    // No worker yet: the rows wait in the outbox.
    let cert = app.issue(&issuer, &profile, "orphan.example.net").await;
    let rows = app.notifications_of(&format!("certificate_id={}", id(&cert))).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(
        app.call(
            reqwest::Method::DELETE,
            &format!("/api/v1/notification-channels/{gone}"),
            Some(&app.admin_key),
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    let (s, _) = app
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/notification-channels/{off}"),
            Some(&app.admin_key),
            Some(json!({ "enabled": false })),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let _worker = app.worker(&[]).await;
    for row in &rows {
        let nid = row["id"].as_str().unwrap();
        let dead = app
            .wait_notification(nid, Duration::from_secs(10), |v| v["status"] == "dead")
            .await;
        let err = dead["last_error"].as_str().unwrap();
        assert!(
            err.contains("'gone'") && err.contains("deleted") || err.contains("'off'") && err.contains("disabled"),
            "{err}"
        );
        assert_eq!(dead["attempts"][0]["outcome"], "channel_unavailable");
    }
    assert!(receiver.seen().is_empty());
    assert_eq!(
        app.get(&format!("/api/v1/notification-channels/{gone}"), &app.admin_key)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn expiry_warnings_are_sent_once_per_certificate_threshold_and_channel() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (a, _) = app
        .webhook_channel("expiry-a", &receiver.url, &["expiration_warning"])
        .await;
    let (b, _) = app
        .webhook_channel("expiry-b", &receiver.url, &["expiration_warning"])
        .await;
    let (issuer, profile) = app.pki().await;
    // Ten days left: crosses the 30 and 14 day thresholds at once; only the tightest (14) is sent.
    let (s, soon) = app
        .post("/api/v1/certificates", &app.admin_key, json!({ "issuer_id": issuer, "profile_id": profile, "common_name": "soon.example.net", "key_algorithm": "ecdsa-p256", "ttl_seconds": 10 * 86400 }))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    // Revoked and superseded certificates get none; far-off ones neither.
    let revoked = app.issue(&issuer, &profile, "revoked.example.net").await;
    let _ = app
        .post(
            &format!("/api/v1/certificates/{}/revoke", id(&revoked)),
            &app.admin_key,
            json!({}),
        )
        .await;
    let (_, old) = app
        .post("/api/v1/certificates", &app.admin_key, json!({ "issuer_id": issuer, "profile_id": profile, "common_name": "old.example.net", "key_algorithm": "ecdsa-p256", "ttl_seconds": 5 * 86400 }))
        .await;
    let _ = app
        .post(
            &format!("/api/v1/certificates/{}/renew", id(&old)),
            &app.admin_key,
            json!({ "ttl_seconds": 80 * 86400 }),
        )
        .await;
    let _worker = app.worker(&[("CERTCTL_EXPIRY_SCAN_INTERVAL", "200ms")]).await;
    app.wait_count(
        "SELECT count(*) FROM notification_events WHERE type = 'expiration_warning' AND status = 'sent'",
        2,
        Duration::from_secs(10),
    )
    .await;
    // Several more scans add nothing.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let rows = app.notifications_of("type=expiration_warning").await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    let mut channels: Vec<&str> = rows.iter().map(|r| r["channel_id"].as_str().unwrap()).collect();
    channels.sort_unstable();
    let mut want = vec![a.as_str(), b.as_str()];
    want.sort_unstable();
    assert_eq!(channels, want);
    for r in &rows {
        assert_eq!(r["certificate_id"], soon["id"]);
        let full = app.notification(r["id"].as_str().unwrap()).await;
        assert_eq!(full["payload"]["data"]["threshold_days"], 14);
    }
    assert_eq!(receiver.seen().len(), 2);
}

#[tokio::test]
async fn the_retry_sweep_uses_its_partial_index() {
    use sea_orm::ConnectionTrait;
    let app = TestApp::spawn().await;
    let (channel, _) = app
        .webhook_channel("bulk", "http://127.0.0.1:9", &["channel_test"])
        .await;
    // A realistic table: many delivered rows, a few failed ones waiting for their retry.
    app.db
        .execute_unprepared(&format!(
            "INSERT INTO notification_events (id, type, status, channel_id, payload, sent_at) \
             SELECT gen_random_uuid(), 'channel_test', 'sent', '{channel}', '{{}}', now() FROM generate_series(1, 20000); \
             INSERT INTO notification_events (id, type, status, channel_id, payload, retry_count, next_retry_at, last_error) \
             SELECT gen_random_uuid(), 'channel_test', 'failed', '{channel}', '{{}}', 1, now() + make_interval(secs => g), 'x' FROM generate_series(1, 20) g; \
             ANALYZE notification_events;"
        ))
        .await
        .unwrap();
    let sql = certctl_shared::repo::notifications::DUE_RETRIES_SQL
        .replace("$1", "500")
        .replace("$2", "30");
    let plan: Vec<String> = app
        .db
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!("EXPLAIN {sql}"),
        ))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.try_get_by_index::<String>(0).unwrap())
        .collect();
    let plan = plan.join("\n");
    assert!(plan.contains("idx_notification_events_retry_sweep"), "{plan}");
}

#[tokio::test]
async fn channels_validate_their_settings_and_never_show_secrets() {
    let app = TestApp::spawn().await;
    let bad = [
        json!({ "name": "x", "kind": "webhook", "config": { "url": "ftp://nope", "secret": "whsec_MDEyMzQ1Njc4OWFiY2RlZg==" }, "event_types": ["channel_test"] }),
        json!({ "name": "x", "kind": "webhook", "config": { "url": "https://ok.example" }, "event_types": ["channel_test"] }),
        json!({ "name": "x", "kind": "pager", "config": {}, "event_types": ["channel_test"] }),
        json!({ "name": "x", "kind": "slack", "config": { "webhook_url": "https://hooks.slack.test/x" }, "event_types": [] }),
        json!({ "name": "x", "kind": "slack", "config": { "webhook_url": "https://hooks.slack.test/x" }, "event_types": ["nope"] }),
    ];
    for body in bad {
        let (s, v) = app
            .post("/api/v1/notification-channels", &app.admin_key, body.clone())
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body} -> {v}");
    }
    let operator = app.key("op", "operator").await;
    let body = json!({ "name": "pd", "kind": "pagerduty", "config": { "routing_key": "R0UT1NGKEY", "severity": "critical" }, "event_types": ["certificate_revoked"] });
    assert_eq!(
        app.post("/api/v1/notification-channels", &operator, body.clone())
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (s, created) = app.post("/api/v1/notification-channels", &app.admin_key, body).await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    assert!(!created.to_string().contains("R0UT1NGKEY"));
    assert_eq!(created["config"], json!({ "severity": "critical" }));
    let stored = app.scalar_i64("SELECT count(*) FROM notification_channels WHERE config::text LIKE '%R0UT1NGKEY%' OR encode(secret_ciphertext, 'escape') LIKE '%R0UT1NGKEY%'").await;
    assert_eq!(stored, 0, "the routing key must be sealed at rest");
    // PATCH keeps secrets it is not given, and validates the result.
    let cid = id(&created);
    let (s, v) = app
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/notification-channels/{cid}"),
            Some(&app.admin_key),
            Some(json!({ "config": { "severity": "info" } })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["config"]["severity"], "info");
    let (s, _) = app
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/notification-channels/{cid}"),
            Some(&app.admin_key),
            Some(json!({ "config": { "severity": "apocalyptic" } })),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (_, list) = app
        .get("/api/v1/notification-channels", &app.key("viewer", "viewer").await)
        .await;
    assert_eq!(list["total"], 1);
}

#[tokio::test]
async fn slack_teams_pagerduty_and_opsgenie_speak_their_real_payloads() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let url = &receiver.url;
    let channels = [
        json!({ "name": "slack", "kind": "slack", "config": { "webhook_url": format!("{url}/slack/T000/B000/XXXX") }, "event_types": ["channel_test"] }),
        json!({ "name": "teams", "kind": "teams", "config": { "webhook_url": format!("{url}/teams/workflow") }, "event_types": ["channel_test"] }),
        json!({ "name": "pd", "kind": "pagerduty", "config": { "routing_key": "PDROUTINGKEY0001", "severity": "error", "api_url": format!("{url}/pd") }, "event_types": ["channel_test"] }),
        json!({ "name": "og", "kind": "opsgenie", "config": { "api_key": "og-api-key-0001", "priority": "P2", "api_url": format!("{url}/og") }, "event_types": ["channel_test"] }),
    ];
    let _worker = app.worker(&[]).await;
    let mut ids = Vec::new();
    for body in channels {
        let (s, ch) = app.post("/api/v1/notification-channels", &app.admin_key, body).await;
        assert_eq!(s, StatusCode::CREATED, "{ch}");
        let (s, n) = app
            .post(
                &format!("/api/v1/notification-channels/{}/test", id(&ch)),
                &app.admin_key,
                json!({}),
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED);
        ids.push(n["id"].as_str().unwrap().to_owned());
    }
    for nid in &ids {
        app.wait_notification(nid, Duration::from_secs(10), |v| v["status"] == "sent")
            .await;
    }
    let seen = receiver.seen();
    let by_path = |prefix: &str| {
        seen.iter()
            .find(|r| r.path.starts_with(prefix))
            .unwrap_or_else(|| panic!("nothing at {prefix}"))
            .clone()
    };

    let slack: Value = serde_json::from_slice(&by_path("/slack/").body).unwrap();
    assert!(slack["text"].as_str().unwrap().contains("test notification"));
    assert_eq!(slack["blocks"][0]["type"], "section");

    let teams: Value = serde_json::from_slice(&by_path("/teams/").body).unwrap();
    assert_eq!(teams["type"], "message");
    assert_eq!(
        teams["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(teams["attachments"][0]["content"]["type"], "AdaptiveCard");

    let pd_req = by_path("/pd/v2/enqueue");
    let pd: Value = serde_json::from_slice(&pd_req.body).unwrap();
    assert_eq!(pd["routing_key"], "PDROUTINGKEY0001");
    assert_eq!(pd["event_action"], "trigger");
    assert_eq!(pd["payload"]["severity"], "error");
    assert_eq!(pd["payload"]["source"], "certctl");
    assert!(pd["payload"]["summary"].as_str().unwrap().contains("test notification"));
    assert!(pd["dedup_key"].as_str().unwrap().ends_with(&ids[2]));

    let og_req = by_path("/og/v2/alerts");
    assert_eq!(og_req.headers["authorization"], "GenieKey og-api-key-0001");
    let og: Value = serde_json::from_slice(&og_req.body).unwrap();
    assert_eq!(og["priority"], "P2");
    assert!(og["message"].as_str().unwrap().len() <= 130);
    assert_eq!(og["alias"], json!(format!("certctl-{}", ids[3])));
    assert!(og["details"].as_object().unwrap().values().all(Value::is_string));
}

#[tokio::test]
async fn private_targets_are_refused_unless_allowed() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (channel, _) = app.webhook_channel("inside", &receiver.url, &["channel_test"]).await;
    let _worker = app
        .worker(&[
            ("CERTCTL_OUTBOUND_ALLOW_PRIVATE", "false"),
            ("CERTCTL_NOTIFICATION_BACKOFF_CAP", "20s"),
            ("CERTCTL_NOTIFICATION_BACKOFF_BASE", "10s"),
        ])
        .await;
    let (_, n) = app
        .post(
            &format!("/api/v1/notification-channels/{channel}/test"),
            &app.admin_key,
            json!({}),
        )
        .await;
    let failed = app
        .wait_notification(n["id"].as_str().unwrap(), Duration::from_secs(10), |v| {
            v["status"] == "failed"
        })
        .await;
    assert!(
        failed["last_error"].as_str().unwrap().contains(
            "loopback (127.0.0.0/8) address; certctl does not send there unless CERTCTL_OUTBOUND_ALLOW_PRIVATE=true"
        ),
        "{failed}"
    );
    assert!(receiver.seen().is_empty());
}

#[tokio::test]
async fn poison_messages_are_dead_lettered_and_rows_stay_safe() {
    use lapin::options::{BasicPublishOptions, QueueDeclareOptions};
    use lapin::types::FieldTable;
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (channel, _) = app
        .webhook_channel("after-poison", &receiver.url, &["channel_test"])
        .await;
    let _worker = app.worker(&[]).await;
    let conn = lapin::Connection::connect(
        "amqp://guest:guest@127.0.0.1:5672/%2f",
        lapin::ConnectionProperties::default(),
    )
    .await
    .unwrap();
    let ch = conn.create_channel().await.unwrap();
    let topology = certctl_shared::queue::Topology::new(&app.amqp_prefix).with_expiry(Some(Duration::from_secs(60)));
    // The worker reports ready before its consumer has necessarily declared the topology; publishing
    // to an exchange that does not exist yet would make the broker close this channel.
    let broker = certctl_shared::queue::Broker::default();
    let stop_broker = tokio_util::sync::CancellationToken::new();
    tokio::spawn(
        broker
            .clone()
            .supervise("amqp://guest:guest@127.0.0.1:5672/%2f".into(), stop_broker.clone()),
    );
    while !broker.connected() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    topology.declare(&broker, &ch).await.unwrap();
    stop_broker.cancel();
    for junk in [&b"not json"[..], br#"{"type":"deliver.v9","notification_id":"x"}"#] {
        ch.basic_publish(
            topology.exchange().into(),
            "deliver".into(),
            BasicPublishOptions::default(),
            junk,
            lapin::BasicProperties::default(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    }
    // Both land in the poison queue, and real work goes on around them.
    let (_, n) = app
        .post(
            &format!("/api/v1/notification-channels/{channel}/test"),
            &app.admin_key,
            json!({}),
        )
        .await;
    app.wait_notification(n["id"].as_str().unwrap(), Duration::from_secs(10), |v| {
        v["status"] == "sent"
    })
    .await;
    let mut poisoned = 0;
    // At-least-once dead-lettering is asynchronous in a quorum queue: give it time under load.
    for _ in 0..300 {
        let q = ch
            .queue_declare(
                topology.poison_queue().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        poisoned = q.message_count();
        if poisoned == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(poisoned, 2, "poison queue count");
}

/// The worker's batched writes: a claim batch with a duplicate and an unknown id claims each row
/// once; an outcome batch records only the attempts whose lease is still current; and the claim
/// reaches rows by primary key alone, even under a generic plan on a table full of sent rows
/// (the relay's partial indexes once made every claim read all their stale entries).
#[tokio::test]
async fn batched_claims_and_outcomes_touch_only_what_they_own() {
    use certctl_shared::model::{EventType, NotificationStatus};
    use certctl_shared::repo::notifications::{self as repo, AttemptRecord, Finished, Outcome};
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let app = TestApp::spawn().await;
    let (channel, _) = app
        .webhook_channel("batch", "http://127.0.0.1:9", &["channel_test"])
        .await;
    let channel: certctl_shared::model::ChannelId = channel.parse().unwrap();
    let mut rows = Vec::new();
    for _ in 0..3 {
        rows.push(
            repo::enqueue_for_channel(&app.db, channel, EventType::ChannelTest, json!({}))
                .await
                .unwrap(),
        );
    }
    let (a, b, c) = (rows[0], rows[1], rows[2]);
    let lease = Duration::from_secs(60);
    let claimed = repo::claim_many(
        &app.db,
        &[a, a, b, certctl_shared::model::NotificationId::new()],
        "w1",
        lease,
    )
    .await
    .unwrap();
    let mut ids: Vec<_> = claimed.iter().map(|c| c.event.id).collect();
    ids.sort();
    let mut want = vec![a, b];
    want.sort();
    assert_eq!(ids, want, "each claimable row once, unknown ids ignored");
    assert!(claimed.iter().all(|c| c.event.status == NotificationStatus::Sending
        && c.event.locked_by.as_deref() == Some("w1")
        && c.channel.as_ref().map(|ch| ch.id) == Some(channel)
        && c.attempt == 1));
    assert!(
        repo::claim_many(&app.db, &[a, b], "w2", lease)
            .await
            .unwrap()
            .is_empty(),
        "a live lease is not claimable"
    );
    let token = |id| {
        claimed
            .iter()
            .find(|c| c.event.id == id)
            .unwrap()
            .event
            .lease_token
            .unwrap()
    };
    let attempt = AttemptRecord {
        duration_ms: 3,
        outcome: "delivered",
        status_code: Some(200),
        error: None,
        worker: "w1".to_owned(),
    };
    let done = |id, lease_token| Finished {
        id,
        lease_token,
        attempt_no: 1,
        outcome: Outcome::Sent,
        attempt: attempt.clone(),
    };
    // `b` with a lease token that is not its own (its lease passed on), `c` never claimed.
    let recorded = repo::finish_many(
        &app.db,
        &[
            done(a, token(a)),
            done(b, uuid::Uuid::now_v7()),
            done(c, uuid::Uuid::now_v7()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(recorded, vec![(a, token(a))]);
    let row = |id| {
        let app = &app;
        async move { repo::find(&app.db, id).await.unwrap().unwrap() }
    };
    assert_eq!(row(a).await.status, NotificationStatus::Sent);
    assert_eq!(row(b).await.status, NotificationStatus::Sending);
    assert_eq!(row(c).await.status, NotificationStatus::Pending);
    // Every claim recorded its attempt as in progress; only `a`'s was finished.
    let attempts = repo::attempts(&app.db, a).await.unwrap();
    assert_eq!(
        attempts
            .iter()
            .map(|x| (x.attempt, x.outcome.as_str(), x.duration_ms))
            .collect::<Vec<_>>(),
        vec![(1, "delivered", Some(3))]
    );
    let attempts = repo::attempts(&app.db, b).await.unwrap();
    assert_eq!(
        attempts
            .iter()
            .map(|x| (x.attempt, x.outcome.as_str(), x.duration_ms))
            .collect::<Vec<_>>(),
        vec![(1, "in_progress", None)]
    );
    assert!(repo::attempts(&app.db, c).await.unwrap().is_empty());

    // The plan: many rows that went pending → sending → sent (their stale entries stay in the
    // partial indexes until vacuum), then the claim under a generic plan uses the primary key only.
    app.db
        .execute_unprepared(&format!(
            "CREATE TEMP TABLE t AS SELECT gen_random_uuid() AS id FROM generate_series(1, 20000); \
             INSERT INTO notification_events (id, type, channel_id, payload) \
             SELECT id, 'channel_test', '{channel}', '{{}}' FROM t; \
             UPDATE notification_events SET status = 'sending', locked_until = now() + interval '1 minute' \
             WHERE id IN (SELECT id FROM t); \
             UPDATE notification_events SET status = 'sent', locked_until = NULL, sent_at = now() \
             WHERE id IN (SELECT id FROM t); \
             ANALYZE notification_events;"
        ))
        .await
        .unwrap();
    let tx = app.db.begin().await.unwrap();
    tx.execute_unprepared(&format!(
        "SET LOCAL plan_cache_mode = force_generic_plan; PREPARE certctl_claim(uuid[], text, float8) AS {}",
        repo::CLAIM_SQL
    ))
    .await
    .unwrap();
    let plan: Vec<String> = tx
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!("EXPLAIN EXECUTE certctl_claim('{{{c}}}', 'w1', 60)"),
        ))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.try_get_by_index::<String>(0).unwrap())
        .collect();
    tx.rollback().await.unwrap();
    let plan = plan.join("\n");
    assert!(plan.contains("notification_events_pkey"), "{plan}");
    assert!(
        !plan.contains("idx_notification_events_"),
        "the claim must not scan the relay or sweep indexes:\n{plan}"
    );
}

/// The backlog gauges' query: counts per unsent status, and the age of the oldest row still to
/// be delivered; `dead` rows are counted but do not age the backlog, `sent` rows are not read.
#[tokio::test]
async fn the_backlog_counts_unsent_rows_and_ages_the_oldest_undelivered() {
    use certctl_shared::repo::notifications::backlog;
    use sea_orm::ConnectionTrait;
    let app = TestApp::spawn().await;
    let (channel, _) = app
        .webhook_channel("backlog", "http://127.0.0.1:9", &["channel_test"])
        .await;
    let empty = backlog(&app.db).await.unwrap();
    assert_eq!((empty.pending, empty.failed, empty.dead), (0, 0, 0));
    assert_eq!(empty.oldest_undelivered_secs, 0.0);
    app.db
        .execute_unprepared(&format!(
            "INSERT INTO notification_events (id, type, status, channel_id, payload, created_at) VALUES \
             (gen_random_uuid(), 'channel_test', 'pending', '{channel}', '{{}}', now() - interval '10 minutes'), \
             (gen_random_uuid(), 'channel_test', 'pending', '{channel}', '{{}}', now()), \
             (gen_random_uuid(), 'channel_test', 'failed', '{channel}', '{{}}', now() - interval '1 hour'), \
             (gen_random_uuid(), 'channel_test', 'dead', '{channel}', '{{}}', now() - interval '30 days'), \
             (gen_random_uuid(), 'channel_test', 'sent', '{channel}', '{{}}', now() - interval '300 days')"
        ))
        .await
        .unwrap();
    let b = backlog(&app.db).await.unwrap();
    assert_eq!((b.pending, b.sending, b.failed, b.dead), (2, 0, 1, 1), "{b:?}");
    assert!(
        (3600.0..3700.0).contains(&b.oldest_undelivered_secs),
        "the failed row, an hour old, is the oldest undelivered: {b:?}"
    );
}

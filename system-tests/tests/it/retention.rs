//! Bounded notification tables: `sent` notifications past their retention go (with their
//! attempts) in batches, `dead` ones stay until an admin purges them, and nothing else is touched.

use reqwest::StatusCode;
use serde_json::json;

use certctl_notifier_worker::loops::Tick;
use certctl_notifier_worker::loops::retention::Retention;
use certctl_shared::model::NotificationStatus;
use certctl_shared::repo::notifications;

use crate::helpers::*;

/// Notifications of every status, `n` of each, created `days` ago, each with one attempt.
async fn seed(app: &TestApp, channel: &str, days: u32, n: u32) {
    sea_orm::ConnectionTrait::execute_unprepared(
        &app.db,
        &format!(
            "WITH ev AS ( \
               INSERT INTO notification_events (id, type, status, channel_id, payload, created_at, sent_at, retry_count) \
               SELECT gen_random_uuid(), 'channel_test', s, '{channel}', '{{}}', now() - interval '{days} days', \
                 CASE WHEN s = 'sent' THEN now() - interval '{days} days' END, 1 \
               FROM unnest(ARRAY['pending', 'failed', 'sent', 'dead']) AS s, generate_series(1, {n}) \
               RETURNING id, created_at) \
             INSERT INTO notification_attempts (notification_id, attempt, started_at, duration_ms, outcome, worker) \
             SELECT id, 1, created_at, 5, 'delivered', 'test' FROM ev"
        ),
    )
    .await
    .unwrap();
}

async fn count(app: &TestApp, status: &str, older_than_days: u32) -> i64 {
    app.scalar_i64(&format!(
        "SELECT count(*) FROM notification_events WHERE status = '{status}' \
         AND created_at < now() - interval '{older_than_days} days'"
    ))
    .await
}

#[tokio::test]
async fn sent_notifications_expire_in_batches_and_dead_ones_wait_for_an_admin() {
    let app = TestApp::spawn().await;
    let (channel, _) = app
        .webhook_channel("history", "http://127.0.0.1:9", &["channel_test"])
        .await;
    seed(&app, &channel, 120, 12).await;
    seed(&app, &channel, 10, 5).await;
    let attempts_before = app.scalar_i64("SELECT count(*) FROM notification_attempts").await;

    // One batch deletes at most its limit, oldest first, with the attempts.
    let cutoff = chrono::Utc::now() - chrono::Duration::days(90);
    let n = notifications::purge(&app.db, NotificationStatus::Sent, cutoff, 5)
        .await
        .unwrap();
    assert_eq!(n, 5);
    assert_eq!(count(&app, "sent", 90).await, 7);
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM notification_attempts").await,
        attempts_before - 5
    );
    assert_eq!(
        app.scalar_i64(
            "SELECT count(*) FROM notification_attempts a WHERE NOT EXISTS \
             (SELECT 1 FROM notification_events e WHERE e.id = a.notification_id)"
        )
        .await,
        0
    );

    // The worker's loop takes the rest; recent sent rows and every other status stay.
    let retention = Retention {
        db: app.db.clone(),
        keep: std::time::Duration::from_secs(90 * 86_400),
        interval: std::time::Duration::from_secs(600),
    };
    retention.tick().await.unwrap();
    assert_eq!(count(&app, "sent", 90).await, 0);
    assert_eq!(count(&app, "sent", 0).await, 5);
    for status in ["pending", "failed", "dead"] {
        assert_eq!(count(&app, status, 90).await, 12, "{status}");
    }

    // A dead expiry warning for a certificate the scan still looks at stays, however old: its
    // row is what keeps the scan from queueing the same warning again.
    let (issuer, profile) = app.pki().await;
    let cert = app.issue(&issuer, &profile, "still-watched.example.net").await;
    sea_orm::ConnectionTrait::execute_unprepared(
        &app.db,
        &format!(
            "INSERT INTO notification_events (id, type, status, channel_id, certificate_id, payload, dedup_key, created_at) \
             VALUES (gen_random_uuid(), 'expiration_warning', 'dead', '{channel}', '{cert}', '{{}}', \
                     'expiry:{cert}:30:{channel}', now() - interval '120 days')",
            cert = id(&cert)
        ),
    )
    .await
    .unwrap();

    // Dead letters go only when an admin says so, up to the time given, audited with the count.
    let operator = app.key("op", "operator").await;
    let before = (chrono::Utc::now() - chrono::Duration::days(30)).to_rfc3339();
    let (s, _) = app
        .post(
            "/api/v1/notifications/purge-dead",
            &operator,
            json!({ "created_before": before }),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = app
        .post("/api/v1/notifications/purge-dead", &app.admin_key, json!({}))
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request")),
        "{v}"
    );
    let (s, v) = app
        .post(
            "/api/v1/notifications/purge-dead",
            &app.admin_key,
            json!({ "created_before": before }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["purged"], 12);
    assert_eq!(
        count(&app, "dead", 0).await,
        6,
        "recent dead letters and the watched warning stay"
    );
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM notification_events WHERE type = 'expiration_warning'")
            .await,
        1
    );
    assert_eq!(count(&app, "failed", 0).await, 17, "failed ones are never purged");
    let (_, audit) = app
        .get("/api/v1/audit?action=notification.purge_dead", &app.admin_key)
        .await;
    assert_eq!(audit["data"][0]["details"]["purged"], 12, "{audit}");
    assert_eq!(audit["data"][0]["resource_id"], serde_json::Value::Null);
}

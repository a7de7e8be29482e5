//! The fault matrix: a few hundred notifications through crashes, publish failures, broker cuts,
//! competing workers and a misbehaving receiver. Every row must end `sent` or `dead` with the
//! right attempt count; attempts on one row never overlap; each attempt number is recorded once.
//! (A receiver may see a `webhook-id` twice after a crash: delivery is at least once.)

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::task::JoinSet;

use crate::helpers::{Proxy, TestApp};
use crate::notify_harness::{Answer, Receiver};

const N: usize = 240;

/// Queues `n` channel-test notifications through the API, a few requests at a time.
async fn queue_tests(app: &TestApp, channel: &str, n: usize) {
    let app_base = app.base.clone();
    let key = app.admin_key.clone();
    let mut set = JoinSet::new();
    for _ in 0..n {
        let (base, key, http, channel) = (app_base.clone(), key.clone(), app.http.clone(), channel.to_owned());
        set.spawn(async move {
            let r = http
                .post(format!("{base}/api/v1/notification-channels/{channel}/test"))
                .bearer_auth(key)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 202);
        });
        if set.len() >= 8 {
            set.join_next().await.unwrap().unwrap();
        }
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
}

/// Waits for every row to settle, then checks the invariants of the whole table.
async fn assert_settled(app: &TestApp, total: i64, within: Duration) {
    assert_notifications_settled(&app.db, total, within).await;
}

/// The same on any certctl database (the soak test's cluster has its own): every one of `total`
/// rows ends `sent` or `dead`, attempt numbers run 1..n without overlap, and each row's counts
/// agree with its attempts.
pub async fn assert_notifications_settled(db: &sea_orm::DatabaseConnection, total: i64, within: Duration) {
    let app = crate::helpers::Sql(db);
    let start = Instant::now();
    loop {
        let settled = app
            .scalar_i64("SELECT count(*) FROM notification_events WHERE status IN ('sent', 'dead')")
            .await;
        if settled == total {
            break;
        }
        let by_status = app
            .scalar_i64("SELECT count(*) FROM notification_events WHERE status NOT IN ('sent', 'dead')")
            .await;
        assert!(
            start.elapsed() < within,
            "{settled}/{total} settled, {by_status} still open after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.scalar_i64("SELECT count(*) FROM notification_events").await, total);
    // Attempt numbers are 1..n with no gap and no repeat (the table's unique key forbids repeats).
    let gaps = app
        .scalar_i64("SELECT count(*) FROM (SELECT notification_id, max(attempt) AS m, count(*) AS c FROM notification_attempts GROUP BY 1) x WHERE m <> c")
        .await;
    assert_eq!(gaps, 0, "attempt numbers must run 1..n");
    // No two attempts on one row overlap in time.
    let overlaps = app
        .scalar_i64(
            "SELECT count(*) FROM notification_attempts a JOIN notification_attempts b \
             ON a.notification_id = b.notification_id AND a.attempt < b.attempt \
             WHERE b.started_at < a.started_at + a.duration_ms * interval '1 millisecond'",
        )
        .await;
    assert_eq!(overlaps, 0, "attempts on one row overlapped");
    // Sent: delivered on attempt retry_count + 1, which is the last recorded one.
    let bad_sent = app
        .scalar_i64(
            "SELECT count(*) FROM notification_events e WHERE status = 'sent' AND (retry_count + 1 <> \
             (SELECT count(*) FROM notification_attempts a WHERE a.notification_id = e.id) OR sent_at IS NULL \
             OR (SELECT outcome FROM notification_attempts a WHERE a.notification_id = e.id ORDER BY attempt DESC LIMIT 1) <> 'delivered')",
        )
        .await;
    assert_eq!(bad_sent, 0, "a sent row's count disagrees with its attempts");
    // Dead: five failed attempts, no next retry, the last error kept.
    let bad_dead = app
        .scalar_i64(
            "SELECT count(*) FROM notification_events e WHERE status = 'dead' AND (retry_count <> 5 OR next_retry_at IS NOT NULL \
             OR last_error IS NULL OR (SELECT count(*) FROM notification_attempts a WHERE a.notification_id = e.id) <> 5)",
        )
        .await;
    assert_eq!(bad_dead, 0, "a dead row's count disagrees with its attempts");
}

#[tokio::test]
async fn competing_workers_and_a_misbehaving_receiver() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    // 500s, timeouts (beyond the 1 s delivery timeout) and slow answers, mixed in.
    let script: Vec<Answer> = (0..4000)
        .map(|i| match i % 9 {
            0 | 4 => Answer::Status(500),
            2 => Answer::Status(429),
            6 => Answer::Slow(Duration::from_millis(1500)),
            7 => Answer::Slow(Duration::from_millis(250)),
            _ => Answer::Status(200),
        })
        .collect();
    receiver.script(&script);
    let (channel, _) = app.webhook_channel("matrix", &receiver.url, &["channel_test"]).await;
    let workers = [app.worker(&[]).await, app.worker(&[]).await, app.worker(&[]).await];
    queue_tests(&app, &channel, N).await;
    assert_settled(&app, N as i64, Duration::from_secs(90)).await;
    let sent = app
        .scalar_i64("SELECT count(*) FROM notification_events WHERE status = 'sent'")
        .await;
    assert!(sent > (N as i64) * 8 / 10, "only {sent} of {N} delivered");
    // The work really was shared.
    let workers_used = app
        .scalar_i64("SELECT count(DISTINCT worker) FROM notification_attempts")
        .await;
    assert_eq!(workers_used, 3);
    for w in workers {
        w.stop().await;
    }
}

#[tokio::test]
async fn a_worker_killed_mid_delivery_loses_nothing() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    // Slow enough that the kill lands while deliveries are in flight.
    receiver.script(&vec![Answer::Slow(Duration::from_millis(400)); 60]);
    let (channel, _) = app.webhook_channel("crashy", &receiver.url, &["channel_test"]).await;
    let doomed = app.worker(&[]).await;
    queue_tests(&app, &channel, N).await;
    while receiver.seen().len() < 20 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    doomed.kill().await;
    let in_flight = app
        .scalar_i64("SELECT count(*) FROM notification_events WHERE status = 'sending'")
        .await;
    let survivor = app.worker(&[]).await;
    assert_settled(&app, N as i64, Duration::from_secs(60)).await;
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM notification_events WHERE status = 'sent'")
            .await,
        N as i64
    );
    println!("rows left leased by the killed worker: {in_flight}");
    survivor.stop().await;
}

#[tokio::test]
async fn an_api_that_cannot_publish_after_commit_loses_nothing() {
    // The API's broker is unreachable: every row commits, no message is published.
    let app = TestApp::spawn_with(&[("CERTCTL_AMQP_URL", "amqp://guest:guest@127.0.0.1:1/%2f")]).await;
    let receiver = Receiver::start().await;
    let (channel, _) = app.webhook_channel("outboxed", &receiver.url, &["channel_test"]).await;
    queue_tests(&app, &channel, N).await;
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM notification_events WHERE status = 'pending'")
            .await,
        N as i64
    );
    // The worker's relay finds them after the grace period.
    let worker = app.worker(&[]).await;
    assert_settled(&app, N as i64, Duration::from_secs(60)).await;
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM notification_events WHERE status = 'sent'")
            .await,
        N as i64
    );
    let metrics = app.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("certctl_notification_publish_failures_total") && !l.ends_with(" 0")),
        "{metrics}"
    );
    worker.stop().await;
}

#[tokio::test]
async fn a_broker_connection_cut_and_restored_loses_nothing() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    receiver.script(&vec![Answer::Slow(Duration::from_millis(30)); 400]);
    let proxy = Proxy::start("127.0.0.1:5672").await;
    let (channel, _) = app.webhook_channel("cut", &receiver.url, &["channel_test"]).await;
    let url = format!("amqp://guest:guest@{}/%2f", proxy.addr);
    let worker = app.worker(&[("CERTCTL_AMQP_URL", url.as_str())]).await;
    queue_tests(&app, &channel, N).await;
    while receiver.seen().len() < 30 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    proxy.cut();
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.restore();
    assert_settled(&app, N as i64, Duration::from_secs(60)).await;
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM notification_events WHERE status = 'sent'")
            .await,
        N as i64
    );
    worker.stop().await;
}

/// Restarts the machine's RabbitMQ (the application inside the running node).
pub fn restart_rabbitmq() {
    run("rabbitmqctl", &["stop_app"]);
    run("rabbitmqctl", &["start_app"]);
}

/// Restarts the machine's PostgreSQL cluster (fast shutdown: open connections are cut).
pub fn restart_postgres() {
    let version = std::fs::read_dir("/etc/postgresql")
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name();
    run(
        "pg_ctlcluster",
        &[
            "--skip-systemctl-redirect",
            version.to_str().unwrap(),
            "main",
            "restart",
        ],
    );
}

fn run(cmd: &str, args: &[&str]) {
    let out = std::process::Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Queues `N` slow deliveries, restarts a service once some are through, and checks every one
/// still ends `sent`.
async fn survives_restart(what: &str, restart: impl FnOnce()) {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    receiver.script(&vec![Answer::Slow(Duration::from_millis(150)); 400]);
    let (channel, _) = app
        .webhook_channel(&format!("{what}-restart"), &receiver.url, &["channel_test"])
        .await;
    let worker = app.worker(&[]).await;
    queue_tests(&app, &channel, N).await;
    while receiver.seen().len() < 30 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = Instant::now();
    restart();
    println!(
        "{what} restarted in {:?} with {} of {N} delivered",
        started.elapsed(),
        receiver.seen().len()
    );
    assert_settled(&app, N as i64, Duration::from_secs(90)).await;
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM notification_events WHERE status = 'sent'")
            .await,
        N as i64
    );
    println!(
        "all {N} sent after the {what} restart; receiver saw {} requests",
        receiver.seen().len()
    );
    worker.stop().await;
}

/// Restarts the machine's RabbitMQ mid-run. Ignored in the parallel run (it would disturb every
/// other test); `scripts/test.sh` runs it on its own, first.
#[tokio::test]
#[ignore = "restarts RabbitMQ: run alone (scripts/test.sh does)"]
async fn serial_broker_restart_loses_nothing() {
    survives_restart("RabbitMQ", restart_rabbitmq).await;
}

/// Restarts the machine's PostgreSQL mid-run; ignored in the parallel run, like the above.
#[tokio::test]
#[ignore = "restarts PostgreSQL: run alone (scripts/test.sh does)"]
async fn serial_database_restart_loses_nothing() {
    survives_restart("PostgreSQL", restart_postgres).await;
}

//! The worker against receivers and outages that could once take it down or waste its work: a
//! receiver streaming an endless body, a row whose deliveries keep killing workers, a backlog of
//! due retries behind a slow receiver, and a database that goes away while messages arrive.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{Proxy, TestApp};
use crate::notify_harness::{Answer, Receiver};
use crate::process::{Daemon, free_addr, wait_ready};

/// A receiver that answers 200 and then streams zeros for as long as anyone reads; counts what
/// it managed to hand to the connection.
async fn endless_receiver() -> (String, Arc<AtomicU64>) {
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    let app = axum::Router::new().fallback(move || {
        let counter = counter.clone();
        async move {
            let chunk = axum::body::Bytes::from(vec![0u8; 64 * 1024]);
            let stream = futures::stream::unfold((), move |()| {
                let (chunk, counter) = (chunk.clone(), counter.clone());
                async move {
                    counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                    Some((Ok::<_, std::io::Error>(chunk), ()))
                }
            });
            axum::body::Body::from_stream(stream)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    (url, sent)
}

#[tokio::test]
async fn a_receiver_streaming_an_endless_body_is_cut_off_after_64_kib() {
    let app = TestApp::spawn().await;
    let (url, streamed) = endless_receiver().await;
    let (channel, _) = app.webhook_channel("firehose", &url, &["channel_test"]).await;
    let _worker = app
        .worker(&[
            ("CERTCTL_NOTIFICATION_DELIVERY_TIMEOUT", "5s"),
            ("CERTCTL_NOTIFICATION_LEASE", "10s"),
        ])
        .await;
    let (_, n) = app
        .post(
            &format!("/api/v1/notification-channels/{channel}/test"),
            &app.admin_key,
            json!({}),
        )
        .await;
    let done = app
        .wait_notification(n["id"].as_str().unwrap(), Duration::from_secs(10), |v| {
            v["status"] == "sent"
        })
        .await;
    // The answer's status stood, and the attempt ended long before the delivery timeout.
    let attempt = &done["attempts"][0];
    assert_eq!(attempt["status_code"], 200);
    assert!(attempt["duration_ms"].as_i64().unwrap() < 2000, "{attempt}");
    // The connection was dropped after the cap: what the receiver got rid of is the cap plus
    // what the kernel's socket buffers took, not the hundreds of megabytes loopback moves in 5 s.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let total = streamed.load(Ordering::Relaxed);
    assert!(total < 32 * 1024 * 1024, "the receiver streamed {total} bytes");
}

#[tokio::test]
async fn a_row_whose_deliveries_keep_killing_workers_is_dead_after_five_lost_attempts() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    // Every request hangs: the worker is killed while it waits.
    receiver.script(&[Answer::Slow(Duration::from_secs(60)); 10]);
    let (channel, _) = app.webhook_channel("deadly", &receiver.url, &["channel_test"]).await;
    let settings = [
        ("CERTCTL_NOTIFICATION_DELIVERY_TIMEOUT", "3s"),
        ("CERTCTL_NOTIFICATION_LEASE", "6s"),
    ];
    let (_, n) = app
        .post(
            &format!("/api/v1/notification-channels/{channel}/test"),
            &app.admin_key,
            json!({}),
        )
        .await;
    let id = n["id"].as_str().unwrap().to_owned();
    for kill in 1..=5 {
        let worker = app.worker(&settings).await;
        let start = Instant::now();
        while receiver.arrivals() < kill {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "attempt {kill} never reached the receiver"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // kill -9, mid-request: nothing recorded by the worker itself.
        worker.kill().await;
        // Every request the receiver saw has its attempt on record.
        let attempts = app
            .scalar_i64(&format!(
                "SELECT count(*) FROM notification_attempts WHERE notification_id = '{id}'"
            ))
            .await;
        assert!(
            attempts >= kill as i64,
            "after kill {kill}: {attempts} attempts recorded"
        );
    }
    // A sixth worker's relay finds the fifth attempt lost too: that was the last.
    let _survivor = app.worker(&settings).await;
    let dead = app
        .wait_notification(&id, Duration::from_secs(30), |v| v["status"] == "dead")
        .await;
    assert_eq!(dead["retry_count"], 5, "{dead}");
    assert!(dead["last_error"].as_str().unwrap().starts_with("lost:"), "{dead}");
    let outcomes: Vec<&str> = dead["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, vec!["lost"; 5]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.arrivals(), 5, "a dead row was attempted again");
}

#[tokio::test]
async fn a_backlog_of_due_retries_is_published_once_not_on_every_sweep() {
    use sea_orm::ConnectionTrait;
    const ROWS: usize = 600;
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    receiver.script(&vec![Answer::Slow(Duration::from_millis(100)); ROWS + 100]);
    let (channel, _) = app.webhook_channel("backlog", &receiver.url, &["channel_test"]).await;
    // 600 rows whose retry falls due at the same moment.
    app.db
        .execute_unprepared(&format!(
            "INSERT INTO notification_events (id, type, status, channel_id, payload, retry_count, next_retry_at, last_error) \
             SELECT gen_random_uuid(), 'channel_test', 'failed', '{channel}', \
               jsonb_build_object('type', 'channel_test', 'timestamp', now(), 'data', jsonb_build_object('n', g)), \
               1, now(), 'earlier failure' FROM generate_series(1, {ROWS}) g"
        ))
        .await
        .unwrap();
    let worker = app
        .worker(&[
            ("CERTCTL_NOTIFICATION_RELAY_GRACE", "20s"),
            ("CERTCTL_NOTIFICATION_RETRY_INTERVAL", "200ms"),
        ])
        .await;
    app.wait_count(
        "SELECT count(*) FROM notification_events WHERE status = 'sent'",
        ROWS as i64,
        Duration::from_secs(60),
    )
    .await;
    let swept = worker
        .metric(
            &app.http,
            "certctl_notification_republished_total",
            "loop=\"retry_sweep\"",
        )
        .await;
    let relayed = worker
        .metric(&app.http, "certctl_notification_republished_total", "loop=\"relay\"")
        .await;
    // Each row published at most twice before a worker claimed it (here: once).
    assert!(
        swept + relayed <= 2.0 * ROWS as f64,
        "published {swept} + {relayed} times for {ROWS} rows"
    );
    assert!(swept >= ROWS as f64, "{swept}");
    assert_eq!(receiver.arrivals(), ROWS, "a row was delivered twice");
}

#[tokio::test]
async fn a_database_outage_pauses_deliveries_without_poisoning_their_messages() {
    use lapin::options::QueueDeclareOptions;
    use lapin::types::FieldTable;
    const N: usize = 20;
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (channel, _) = app.webhook_channel("patient", &receiver.url, &["channel_test"]).await;
    let proxy = Proxy::start("127.0.0.1:5432").await;
    let db_name = app.db_url.rsplit('/').next().unwrap().to_owned();
    let through_proxy = format!("postgres://postgres@{}/{db_name}", proxy.addr);
    let worker = app
        .worker(&[
            ("CERTCTL_DATABASE_URL", through_proxy.as_str()),
            ("CERTCTL_DATABASE_ACQUIRE_TIMEOUT", "1s"),
            // The relay must not be what saves these rows.
            ("CERTCTL_NOTIFICATION_RELAY_GRACE", "300s"),
        ])
        .await;
    proxy.cut();
    let mut ids = Vec::new();
    for _ in 0..N {
        let (s, n) = app
            .post(
                &format!("/api/v1/notification-channels/{channel}/test"),
                &app.admin_key,
                json!({}),
            )
            .await;
        assert_eq!(s, 202);
        ids.push(n["id"].as_str().unwrap().to_owned());
    }
    // Longer than it once took for a requeued message to reach the broker's delivery limit.
    let start = Instant::now();
    let mut paused: f64 = 0.0;
    while start.elapsed() < Duration::from_secs(14) {
        paused = paused.max(
            worker
                .metric(&app.http, "certctl_notification_deliveries_paused", "")
                .await,
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let ready = app
        .http
        .get(format!("{}/readyz", worker.admin_url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    assert!(receiver.arrivals() == 0);

    proxy.restore();
    for id in &ids {
        app.wait_notification(id, Duration::from_secs(20), |v| v["status"] == "sent")
            .await;
    }
    assert_eq!(receiver.arrivals(), N);
    assert_eq!(
        worker
            .metric(&app.http, "certctl_notification_poison_messages_total", "")
            .await,
        0.0
    );
    let conn = lapin::Connection::connect(
        "amqp://guest:guest@127.0.0.1:5672/%2f",
        lapin::ConnectionProperties::default(),
    )
    .await
    .unwrap();
    let ch = conn.create_channel().await.unwrap();
    let poison = certctl_shared::queue::Topology::new(&app.amqp_prefix).poison_queue();
    let q = ch
        .queue_declare(
            poison.as_str().into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    assert_eq!(q.message_count(), 0, "good messages were poisoned");
    // They were held, not handed back to the broker, while the database was away.
    assert!(paused > 0.0, "no delivery waited for the database");
}

/// A TCP listener that only counts the connections made to it.
async fn counting_listener() -> (u16, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(AtomicU64::new(0));
    let count = seen.clone();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            drop(conn);
        }
    });
    (port, seen)
}

#[tokio::test]
async fn email_relays_on_private_addresses_are_refused_like_webhooks() {
    let app = TestApp::spawn().await;
    let (port, connections) = counting_listener().await;
    let _worker = app
        .worker(&[
            ("CERTCTL_OUTBOUND_ALLOW_PRIVATE", "false"),
            ("CERTCTL_NOTIFICATION_BACKOFF_BASE", "10s"),
            ("CERTCTL_NOTIFICATION_BACKOFF_CAP", "20s"),
        ])
        .await;
    for (name, host, range) in [
        ("literal", "127.0.0.1", "loopback (127.0.0.0/8)"),
        ("named", "localhost", "loopback"),
    ] {
        let (s, ch) = app
            .post(
                "/api/v1/notification-channels",
                &app.admin_key,
                json!({ "name": name, "kind": "email", "event_types": ["channel_test"], "config": {
                    "smtp_host": host, "smtp_port": port, "tls": "none",
                    "from": "certctl@example.test", "to": ["ops@example.test"] } }),
            )
            .await;
        assert_eq!(s, 201, "{ch}");
        let (_, n) = app
            .post(
                &format!("/api/v1/notification-channels/{}/test", ch["id"].as_str().unwrap()),
                &app.admin_key,
                json!({}),
            )
            .await;
        let failed = app
            .wait_notification(n["id"].as_str().unwrap(), Duration::from_secs(10), |v| {
                v["status"] == "failed"
            })
            .await;
        let error = failed["last_error"].as_str().unwrap();
        assert!(
            error.contains(range) && error.contains("CERTCTL_OUTBOUND_ALLOW_PRIVATE=true"),
            "{name}: {error}"
        );
    }
    assert_eq!(connections.load(Ordering::SeqCst), 0, "the relay was contacted");
}

#[tokio::test]
async fn an_http_proxy_in_the_environment_is_never_used() {
    let app = TestApp::spawn().await;
    let (port, proxied) = counting_listener().await;
    let proxy = format!("http://127.0.0.1:{port}");
    let (channel, _) = app
        .webhook_channel("via-proxy", "http://localhost:9", &["channel_test"])
        .await;
    // The worker as its own process, so the proxy variables are its whole environment.
    let admin = free_addr();
    let worker = Daemon::start(
        "certctl-notifier-worker",
        &[
            ("CERTCTL_DATABASE_URL", app.db_url.clone()),
            ("CERTCTL_KEY_ENCRYPTION_KEY", app.kek.clone()),
            ("CERTCTL_AMQP_PREFIX", app.amqp_prefix.clone()),
            ("CERTCTL_AMQP_QUEUE_EXPIRES", "60s".into()),
            ("CERTCTL_ADMIN_ADDR", admin.clone()),
            ("CERTCTL_OUTBOUND_ALLOW_PRIVATE", "false".into()),
            ("CERTCTL_NOTIFICATION_BACKOFF_BASE", "10s".into()),
            ("HTTP_PROXY", proxy.clone()),
            ("HTTPS_PROXY", proxy.clone()),
            ("ALL_PROXY", proxy.clone()),
            ("http_proxy", proxy.clone()),
            ("https_proxy", proxy.clone()),
            ("all_proxy", proxy),
        ],
    );
    wait_ready(&app.http, &admin, "notifier-worker").await;
    let (_, n) = app
        .post(
            &format!("/api/v1/notification-channels/{channel}/test"),
            &app.admin_key,
            json!({}),
        )
        .await;
    let failed = app
        .wait_notification(n["id"].as_str().unwrap(), Duration::from_secs(15), |v| {
            v["status"] == "failed"
        })
        .await;
    // The name was resolved here, through the guard, not handed to a proxy to resolve.
    assert!(failed["last_error"].as_str().unwrap().contains("loopback"), "{failed}");
    assert_eq!(proxied.load(Ordering::SeqCst), 0, "the request went to the proxy");
    tokio::task::spawn_blocking(move || worker.terminate()).await.unwrap();
}

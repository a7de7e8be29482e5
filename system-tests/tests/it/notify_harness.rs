//! Notification test harness: the real worker in-process, and a recording HTTP receiver whose
//! answers each test scripts.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine;
use certctl_notifier_worker::config::WorkerConfig;
use certctl_notifier_worker::{Listeners, run};
use certctl_shared::config::Env;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::helpers::TestApp;
pub use certctl_test_support::receiver::{Answer, Receiver};

/// A worker running on its own runtime and thread, so a test can crash it for real: `kill`
/// drops the runtime with everything on it (tasks, broker and database connections) mid-flight.
pub struct Worker {
    /// `http://…` of the worker's admin listener (`/metrics`, `/readyz`).
    pub admin_url: String,
    shutdown: CancellationToken,
    kill: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

impl Worker {
    fn start(config: WorkerConfig, admin: std::net::TcpListener, admin_url: String) -> Self {
        let shutdown = CancellationToken::new();
        let (kill, killed) = tokio::sync::oneshot::channel::<()>();
        let token = shutdown.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            let result = rt.block_on(async move {
                let admin = tokio::net::TcpListener::from_std(admin)?;
                tokio::select! {
                    r = run(config, Listeners { admin }, token) => r.map(|()| true),
                    _ = killed => Ok(false),
                }
            });
            // A kill leaves everything where it was: no drain, no acks, connections cut.
            rt.shutdown_background();
            result.map(|_| ())
        });
        Self {
            admin_url,
            shutdown,
            kill: Some(kill),
            thread: Some(thread),
        }
    }

    /// Graceful stop, as on SIGTERM.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        let thread = self.thread.take().expect("running");
        tokio::task::spawn_blocking(move || thread.join().expect("worker thread").expect("worker run"))
            .await
            .unwrap();
    }

    /// Crashes the worker: in-flight deliveries are abandoned unrecorded and unacked.
    pub async fn kill(mut self) {
        if let Some(k) = self.kill.take() {
            let _ = k.send(());
        }
        let thread = self.thread.take().expect("running");
        tokio::task::spawn_blocking(move || thread.join().expect("worker thread"))
            .await
            .unwrap()
            .ok();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Worker {
    /// The value of a counter or gauge on the worker's `/metrics`, summed over the label sets
    /// that contain `labels` (0 when absent).
    pub async fn metric(&self, http: &reqwest::Client, name: &str, labels: &str) -> f64 {
        let text = http
            .get(format!("{}/metrics", self.admin_url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| l.starts_with(&format!("{name} ")) || l.starts_with(&format!("{name}{{")))
            .filter(|l| l.contains(labels))
            .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
            .sum()
    }
}

/// A fast schedule: base 200 ms, cap 2 s, so five attempts take about three seconds.
pub const FAST: &[(&str, &str)] = &[
    ("CERTCTL_NOTIFICATION_BACKOFF_BASE", "200ms"),
    ("CERTCTL_NOTIFICATION_BACKOFF_CAP", "2s"),
    ("CERTCTL_NOTIFICATION_RETRY_INTERVAL", "1s"),
    ("CERTCTL_NOTIFICATION_RELAY_INTERVAL", "200ms"),
    ("CERTCTL_NOTIFICATION_RELAY_GRACE", "1s"),
    ("CERTCTL_NOTIFICATION_DELIVERY_TIMEOUT", "1s"),
    ("CERTCTL_NOTIFICATION_LEASE", "3s"),
    ("CERTCTL_OUTBOUND_ALLOW_PRIVATE", "true"),
];

impl TestApp {
    /// Starts a worker on this app's database and queues, with the fast schedule plus `extra`.
    pub async fn worker(&self, extra: &[(&str, &str)]) -> Worker {
        let mut vars: HashMap<String, String> = HashMap::from([
            ("CERTCTL_DATABASE_URL".into(), self.db_url.clone()),
            ("CERTCTL_DATABASE_MAX_CONNECTIONS".into(), "10".into()),
            ("CERTCTL_AMQP_PREFIX".into(), self.amqp_prefix.clone()),
            ("CERTCTL_AMQP_QUEUE_EXPIRES".into(), "60s".into()),
            ("CERTCTL_KEY_ENCRYPTION_KEY".into(), self.kek.clone()),
            (
                "CERTCTL_WORKER_ID".into(),
                format!("w-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
            ),
            ("CERTCTL_EXPIRY_SCAN_INTERVAL".into(), "1h".into()),
            (
                "CERTCTL_RESPONDER_KEY_ENCRYPTION_KEY".into(),
                crate::helpers::responder_kek(),
            ),
            ("CERTCTL_CRL_CHECK_INTERVAL".into(), "200ms".into()),
            // The same as the app's: automatic renewals write it into certificates.
            ("CERTCTL_PUBLIC_PKI_URL".into(), "http://pki.certctl.test".into()),
        ]);
        for (k, v) in FAST.iter().chain(extra) {
            // An empty value unsets a default.
            if v.is_empty() {
                vars.remove(*k);
            } else {
                vars.insert((*k).to_owned(), (*v).to_owned());
            }
        }
        let config = WorkerConfig::from_env(&Env::from_fn(|k| vars.get(k).cloned())).expect("worker config");
        let admin = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        admin.set_nonblocking(true).unwrap();
        let admin_url = format!("http://{}", admin.local_addr().unwrap());
        let worker = Worker::start(config, admin, admin_url.clone());
        for _ in 0..200 {
            if let Ok(r) = self.http.get(format!("{admin_url}/readyz")).send().await
                && r.status() == 200
            {
                return worker;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("worker did not become ready (RabbitMQ must run on 127.0.0.1:5672)");
    }

    /// Creates a webhook channel to `url` for `events`; returns (channel id, whsec secret).
    pub async fn webhook_channel(&self, name: &str, url: &str, events: &[&str]) -> (String, String) {
        let secret = format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(crate::helpers::rand_bytes::<24>())
        );
        let (s, v) = self
            .post(
                "/api/v1/notification-channels",
                &self.admin_key,
                json!({ "name": name, "kind": "webhook", "config": { "url": format!("{url}/hook"), "secret": secret }, "event_types": events }),
            )
            .await;
        assert_eq!(s, reqwest::StatusCode::CREATED, "{v}");
        (v["id"].as_str().unwrap().to_owned(), secret)
    }

    pub async fn notification(&self, id: &str) -> Value {
        let (s, v) = self.get(&format!("/api/v1/notifications/{id}"), &self.admin_key).await;
        assert_eq!(s, reqwest::StatusCode::OK, "{v}");
        v
    }

    pub async fn notifications_of(&self, query: &str) -> Vec<Value> {
        let (s, v) = self
            .get(&format!("/api/v1/notifications?{query}&limit=500"), &self.admin_key)
            .await;
        assert_eq!(s, reqwest::StatusCode::OK, "{v}");
        v["data"].as_array().unwrap().clone()
    }

    /// Polls the notification until `done` holds, or fails after `within`.
    pub async fn wait_notification(&self, id: &str, within: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let v = self.notification(id).await;
            if done(&v) {
                return v;
            }
            assert!(
                start.elapsed() < within,
                "notification {id} did not reach the expected state: {v}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until `sql` (a count) returns `want`.
    pub async fn wait_count(&self, sql: &str, want: i64, within: Duration) {
        let start = Instant::now();
        loop {
            let n = self.scalar_i64(sql).await;
            if n == want {
                return;
            }
            assert!(start.elapsed() < within, "`{sql}` is {n}, expected {want}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

//! `certctl mcp`, the real binary, driven by the official MCP Python SDK (`mcp_client.py`) against
//! a live api-server, over stdio and over streamable HTTP: the tools and their hints, dead
//! notifications found and requeued, and a viewer's revoke refused as a tool error. The tools act
//! with the caller's own key, so the audit log shows the caller.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};

use crate::helpers::{TestApp, id, tempdir};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/mcp_client.py");
const OPERATOR: &str = "ops-bot@example.com";

/// A live api-server with an active certificate, a webhook channel, an operator key (with a
/// principal of its own) and a viewer key.
struct Setup {
    app: TestApp,
    certificate: String,
    channel: String,
    operator_key: String,
    operator_key_id: String,
    viewer_key: String,
    /// The CLI's configuration file (none: keeps the user's own contexts out).
    config: PathBuf,
}

impl Setup {
    async fn new() -> Self {
        let app = TestApp::spawn().await;
        let (issuer, profile) = app.pki().await;
        let certificate = id(&app.issue(&issuer, &profile, "mcp.example.com").await);
        let (status, channel) = app
            .post(
                "/api/v1/notification-channels",
                &app.admin_key,
                json!({ "name": "hook", "kind": "webhook",
                        "config": { "url": "https://hooks.example.com/x", "secret": "whsec_c2NoZW1hdGhlc2lzLXNpZ25pbmcta2V5" },
                        "event_types": ["certificate_issued"] }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{channel}");
        let (status, key) = app
            .post(
                "/api/v1/api-keys",
                &app.admin_key,
                json!({ "name": "mcp-op", "role": "operator", "principal": OPERATOR }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{key}");
        let viewer_key = app.key("mcp-viewer", "viewer").await;
        Self {
            certificate,
            channel: id(&channel),
            operator_key: key["key"].as_str().unwrap().to_owned(),
            operator_key_id: id(&key),
            viewer_key,
            config: tempdir().join("config.toml"),
            app,
        }
    }

    /// A test notification through the channel, then dead as if its receiver had refused it on
    /// every attempt.
    async fn dead_notification(&self) -> String {
        let (status, n) = self
            .app
            .post(
                &format!("/api/v1/notification-channels/{}/test", self.channel),
                &self.app.admin_key,
                json!({}),
            )
            .await;
        assert!(status.is_success(), "{status}: {n}");
        let nid = id(&n);
        self.app
            .db
            .execute_raw(Statement::from_string(
                DbBackend::Postgres,
                format!(
                    "UPDATE notification_events SET status = 'dead', retry_count = 5, next_retry_at = NULL, \
                     last_error = 'test: receiver refused' WHERE id = '{nid}'"
                ),
            ))
            .await
            .unwrap();
        nid
    }

    /// Runs `mcp_client.py` and fails the test, with its output, unless every check held.
    async fn client(&self, args: &[&str]) {
        let mut cmd = tokio::process::Command::new("python3");
        cmd.arg(SCRIPT)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("CERTCTL_CONFIG", &self.config)
            .env("MCP_OPERATOR_KEY", &self.operator_key)
            .env("MCP_VIEWER_KEY", &self.viewer_key)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        if let Some(home) = std::env::var_os("HOME") {
            cmd.env("HOME", home);
        }
        let started = Instant::now();
        let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
            .await
            .expect("mcp_client.py did not finish within 120 s")
            .expect("python3 with the `mcp` package on PATH (the project's .venv)");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        eprintln!("mcp_client.py {} ({:.1?}):\n{stdout}", args[0], started.elapsed());
        assert!(
            out.status.success(),
            "mcp_client.py {} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
            args[0],
            out.status
        );
    }

    /// The requeue of `notification` is in the audit log, by the operator's principal and key.
    async fn assert_requeue_audited(&self, notification: &str) {
        let (status, page) = self
            .app
            .get(
                &format!("/api/v1/audit?action=notification.requeue&resource_id={notification}"),
                &self.app.admin_key,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let rows = page["data"].as_array().unwrap();
        assert_eq!(rows.len(), 1, "{page}");
        let row = &rows[0];
        assert_eq!(row["actor"], OPERATOR, "{row}");
        assert_eq!(row["key_id"], self.operator_key_id.as_str(), "{row}");
        assert_eq!(row["resource_type"], "notification", "{row}");
        assert_eq!(row["outcome"], "success", "{row}");
    }

    /// The viewer's revoke was refused by the API itself (and recorded), and changed nothing.
    async fn assert_revoke_refused(&self) {
        let (_, page) = self
            .app
            .get("/api/v1/audit?action=authorization.denied", &self.app.admin_key)
            .await;
        let route = "POST /api/v1/certificates/{id}/revoke";
        assert!(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["actor"] == "mcp-viewer" && r["resource_id"] == route),
            "no denial of the viewer's revoke in {page}"
        );
        let (_, cert) = self
            .app
            .get(
                &format!("/api/v1/certificates/{}", self.certificate),
                &self.app.admin_key,
            )
            .await;
        assert_eq!(cert["status"], "active", "{cert}");
    }

    async fn notification_status(&self, id: &str) -> Value {
        let (_, n) = self
            .app
            .get(&format!("/api/v1/notifications/{id}"), &self.app.admin_key)
            .await;
        n["status"].clone()
    }
}

fn certctl() -> PathBuf {
    certctl_test_support::process::binary("certctl")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_drives_the_tools_over_stdio_with_the_configured_key() {
    let s = Setup::new().await;
    let dead = s.dead_notification().await;
    let bin = certctl();
    s.client(&[
        "stdio",
        "--certctl",
        bin.to_str().unwrap(),
        "--server",
        &s.app.base,
        "--dead",
        &dead,
        "--certificate",
        &s.certificate,
    ])
    .await;
    assert_ne!(s.notification_status(&dead).await, "dead");
    s.assert_requeue_audited(&dead).await;
    s.assert_revoke_refused().await;
    s.app.stop().await.unwrap();
}

/// `certctl mcp --http ADDR` in a process of its own, killed when dropped.
struct HttpServer {
    child: Child,
    log: PathBuf,
}

impl HttpServer {
    /// Started with the server's URL and no key: every request brings its own.
    fn start(addr: &str, api: &str, config: &Path) -> Self {
        let log = tempdir().join("mcp-http.log");
        let child = Command::new(certctl())
            .args(["mcp", "--http", addr])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("CERTCTL_SERVER", api)
            .env("CERTCTL_CONFIG", config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start certctl mcp --http");
        Self { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_drives_the_tools_over_http_with_each_callers_key() {
    let s = Setup::new().await;
    let addr = crate::process::free_addr();
    let mut server = HttpServer::start(&addr, &s.app.base, &s.config);
    let url = format!("http://{addr}/mcp");
    let init = json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "probe", "version": "0" } } });

    // Up, and closed to requests without a key (or with another scheme): 401 before MCP.
    let started = Instant::now();
    let resp = loop {
        match s.app.http.post(&url).json(&init).send().await {
            Ok(resp) => break resp,
            Err(e) => {
                if let Some(status) = server.child.try_wait().unwrap() {
                    panic!("certctl mcp --http exited ({status}):\n{}", server.log());
                }
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "not listening on {addr}: {e}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.headers()["www-authenticate"], "Bearer realm=\"certctl\"");
    let problem: Value = resp.json().await.unwrap();
    assert_eq!(problem["code"], "unauthorized", "{problem}");
    let resp = s
        .app
        .http
        .post(&url)
        .header("authorization", format!("Basic {}", s.operator_key))
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    let dead = s.dead_notification().await;
    s.client(&["http", "--url", &url, "--dead", &dead, "--certificate", &s.certificate])
        .await;
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server exited:\n{}",
        server.log()
    );
    assert_ne!(s.notification_status(&dead).await, "dead");
    // The server has no key of its own: the requeue was made with the operator's.
    s.assert_requeue_audited(&dead).await;
    s.assert_revoke_refused().await;
    drop(server);
    s.app.stop().await.unwrap();
}

//! The test harness: the real API server running in-process on random ports, on a fresh
//! database of its own (see `certctl_test_support::db`). The generic helpers come from the test
//! kit and are re-exported here, so a suite imports everything from `crate::helpers`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine;
use certctl_api_server::config::ApiConfig;
use certctl_api_server::{Listeners, run};
use certctl_shared::config::Env;
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub use certctl_test_support::db::{fresh_database, pg_base};
pub use certctl_test_support::proxy::Proxy;
pub use certctl_test_support::referees::{openssl, openssl_csr, pkilint, write};
pub use certctl_test_support::{rand_bytes, random_secret, tempdir};

pub struct TestApp {
    /// Exchange and queue prefix of this test: no two tests share a queue.
    pub amqp_prefix: String,
    /// The key-encryption key, base64, for workers started beside this app.
    pub kek: String,
    pub base: String,
    pub admin_base: String,
    pub admin_key: String,
    pub db: DatabaseConnection,
    pub db_url: String,
    pub http: reqwest::Client,
    shutdown: CancellationToken,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// Starts the real server with extra `CERTCTL_*` settings.
    pub async fn spawn_with(extra: &[(&str, &str)]) -> Self {
        let (_, db_url) = fresh_database().await;
        Self::spawn_on(db_url, random_secret(), extra).await
    }

    /// Starts a server on an existing database (a second replica, a restart).
    pub async fn spawn_on(db_url: String, admin_key: String, extra: &[(&str, &str)]) -> Self {
        certctl_shared::telemetry::install_crypto_provider();
        let kek = base64::engine::general_purpose::STANDARD.encode(shared_kek());
        let amqp_prefix = format!("certctl-it-{}", uuid::Uuid::new_v4().simple());
        let mut vars: HashMap<String, String> = HashMap::from([
            ("CERTCTL_AMQP_PREFIX".into(), amqp_prefix.clone()),
            // Test queues disappear once unused, so runs do not pile quorum queues up in the broker.
            ("CERTCTL_AMQP_QUEUE_EXPIRES".into(), "60s".into()),
            ("CERTCTL_DATABASE_URL".into(), db_url.clone()),
            ("CERTCTL_DATABASE_MAX_CONNECTIONS".into(), "5".into()),
            ("CERTCTL_KEY_ENCRYPTION_KEY".into(), kek),
            ("CERTCTL_PUBLIC_PKI_URL".into(), "http://pki.certctl.test".into()),
            ("CERTCTL_BOOTSTRAP_ADMIN_KEY".into(), admin_key.clone()),
        ]);
        for (k, v) in extra {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
        let amqp_prefix = vars["CERTCTL_AMQP_PREFIX"].clone();
        let config = ApiConfig::from_env(&Env::from_fn(|k| vars.get(k).cloned())).expect("test config");
        let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind api");
        let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind admin");
        let base = format!("http://{}", api.local_addr().expect("addr"));
        let admin_base = format!("http://{}", admin.local_addr().expect("addr"));
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(run(config, Listeners { api, admin }, shutdown.clone()));
        let db = Database::connect(db_url.as_str()).await.expect("connect test database");
        let app = TestApp {
            amqp_prefix,
            kek: vars["CERTCTL_KEY_ENCRYPTION_KEY"].clone(),
            base,
            admin_base,
            admin_key,
            db,
            db_url,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("client"),
            shutdown,
            server: Some(server),
        };
        certctl_test_support::wait_ready(&app.http, &app.admin_base, "api-server", Duration::from_secs(5)).await;
        app
    }

    /// Stops the server and waits for it to exit.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.server.take().expect("server").await.expect("join")
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str, key: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(key), None).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(key), Some(body)).await
    }

    /// Creates a key with `role` and returns its secret.
    pub async fn key(&self, name: &str, role: &str) -> String {
        let (s, v) = self
            .post(
                "/api/v1/api-keys",
                &self.admin_key,
                json!({ "name": name, "role": role }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v["key"].as_str().expect("key").to_owned()
    }

    pub async fn issuer(&self, name: &str, alg: &str) -> Value {
        let (s, v) = self
            .post(
                "/api/v1/issuers",
                &self.admin_key,
                json!({ "name": name, "common_name": format!("{name} CA"), "key_algorithm": alg }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v
    }

    pub async fn profile(&self, body: Value) -> Value {
        let (s, v) = self.post("/api/v1/profiles", &self.admin_key, body).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v
    }

    /// An ECDSA root and a permissive server profile, the usual starting point.
    pub async fn pki(&self) -> (String, String) {
        let issuer = self.issuer("root", "ecdsa-p256").await;
        let profile = self
            .profile(json!({ "name": "web", "max_ttl_seconds": 90 * 86400, "allowed_key_algorithms": ["ecdsa-p256", "ecdsa-p384", "rsa-2048"], "ekus": ["server_auth", "client_auth"] }))
            .await;
        (id(&issuer), id(&profile))
    }

    pub async fn issue(&self, issuer: &str, profile: &str, cn: &str) -> Value {
        let (s, v) = self
            .post(
                "/api/v1/certificates",
                &self.admin_key,
                json!({ "issuer_id": issuer, "profile_id": profile, "common_name": cn, "key_algorithm": "ecdsa-p256" }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v
    }

    /// The first column of the one row `sql` returns, as text.
    pub async fn scalar_text(&self, sql: &str) -> String {
        let row = self
            .db
            .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
            .await
            .expect("query")
            .unwrap_or_else(|| panic!("no row for {sql}"));
        row.try_get_by_index::<String>(0).expect("text")
    }

    /// The admin listener's Prometheus text.
    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.admin_base))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text")
    }

    pub async fn scalar_i64(&self, sql: &str) -> i64 {
        Sql(&self.db).scalar_i64(sql).await
    }
}

/// Queries on any database connection, for checks that run on a database no `TestApp` owns.
pub struct Sql<'a>(pub &'a DatabaseConnection);

impl Sql<'_> {
    /// The first column of the one row `sql` returns, as an integer.
    pub async fn scalar_i64(&self, sql: &str) -> i64 {
        let row = self
            .0
            .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
            .await
            .expect("query")
            .expect("row");
        row.try_get_by_index::<i64>(0).expect("i64")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_owned()
}

/// One KEK per test process, so replicas started on the same database can open each other's keys.
/// The responder key-encryption key of this test run (base64), distinct from the CA one.
pub fn responder_kek() -> String {
    static KEK: OnceLock<[u8; 32]> = OnceLock::new();
    base64::engine::general_purpose::STANDARD.encode(KEK.get_or_init(rand_bytes::<32>))
}

fn shared_kek() -> [u8; 32] {
    static KEK: OnceLock<[u8; 32]> = OnceLock::new();
    *KEK.get_or_init(rand_bytes::<32>)
}

/// An api-server serving HTTPS with a self-signed certificate for 127.0.0.1 (written to
/// `dir/tls.crt`, for curl's `--cacert`), with `extra` settings.
pub async fn tls_app(dir: &Path, extra: &[(&str, &str)]) -> (TestApp, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    let cert = params.self_signed(&key).unwrap();
    let cert_file = write(dir, "tls.crt", cert.pem());
    let key_file = write(dir, "tls.key", key.serialize_pem());
    let mut vars = vec![
        ("CERTCTL_TLS_CERT_FILE", cert_file.as_str()),
        ("CERTCTL_TLS_KEY_FILE", key_file.as_str()),
    ];
    vars.extend_from_slice(extra);
    let mut app = TestApp::spawn_with(&vars).await;
    // The REST calls of the test go over the same HTTPS listener.
    app.base = app.base.replace("http://", "https://");
    app.http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let https = app.base.clone();
    (app, https)
}

/// Asks the OCSP responder at `url` about `cert` (issued by the CA in `ca_file`) with `openssl
/// ocsp` until it says revoked, for up to ten seconds; returns OpenSSL's last answer.
pub async fn ocsp_until_revoked(url: &str, ca_file: &str, cert: &str) -> String {
    let mut status = String::new();
    for _ in 0..100 {
        let (url, ca, cert) = (url.to_owned(), ca_file.to_owned(), cert.to_owned());
        status = tokio::task::spawn_blocking(move || {
            openssl(&[
                "ocsp", "-url", &url, "-issuer", &ca, "-CAfile", &ca, "-cert", &cert, "-timeout", "10",
            ])
            .1
        })
        .await
        .unwrap();
        if status.contains(": revoked") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    status
}

/// Runs a client program with `env` added, on a blocking thread (the server runs on the test's
/// runtime): (success, stdout and stderr).
pub async fn run_program(program: &str, args: Vec<String>, env: Vec<(String, String)>) -> (bool, String) {
    let program = program.to_owned();
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(&program)
            .args(&args)
            .envs(env)
            .output()
            .unwrap_or_else(|e| panic!("{program} must be installed (scripts/test.sh installs it): {e}"));
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    })
    .await
    .unwrap()
}

/// A P-256 CSR for `names` (the first is also the common name), as PEM.
pub fn csr_pem(names: &[&str]) -> String {
    let der = crate::acme_protocol::csr(names);
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n",
        lines.join("\n")
    )
}

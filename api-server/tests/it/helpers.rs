//! The test harness: a fresh database per test, cloned from a template migrated once per run, and
//! the real API server running in-process on random ports.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use certctl_api_server::config::ApiConfig;
use certctl_api_server::{Listeners, run};
use certctl_migrations::{Migrator, MigratorTrait};
use certctl_shared::config::Env;
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// The server of the machine's PostgreSQL; override with `CERTCTL_TEST_PG` (no database path).
pub fn pg_base() -> String {
    std::env::var("CERTCTL_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

const TEMPLATE_LOCK: i64 = 0x7465_7374_746d_706c;
/// Test databases older than this are dropped when a new run starts.
const STALE_AFTER_SECS: u64 = 3 * 3600;

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// One template per test run: nextest runs every test in its own process and names the run.
fn run_tag() -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| {
        let raw = std::env::var("NEXTEST_RUN_ID").unwrap_or_else(|_| format!("pid{}", std::process::id()));
        raw.chars()
            .filter(char::is_ascii_alphanumeric)
            .take(12)
            .collect::<String>()
            .to_lowercase()
    })
}

async fn admin_conn() -> DatabaseConnection {
    Database::connect(format!("{}/postgres", pg_base()))
        .await
        .expect("PostgreSQL must be running on 127.0.0.1:5432 (see .ci/run)")
}

async fn exec(conn: &DatabaseConnection, sql: &str) {
    conn.execute_unprepared(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn database_exists(conn: &DatabaseConnection, name: &str) -> bool {
    conn.query_one_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT 1 AS one FROM pg_database WHERE datname = $1",
        [name.into()],
    ))
    .await
    .expect("query pg_database")
    .is_some()
}

/// Creates (once per run, across processes) the migrated template and returns its name.
async fn template() -> String {
    let name = format!("certctl_tpl_{}", run_tag());
    let admin = admin_conn().await;
    exec(&admin, &format!("SELECT pg_advisory_lock({TEMPLATE_LOCK})")).await;
    if !database_exists(&admin, &name).await {
        drop_stale(&admin).await;
        exec(&admin, &format!("CREATE DATABASE {name}")).await;
        // The creation time, so later runs drop it only once it is stale (a run in progress uses it).
        exec(&admin, &format!("COMMENT ON DATABASE {name} IS '{}'", now_secs())).await;
        let tpl = Database::connect(format!("{}/{name}", pg_base()))
            .await
            .expect("connect template");
        Migrator::up(&tpl, None).await.expect("migrate template");
        tpl.close().await.ok();
        // Mark it as a template only once it is complete.
        exec(&admin, &format!("ALTER DATABASE {name} WITH IS_TEMPLATE true")).await;
    }
    exec(&admin, &format!("SELECT pg_advisory_unlock({TEMPLATE_LOCK})")).await;
    admin.close().await.ok();
    name
}

async fn drop_stale(admin: &DatabaseConnection) {
    let rows = admin
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT datname, coalesce(shobj_description(oid, 'pg_database'), '0') AS created \
             FROM pg_database WHERE datname LIKE 'certctl_it_%' OR datname LIKE 'certctl_tpl_%'",
        ))
        .await
        .expect("list databases");
    for row in rows {
        let name: String = row.try_get("", "datname").expect("datname");
        // Test databases carry their creation time in the name, templates in their comment.
        let created = match name.strip_prefix("certctl_it_") {
            Some(rest) => rest.split('_').next().and_then(|t| t.parse::<u64>().ok()),
            None => row
                .try_get::<String>("", "created")
                .ok()
                .and_then(|c| c.parse::<u64>().ok()),
        };
        let stale = created.is_none_or(|t| now_secs().saturating_sub(t) > STALE_AFTER_SECS);
        if stale {
            let _ = admin
                .execute_unprepared(&format!("ALTER DATABASE {name} WITH IS_TEMPLATE false"))
                .await;
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
        }
    }
}

/// A fresh database cloned from the template. Returns its name and URL.
pub async fn fresh_database() -> (String, String) {
    let tpl = template().await;
    let name = format!("certctl_it_{}_{}", now_secs(), uuid::Uuid::new_v4().simple());
    let admin = admin_conn().await;
    let mut tries = 0;
    loop {
        match admin
            .execute_unprepared(&format!("CREATE DATABASE {name} TEMPLATE {tpl}"))
            .await
        {
            Ok(_) => break,
            // Another process may be connected to the template for a moment (it is being created).
            Err(e) if tries < 50 && e.to_string().contains("being accessed by other users") => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("create test database: {e}"),
        }
    }
    admin.close().await.ok();
    let url = format!("{}/{name}", pg_base());
    (name, url)
}

pub fn random_secret() -> String {
    let mut raw = [0u8; 30];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut raw).expect("random");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

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
        app.wait_ready().await;
        app
    }

    async fn wait_ready(&self) {
        for _ in 0..200 {
            if let Ok(r) = self.http.get(format!("{}/readyz", self.admin_base)).send().await
                && r.status() == StatusCode::OK
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("api-server did not become ready");
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

    pub async fn scalar_i64(&self, sql: &str) -> i64 {
        let row = self
            .db
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

pub fn rand_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).expect("random");
    b
}

/// A CSR made with OpenSSL, the way a client would: returns (csr_pem, key_pem).
pub fn openssl_csr(dir: &std::path::Path, key_args: &[&str], cn: &str) -> (String, String) {
    let key = dir.join("key.pem");
    let csr = dir.join("csr.pem");
    let out = std::process::Command::new("openssl")
        .args(["req", "-new", "-newkey"])
        .args(key_args)
        .args(["-nodes", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&csr)
        .args(["-subj", &format!("/CN={cn}")])
        .output()
        .expect("openssl must be installed");
    assert!(
        out.status.success(),
        "openssl req: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        std::fs::read_to_string(csr).expect("csr"),
        std::fs::read_to_string(key).expect("key"),
    )
}

pub fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("certctl-it-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("tempdir");
    dir
}

/// A TCP proxy in front of a service (RabbitMQ, PostgreSQL) that a test can cut and restore.
pub struct Proxy {
    pub addr: std::net::SocketAddr,
    cut: Arc<AtomicBool>,
    live: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Proxy {
    pub async fn start(upstream: &'static str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let live = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (cut2, live2) = (cut.clone(), live.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if cut2.load(Ordering::SeqCst) {
                    continue; // dropped: connection refused in effect
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                live2.lock().unwrap().push(task.abort_handle());
            }
        });
        Self { addr, cut, live }
    }

    /// Drops every connection through the proxy and refuses new ones.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for t in self.live.lock().unwrap().drain(..) {
            t.abort();
        }
    }

    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

/// Runs `openssl` with `args`: (success, stdout and stderr).
pub fn openssl(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl must be installed");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Writes `contents` to `dir/name` and returns the path.
pub fn write(dir: &std::path::Path, name: &str, contents: impl AsRef<[u8]>) -> String {
    let p = dir.join(name);
    std::fs::write(&p, contents).unwrap();
    p.to_string_lossy().into_owned()
}

/// Runs a pkilint linter; any ERROR or FATAL finding fails.
pub fn pkilint(tool: &str, args: &[&str], file: &str) {
    let out = std::process::Command::new(tool)
        .arg("lint")
        .args(args)
        .arg(file)
        .output()
        .expect("pkilint must be on PATH (scripts/test.sh installs it into .venv)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("(ERROR)")
            && !text.contains("(FATAL)")
            && !text.contains("Traceback")
            && !text.contains("usage:"),
        "{tool} on {file}:\n{text}"
    );
}

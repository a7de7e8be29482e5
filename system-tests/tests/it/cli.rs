//! `certctl`, the real binary, against a live api-server: every command at least once, tables
//! and JSON, errors and exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};

use crate::helpers::{TestApp, id, openssl, tempdir, write};

/// Runs `certctl` against `app` with `key`, isolated from the user's own configuration.
struct Cli<'a> {
    app: &'a TestApp,
    config: PathBuf,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "stdout: {}\nstderr: {}", self.stdout, self.stderr);
        &self.stdout
    }

    fn json(&self) -> Value {
        serde_json::from_str(self.ok()).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

impl<'a> Cli<'a> {
    fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            config: tempdir().join("config.toml"),
        }
    }

    fn command(&self) -> Command {
        let mut c = Command::new(certctl_test_support::process::binary("certctl"));
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("CERTCTL_CONFIG", &self.config)
            .stdin(Stdio::null());
        c
    }

    /// With the server and key given in the environment.
    fn run(&self, key: &str, args: &[&str]) -> Run {
        let mut c = self.command();
        c.env("CERTCTL_SERVER", &self.app.base)
            .env("CERTCTL_API_KEY", key)
            .args(args);
        finish(wait_for(c))
    }

    /// `-o json certs issue` for csr.example.com from the CSR in `csr_path`, plus `extra` flags.
    fn issue_csr(&self, key: &str, issuer: &str, profile: &str, csr_path: &str, extra: &[&str]) -> Run {
        let mut args = vec![
            "-o",
            "json",
            "certs",
            "issue",
            "--issuer",
            issuer,
            "--profile",
            profile,
            "--cn",
            "csr.example.com",
            "--csr",
            csr_path,
        ];
        args.extend_from_slice(extra);
        self.run(key, &args)
    }

    /// `certs issue` (table output) for x.example.com with a key certctl generates, plus `extra`.
    fn issue_generated(&self, key: &str, issuer: &str, profile: &str, extra: &[&str]) -> Run {
        let mut args = vec![
            "certs",
            "issue",
            "--issuer",
            issuer,
            "--profile",
            profile,
            "--cn",
            "x.example.com",
            "--key-algorithm",
            "ecdsa-p256",
        ];
        args.extend_from_slice(extra);
        self.run(key, &args)
    }

    /// With nothing but the configuration file (contexts).
    fn run_bare(&self, args: &[&str]) -> Run {
        let mut c = self.command();
        c.args(args);
        finish(wait_for(c))
    }
}

/// Runs the command to completion. The test's runtime also runs the api-server the command talks
/// to, so the wait must not hold a runtime thread: a task parked on it (its unstealable LIFO slot,
/// say) would never run, and the command would wait forever for its answer. `block_in_place`
/// hands the thread's work to another thread first.
fn wait_for(mut c: Command) -> Output {
    tokio::task::block_in_place(move || c.output().expect("run certctl"))
}

fn finish(out: Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_are_issued_listed_renewed_and_revoked_from_the_command_line() {
    let app = TestApp::spawn().await;
    let cli = Cli::new(&app);
    let admin = app.admin_key.clone();
    let (issuer, profile) = app.pki().await;

    // Issue with a generated key: the key is written 0600 and never printed in the table.
    let dir = tempdir().join("issued");
    let run = cli.run(
        &admin,
        &[
            "certs",
            "issue",
            "--issuer",
            "root",
            "--profile",
            "web",
            "--cn",
            "api.example.com",
            "--san",
            "api.example.com",
            "--san",
            "www.example.com",
            "--ttl",
            "30d",
            "--key-algorithm",
            "ecdsa-p256",
            "--out-dir",
            dir.to_str().unwrap(),
        ],
    );
    let text = run.ok().to_owned();
    assert!(
        text.contains("api.example.com") && !text.contains("PRIVATE KEY"),
        "{text}"
    );
    assert_eq!(mode(&dir.join("key.pem")), 0o600);
    let (ok, out) = openssl(&[
        "x509",
        "-in",
        dir.join("cert.pem").to_str().unwrap(),
        "-noout",
        "-ext",
        "subjectAltName",
    ]);
    assert!(ok && out.contains("DNS:www.example.com"), "{out}");

    // A generated key with a table and no --out-dir would be lost: refused as a usage error.
    let run = cli.issue_generated(&admin, &issuer, &profile, &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);

    // From a CSR, by ids, as JSON: the API's object unchanged.
    let work = tempdir();
    let (csr, _) =
        crate::helpers::openssl_csr(&work, &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"], "csr.example.com");
    let csr_path = write(&work, "req.csr", csr);
    let issued = cli.issue_csr(&admin, &issuer, &profile, &csr_path, &[]).json();
    assert!(issued.get("private_key_pem").is_none());
    let cert_id = id(&issued);

    let (_, api) = app.get(&format!("/api/v1/certificates/{cert_id}"), &admin).await;
    let got = cli.run(&admin, &["-o", "json", "certs", "get", &cert_id]).json();
    assert_eq!(got["serial_hex"], api["serial_hex"]);
    assert_eq!(got, api, "json output is the API's object");

    // YAML is the same object.
    let yaml = cli.run(&admin, &["-o", "yaml", "certs", "get", &cert_id]);
    let dir = tempdir();
    let yaml_path = write(&dir, "cert.yaml", yaml.ok());
    let py = Command::new("python3")
        .args([
            "-c",
            "import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
            &yaml_path,
        ])
        .output()
        .expect("python3 with PyYAML (scripts/test.sh installs it into .venv)");
    let from_yaml: Value =
        serde_json::from_slice(&py.stdout).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&py.stderr)));
    assert_eq!(from_yaml, api);

    // The PEM chain verifies with openssl.
    let pem = cli.run(&admin, &["certs", "pem", &cert_id]);
    assert!(pem.ok().matches("BEGIN CERTIFICATE").count() >= 2, "{}", pem.stdout);

    // Lists: a table with the CN, and JSON pages that follow cursors with --all.
    let table = cli.run(&admin, &["certs", "list", "--status", "active"]);
    assert!(
        table.ok().starts_with("ID") && table.stdout.contains("csr.example.com"),
        "{}",
        table.stdout
    );
    // Several states: comma-separated or repeated, any of them matches.
    for args in [
        &["--status", "expiring,active"][..],
        &["--status", "revoked", "--status", "active"][..],
    ] {
        let live = cli
            .run(&admin, &[&["-o", "json", "certs", "list"][..], args].concat())
            .json();
        assert_eq!(live["total"], 2, "{args:?}: {live}");
    }
    let none = cli
        .run(&admin, &["-o", "json", "certs", "list", "--status", "revoked,renewed"])
        .json();
    assert_eq!(none["total"], 0, "{none}");
    let page = cli.run(&admin, &["-o", "json", "certs", "list", "--limit", "1"]).json();
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert!(page["next_cursor"].is_string());
    let all = cli
        .run(&admin, &["-o", "json", "certs", "list", "--limit", "1", "--all"])
        .json();
    assert_eq!(all["data"].as_array().unwrap().len(), 2);
    let filtered = cli
        .run(
            &admin,
            &[
                "-o",
                "json",
                "certs",
                "list",
                "--cn",
                "csr.example.com",
                "--issuer",
                "root",
                "--expiring-within",
                "400d",
            ],
        )
        .json();
    assert_eq!(filtered["total"], 1);
    // Text search over CN and SANs: "www.example" is only a SAN of the first certificate.
    let found = cli
        .run(&admin, &["-o", "json", "certs", "list", "--search", "WWW.EXAMPLE"])
        .json();
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["data"][0]["common_name"], "api.example.com");
    // By serial, written as openssl prints it (uppercase, colons between bytes).
    let serial = found["data"][0]["serial_hex"].as_str().unwrap().to_uppercase();
    let colons = serial
        .as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(":");
    let by_serial = cli
        .run(&admin, &["-o", "json", "certs", "list", "--serial", &colons])
        .json();
    assert_eq!(by_serial["data"][0]["id"], found["data"][0]["id"], "{by_serial}");
    let none = cli
        .run(&admin, &["-o", "json", "certs", "list", "--search", "%"])
        .json();
    assert_eq!(none["total"], 0, "a % is matched literally: {none}");
    // Soonest expiry first, paged one at a time: the 30-day certificate before the 90-day one.
    let by_expiry = cli
        .run(
            &admin,
            &[
                "-o", "json", "certs", "list", "--sort", "expiry", "--limit", "1", "--all",
            ],
        )
        .json();
    let order: Vec<&str> = by_expiry["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["common_name"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["api.example.com", "csr.example.com"], "{by_expiry}");
    let newest = cli.run(&admin, &["-o", "json", "certs", "list"]).json();
    assert_eq!(newest["data"][0]["common_name"], "csr.example.com");

    // Renew, then revoke the successor; a viewer may not revoke (403, exit 1).
    let renewed = cli
        .run(&admin, &["-o", "json", "certs", "renew", &cert_id, "--ttl", "1d"])
        .json();
    let successor = id(&renewed);
    assert_ne!(successor, cert_id);
    let viewer = app.key("viewer", "viewer").await;
    let denied = cli.run(&viewer, &["certs", "revoke", &successor, "--reason", "keyCompromise"]);
    assert_eq!(denied.code, 1);
    assert!(
        denied.stderr.contains("403") && denied.stderr.contains("[forbidden]"),
        "{}",
        denied.stderr
    );
    let revoked = cli.run(&admin, &["certs", "revoke", &successor, "--reason", "keyCompromise"]);
    assert!(revoked.ok().contains("keyCompromise"), "{}", revoked.stdout);
    let again = cli.run(&admin, &["certs", "revoke", &successor]);
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("already_revoked"), "{}", again.stderr);
    let bad = cli.run(&admin, &["certs", "revoke", &successor, "--reason", "certificateHold"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);

    // Bulk revocation needs --yes when not at a terminal, then revokes what is left.
    let refused = cli.run(&admin, &["certs", "bulk-revoke", "--issuer", "root"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    let bulk = cli
        .run(
            &admin,
            &[
                "-o",
                "json",
                "certs",
                "bulk-revoke",
                "--issuer",
                "root",
                "--reason",
                "cessationOfOperation",
                "--yes",
            ],
        )
        .json();
    let count = |k: &str| bulk[k].as_u64().unwrap_or_else(|| panic!("{bulk}"));
    assert!(count("revoked") >= 1, "{bulk}");
    assert_eq!(count("matched"), count("revoked") + count("skipped"), "{bulk}");
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_identity_policy_keys_and_audit_from_the_command_line() {
    let app = TestApp::spawn().await;
    let cli = Cli::new(&app);
    let admin = app.admin_key.clone();

    let root = cli
        .run(
            &admin,
            &[
                "-o",
                "json",
                "issuers",
                "create",
                "--name",
                "ops-root",
                "--cn",
                "Ops Root",
                "--key-algorithm",
                "ecdsa-p256",
            ],
        )
        .json();
    let inter = cli.run(
        &admin,
        &[
            "issuers",
            "create",
            "--name",
            "ops-int",
            "--cn",
            "Ops Int",
            "--parent",
            "ops-root",
            "--key-algorithm",
            "ecdsa-p256",
        ],
    );
    assert!(inter.ok().contains(&id(&root)), "{}", inter.stdout);
    assert!(cli.run(&admin, &["issuers", "list"]).ok().contains("ops-int"));
    assert!(
        cli.run(&admin, &["issuers", "get", "ops-root"])
            .ok()
            .contains("Ops Root")
    );

    let dir = tempdir();
    let spec = json!({ "name": "gated", "max_ttl_seconds": 86400, "allowed_key_algorithms": ["ecdsa-p256"], "ekus": ["server_auth"], "requires_approval": true });
    let file = write(&dir, "gated.json", spec.to_string());
    let gated = cli
        .run(&admin, &["-o", "json", "profiles", "create", "-f", &file])
        .json();
    let mut spec = spec;
    spec["max_ttl_seconds"] = json!(3600 * 12);
    let file = write(&dir, "gated2.json", spec.to_string());
    let updated = cli
        .run(&admin, &["-o", "json", "profiles", "update", "gated", "-f", &file])
        .json();
    assert_eq!(updated["revision"], gated["revision"].as_i64().unwrap() + 1);
    assert!(cli.run(&admin, &["profiles", "list"]).ok().contains("gated"));
    let shown = cli.run(&admin, &["profiles", "get", &id(&gated)]);
    assert!(shown.ok().contains("Requires approval:  true"), "{}", shown.stdout);

    // Approvals: an operator requests, another person approves; the requester may not.
    let op_key_file = dir.join("op.key");
    let created = cli.run(
        &admin,
        &[
            "keys",
            "create",
            "--name",
            "op",
            "--role",
            "operator",
            "--principal",
            "alice",
            "--expires-in",
            "90d",
            "--out",
            op_key_file.to_str().unwrap(),
        ],
    );
    assert!(
        !created.ok().contains("Secret"),
        "the secret went to the file, not the screen"
    );
    assert_eq!(mode(&op_key_file), 0o600);
    let op = std::fs::read_to_string(&op_key_file).unwrap().trim().to_owned();
    let (csr, _) = crate::helpers::openssl_csr(
        &dir,
        &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "gated.example.com",
    );
    let csr = write(&dir, "gated.csr", csr);
    let waiting = cli
        .run(
            &op,
            &[
                "-o",
                "json",
                "certs",
                "issue",
                "--issuer",
                "ops-root",
                "--profile",
                "gated",
                "--cn",
                "gated.example.com",
                "--csr",
                &csr,
            ],
        )
        .json();
    let job = waiting["job_id"].as_str().unwrap().to_owned();
    assert!(
        cli.run(&admin, &["jobs", "list", "--status", "awaiting_approval"])
            .ok()
            .contains(&job)
    );
    let own = cli.run(&op, &["jobs", "approve", &job]);
    assert_eq!(own.code, 1);
    assert!(own.stderr.contains("self_approval_forbidden"), "{}", own.stderr);
    let approved = cli
        .run(&admin, &["-o", "json", "jobs", "approve", &job, "--note", "ok"])
        .json();
    assert_eq!(approved["status"], "approved");
    assert!(cli.run(&admin, &["jobs", "get", &job]).ok().contains("approved"));
    let second = cli
        .run(
            &op,
            &[
                "-o",
                "json",
                "certs",
                "issue",
                "--issuer",
                "ops-root",
                "--profile",
                "gated",
                "--cn",
                "gated.example.com",
                "--csr",
                &csr,
            ],
        )
        .json();
    let rejected = cli
        .run(
            &admin,
            &["-o", "json", "jobs", "reject", second["job_id"].as_str().unwrap()],
        )
        .json();
    assert_eq!(rejected["status"], "rejected");

    // Status and identity.
    let status = cli.run(&admin, &["status"]);
    assert!(
        status.ok().contains("Awaiting approval") && status.stdout.contains("Dead notifications"),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains("ops-int") && status.stdout.contains("CRL PUBLISHED"),
        "{}",
        status.stdout
    );
    let summary = cli.run(&admin, &["-o", "json", "status"]).json();
    assert_eq!(summary["certificates"]["active"], 1);
    assert_eq!(summary["revocation"].as_array().unwrap().len(), 2);
    let me = cli.run(&op, &["-o", "json", "whoami"]).json();
    assert_eq!(
        (me["principal"].as_str(), me["role"].as_str()),
        (Some("alice"), Some("operator"))
    );
    assert!(cli.run(&op, &["whoami"]).ok().contains("alice"));

    // Keys: listed without secrets, disabled; a disabled key is refused (401, exit 1).
    let keys = cli.run(&admin, &["keys", "list"]);
    assert!(
        keys.ok().contains("alice") && !keys.stdout.contains(&op),
        "{}",
        keys.stdout
    );
    let listed = cli.run(&admin, &["-o", "json", "keys", "list"]).json();
    let op_row = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "op")
        .unwrap()
        .clone();
    assert!(op_row["expires_at"].is_string(), "{op_row}");
    let op_id = id(&op_row);
    cli.run(&admin, &["keys", "disable", &op_id]).ok();
    let gone = cli.run(&op, &["whoami"]);
    assert_eq!(gone.code, 1);
    assert!(gone.stderr.contains("401"), "{}", gone.stderr);

    // Audit: the refused self-approval and the approval are there, by principal; --follow prints
    // new events as they come.
    let audit = cli
        .run(&admin, &["-o", "json", "audit", "list", "--action", "job.approve"])
        .json();
    let rows: Vec<(&str, &str)> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["actor"].as_str().unwrap(), e["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(rows, [("bootstrap-admin", "success"), ("alice", "denied")], "{audit}");
    assert!(
        cli.run(&admin, &["audit", "list", "--limit", "5"])
            .ok()
            .starts_with("TIME")
    );
    let mut follow = cli.command();
    follow
        .env("CERTCTL_SERVER", &app.base)
        .env("CERTCTL_API_KEY", &admin)
        .args(["audit", "list", "--follow", "--limit", "1"])
        .stdout(Stdio::piped());
    let mut child = follow.spawn().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    cli.run(&admin, &["keys", "create", "--name", "followed", "--role", "viewer"])
        .ok();
    let mut stdout = child.stdout.take().unwrap();
    let seen = tokio::task::spawn_blocking(move || {
        use std::io::Read as _;
        let mut all = String::new();
        let mut buf = [0u8; 4096];
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while std::time::Instant::now() < deadline && !all.contains("api_key.create") {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => all.push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
        all
    });
    let seen = tokio::time::timeout(Duration::from_secs(20), seen).await;
    child.kill().ok();
    child.wait().ok();
    let seen = seen.expect("follow printed in time").unwrap();
    assert!(seen.contains("api_key.create"), "{seen}");

    let version = cli.run(&admin, &["-o", "json", "version"]).json();
    assert_eq!(version["name"], "certctl");
    assert!(cli.run(&admin, &["version"]).ok().contains("Client:"));

    // Usage errors exit 2, before any request.
    assert_eq!(cli.run_bare(&["status"]).code, 2);
    assert_eq!(cli.run(&admin, &["certs", "list", "--status", "bogus"]).code, 2);
    assert_eq!(cli.run(&admin, &["nonsense"]).code, 2);
    // Transport errors exit 1 with the reason.
    let mut c = cli.command();
    c.env("CERTCTL_SERVER", format!("http://{}", crate::process::free_addr()))
        .env("CERTCTL_API_KEY", "x")
        .arg("whoami");
    let down = finish(c.output().unwrap());
    assert_eq!(down.code, 1);
    assert!(down.stderr.contains("cannot reach"), "{}", down.stderr);
    assert!(cli.run_bare(&["completion", "bash"]).ok().contains("certctl"));
    // A reader that goes away early is not an error (`certctl … | head -1`).
    let mut c = cli.command();
    c.args(["completion", "bash"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // An unknown context is a usage error.
    assert_eq!(cli.run(&admin, &["--context", "nope", "whoami"]).code, 2);
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_notifications_are_listed_and_requeued_and_contexts_hold_the_server() {
    let app = TestApp::spawn().await;
    let cli = Cli::new(&app);
    let admin = app.admin_key.clone();

    let config =
        json!({ "url": "https://hooks.example.com/certctl", "secret": "whsec_c2NoZW1hdGhlc2lzLXNpZ25pbmcta2V5" });
    let channel = cli
        .run(
            &admin,
            &[
                "-o",
                "json",
                "channels",
                "create",
                "--name",
                "hook",
                "--kind",
                "webhook",
                "--config",
                &config.to_string(),
                "--event",
                "certificate_issued",
                "--event",
                "certificate_revoked",
            ],
        )
        .json();
    assert_eq!(channel["secrets_set"], json!(["secret", "url"]));
    let channel_id = id(&channel);
    assert!(cli.run(&admin, &["channels", "list"]).ok().contains("hook"));
    assert!(
        cli.run(&admin, &["channels", "get", &channel_id])
            .ok()
            .contains("certificate_revoked")
    );
    // A channel can be named instead of given by id; an unknown name is a usage error.
    assert_eq!(
        cli.run(&admin, &["-o", "json", "channels", "get", "hook"]).json()["id"],
        channel["id"]
    );
    let unknown = cli.run(&admin, &["channels", "test", "no-such-channel"]);
    assert_eq!(unknown.code, 2, "{}", unknown.stderr);
    assert!(
        unknown.stderr.contains("no channel named `no-such-channel`"),
        "{}",
        unknown.stderr
    );
    let mut dead = Vec::new();
    for _ in 0..3 {
        let n = cli.run(&admin, &["-o", "json", "channels", "test", &channel_id]).json();
        dead.push(id(&n));
    }
    for n in &dead {
        app.db
            .execute_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("UPDATE notification_events SET status = 'dead', retry_count = 5, last_error = 'HTTP 500 from receiver' WHERE id = '{n}'"),
            ))
            .await
            .unwrap();
    }

    // Channels change and go.
    let updated = cli
        .run(
            &admin,
            &[
                "-o",
                "json",
                "channels",
                "update",
                &channel_id,
                "--event",
                "certificate_revoked",
                "--disable",
            ],
        )
        .json();
    assert_eq!(
        (updated["enabled"].as_bool(), updated["secrets_set"].clone()),
        (Some(false), json!(["secret", "url"]))
    );
    assert_eq!(updated["event_types"], json!(["certificate_revoked"]));
    let spare = cli
        .run(
            &admin,
            &[
                "-o",
                "json",
                "channels",
                "create",
                "--name",
                "spare",
                "--kind",
                "webhook",
                "--config",
                &config.to_string(),
                "--event",
                "certificate_issued",
            ],
        )
        .json();
    cli.run(&admin, &["channels", "delete", &id(&spare)]).ok();
    assert_eq!(cli.run(&admin, &["channels", "get", &id(&spare)]).code, 1);

    // Through a context: no --server, no key in the environment. Setting a context reads only
    // its own flags, never the environment's CERTCTL_SERVER.
    let key_file = write(&tempdir(), "admin.key", format!("{admin}\n"));
    let mut c = cli.command();
    c.env("CERTCTL_SERVER", "http://elsewhere.invalid").args([
        "config",
        "set-context",
        "test",
        "--context-server",
        &app.base,
        "--context-api-key-file",
        &key_file,
    ]);
    finish(c.output().unwrap()).ok();
    assert!(!std::fs::read_to_string(&cli.config).unwrap().contains("elsewhere"));
    cli.run_bare(&["config", "use-context", "test"]).ok();
    assert_eq!(cli.run_bare(&["config", "current-context"]).ok().trim(), "test");
    let contexts = cli.run_bare(&["config", "get-contexts"]);
    assert!(
        contexts.ok().contains(&app.base) && !contexts.stdout.contains(&admin),
        "{}",
        contexts.stdout
    );
    assert_eq!(mode(&cli.config), 0o600);

    let listed = cli.run_bare(&["notifications", "list", "--status", "dead"]);
    let text = listed.ok();
    assert!(
        text.contains("Retry 5/5") && text.contains("HTTP 500 from receiver"),
        "{text}"
    );
    let detail = cli.run_bare(&["notifications", "get", &dead[0]]);
    assert!(detail.ok().contains("ATTEMPT"), "{}", detail.stdout);
    let one = cli
        .run_bare(&["-o", "json", "notifications", "requeue", &dead[0]])
        .json();
    assert_eq!(one[0]["status"], "pending");
    let refused = cli.run_bare(&["notifications", "requeue", "--all-dead"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    let rest = cli
        .run_bare(&["-o", "json", "notifications", "requeue", "--all-dead", "--yes"])
        .json();
    assert_eq!(rest.as_array().unwrap().len(), 2, "{rest}");
    let left = cli
        .run_bare(&["-o", "json", "notifications", "list", "--status", "dead"])
        .json();
    assert_eq!(left["total"], 0);
    let again = cli.run_bare(&["notifications", "requeue", &dead[0]]);
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("not_requeueable"), "{}", again.stderr);
    // Dead letters nobody will requeue are deleted by age.
    app.scalar_i64(
        "WITH ev AS (INSERT INTO notification_events (id, type, status, channel_id, payload, created_at) \
           SELECT gen_random_uuid(), 'channel_test', 'dead', id, '{}', now() - interval '40 days' \
           FROM notification_channels LIMIT 1 RETURNING 1) SELECT count(*) FROM ev",
    )
    .await;
    let before = (chrono::Utc::now() - chrono::Duration::days(30)).to_rfc3339();
    let refused = cli.run_bare(&["notifications", "purge-dead", "--before", &before]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    let purged = cli
        .run_bare(&[
            "-o",
            "json",
            "notifications",
            "purge-dead",
            "--before",
            &before,
            "--yes",
        ])
        .json();
    assert_eq!(purged["purged"], 1, "{purged}");
    app.stop().await.unwrap();
}

/// `certs issue --idempotency-key`: the same command run again returns the same certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotent_issuance_from_the_command_line_returns_one_certificate() {
    let app = TestApp::spawn().await;
    let cli = Cli::new(&app);
    let admin = app.admin_key.clone();
    let (issuer, profile) = app.pki().await;
    let work = tempdir();
    let (csr, _) =
        crate::helpers::openssl_csr(&work, &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"], "csr.example.com");
    let csr_path = write(&work, "req.csr", csr);
    // With an idempotency key the same command, run again, returns the same certificate.
    let idempotent = |key: &str| cli.issue_csr(&admin, &issuer, &profile, &csr_path, &["--idempotency-key", key]);
    let first = idempotent("cli-order-7").json();
    let again = idempotent("cli-order-7").json();
    assert_eq!(id(&first), id(&again));
    assert_ne!(id(&idempotent("auto").json()), id(&first), "`auto` makes a fresh key");
    // It needs a CSR (clap refuses the combination with a generated key).
    let run = cli.issue_generated(&admin, &issuer, &profile, &["--idempotency-key", "k"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM certificates").await,
        2,
        "one for cli-order-7, one for auto"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewal_policies_issuer_switches_and_discovery_from_the_command_line() {
    let app = TestApp::spawn().await;
    let cli = Cli::new(&app);
    let admin = app.admin_key.clone();
    let (issuer, profile) = app.pki().await;
    let dir = tempdir();

    // Renewal policies: create from a file, list, show, follow on one certificate, refuse deleting
    // one in use and the built-in one.
    let file = write(
        &dir,
        "monthly.json",
        r#"{ "name": "monthly", "renew_before_seconds": 2592000, "rotate_key": true, "warning_days": [14, 7] }"#,
    );
    let created = cli
        .run(&admin, &["-o", "json", "policies", "create", "-f", &file])
        .json();
    assert_eq!(created["rotate_key"], true);
    let listed = cli.run(&admin, &["renewal-policies", "list"]);
    assert!(
        listed.ok().contains("monthly") && listed.ok().contains("30d before expiry"),
        "{}",
        listed.stdout
    );
    assert!(
        cli.run(&admin, &["policies", "get", "default"])
            .ok()
            .contains("at 67% of the lifetime")
    );
    let cert = app.issue(&issuer, &profile, "cli-policy.example").await;
    let set = cli
        .run(
            &admin,
            &["-o", "json", "certs", "set-policy", &id(&cert), "--policy", "monthly"],
        )
        .json();
    assert_eq!(set["renewal_policy_id"], created["id"]);
    let refused = cli.run(&admin, &["policies", "delete", "monthly"]);
    assert_ne!(refused.code, 0);
    assert!(refused.stderr.contains("policy_in_use"), "{}", refused.stderr);
    cli.run(&admin, &["certs", "set-policy", &id(&cert), "--profile-default"])
        .ok();
    cli.run(&admin, &["policies", "delete", "monthly"]).ok();
    let refused = cli.run(&admin, &["policies", "delete", "default"]);
    assert!(refused.stderr.contains("built_in_policy"), "{}", refused.stderr);

    // An issuer switched off signs nothing until switched on again.
    let off = cli.run(&admin, &["-o", "json", "issuers", "disable", &issuer]).json();
    assert!(off["disabled_at"].is_string());
    let refused = cli.issue_generated(
        &admin,
        &issuer,
        &profile,
        &["--out-dir", &dir.join("x").display().to_string()],
    );
    assert!(refused.stderr.contains("issuer_disabled"), "{}", refused.stderr);
    cli.run(&admin, &["issuers", "enable", &issuer]).ok();
    cli.issue_generated(
        &admin,
        &issuer,
        &profile,
        &["--out-dir", &dir.join("y").display().to_string()],
    )
    .ok();

    // Discovery: a target from a file, listed; nothing discovered yet.
    let file = write(
        &dir,
        "lab.json",
        r#"{ "name": "lab", "cidrs": ["127.0.0.1"], "ports": [9], "enabled": false }"#,
    );
    cli.run(&admin, &["scan-targets", "create", "-f", &file]).ok();
    assert!(cli.run(&admin, &["scan-targets", "list"]).ok().contains("127.0.0.1"));
    let scanned = cli.run(&admin, &["-o", "json", "scan-targets", "scan", "lab"]).json();
    assert_eq!(scanned["name"], "lab");
    let found = cli
        .run(&admin, &["-o", "json", "discovered", "list", "--status", "unmanaged"])
        .json();
    assert_eq!(found["total"], 0);
    cli.run(&admin, &["scan-targets", "delete", "lab"]).ok();
}

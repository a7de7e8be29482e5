//! `certctl demo seed`, the real binary, against a live api-server: it fills an empty instance,
//! a second run creates nothing and changes no count, and with a worker ticking every second the
//! states that come with time (expired, expiring, renewal in progress, dead letters) appear.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{TestApp, csr_pem, tempdir};

/// Small enough to seed in a few seconds, large enough to hold every kind of demo certificate.
const NAMES: &str = "60";
/// The first short-lived certificate lives 60 s, the shortest the API issues: the longest wait.
const WITHIN: Duration = Duration::from_secs(85);

/// Runs `certctl demo seed --certificates 60` with the admin key and `extra` flags, isolated from
/// the user's configuration; fails on a non-zero exit. Returns stdout.
fn seed(app: &TestApp, extra: &[&str]) -> String {
    let (ok, stdout, stderr) = run_seed(app, extra);
    assert!(ok, "stdout: {stdout}\nstderr: {stderr}");
    stdout
}

/// A run that must be refused; returns its stderr.
fn seed_refused(app: &TestApp) -> String {
    let (ok, stdout, stderr) = run_seed(app, &[]);
    assert!(!ok, "demo seed went ahead: {stdout}");
    stderr
}

fn run_seed(app: &TestApp, extra: &[&str]) -> (bool, String, String) {
    let mut c = Command::new(certctl_test_support::process::binary("certctl"));
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("CERTCTL_CONFIG", tempdir().join("config.toml"))
        .env("CERTCTL_SERVER", &app.base)
        .env("CERTCTL_API_KEY", &app.admin_key)
        .stdin(Stdio::null())
        .args(["demo", "seed", "--certificates", NAMES])
        .args(extra);
    // The server runs on this test's runtime: hand the thread's work over while the command runs.
    let out: Output = tokio::task::block_in_place(move || c.output().expect("run certctl"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn seed_json(app: &TestApp) -> Value {
    let out = seed(app, &["-o", "json"]);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

async fn get(app: &TestApp, path: &str) -> Value {
    let (s, v) = app.get(path, &app.admin_key).await;
    assert_eq!(s, reqwest::StatusCode::OK, "{path}: {v}");
    v
}

async fn total(app: &TestApp, path: &str) -> u64 {
    get(app, path).await["total"].as_u64().unwrap()
}

async fn certificates(app: &TestApp, status: &str) -> u64 {
    total(app, &format!("/api/v1/certificates?status={status}&limit=1")).await
}

/// Every count the demo touches: certificates by status, the objects it makes by name, jobs and
/// notifications.
async fn counts(app: &TestApp) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for status in [
        "active",
        "expiring",
        "renewal_in_progress",
        "expired",
        "renewed",
        "revoked",
    ] {
        out.push((status.to_owned(), certificates(app, status).await));
    }
    for list in [
        "issuers",
        "profiles",
        "renewal-policies",
        "notification-channels",
        "api-keys",
    ] {
        let v = get(app, &format!("/api/v1/{list}")).await;
        out.push((list.to_owned(), v["data"].as_array().unwrap().len() as u64));
    }
    out.push(("jobs".into(), total(app, "/api/v1/jobs?limit=1").await));
    out.push((
        "notifications".into(),
        total(app, "/api/v1/notifications?limit=1").await,
    ));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_seed_fills_an_instance_once_and_its_states_appear_with_the_worker() {
    let app = TestApp::spawn().await;

    // Another enabled channel would hear the whole demo: refused until it is disabled, and
    // nothing is made meanwhile.
    let (team, _) = app
        .webhook_channel("team-hook", "http://127.0.0.1:9/team", &["certificate_revoked"])
        .await;
    let refused = seed_refused(&app);
    assert!(
        refused.contains("team-hook") && refused.contains("--notify-other-channels"),
        "{refused}"
    );
    assert_eq!(get(&app, "/api/v1/issuers").await["data"], serde_json::json!([]));
    let (s, v) = app
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/notification-channels/{team}"),
            Some(&app.admin_key),
            Some(serde_json::json!({ "enabled": false })),
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::OK, "{v}");
    let started = Instant::now();

    let first = seed_json(&app);
    let plan = &first["plan"];
    let planned = |k: &str| plan[k].as_u64().unwrap_or_else(|| panic!("no {k} in {plan}"));
    let created = &first["created"];
    for (kind, n) in [
        ("issuers", 3),
        ("renewal policies", 2),
        ("profiles", 4),
        ("channels", 3),
        ("API keys", 1),
        ("certificates", 60),
        ("revocations", planned("revoked")),
        ("renewals", planned("renewed")),
        ("policy overrides", planned("legacy")),
        ("pending approvals", planned("pending_requests")),
        ("channel tests", 3),
    ] {
        assert_eq!(created[kind], n, "{kind}: {first}");
    }
    assert!(
        planned("short_lived") > 0 && planned("gated") > 0 && planned("legacy") > 0,
        "{plan}"
    );

    // Once seeded, before any worker: the states the API makes by itself.
    let before = counts(&app).await;
    let revoked = planned("revoked");
    assert_eq!(certificates(&app, "revoked").await, revoked);
    assert_eq!(certificates(&app, "renewed").await, planned("renewed"));
    // Every name has one certificate that is not revoked or renewed: the renewed have successors.
    assert_eq!(certificates(&app, "active").await, 60 - revoked);
    assert_eq!(
        total(&app, "/api/v1/jobs?status=awaiting_approval&limit=1").await,
        planned("pending_requests")
    );
    // The requester key that filed the approval requests is disabled once the run is over.
    let keys = get(&app, "/api/v1/api-keys").await;
    let requester: Vec<&Value> = keys["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["principal"] == "demo-requester")
        .collect();
    assert_eq!(requester.len(), 1, "{keys}");
    assert!(requester[0]["disabled_at"].is_string(), "{keys}");

    // Again: nothing new, every count unchanged, everything found.
    let second = seed_json(&app);
    for (kind, n) in second["created"].as_object().unwrap() {
        assert_eq!(n, 0, "{kind} created again: {second}");
    }
    assert_eq!(second["found"]["certificates"], 60, "{second}");
    assert_eq!(second["found"]["channel tests"], 3, "{second}");
    assert_eq!(counts(&app).await, before);
    // The table says what was found and what the worker will change.
    let table = seed(&app, &[]);
    assert!(table.contains("KIND") && table.contains("certificates"), "{table}");
    assert!(table.contains("become expiring") && table.contains("dead"), "{table}");
    assert_eq!(counts(&app).await, before);

    // With the worker, time does the rest.
    let worker = app.worker(&[("CERTCTL_RENEWAL_INTERVAL", "1s")]).await;
    let channels = get(&app, "/api/v1/notification-channels").await;
    let ops = channels["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "demo-ops-webhook")
        .unwrap_or_else(|| panic!("no demo-ops-webhook in {channels}"))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let dead_tests = format!("/api/v1/notifications?status=dead&type=channel_test&channel_id={ops}&limit=1");
    loop {
        let summary = get(&app, "/api/v1/stats/summary").await;
        let now = (
            certificates(&app, "expired").await,
            certificates(&app, "expiring").await,
            certificates(&app, "renewal_in_progress").await,
            total(&app, &dead_tests).await,
            summary["jobs_awaiting_approval"].as_u64().unwrap(),
        );
        let (expired, expiring, renewing, dead, awaiting) = now;
        // The short-lived expire; the manual ones wait in their window; each approval-gated one
        // has a renewal waiting for an approver; the failing channel's tests are dead letters.
        if expired >= 1
            && expiring >= planned("legacy")
            && renewing == planned("gated")
            && dead == 3
            && awaiting == planned("pending_requests") + planned("gated")
            && summary["notifications_dead"].as_u64().unwrap() >= 3
        {
            break;
        }
        assert!(
            started.elapsed() < WITHIN,
            "after {:?}: (expired, expiring, renewing, dead tests, awaiting approval) = {now:?}; plan {plan}; summary {summary}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // What the worker changed is found as it is: a run now creates nothing either.
    let after = seed_json(&app);
    for (kind, n) in after["created"].as_object().unwrap() {
        assert_eq!(n, 0, "{kind} created after the worker ran: {after}");
    }
    worker.stop().await;

    // A request for a demo name that the demo did not file is never approved by a run: someone
    // else's request (another requester, profile, names) stops it until a person decides.
    let operator = app.key("otto", "operator").await;
    let gate = app
        .profile(serde_json::json!({ "name": "team-gated", "max_ttl_seconds": 86_400,
            "allowed_key_algorithms": ["ecdsa-p256"], "ekus": ["server_auth"], "requires_approval": true,
            "san_rules": { "allowed_domains": ["demo.internal", "example.org"], "allow_subdomains": true } }))
        .await;
    let issuer = get(&app, "/api/v1/issuers").await["data"][0]["id"].clone();
    let cn = "request-01.demo.internal";
    let (s, job) = app
        .post(
            "/api/v1/certificates",
            &operator,
            serde_json::json!({ "issuer_id": issuer, "profile_id": gate["id"], "common_name": cn,
                "sans": [cn, "payroll.example.org"], "csr_pem": csr_pem(&[cn]) }),
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::ACCEPTED, "{job}");
    let job_id = job["job_id"].as_str().unwrap().to_owned();
    let refused = seed_refused(&app);
    assert!(refused.contains(&job_id) && refused.contains("otto"), "{refused}");
    let (s, v) = app.get(&format!("/api/v1/jobs/{job_id}"), &app.admin_key).await;
    assert_eq!(
        (s, &v["status"]),
        (reqwest::StatusCode::OK, &serde_json::json!("awaiting_approval")),
        "{v}"
    );
    let (s, v) = app
        .post(
            &format!("/api/v1/jobs/{job_id}/reject"),
            &app.admin_key,
            serde_json::json!({}),
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::OK, "{v}");
    seed_json(&app);
}

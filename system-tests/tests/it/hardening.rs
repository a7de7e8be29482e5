//! The API's security and reliability guarantees, each held by a test: policy is written by
//! admins only, audit rows name keys and approvals compare them, denials cannot flood
//! the audit log, channel URLs stay sealed, bulk revocation counts add up under load, no query
//! string can make a list route fail, and a database outage is a 503 that heals by itself.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Proxy, TestApp, fresh_database, id, random_secret};
use crate::notify_harness::Receiver;

/// Asks for a key for `principal` with `role`, made by the key `creator`.
async fn key_by(app: &TestApp, creator: &str, name: &str, principal: &str, role: &str) -> (StatusCode, Value) {
    app.post(
        "/api/v1/api-keys",
        creator,
        json!({ "name": name, "principal": principal, "role": role }),
    )
    .await
}

/// A key made by `creator`; returns (secret, id).
async fn made_key(app: &TestApp, creator: &str, name: &str, principal: &str, role: &str) -> (String, String) {
    let (s, v) = key_by(app, creator, name, principal, role).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    (v["key"].as_str().unwrap().to_owned(), id(&v))
}

#[tokio::test]
async fn operators_cannot_write_profiles_or_issuers() {
    let app = TestApp::spawn().await;
    let (_, profile) = app.pki().await;
    let operator = app.key("op", "operator").await;
    let attempts = [
        (
            Method::POST,
            "/api/v1/profiles".to_owned(),
            json!({ "name": "lax", "max_ttl_seconds": 315_360_000, "allowed_key_algorithms": ["ecdsa-p256"], "ekus": ["server_auth"] }),
        ),
        (
            Method::PUT,
            format!("/api/v1/profiles/{profile}"),
            json!({ "name": "web", "max_ttl_seconds": 315_360_000, "allowed_key_algorithms": ["ecdsa-p256"], "ekus": ["server_auth"], "requires_approval": false }),
        ),
        (
            Method::POST,
            "/api/v1/issuers".to_owned(),
            json!({ "name": "rogue", "common_name": "Rogue CA", "key_algorithm": "ecdsa-p256" }),
        ),
    ];
    for (method, path, body) in attempts {
        let (s, v) = app.call(method.clone(), &path, Some(&operator), Some(body)).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{method} {path}: {v}");
        assert_eq!(v["code"], "forbidden");
    }
    // The profile is as the admin left it.
    let (_, p) = app.get(&format!("/api/v1/profiles/{profile}"), &operator).await;
    assert_eq!(p["max_ttl_seconds"], 90 * 86400);
}

#[tokio::test]
async fn approvals_compare_keys_as_well_as_principals_and_audit_names_the_key() {
    let app = TestApp::spawn().await;
    let (issuer, _) = app.pki().await;
    let gated = app
        .profile(json!({ "name": "gated", "max_ttl_seconds": 86400 * 30, "allowed_key_algorithms": ["ecdsa-p256"], "ekus": ["server_auth"], "requires_approval": true }))
        .await;
    let dir = crate::helpers::tempdir();
    let (csr, _) = crate::helpers::openssl_csr(
        &dir,
        &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "gated.example.com",
    );
    // Xavier, an admin, files a request, then makes himself second and third keys under other names.
    let (xavier, xavier_id) = made_key(&app, &app.admin_key, "xavier", "xavier", "admin").await;
    let (s, job) = app
        .post(
            "/api/v1/certificates",
            &xavier,
            json!({ "issuer_id": issuer, "profile_id": id(&gated), "common_name": "gated.example.com", "csr_pem": csr }),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{job}");
    let job_id = job["job_id"].as_str().unwrap().to_owned();
    let (yvonne, yvonne_id) = made_key(&app, &xavier, "yvonne", "yvonne", "operator").await;
    let (zed, _) = made_key(&app, &xavier, "zed", "zed", "admin").await;
    let (walt, _) = made_key(&app, &zed, "walt", "walt", "operator").await;
    let approve = |key: String| {
        let app = &app;
        let job_id = job_id.clone();
        async move {
            app.post(&format!("/api/v1/jobs/{job_id}/approve"), &key, json!({}))
                .await
        }
    };
    for (who, key, reason) in [
        ("the requesting key", xavier.clone(), "self_approval"),
        ("a key the requester made", yvonne.clone(), "self_approval_created_key"),
        (
            "a key made by a key the requester made",
            walt.clone(),
            "self_approval_created_key",
        ),
    ] {
        let (s, v) = approve(key).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{who}: {v}");
        assert_eq!(v["code"], "self_approval_forbidden", "{who}");
        let reasons = app
            .scalar_i64(&format!(
                "SELECT count(*) FROM audit_events WHERE action = 'job.approve' AND outcome = 'denied' \
                 AND details->>'reason' = '{reason}'"
            ))
            .await;
        assert!(reasons >= 1, "{who}: no denial audited with reason {reason}");
    }
    // A principal that differs only in case is the same person, whoever made the key.
    let (alice_twin, _) = made_key(&app, &app.admin_key, "xavier-2", "XAVIER", "operator").await;
    assert_eq!(approve(alice_twin).await.0, StatusCode::FORBIDDEN);
    // Someone the requester did not make may approve.
    let (olga, olga_id) = made_key(&app, &app.admin_key, "olga", "olga", "operator").await;
    let (s, v) = approve(olga).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "approved");

    // Every audit row names its key; the audit API filters and shows it.
    let auditor = app.key("auditor", "auditor").await;
    let (s, rows) = app.get(&format!("/api/v1/audit?key_id={olga_id}"), &auditor).await;
    assert_eq!(s, StatusCode::OK, "{rows}");
    let actions: Vec<&str> = rows["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["key_id"], olga_id.as_str());
            assert_eq!(r["protocol"], "api");
            r["action"].as_str().unwrap()
        })
        .collect();
    assert!(
        actions.contains(&"job.approve") && actions.contains(&"certificate.issue"),
        "{actions:?}"
    );
    let (_, rows) = app.get(&format!("/api/v1/audit?key_id={yvonne_id}"), &auditor).await;
    assert_eq!(rows["data"][0]["outcome"], "denied");
    let (_, rows) = app
        .get(&format!("/api/v1/audit?key_id={xavier_id}&action=job.create"), &auditor)
        .await;
    assert_eq!(rows["total"], 1);
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM audit_events WHERE key_id IS NULL AND actor NOT LIKE 'system:%'")
            .await,
        0,
        "an audit row written for a key without its key_id"
    );
    // Every row says how its actor came in: through the API with a key, or certctl itself.
    assert_eq!(
        app.scalar_i64(
            "SELECT count(*) FROM audit_events WHERE protocol IS DISTINCT FROM \
             CASE WHEN actor LIKE 'system:%' THEN 'system' ELSE 'api' END"
        )
        .await,
        0
    );
    let (_, keys) = app.get("/api/v1/api-keys", &app.admin_key).await;
    let walt_row = keys["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "walt")
        .unwrap();
    assert!(walt_row["created_by_key_id"].is_string(), "{walt_row}");
}

#[tokio::test]
async fn a_principal_belongs_to_one_creator_among_enabled_keys() {
    let app = TestApp::spawn().await;
    let (ann, _) = made_key(&app, &app.admin_key, "ann", "ann", "admin").await;
    let (bob, _) = made_key(&app, &app.admin_key, "bob", "bob", "admin").await;
    let (_, carol_id) = made_key(&app, &ann, "carol", "carol", "operator").await;
    // Ann may give Carol a second key; Bob may not mint one in Carol's name.
    made_key(&app, &ann, "carol-laptop", "Carol", "viewer").await;
    let (s, v) = key_by(&app, &bob, "carol-fake", "CAROL", "operator").await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["code"], "principal_taken");
    // Once Carol's keys are disabled, the name is free again.
    for k in app.get("/api/v1/api-keys", &app.admin_key).await.1["data"]
        .as_array()
        .unwrap()
    {
        if k["principal"].as_str().unwrap().eq_ignore_ascii_case("carol") {
            let (s, _) = app
                .post(
                    &format!("/api/v1/api-keys/{}/disable", k["id"].as_str().unwrap()),
                    &ann,
                    json!({}),
                )
                .await;
            assert_eq!(s, StatusCode::OK);
        }
    }
    let _ = carol_id;
    made_key(&app, &bob, "carol-new", "carol", "operator").await;
}

#[tokio::test]
async fn repeated_denials_are_counted_in_a_few_audit_rows_not_one_each() {
    let app = TestApp::spawn_with(&[("CERTCTL_AUDIT_DENIAL_WINDOW", "10m")]).await;
    let viewer = app.key("pest", "viewer").await;
    let db = app.db.clone();
    let count_rows = || {
        let db = db.clone();
        async move {
            use sea_orm::ConnectionTrait;
            let row = db
                .query_one_raw(sea_orm::Statement::from_string(
                    sea_orm::DbBackend::Postgres,
                    "SELECT count(*) AS rows, coalesce(sum((details->>'count')::bigint), 0)::bigint AS refusals \
                     FROM audit_events WHERE action = 'authorization.denied'",
                ))
                .await
                .unwrap()
                .unwrap();
            (
                row.try_get::<i64>("", "rows").unwrap(),
                row.try_get::<i64>("", "refusals").unwrap(),
            )
        }
    };
    for i in 0..300 {
        // Different certificate ids, one route: counted together.
        let path = if i % 2 == 0 {
            "/api/v1/certificates".to_owned()
        } else {
            format!("/api/v1/certificates/{}/revoke", uuid::Uuid::new_v4())
        };
        let (s, _) = app.post(&path, &viewer, json!({})).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
    }
    // One row per route so far, each the first of its window.
    assert_eq!(count_rows().await, (2, 2));
    app.stop().await.unwrap();
    // At shutdown the open windows are written out: the counts add up to every refusal.
    assert_eq!(count_rows().await, (4, 300));
}

#[tokio::test]
async fn webhook_urls_are_sealed_and_shown_only_as_scheme_and_host() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let token = "T0K3N-d0-n0t-sh0w";
    let url = format!(
        "{}/hooks/{token}?sig={token}",
        receiver.url.replace("http://", &format!("http://bot:{token}@"))
    );
    let secret = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3";
    let (s, created) = app
        .post(
            "/api/v1/notification-channels",
            &app.admin_key,
            json!({ "name": "sealed", "kind": "webhook", "config": { "url": url, "secret": secret }, "event_types": ["channel_test"] }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let channel = id(&created);
    let shown = format!("{}/…", receiver.url);
    let viewer = app.key("v", "viewer").await;
    for key in [&app.admin_key, &viewer] {
        let (_, one) = app.get(&format!("/api/v1/notification-channels/{channel}"), key).await;
        let (_, all) = app.get("/api/v1/notification-channels", key).await;
        for v in [&one, &all] {
            assert!(!v.to_string().contains(token), "{v}");
        }
        assert_eq!(one["config"]["url"], shown.as_str());
    }
    assert!(!created.to_string().contains(token));
    for table in ["notification_channels", "audit_events"] {
        assert_eq!(
            app.scalar_i64(&format!(
                "SELECT count(*) FROM {table} t WHERE t::text LIKE '%{token}%'"
            ))
            .await,
            0,
            "{table} holds the token in the clear"
        );
    }
    // The sealed URL is what the worker uses.
    let _worker = app.worker(&[]).await;
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
    assert_eq!(receiver.seen()[0].path, format!("/hooks/{token}"));

    // A row stored in the clear by an earlier version is sealed when an api-server starts.
    use sea_orm::ConnectionTrait;
    app.db
        .execute_unprepared(&format!(
            "UPDATE notification_channels SET config = jsonb_build_object('url', '{url}') WHERE id = '{channel}'"
        ))
        .await
        .unwrap();
    let (_, legacy) = app
        .get(&format!("/api/v1/notification-channels/{channel}"), &viewer)
        .await;
    assert_eq!(
        legacy["config"]["url"],
        shown.as_str(),
        "shown redacted even before sealing"
    );
    let again = TestApp::spawn_on(app.db_url.clone(), app.admin_key.clone(), &[]).await;
    assert_eq!(
        again
            .scalar_i64(&format!(
                "SELECT count(*) FROM notification_channels t WHERE t::text LIKE '%{token}%'"
            ))
            .await,
        0
    );
    let (_, n) = again
        .post(
            &format!("/api/v1/notification-channels/{channel}/test"),
            &again.admin_key,
            json!({}),
        )
        .await;
    again
        .wait_notification(n["id"].as_str().unwrap(), Duration::from_secs(10), |v| {
            v["status"] == "sent"
        })
        .await;
}

#[tokio::test]
async fn plain_smtp_with_a_password_is_refused_unless_the_relay_is_local() {
    let app = TestApp::spawn().await;
    let email = |name: &str, host: &str| {
        json!({ "name": name, "kind": "email", "event_types": ["channel_test"], "config": {
            "smtp_host": host, "tls": "none", "username": "certctl", "password": "s3cret",
            "from": "certctl@example.test", "to": ["ops@example.test"] } })
    };
    let (s, v) = app
        .post(
            "/api/v1/notification-channels",
            &app.admin_key,
            email("remote", "mx.example.com"),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["code"], "invalid_channel_config");
    assert!(v["detail"].as_str().unwrap().contains("in the clear"), "{v}");
    let (s, v) = app
        .post(
            "/api/v1/notification-channels",
            &app.admin_key,
            email("local", "localhost"),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
}

#[tokio::test]
async fn bulk_revocation_counts_add_up_while_issuance_runs() {
    let app = TestApp::spawn().await;
    let (issuer, profile) = app.pki().await;
    for i in 0..20 {
        app.issue(&issuer, &profile, &format!("seed-{i}.example.com")).await;
    }
    let stop = tokio_util::sync::CancellationToken::new();
    let mut issuers = Vec::new();
    for w in 0..4 {
        let (http, base, key, issuer, profile, stop) = (
            app.http.clone(),
            app.base.clone(),
            app.admin_key.clone(),
            issuer.clone(),
            profile.clone(),
            stop.clone(),
        );
        issuers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.is_cancelled() {
                let r = http
                    .post(format!("{base}/api/v1/certificates"))
                    .bearer_auth(&key)
                    .json(&json!({ "issuer_id": issuer, "profile_id": profile, "common_name": format!("w{w}-{n}.example.com"), "key_algorithm": "ecdsa-p256" }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::CREATED);
                n += 1;
            }
            n
        }));
    }
    let mut revoked_total = 0;
    for round in 0..25 {
        let (s, v) = app
            .post(
                "/api/v1/certificates/bulk-revoke",
                &app.admin_key,
                json!({ "issuer_id": issuer, "reason": "superseded" }),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "round {round}: {v}");
        let (matched, revoked, skipped) = (
            v["matched"].as_u64().unwrap(),
            v["revoked"].as_u64().unwrap(),
            v["skipped"].as_u64().unwrap(),
        );
        assert_eq!(matched, revoked + skipped, "round {round}: {v}");
        revoked_total += revoked;
    }
    stop.cancel();
    let mut issued = 20;
    for t in issuers {
        issued += t.await.unwrap();
    }
    let (s, v) = app
        .post(
            "/api/v1/certificates/bulk-revoke",
            &app.admin_key,
            json!({ "issuer_id": issuer, "reason": "superseded" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    revoked_total += v["revoked"].as_u64().unwrap();
    // Every certificate was revoked exactly once, by one of the rounds.
    assert_eq!(revoked_total, issued);
    assert_eq!(v["matched"].as_u64().unwrap(), issued);
}

/// Values that have broken query parsers before: out-of-range times, NUL bytes, numbers past any
/// integer, malformed percent-encoding, cursors that decode to nonsense.
const NASTY: &[&str] = &[
    "",
    "%00",
    "a%00b",
    "%ff%fe",
    "%",
    "%zz",
    "-1",
    "0",
    "1e309",
    "99999999999999999999999999",
    "-9223372036854775808",
    "NaN",
    "true",
    "null",
    "[]",
    "{}",
    "%27%3B--",
    "2026-12-31T00:00:00Z",
    "2026-12-31",
    "+200000-01-01T00:00:00Z",
    "-200000-01-01T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999999Z",
    "00000000-0000-0000-0000-000000000000",
    "LTYzOTk5OTk5OTk5OTk5OTk5OTl8MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAw",
    "OTIyMzM3MjAzNjg1NDc3NTgwN3wwMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDA",
    "MTc2NDg5MjgwMDAwMDAwMHxub3QtYS11dWlk",
];

/// Parameter names of the list routes, and some they do not have.
const NAMES: &[&str] = &[
    "status",
    "issuer_id",
    "profile_id",
    "common_name",
    "expiring_before",
    "cursor",
    "limit",
    "type",
    "channel_id",
    "certificate_id",
    "actor",
    "action",
    "resource_type",
    "resource_id",
    "key_id",
    "bogus",
];

/// A small deterministic generator, so a failure can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() as usize) % xs.len()]
    }
}

#[tokio::test]
async fn no_query_string_makes_a_list_route_fail() {
    use certctl_api_server::routes::{ROUTES, Verb};
    let app = TestApp::spawn().await;
    let (issuer, profile) = app.pki().await;
    app.issue(&issuer, &profile, "q.example.com").await;
    let auditor = app.key("auditor", "auditor").await;
    let lists: Vec<&str> = ROUTES
        .iter()
        .filter(|r| r.verb == Verb::Get && !r.path.contains('{'))
        .map(|r| r.path)
        .collect();
    assert!(lists.len() >= 8, "{lists:?}");
    let mut rng = Lcg(0x5eed_cafe);
    let mut queries: Vec<String> = Vec::new();
    for name in NAMES {
        for value in NASTY {
            queries.push(format!("{name}={value}"));
        }
    }
    for _ in 0..150 {
        let n = 1 + rng.next() % 4;
        let q: Vec<String> = (0..n)
            .map(|_| format!("{}={}", rng.pick(NAMES), rng.pick(NASTY)))
            .collect();
        queries.push(q.join("&"));
    }
    for path in &lists {
        let key = if *path == "/api/v1/audit" {
            &auditor
        } else {
            &app.admin_key
        };
        for q in &queries {
            let resp = app
                .http
                .get(format!("{}{path}?{q}", app.base))
                .bearer_auth(key)
                .send()
                .await
                .unwrap();
            let status = resp.status();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            assert!(!status.is_server_error(), "GET {path}?{q} -> {status}: {body}");
            if status == StatusCode::BAD_REQUEST {
                let code = body["code"].as_str().unwrap_or("");
                assert!(
                    ["invalid_query", "invalid_cursor"].contains(&code),
                    "GET {path}?{q}: {body}"
                );
            }
        }
    }
    // The message says what a good value looks like.
    let (s, v) = app
        .get("/api/v1/certificates?expiring_before=next-tuesday", &app.admin_key)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["code"], "invalid_query");
    assert_eq!(
        v["detail"],
        "expiring_before must be an RFC 3339 timestamp such as 2026-12-31T00:00:00Z"
    );
    let (_, v) = app.get("/api/v1/certificates?limt=5", &app.admin_key).await;
    assert!(
        v["detail"].as_str().unwrap().contains("unknown query parameter `limt`"),
        "{v}"
    );
}

#[tokio::test]
async fn a_database_outage_is_a_503_with_retry_after_on_every_route_and_heals() {
    let proxy = Proxy::start("127.0.0.1:5432").await;
    let (name, _) = fresh_database().await;
    let via_proxy = format!("postgres://postgres@{}/{name}", proxy.addr);
    let app = TestApp::spawn_on(
        via_proxy,
        random_secret(),
        &[("CERTCTL_DATABASE_ACQUIRE_TIMEOUT", "1s")],
    )
    .await;
    let (issuer, profile) = app.pki().await;
    let cert = app.issue(&issuer, &profile, "before.example.com").await;
    let probes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/api/v1/auth/me".into(), None),
        (Method::GET, "/api/v1/certificates".into(), None),
        (Method::GET, format!("/api/v1/certificates/{}", id(&cert)), None),
        (
            Method::POST,
            "/api/v1/certificates".into(),
            Some(
                json!({ "issuer_id": issuer, "profile_id": profile, "common_name": "during.example.com", "key_algorithm": "ecdsa-p256" }),
            ),
        ),
        (Method::GET, "/api/v1/audit".into(), None),
        (Method::GET, "/api/v1/stats/summary".into(), None),
    ];
    proxy.cut();
    for (method, path, body) in &probes {
        let mut req = app
            .http
            .request(method.clone(), format!("{}{path}", app.base))
            .bearer_auth(&app.admin_key);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE, "{method} {path}");
        assert_eq!(resp.headers()["retry-after"], "5", "{method} {path}");
        assert_eq!(resp.headers()["content-type"], "application/problem+json");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["code"], "service_unavailable", "{method} {path}: {v}");
    }
    let ready = app.http.get(format!("{}/readyz", app.admin_base)).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    // The routes that need no database keep working.
    let (s, _) = app.call(Method::GET, "/api/v1/version", None, None).await;
    assert_eq!(s, StatusCode::OK);

    proxy.restore();
    let start = Instant::now();
    loop {
        let ready = app.http.get(format!("{}/readyz", app.admin_base)).send().await.unwrap();
        let (s, _) = app.get("/api/v1/certificates", &app.admin_key).await;
        if ready.status() == StatusCode::OK && s == StatusCode::OK {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "did not recover: readyz {}, list {s}",
            ready.status()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Nothing written during the outage half-landed; new writes work.
    app.issue(&issuer, &profile, "after.example.com").await;
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM certificates WHERE common_name = 'during.example.com'")
            .await,
        0
    );
}

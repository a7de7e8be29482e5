//! Automatic renewal with a fast clock: certificates of a minute with windows of seconds, three
//! worker replicas running the renewal loop every second, and nobody calling the API to renew.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::notify_harness::Receiver;

/// Certificates live this long (the shortest certctl issues)…
const TTL: i64 = 60;
/// …and enter their renewal window once this fraction of it has passed: 10 s after issuance.
const FRACTION: f64 = 1.0 / 6.0;

async fn wait_for(app: &TestApp, what: &str, sql: &str, within: Duration) -> i64 {
    let start = Instant::now();
    loop {
        let n = app.scalar_i64(sql).await;
        if n > 0 {
            return n;
        }
        assert!(start.elapsed() < within, "{what}: `{sql}` stayed 0 for {within:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn certificate(app: &TestApp, id: &str) -> Value {
    let (s, v) = app.get(&format!("/api/v1/certificates/{id}"), &app.admin_key).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

async fn job_of(app: &TestApp, certificate: &str) -> Value {
    let id = app
        .scalar_text(&format!(
            "SELECT id::text FROM jobs WHERE renews_certificate_id = '{certificate}'"
        ))
        .await;
    let (s, v) = app.get(&format!("/api/v1/jobs/{id}"), &app.admin_key).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

/// A policy, a short-lived profile following it (with or without approval), for the tests.
async fn policy_and_profile(app: &TestApp, name: &str, policy: Value, approval: bool) -> (String, String) {
    let (s, p) = app.post("/api/v1/renewal-policies", &app.admin_key, policy).await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let profile = app
        .profile(
            json!({ "name": name, "max_ttl_seconds": 3600, "allowed_key_algorithms": ["ecdsa-p256"],
                         "ekus": ["server_auth"], "allow_short_lived": true, "requires_approval": approval,
                         "renewal_policy_id": p["id"] }),
        )
        .await;
    (id(&p), id(&profile))
}

async fn issue(
    app: &TestApp,
    key: &str,
    issuer: &str,
    profile: &str,
    cn: &str,
    csr: Option<String>,
) -> (StatusCode, Value) {
    let mut body = json!({ "issuer_id": issuer, "profile_id": profile, "common_name": cn, "ttl_seconds": TTL });
    match csr {
        Some(csr) => body["csr_pem"] = json!(csr),
        None => body["key_algorithm"] = json!("ecdsa-p256"),
    }
    app.post("/api/v1/certificates", key, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_renew_by_themselves_wait_for_approval_and_retry_then_give_up() {
    let app = TestApp::spawn().await;
    let operator = app.key("olga", "operator").await;
    let receiver = Receiver::start().await;
    receiver.always(200);
    let (channel, _) = app
        .webhook_channel(
            "renewals",
            &receiver.url,
            &["certificate_renewed", "renewal_failed", "approval_requested"],
        )
        .await;
    let fast = |name: &str| {
        json!({ "name": name, "renew_at_fraction": FRACTION, "max_attempts": 2, "retry_interval_seconds": 2,
                "channel_ids": [channel] })
    };
    let (_, plain) = policy_and_profile(&app, "plain", fast("fast"), false).await;
    let (_, gated) = policy_and_profile(&app, "gated", fast("fast-gated"), true).await;
    let issuer = id(&app.issuer("renewing", "ecdsa-p256").await);
    let doomed_issuer = id(&app.issuer("doomed", "ecdsa-p256").await);

    // One renews by itself; one needs an approver; one's issuer is disabled before its window.
    let (s, auto) = issue(&app, &operator, &issuer, &plain, "auto.example", None).await;
    assert_eq!(s, StatusCode::CREATED, "{auto}");
    assert_eq!(auto["key_generated"], true);
    // The gated one is ada's, an admin who can make keys of her own.
    let ada = app.key("ada", "admin").await;
    let (s, job) = issue(
        &app,
        &ada,
        &issuer,
        &gated,
        "gated.example",
        Some(csr_pem(&["gated.example"])),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{job}");
    let (s, job) = app
        .post(
            &format!("/api/v1/jobs/{}/approve", job["job_id"].as_str().unwrap()),
            &app.admin_key,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{job}");
    let gated_cert = job["certificate_id"].as_str().unwrap().to_owned();
    let (s, failing) = issue(&app, &operator, &doomed_issuer, &plain, "failing.example", None).await;
    assert_eq!(s, StatusCode::CREATED, "{failing}");
    let (s, v) = app
        .post(
            &format!("/api/v1/issuers/{doomed_issuer}/disable"),
            &app.admin_key,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["disabled_at"].is_string());
    // The window is on the certificate, from its policy.
    let opens_after = |c: &Value| {
        let at = |f: &str| chrono::DateTime::parse_from_rfc3339(c[f].as_str().unwrap()).unwrap();
        (at("renew_after") - at("not_before")).num_seconds()
    };
    assert_eq!(opens_after(&certificate(&app, &id(&auto)).await), 10);
    // The issuance answer itself carries the window the insert computed.
    assert_eq!(opens_after(&auto), 10, "{auto}");
    // A window longer than half the lifetime opens at half of it; a certificate's own policy
    // overrides its profile's, and clearing it goes back.
    let (s, long) = app
        .post(
            "/api/v1/renewal-policies",
            &app.admin_key,
            json!({ "name": "long", "renew_before_seconds": 50 }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{long}");
    let set = |policy: Value| {
        let path = format!("/api/v1/certificates/{}/renewal-policy", id(&failing));
        let body = json!({ "renewal_policy_id": policy });
        let app = &app;
        async move {
            app.call(reqwest::Method::PUT, &path, Some(&app.admin_key), Some(body))
                .await
        }
    };
    let (s, c) = set(long["id"].clone()).await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!((opens_after(&c), &c["renewal_policy_id"]), (TTL / 2, &long["id"]));
    let (s, c) = set(Value::Null).await;
    assert_eq!((s, opens_after(&c)), (StatusCode::OK, 10));
    // A disabled issuer signs nothing, through the API either.
    let (s, v) = issue(&app, &operator, &doomed_issuer, &plain, "refused.example", None).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("issuer_disabled")),
        "{v}"
    );

    let workers = [
        app.worker(&[("CERTCTL_RENEWAL_INTERVAL", "1s")]).await,
        app.worker(&[("CERTCTL_RENEWAL_INTERVAL", "1s")]).await,
        app.worker(&[("CERTCTL_RENEWAL_INTERVAL", "1s")]).await,
    ];

    // Renewed without anyone asking: same names and key, the old one `renewed`.
    wait_for(
        &app,
        "the automatic renewal",
        &format!(
            "SELECT count(*) FROM certificates WHERE renewed_from_id = '{}'",
            id(&auto)
        ),
        Duration::from_secs(40),
    )
    .await;
    let old = certificate(&app, &id(&auto)).await;
    assert_eq!(old["status"], "renewed");
    let new = certificate(&app, old["superseded_by_id"].as_str().unwrap()).await;
    assert_eq!(new["common_name"], "auto.example");
    assert_eq!(new["sans"], old["sans"]);
    assert_eq!(new["requested_by"], "system:renewal");
    assert_eq!(new["key_generated"], true, "the same key, which certctl generated");
    assert_eq!(
        app.scalar_text(&format!(
            "SELECT encode(public_key_der, 'hex') FROM certificates WHERE id = '{}'",
            id(&new)
        ))
        .await,
        app.scalar_text(&format!(
            "SELECT encode(public_key_der, 'hex') FROM certificates WHERE id = '{}'",
            id(&auto)
        ))
        .await
    );
    let job = job_of(&app, &id(&auto)).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["certificate_id"], new["id"]);
    assert_eq!(job["requested_by"], "system:renewal");
    assert_eq!(
        app.scalar_i64(&format!(
            "SELECT count(*) FROM audit_events WHERE action = 'certificate.renew' AND actor = 'system:renewal' \
             AND resource_id = '{}'",
            id(&new)
        ))
        .await,
        1
    );
    // openssl agrees the renewal is a certificate of the same issuer.
    let dir = tempdir();
    let (s, chain) = app.get(&format!("/api/v1/issuers/{issuer}"), &app.admin_key).await;
    assert_eq!(s, StatusCode::OK);
    let (s, pem) = app
        .get(&format!("/api/v1/certificates/{}", id(&new)), &app.admin_key)
        .await;
    assert_eq!(s, StatusCode::OK);
    let ca = write(&dir, "ca.pem", chain["certificate_pem"].as_str().unwrap());
    let leaf = write(&dir, "new.pem", pem["certificate_pem"].as_str().unwrap());
    let (ok, out) = openssl(&["verify", "-CAfile", &ca, &leaf]);
    assert!(ok && out.contains("OK"), "{out}");

    // Under approval the renewal waits, tells the approvers, and renews once someone else agrees.
    wait_for(
        &app,
        "the renewal awaiting approval",
        &format!(
            "SELECT count(*) FROM jobs WHERE renews_certificate_id = '{gated_cert}' AND status = 'awaiting_approval'"
        ),
        Duration::from_secs(40),
    )
    .await;
    assert_eq!(certificate(&app, &gated_cert).await["status"], "renewal_in_progress");
    assert_eq!(
        app.scalar_i64(&format!(
            "SELECT count(*) FROM notification_events WHERE type = 'approval_requested' AND certificate_id = '{gated_cert}'"
        ))
        .await,
        1
    );
    let job = job_of(&app, &gated_cert).await;
    // The system filed it, but for ada's certificate: she may not approve it herself, nor through
    // a key she made under another name.
    let (s, v) = app
        .post(
            "/api/v1/api-keys",
            &ada,
            json!({ "name": "ada-bot", "role": "operator" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let ada_bot = v["key"].as_str().unwrap().to_owned();
    for (key, reason) in [(&ada, "self_approval_owner"), (&ada_bot, "self_approval_owner_key")] {
        let (s, refused) = app
            .post(
                &format!("/api/v1/jobs/{}/approve", id(&job)),
                key,
                json!({ "note": "mine" }),
            )
            .await;
        assert_eq!(
            (s, refused["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("self_approval_forbidden")),
            "{refused}"
        );
        assert!(
            refused["detail"]
                .as_str()
                .is_some_and(|d| d.contains("renews your certificate")),
            "{refused}"
        );
        assert_eq!(
            app.scalar_i64(&format!(
                "SELECT count(*) FROM audit_events WHERE action = 'job.approve' AND outcome = 'denied' \
                 AND resource_id = '{}' AND details->>'reason' = '{reason}' \
                 AND details->>'owner' = 'ada' AND details->>'owner_key_id' IS NOT NULL",
                id(&job)
            ))
            .await,
            1,
            "{reason}"
        );
    }
    let approver = app.key("petra", "operator").await;
    let (s, decided) = app
        .post(
            &format!("/api/v1/jobs/{}/approve", id(&job)),
            &approver,
            json!({ "note": "fine" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{decided}");
    assert_eq!(decided["status"], "approved", "{decided}");
    let old = certificate(&app, &gated_cert).await;
    assert_eq!(old["status"], "renewed");
    assert_eq!(old["superseded_by_id"], decided["certificate_id"]);

    // The disabled issuer: each attempt fails and says so; after the policy's two it gives up and
    // the certificate waits, `expiring`.
    wait_for(
        &app,
        "the failed renewal",
        &format!(
            "SELECT count(*) FROM jobs WHERE renews_certificate_id = '{}' AND status = 'failed'",
            id(&failing)
        ),
        Duration::from_secs(40),
    )
    .await;
    let job = job_of(&app, &id(&failing)).await;
    assert_eq!(job["attempts"], 2, "{job}");
    assert!(job["error"].as_str().unwrap().contains("disabled"), "{job}");
    assert_eq!(certificate(&app, &id(&failing)).await["status"], "expiring");
    let failures: Vec<Value> = app
        .notifications_of("type=renewal_failed")
        .await
        .into_iter()
        .filter(|n| n["channel_id"] == json!(channel))
        .collect();
    assert_eq!(failures.len(), 2, "{failures:?}");
    let mut retried: Vec<bool> = Vec::new();
    for n in &failures {
        let n = app.notification(n["id"].as_str().unwrap()).await;
        retried.push(n["payload"]["data"]["will_retry"].as_bool().unwrap());
    }
    retried.sort();
    assert_eq!(retried, [false, true]);
    // The webhook heard about it too.
    let start = Instant::now();
    while !receiver
        .seen()
        .iter()
        .any(|r| String::from_utf8_lossy(&r.body).contains("\"renewal_failed\""))
    {
        assert!(start.elapsed() < Duration::from_secs(20), "no renewal_failed webhook");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A certificate past `not_after` is marked expired.
    app.scalar_i64(&format!(
        "WITH u AS (UPDATE certificates SET not_after = now() - interval '1 second' WHERE id = '{}' RETURNING 1) \
         SELECT count(*) FROM u",
        id(&failing)
    ))
    .await;
    wait_for(
        &app,
        "the expired mark",
        &format!(
            "SELECT count(*) FROM certificates WHERE id = '{}' AND status = 'expired'",
            id(&failing)
        ),
        Duration::from_secs(10),
    )
    .await;

    // Let the chains renew a few more times, then: no certificate was renewed twice, and no
    // certificate got two renewal jobs, whichever of the three workers got there.
    wait_for(
        &app,
        "a third generation",
        "SELECT count(*) FROM certificates c JOIN certificates p ON p.id = c.renewed_from_id \
         WHERE p.renewed_from_id IS NOT NULL AND c.common_name = 'auto.example'",
        Duration::from_secs(40),
    )
    .await;
    assert_eq!(
        app.scalar_i64(
            "SELECT count(*) FROM (SELECT renewed_from_id FROM certificates WHERE renewed_from_id IS NOT NULL \
             GROUP BY 1 HAVING count(*) > 1) twice"
        )
        .await,
        0
    );
    assert_eq!(
        app.scalar_i64(
            "SELECT count(*) FROM (SELECT renews_certificate_id FROM jobs WHERE renews_certificate_id IS NOT NULL \
             GROUP BY 1 HAVING count(*) > 1) twice"
        )
        .await,
        0
    );
    assert!(
        app.scalar_i64("SELECT count(*) FROM certificates WHERE common_name = 'auto.example'")
            .await
            >= 3
    );
    // The summary counts the new states.
    let (_, summary) = app.get("/api/v1/stats/summary", &app.admin_key).await;
    assert!(summary["certificates"]["renewed"].as_u64().unwrap() >= 3, "{summary}");
    for w in workers {
        w.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_keys_are_collected_once_and_csr_renewals_wait_for_a_csr() {
    let app = TestApp::spawn().await;
    let operator = app.key("rita", "operator").await;
    let receiver = Receiver::start().await;
    receiver.always(200);
    let (channel, _) = app.webhook_channel("due", &receiver.url, &["renewal_due"]).await;
    let (_, profile) = policy_and_profile(
        &app,
        "rotating",
        json!({ "name": "rotate", "renew_at_fraction": FRACTION, "rotate_key": true }),
        false,
    )
    .await;
    let issuer = id(&app.issuer("rotating", "ecdsa-p256").await);
    let (s, generated) = issue(&app, &operator, &issuer, &profile, "gen.example", None).await;
    assert_eq!(s, StatusCode::CREATED, "{generated}");
    let (s, brought) = issue(
        &app,
        &operator,
        &issuer,
        &profile,
        "csr.example",
        Some(csr_pem(&["csr.example"])),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{brought}");
    assert_eq!(brought["key_generated"], false);
    // Two more, for the bulk revocation at the end.
    let (s, generated_too) = issue(&app, &operator, &issuer, &profile, "gen2.example", None).await;
    assert_eq!(s, StatusCode::CREATED, "{generated_too}");
    let (s, brought_too) = issue(
        &app,
        &operator,
        &issuer,
        &profile,
        "csr2.example",
        Some(csr_pem(&["csr2.example"])),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{brought_too}");
    let worker = app.worker(&[("CERTCTL_RENEWAL_INTERVAL", "1s")]).await;

    // certctl's own key is rotated; the new key is handed out once, with its certificate.
    wait_for(
        &app,
        "the rotation",
        &format!(
            "SELECT count(*) FROM certificates WHERE renewed_from_id = '{}'",
            id(&generated)
        ),
        Duration::from_secs(40),
    )
    .await;
    let job = job_of(&app, &id(&generated)).await;
    assert_eq!(
        (job["status"].as_str(), job["key_available"].as_bool()),
        (Some("completed"), Some(true)),
        "{job}"
    );
    // A viewer may not; another operator may not either: the key is the owner's (or an admin's).
    let viewer = app.key("vic", "viewer").await;
    let (s, _) = app
        .post(&format!("/api/v1/jobs/{}/key", id(&job)), &viewer, json!({}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let other = app.key("oscar", "operator").await;
    let (s, v) = app
        .post(&format!("/api/v1/jobs/{}/key", id(&job)), &other, json!({}))
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("not_key_owner")),
        "{v}"
    );
    let (s, collected) = app
        .post(&format!("/api/v1/jobs/{}/key", id(&job)), &operator, json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{collected}");
    let dir = tempdir();
    let key = write(&dir, "key.pem", collected["private_key_pem"].as_str().unwrap());
    let cert = write(
        &dir,
        "cert.pem",
        collected["certificate"]["certificate_pem"].as_str().unwrap(),
    );
    let (ok, key_pub) = openssl(&["pkey", "-in", &key, "-pubout"]);
    assert!(ok, "{key_pub}");
    let (ok, cert_pub) = openssl(&["x509", "-in", &cert, "-noout", "-pubkey"]);
    assert!(ok, "{cert_pub}");
    assert_eq!(key_pub, cert_pub, "the collected key is the certificate's");
    let old_pub = app
        .scalar_text(&format!(
            "SELECT encode(public_key_der, 'hex') FROM certificates WHERE id = '{}'",
            id(&generated)
        ))
        .await;
    let new_pub = app
        .scalar_text(&format!(
            "SELECT encode(public_key_der, 'hex') FROM certificates WHERE id = '{}'",
            collected["certificate"]["id"].as_str().unwrap()
        ))
        .await;
    assert_ne!(old_pub, new_pub, "rotated");
    let (s, again) = app
        .post(&format!("/api/v1/jobs/{}/key", id(&job)), &operator, json!({}))
        .await;
    assert_eq!(
        (s, again["code"].as_str()),
        (StatusCode::CONFLICT, Some("key_already_collected")),
        "{again}"
    );
    assert_eq!(
        app.scalar_i64(&format!(
            "SELECT count(*) FROM jobs WHERE id = '{}' AND private_key_ciphertext IS NULL AND key_retrieved_at IS NOT NULL",
            id(&job)
        ))
        .await,
        1
    );
    assert_eq!(
        app.scalar_i64(&format!(
            "SELECT count(*) FILTER (WHERE outcome = 'success') * 10 + count(*) FILTER (WHERE outcome = 'denied') \
             FROM audit_events WHERE action = 'job.collect_key' AND resource_id = '{}'",
            id(&job)
        ))
        .await,
        11,
        "one collection, one refusal (the other operator's)"
    );

    // A key that lives with its holder: the job waits for a CSR and says so.
    wait_for(
        &app,
        "the renewal waiting for a CSR",
        &format!(
            "SELECT count(*) FROM jobs WHERE renews_certificate_id = '{}' AND status = 'awaiting_csr'",
            id(&brought)
        ),
        Duration::from_secs(40),
    )
    .await;
    let due = app
        .notifications_of(&format!("type=renewal_due&certificate_id={}", id(&brought)))
        .await;
    assert_eq!(due.len(), 1, "{due:?}");
    assert_eq!(due[0]["channel_id"], json!(channel));
    let job = job_of(&app, &id(&brought)).await;
    let (s, v) = app
        .post(
            &format!("/api/v1/jobs/{}/csr", id(&job)),
            &operator,
            json!({ "csr_pem": "not a CSR" }),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_csr")),
        "{v}"
    );
    assert_eq!(job_of(&app, &id(&brought)).await["status"], "awaiting_csr");
    let (s, done) = app
        .post(
            &format!("/api/v1/jobs/{}/csr", id(&job)),
            &operator,
            json!({ "csr_pem": csr_pem(&["csr.example"]) }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["requested_by"], "rita");
    let renewed = certificate(&app, done["certificate_id"].as_str().unwrap()).await;
    assert_eq!(renewed["renewed_from_id"], brought["id"]);
    assert_eq!(certificate(&app, &id(&brought)).await["status"], "renewed");
    let (s, v) = app
        .post(
            &format!("/api/v1/jobs/{}/csr", id(&job)),
            &operator,
            json!({ "csr_pem": csr_pem(&["csr.example"]) }),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("job_state")),
        "{v}"
    );

    // A bulk revocation ends open renewals and erases uncollected keys at once, as a single
    // revocation does: with no worker left to notice, right in its own transaction.
    wait_for(
        &app,
        "the second rotation and the second CSR wait",
        &format!(
            "SELECT count(*) FROM jobs WHERE (renews_certificate_id = '{}' AND private_key_ciphertext IS NOT NULL) \
               OR (renews_certificate_id = '{}' AND status = 'awaiting_csr')",
            id(&generated_too),
            id(&brought_too)
        ),
        Duration::from_secs(40),
    )
    .await;
    worker.stop().await;
    let rotated = job_of(&app, &id(&generated_too)).await;
    let waiting = job_of(&app, &id(&brought_too)).await;
    let (s, v) = app
        .post(
            "/api/v1/certificates/bulk-revoke",
            &app.admin_key,
            json!({ "reason": "cessationOfOperation",
                    "certificate_ids": [rotated["certificate_id"], brought_too["id"]] }),
        )
        .await;
    assert_eq!((s, &v["revoked"]), (StatusCode::OK, &json!(2)), "{v}");
    assert_eq!(job_of(&app, &id(&brought_too)).await["status"], "cancelled");
    assert_eq!(
        app.scalar_i64(&format!(
            "SELECT count(*) FROM jobs WHERE id IN ('{}', '{}') AND private_key_ciphertext IS NULL",
            id(&rotated),
            id(&waiting)
        ))
        .await,
        2,
        "no key waits for a revoked certificate"
    );
}

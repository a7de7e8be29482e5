//! EST (RFC 7030) with the clients RFC 7030's examples use: `curl` for HTTPS and `openssl` for
//! keys, CSRs and reading the PKCS#7 answers. OpenSSL and pkilint judge the certificates.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, id, ocsp_until_revoked, openssl, pkilint, tempdir, tls_app, write};

/// What curl saw.
struct Answer {
    status: u16,
    headers: String,
    body: Vec<u8>,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Runs curl on a blocking thread (the server runs on this test's runtime).
async fn curl(dir: &Path, args: &[&str]) -> Answer {
    let (dir, args): (PathBuf, Vec<String>) = (dir.to_owned(), args.iter().map(|s| (*s).to_owned()).collect());
    tokio::task::spawn_blocking(move || {
        let n = uuid::Uuid::new_v4().simple().to_string();
        let (body, headers) = (dir.join(format!("body-{n}")), dir.join(format!("headers-{n}")));
        let out = std::process::Command::new("curl")
            .args(["-sS", "--max-time", "30", "--cacert"])
            .arg(dir.join("tls.crt"))
            .arg("-o")
            .arg(&body)
            .arg("-D")
            .arg(&headers)
            .args(["-w", "%{http_code}"])
            .args(&args)
            .output()
            .expect("curl must be installed");
        let status = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0);
        assert!(
            status != 0,
            "curl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Answer {
            status,
            headers: std::fs::read_to_string(headers)
                .unwrap_or_default()
                .to_ascii_lowercase(),
            body: std::fs::read(body).unwrap_or_default(),
        }
    })
    .await
    .unwrap()
}

fn run_openssl(args: &[&str]) -> String {
    let (ok, out) = openssl(args);
    assert!(ok, "openssl {args:?}: {out}");
    out
}

/// Decodes a base64 certs-only PKCS#7 answer with openssl and returns its certificates as PEM
/// (written to `dir/name`).
fn pkcs7_to_pem(dir: &Path, name: &str, answer: &Answer) -> String {
    assert!(
        answer
            .headers
            .contains("content-type: application/pkcs7-mime; smime-type=certs-only"),
        "{}",
        answer.headers
    );
    let b64 = write(dir, &format!("{name}.p7.b64"), &answer.body);
    let der = dir.join(format!("{name}.p7")).to_string_lossy().into_owned();
    run_openssl(&["base64", "-d", "-in", &b64, "-out", &der]);
    let pem = dir.join(name).to_string_lossy().into_owned();
    run_openssl(&["pkcs7", "-inform", "DER", "-in", &der, "-print_certs", "-out", &pem]);
    pem
}

/// A new P-256 key and a base64 DER CSR for `subject` (with `san` as a subjectAltName, if
/// given), made with openssl. Returns (key file, csr base64 file).
fn csr(dir: &Path, name: &str, subject: &str, san: Option<&str>) -> (String, String) {
    let key = dir.join(format!("{name}.key")).to_string_lossy().into_owned();
    let der = dir.join(format!("{name}.csr.der")).to_string_lossy().into_owned();
    let mut args = vec![
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &key,
        "-subj",
        subject,
        "-outform",
        "DER",
        "-out",
        &der,
    ];
    let ext;
    if let Some(san) = san {
        ext = format!("subjectAltName={san}");
        args.extend(["-addext", &ext]);
    }
    run_openssl(&args);
    let b64 = dir.join(format!("{name}.csr.b64")).to_string_lossy().into_owned();
    run_openssl(&["base64", "-in", &der, "-out", &b64]);
    (key, b64)
}

fn enroll_args<'a>(url: &'a str, csr_b64: &'a str) -> Vec<&'a str> {
    vec!["-H", "Content-Type: application/pkcs10", "--data-binary", csr_b64, url]
}

async fn est_profile(app: &TestApp, body: Value) -> Value {
    let (s, v) = app.post("/api/v1/enrollment-profiles", &app.admin_key, body).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_and_openssl_enroll_reenroll_and_authenticate_by_password_and_certificate() {
    let dir = tempdir();
    let (app, https) = tls_app(&dir, &[("CERTCTL_OUTBOUND_ALLOW_PRIVATE", "true")]).await;
    let (issuer, profile) = app.pki().await;
    app.webhook_channel(
        "ops",
        "http://127.0.0.1:9",
        &["certificate_issued", "certificate_renewed"],
    )
    .await;
    let ep = est_profile(
        &app,
        json!({ "name": "routers", "protocol": "est", "label": "routers", "is_default": true,
                "issuer_id": issuer, "profile_id": profile,
                "est": { "username": "router", "password": "a long router password", "client_ca_issuer_id": issuer } }),
    )
    .await;

    // cacerts, at the bare path (the default profile): the issuer's certificate.
    let cacerts = curl(&dir, &[&format!("{https}/.well-known/est/cacerts")]).await;
    assert_eq!(cacerts.status, 200, "{}", cacerts.text());
    let chain = pkcs7_to_pem(&dir, "chain.pem", &cacerts);
    assert!(std::fs::read_to_string(&chain).unwrap().contains("root CA"));

    // csrattrs, at the labelled path: the profile's key types.
    let attrs = curl(&dir, &[&format!("{https}/.well-known/est/routers/csrattrs")]).await;
    assert_eq!(attrs.status, 200);
    assert!(attrs.headers.contains("content-type: application/csrattrs"));
    let attrs_der = dir.join("attrs.der").to_string_lossy().into_owned();
    run_openssl(&[
        "base64",
        "-d",
        "-in",
        &write(&dir, "attrs.b64", &attrs.body),
        "-out",
        &attrs_der,
    ]);
    let parsed = run_openssl(&["asn1parse", "-inform", "DER", "-in", &attrs_der]);
    assert!(
        parsed.contains("prime256v1") && parsed.contains("rsaEncryption"),
        "{parsed}"
    );

    // simpleenroll with HTTP Basic: a wrong password is a 401 challenge, the right one a certificate.
    let (key1, csr1) = csr(&dir, "device1", "/CN=device-1.example", Some("DNS:device-1.example"));
    let enroll = format!("{https}/.well-known/est/routers/simpleenroll");
    let csr1_body = format!("@{csr1}");
    let mut args = vec!["--user", "router:not the password"];
    args.extend(enroll_args(&enroll, &csr1_body));
    let denied = curl(&dir, &args).await;
    assert_eq!(denied.status, 401, "{}", denied.text());
    assert!(
        denied.headers.contains("www-authenticate: basic realm="),
        "{}",
        denied.headers
    );
    let mut args = vec!["--user", "router:a long router password"];
    args.extend(enroll_args(&enroll, &csr1_body));
    let issued = curl(&dir, &args).await;
    assert_eq!(issued.status, 200, "{}", issued.text());
    let cert1 = pkcs7_to_pem(&dir, "device1.pem", &issued);
    let verified = run_openssl(&["verify", "-CAfile", &chain, &cert1]);
    assert!(verified.contains(": OK"), "{verified}");
    pkilint("lint_pkix_cert", &[], &cert1);
    let text = run_openssl(&["x509", "-in", &cert1, "-noout", "-text"]);
    assert!(text.contains("DNS:device-1.example"), "{text}");

    // In the inventory with its source, audited with the protocol's actor, and notified.
    let actor = "est:routers/router";
    assert_eq!(
        app.scalar_text(
            "SELECT source || ' ' || requested_by FROM certificates WHERE common_name = 'device-1.example'"
        )
        .await,
        format!("est {actor}")
    );
    assert_eq!(
        app.scalar_i64(&format!("SELECT count(*) FROM audit_events WHERE action = 'certificate.issue' AND actor = '{actor}' AND protocol = 'est'")).await,
        1
    );
    assert!(
        app.scalar_i64("SELECT count(*) FROM audit_events WHERE action = 'enrollment.failed' AND actor = 'est:routers/router' AND details->>'reason' = 'bad_credentials'").await >= 1
    );
    assert_eq!(
        app.scalar_i64(&format!("SELECT count(*) FROM notification_events WHERE type = 'certificate_issued' AND payload->'data'->>'requested_by' = '{actor}'")).await,
        1
    );

    // simplereenroll: the current certificate as the TLS client certificate, a new key, the same subject.
    let (key2, csr2) = csr(&dir, "device1b", "/CN=device-1.example", None);
    let reenroll = format!("{https}/.well-known/est/routers/simplereenroll");
    let csr2_body = format!("@{csr2}");
    let no_cert = curl(&dir, &enroll_args(&reenroll, &csr2_body)).await;
    assert_eq!(no_cert.status, 403, "{}", no_cert.text());
    assert!(no_cert.text().contains("client_certificate_required"));
    let (_, wrong_subject) = csr(&dir, "other", "/CN=someone-else.example", None);
    let wrong_body = format!("@{wrong_subject}");
    let mut args = vec!["--cert", &cert1, "--key", &key1];
    args.extend(enroll_args(&reenroll, &wrong_body));
    let mismatch = curl(&dir, &args).await;
    assert_eq!(mismatch.status, 400, "{}", mismatch.text());
    assert!(mismatch.text().contains("subject_mismatch"));
    let mut args = vec!["--cert", &cert1, "--key", &key1];
    args.extend(enroll_args(&reenroll, &csr2_body));
    let renewed = curl(&dir, &args).await;
    assert_eq!(renewed.status, 200, "{}", renewed.text());
    let cert2 = pkcs7_to_pem(&dir, "device1b.pem", &renewed);
    assert!(run_openssl(&["verify", "-CAfile", &chain, &cert2]).contains(": OK"));
    pkilint("lint_pkix_cert", &[], &cert2);
    let statuses = app.scalar_text("SELECT string_agg(status || '/' || source, ',' ORDER BY created_at) FROM certificates WHERE common_name = 'device-1.example'",
    )
    .await;
    assert_eq!(statuses, "renewed/est,active/est");
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM audit_events WHERE action = 'certificate.renew' AND actor = 'est:routers/device-1.example' AND protocol = 'est'").await,
        1
    );
    // The renewed certificate cannot renew again.
    let mut args = vec!["--cert", &cert1, "--key", &key1];
    args.extend(enroll_args(&reenroll, &csr2_body));
    assert_eq!(curl(&dir, &args).await.status, 403);

    // simpleenroll authenticated by a client certificate of the profile's client CA, no password.
    let (_, csr3) = csr(&dir, "device2", "/CN=device-2.example", None);
    let csr3_body = format!("@{csr3}");
    let mut args = vec!["--cert", &cert2, "--key", &key2];
    args.extend(enroll_args(&enroll, &csr3_body));
    let by_cert = curl(&dir, &args).await;
    assert_eq!(by_cert.status, 200, "{}", by_cert.text());
    assert_eq!(
        app.scalar_text("SELECT requested_by FROM certificates WHERE common_name = 'device-2.example'")
            .await,
        "est:routers/device-1.example"
    );

    // Revocable like any certificate, and answered by the OCSP responder.
    let renewed_id = app
        .scalar_text("SELECT id::text FROM certificates WHERE common_name = 'device-1.example' AND status = 'active'")
        .await;
    let worker = app.worker(&[]).await;
    app.wait_published(&issuer, Duration::from_secs(10)).await;
    let responder = app.responder().await;
    app.revoke(&json!({ "id": renewed_id }), "keyCompromise").await;
    let status = ocsp_until_revoked(&responder.ocsp_url(&issuer), &chain, &cert2).await;
    assert!(status.contains(": revoked"), "{status}");
    // A revoked certificate authenticates nothing.
    let (_, csr4) = csr(&dir, "device3", "/CN=device-3.example", None);
    let csr4_body = format!("@{csr4}");
    let mut args = vec!["--cert", &cert2, "--key", &key2];
    args.extend(enroll_args(&reenroll, &csr4_body));
    let revoked = curl(&dir, &args).await;
    assert_eq!(revoked.status, 403, "{}", revoked.text());
    responder.stop().await;
    worker.stop().await;
    let _ = ep;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enrollment_awaiting_approval_answers_202_until_approved_then_the_certificate() {
    let dir = tempdir();
    let (app, https) = tls_app(&dir, &[]).await;
    let issuer = id(&app.issuer("devices", "ecdsa-p256").await);
    let profile = id(&app
        .profile(
            json!({ "name": "gated", "max_ttl_seconds": 30 * 86400, "allowed_key_algorithms": ["ecdsa-p256"],
                         "ekus": ["client_auth"], "requires_approval": true }),
        )
        .await);
    let gated = est_profile(
        &app,
        json!({ "name": "gated", "protocol": "est", "label": "gated", "issuer_id": issuer, "profile_id": profile,
                "est": { "username": "dev", "password": "another long password" } }),
    )
    .await;
    let url = format!("{https}/.well-known/est/gated/simpleenroll");
    let (_, csr_file) = csr(&dir, "gated", "/CN=gated-1.example", None);
    let body = format!("@{csr_file}");
    let ask = || {
        let mut args = vec!["--user", "dev:another long password"];
        args.extend(enroll_args(&url, &body));
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    for _ in 0..2 {
        let args = ask();
        let pending = curl(&dir, &args.iter().map(String::as_str).collect::<Vec<_>>()).await;
        assert_eq!(pending.status, 202, "{}", pending.text());
        assert!(pending.headers.contains("retry-after: 60"), "{}", pending.headers);
    }
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM jobs").await,
        1,
        "asking again files nothing new"
    );
    let job = app.scalar_text("SELECT id::text FROM jobs").await;
    assert_eq!(app.scalar_text("SELECT requested_by FROM jobs").await, "est:gated/dev");
    let (s, v) = app
        .post(&format!("/api/v1/jobs/{job}/approve"), &app.admin_key, json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let args = ask();
    let issued = curl(&dir, &args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert_eq!(issued.status, 200, "{}", issued.text());
    let cert = pkcs7_to_pem(&dir, "gated.pem", &issued);
    pkilint("lint_pkix_cert", &[], &cert);
    // Approved by an admin through the API, the certificate still records how it was asked for.
    assert_eq!(
        app.scalar_text("SELECT source || ' ' || requested_by FROM certificates")
            .await,
        "est est:gated/dev"
    );

    // A rejection is told once; asking again afterwards files a new request.
    let (_, csr_file) = csr(&dir, "gated2", "/CN=gated-2.example", None);
    let body2 = format!("@{csr_file}");
    let ask2 = || {
        let mut args = vec!["--user", "dev:another long password"];
        args.extend(enroll_args(&url, &body2));
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let args = ask2();
    assert_eq!(
        curl(&dir, &args.iter().map(String::as_str).collect::<Vec<_>>())
            .await
            .status,
        202
    );
    let job2 = app
        .scalar_text("SELECT id::text FROM jobs WHERE status = 'awaiting_approval'")
        .await;
    let (s, _) = app
        .post(
            &format!("/api/v1/jobs/{job2}/reject"),
            &app.admin_key,
            json!({ "note": "unknown device" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let rejected = curl(&dir, &args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert_eq!(rejected.status, 403, "{}", rejected.text());
    assert!(rejected.text().contains("unknown device"), "{}", rejected.text());
    assert_eq!(
        curl(&dir, &args.iter().map(String::as_str).collect::<Vec<_>>())
            .await
            .status,
        202
    );
    assert_eq!(app.scalar_i64("SELECT count(*) FROM jobs").await, 3);

    // Disabling the profile refuses its very next request.
    let (s, _) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/enrollment-profiles/{}", id(&gated)),
            Some(&app.admin_key),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let refused = curl(&dir, &args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert_eq!(refused.status, 404, "{}", refused.text());
    assert!(refused.text().contains("enrollment_profile_not_found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_protocol_errors_audited_in_aggregate_and_never_a_certificate() {
    let dir = tempdir();
    let (app, https) = tls_app(&dir, &[("CERTCTL_ENROLL_RATE_PER_IP", "40")]).await;
    let (issuer, profile) = app.pki().await;
    est_profile(
        &app,
        json!({ "name": "routers", "protocol": "est", "label": "routers", "issuer_id": issuer, "profile_id": profile,
                "est": { "username": "router", "password": "a long router password" } }),
    )
    .await;
    let url = format!("{https}/.well-known/est/routers/simpleenroll");
    let auth = "router:a long router password";
    let (_, good_csr) = csr(&dir, "good", "/CN=good.example", None);
    let garbage = write(&dir, "garbage.b64", "TUlJQmFkQ1NS\n");
    let not_base64 = write(&dir, "notb64", "this is % not base64 at all");
    let big = write(&dir, "big.b64", "A".repeat(100 * 1024));
    let cases: Vec<(Vec<String>, u16, &str)> = vec![
        (
            vec![
                "--user".into(),
                auth.into(),
                "-H".into(),
                "Content-Type: application/json".into(),
                "--data-binary".into(),
                format!("@{good_csr}"),
                url.clone(),
            ],
            415,
            "unsupported_media_type",
        ),
        (
            vec![
                "--user".into(),
                auth.into(),
                "-H".into(),
                "Content-Type: application/pkcs10".into(),
                "--data-binary".into(),
                format!("@{not_base64}"),
                url.clone(),
            ],
            400,
            "bad_base64",
        ),
        (
            vec![
                "--user".into(),
                auth.into(),
                "-H".into(),
                "Content-Type: application/pkcs10".into(),
                "--data-binary".into(),
                format!("@{garbage}"),
                url.clone(),
            ],
            400,
            "malformed_csr",
        ),
        (
            vec![
                "--user".into(),
                auth.into(),
                "-H".into(),
                "Content-Type: application/pkcs10".into(),
                "--data-binary".into(),
                format!("@{big}"),
                url.clone(),
            ],
            413,
            "payload_too_large",
        ),
        (
            vec![format!("{https}/.well-known/est/routers/serverkeygen")],
            404,
            "unknown_operation",
        ),
        (
            vec![format!("{https}/.well-known/est/nosuch/cacerts")],
            404,
            "enrollment_profile_not_found",
        ),
        (
            vec![format!("{https}/.well-known/est/cacerts")],
            404,
            "enrollment_profile_not_found",
        ),
        (vec![url.clone()], 405, "method_not_allowed"),
    ];
    for (args, status, code) in &cases {
        let answer = curl(&dir, &args.iter().map(String::as_str).collect::<Vec<_>>()).await;
        assert_eq!(answer.status, *status, "{args:?}: {}", answer.text());
        assert!(
            answer.headers.contains("content-type: application/problem+json"),
            "{}",
            answer.headers
        );
        assert!(answer.text().contains(code), "{code}: {}", answer.text());
    }
    assert_eq!(app.scalar_i64("SELECT count(*) FROM certificates").await, 0);

    // The same failure repeated is counted, not written a row each.
    for _ in 0..20 {
        let args = &cases[2].0;
        assert_eq!(
            curl(&dir, &args.iter().map(String::as_str).collect::<Vec<_>>())
                .await
                .status,
            400
        );
    }
    let rows = app
        .scalar_i64("SELECT count(*) FROM audit_events WHERE action = 'enrollment.failed' AND details->>'reason' = 'malformed_csr'")
        .await;
    assert_eq!(
        rows, 1,
        "21 identical failures so far share the first row until the window closes"
    );

    // Plain HTTP is refused on every EST path with a message that says why.
    let plain = TestApp::spawn().await;
    let r = plain
        .http
        .get(format!("{}/.well-known/est/cacerts", plain.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "tls_required");
    assert!(body["detail"].as_str().unwrap().contains("TLS"), "{body}");

    // The per-address limit: 40 a minute here, then 429 with Retry-After, counted in the metric.
    let mut limited = None;
    for _ in 0..60 {
        let answer = curl(&dir, &[&format!("{https}/.well-known/est/routers/cacerts")]).await;
        if answer.status == 429 {
            limited = Some(answer);
            break;
        }
    }
    let limited = limited.expect("the per-address limit applies");
    assert!(limited.headers.contains("retry-after:"), "{}", limited.headers);
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"certctl_enrollment_rate_limited_total{protocol="est",scope="ip"}"#),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_credential_is_limited_before_its_password_is_checked() {
    let dir = tempdir();
    let (app, https) = tls_app(
        &dir,
        &[
            ("CERTCTL_ENROLL_RATE_PER_IP", "0"),
            ("CERTCTL_ENROLL_RATE_PER_CREDENTIAL", "3"),
        ],
    )
    .await;
    let (issuer, profile) = app.pki().await;
    est_profile(
        &app,
        json!({ "name": "routers", "protocol": "est", "label": "routers", "issuer_id": issuer, "profile_id": profile,
                "est": { "username": "router", "password": "a long router password" } }),
    )
    .await;
    let url = format!("{https}/.well-known/est/routers/simpleenroll");
    let (_, csr_file) = csr(&dir, "guess", "/CN=guess.example", None);
    let body = format!("@{csr_file}");
    let mut statuses = Vec::new();
    for password in ["guess-1", "guess-2", "guess-3", "guess-4", "a long router password"] {
        let auth = format!("router:{password}");
        let mut args = vec!["--user", auth.as_str()];
        args.extend(enroll_args(&url, &body));
        statuses.push(curl(&dir, &args).await.status);
    }
    // Three guesses use the bucket up; the fourth guess and even the right password wait.
    assert_eq!(statuses, [401, 401, 401, 429, 429]);
    // Another username is another credential.
    let mut args = vec!["--user", "someone:else"];
    args.extend(enroll_args(&url, &body));
    assert_eq!(curl(&dir, &args).await.status, 401);
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"certctl_enrollment_rate_limited_total{protocol="est",scope="credential"} 2"#),
        "{metrics}"
    );
}

//! The public revocation responder, judged by OpenSSL and pkilint: OCSP over POST and GET, CRLs,
//! freshness across replicas, CRL numbering, route shape and the least-privilege database role.

use std::time::{Duration, Instant};

use base64::Engine;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::helpers::{TestApp, id, openssl, pkilint, tempdir, write};
use crate::responder_harness::Responder;

/// The PEM of the certificate and of its issuing CA.
pub(crate) fn pems(cert: &Value) -> (String, String) {
    let leaf = cert["certificate_pem"].as_str().unwrap().to_owned();
    let chain = cert["chain_pem"].as_str().unwrap();
    let end = chain.find("-----END CERTIFICATE-----").unwrap() + "-----END CERTIFICATE-----\n".len();
    (leaf, chain[..end.min(chain.len())].to_owned())
}

/// `openssl ocsp` as the client, on a blocking thread: the responder runs on this test's runtime.
async fn ocsp_client(url: &str, ca: &str, extra: &[&str]) -> String {
    let mut args: Vec<String> = ["ocsp", "-url", url, "-issuer", ca, "-CAfile", ca, "-timeout", "10"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        openssl(&args).1
    })
    .await
    .unwrap()
}

/// Polls the responder's GET-by-serial route until `want` shows, returning how long it took.
async fn wait_ocsp_text(app: &TestApp, r: &Responder, issuer: &str, serial: &str, ca: &str, want: &str) -> Duration {
    let dir = tempdir();
    let started = Instant::now();
    loop {
        let resp = app
            .http
            .get(format!("{}/{serial}", r.ocsp_url(issuer)))
            .send()
            .await
            .unwrap();
        let der = resp.bytes().await.unwrap();
        let file = write(&dir, "poll.der", &der);
        let (_, text) = openssl(&["ocsp", "-respin", &file, "-CAfile", ca, "-resp_text", "-noverify"]);
        if text.contains(want) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "OCSP never said {want}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// Multi-threaded: the body runs openssl and pkilint synchronously, and on a single-threaded
// runtime that would also stall the in-process API and responder for as long. The progress lines
// (stderr, shown when the test fails) locate a stall: this test once hung until nextest killed it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_judges_ocsp_over_post_and_get_and_the_crl() {
    let started = Instant::now();
    let step = |what: &str| eprintln!("[{:>7.3}s] {what}", started.elapsed().as_secs_f64());
    let app = TestApp::spawn().await;
    let dir = tempdir();
    let (issuer, profile) = app.pki().await;
    let good = app.issue(&issuer, &profile, "good.example.net").await;
    let bad = app.issue(&issuer, &profile, "bad.example.net").await;
    step("issued");
    let worker = app.worker(&[]).await;
    step("worker ready");
    app.wait_published(&issuer, Duration::from_secs(5)).await;
    step("published");
    let responder = app.responder().await;
    step("responder ready");
    app.revoke(&bad, "keyCompromise").await;
    step("revoked");

    let (good_pem, ca_pem) = pems(&good);
    let (bad_pem, _) = pems(&bad);
    let ca = write(&dir, "ca.pem", ca_pem.as_bytes());
    let good_file = write(&dir, "good.pem", good_pem.as_bytes());
    let bad_file = write(&dir, "bad.pem", bad_pem.as_bytes());
    let url = responder.ocsp_url(&issuer);
    wait_ocsp_text(
        &app,
        &responder,
        &issuer,
        bad["serial_hex"].as_str().unwrap(),
        &ca,
        "Cert Status: revoked",
    )
    .await;

    step("revocation visible");
    // POST, the way `openssl ocsp` asks: with a nonce (its default) and without.
    for nonce in [&[][..], &["-no_nonce"][..]] {
        let text = ocsp_client(&url, &ca, &[&["-cert", &good_file][..], nonce].concat()).await;
        assert!(text.contains("Response verify OK"), "{text}");
        assert!(text.contains(&format!("{good_file}: good")), "{text}");
        assert!(!text.contains("WARNING"), "{text}");
        let text = ocsp_client(&url, &ca, &[&["-cert", &bad_file][..], nonce].concat()).await;
        assert!(text.contains("Response verify OK"), "{text}");
        assert!(text.contains(&format!("{bad_file}: revoked")), "{text}");
        assert!(text.contains("Reason: keyCompromise"), "{text}");
        let text = ocsp_client(&url, &ca, &[&["-serial", "0x0123456789abcdef"][..], nonce].concat()).await;
        assert!(text.contains("Response verify OK"), "{text}");
        assert!(text.contains("0x0123456789abcdef: unknown"), "{text}");
    }
    // SHA-256 CertIDs too.
    let text = ocsp_client(&url, &ca, &["-sha256", "-cert", &good_file]).await;
    assert!(text.contains("Response verify OK") && text.contains(": good"), "{text}");

    step("POST judged");
    // GET (RFC 5019/9919): base64 of the DER request, URL-encoded; openssl only judges.
    for (name, nonce) in [("plain", "-no_nonce"), ("nonce", "-nonce")] {
        let req = dir.join(format!("{name}-req.der")).to_string_lossy().into_owned();
        let (ok, text) = openssl(&["ocsp", "-issuer", &ca, "-cert", &bad_file, nonce, "-reqout", &req]);
        assert!(ok, "{text}");
        let b64 = base64::engine::general_purpose::STANDARD.encode(std::fs::read(&req).unwrap());
        let encoded: String = b64
            .chars()
            .map(|c| match c {
                '+' => "%2B".to_owned(),
                '/' => "%2F".to_owned(),
                '=' => "%3D".to_owned(),
                c => c.to_string(),
            })
            .collect();
        let resp = app.http.get(format!("{url}/{encoded}")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "application/ocsp-response");
        let cache_control = resp.headers()["cache-control"].to_str().unwrap().to_owned();
        let der = resp.bytes().await.unwrap();
        let resp_file = write(&dir, &format!("{name}-resp.der"), &der);
        let (ok, text) = openssl(&[
            "ocsp",
            "-reqin",
            &req,
            "-respin",
            &resp_file,
            "-CAfile",
            &ca,
            "-resp_text",
        ]);
        assert!(ok && text.contains("Response verify OK"), "{text}");
        assert!(
            text.contains("Cert Status: revoked") && text.contains("keyCompromise"),
            "{text}"
        );
        assert!(!text.contains("WARNING"), "nonce must round-trip: {text}");
        if name == "plain" {
            assert!(cache_control.starts_with("public, max-age="), "{cache_control}");
        } else {
            assert_eq!(cache_control, "no-store");
            assert!(text.contains("OCSP Nonce"), "{text}");
        }
        pkilint("lint_ocsp_response", &[], &resp_file);
    }

    step("GET judged and linted");
    // GET by serial, as earlier certctl clients ask, with HTTP caching.
    let serial = good["serial_hex"].as_str().unwrap();
    let resp = app.http.get(format!("{url}/{serial}")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
    assert!(resp.headers().contains_key("last-modified") && resp.headers().contains_key("expires"));
    let max_age: u64 = resp.headers()["cache-control"].to_str().unwrap()["public, max-age=".len()..]
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        max_age > 0 && max_age <= 300,
        "max-age {max_age} is capped by CERTCTL_PKI_MAX_AGE"
    );
    let der = resp.bytes().await.unwrap();
    let file = write(&dir, "serial-resp.der", &der);
    let (_, text) = openssl(&["ocsp", "-respin", &file, "-CAfile", &ca, "-resp_text"]);
    assert!(
        text.contains("Response verify OK") && text.contains("Cert Status: good"),
        "{text}"
    );
    assert!(
        text.contains("OCSP Signing") || text.contains("OCSP No Check"),
        "delegated signer included: {text}"
    );
    let again = app
        .http
        .get(format!("{url}/{serial}"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    step("GET by serial judged");
    // The CRL, fetched from the responder: verify -crl_check refuses the revoked leaf only.
    let crl = responder.crl(&app.http, &issuer).await.expect("CRL served");
    let crl_der = write(&dir, "crl.der", &crl);
    let crl_pem = dir.join("crl.pem").to_string_lossy().into_owned();
    let (ok, text) = openssl(&["crl", "-inform", "DER", "-in", &crl_der, "-out", &crl_pem]);
    assert!(ok, "{text}");
    let wait_until = Instant::now() + Duration::from_secs(10);
    loop {
        let crl = responder.crl(&app.http, &issuer).await.unwrap();
        write(&dir, "crl.der", &crl);
        openssl(&["crl", "-inform", "DER", "-in", &crl_der, "-out", &crl_pem]);
        let (ok, text) = openssl(&["verify", "-crl_check", "-CAfile", &ca, "-CRLfile", &crl_pem, &bad_file]);
        if !ok && text.contains("certificate revoked") {
            break;
        }
        assert!(Instant::now() < wait_until, "revocation never reached the CRL: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (ok, text) = openssl(&["verify", "-crl_check", "-CAfile", &ca, "-CRLfile", &crl_pem, &good_file]);
    assert!(ok, "{text}");
    let (ok, text) = openssl(&["crl", "-in", &crl_pem, "-noout", "-text", "-CAfile", &ca, "-verify"]);
    assert!(
        ok && text.contains("verify OK") && text.contains("Key Compromise"),
        "{text}"
    );
    pkilint("lint_crl", &["-t", "CRL", "-p", "PKIX"], &crl_der);

    // The CA certificate, the caIssuers target.
    let resp = app
        .http
        .get(format!("{}/.well-known/pki/ca/{issuer}", responder.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "application/pkix-cert");
    let ca_der = write(&dir, "ca.der", resp.bytes().await.unwrap());
    let (ok, text) = openssl(&["x509", "-inform", "DER", "-in", &ca_der, "-noout", "-subject"]);
    assert!(ok && text.contains("root CA"), "{text}");

    // Its API description, as committed.
    let served: serde_json::Value = app
        .http
        .get(format!("{}/.well-known/pki/openapi.json", responder.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let committed: serde_json::Value = serde_json::from_str(include_str!("../../../docs/openapi-pki.json")).unwrap();
    assert_eq!(served, committed);

    step("CRL and CA certificate judged; stopping the responder");
    responder.stop().await;
    step("responder stopped; stopping the worker");
    worker.stop().await;
    step("worker stopped");
}

#[tokio::test]
async fn junk_and_foreign_requests_get_ocsp_errors_not_panics() {
    let app = TestApp::spawn().await;
    let (issuer, profile) = app.pki().await;
    let other = id(&app.issuer("other", "ecdsa-p256").await);
    let cert = app.issue(&issuer, &profile, "x.example.net").await;
    let worker = app.worker(&[]).await;
    app.wait_published(&issuer, Duration::from_secs(5)).await;
    app.wait_published(&other, Duration::from_secs(5)).await;
    let responder = app.responder().await;
    let url = responder.ocsp_url(&issuer);
    let post = |body: Vec<u8>| {
        let (http, url) = (app.http.clone(), url.clone());
        async move {
            let r = http
                .post(url)
                .header("content-type", "application/ocsp-request")
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status(), r.bytes().await.unwrap().to_vec())
        }
    };
    let malformed = vec![0x30, 0x03, 0x0a, 0x01, 0x01];
    assert_eq!(
        post(b"hello".to_vec()).await,
        (reqwest::StatusCode::OK, malformed.clone())
    );
    assert_eq!(post(vec![]).await, (reqwest::StatusCode::OK, malformed.clone()));
    let r = app.http.get(format!("{url}/not-base64!!")).send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap().to_vec(), malformed);

    // A request about another CA's certificate is not ours to answer.
    let store_ca = |issuer_id: &str| {
        let (http, base) = (app.http.clone(), responder.base.clone());
        let issuer_id = issuer_id.to_owned();
        async move {
            let der = http
                .get(format!("{base}/.well-known/pki/ca/{issuer_id}"))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            certctl_pki::CaIdentity::from_certificate(&der).unwrap()
        }
    };
    let ours = store_ca(&issuer).await;
    let theirs = store_ca(&other).await;
    let serial = hex::decode(cert["serial_hex"].as_str().unwrap()).unwrap();
    let foreign = certctl_pki::ocsp::build_request(&theirs, &[&serial], None);
    assert_eq!(
        post(foreign).await.1,
        vec![0x30, 0x03, 0x0a, 0x01, 0x06],
        "unauthorized"
    );

    // Nonces: 1 and 128 octets are echoed; 0 and 129 are malformed (RFC 9654).
    for (len, ok) in [(1usize, true), (32, true), (128, true), (129, false)] {
        let req = certctl_pki::ocsp::build_request(&ours, &[&serial], Some(&vec![7u8; len]));
        let (_, body) = post(req).await;
        if ok {
            assert_eq!(body[..2], [0x30, 0x82], "nonce {len}: a signed response");
            assert!(
                body.windows(len.min(64))
                    .any(|w| w == vec![7u8; len.min(64)].as_slice()),
                "nonce {len} echoed"
            );
        } else {
            assert_eq!(body, malformed, "nonce {len}");
        }
    }
    let empty = certctl_pki::ocsp::build_request(&ours, &[&serial], Some(&[]));
    assert_eq!(post(empty).await.1, malformed, "empty nonce");

    // Request size is bounded.
    let (status, _) = post(vec![0x30; 64 * 1024]).await;
    assert_eq!(status, reqwest::StatusCode::PAYLOAD_TOO_LARGE);

    responder.stop().await;
    worker.stop().await;
}

#[tokio::test]
async fn two_responders_agree_and_see_a_revocation_within_two_seconds() {
    let app = TestApp::spawn().await;
    let dir = tempdir();
    let (issuer, profile) = app.pki().await;
    let cert = app.issue(&issuer, &profile, "soon-revoked.example.net").await;
    let worker = app.worker(&[]).await;
    app.wait_published(&issuer, Duration::from_secs(5)).await;
    let (a, b) = (app.responder().await, app.responder().await);
    let (_, ca_pem) = pems(&cert);
    let ca = write(&dir, "ca.pem", ca_pem.as_bytes());
    let serial = cert["serial_hex"].as_str().unwrap();
    wait_ocsp_text(&app, &a, &issuer, serial, &ca, "Cert Status: good").await;
    wait_ocsp_text(&app, &b, &issuer, serial, &ca, "Cert Status: good").await;

    let crl_a = a.crl(&app.http, &issuer).await.unwrap();
    assert_eq!(crl_a, b.crl(&app.http, &issuer).await.unwrap(), "byte-identical CRLs");
    let number_before = app
        .scalar_i64(&format!(
            "SELECT max(crl_number) FROM crls WHERE issuer_id = '{issuer}'"
        ))
        .await;

    app.revoke(&cert, "superseded").await;
    let revoked_at = Instant::now();
    let (ta, tb) = tokio::join!(
        wait_ocsp_text(&app, &a, &issuer, serial, &ca, "Cert Status: revoked"),
        wait_ocsp_text(&app, &b, &issuer, serial, &ca, "Cert Status: revoked"),
    );
    assert!(
        ta < Duration::from_secs(2) && tb < Duration::from_secs(2),
        "{ta:?} {tb:?}"
    );

    // A newly numbered CRL listing it, on both, within 10 s.
    let crl_file = dir.join("crl.der").to_string_lossy().into_owned();
    loop {
        let (ca_bytes, cb_bytes) = (
            a.crl(&app.http, &issuer).await.unwrap(),
            b.crl(&app.http, &issuer).await.unwrap(),
        );
        if ca_bytes == cb_bytes && ca_bytes != crl_a {
            write(&dir, "crl.der", &ca_bytes);
            let (_, text) = openssl(&["crl", "-inform", "DER", "-in", &crl_file, "-noout", "-text"]);
            if text.contains(&serial.to_uppercase()) {
                break;
            }
        }
        assert!(revoked_at.elapsed() < Duration::from_secs(10), "no new CRL within 10 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let number_after = app
        .scalar_i64(&format!(
            "SELECT max(crl_number) FROM crls WHERE issuer_id = '{issuer}'"
        ))
        .await;
    assert!(number_after > number_before);

    a.stop().await;
    b.stop().await;
    worker.stop().await;
}

#[tokio::test]
async fn crl_numbers_never_repeat_or_go_back_across_restarts_and_concurrent_workers() {
    let app = TestApp::spawn().await;
    let (issuer, profile) = app.pki().await;
    let mut certs = Vec::new();
    for i in 0..12 {
        certs.push(app.issue(&issuer, &profile, &format!("n{i}.example.net")).await);
    }
    let w1 = app.worker(&[]).await;
    app.wait_published(&issuer, Duration::from_secs(5)).await;
    let w2 = app.worker(&[]).await;
    for (i, cert) in certs.iter().enumerate() {
        app.revoke(cert, "cessationOfOperation").await;
        if i == 4 {
            // A restart in the middle: numbering continues from the database.
            w1.kill().await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let w3 = app.worker(&[]).await;
    for cert in &certs[5..] {
        app.revoke(cert, "cessationOfOperation").await;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    // Wait for the CRL that covers every revocation. The killed worker may have died holding a
    // build lease (10 s), which must run out before another worker takes that issuer.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let covered = app
            .scalar_i64(&format!(
                "SELECT count(*) FROM crl_state WHERE issuer_id = '{issuer}' AND built_revision = revision"
            ))
            .await;
        if covered == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "CRLs never caught up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Numbers in generation order are strictly increasing, and the newest lists all twelve.
    let rows = app
        .db
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!("SELECT crl_number, entry_count FROM crls WHERE issuer_id = '{issuer}' ORDER BY generated_at, crl_number"),
        ))
        .await
        .unwrap();
    let numbers: Vec<i64> = rows
        .iter()
        .map(|r| r.try_get::<i64>("", "crl_number").unwrap())
        .collect();
    assert!(numbers.len() >= 2, "{numbers:?}");
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
    let newest = rows.last().unwrap().try_get::<i32>("", "entry_count").unwrap();
    assert_eq!(newest, 12);

    // The database itself refuses to go back, whoever asks.
    let max = *numbers.last().unwrap();
    for sql in [
        format!(
            "INSERT INTO crls (issuer_id, crl_number, this_update, next_update, der, entry_count, generated_by, build_ms) VALUES ('{issuer}', {max}, now(), now() + interval '1 day', '\\x00', 0, 'test', 0)"
        ),
        format!(
            "INSERT INTO crls (issuer_id, crl_number, this_update, next_update, der, entry_count, generated_by, build_ms) VALUES ('{issuer}', {}, now(), now() + interval '1 day', '\\x00', 0, 'test', 0)",
            max - 1
        ),
        format!("UPDATE crl_state SET last_number = last_number - 1 WHERE issuer_id = '{issuer}'"),
        format!("UPDATE crls SET der = '\\x00' WHERE issuer_id = '{issuer}'"),
    ] {
        let err = app.db.execute_unprepared(&sql).await.expect_err(&sql);
        assert!(err.to_string().contains("CRL"), "{sql}: {err}");
    }
    // A number far above any a worker reaches, but dated before the newest stored CRL.
    let sql = format!(
        "INSERT INTO crls (issuer_id, crl_number, this_update, next_update, der, entry_count, generated_by, build_ms) VALUES ('{issuer}', {}, now() - interval '1 hour', now() + interval '1 day', '\\x00', 0, 'test', 0)",
        max + 1_000_000
    );
    let err = app.db.execute_unprepared(&sql).await.expect_err(&sql);
    assert!(err.to_string().contains("thisUpdate"), "{sql}: {err}");

    // A stored CRL dated an hour ahead of the database's clock (by hand here; a clock stepped
    // back comes to the same): the next claim dates its CRL no earlier, so it is stored rather
    // than refused, and publishing goes on.
    let ahead = app
        .scalar_i64(&format!(
            "UPDATE crl_state SET last_number = last_number + 1 WHERE issuer_id = '{issuer}' RETURNING last_number"
        ))
        .await;
    app.db
        .execute_unprepared(&format!(
            "INSERT INTO crls (issuer_id, crl_number, this_update, next_update, der, entry_count, generated_by, build_ms) \
             VALUES ('{issuer}', {ahead}, date_trunc('second', now()) + interval '1 hour', now() + interval '1 day', '\\x00', 0, 'test', 0)"
        ))
        .await
        .unwrap();
    app.db
        .execute_unprepared(&format!(
            "UPDATE crl_state SET revision = revision + 1 WHERE issuer_id = '{issuer}'"
        ))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while app
        .scalar_i64(&format!(
            "SELECT count(*) FROM crls WHERE issuer_id = '{issuer}' AND crl_number > {ahead}"
        ))
        .await
        == 0
    {
        assert!(Instant::now() < deadline, "no CRL after the one dated ahead");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        app.scalar_i64(&format!(
            "SELECT count(*) FROM crls n JOIN crls a ON a.issuer_id = n.issuer_id AND a.crl_number = {ahead} \
             WHERE n.issuer_id = '{issuer}' AND n.crl_number > {ahead} AND n.this_update = a.this_update AND n.entry_count = 12"
        ))
        .await,
        1
    );
    w2.stop().await;
    w3.stop().await;
}

#[tokio::test]
async fn public_routes_need_no_key_short_lived_certificates_stay_off_the_crl_and_old_paths_are_gone() {
    let app = TestApp::spawn().await;
    let dir = tempdir();
    let (issuer, _) = app.pki().await;
    let profile = app
        .profile(json!({ "name": "ephemeral", "max_ttl_seconds": 86400, "allowed_key_algorithms": ["ecdsa-p256"], "ekus": ["client_auth"], "allow_short_lived": true }))
        .await;
    let (s, short) = app
        .post("/api/v1/certificates", &app.admin_key, json!({ "issuer_id": issuer, "profile_id": id(&profile), "common_name": "job-7.internal", "key_algorithm": "ecdsa-p256", "ttl_seconds": 900 }))
        .await;
    assert_eq!(s, 201, "{short}");
    assert_eq!(short["short_lived"], true);
    let (s, long) = app
        .post("/api/v1/certificates", &app.admin_key, json!({ "issuer_id": issuer, "profile_id": id(&profile), "common_name": "svc.internal", "key_algorithm": "ecdsa-p256", "ttl_seconds": 7200 }))
        .await;
    assert_eq!(s, 201, "{long}");
    app.revoke(&short, "keyCompromise").await;
    app.revoke(&long, "keyCompromise").await;
    let worker = app.worker(&[]).await;
    app.wait_published(&issuer, Duration::from_secs(5)).await;
    let responder = app.responder().await;

    // No Authorization header anywhere below.
    let crl = responder.crl(&app.http, &issuer).await.unwrap();
    let crl_file = write(&dir, "crl.der", &crl);
    let (_, text) = openssl(&["crl", "-inform", "DER", "-in", &crl_file, "-noout", "-text"]);
    assert!(
        text.contains(&long["serial_hex"].as_str().unwrap().to_uppercase()),
        "{text}"
    );
    assert!(
        !text.contains(&short["serial_hex"].as_str().unwrap().to_uppercase()),
        "{text}"
    );
    // OCSP still tells the short-lived certificate's real status.
    let (_, ca_pem) = pems(&short);
    let ca = write(&dir, "ca.pem", ca_pem.as_bytes());
    wait_ocsp_text(
        &app,
        &responder,
        &issuer,
        short["serial_hex"].as_str().unwrap(),
        &ca,
        "Cert Status: revoked",
    )
    .await;

    let unknown = uuid::Uuid::new_v4();
    for path in [
        format!("/.well-known/pki/crl/{unknown}"),
        format!("/.well-known/pki/ca/{unknown}"),
        format!("/.well-known/pki/ocsp/{unknown}/0123"),
        "/.well-known/pki/crl/not-a-uuid".to_owned(),
    ] {
        let r = app.http.get(format!("{}{path}", responder.base)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
    }
    let r = app
        .http
        .post(format!("{}/.well-known/pki/ocsp/{unknown}", responder.base))
        .body(vec![0x30, 0x00])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // Earlier certctl's revocation paths are gone from the API server, with or without a key.
    for path in [
        "/api/v1/crl".to_owned(),
        format!("/api/v1/crl/{issuer}"),
        format!("/api/v1/ocsp/{issuer}/{}", long["serial_hex"].as_str().unwrap()),
    ] {
        let (s, _) = app.get(&path, &app.admin_key).await;
        assert_eq!(s, 404, "{path}");
        let r = app.http.get(format!("{}{path}", app.base)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    responder.stop().await;
    worker.stop().await;
}

#[tokio::test]
async fn the_responder_role_reads_what_it_serves_and_never_a_ca_key() {
    let app = TestApp::spawn().await;
    let (issuer, profile) = app.pki().await;
    let cert = app.issue(&issuer, &profile, "role.example.net").await;
    let worker = app.worker(&[]).await;
    app.wait_published(&issuer, Duration::from_secs(5)).await;

    // What the certctl-responder-role Job runs, with its password from a secret file (the test
    // server trusts local connections, so the password itself is not checked here).
    let dir = tempdir();
    let password = write(&dir, "password", b"s3cret'quoted\n");
    let out = std::process::Command::new(certctl_test_support::process::binary("certctl-migrate"))
        .arg("responder-role")
        .env_clear()
        .env("CERTCTL_DATABASE_URL", &app.db_url)
        .env("CERTCTL_RESPONDER_DB_PASSWORD_FILE", &password)
        .output()
        .expect("certctl-migrate");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The server got a SCRAM verifier, never the password itself.
    let stored = app
        .scalar_text("SELECT rolpassword FROM pg_authid WHERE rolname = 'certctl_responder'")
        .await;
    assert!(stored.starts_with("SCRAM-SHA-256$4096:"), "{stored}");
    assert!(!stored.contains("s3cret"), "{stored}");
    let role_url = app.db_url.replacen("postgres@", "certctl_responder@", 1);
    assert_ne!(role_url, app.db_url, "test database URLs name the postgres user");

    let role_db = sea_orm::Database::connect(role_url.as_str()).await.unwrap();
    for sql in [
        "SELECT private_key_ciphertext FROM issuers",
        "SELECT * FROM issuers",
        "SELECT key_hash FROM api_keys",
        "SELECT payload FROM notification_events",
        "INSERT INTO crls (issuer_id, crl_number, this_update, next_update, der, entry_count, generated_by, build_ms) VALUES (gen_random_uuid(), 1, now(), now(), '\\x00', 0, 'x', 0)",
    ] {
        let err = role_db.execute_unprepared(sql).await.expect_err(sql);
        let err = err.to_string();
        assert!(
            err.contains("permission denied") || err.contains("read-only transaction"),
            "{sql}: {err}"
        );
    }
    role_db.close().await.ok();

    let responder = app.responder_on(&role_url, &[]).await;
    let (_, ca_pem) = pems(&cert);
    let ca = write(&dir, "ca.pem", ca_pem.as_bytes());
    wait_ocsp_text(
        &app,
        &responder,
        &issuer,
        cert["serial_hex"].as_str().unwrap(),
        &ca,
        "Cert Status: good",
    )
    .await;
    assert!(responder.crl(&app.http, &issuer).await.is_some());
    responder.stop().await;
    worker.stop().await;
}

#[tokio::test]
async fn a_worker_without_the_responder_key_publishes_crls_but_makes_no_signers() {
    let app = TestApp::spawn().await;
    let (issuer, _) = app.pki().await;
    let worker = app.worker(&[("CERTCTL_RESPONDER_KEY_ENCRYPTION_KEY", "")]).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while app
        .scalar_i64(&format!("SELECT count(*) FROM crls WHERE issuer_id = '{issuer}'"))
        .await
        == 0
    {
        assert!(Instant::now() < deadline, "no CRL within 5 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.scalar_i64("SELECT count(*) FROM ocsp_signers").await, 0);
    worker.stop().await;
}

// Multi-threaded, with progress lines and a bound on each request: this test once hung until
// nextest killed it, with nothing to say where (see `openssl_judges_ocsp_over_post_and_get_and_the_crl`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_serves_cached_answers_and_keeps_the_responder_ready() {
    let started = Instant::now();
    let step = |what: &str| eprintln!("[{:>7.3}s] {what}", started.elapsed().as_secs_f64());
    let app = TestApp::spawn().await;
    let dir = tempdir();
    let (issuer, profile) = app.pki().await;
    let cached = app.issue(&issuer, &profile, "cached.example.net").await;
    let uncached = app.issue(&issuer, &profile, "uncached.example.net").await;
    let worker = app.worker(&[]).await;
    app.wait_published(&issuer, Duration::from_secs(5)).await;
    step("published");
    let proxy = crate::helpers::Proxy::start("127.0.0.1:5432").await;
    let via_proxy = app.db_url.replacen("127.0.0.1:5432", &proxy.addr.to_string(), 1);
    assert_ne!(via_proxy, app.db_url);
    let responder = app
        .responder_on(&via_proxy, &[("CERTCTL_RESPONDER_STALE_AFTER", "1s")])
        .await;
    let (_, ca_pem) = pems(&cached);
    let ca = write(&dir, "ca.pem", ca_pem.as_bytes());
    let serial = cached["serial_hex"].as_str().unwrap();
    wait_ocsp_text(&app, &responder, &issuer, serial, &ca, "Cert Status: good").await;
    step("responder answers");
    let get = |serial: String| {
        let (http, url) = (app.http.clone(), responder.ocsp_url(&issuer));
        async move {
            http.get(format!("{url}/{serial}"))
                .timeout(Duration::from_secs(10))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
                .to_vec()
        }
    };
    let before = get(serial.to_owned()).await;

    proxy.cut();
    step("database cut");
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Past the staleness limit: what was signed is still served, byte for byte...
    assert_eq!(get(serial.to_owned()).await, before);
    // ...but nothing new is signed on a view that may be out of date.
    let try_later = vec![0x30, 0x03, 0x0a, 0x01, 0x03];
    assert_eq!(
        get(uncached["serial_hex"].as_str().unwrap().to_owned()).await,
        try_later
    );
    // A blip does not pull the responder out of service, and the CRL is still served.
    let ready = app
        .http
        .get(format!("{}/readyz", responder.admin_base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    assert!(responder.crl(&app.http, &issuer).await.is_some());
    step("stale answers checked");

    proxy.restore();
    wait_ocsp_text(
        &app,
        &responder,
        &issuer,
        uncached["serial_hex"].as_str().unwrap(),
        &ca,
        "Cert Status: good",
    )
    .await;
    step("database back");
    responder.stop().await;
    worker.stop().await;
    step("stopped");
}

#[tokio::test]
async fn a_new_responder_key_replaces_the_signers_at_once() {
    let app = TestApp::spawn().await;
    let (issuer, _) = app.pki().await;
    let worker = app.worker(&[]).await;
    app.wait_published(&issuer, Duration::from_secs(5)).await;
    worker.stop().await;
    let new_key = base64::engine::general_purpose::STANDARD.encode(crate::helpers::rand_bytes::<32>());
    let worker = app
        .worker(&[
            ("CERTCTL_RESPONDER_KEY_ENCRYPTION_KEY", new_key.as_str()),
            (
                "CERTCTL_PREVIOUS_RESPONDER_KEY_ENCRYPTION_KEYS",
                crate::helpers::responder_kek().as_str(),
            ),
        ])
        .await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while app
        .scalar_i64(&format!(
            "SELECT count(DISTINCT kek_id) FROM ocsp_signers WHERE issuer_id = '{issuer}'"
        ))
        .await
        < 2
    {
        assert!(Instant::now() < deadline, "no signer under the new key within 5 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A responder holding only the new key is ready and signs with the new signer.
    let responder = app
        .responder_on(
            &app.db_url.clone(),
            &[("CERTCTL_RESPONDER_KEY_ENCRYPTION_KEY", new_key.as_str())],
        )
        .await;
    let r = app
        .http
        .get(format!("{}/0102", responder.ocsp_url(&issuer)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap()[..2], [0x30, 0x82]);
    responder.stop().await;
    worker.stop().await;
}

#[tokio::test]
async fn a_bulk_revocation_of_thousands_coalesces_into_a_few_crl_builds() {
    let app = TestApp::spawn().await;
    let (issuer, profile) = app.pki().await;
    let seed = app.issue(&issuer, &profile, "fleet.example.net").await;
    // 2,000 more certificates of the same issuer, cloned in SQL: issuing them one by one through
    // the API would only slow the test down.
    app.db
        .execute_unprepared(&format!(
            "INSERT INTO certificates (id, issuer_id, profile_id, serial_hex, common_name, sans, key_algorithm, \
               public_key_der, status, short_lived, not_before, not_after, certificate_der, certificate_pem, requested_by) \
             SELECT gen_random_uuid(), issuer_id, profile_id, '7' || substr(md5(random()::text || g::text), 1, 31), \
               common_name, sans, key_algorithm, public_key_der, status, short_lived, not_before, not_after, \
               certificate_der, certificate_pem, requested_by \
             FROM certificates, generate_series(1, 2000) g WHERE id = '{}'",
            id(&seed)
        ))
        .await
        .unwrap();
    let worker = app.worker(&[]).await;
    app.wait_published(&issuer, Duration::from_secs(5)).await;
    let crls_before = app
        .scalar_i64(&format!("SELECT count(*) FROM crls WHERE issuer_id = '{issuer}'"))
        .await;

    let (s, v) = app
        .post(
            "/api/v1/certificates/bulk-revoke",
            &app.admin_key,
            json!({ "reason": "cessationOfOperation", "issuer_id": issuer }),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let newest = app
            .scalar_i64(&format!(
                "SELECT COALESCE((SELECT entry_count FROM crls WHERE issuer_id = '{issuer}' ORDER BY crl_number DESC LIMIT 1), 0)::bigint"
            ))
            .await;
        if newest == 2001 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the bulk revocation never reached a CRL ({newest} entries)"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let builds = app
        .scalar_i64(&format!("SELECT count(*) FROM crls WHERE issuer_id = '{issuer}'"))
        .await
        - crls_before;
    assert!((1..=2).contains(&builds), "{builds} CRL builds for one bulk revocation");
    worker.stop().await;
}

#[tokio::test]
async fn a_new_issuer_has_its_first_crl_and_signer_within_five_seconds_at_default_settings() {
    let app = TestApp::spawn().await;
    // The default check interval (1 s), not the harness's faster one.
    let worker = app.worker(&[("CERTCTL_CRL_CHECK_INTERVAL", "1s")]).await;
    let responder = app.responder().await;
    let created = Instant::now();
    let issuer = id(&app.issuer("fresh", "ecdsa-p384").await);
    app.wait_published(&issuer, Duration::from_secs(5)).await;
    // And the responder serves both within the same five seconds.
    loop {
        let crl = responder.crl(&app.http, &issuer).await;
        let ocsp = app
            .http
            .get(format!("{}/0102", responder.ocsp_url(&issuer)))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        if crl.is_some() && ocsp.len() > 5 {
            break;
        }
        assert!(
            created.elapsed() < Duration::from_secs(5),
            "not served within 5 s of creation"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    responder.stop().await;
    worker.stop().await;
}

//! Issuance rules, judged by OpenSSL and pkilint rather than by our own parser.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, id, openssl, openssl_csr, tempdir, write};

/// pkilint's RFC 5280 certificate lint; any ERROR or FATAL finding fails.
fn pkilint(file: &str) {
    crate::helpers::pkilint("lint_pkix_cert", &[], file);
}

fn text_of(pem_file: &str) -> String {
    let (ok, text) = openssl(&["x509", "-in", pem_file, "-noout", "-text"]);
    assert!(ok, "{text}");
    text
}

async fn issue_csr(
    app: &TestApp,
    issuer: &str,
    profile: &str,
    cn: &str,
    csr: &str,
    extra: Value,
) -> (StatusCode, Value) {
    let mut body = json!({ "issuer_id": issuer, "profile_id": profile, "common_name": cn, "csr_pem": csr });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    app.post("/api/v1/certificates", &app.admin_key, body).await
}

#[tokio::test]
async fn csr_issuance_verifies_with_openssl_and_passes_pkilint() {
    let app = TestApp::spawn().await;
    let dir = tempdir();
    let root = app.issuer("corp-root", "ecdsa-p384").await;
    let (s, inter) = app
        .post("/api/v1/issuers", &app.admin_key, json!({ "name": "corp-issuing", "common_name": "Corp Issuing CA 1", "key_algorithm": "ecdsa-p256", "parent_issuer_id": id(&root) }))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{inter}");
    let profile = app
        .profile(json!({ "name": "tls", "max_ttl_seconds": 30 * 86400, "allowed_key_algorithms": ["ecdsa-p256", "rsa-2048"], "ekus": ["server_auth"],
                          "san_rules": { "allowed_domains": ["example.com"], "allow_subdomains": true } }))
        .await;
    for (n, args) in [
        ("ec", vec!["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]),
        ("rsa", vec!["rsa:2048"]),
    ] {
        let sub = dir.join(n);
        std::fs::create_dir_all(&sub).unwrap();
        let (csr, _) = openssl_csr(&sub, &args, "api.example.com");
        let (s, cert) = issue_csr(
            &app,
            &id(&inter),
            &id(&profile),
            "api.example.com",
            &csr,
            json!({ "sans": ["www.example.com"] }),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{cert}");
        assert_eq!(cert["status"], "active");
        let serial = cert["serial_hex"].as_str().unwrap();
        assert_eq!(serial.len(), 32);
        assert!(serial.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(cert["sans"], json!(["api.example.com", "www.example.com"]));
        let leaf = write(&sub, "leaf.pem", cert["certificate_pem"].as_str().unwrap());
        let root_pem = write(&sub, "root.pem", root["certificate_pem"].as_str().unwrap());
        let inter_pem = write(&sub, "inter.pem", inter["certificate_pem"].as_str().unwrap());
        let (ok, out) = openssl(&[
            "verify",
            "-x509_strict",
            "-CAfile",
            &root_pem,
            "-untrusted",
            &inter_pem,
            "-purpose",
            "sslserver",
            &leaf,
        ]);
        assert!(ok, "openssl verify: {out}");
        // The chain endpoint serves leaf + intermediate + root.
        let (ok, out) = openssl(&[
            "verify",
            "-CAfile",
            &root_pem,
            "-untrusted",
            &write(&sub, "chain.pem", cert["chain_pem"].as_str().unwrap()),
            &leaf,
        ]);
        assert!(ok, "{out}");
        let text = text_of(&leaf);
        let issuer_id = id(&inter);
        assert!(
            text.contains(&format!("URI:http://pki.certctl.test/.well-known/pki/crl/{issuer_id}")),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "OCSP - URI:http://pki.certctl.test/.well-known/pki/ocsp/{issuer_id}"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "CA Issuers - URI:http://pki.certctl.test/.well-known/pki/ca/{issuer_id}"
            )),
            "{text}"
        );
        assert!(text.contains(&"Serial Number:".to_string()), "{text}");
        pkilint(&leaf);
        pkilint(&root_pem);
        pkilint(&inter_pem);
    }
    let pem = app
        .http
        .get(format!("{}/api/v1/certificates", app.base))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(pem.status(), StatusCode::OK);
}

#[tokio::test]
async fn server_generated_keys_are_returned_once_and_match() {
    let app = TestApp::spawn().await;
    let dir = tempdir();
    let rsa_root = app.issuer("rsa-root", "rsa-2048").await;
    let profile = app
        .profile(json!({ "name": "p", "max_ttl_seconds": 86400 * 10, "allowed_key_algorithms": ["ecdsa-p384", "rsa-2048"], "ekus": ["client_auth"] }))
        .await;
    for alg in ["ecdsa-p384", "rsa-2048"] {
        let (s, cert) = app
            .post("/api/v1/certificates", &app.admin_key, json!({ "issuer_id": id(&rsa_root), "profile_id": id(&profile), "common_name": "svc.internal", "key_algorithm": alg }))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{cert}");
        let key = write(&dir, &format!("{alg}.key"), cert["private_key_pem"].as_str().unwrap());
        let leaf = write(&dir, &format!("{alg}.pem"), cert["certificate_pem"].as_str().unwrap());
        let (_, from_key) = openssl(&["pkey", "-in", &key, "-pubout"]);
        let (_, from_cert) = openssl(&["x509", "-in", &leaf, "-noout", "-pubkey"]);
        assert_eq!(from_key, from_cert);
        let root = write(&dir, "root.pem", rsa_root["certificate_pem"].as_str().unwrap());
        let (ok, out) = openssl(&["verify", "-CAfile", &root, "-purpose", "sslclient", &leaf]);
        assert!(ok, "{out}");
        pkilint(&leaf);
        // The key is never stored and never shown again.
        let (_, again) = app
            .get(&format!("/api/v1/certificates/{}", id(&cert)), &app.admin_key)
            .await;
        assert!(again.get("private_key_pem").is_none());
        assert_eq!(
            app.scalar_i64("SELECT count(*) FROM certificates WHERE certificate_pem LIKE '%PRIVATE KEY%'")
                .await,
            0
        );
    }
    pkilint(&write(
        &dir,
        "rsa-root.pem",
        rsa_root["certificate_pem"].as_str().unwrap(),
    ));
}

#[tokio::test]
async fn every_issuance_rule_is_a_clear_400() {
    let app = TestApp::spawn().await;
    let dir = tempdir();
    let (issuer, _) = app.pki().await;
    let strict = app
        .profile(json!({ "name": "strict", "max_ttl_seconds": 7 * 86400, "allowed_key_algorithms": ["ecdsa-p256"], "ekus": ["server_auth"],
                          "san_rules": { "allowed_domains": ["corp.example"], "allow_subdomains": true } }))
        .await;
    let strict = id(&strict);
    let (good_csr, _) = openssl_csr(&dir, &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"], "a.corp.example");
    let check = |name: &'static str, s: StatusCode, v: &Value, code: &str| {
        assert_eq!(s, StatusCode::BAD_REQUEST, "{name}: {v}");
        assert_eq!(v["code"], code, "{name}: {v}");
        assert!(v["detail"].as_str().is_some_and(|d| !d.is_empty()), "{name}: {v}");
    };

    let (s, v) = issue_csr(
        &app,
        &issuer,
        &strict,
        "a.corp.example",
        "-----BEGIN CERTIFICATE REQUEST-----\nnonsense\n-----END CERTIFICATE REQUEST-----",
        json!({}),
    )
    .await;
    check("malformed csr", s, &v, "invalid_csr");
    let (s, v) = issue_csr(&app, &issuer, &strict, "a.corp.example", "not even pem", json!({})).await;
    check("garbage csr", s, &v, "invalid_csr");

    // A CSR whose signature does not match: flip a bit inside the signature.
    let der_path = dir.join("csr.der");
    let (ok, out) = openssl(&[
        "req",
        "-in",
        &write(&dir, "good.csr", &good_csr),
        "-outform",
        "DER",
        "-out",
        der_path.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    let mut der = std::fs::read(&der_path).unwrap();
    let n = der.len();
    der[n - 8] ^= 0x01;
    std::fs::write(&der_path, &der).unwrap();
    let (ok, out) = openssl(&[
        "req",
        "-inform",
        "DER",
        "-in",
        der_path.to_str().unwrap(),
        "-out",
        dir.join("bad.csr").to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    let bad = std::fs::read_to_string(dir.join("bad.csr")).unwrap();
    let (s, v) = issue_csr(&app, &issuer, &strict, "a.corp.example", &bad, json!({})).await;
    check("bad signature", s, &v, "bad_csr_signature");

    // Key types and sizes the profile does not allow.
    let sub = dir.join("p384");
    std::fs::create_dir_all(&sub).unwrap();
    let (p384, _) = openssl_csr(&sub, &["ec", "-pkeyopt", "ec_paramgen_curve:P-384"], "a.corp.example");
    let (s, v) = issue_csr(&app, &issuer, &strict, "a.corp.example", &p384, json!({})).await;
    check("p-384 not allowed", s, &v, "key_not_allowed");
    let sub = dir.join("rsa1024");
    std::fs::create_dir_all(&sub).unwrap();
    let (rsa1024, _) = openssl_csr(&sub, &["rsa:1024"], "a.corp.example");
    let (s, v) = issue_csr(&app, &issuer, &strict, "a.corp.example", &rsa1024, json!({})).await;
    check("rsa-1024 never allowed", s, &v, "key_not_allowed");
    let (s, v) = app
        .post("/api/v1/certificates", &app.admin_key, json!({ "issuer_id": issuer, "profile_id": strict, "common_name": "a.corp.example", "key_algorithm": "rsa-2048" }))
        .await;
    check("generated rsa not allowed", s, &v, "key_not_allowed");

    // Lifetimes.
    let (s, v) = issue_csr(
        &app,
        &issuer,
        &strict,
        "a.corp.example",
        &good_csr,
        json!({ "ttl_seconds": 7 * 86400 + 1 }),
    )
    .await;
    check("ttl above max", s, &v, "ttl_exceeds_profile");
    let (s, v) = issue_csr(
        &app,
        &issuer,
        &strict,
        "a.corp.example",
        &good_csr,
        json!({ "ttl_seconds": 1800 }),
    )
    .await;
    check("short-lived not allowed", s, &v, "short_lived_not_allowed");

    // Names.
    let (s, v) = issue_csr(
        &app,
        &issuer,
        &strict,
        "a.corp.example",
        &good_csr,
        json!({ "sans": ["evil.example.org"] }),
    )
    .await;
    check("san outside domains", s, &v, "san_not_allowed");
    let (s, v) = issue_csr(&app, &issuer, &strict, "outside.example.org", &good_csr, json!({})).await;
    check("cn outside domains", s, &v, "san_not_allowed");
    let (s, v) = issue_csr(
        &app,
        &issuer,
        &strict,
        "a.corp.example",
        &good_csr,
        json!({ "sans": ["*.corp.example"] }),
    )
    .await;
    check("wildcards not allowed", s, &v, "san_not_allowed");
    let (s, v) = issue_csr(
        &app,
        &issuer,
        &strict,
        "a.corp.example",
        &good_csr,
        json!({ "sans": ["10.1.2.3"] }),
    )
    .await;
    check("ip not allowed", s, &v, "san_not_allowed");

    // A validity that would outlast the issuing CA.
    let (_, short_ca) = app
        .post(
            "/api/v1/issuers",
            &app.admin_key,
            json!({ "name": "short", "common_name": "Short CA", "key_algorithm": "ecdsa-p256", "validity_days": 3 }),
        )
        .await;
    let (s, v) = issue_csr(&app, &id(&short_ca), &strict, "a.corp.example", &good_csr, json!({})).await;
    check("outlasts issuer", s, &v, "validity_exceeds_issuer");
    let (s, v) = app
        .post("/api/v1/issuers", &app.admin_key, json!({ "name": "long-child", "common_name": "Child", "key_algorithm": "ecdsa-p256", "parent_issuer_id": id(&short_ca), "validity_days": 30 }))
        .await;
    check("intermediate outlasts parent", s, &v, "validity_exceeds_issuer");

    // Unknown references and both key sources at once.
    let (s, v) = issue_csr(
        &app,
        &uuid::Uuid::new_v4().to_string(),
        &strict,
        "a.corp.example",
        &good_csr,
        json!({}),
    )
    .await;
    check("unknown issuer", s, &v, "unknown_issuer");
    let (s, v) = issue_csr(
        &app,
        &issuer,
        &strict,
        "a.corp.example",
        &good_csr,
        json!({ "key_algorithm": "ecdsa-p256" }),
    )
    .await;
    check("csr and key_algorithm", s, &v, "invalid_request");

    // Defaults: sans = [common name], ttl = the profile's maximum.
    let (s, v) = issue_csr(&app, &issuer, &strict, "a.corp.example", &good_csr, json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["sans"], json!(["a.corp.example"]));
    let nb = chrono::DateTime::parse_from_rfc3339(v["not_before"].as_str().unwrap()).unwrap();
    let na = chrono::DateTime::parse_from_rfc3339(v["not_after"].as_str().unwrap()).unwrap();
    assert!(((na - nb).num_seconds() - 7 * 86400).abs() <= 1, "{v}");
    // Nothing was stored for the refused requests.
    assert_eq!(app.scalar_i64("SELECT count(*) FROM certificates").await, 1);
}

#[tokio::test]
async fn short_lived_certificates_carry_no_rev_avail_and_no_revocation_pointers() {
    let app = TestApp::spawn().await;
    let dir = tempdir();
    let (issuer, _) = app.pki().await;
    let profile = app
        .profile(json!({ "name": "ephemeral", "max_ttl_seconds": 86400, "allowed_key_algorithms": ["ecdsa-p256"], "ekus": ["client_auth"], "allow_short_lived": true }))
        .await;
    let (s, v) = app
        .post("/api/v1/certificates", &app.admin_key, json!({ "issuer_id": issuer, "profile_id": id(&profile), "common_name": "job-42.internal", "key_algorithm": "ecdsa-p256", "ttl_seconds": 900 }))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["short_lived"], true);
    let leaf = write(&dir, "leaf.pem", v["certificate_pem"].as_str().unwrap());
    let (_, der) = openssl(&["x509", "-in", &leaf, "-noout", "-ext", "noRevAvail"]);
    let text = text_of(&leaf);
    assert!(
        text.contains("2.5.29.56") || text.contains("No Revocation Available") || der.contains("Revocation"),
        "{text}"
    );
    assert!(!text.contains("CRL Distribution Points"), "{text}");
    assert!(!text.contains("Authority Information Access"), "{text}");
    pkilint(&leaf);
    // An hour or more is not short-lived, even under the same profile.
    let (_, long) = app
        .post("/api/v1/certificates", &app.admin_key, json!({ "issuer_id": issuer, "profile_id": id(&profile), "common_name": "svc.internal", "key_algorithm": "ecdsa-p256", "ttl_seconds": 3600 }))
        .await;
    assert_eq!(long["short_lived"], false);
    assert!(
        text_of(&write(&dir, "long.pem", long["certificate_pem"].as_str().unwrap()))
            .contains("CRL Distribution Points")
    );
}

#[tokio::test]
async fn listing_filters_paginates_and_counts() {
    let app = TestApp::spawn().await;
    let (issuer, profile) = app.pki().await;
    let other = app.issuer("other", "ecdsa-p256").await;
    for i in 0..7 {
        app.issue(&issuer, &profile, &format!("h{i}.example.net")).await;
    }
    let odd = app.issue(&id(&other), &profile, "odd.example.net").await;
    let (s, page) = app.get("/api/v1/certificates?limit=3", &app.admin_key).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(page["total"], 8);
    let mut ids: Vec<String> = page["data"].as_array().unwrap().iter().map(id).collect();
    let mut cursor = page["next_cursor"].as_str().map(str::to_owned);
    while let Some(c) = cursor {
        let (_, p) = app
            .get(&format!("/api/v1/certificates?limit=3&cursor={c}"), &app.admin_key)
            .await;
        assert_eq!(p["total"], 8);
        ids.extend(p["data"].as_array().unwrap().iter().map(id));
        cursor = p["next_cursor"].as_str().map(str::to_owned);
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((ids.len(), unique.len()), (8, 8));
    let (_, by_issuer) = app
        .get(
            &format!("/api/v1/certificates?issuer_id={}", id(&other)),
            &app.admin_key,
        )
        .await;
    assert_eq!(by_issuer["total"], 1);
    assert_eq!(by_issuer["data"][0]["id"], odd["id"]);
    let (_, by_cn) = app
        .get("/api/v1/certificates?common_name=h3.example.net", &app.admin_key)
        .await;
    assert_eq!(by_cn["total"], 1);
    let soon = (chrono::Utc::now() + chrono::Duration::days(365))
        .to_rfc3339()
        .replace('+', "%2B");
    let (_, expiring) = app
        .get(
            &format!("/api/v1/certificates?expiring_before={soon}&status=active"),
            &app.admin_key,
        )
        .await;
    assert_eq!(expiring["total"], 8);
    let (_, none) = app
        .get(
            &format!("/api/v1/certificates?profile_id={}&status=revoked", profile),
            &app.admin_key,
        )
        .await;
    assert_eq!(none["total"], 0);
    // The PEM endpoint serves the chain.
    let resp = app
        .http
        .get(format!("{}/api/v1/certificates/{}/pem", app.base, id(&odd)))
        .bearer_auth(&app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "application/pem-certificate-chain");
    assert_eq!(resp.text().await.unwrap().matches("BEGIN CERTIFICATE").count(), 2);
    let (s, summary) = app
        .get("/api/v1/stats/summary", &app.key("viewer", "viewer").await)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(summary["certificates"]["active"], 8);
    assert_eq!(summary["expiring_soon"], 0);
    assert_eq!(summary["jobs_awaiting_approval"], 0);

    // Several states at once, comma-separated: any of them matches; a repeat counts once.
    app.revoke(&odd, "superseded").await;
    for (query, total) in [
        ("status=active", 7),
        ("status=revoked", 1),
        ("status=active,revoked", 8),
        ("status=revoked,expiring,revoked", 1),
        ("status=expiring,renewal_in_progress", 0),
    ] {
        let (s, page) = app
            .get(&format!("/api/v1/certificates?{query}&limit=1"), &app.admin_key)
            .await;
        assert_eq!(
            (s, page["total"].as_u64()),
            (StatusCode::OK, Some(total)),
            "{query}: {page}"
        );
    }
    // Pages of several states (merged from one index range per state) follow each other by
    // cursor in the same order as the unfiltered list, losing and repeating nothing.
    for sort in ["newest", "expiry"] {
        let ids = |page: &Value| -> Vec<String> { page["data"].as_array().unwrap().iter().map(id).collect() };
        let (_, all) = app
            .get(&format!("/api/v1/certificates?sort={sort}&limit=100"), &app.admin_key)
            .await;
        let (mut got, mut cursor) = (Vec::new(), None::<String>);
        loop {
            let after = cursor.map(|c| format!("&cursor={c}")).unwrap_or_default();
            let (s, page) = app
                .get(
                    &format!("/api/v1/certificates?status=revoked,active&sort={sort}&limit=3{after}"),
                    &app.admin_key,
                )
                .await;
            assert_eq!((s, page["total"].as_u64()), (StatusCode::OK, Some(8)), "{page}");
            got.extend(ids(&page));
            cursor = page["next_cursor"].as_str().map(str::to_owned);
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(got, ids(&all), "{sort}");
    }
    for query in [
        "status=active,sideways",
        "status=active,",
        "status=,active",
        "status=active%2C%20revoked",
    ] {
        let (s, v) = app.get(&format!("/api/v1/certificates?{query}"), &app.admin_key).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{query}: {v}");
        assert_eq!(v["code"], "invalid_query", "{query}: {v}");
        assert!(
            v["detail"].as_str().unwrap().contains("comma-separated"),
            "{query}: {v}"
        );
    }
}

#[tokio::test]
async fn renewal_keeps_key_and_names_and_supersedes_the_old_certificate() {
    let app = TestApp::spawn().await;
    let (issuer, profile) = app.pki().await;
    let operator = app.key("op", "operator").await;
    let old = app.issue(&issuer, &profile, "renew.example.net").await;
    let (s, new) = app
        .post(
            &format!("/api/v1/certificates/{}/renew", id(&old)),
            &operator,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{new}");
    assert_ne!(new["serial_hex"], old["serial_hex"]);
    assert_eq!(new["sans"], old["sans"]);
    assert_eq!(new["renewed_from_id"], old["id"]);
    let (_, old_now) = app.get(&format!("/api/v1/certificates/{}", id(&old)), &operator).await;
    assert_eq!(old_now["status"], "renewed");
    assert_eq!(old_now["superseded_by_id"], new["id"]);
    assert!(old_now.get("revocation").is_none(), "renewal must not revoke");
    assert_eq!(app.scalar_i64("SELECT count(*) FROM certificate_revocations").await, 0);
    let same_key = app
        .scalar_i64(&format!("SELECT count(*) FROM certificates a JOIN certificates b ON a.public_key_der = b.public_key_der WHERE a.id = '{}' AND b.id = '{}'", id(&old), id(&new)))
        .await;
    assert_eq!(same_key, 1);
    let (s, v) = app
        .post(
            &format!("/api/v1/certificates/{}/renew", id(&old)),
            &operator,
            json!({}),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("certificate_superseded"))
    );
    // A key revoked for keyCompromise is never certified again.
    assert_eq!(
        app.post(
            &format!("/api/v1/certificates/{}/revoke", id(&new)),
            &operator,
            json!({ "reason": "keyCompromise" })
        )
        .await
        .0,
        StatusCode::OK
    );
    let (s, v) = app
        .post(
            &format!("/api/v1/certificates/{}/renew", id(&new)),
            &operator,
            json!({}),
        )
        .await;
    assert_eq!((s, v["code"].as_str()), (StatusCode::CONFLICT, Some("key_compromised")));
    let other = app.issue(&issuer, &profile, "other.example.net").await;
    app.post(
        &format!("/api/v1/certificates/{}/revoke", id(&other)),
        &operator,
        json!({ "reason": "cessationOfOperation" }),
    )
    .await;
    let (s, v) = app
        .post(
            &format!("/api/v1/certificates/{}/renew", id(&other)),
            &operator,
            json!({}),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("certificate_revoked"))
    );
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM audit_events WHERE action = 'certificate.renew' AND actor = 'op'")
            .await,
        1
    );
}

#[tokio::test]
async fn a_profile_changed_on_another_replica_applies_to_the_very_next_issuance() {
    let a = TestApp::spawn().await;
    let b = TestApp::spawn_on(a.db_url.clone(), a.admin_key.clone(), &[]).await;
    let (issuer, profile) = a.pki().await;
    // Replica A caches the profile while issuing.
    a.issue(&issuer, &profile, "one.example.net").await;
    // Replica B tightens it: P-256 is no longer allowed.
    let (s, v) = b
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/profiles/{profile}"),
            Some(&b.admin_key),
            Some(json!({ "name": "web", "max_ttl_seconds": 86400, "allowed_key_algorithms": ["ecdsa-p384"], "ekus": ["server_auth"] })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["revision"], 2);
    let (s, v) = a
        .post("/api/v1/certificates", &a.admin_key, json!({ "issuer_id": issuer, "profile_id": profile, "common_name": "two.example.net", "key_algorithm": "ecdsa-p256" }))
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("key_not_allowed")),
        "{v}"
    );
    // And now it requires approval: A files a job instead of issuing.
    let (s, _) = b
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/profiles/{profile}"),
            Some(&b.admin_key),
            Some(json!({ "name": "web", "max_ttl_seconds": 86400, "allowed_key_algorithms": ["ecdsa-p256"], "ekus": ["server_auth"], "requires_approval": true })),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (csr, _) = openssl_csr(
        &tempdir(),
        &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "three.example.net",
    );
    let (s, v) = issue_csr(&a, &issuer, &profile, "three.example.net", &csr, json!({})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(a.scalar_i64("SELECT count(*) FROM certificates").await, 1);
}

/// A retried issuance with the same `Idempotency-Key` gets the certificate issued the first time,
/// once, even when the retries race the first request; a different request under a used key, a
/// generated key or an approval profile is refused.
#[tokio::test]
async fn an_idempotency_key_makes_a_retried_issuance_return_the_first_certificate() {
    let app = TestApp::spawn().await;
    let (issuer, profile) = app.pki().await;
    let csr = crate::helpers::csr_pem(&["idem.example.net"]);
    let body = json!({ "issuer_id": issuer, "profile_id": profile, "common_name": "idem.example.net", "csr_pem": csr });
    let send = |key: &str, body: &Value| {
        app.http
            .post(format!("{}/api/v1/certificates", app.base))
            .bearer_auth(&app.admin_key)
            .header("Idempotency-Key", key)
            .json(body)
            .send()
    };
    let first = send("order-1", &body).await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    let again = send("order-1", &body).await.unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert!(first["id"].is_string(), "{first}");
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["certificate_pem"], first["certificate_pem"]);
    assert_eq!(again["chain_pem"], first["chain_pem"]);

    // Eight copies of one request at once: one certificate, seven replays.
    let raced = futures::future::join_all((0..8).map(|_| send("order-2", &body))).await;
    let mut ids = std::collections::BTreeSet::new();
    let mut fresh = 0;
    for r in raced {
        let r = r.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        fresh += usize::from(r.headers().get("idempotent-replayed").is_none());
        ids.insert(r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned());
    }
    assert_eq!((ids.len(), fresh), (1, 1), "{ids:?}");
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM certificates WHERE common_name = 'idem.example.net'")
            .await,
        2
    );
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM audit_events WHERE action = 'certificate.issue'")
            .await,
        2,
        "a replay writes no audit row"
    );

    // A retry is compared as the server stores the request: names that the server lowercases and
    // deduplicates still match themselves, a different lifetime does not.
    let messy = json!({ "issuer_id": issuer, "profile_id": profile, "common_name": "Messy.example.net",
                        "sans": ["MESSY.example.net", "messy.example.net"],
                        "csr_pem": crate::helpers::csr_pem(&["messy.example.net"]) });
    let r = send("order-5", &messy).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    let r = send("order-5", &messy).await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    let mut shorter = messy.clone();
    shorter["ttl_seconds"] = json!(7 * 86400);
    let r = send("order-5", &shorter).await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);

    // The same key for another request is refused, naming the first certificate.
    let other = json!({ "issuer_id": issuer, "profile_id": profile, "common_name": "other.example.net",
                        "csr_pem": crate::helpers::csr_pem(&["other.example.net"]) });
    let r = send("order-1", &other).await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["code"], "idempotency_key_reused");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains(first["id"].as_str().unwrap())
    );
    // Keys belong to a principal: another one's "order-1" is its own.
    let operator = app.key("idem-operator", "operator").await;
    let r = app
        .http
        .post(format!("{}/api/v1/certificates", app.base))
        .bearer_auth(&operator)
        .header("Idempotency-Key", "order-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(r.headers().get("idempotent-replayed").is_none());

    // Refused where a retry could not return the first answer, and malformed keys.
    let generated = json!({ "issuer_id": issuer, "profile_id": profile, "common_name": "gen.example.net", "key_algorithm": "ecdsa-p256" });
    let r = send("order-3", &generated).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "idempotency_not_supported");
    let gated = id(&app
        .profile(json!({ "name": "gated", "max_ttl_seconds": 30 * 86400, "allowed_key_algorithms": ["ecdsa-p256"], "ekus": ["server_auth"], "requires_approval": true }))
        .await);
    let r = send(
        "order-4",
        &json!({ "issuer_id": issuer, "profile_id": gated, "common_name": "idem.example.net", "csr_pem": csr }),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "idempotency_not_supported");
    assert_eq!(app.scalar_i64("SELECT count(*) FROM jobs").await, 0);
    let r = send("with space", &body).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "invalid_request");
}

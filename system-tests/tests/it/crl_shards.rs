//! Partitioned CRLs: an issuer created with `crl_shards` puts each certificate in one shard,
//! named by the certificate's CRL distribution point, and publishes one CRL per shard with a
//! critical issuingDistributionPoint naming the same URL. Judged by `openssl verify -crl_check`
//! (which checks a CRL's scope against the certificate) and pkilint.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, id, openssl, pkilint, tempdir, write};

const SHARDS: u16 = 4;

/// The certificate's CRL distribution point URI, as openssl reads it.
fn distribution_point(pem_file: &str) -> String {
    let (ok, text) = openssl(&["x509", "-in", pem_file, "-noout", "-ext", "crlDistributionPoints"]);
    assert!(ok, "{text}");
    let uri = text.split("URI:").nth(1).expect("a URI distribution point");
    uri.split_whitespace().next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_issuer_publishes_shards_openssl_and_pkilint_accept() {
    let app = TestApp::spawn().await;
    let dir = tempdir();
    for bad in [1, 257] {
        let (s, v) = app
            .post(
                "/api/v1/issuers",
                &app.admin_key,
                json!({ "name": format!("bad-{bad}"), "common_name": "Bad", "key_algorithm": "ecdsa-p256", "crl_shards": bad }),
            )
            .await;
        assert_eq!(
            (s, v["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_request")),
            "{v}"
        );
    }
    let (s, issuer) = app
        .post(
            "/api/v1/issuers",
            &app.admin_key,
            json!({ "name": "sharded", "common_name": "Sharded Root", "key_algorithm": "ecdsa-p256", "crl_shards": SHARDS }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{issuer}");
    assert_eq!(issuer["crl_shards"], SHARDS);
    let issuer = id(&issuer);
    let profile = id(&app
        .profile(json!({ "name": "web", "max_ttl_seconds": 30 * 86400, "allowed_key_algorithms": ["ecdsa-p256"], "ekus": ["server_auth"] }))
        .await);

    // Twelve certificates over four shards: each names its shard in its distribution point, the
    // shard the database computes from the serial for its revocation.
    let crl_base = format!("http://pki.certctl.test/.well-known/pki/crl/{issuer}");
    let mut by_shard: BTreeMap<u16, Vec<(Value, String)>> = BTreeMap::new();
    for i in 0..12 {
        let cert = app.issue(&issuer, &profile, &format!("host-{i}.example.net")).await;
        let file = write(
            &dir,
            &format!("leaf-{i}.pem"),
            cert["certificate_pem"].as_str().unwrap().as_bytes(),
        );
        let serial = cert["serial_hex"].as_str().unwrap();
        let shard = certctl_pki::crl_shard(&hex::decode(serial).unwrap(), SHARDS);
        assert_eq!(distribution_point(&file), format!("{crl_base}/{shard}"));
        let in_sql = app
            .scalar_i64(&format!(
                "SELECT certctl_crl_shard('{serial}', {SHARDS}::smallint)::bigint"
            ))
            .await;
        assert_eq!(in_sql, i64::from(shard), "SQL and Rust agree on {serial}");
        by_shard.entry(shard).or_default().push((cert, file));
    }
    // Twelve into four: some shard holds three or more.
    let (&shard, group) = by_shard.iter().max_by_key(|(_, v)| v.len()).unwrap();
    assert!(group.len() >= 3);
    let (bad, bad_file) = &group[0];
    let (_, good_file) = &group[1];
    let elsewhere = by_shard.iter().find(|(s, _)| **s != shard).map(|(_, v)| v[0].0.clone());

    let worker = app.worker(&[]).await;
    app.revoke(bad, "keyCompromise").await;
    if let Some(other) = &elsewhere {
        app.revoke(other, "superseded").await;
    }
    let responder = app.responder().await;
    let (_, ca_pem) = crate::responder::pems(bad);
    let ca = write(&dir, "ca.pem", ca_pem.as_bytes());
    let url = format!("{}/.well-known/pki/crl/{issuer}/{shard}", responder.base);
    let crl_der = dir.join("shard.der").to_string_lossy().into_owned();
    let crl_pem = dir.join("shard.pem").to_string_lossy().into_owned();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let resp = app.http.get(&url).send().await.unwrap();
        if resp.status() == StatusCode::OK {
            assert_eq!(resp.headers()["content-type"], "application/pkix-crl");
            write(&dir, "shard.der", resp.bytes().await.unwrap());
            openssl(&["crl", "-inform", "DER", "-in", &crl_der, "-out", &crl_pem]);
            let (ok, text) = openssl(&["verify", "-crl_check", "-CAfile", &ca, "-CRLfile", &crl_pem, bad_file]);
            if !ok && text.contains("certificate revoked") {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the revocation never reached shard {shard}'s CRL"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The shard's CRL covers the other certificates of its shard, which are good.
    let (ok, text) = openssl(&["verify", "-crl_check", "-CAfile", &ca, "-CRLfile", &crl_pem, good_file]);
    assert!(ok, "{text}");
    // It lists only its shard's revocation, and names its scope in a critical IDP.
    let (ok, text) = openssl(&["crl", "-in", &crl_pem, "-noout", "-text", "-CAfile", &ca, "-verify"]);
    assert!(ok && text.contains("verify OK"), "{text}");
    assert_eq!(text.matches("Serial Number:").count(), 1, "{text}");
    assert!(text.contains("X509v3 Issuing Distribution Point: critical"), "{text}");
    assert!(text.contains(&format!("URI:{crl_base}/{shard}")), "{text}");
    pkilint("lint_crl", &["-t", "CRL", "-p", "PKIX"], &crl_der);
    // A certificate of another shard is outside this CRL's scope, and openssl says so.
    if let Some((_, files)) = by_shard.iter().find(|(s, _)| **s != shard) {
        let (ok, text) = openssl(&[
            "verify",
            "-crl_check",
            "-CAfile",
            &ca,
            "-CRLfile",
            &crl_pem,
            &files[0].1,
        ]);
        assert!(!ok && text.contains("different CRL scope"), "{text}");
    }

    // Every shard has its own numbering, from 1.
    let firsts = app
        .scalar_i64(&format!(
            "SELECT count(*) FROM (SELECT shard, min(crl_number) AS first FROM crls WHERE issuer_id = '{issuer}' \
             GROUP BY shard) s WHERE first = 1 AND shard BETWEEN 1 AND {SHARDS}"
        ))
        .await;
    assert_eq!(firsts, i64::from(SHARDS));
    // No full CRL for a partitioned issuer, and no shard outside 1..=4 (nor a second name for one).
    let get = |path: String| {
        let http = app.http.clone();
        async move { http.get(path).send().await.unwrap().status() }
    };
    let base = format!("{}/.well-known/pki/crl/{issuer}", responder.base);
    assert_eq!(get(base.clone()).await, StatusCode::NOT_FOUND);
    for bad in ["0", "5", "01", "x"] {
        assert_eq!(get(format!("{base}/{bad}")).await, StatusCode::NOT_FOUND, "{bad}");
    }
    // The summary's freshness covers the issuer once every shard is published.
    let (_, summary) = app.get("/api/v1/stats/summary", &app.admin_key).await;
    let fresh = summary["revocation"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["issuer_id"] == issuer.as_str())
        .cloned()
        .unwrap();
    assert!(fresh["crl_age_seconds"].as_f64().is_some(), "{fresh}");
    responder.stop().await;
    worker.stop().await;
}

//! The groundwork of the ACME server: nonces shared by every api-server replica, each accepted once.

use certctl_shared::repo::acme;
use chrono::{Duration, Utc};

use crate::helpers::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nonce_is_accepted_once_by_whichever_replica_sees_it_and_never_after_it_expires() {
    let app = TestApp::spawn().await;
    // A second connection pool stands for a second api-server replica.
    let other = sea_orm::Database::connect(&app.db_url).await.unwrap();
    let in_a_minute = Utc::now() + Duration::minutes(1);
    acme::issue_nonce(&app.db, "n-1", in_a_minute).await.unwrap();
    assert!(
        acme::use_nonce(&other, "n-1").await.unwrap(),
        "issued by one, used at another"
    );
    assert!(!acme::use_nonce(&app.db, "n-1").await.unwrap(), "used once only");
    assert!(!acme::use_nonce(&app.db, "never-issued").await.unwrap());

    // Racing requests with the same nonce: exactly one wins.
    acme::issue_nonce(&app.db, "n-race", in_a_minute).await.unwrap();
    let mut racers = Vec::new();
    for i in 0..16 {
        let db = if i % 2 == 0 { app.db.clone() } else { other.clone() };
        racers.push(tokio::spawn(
            async move { acme::use_nonce(&db, "n-race").await.unwrap() },
        ));
    }
    let mut winners = 0;
    for r in racers {
        winners += usize::from(r.await.unwrap());
    }
    assert_eq!(winners, 1);

    // Expired nonces are refused and swept.
    acme::issue_nonce(&app.db, "n-old", Utc::now() - Duration::seconds(1))
        .await
        .unwrap();
    acme::issue_nonce(&app.db, "n-live", in_a_minute).await.unwrap();
    assert!(!acme::use_nonce(&app.db, "n-old").await.unwrap());
    assert_eq!(acme::sweep_nonces(&app.db).await.unwrap(), 1);
    assert!(acme::use_nonce(&app.db, "n-live").await.unwrap());
    other.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_manage_acme_endpoints_and_eab_keys_shown_once_and_audited() {
    use reqwest::{Method, StatusCode};
    use serde_json::json;

    use crate::helpers::id;

    let app = TestApp::spawn().await;
    let (issuer, profile) = app.pki().await;
    let body = json!({ "name": "k8s", "label": "k8s", "issuer_id": issuer, "profile_id": profile,
                       "eab_required": true, "allowed_dns_suffixes": ["Svc.Cluster.Local."],
                       "allowed_ip_ranges": ["10.0.0.0/8", "fd00::/8"], "allow_private_targets": true });
    let operator = app.key("ops", "operator").await;
    assert_eq!(
        app.post("/api/v1/acme-endpoints", &operator, body.clone()).await.0,
        StatusCode::FORBIDDEN
    );
    let (s, created) = app.post("/api/v1/acme-endpoints", &app.admin_key, body.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    assert_eq!(created["directory_path"], "/acme/k8s/directory");
    assert_eq!(
        created["allowed_dns_suffixes"],
        json!(["svc.cluster.local"]),
        "normalised"
    );
    let endpoint = id(&created);
    let (s, v) = app.post("/api/v1/acme-endpoints", &app.admin_key, body.clone()).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("already_exists")),
        "{v}"
    );
    for (field, bad) in [
        ("allowed_ip_ranges", json!(["10.0.0.1/8"])),
        ("allowed_dns_suffixes", json!(["*.example.com"])),
        ("terms_of_service_url", json!("ftp://example.com/tos")),
        ("label", json!("Not A Label")),
    ] {
        let mut b = body.clone();
        b["name"] = json!("other");
        b["label"] = json!("other");
        b[field] = bad;
        let (s, v) = app.post("/api/v1/acme-endpoints", &app.admin_key, b).await;
        assert_eq!(
            (s, v["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_request")),
            "{field}: {v}"
        );
    }

    // An EAB key: its HMAC key is shown once, stored only sealed, and its creation audited.
    let (s, eab) = app
        .post(
            &format!("/api/v1/acme-endpoints/{endpoint}/eab-keys"),
            &app.admin_key,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{eab}");
    let hmac_key = eab["hmac_key"].as_str().unwrap();
    let decoded = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, hmac_key).unwrap();
    assert_eq!(decoded.len(), 32);
    assert_eq!(
        app.scalar_i64(&format!(
            "SELECT count(*) FROM acme_eab_keys WHERE kid = '{}' AND position(decode('{}', 'hex') in key_ciphertext) = 0",
            eab["kid"].as_str().unwrap(),
            hex::encode(&decoded)
        ))
        .await,
        1,
        "the key is stored sealed"
    );
    let (_, list) = app.get("/api/v1/acme-endpoints", &app.admin_key).await;
    assert_eq!(list["total"], 1);
    assert!(!list.to_string().contains(hmac_key));
    for action in ["acme_endpoint.create", "acme_eab_key.create"] {
        assert_eq!(
            app.scalar_i64(&format!(
                "SELECT count(*) FROM audit_events WHERE action = '{action}' AND actor = 'bootstrap-admin'"
            ))
            .await,
            1,
            "{action}"
        );
    }

    // Disabled: no more keys, and its name and label are free again.
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/acme-endpoints/{endpoint}"),
            Some(&app.admin_key),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app
        .post(
            &format!("/api/v1/acme-endpoints/{endpoint}/eab-keys"),
            &app.admin_key,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        app.post("/api/v1/acme-endpoints", &app.admin_key, body).await.0,
        StatusCode::CREATED
    );
}

/// ACME with the real clients: lego and certbot (Debian's), against the api-server's TLS
/// listener, validating on loopback ports the test picks (names under `.test` are pinned to
/// 127.0.0.1 with `CERTCTL_ACME_RESOLVE`).
mod clients {
    use std::path::{Path, PathBuf};

    use reqwest::StatusCode;
    use serde_json::{Value, json};

    use crate::helpers::{TestApp, id, openssl, pkilint, tempdir, tls_app};

    /// A free loopback port for a client's challenge server.
    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    /// Runs a client on a blocking thread (the server runs on this test's runtime).
    pub async fn run(program: &str, args: Vec<String>, env: Vec<(String, String)>) -> (bool, String) {
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

    /// An api-server over TLS validating http-01 on `http_port` and tls-alpn-01 on `tls_port`,
    /// with an ACME endpoint `label` (`extra` adds to its JSON) under a fresh issuer and profile.
    pub struct AcmeApp {
        pub app: TestApp,
        pub dir: PathBuf,
        pub directory: String,
        pub http_port: u16,
        pub tls_port: u16,
        pub issuer: String,
        pub endpoint: String,
    }

    pub async fn acme_app(profile_extra: Value, endpoint_extra: Value, env: &[(&str, &str)]) -> AcmeApp {
        let dir = tempdir();
        let (http_port, tls_port) = (free_port(), free_port());
        let (hp, tp) = (http_port.to_string(), tls_port.to_string());
        let mut vars = vec![
            ("CERTCTL_ACME_HTTP_PORT", hp.as_str()),
            ("CERTCTL_ACME_TLS_ALPN_PORT", tp.as_str()),
            ("CERTCTL_ACME_RESOLVE", "*.test=127.0.0.1"),
        ];
        vars.extend_from_slice(env);
        let (app, https) = tls_app(&dir, &vars).await;
        let issuer = id(&app.issuer("acme-root", "ecdsa-p256").await);
        let mut profile = json!({ "name": "acme-web", "max_ttl_seconds": 30 * 86400,
                                  "allowed_key_algorithms": ["ecdsa-p256", "ecdsa-p384", "rsa-2048"],
                                  "ekus": ["server_auth"] });
        merge(&mut profile, profile_extra);
        let profile = id(&app.profile(profile).await);
        let mut body = json!({ "name": "web", "label": "web", "issuer_id": issuer, "profile_id": profile,
                               "allow_private_targets": true });
        merge(&mut body, endpoint_extra);
        let (s, v) = app.post("/api/v1/acme-endpoints", &app.admin_key, body).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        AcmeApp {
            directory: format!("{https}/acme/web/directory"),
            endpoint: id(&v),
            app,
            dir,
            http_port,
            tls_port,
            issuer,
        }
    }

    fn merge(into: &mut Value, extra: Value) {
        if let (Some(into), Value::Object(extra)) = (into.as_object_mut(), extra) {
            into.extend(extra);
        }
    }

    impl AcmeApp {
        /// lego with this server, our CA bundle and its own state under `dir/lego`.
        pub async fn lego(&self, args: &[&str]) -> (bool, String) {
            let mut all: Vec<String> = vec![
                "--accept-tos".into(),
                "--email".into(),
                "ops@example.test".into(),
                "--server".into(),
                self.directory.clone(),
                "--path".into(),
                self.dir.join("lego").display().to_string(),
            ];
            all.extend(args.iter().map(|a| (*a).to_owned()));
            let env = vec![(
                "LEGO_CA_CERTIFICATES".into(),
                self.dir.join("tls.crt").display().to_string(),
            )];
            run("lego", all, env).await
        }

        pub fn lego_cert(&self, name: &str) -> String {
            std::fs::read_to_string(self.dir.join("lego/certificates").join(format!("{name}.crt")))
                .unwrap_or_else(|e| panic!("lego wrote no certificate for {name}: {e}"))
        }

        /// The issuing CA's certificate, written to `dir/ca.pem`.
        pub async fn ca_file(&self) -> String {
            let (s, v) = self
                .app
                .get(&format!("/api/v1/issuers/{}", self.issuer), &self.app.admin_key)
                .await;
            assert_eq!(s, StatusCode::OK, "{v}");
            crate::helpers::write(&self.dir, "ca.pem", v["certificate_pem"].as_str().unwrap())
        }
    }

    /// The leaf of a PEM chain, written to `dir/name`, checked by OpenSSL against the CA and by pkilint.
    pub async fn judge(acme: &AcmeApp, chain: &str, name: &str) -> String {
        let leaf: String = chain
            .split_inclusive("-----END CERTIFICATE-----\n")
            .next()
            .unwrap()
            .to_owned();
        let file = crate::helpers::write(&acme.dir, name, &leaf);
        let ca = acme.ca_file().await;
        let (ok, out) = openssl(&["verify", "-CAfile", &ca, "-purpose", "sslserver", &file]);
        assert!(ok, "{out}");
        pkilint("lint_pkix_cert", &[], &file);
        file
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lego_gets_a_certificate_over_http_01_and_it_is_in_the_inventory_as_acme() {
        let acme = acme_app(json!({}), json!({}), &[]).await;
        let port = format!("127.0.0.1:{}", acme.http_port);
        let (ok, out) = acme
            .lego(&[
                "--domains",
                "a.test",
                "--domains",
                "b.test",
                "--http",
                "--http.port",
                &port,
                "run",
            ])
            .await;
        assert!(ok, "lego failed:\n{out}");
        let chain = acme.lego_cert("a.test");
        let file = judge(&acme, &chain, "lego-http.pem").await;
        let (_, text) = openssl(&["x509", "-in", &file, "-noout", "-ext", "subjectAltName"]);
        assert!(text.contains("DNS:a.test") && text.contains("DNS:b.test"), "{text}");
        let source = acme
            .app
            .scalar_text("SELECT source || ' ' || requested_by FROM certificates WHERE common_name = 'a.test'")
            .await;
        assert!(source.starts_with("acme acme:web/"), "{source}");
        let _ = (Path::new("."), &acme.endpoint);
    }
}

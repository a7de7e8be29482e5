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

    use crate::helpers::{TestApp, id, ocsp_until_revoked, openssl, pkilint, run_program, tempdir, tls_app};

    /// A free loopback port for a client's challenge server.
    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
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
            self.lego_env(args, &[]).await
        }

        pub async fn lego_env(&self, args: &[&str], extra_env: &[(&str, &str)]) -> (bool, String) {
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
            let mut env = vec![(
                "LEGO_CA_CERTIFICATES".to_owned(),
                self.dir.join("tls.crt").display().to_string(),
            )];
            env.extend(extra_env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
            run_program("lego", all, env).await
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
        let file = verify(acme, chain, name).await;
        pkilint("lint_pkix_cert", &[], &file);
        file
    }

    /// The leaf of a PEM chain, written to `dir/name`, checked by OpenSSL against the CA.
    async fn verify(acme: &AcmeApp, chain: &str, name: &str) -> String {
        let leaf: String = chain
            .split_inclusive("-----END CERTIFICATE-----\n")
            .next()
            .unwrap()
            .to_owned();
        let file = crate::helpers::write(&acme.dir, name, &leaf);
        let ca = acme.ca_file().await;
        let (ok, out) = openssl(&["verify", "-CAfile", &ca, "-purpose", "sslserver", &file]);
        assert!(ok, "{out}");
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
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lego_proves_control_with_tls_alpn_01() {
        // (lego 4.9 sends IP addresses as dns identifiers, so IP identifiers are tested at the
        // protocol level, in acme_protocol.)
        let acme = acme_app(json!({}), json!({}), &[]).await;
        let port = format!("127.0.0.1:{}", acme.tls_port);
        let (ok, out) = acme
            .lego(&[
                "--domains",
                "t.test",
                "--domains",
                "u.test",
                "--tls",
                "--tls.port",
                &port,
                "run",
            ])
            .await;
        assert!(ok, "lego failed:\n{out}");
        let file = judge(&acme, &acme.lego_cert("t.test"), "lego-alpn.pem").await;
        let (_, text) = openssl(&["x509", "-in", &file, "-noout", "-ext", "subjectAltName"]);
        assert!(text.contains("DNS:t.test") && text.contains("DNS:u.test"), "{text}");
        let kinds = acme
            .app
            .scalar_text("SELECT string_agg(DISTINCT type, ',') FROM acme_challenges WHERE status = 'valid'")
            .await;
        assert_eq!(kinds, "tls-alpn-01");
    }

    /// The test kit's authoritative DNS server (`scripts/acme/dns-server.py`) on a free port,
    /// serving the TXT records lego's `exec` hook writes under `dir/dns`.
    struct DnsServer {
        child: std::process::Child,
        port: u16,
        records: PathBuf,
    }

    impl DnsServer {
        fn start(dir: &Path) -> DnsServer {
            use std::io::BufRead;
            let records = dir.join("dns");
            std::fs::create_dir_all(&records).unwrap();
            let port = free_port();
            let mut child = std::process::Command::new("python3")
                .arg(scripts().join("dns-server.py"))
                .args(["--listen", "127.0.0.1", "--port", &port.to_string(), "--records"])
                .arg(&records)
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let mut line = String::new();
            std::io::BufReader::new(child.stdout.take().unwrap())
                .read_line(&mut line)
                .unwrap();
            assert_eq!(line.trim(), "ready", "the DNS server did not start");
            DnsServer { child, port, records }
        }
    }

    impl Drop for DnsServer {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn scripts() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/acme")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lego_proves_a_wildcard_with_dns_01_through_a_local_dns_server() {
        let dir = tempdir();
        let dns = DnsServer::start(&dir);
        let resolver = format!("127.0.0.1:{}", dns.port);
        let acme = acme_app(
            json!({ "san_rules": { "allow_wildcards": true } }),
            json!({}),
            &[("CERTCTL_ACME_DNS_RESOLVER", resolver.as_str())],
        )
        .await;
        let all: Vec<String> = [
            "--domains",
            "*.w.test",
            "--domains",
            "w.test",
            "--dns",
            "exec",
            "--dns.resolvers",
            &resolver,
            "--dns.disable-cp",
            "run",
        ]
        .iter()
        .map(|a| (*a).to_owned())
        .collect();
        let args: Vec<&str> = all.iter().map(String::as_str).collect();
        let hook = scripts().join("lego-dns-exec.sh").display().to_string();
        let records = dns.records.display().to_string();
        let (ok, out) = acme
            .lego_env(
                &args,
                &[
                    ("EXEC_PATH", hook.as_str()),
                    ("CERTCTL_TEST_DNS_RECORDS", records.as_str()),
                    // lego solves the names of one zone a minute apart unless told otherwise.
                    ("EXEC_SEQUENCE_INTERVAL", "1"),
                    ("EXEC_POLLING_INTERVAL", "1"),
                ],
            )
            .await;
        assert!(ok, "lego failed:\n{out}");
        // OpenSSL only: pkilint's RFC 5280 linter reads `*.w.test` as an invalid DNS name (wildcards
        // are RFC 6125's, which its CA/Browser Forum linters check, with their public-web rules).
        let file = verify(&acme, &acme.lego_cert("_.w.test"), "lego-dns.pem").await;
        let (_, text) = openssl(&["x509", "-in", &file, "-noout", "-ext", "subjectAltName"]);
        assert!(text.contains("DNS:*.w.test") && text.contains("DNS:w.test"), "{text}");
        let kinds = acme
            .app
            .scalar_text("SELECT string_agg(DISTINCT type, ',') FROM acme_challenges WHERE status = 'valid'")
            .await;
        assert_eq!(kinds, "dns-01");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lego_needs_an_eab_key_where_the_endpoint_requires_one_then_renews() {
        let acme = acme_app(json!({}), json!({ "eab_required": true }), &[]).await;
        let port = format!("127.0.0.1:{}", acme.http_port);
        let (ok, out) = acme
            .lego(&["--domains", "e.test", "--http", "--http.port", &port, "run"])
            .await;
        assert!(!ok, "lego registered without EAB:\n{out}");
        // lego reads externalAccountRequired from the directory's meta and stops before asking.
        assert!(out.contains("External Account Binding"), "{out}");
        let (s, key) = acme
            .app
            .post(
                &format!("/api/v1/acme-endpoints/{}/eab-keys", acme.endpoint),
                &acme.app.admin_key,
                json!({}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{key}");
        let (kid, hmac) = (key["kid"].as_str().unwrap(), key["hmac_key"].as_str().unwrap());
        let (ok, out) = acme
            .lego(&[
                "--eab",
                "--kid",
                kid,
                "--hmac",
                hmac,
                "--domains",
                "e.test",
                "--http",
                "--http.port",
                &port,
                "run",
            ])
            .await;
        assert!(ok, "lego failed with EAB:\n{out}");
        judge(&acme, &acme.lego_cert("e.test"), "lego-eab.pem").await;
        // A 30-day certificate is within 45 days of expiry: `renew --days 45` renews it.
        let (ok, out) = acme
            .lego(&[
                "--eab",
                "--kid",
                kid,
                "--hmac",
                hmac,
                "--domains",
                "e.test",
                "--http",
                "--http.port",
                &port,
                "renew",
                "--days",
                "45",
                "--no-random-sleep",
            ])
            .await;
        assert!(ok, "lego renew failed:\n{out}");
        judge(&acme, &acme.lego_cert("e.test"), "lego-eab-renewed.pem").await;
        let count = acme
            .app
            .scalar_text("SELECT count(*)::text FROM certificates WHERE common_name = 'e.test' AND source = 'acme'")
            .await;
        assert_eq!(count, "2");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn certbot_issues_renews_and_revokes_and_the_responder_says_revoked() {
        let acme = acme_app(json!({}), json!({}), &[]).await;
        let d = acme.dir.join("certbot");
        let dirs: Vec<String> = ["--config-dir", "c", "--work-dir", "w", "--logs-dir", "l"]
            .chunks(2)
            .flat_map(|p| [p[0].to_owned(), d.join(p[1]).display().to_string()])
            .collect();
        let env = vec![(
            "REQUESTS_CA_BUNDLE".to_owned(),
            acme.dir.join("tls.crt").display().to_string(),
        )];
        let certbot = |args: Vec<String>| {
            let mut all = args;
            all.extend(dirs.clone());
            all.extend([
                "--non-interactive".to_owned(),
                "--server".to_owned(),
                acme.directory.clone(),
            ]);
            run_program("certbot", all, env.clone())
        };
        let port = acme.http_port.to_string();
        let args: Vec<String> = [
            "certonly",
            "--standalone",
            "--agree-tos",
            "-m",
            "ops@example.test",
            "--http-01-address",
            "127.0.0.1",
            "--http-01-port",
            &port,
            "-d",
            "c.test",
            "-d",
            "d.test",
        ]
        .iter()
        .map(|a| (*a).to_owned())
        .collect();
        let (ok, out) = certbot(args).await;
        assert!(ok, "certbot certonly failed:\n{out}");
        let live = d.join("c/live/c.test");
        let first = std::fs::read_to_string(live.join("fullchain.pem")).unwrap();
        judge(&acme, &first, "certbot-1.pem").await;

        let (ok, out) = certbot(vec![
            "renew".into(),
            "--force-renewal".into(),
            "--no-random-sleep-on-renew".into(),
        ])
        .await;
        assert!(ok, "certbot renew failed:\n{out}");
        let renewed = std::fs::read_to_string(live.join("fullchain.pem")).unwrap();
        assert_ne!(renewed, first, "renewed");
        let leaf = judge(&acme, &renewed, "certbot-2.pem").await;

        // Revoked by certbot (with the account key); the OCSP responder says so.
        let worker = acme.app.worker(&[]).await;
        acme.app
            .wait_published(&acme.issuer, std::time::Duration::from_secs(10))
            .await;
        let responder = acme.app.responder().await;
        let cert_path = live.join("cert.pem").display().to_string();
        let (ok, out) = certbot(vec![
            "revoke".into(),
            "--cert-path".into(),
            cert_path,
            "--reason".into(),
            "superseded".into(),
            "--no-delete-after-revoke".into(),
        ])
        .await;
        assert!(ok, "certbot revoke failed:\n{out}");
        let ca = acme.ca_file().await;
        let status = ocsp_until_revoked(&responder.ocsp_url(&acme.issuer), &ca, &leaf).await;
        assert!(status.contains(": revoked"), "{status}");
        let sources = acme
            .app
            .scalar_text("SELECT string_agg(status || '/' || source, ',' ORDER BY created_at) FROM certificates WHERE common_name = 'c.test'")
            .await;
        assert_eq!(sources, "active/acme,revoked/acme");
        responder.stop().await;
        worker.stop().await;
    }
}

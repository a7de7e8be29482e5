//! The ACME server at the protocol level, with a small client written here (ES256 account keys
//! from ring, CSRs from rcgen): every refusal RFC 8555 names comes back as its problem type, never
//! a 500; the approval gate, ARI and `replaces`, key rollover, deactivation, rate limits and the
//! SSRF guard. The real clients (lego, certbot) are in `acme::clients`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

use crate::helpers::{TestApp, id};

/// An ES256 ACME client.
pub struct Client {
    http: reqwest::Client,
    pub dir: Value,
    key: EcdsaKeyPair,
    pub kid: Option<String>,
    nonce: Option<String>,
}

/// An answer: status, headers and body (JSON when it parses, else a string).
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn problem(&self) -> &str {
        self.body["type"]
            .as_str()
            .unwrap_or("")
            .trim_start_matches("urn:ietf:params:acme:error:")
    }

    pub fn location(&self) -> String {
        self.headers["location"].to_str().unwrap().to_owned()
    }
}

fn new_key() -> EcdsaKeyPair {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap()
}

fn jwk_of(key: &EcdsaKeyPair) -> Value {
    let point = key.public_key().as_ref();
    json!({ "crv": "P-256", "kty": "EC", "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65]) })
}

fn sign(key: &EcdsaKeyPair, protected: &Value, payload: &str) -> Value {
    let protected = B64.encode(protected.to_string());
    let sig = key
        .sign(&SystemRandom::new(), format!("{protected}.{payload}").as_bytes())
        .unwrap();
    json!({ "protected": protected, "payload": payload, "signature": B64.encode(sig.as_ref()) })
}

impl Client {
    pub async fn new(http: reqwest::Client, directory: &str) -> Self {
        let dir: Value = http.get(directory).send().await.unwrap().json().await.unwrap();
        Client {
            http,
            dir,
            key: new_key(),
            kid: None,
            nonce: None,
        }
    }

    pub fn url(&self, name: &str) -> String {
        self.dir[name].as_str().unwrap().to_owned()
    }

    pub fn jwk(&self) -> Value {
        jwk_of(&self.key)
    }

    /// RFC 7638 thumbprint of the account key.
    pub fn thumbprint(&self) -> String {
        let jwk = self.jwk();
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk["x"].as_str().unwrap(),
            jwk["y"].as_str().unwrap()
        );
        B64.encode(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()))
    }

    pub async fn fresh_nonce(&mut self) -> String {
        if let Some(n) = self.nonce.take() {
            return n;
        }
        let resp = self.http.head(self.url("newNonce")).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        resp.headers()["replay-nonce"].to_str().unwrap().to_owned()
    }

    /// POSTs a JWS with the given protected header and payload (base64url, `""` for POST-as-GET).
    pub async fn send(&mut self, url: &str, body: Vec<u8>, content_type: &str) -> Answer {
        let resp = self
            .http
            .post(url)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        if let Some(n) = headers.get("replay-nonce") {
            self.nonce = Some(n.to_str().unwrap().to_owned());
        }
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        assert!(!status.is_server_error(), "{url}: {status} {body}");
        Answer { status, headers, body }
    }

    /// A request signed by the account (`kid`) or, before there is one, by the key (`jwk`).
    pub async fn post(&mut self, url: &str, payload: Option<Value>) -> Answer {
        let nonce = self.fresh_nonce().await;
        let mut protected = json!({ "alg": "ES256", "nonce": nonce, "url": url });
        match &self.kid {
            Some(kid) => protected["kid"] = json!(kid),
            None => protected["jwk"] = self.jwk(),
        }
        let payload = payload.map(|p| B64.encode(p.to_string())).unwrap_or_default();
        let jws = sign(&self.key, &protected, &payload);
        self.send(url, jws.to_string().into_bytes(), "application/jose+json")
            .await
    }

    /// Signs `protected` (completed with a fresh nonce unless it has one) over `payload`.
    pub async fn post_with(&mut self, url: &str, mut protected: Value, payload: &str) -> Answer {
        if protected.get("nonce").is_none() {
            protected["nonce"] = json!(self.fresh_nonce().await);
        }
        let jws = sign(&self.key, &protected, payload);
        self.send(url, jws.to_string().into_bytes(), "application/jose+json")
            .await
    }

    pub async fn register(&mut self, extra: Value) -> Answer {
        let mut payload = json!({ "termsOfServiceAgreed": true, "contact": ["mailto:ops@example.test"] });
        if let (Some(p), Value::Object(e)) = (payload.as_object_mut(), extra) {
            p.extend(e);
        }
        let a = self.post(&self.url("newAccount"), Some(payload)).await;
        if a.status == StatusCode::CREATED || a.status == StatusCode::OK {
            self.kid = Some(a.location());
        }
        a
    }

    pub async fn order(&mut self, names: &[&str]) -> Answer {
        let ids: Vec<Value> = names
            .iter()
            .map(|n| match n.parse::<std::net::IpAddr>() {
                Ok(_) => json!({ "type": "ip", "value": n }),
                Err(_) => json!({ "type": "dns", "value": n }),
            })
            .collect();
        self.post(&self.url("newOrder"), Some(json!({ "identifiers": ids })))
            .await
    }

    /// Answers every http-01 challenge of the order through `tokens`, and waits for it to be ready.
    pub async fn validate_http(&mut self, order: &Value, tokens: &Tokens) -> Value {
        for authz in order["authorizations"].as_array().unwrap() {
            let a = self.post(authz.as_str().unwrap(), None).await;
            let chall = a.body["challenges"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["type"] == "http-01")
                .unwrap()
                .clone();
            let token = chall["token"].as_str().unwrap().to_owned();
            tokens
                .lock()
                .unwrap()
                .insert(token.clone(), format!("{token}.{}", self.thumbprint()));
            let r = self.post(chall["url"].as_str().unwrap(), Some(json!({}))).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        }
        self.poll(order_url(order), &["ready", "invalid"]).await
    }

    /// POST-as-GETs `url` until its status is one of `until`.
    pub async fn poll(&mut self, url: String, until: &[&str]) -> Value {
        for _ in 0..100 {
            let a = self.post(&url, None).await;
            if until.iter().any(|s| a.body["status"] == *s) {
                return a.body;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{url} never reached {until:?}");
    }

    pub async fn finalize(&mut self, order: &Value, names: &[&str]) -> Answer {
        let csr = csr(names);
        self.post(
            order["finalize"].as_str().unwrap(),
            Some(json!({ "csr": B64.encode(csr) })),
        )
        .await
    }
}

/// The order's URL, from its finalize URL.
fn order_url(order: &Value) -> String {
    order["finalize"]
        .as_str()
        .unwrap()
        .trim_end_matches("/finalize")
        .to_owned()
}

/// A P-256 CSR for `names` (the first is also the common name).
pub fn csr(names: &[&str]) -> Vec<u8> {
    csr_with_key(names).0
}

/// A P-256 CSR for `names` and its key (PKCS#8 DER).
pub fn csr_with_key(names: &[&str]) -> (Vec<u8>, Vec<u8>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, names[0]);
    (
        params.serialize_request(&key).unwrap().der().to_vec(),
        key.serialize_der(),
    )
}

/// The key authorizations an http-01 server answers, by token.
pub type Tokens = Arc<Mutex<HashMap<String, String>>>;

/// An http-01 server on a loopback port, answering from `tokens`.
pub async fn http_01_server() -> (u16, Tokens) {
    let tokens: Tokens = Arc::default();
    let served = tokens.clone();
    let app = axum::Router::new().route(
        "/.well-known/acme-challenge/{token}",
        axum::routing::get(move |axum::extract::Path(token): axum::extract::Path<String>| {
            let served = served.clone();
            async move {
                match served.lock().unwrap().get(&token) {
                    Some(ka) => (StatusCode::OK, ka.clone()),
                    None => (StatusCode::NOT_FOUND, String::new()),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokens.lock().unwrap().insert("__port".into(), port.to_string());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (port, tokens)
}

/// A plain-HTTP api-server with an ACME endpoint `web` (settings merged from `extra`) whose
/// http-01 validation reaches the returned token server.
async fn acme_app(profile_extra: Value, extra: Value, env: &[(&str, &str)]) -> (TestApp, String, Tokens, String) {
    let (port, tokens) = http_01_server().await;
    let port = port.to_string();
    let mut vars = vec![
        ("CERTCTL_ACME_HTTP_PORT", port.as_str()),
        ("CERTCTL_ACME_RESOLVE", "*.test=127.0.0.1"),
    ];
    vars.extend_from_slice(env);
    let app = TestApp::spawn_with(&vars).await;
    let issuer = id(&app.issuer("acme-root", "ecdsa-p256").await);
    let mut profile = json!({ "name": "acme", "max_ttl_seconds": 30 * 86400,
                              "allowed_key_algorithms": ["ecdsa-p256"], "ekus": ["server_auth"] });
    if let (Some(p), Value::Object(e)) = (profile.as_object_mut(), profile_extra) {
        p.extend(e);
    }
    let profile = id(&app.profile(profile).await);
    let mut body = json!({ "name": "web", "label": "web", "issuer_id": issuer, "profile_id": profile,
                           "allow_private_targets": true, "allowed_dns_suffixes": ["test"] });
    if let (Some(b), Value::Object(e)) = (body.as_object_mut(), extra) {
        b.extend(e);
    }
    let (s, v) = app.post("/api/v1/acme-endpoints", &app.admin_key, body).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let directory = format!("{}/acme/web/directory", app.base);
    (app, directory, tokens, id(&v))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_request_gets_its_acme_problem() {
    let (app, directory, tokens, endpoint) = acme_app(json!({}), json!({}), &[]).await;
    let mut c = Client::new(app.http.clone(), &directory).await;
    assert_eq!(c.dir["meta"]["externalAccountRequired"], false);

    // Content type, body size, JWS form.
    let url = c.url("newAccount");
    let a = c.send(&url, b"{}".to_vec(), "application/json").await;
    assert_eq!(
        (a.status, a.problem()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "malformed")
    );
    assert_eq!(a.headers["content-type"], "application/problem+json");
    assert!(a.headers.contains_key("replay-nonce"), "every answer carries a nonce");
    let a = c.send(&url, vec![b'x'; 200 * 1024], "application/jose+json").await;
    assert_eq!((a.status, a.problem()), (StatusCode::PAYLOAD_TOO_LARGE, "malformed"));
    let a = c.send(&url, b"not json".to_vec(), "application/jose+json").await;
    assert_eq!((a.status, a.problem()), (StatusCode::BAD_REQUEST, "malformed"));

    // Nonces: unknown, then reused.
    let jwk = c.jwk();
    let a = c
        .post_with(
            &url,
            json!({ "alg": "ES256", "nonce": "bm9ub25jZQ", "url": url, "jwk": jwk }),
            "",
        )
        .await;
    assert_eq!(a.problem(), "badNonce", "{}", a.body);
    let nonce = c.fresh_nonce().await;
    let payload = B64.encode(json!({ "termsOfServiceAgreed": true }).to_string());
    let a = c
        .post_with(
            &url,
            json!({ "alg": "ES256", "nonce": nonce, "url": url, "jwk": jwk }),
            &payload,
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let kid = a.location();
    let a = c
        .post_with(
            &url,
            json!({ "alg": "ES256", "nonce": nonce, "url": url, "jwk": jwk }),
            &payload,
        )
        .await;
    assert_eq!(a.problem(), "badNonce", "a nonce is used once");

    // The url must be the request's; the algorithm must be supported and match the key.
    let a = c
        .post_with(
            &url,
            json!({ "alg": "ES256", "url": c.url("newOrder"), "jwk": jwk }),
            &payload,
        )
        .await;
    assert_eq!(a.problem(), "unauthorized", "{}", a.body);
    let a = c
        .post_with(&url, json!({ "alg": "HS256", "url": url, "jwk": jwk }), &payload)
        .await;
    assert_eq!(a.problem(), "badSignatureAlgorithm", "{}", a.body);
    assert!(
        a.body["algorithms"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("ES256")))
    );
    let a = c
        .post_with(&url, json!({ "alg": "RS256", "url": url, "jwk": jwk }), &payload)
        .await;
    assert_eq!(a.problem(), "badSignatureAlgorithm", "{}", a.body);
    let a = c
        .post_with(
            &url,
            json!({ "alg": "ES256", "url": url, "jwk": jwk, "kid": kid }),
            &payload,
        )
        .await;
    assert_eq!(a.problem(), "malformed", "jwk and kid together: {}", a.body);

    // The same key registered again gets its account back; onlyReturnExisting with a new key fails.
    let a = c.register(json!({})).await;
    assert_eq!((a.status, a.location()), (StatusCode::OK, kid.clone()));
    let mut stranger = Client::new(app.http.clone(), &directory).await;
    let a = stranger.register(json!({ "onlyReturnExisting": true })).await;
    assert_eq!(a.problem(), "accountDoesNotExist");
    let a = stranger.register(json!({ "contact": ["tel:+1555"] })).await;
    assert_eq!(a.problem(), "unsupportedContact");
    // A kid that is no account of this endpoint.
    stranger.kid = Some(format!("{}/acme/web/account/{}", app.base, uuid::Uuid::now_v7()));
    let a = stranger.order(&["a.test"]).await;
    assert_eq!(a.problem(), "accountDoesNotExist", "{}", a.body);

    // Orders: identifiers outside the endpoint's and profile's rules; unsupported types.
    let a = c.order(&["a.example.org"]).await;
    assert_eq!(a.problem(), "rejectedIdentifier", "{}", a.body);
    let a = c.order(&["*.a.test"]).await;
    assert_eq!(
        a.problem(),
        "rejectedIdentifier",
        "the profile allows no wildcards: {}",
        a.body
    );
    let a = c.order(&["127.0.0.1"]).await;
    assert_eq!(a.problem(), "rejectedIdentifier", "nor IP addresses: {}", a.body);
    let a = c
        .post(
            &c.url("newOrder"),
            Some(json!({ "identifiers": [{ "type": "email", "value": "a@b.test" }] })),
        )
        .await;
    assert_eq!(a.problem(), "unsupportedIdentifier");
    let a = c.post(&c.url("newOrder"), Some(json!({ "identifiers": [] }))).await;
    assert_eq!(a.problem(), "malformed");

    // Finalize before ready, then a CSR that does not match, then a broken one.
    let a = c.order(&["a.test", "b.test"]).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let order = a.body.clone();
    assert_eq!(order["authorizations"].as_array().unwrap().len(), 2);
    let f = c.finalize(&order, &["a.test", "b.test"]).await;
    assert_eq!((f.status, f.problem()), (StatusCode::FORBIDDEN, "orderNotReady"));
    let ready = c.validate_http(&order, &tokens).await;
    assert_eq!(ready["status"], "ready", "{ready}");
    let f = c.finalize(&order, &["a.test"]).await;
    assert_eq!(f.problem(), "badCSR", "{}", f.body);
    let f = c.finalize(&order, &["a.test", "b.test", "c.test"]).await;
    assert_eq!(f.problem(), "badCSR", "{}", f.body);
    let f = c
        .post(
            order["finalize"].as_str().unwrap(),
            Some(json!({ "csr": B64.encode(b"garbage") })),
        )
        .await;
    assert_eq!(f.problem(), "badCSR", "{}", f.body);
    let f = c.finalize(&order, &["b.test", "a.test"]).await;
    assert_eq!(f.status, StatusCode::OK, "{}", f.body);
    assert_eq!(f.body["status"], "valid");

    // Another account cannot read the order or download its certificate.
    let mut other = Client::new(app.http.clone(), &directory).await;
    assert_eq!(other.register(json!({})).await.status, StatusCode::CREATED);
    let order_url = order_url(&order);
    let a = other.post(&order_url, None).await;
    assert_eq!(a.problem(), "unauthorized");
    let cert_url = f.body["certificate"].as_str().unwrap().to_owned();
    assert_eq!(other.post(&cert_url, None).await.status, StatusCode::NOT_FOUND);
    let a = c.post(&cert_url, None).await;
    assert_eq!(a.headers["content-type"], "application/pem-certificate-chain");
    assert_eq!(a.body.as_str().unwrap().matches("BEGIN CERTIFICATE").count(), 2);

    // The account's orders list holds the order.
    let account = c.post(&kid, None).await;
    let orders = c.post(account.body["orders"].as_str().unwrap(), None).await;
    assert!(orders.body["orders"].as_array().unwrap().contains(&json!(order_url)));

    // Revocation: by another account refused, bad reason refused, by the owner done, twice refused.
    let cert_der = {
        let pem = a.body.as_str().unwrap();
        let b64: String = pem
            .lines()
            .skip_while(|l| !l.starts_with("-----BEGIN"))
            .skip(1)
            .take_while(|l| !l.starts_with("-----END"))
            .collect();
        base64::engine::general_purpose::STANDARD.decode(b64).unwrap()
    };
    let revoke = c.url("revokeCert");
    let body = json!({ "certificate": B64.encode(&cert_der) });
    assert_eq!(other.post(&revoke, Some(body.clone())).await.problem(), "unauthorized");
    let a = c
        .post(
            &revoke,
            Some(json!({ "certificate": B64.encode(&cert_der), "reason": 7 })),
        )
        .await;
    assert_eq!(a.problem(), "badRevocationReason");
    assert_eq!(c.post(&revoke, Some(body.clone())).await.status, StatusCode::OK);
    assert_eq!(c.post(&revoke, Some(body)).await.problem(), "alreadyRevoked");

    // Deactivation: the account can no longer act.
    let a = c.post(&kid, Some(json!({ "status": "deactivated" }))).await;
    assert_eq!(a.body["status"], "deactivated");
    let refused = c.order(&["a.test"]).await;
    assert_eq!(
        (refused.status, refused.problem()),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    let kid_kept = c.kid.take();
    let again = c.register(json!({ "onlyReturnExisting": true })).await;
    assert_eq!(
        (again.status, again.problem()),
        (StatusCode::UNAUTHORIZED, "unauthorized"),
        "{}",
        again.body
    );
    c.kid = kid_kept;
    // Unknown ACME paths and methods are ACME problems too.
    let unknown = app
        .http
        .get(format!("{}/acme/web/nope", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert!(unknown.headers().contains_key("replay-nonce"));
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["type"], "urn:ietf:params:acme:error:malformed");
    let wrong = app.http.get(c.url("newOrder")).send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::METHOD_NOT_ALLOWED);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body["type"], "urn:ietf:params:acme:error:malformed");

    // Operators see the accounts and their orders through the REST API (read-only).
    let (s, accounts) = app
        .get(
            &format!("/api/v1/acme-endpoints/{endpoint}/accounts?limit=1"),
            &app.admin_key,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{accounts}");
    assert_eq!(accounts["total"], 2);
    let cursor = accounts["next_cursor"].as_str().unwrap().to_owned();
    let (_, rest) = app
        .get(
            &format!("/api/v1/acme-endpoints/{endpoint}/accounts?limit=1&cursor={cursor}"),
            &app.admin_key,
        )
        .await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    let account_id = kid.rsplit('/').next().unwrap();
    let (_, account) = app
        .get(&format!("/api/v1/acme-accounts/{account_id}"), &app.admin_key)
        .await;
    assert_eq!(account["status"], "deactivated");
    assert_eq!(account["actor"], format!("acme:web/{account_id}"));
    let (_, orders) = app
        .get(&format!("/api/v1/acme-accounts/{account_id}/orders"), &app.admin_key)
        .await;
    assert_eq!(orders["total"], 1, "{orders}");
    assert_eq!(orders["data"][0]["status"], "valid");
    assert_eq!(
        orders["data"][0]["identifiers"][0],
        json!({ "type": "dns", "value": "a.test" })
    );
    assert!(orders["data"][0]["certificate_id"].is_string());
    let (s, bad) = app
        .get(
            &format!("/api/v1/acme-accounts/{account_id}/orders?cursor=nope"),
            &app.admin_key,
        )
        .await;
    assert_eq!(
        (s, bad["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_cursor"))
    );

    // Audit: the account's actions under its actor, the certificate with source acme.
    let actor = format!("acme:web/{}", kid.rsplit('/').next().unwrap());
    let actions = app
        .scalar_text(&format!(
            "SELECT string_agg(action, ',' ORDER BY id) FROM audit_events WHERE actor = '{actor}'"
        ))
        .await;
    for action in [
        "acme_account.create",
        "acme_order.create",
        "certificate.issue",
        "certificate.revoke",
        "acme_account.deactivate",
    ] {
        assert!(actions.contains(action), "{action} missing from {actions}");
    }
}

/// An External Account Binding (RFC 8555 §7.3.4): HS256 over the account key, by `kid`.
fn eab(kid: &str, hmac_key_b64: &str, url: &str, jwk: &Value) -> Value {
    let key = B64.decode(hmac_key_b64).unwrap();
    let protected = B64.encode(json!({ "alg": "HS256", "kid": kid, "url": url }).to_string());
    let payload = B64.encode(jwk.to_string());
    let tag = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key),
        format!("{protected}.{payload}").as_bytes(),
    );
    json!({ "protected": protected, "payload": payload, "signature": B64.encode(tag.as_ref()) })
}

/// The RFC 9773 identifier of a PEM certificate: base64url(AKI key id) "." base64url(serial).
fn ari_cert_id(pem: &str) -> String {
    let der = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap().1.contents;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    let aki = cert
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            x509_parser::extensions::ParsedExtension::AuthorityKeyIdentifier(a) => a.key_identifier.clone(),
            _ => None,
        })
        .unwrap();
    format!("{}.{}", B64.encode(aki.0), B64.encode(cert.raw_serial()))
}

/// Issues a certificate for `names` through `c` and returns (order, certificate PEM chain).
async fn issue(c: &mut Client, tokens: &Tokens, names: &[&str], replaces: Option<&str>) -> (Value, String) {
    let ids: Vec<Value> = names.iter().map(|n| json!({ "type": "dns", "value": n })).collect();
    let mut payload = json!({ "identifiers": ids });
    if let Some(r) = replaces {
        payload["replaces"] = json!(r);
    }
    let a = c.post(&c.url("newOrder"), Some(payload)).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let order = a.body.clone();
    assert_eq!(c.validate_http(&order, tokens).await["status"], "ready");
    let f = c.finalize(&order, names).await;
    assert_eq!(f.body["status"], "valid", "{}", f.body);
    let pem = c.post(f.body["certificate"].as_str().unwrap(), None).await;
    (f.body, pem.body.as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eab_accounts_wait_for_an_approver_other_than_the_person_who_issued_their_key() {
    let (app, directory, tokens, endpoint) = acme_app(
        json!({ "requires_approval": true }),
        json!({ "eab_required": true }),
        &[],
    )
    .await;
    let mut c = Client::new(app.http.clone(), &directory).await;
    assert_eq!(c.dir["meta"]["externalAccountRequired"], true);
    assert_eq!(c.register(json!({})).await.problem(), "externalAccountRequired");
    let (s, key) = app
        .post(
            &format!("/api/v1/acme-endpoints/{endpoint}/eab-keys"),
            &app.admin_key,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{key}");
    let (kid, hmac) = (key["kid"].as_str().unwrap(), key["hmac_key"].as_str().unwrap());
    // A binding MACed with another key, or over another account key, is refused.
    let url = c.url("newAccount");
    let wrong = eab(kid, &B64.encode([7u8; 32]), &url, &c.jwk());
    assert_eq!(
        c.register(json!({ "externalAccountBinding": wrong })).await.problem(),
        "unauthorized"
    );
    let other_key = jwk_of(&new_key());
    let mismatched = eab(kid, hmac, &url, &other_key);
    assert_eq!(
        c.register(json!({ "externalAccountBinding": mismatched }))
            .await
            .problem(),
        "malformed"
    );
    let binding = eab(kid, hmac, &url, &c.jwk());
    let a = c.register(json!({ "externalAccountBinding": binding })).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    // The key binds one account only.
    let mut second = Client::new(app.http.clone(), &directory).await;
    let binding = eab(kid, hmac, &url, &second.jwk());
    assert_eq!(
        second
            .register(json!({ "externalAccountBinding": binding }))
            .await
            .problem(),
        "unauthorized"
    );

    // Finalized under a profile that requires approval: processing, with Retry-After.
    let a = c.order(&["app.test"]).await;
    let order = a.body.clone();
    c.validate_http(&order, &tokens).await;
    let f = c.finalize(&order, &["app.test"]).await;
    assert_eq!(f.body["status"], "processing", "{}", f.body);
    assert!(f.headers.contains_key("retry-after"));
    let job = app
        .scalar_text("SELECT id::text FROM jobs WHERE status = 'awaiting_approval'")
        .await;
    // The admin who issued the EAB key speaks for the account: someone else must approve.
    let (s, v) = app
        .post(&format!("/api/v1/jobs/{job}/approve"), &app.admin_key, json!({}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let bob = app.key("bob", "admin").await;
    let (s, v) = app.post(&format!("/api/v1/jobs/{job}/approve"), &bob, json!({})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let done = c.poll(order_url(&order), &["valid", "invalid"]).await;
    assert_eq!(done["status"], "valid", "{done}");
    let pem = c.post(done["certificate"].as_str().unwrap(), None).await;
    assert!(pem.body.as_str().unwrap().contains("BEGIN CERTIFICATE"));
    let source = app
        .scalar_text("SELECT source || ' ' || requested_by FROM certificates WHERE common_name = 'app.test'")
        .await;
    assert!(source.starts_with("acme acme:web/"), "{source}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewal_information_and_replaces_follow_the_certificate() {
    let (app, directory, tokens, _) = acme_app(json!({}), json!({}), &[]).await;
    let mut c = Client::new(app.http.clone(), &directory).await;
    c.register(json!({})).await;
    let (_, pem) = issue(&mut c, &tokens, &["ari.test"], None).await;
    let cert_id = ari_cert_id(&pem);
    let info_url = format!("{}/{cert_id}", c.url("renewalInfo"));
    let info = app.http.get(&info_url).send().await.unwrap();
    assert_eq!(info.status(), StatusCode::OK);
    assert!(info.headers().contains_key("retry-after"));
    let info: Value = info.json().await.unwrap();
    let start: chrono::DateTime<chrono::Utc> = info["suggestedWindow"]["start"].as_str().unwrap().parse().unwrap();
    let end: chrono::DateTime<chrono::Utc> = info["suggestedWindow"]["end"].as_str().unwrap().parse().unwrap();
    let now = chrono::Utc::now();
    // 30-day certificate: renew from day 20 to day 25.
    assert!(
        start > now + chrono::Duration::days(19) && start < now + chrono::Duration::days(21),
        "{info}"
    );
    assert!(end > start);
    let unknown = app
        .http
        .get(format!("{}/AAAA.AQ", c.url("renewalInfo")))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);

    // An order that replaces it; a second replacement is refused; the old one is superseded.
    let (_, new_pem) = issue(&mut c, &tokens, &["ari.test"], Some(&cert_id)).await;
    assert_ne!(new_pem, pem);
    let a = c
        .post(
            &c.url("newOrder"),
            Some(json!({ "identifiers": [{ "type": "dns", "value": "ari.test" }], "replaces": cert_id })),
        )
        .await;
    assert_eq!(
        (a.status, a.problem()),
        (StatusCode::CONFLICT, "alreadyReplaced"),
        "{}",
        a.body
    );
    let statuses = app
        .scalar_text(
            "SELECT string_agg(status, ',' ORDER BY created_at) FROM certificates WHERE common_name = 'ari.test'",
        )
        .await;
    assert_eq!(statuses, "renewed,active");

    // Revoked for key compromise: renew now.
    let new_id = ari_cert_id(&new_pem);
    let der = x509_parser::pem::parse_x509_pem(new_pem.as_bytes()).unwrap().1.contents;
    let r = c
        .post(
            &c.url("revokeCert"),
            Some(json!({ "certificate": B64.encode(&der), "reason": 1 })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let info: Value = app
        .http
        .get(format!("{}/{new_id}", c.url("renewalInfo")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let end: chrono::DateTime<chrono::Utc> = info["suggestedWindow"]["end"].as_str().unwrap().parse().unwrap();
    assert!(end <= chrono::Utc::now(), "a revoked certificate is due now: {info}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rollover_moves_the_account_to_the_new_key() {
    let (app, directory, _, _) = acme_app(json!({}), json!({}), &[]).await;
    let mut c = Client::new(app.http.clone(), &directory).await;
    let kid = c.register(json!({})).await.location();
    let new = new_key();
    let url = c.url("keyChange");
    let inner_protected = B64.encode(json!({ "alg": "ES256", "jwk": jwk_of(&new), "url": url }).to_string());
    let inner_payload = B64.encode(json!({ "account": kid, "oldKey": c.jwk() }).to_string());
    let sig = new
        .sign(
            &SystemRandom::new(),
            format!("{inner_protected}.{inner_payload}").as_bytes(),
        )
        .unwrap();
    let inner =
        json!({ "protected": inner_protected, "payload": inner_payload, "signature": B64.encode(sig.as_ref()) });
    let a = c.post(&url, Some(inner)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    // The old key no longer signs for the account.
    assert_eq!(c.post(&kid, None).await.problem(), "malformed");
    c.key = new;
    assert_eq!(c.post(&kid, None).await.body["status"], "valid");
    let actions = app
        .scalar_text("SELECT count(*)::text FROM audit_events WHERE action = 'acme_account.key_change'")
        .await;
    assert_eq!(actions, "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_refuses_private_targets_unless_the_endpoint_allows_them() {
    let (app, directory, tokens, _) = acme_app(json!({}), json!({ "allow_private_targets": false }), &[]).await;
    let mut c = Client::new(app.http.clone(), &directory).await;
    c.register(json!({})).await;
    let order = c.order(&["private.test"]).await.body;
    let done = c.validate_http(&order, &tokens).await;
    assert_eq!(done["status"], "invalid", "{done}");
    assert!(done["error"]["detail"].as_str().unwrap().contains("loopback"), "{done}");
    let attempts = app.scalar_text("SELECT max(attempts)::text FROM acme_challenges").await;
    assert_eq!(attempts, "3", "retried, then invalid");
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"certctl_acme_validations_total{outcome="invalid",type="http-01"} 1"#),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_nonces_and_validate_each_challenge_once() {
    let (a, directory, tokens, _) = acme_app(json!({}), json!({}), &[]).await;
    // The second replica validates on the same http-01 server.
    let b = TestApp::spawn_on(
        a.db_url.clone(),
        a.admin_key.clone(),
        &[
            ("CERTCTL_ACME_RESOLVE", "*.test=127.0.0.1"),
            ("CERTCTL_ACME_HTTP_PORT", &tokens_port(&tokens)),
        ],
    )
    .await;
    let mut c = Client::new(a.http.clone(), &directory).await;
    c.register(json!({})).await;
    // Nonces from replica A used at replica B: the directory URLs point at A, so post to B by hand.
    let nonce = c.fresh_nonce().await;
    let b_url = c.url("newOrder").replace(&a.base, &b.base);
    let payload = B64.encode(json!({ "identifiers": [{ "type": "dns", "value": "r.test" }] }).to_string());
    let kid = c.kid.clone().unwrap();
    let r = c
        .post_with(
            &b_url,
            json!({ "alg": "ES256", "nonce": nonce, "url": b_url, "kid": kid.replace(&a.base, &b.base) }),
            &payload,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    // Several orders validated while both replicas run their validators.
    for i in 0..6 {
        let name = format!("n{i}.test");
        let order = c.order(&[name.as_str()]).await.body;
        assert_eq!(c.validate_http(&order, &tokens).await["status"], "ready");
    }
    let attempts = a
        .scalar_text("SELECT string_agg(DISTINCT attempts::text, ',') FROM acme_challenges WHERE status = 'valid'")
        .await;
    assert_eq!(attempts, "1", "each challenge validated by one replica, once");
    b.stop().await.unwrap();
}

/// The port of the http-01 server behind `tokens` (kept beside the tokens).
fn tokens_port(tokens: &Tokens) -> String {
    tokens.lock().unwrap().get("__port").cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_requests_from_one_address_are_rate_limited_and_counted() {
    let (app, directory, _, _) = acme_app(json!({}), json!({}), &[("CERTCTL_ACME_RATE_PER_IP", "5")]).await;
    let mut c = Client::new(app.http.clone(), &directory).await;
    let mut limited = None;
    for _ in 0..10 {
        let a = c.register(json!({})).await;
        if a.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(a);
            break;
        }
    }
    let a = limited.expect("the sixth request from one address is refused");
    assert_eq!(a.problem(), "rateLimited");
    assert!(a.headers.contains_key("retry-after"));
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"certctl_enrollment_rate_limited_total{protocol="acme",scope="ip"}"#),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_identifiers_are_validated_over_http_01_within_the_endpoints_ranges() {
    let (app, directory, tokens, _) = acme_app(
        json!({ "san_rules": { "allow_ip_addresses": true } }),
        json!({ "allowed_ip_ranges": ["127.0.0.0/8"] }),
        &[],
    )
    .await;
    app.webhook_channel("ops", "http://127.0.0.1:9", &["certificate_issued"])
        .await;
    let mut c = Client::new(app.http.clone(), &directory).await;
    c.register(json!({})).await;
    assert_eq!(c.order(&["10.0.0.1"]).await.problem(), "rejectedIdentifier");
    let a = c.order(&["127.0.0.1"]).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let order = a.body.clone();
    let authz = c.post(order["authorizations"][0].as_str().unwrap(), None).await.body;
    assert_eq!(authz["identifier"], json!({ "type": "ip", "value": "127.0.0.1" }));
    let kinds: Vec<&str> = authz["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["http-01", "tls-alpn-01"],
        "no dns-01 for an IP address (RFC 8738)"
    );
    assert_eq!(c.validate_http(&order, &tokens).await["status"], "ready");
    let (csr, cert_key) = csr_with_key(&["127.0.0.1"]);
    let f = c
        .post(
            order["finalize"].as_str().unwrap(),
            Some(json!({ "csr": B64.encode(csr) })),
        )
        .await;
    assert_eq!(f.body["status"], "valid", "{}", f.body);
    let sans = app
        .scalar_text("SELECT array_to_string(sans, ',') FROM certificates WHERE source = 'acme'")
        .await;
    assert_eq!(sans, "127.0.0.1");
    let events = app
        .scalar_text("SELECT string_agg(type, ',') FROM notification_events")
        .await;
    assert_eq!(events, "certificate_issued", "notified like any issuance");

    // Revoked by whoever holds the certificate's key, with no account (RFC 8555 §7.6).
    let pem = c.post(f.body["certificate"].as_str().unwrap(), None).await;
    let der = x509_parser::pem::parse_x509_pem(pem.body.as_str().unwrap().as_bytes())
        .unwrap()
        .1
        .contents;
    let mut holder = Client::new(app.http.clone(), &directory).await;
    let body = json!({ "certificate": B64.encode(&der), "reason": 1 });
    let a = holder.post(&holder.url("revokeCert"), Some(body.clone())).await;
    assert_eq!(a.problem(), "unauthorized", "another key: {}", a.body);
    holder.key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &cert_key, &SystemRandom::new()).unwrap();
    let a = holder.post(&holder.url("revokeCert"), Some(body)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let revoked = app
        .scalar_text("SELECT status || ' ' || coalesce((SELECT reason FROM certificate_revocations), '') FROM certificates WHERE source = 'acme'")
        .await;
    assert_eq!(revoked, "revoked keyCompromise");
}

//! `certctl-bench acme`: issuance through the ACME server (RFC 8555) by `--clients` concurrent
//! clients for `--seconds` (after a warm-up), as `bench/acme.sh` runs it beside REST issuance.
//!
//! Each client has its own ES256 account key, registered with `newAccount` before anything is
//! timed, and its own P-256 certificate key. What is measured is one whole issuance, as an ACME
//! client does it, again and again:
//!
//! 1. `newOrder` for one name `<random>.<domain>` (a nonce from `newNonce` only when the client
//!    holds none: every answer's `Replay-Nonce` is kept for the next request, as real clients do);
//! 2. the authorization, read with POST-as-GET, and its http-01 challenge, whose key authorization
//!    (`token.base64url(SHA-256(RFC 7638 thumbprint))`) is then served by one http-01 server in
//!    this process, on the port the api-server fetches http-01 from;
//! 3. `{}` POSTed to the challenge, then the order polled until `ready` (every `--poll-ms`, or,
//!    with `--retry-after-cap-ms`, the server's `Retry-After` capped at that);
//! 4. `finalize` with a fresh CSR for the name (polled while `processing`), then the certificate
//!    downloaded (POST-as-GET, `application/pem-certificate-chain`).
//!
//! A `badNonce` is retried with the nonce the refusal carries (RFC 8555 §6.5). An issuance counts
//! when its certificate is downloaded within the measured window; its latency runs from the first
//! request to the download. The first line has the fields of `certctl-bench issue` plus request,
//! poll and nonce counts per issuance; the second the mean time of each step.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

/// The steps of one issuance, timed separately.
const STEPS: [&str; 6] = ["order", "authz", "challenge", "ready", "finalize", "download"];
/// Attempts of one request refused with `badNonce` before the issuance fails.
const NONCE_RETRIES: usize = 5;
/// How long one order may take to become ready, or valid, before the issuance fails.
const ORDER_DEADLINE: Duration = Duration::from_secs(30);

struct Opts {
    directory: String,
    http01: String,
    ca: Option<String>,
    domain: String,
    clients: usize,
    duration: Duration,
    warmup: Duration,
    poll: Duration,
    /// `Some(cap)`: sleep the server's `Retry-After`, at most `cap`, instead of `poll`.
    retry_after_cap: Option<Duration>,
}

fn parse(args: Vec<String>) -> anyhow::Result<Opts> {
    let mut o = Opts {
        directory: String::new(),
        http01: String::new(),
        ca: None,
        domain: "bench.test".into(),
        clients: 8,
        duration: Duration::from_secs(20),
        warmup: Duration::from_secs(3),
        poll: Duration::from_millis(50),
        retry_after_cap: None,
    };
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--directory" => o.directory = value,
            "--http01-listen" => o.http01 = value,
            "--ca" => o.ca = Some(value),
            "--domain" => o.domain = value,
            "--clients" => o.clients = value.parse()?,
            "--seconds" => o.duration = Duration::from_secs(value.parse()?),
            "--warmup-seconds" => o.warmup = Duration::from_secs(value.parse()?),
            "--poll-ms" => o.poll = Duration::from_millis(value.parse()?),
            "--retry-after-cap-ms" => o.retry_after_cap = Some(Duration::from_millis(value.parse()?)),
            other => bail!("unknown flag {other}"),
        }
    }
    if o.directory.is_empty() || o.http01.is_empty() {
        bail!(
            "usage: certctl-bench acme --directory URL --http01-listen ADDR [--ca PEM] [--domain bench.test] \
             [--clients 8] [--seconds 20] [--warmup-seconds 3] [--poll-ms 50] [--retry-after-cap-ms MS]"
        );
    }
    Ok(o)
}

/// Key authorizations by token, served at `/.well-known/acme-challenge/{token}`.
type Tokens = Arc<Mutex<HashMap<String, String>>>;

#[derive(Clone)]
struct Http01 {
    tokens: Tokens,
    fetches: Arc<AtomicU64>,
}

async fn http01_answer(State(s): State<Http01>, Path(token): Path<String>) -> Response {
    s.fetches.fetch_add(1, Ordering::Relaxed);
    let found = s
        .tokens
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&token)
        .cloned();
    match found {
        Some(key_authorization) => key_authorization.into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The URLs of the directory this benchmark uses.
struct Directory {
    new_nonce: String,
    new_account: String,
    new_order: String,
}

/// One answer of the ACME server.
struct Reply {
    status: u16,
    location: Option<String>,
    retry_after: Option<u64>,
    content_type: String,
    body: Vec<u8>,
}

impl Reply {
    fn expect(self, status: u16) -> anyhow::Result<Reply> {
        if self.status != status {
            bail!(
                "HTTP {} (expected {status}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            );
        }
        Ok(self)
    }

    fn json(&self) -> anyhow::Result<Value> {
        serde_json::from_slice(&self.body).context("the answer is not JSON")
    }
}

fn text<'a>(v: &'a Value, field: &str) -> anyhow::Result<&'a str> {
    v[field].as_str().with_context(|| format!("no `{field}` in {v}"))
}

/// What one issuance cost, beyond its latency.
#[derive(Default, Clone, Copy)]
struct Counts {
    requests: u64,
    new_nonces: u64,
    bad_nonces: u64,
    polls: u64,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, o: Counts) {
        self.requests += o.requests;
        self.new_nonces += o.new_nonces;
        self.bad_nonces += o.bad_nonces;
        self.polls += o.polls;
    }
}

/// One ACME client: its account and certificate keys, and the nonce it holds.
struct Client {
    http: reqwest::Client,
    dir: Arc<Directory>,
    opts: Arc<Opts>,
    tokens: Tokens,
    rng: SystemRandom,
    key: EcdsaKeyPair,
    jwk: Value,
    thumbprint: String,
    /// The account URL, once registered.
    kid: Option<String>,
    nonce: Option<String>,
    cert_key: rcgen::KeyPair,
    counts: Counts,
}

impl Client {
    fn new(http: reqwest::Client, dir: Arc<Directory>, opts: Arc<Opts>, tokens: Tokens) -> anyhow::Result<Self> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| anyhow!("cannot generate a P-256 key"))?;
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .map_err(|_| anyhow!("cannot load the P-256 key"))?;
        // The public key is the uncompressed point 04 || x || y.
        let point = key.public_key().as_ref();
        let (x, y) = (B64.encode(&point[1..33]), B64.encode(&point[33..65]));
        // RFC 7638: the required members, in lexicographic order, without whitespace.
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let thumbprint = B64.encode(digest(&SHA256, canonical.as_bytes()));
        Ok(Self {
            http,
            dir,
            opts,
            tokens,
            rng,
            key,
            jwk: json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y }),
            thumbprint,
            kid: None,
            nonce: None,
            cert_key: rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?,
            counts: Counts::default(),
        })
    }

    /// A flattened JWS: `jwk` until the account is registered, then `kid`; POST-as-GET without payload.
    fn jws(&self, url: &str, nonce: &str, payload: Option<&Value>) -> anyhow::Result<String> {
        let mut header = json!({ "alg": "ES256", "nonce": nonce, "url": url });
        match &self.kid {
            Some(kid) => header["kid"] = json!(kid),
            None => header["jwk"] = self.jwk.clone(),
        }
        let protected = B64.encode(serde_json::to_vec(&header)?);
        let payload = payload.map(|p| B64.encode(p.to_string())).unwrap_or_default();
        let signature = self
            .key
            .sign(&self.rng, format!("{protected}.{payload}").as_bytes())
            .map_err(|_| anyhow!("signing failed"))?;
        Ok(json!({ "protected": protected, "payload": payload, "signature": B64.encode(signature) }).to_string())
    }

    /// The nonce held from the last answer, or a fresh one from `newNonce`.
    async fn take_nonce(&mut self) -> anyhow::Result<String> {
        if let Some(nonce) = self.nonce.take() {
            return Ok(nonce);
        }
        self.counts.requests += 1;
        self.counts.new_nonces += 1;
        let resp = self.http.head(&self.dir.new_nonce).send().await?;
        let nonce = resp.headers().get("replay-nonce").and_then(|v| v.to_str().ok());
        Ok(nonce.context("newNonce answered without Replay-Nonce")?.to_owned())
    }

    /// A signed POST (`None`: POST-as-GET), retried on `badNonce` with the refusal's nonce.
    async fn post(&mut self, url: &str, payload: Option<&Value>) -> anyhow::Result<Reply> {
        for _ in 0..NONCE_RETRIES {
            let nonce = self.take_nonce().await?;
            let body = self.jws(url, &nonce, payload)?;
            self.counts.requests += 1;
            let resp = self
                .http
                .post(url)
                .header("content-type", "application/jose+json")
                .body(body)
                .send()
                .await?;
            let h = resp.headers();
            let header = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
            self.nonce = header("replay-nonce");
            let (location, content_type) = (header("location"), header("content-type").unwrap_or_default());
            let retry_after = header("retry-after").and_then(|v| v.parse().ok());
            let status = resp.status().as_u16();
            let body = resp.bytes().await?.to_vec();
            let reply = Reply {
                status,
                location,
                retry_after,
                content_type,
                body,
            };
            if status == 400
                && reply
                    .json()
                    .is_ok_and(|p| p["type"] == "urn:ietf:params:acme:error:badNonce")
            {
                self.counts.bad_nonces += 1;
                continue;
            }
            return Ok(reply);
        }
        bail!("{url}: badNonce {NONCE_RETRIES} times in a row")
    }

    async fn register(&mut self) -> anyhow::Result<()> {
        let url = self.dir.new_account.clone();
        let reply = self
            .post(&url, Some(&json!({ "termsOfServiceAgreed": true })))
            .await?
            .expect(201)?;
        self.kid = Some(reply.location.context("newAccount answered without Location")?);
        Ok(())
    }

    fn pause(&self, retry_after: Option<u64>) -> Duration {
        match (self.opts.retry_after_cap, retry_after) {
            (Some(cap), Some(secs)) => Duration::from_secs(secs).min(cap),
            _ => self.opts.poll,
        }
    }

    /// Polls the order (after the pause `last` asks for) until its status is no longer `waiting`.
    async fn poll_order(&mut self, url: &str, waiting: &str, mut last: Reply) -> anyhow::Result<Value> {
        let deadline = Instant::now() + ORDER_DEADLINE;
        loop {
            tokio::time::sleep(self.pause(last.retry_after)).await;
            self.counts.polls += 1;
            last = self.post(url, None).await?.expect(200)?;
            let order = last.json()?;
            if order["status"] != waiting {
                return Ok(order);
            }
            if Instant::now() > deadline {
                bail!("the order is still {waiting} after {ORDER_DEADLINE:?}");
            }
        }
    }

    /// One whole issuance; `laps` gets the duration of each of [`STEPS`].
    async fn issue(&mut self, laps: &mut [Duration; STEPS.len()]) -> anyhow::Result<()> {
        let mut mark = Instant::now();
        let mut lap = |i: usize| {
            laps[i] = mark.elapsed();
            mark = Instant::now();
        };
        let name = format!("{}.{}", random_hex()?, self.opts.domain);
        let new_order = self.dir.new_order.clone();
        let identifiers = json!({ "identifiers": [{ "type": "dns", "value": name }] });
        let reply = self.post(&new_order, Some(&identifiers)).await?.expect(201)?;
        let order_url = reply.location.clone().context("newOrder answered without Location")?;
        let order = reply.json()?;
        let authz_url = order["authorizations"][0]
            .as_str()
            .context("the order has no authorization")?;
        let finalize_url = text(&order, "finalize")?.to_owned();
        lap(0);

        let authz = self.post(authz_url, None).await?.expect(200)?.json()?;
        let challenge = authz["challenges"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == "http-01"))
            .with_context(|| format!("no http-01 challenge in {authz}"))?;
        let (token, challenge_url) = (text(challenge, "token")?.to_owned(), text(challenge, "url")?.to_owned());
        let key_authorization = format!("{token}.{}", self.thumbprint);
        self.tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(token.clone(), key_authorization);
        lap(1);

        let ready = async {
            let reply = self.post(&challenge_url, Some(&json!({}))).await?.expect(200)?;
            lap(2);
            self.poll_order(&order_url, "pending", reply).await
        }
        .await;
        self.tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&token);
        let ready = ready?;
        if ready["status"] != "ready" {
            bail!("the order is {}: {}", ready["status"], ready["error"]);
        }
        lap(3);

        let mut params = rcgen::CertificateParams::new(vec![name.clone()])?;
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        let csr = params.serialize_request(&self.cert_key)?;
        let reply = self
            .post(&finalize_url, Some(&json!({ "csr": B64.encode(csr.der()) })))
            .await?;
        let reply = reply.expect(200)?;
        let mut order = reply.json()?;
        if order["status"] == "processing" {
            order = self.poll_order(&order_url, "processing", reply).await?;
        }
        if order["status"] != "valid" {
            bail!("the finalized order is {}: {}", order["status"], order["error"]);
        }
        lap(4);

        let cert = self.post(text(&order, "certificate")?, None).await?.expect(200)?;
        if cert.content_type != "application/pem-certificate-chain"
            || !cert.body.starts_with(b"-----BEGIN CERTIFICATE-----")
        {
            bail!("the certificate is not a PEM chain ({})", cert.content_type);
        }
        lap(5);
        Ok(())
    }
}

fn random_hex() -> anyhow::Result<String> {
    let mut bytes = [0u8; 8];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow!("the random generator failed"))?;
    Ok(hex::encode(bytes))
}

/// What one client measured: latencies (µs), step sums and counts of counted issuances.
struct Tally {
    latencies: Vec<u32>,
    steps: [Duration; STEPS.len()],
    counts: Counts,
}

pub async fn run(args: Vec<String>) -> anyhow::Result<()> {
    let opts = Arc::new(parse(args)?);
    let mut builder = reqwest::Client::builder().pool_max_idle_per_host(opts.clients);
    if let Some(ca) = &opts.ca {
        let pem = std::fs::read(ca).with_context(|| format!("cannot read {ca}"))?;
        builder = builder.add_root_certificate(reqwest::Certificate::from_pem(&pem)?);
    }
    let http = builder.build()?;

    let server = Http01 {
        tokens: Tokens::default(),
        fetches: Arc::new(AtomicU64::new(0)),
    };
    let app = Router::new()
        .route("/.well-known/acme-challenge/{token}", get(http01_answer))
        .with_state(server.clone());
    let listener = tokio::net::TcpListener::bind(&opts.http01)
        .await
        .with_context(|| format!("cannot listen on {}", opts.http01))?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    let directory: Value = http
        .get(&opts.directory)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let dir = Arc::new(Directory {
        new_nonce: text(&directory, "newNonce")?.to_owned(),
        new_account: text(&directory, "newAccount")?.to_owned(),
        new_order: text(&directory, "newOrder")?.to_owned(),
    });
    let mut clients = Vec::with_capacity(opts.clients);
    for _ in 0..opts.clients {
        let mut c = Client::new(http.clone(), dir.clone(), opts.clone(), server.tokens.clone())?;
        c.register().await.context("newAccount")?;
        clients.push(c);
    }

    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let reported = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for mut c in clients {
        let (measuring, stop, errors, reported) = (measuring.clone(), stop.clone(), errors.clone(), reported.clone());
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally {
                latencies: Vec::with_capacity(1 << 12),
                steps: [Duration::ZERO; STEPS.len()],
                counts: Counts::default(),
            };
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                c.counts = Counts::default();
                let mut laps = [Duration::ZERO; STEPS.len()];
                let outcome = c.issue(&mut laps).await;
                if let Err(e) = &outcome
                    && !reported.swap(true, Ordering::Relaxed)
                {
                    eprintln!("first failure: {e:#}");
                }
                if !measuring.load(Ordering::Relaxed) {
                    continue;
                }
                if outcome.is_err() {
                    errors.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                tally.latencies.push(started.elapsed().as_micros() as u32);
                for (sum, lap) in tally.steps.iter_mut().zip(laps) {
                    *sum += lap;
                }
                tally.counts += c.counts;
            }
            tally
        }));
    }
    tokio::time::sleep(opts.warmup).await;
    measuring.store(true, Ordering::Relaxed);
    let fetches_before = server.fetches.load(Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(opts.duration).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed();
    let fetches = server.fetches.load(Ordering::Relaxed) - fetches_before;
    stop.store(true, Ordering::Relaxed);

    let mut all: Vec<u32> = Vec::new();
    let mut steps = [Duration::ZERO; STEPS.len()];
    let mut counts = Counts::default();
    for t in tasks {
        let tally = t.await?;
        all.extend(tally.latencies);
        for (sum, s) in steps.iter_mut().zip(tally.steps) {
            *sum += s;
        }
        counts += tally.counts;
    }
    all.sort_unstable();
    let pct = |p: f64| -> f64 {
        if all.is_empty() {
            return 0.0;
        }
        let i = ((all.len() as f64 - 1.0) * p).round() as usize;
        f64::from(all[i]) / 1000.0
    };
    let n = all.len().max(1) as f64;
    let per = |x: u64| x as f64 / n;
    println!(
        "issued={} errors={} seconds={:.1} rate_per_s={:.1} p50_ms={:.2} p99_ms={:.2} clients={} \
         requests_per_issue={:.2} polls_per_issue={:.2} new_nonces={} bad_nonces={} http01_fetches={}",
        all.len(),
        errors.load(Ordering::Relaxed),
        elapsed.as_secs_f64(),
        all.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        opts.clients,
        per(counts.requests),
        per(counts.polls),
        counts.new_nonces,
        counts.bad_nonces,
        fetches,
    );
    let mean: Vec<String> = STEPS
        .iter()
        .zip(steps)
        .map(|(name, sum)| format!("{name}={:.2}", sum.as_secs_f64() * 1000.0 / n))
        .collect();
    println!("steps_mean_ms {}", mean.join(" "));
    if all.is_empty() {
        bail!("no certificate was issued");
    }
    Ok(())
}

//! Load generators for the benchmarks in `bench/`, which run them beside the database's own
//! ceiling for the same writes so both figures come from the same run.
//!
//! - `certctl-bench issue`: drives `POST /api/v1/certificates` from N keep-alive clients for a
//!   fixed time and prints throughput and latency; with `--basic`, `--identity`,
//!   `--content-type` and `--expect`, an EST `simpleenroll` the same way (`bench/est.sh`).
//! - `certctl-bench post`: sends exactly `--count` POSTs (optionally at a fixed rate) and prints
//!   how long they took.
//! - `certctl-bench receive`: a webhook receiver that records when each `webhook-id` first
//!   arrived and exits once it has seen `--expect` distinct ids.
//! - `certctl-bench pki-export` and `certctl-bench ocsp-requests`: the CA, keys, OpenSSL index
//!   and OCSP request pools with which `bench/ocsp.sh` and `bench/crl.sh` run OpenSSL's
//!   responder and `openssl ca -gencrl` beside certctl's (see `pki.rs`).
//! - `certctl-bench fixed`: a bare axum server answering every POST with fixed bytes, the HTTP
//!   stack's ceiling that `bench/ocsp.sh` measures beside the responder.
//! - `certctl-bench acme`: whole ACME issuances (order, http-01, finalize, download) by N clients
//!   with accounts of their own, for `bench/acme.sh` (see `acme.rs`).

mod acme;
mod fixed;
mod notify;
mod pki;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

struct Args {
    url: String,
    /// Sent as a bearer token (the REST API) unless `basic` is given.
    key: Option<String>,
    /// `user:password` for HTTP Basic (EST).
    basic: Option<(String, String)>,
    body: String,
    content_type: String,
    /// The status that counts as issued: 201 for the REST API, 200 for EST.
    expect: u16,
    /// A PEM root to trust for https:// (the api-server's self-signed certificate).
    ca: Option<String>,
    /// A PEM file with a client certificate and its key, presented over TLS (EST).
    identity: Option<String>,
    clients: usize,
    duration: Duration,
    warmup: Duration,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut it = std::env::args().skip(1);
    let cmd = it.next().unwrap_or_default();
    if cmd != "issue" {
        bail!(
            "usage: certctl-bench issue --url URL (--key KEY | --basic USER:PASSWORD | --identity PEM) --body BODY \
             [--content-type application/json] [--expect 201] [--ca PEM] [--clients 16] [--seconds 20] [--warmup-seconds 3]"
        );
    }
    let (mut url, mut key, mut body, mut basic) = (None, None, None, None);
    let (mut content_type, mut expect, mut ca, mut identity) = ("application/json".to_owned(), 201u16, None, None);
    let (mut clients, mut seconds, mut warmup) = (16usize, 20u64, 3u64);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--url" => url = Some(value),
            "--key" => key = Some(value),
            "--body" => body = Some(value),
            "--basic" => {
                let (user, password) = value.split_once(':').context("--basic takes USER:PASSWORD")?;
                basic = Some((user.to_owned(), password.to_owned()));
            }
            "--content-type" => content_type = value,
            "--expect" => expect = value.parse()?,
            "--ca" => ca = Some(value),
            "--identity" => identity = Some(value),
            "--clients" => clients = value.parse()?,
            "--seconds" => seconds = value.parse()?,
            "--warmup-seconds" => warmup = value.parse()?,
            other => bail!("unknown flag {other}"),
        }
    }
    if key.is_none() && basic.is_none() && identity.is_none() {
        bail!("one of --key, --basic or --identity is required");
    }
    Ok(Args {
        url: url.context("--url is required")?,
        key,
        basic,
        body: body.context("--body is required")?,
        content_type,
        expect,
        ca,
        identity,
        clients,
        duration: Duration::from_secs(seconds),
        warmup: Duration::from_secs(warmup),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    match std::env::args().nth(1).as_deref() {
        Some("post") => return notify::post(std::env::args().skip(2).collect()).await,
        Some("receive") => return notify::receive(std::env::args().skip(2).collect()).await,
        Some("pki-export") => return pki::export(std::env::args().skip(2).collect()).await,
        Some("ocsp-requests") => return pki::requests(std::env::args().skip(2).collect()).await,
        Some("fixed") => return fixed::serve(std::env::args().skip(2).collect()).await,
        Some("acme") => return acme::run(std::env::args().skip(2).collect()).await,
        _ => {}
    }
    let args = Arc::new(parse_args()?);
    let mut builder = reqwest::Client::builder().pool_max_idle_per_host(args.clients);
    if let Some(ca) = &args.ca {
        let pem = std::fs::read(ca).with_context(|| format!("cannot read {ca}"))?;
        builder = builder.add_root_certificate(reqwest::Certificate::from_pem(&pem)?);
    }
    if let Some(identity) = &args.identity {
        let pem = std::fs::read(identity).with_context(|| format!("cannot read {identity}"))?;
        builder = builder.identity(reqwest::Identity::from_pem(&pem)?);
    }
    let client = builder.build()?;
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    // The first failed request is shown, so a run that issues nothing says why.
    let reported = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (client, args, measuring, stop, errors, reported) = (
            client.clone(),
            args.clone(),
            measuring.clone(),
            stop.clone(),
            errors.clone(),
            reported.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies: Vec<u32> = Vec::with_capacity(1 << 16);
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let mut request = client
                    .post(&args.url)
                    .header("content-type", &args.content_type)
                    .body(args.body.clone());
                if let Some((user, password)) = &args.basic {
                    request = request.basic_auth(user, Some(password));
                } else if let Some(key) = &args.key {
                    request = request.bearer_auth(key);
                }
                let resp = request.send().await;
                let ok = match resp {
                    Ok(r) => {
                        let status = r.status();
                        let body = r.bytes().await.unwrap_or_default();
                        let ok = status.as_u16() == args.expect;
                        if !ok && !reported.swap(true, Ordering::Relaxed) {
                            eprintln!("first failure: {status}: {}", String::from_utf8_lossy(&body));
                        }
                        ok
                    }
                    Err(e) => {
                        if !reported.swap(true, Ordering::Relaxed) {
                            eprintln!("first failure: {e:#}");
                        }
                        false
                    }
                };
                if measuring.load(Ordering::Relaxed) {
                    if ok {
                        latencies.push(started.elapsed().as_micros() as u32);
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            latencies
        }));
    }
    tokio::time::sleep(args.warmup).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(args.duration).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut all: Vec<u32> = Vec::new();
    for t in tasks {
        all.extend(t.await?);
    }
    all.sort_unstable();
    let pct = |p: f64| -> f64 {
        if all.is_empty() {
            return 0.0;
        }
        let i = ((all.len() as f64 - 1.0) * p).round() as usize;
        f64::from(all[i]) / 1000.0
    };
    let rate = all.len() as f64 / elapsed.as_secs_f64();
    println!(
        "issued={} errors={} seconds={:.1} rate_per_s={:.1} p50_ms={:.2} p99_ms={:.2} clients={}",
        all.len(),
        errors.load(Ordering::Relaxed),
        elapsed.as_secs_f64(),
        rate,
        pct(0.50),
        pct(0.99),
        args.clients
    );
    if all.is_empty() {
        bail!("no certificate was issued");
    }
    Ok(())
}

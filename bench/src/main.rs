//! Load generators for the benchmarks in `bench/`, which run them beside the database's own
//! ceiling for the same writes so both figures come from the same run.
//!
//! - `certctl-bench issue`: drives `POST /api/v1/certificates` from N keep-alive clients for a
//!   fixed time and prints throughput and latency.
//! - `certctl-bench post`: sends exactly `--count` POSTs (optionally at a fixed rate) and prints
//!   how long they took.
//! - `certctl-bench receive`: a webhook receiver that records when each `webhook-id` first
//!   arrived and exits once it has seen `--expect` distinct ids.
//! - `certctl-bench pki-export` and `certctl-bench ocsp-requests`: the CA, keys, OpenSSL index
//!   and OCSP request pools with which `bench/ocsp.sh` and `bench/crl.sh` run OpenSSL's
//!   responder and `openssl ca -gencrl` beside certctl's (see `pki.rs`).
//! - `certctl-bench fixed`: a bare axum server answering every POST with fixed bytes, the HTTP
//!   stack's ceiling that `bench/ocsp.sh` measures beside the responder.

mod fixed;
mod notify;
mod pki;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

struct Args {
    url: String,
    key: String,
    body: String,
    clients: usize,
    duration: Duration,
    warmup: Duration,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut it = std::env::args().skip(1);
    let cmd = it.next().unwrap_or_default();
    if cmd != "issue" {
        bail!(
            "usage: certctl-bench issue --url URL --key KEY --body JSON [--clients 16] [--seconds 20] [--warmup-seconds 3]"
        );
    }
    let (mut url, mut key, mut body) = (None, None, None);
    let (mut clients, mut seconds, mut warmup) = (16usize, 20u64, 3u64);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--url" => url = Some(value),
            "--key" => key = Some(value),
            "--body" => body = Some(value),
            "--clients" => clients = value.parse()?,
            "--seconds" => seconds = value.parse()?,
            "--warmup-seconds" => warmup = value.parse()?,
            other => bail!("unknown flag {other}"),
        }
    }
    Ok(Args {
        url: url.context("--url is required")?,
        key: key.context("--key is required")?,
        body: body.context("--body is required")?,
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
        _ => {}
    }
    let args = Arc::new(parse_args()?);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients)
        .build()?;
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (client, args, measuring, stop, errors) = (
            client.clone(),
            args.clone(),
            measuring.clone(),
            stop.clone(),
            errors.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies: Vec<u32> = Vec::with_capacity(1 << 16);
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let resp = client
                    .post(&args.url)
                    .bearer_auth(&args.key)
                    .header("content-type", "application/json")
                    .body(args.body.clone())
                    .send()
                    .await;
                let ok = match resp {
                    Ok(r) => {
                        let status = r.status();
                        let _ = r.bytes().await;
                        status.as_u16() == 201
                    }
                    Err(_) => false,
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

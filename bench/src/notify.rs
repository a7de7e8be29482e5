//! The notification benchmark's two halves: a sender of API calls and a recording receiver.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::http::{HeaderMap, StatusCode};
use tokio::sync::Mutex;

fn flags(args: Vec<String>) -> anyhow::Result<HashMap<String, String>> {
    let mut out = HashMap::new();
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        let name = flag
            .strip_prefix("--")
            .with_context(|| format!("unexpected argument {flag}"))?;
        out.insert(
            name.to_owned(),
            it.next().with_context(|| format!("{flag} needs a value"))?,
        );
    }
    Ok(out)
}

/// `post --url URL --key KEY --count N [--clients 16] [--rate PER_SECOND]`
pub async fn post(args: Vec<String>) -> anyhow::Result<()> {
    let f = flags(args)?;
    let url = f.get("url").context("--url is required")?.clone();
    let key = f.get("key").context("--key is required")?.clone();
    let count: u64 = f.get("count").context("--count is required")?.parse()?;
    let clients: usize = f.get("clients").map(|c| c.parse()).transpose()?.unwrap_or(16);
    let rate: Option<f64> = f.get("rate").map(|r| r.parse()).transpose()?;
    let client = reqwest::Client::builder().pool_max_idle_per_host(clients).build()?;
    let next = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, url, key, next, errors) = (client.clone(), url.clone(), key.clone(), next.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= count {
                    break;
                }
                if let Some(rate) = rate {
                    // Request i goes out at i / rate seconds: a fixed, open-loop rate.
                    let due = started + Duration::from_secs_f64(i as f64 / rate);
                    tokio::time::sleep_until(due.into()).await;
                }
                let ok = client
                    .post(&url)
                    .bearer_auth(&key)
                    .header("content-type", "application/json")
                    .body("{}")
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false);
                if !ok {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "created={} errors={} seconds={secs:.2} rate_per_s={:.1}",
        count,
        errors.load(Ordering::Relaxed),
        count as f64 / secs
    );
    if errors.load(Ordering::Relaxed) > 0 {
        bail!("some requests failed");
    }
    Ok(())
}

/// `receive --listen ADDR --expect N [--timeout-seconds 300]`: prints `id,received_micros` lines
/// (first receipt of each webhook-id) once N distinct ids have arrived, then a summary on stderr.
pub async fn receive(args: Vec<String>) -> anyhow::Result<()> {
    let f = flags(args)?;
    let listen = f.get("listen").context("--listen is required")?.clone();
    let expect: usize = f.get("expect").context("--expect is required")?.parse()?;
    let timeout: u64 = f.get("timeout-seconds").map(|t| t.parse()).transpose()?.unwrap_or(300);
    let seen: Arc<Mutex<HashMap<String, i64>>> = Arc::new(Mutex::new(HashMap::with_capacity(expect)));
    let duplicates = Arc::new(AtomicU64::new(0));
    let done = Arc::new(tokio::sync::Notify::new());
    let (s2, d2, n2) = (seen.clone(), duplicates.clone(), done.clone());
    let app = axum::Router::new().fallback(move |headers: HeaderMap| {
        let (seen, duplicates, done) = (s2.clone(), d2.clone(), n2.clone());
        async move {
            let now = chrono::Utc::now().timestamp_micros();
            if let Some(id) = headers.get("webhook-id").and_then(|v| v.to_str().ok()) {
                let mut map = seen.lock().await;
                if map.insert(id.to_owned(), now).is_some() {
                    duplicates.fetch_add(1, Ordering::Relaxed);
                }
                if map.len() >= expect {
                    done.notify_one();
                }
            }
            StatusCode::OK
        }
    });
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    eprintln!("receiver listening on {listen}, expecting {expect}");
    if tokio::time::timeout(Duration::from_secs(timeout), done.notified())
        .await
        .is_err()
    {
        bail!(
            "only {} of {expect} notifications arrived within {timeout}s",
            seen.lock().await.len()
        );
    }
    let map = seen.lock().await;
    let mut out = String::with_capacity(map.len() * 56);
    for (id, at) in map.iter() {
        out.push_str(&format!("{id},{at}\n"));
    }
    print!("{out}");
    eprintln!(
        "received={} duplicates={}",
        map.len(),
        duplicates.load(Ordering::Relaxed)
    );
    Ok(())
}

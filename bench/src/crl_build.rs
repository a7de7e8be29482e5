//! `certctl-bench-crl-build`: one tick of the notifier-worker's revocation publisher
//! (`certctl_notifier_worker::loops::revocation::CrlPublisher::tick`), in a process of its own, so
//! `/usr/bin/time -v` can report the time and peak memory of building one CRL.
//!
//! Configuration is the worker's own (`WorkerConfig::from_env`): `CERTCTL_DATABASE_URL`,
//! `CERTCTL_KEY_ENCRYPTION_KEY`, and no `CERTCTL_RESPONDER_KEY_ENCRYPTION_KEY`, so the tick does
//! nothing but the CRL work: claim the dirty issuer, read its revoked entries from PostgreSQL,
//! build, sign and store the CRL (or, for a partitioned issuer, one CRL per shard). It prints how
//! long the tick took and what it stored: one line per CRL, then the totals.
//!
//! `certctl-bench-crl-build --phases ISSUER_ID` times the tick's parts one by one instead,
//! with the same repository and PKI functions, and stores nothing in `crls`: reading the entries,
//! turning them into CRL entries, building and signing, and writing the DER into a scratch table
//! under PostgreSQL's default TOAST compression (pglz), under lz4 and uncompressed.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use certctl_notifier_worker::config::WorkerConfig;
use certctl_notifier_worker::loops::Tick;
use certctl_notifier_worker::loops::revocation::CrlPublisher;
use certctl_notifier_worker::metrics::WorkerMetrics;
use certctl_pki::crl::{CrlEntry, CrlRequest, build_crl};
use certctl_pki::{KeyAlgorithm, LoadedIssuer};
use certctl_shared::clock::to_time;
use certctl_shared::config::Env;
use certctl_shared::crypto::issuer_key_context;
use certctl_shared::model::IssuerId;
use certctl_shared::repo::{crls, issuers};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, FromQueryResult, Statement};

/// The worker's allocator, so the peak memory is the worker's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(FromQueryResult)]
struct Stored {
    shard: i16,
    crl_number: i64,
    entry_count: i32,
    build_ms: i32,
    bytes: i32,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    certctl_shared::telemetry::install_crypto_provider();
    let started = Instant::now();
    let config = WorkerConfig::from_env(&Env::process()?)?;
    if config.revocation.responder_keys.is_some() {
        bail!("unset CERTCTL_RESPONDER_KEY_ENCRYPTION_KEY: this measures the CRL build alone");
    }
    let db = certctl_shared::db::connect(&config.common)
        .await
        .context("cannot connect to CERTCTL_DATABASE_URL")?;
    if let Some(flag) = std::env::args().nth(1) {
        if flag != "--phases" {
            bail!("usage: certctl-bench-crl-build [--phases ISSUER_ID]");
        }
        let issuer: IssuerId = std::env::args()
            .nth(2)
            .context("--phases needs the issuer id")?
            .parse()?;
        return phases(&db, &config, issuer).await;
    }
    let metrics = Arc::new(WorkerMetrics::register(&prometheus::Registry::new())?);
    let publisher = CrlPublisher {
        db: db.clone(),
        ca_keys: config.keys.clone(),
        settings: config.revocation.clone(),
        worker_id: "certctl-bench-crl-build".into(),
        metrics: metrics.clone(),
    };
    let connected = started.elapsed();
    let since = chrono::Utc::now();
    let tick_started = Instant::now();
    publisher.tick().await?;
    let tick = tick_started.elapsed();
    let built = metrics.crl_builds.with_label_values(&["ok"]).get();
    if built == 0 {
        bail!("the tick built no CRL (was an issuer's CRL out of date?)");
    }
    let stored = Stored::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT shard, crl_number, entry_count, build_ms, length(der) AS bytes FROM crls \
         WHERE generated_by = 'certctl-bench-crl-build' AND generated_at >= $1 ORDER BY shard",
        [since.into()],
    ))
    .all(&db)
    .await?;
    if stored.len() as u64 != built {
        bail!("the tick built {built} CRLs but {} are stored", stored.len());
    }
    if stored.len() > 1 {
        for s in &stored {
            println!(
                "shard={} crl_number={} entries={} der_bytes={} build_ms_recorded={}",
                s.shard, s.crl_number, s.entry_count, s.bytes, s.build_ms
            );
        }
    }
    println!(
        "crls={} entries={} der_bytes={} der_bytes_largest={} tick_ms={} startup_ms={}",
        stored.len(),
        stored.iter().map(|s| i64::from(s.entry_count)).sum::<i64>(),
        stored.iter().map(|s| i64::from(s.bytes)).sum::<i64>(),
        stored.iter().map(|s| s.bytes).max().unwrap_or(0),
        tick.as_millis(),
        connected.as_millis()
    );
    db.close().await.ok();
    Ok(())
}

/// The tick's parts, timed one by one (the worker's code, without the claim and the numbering).
async fn phases(db: &DatabaseConnection, config: &WorkerConfig, issuer_id: IssuerId) -> anyhow::Result<()> {
    let t = Instant::now();
    let row = issuers::find_by_id(db, issuer_id).await?.context("no such issuer")?;
    let alg = KeyAlgorithm::parse(&row.key_algorithm).context("unknown key algorithm")?;
    let pkcs8 = config
        .keys
        .open(&issuer_key_context(row.id), &row.private_key_ciphertext)
        .context("cannot open the CA key")?;
    let issuer = LoadedIssuer::load(row.id.into(), row.certificate_der, alg, &pkcs8)?;
    let load_ms = t.elapsed().as_millis();

    let t = Instant::now();
    let rows = crls::revoked_entries(db, issuer_id, 0).await?;
    let read_ms = t.elapsed().as_millis();
    let t = Instant::now();
    let entries = rows
        .into_iter()
        .map(|r| {
            Ok(CrlEntry {
                serial: hex::decode(&r.serial_hex)?,
                revoked_at: to_time(r.revoked_at),
                reason_code: r.reason_code,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let convert_ms = t.elapsed().as_millis();
    let t = Instant::now();
    let now = time::OffsetDateTime::now_utc();
    let der = build_crl(CrlRequest {
        issuer: &issuer.identity,
        key: issuer.key(),
        key_algorithm: issuer.key_algorithm,
        number: 1,
        this_update: now,
        next_update: now + config.revocation.crl_validity,
        entries: &entries,
        distribution_point: None,
    })?;
    let build_ms = t.elapsed().as_millis();
    let mut stores = Vec::new();
    for (name, setup) in [
        ("pglz", "ALTER TABLE bench_der ALTER COLUMN der SET COMPRESSION pglz"),
        ("lz4", "ALTER TABLE bench_der ALTER COLUMN der SET COMPRESSION lz4"),
        (
            "uncompressed",
            "ALTER TABLE bench_der ALTER COLUMN der SET STORAGE EXTERNAL",
        ),
    ] {
        for sql in [
            "DROP TABLE IF EXISTS bench_der",
            "CREATE TABLE bench_der (der bytea NOT NULL)",
            setup,
        ] {
            db.execute_raw(Statement::from_string(DbBackend::Postgres, sql)).await?;
        }
        let t = Instant::now();
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO bench_der (der) VALUES ($1)",
            [der.clone().into()],
        ))
        .await?;
        stores.push(format!("store_{name}_ms={}", t.elapsed().as_millis()));
    }
    db.execute_raw(Statement::from_string(DbBackend::Postgres, "DROP TABLE bench_der"))
        .await?;
    println!(
        "entries={} der_bytes={} load_issuer_ms={load_ms} read_entries_ms={read_ms} to_crl_entries_ms={convert_ms} \
         build_and_sign_ms={build_ms} {}",
        entries.len(),
        der.len(),
        stores.join(" ")
    );
    Ok(())
}

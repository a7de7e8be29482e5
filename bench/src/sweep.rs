//! The worker's retry sweep, timed tick by tick against a database the calling script prepared
//! (`bench/sweep.sh`): what one tick of `loops::retry_sweep` asks of PostgreSQL when `due` rows
//! have come due, with the real repository functions. The publishing to RabbitMQ that follows in
//! the worker is left out: it does not depend on the table's size.
//!
//!   certctl-bench-sweep DATABASE_URL [ticks=50] [--history]
//!
//! Each tick: take the due rows in batches of the sweep's size (stamping them `dispatched_at`, as
//! the sweep does) until a batch comes back short, then ask for the earliest retry not yet due.
//! Between ticks the stamps are cleared, so every tick finds the same rows due. Prints how many
//! rows a tick took and the p50, p99 and largest tick time, leaving out a first warm-up tick.
//!
//! With `--history` (a table with `sent` rows 60+ days old), it then prints the plan of the
//! sweep's statement (EXPLAIN ANALYZE, BUFFERS) and times five retention batches: the worker's
//! own delete of 5,000 sent rows past 60 days with their attempts.

use std::time::{Duration, Instant};

use anyhow::Context;
use certctl_notifier_worker::loops::retry_sweep::BATCH;
use certctl_shared::model::NotificationStatus;
use certctl_shared::repo::notifications;
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .context("usage: certctl-bench-sweep DATABASE_URL [ticks=50] [--history]")?;
    let ticks: usize = args.next().map_or(Ok(50), |t| t.parse())?;
    let history = args.next().as_deref() == Some("--history");
    let db = Database::connect(url.as_str()).await?;
    let grace = Duration::from_secs(30);
    let mut times = Vec::with_capacity(ticks);
    let mut taken = 0;
    // One tick more than counted: the first warms the caches and the prepared statements.
    for tick in 0..=ticks {
        db.execute_unprepared("UPDATE notification_events SET dispatched_at = NULL WHERE status = 'failed'")
            .await?;
        let start = Instant::now();
        taken = 0;
        loop {
            let due = notifications::dispatch_due_retries(&db, grace, BATCH).await?;
            taken += due.len();
            if (due.len() as i64) < BATCH {
                break;
            }
        }
        notifications::earliest_retry(&db).await?;
        if tick > 0 {
            times.push(start.elapsed());
        }
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "rows per tick {taken}  ticks {ticks}  p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        ms(at(0.5)),
        ms(at(0.99)),
        ms(*times.last().context("no ticks")?)
    );
    if history {
        explain_sweep(&db, grace).await?;
        let before = chrono::Utc::now() - chrono::Duration::days(60);
        for _ in 0..5 {
            let start = Instant::now();
            let n = notifications::purge(&db, NotificationStatus::Sent, before, 5_000).await?;
            println!(
                "retention batch: {n} sent rows and their attempts deleted in {:.1} ms",
                ms(start.elapsed())
            );
        }
    }
    Ok(())
}

/// The plan of the sweep's first statement of a tick, as it runs.
async fn explain_sweep(db: &sea_orm::DatabaseConnection, grace: Duration) -> anyhow::Result<()> {
    db.execute_unprepared("UPDATE notification_events SET dispatched_at = NULL WHERE status = 'failed'")
        .await?;
    let sql = notifications::DUE_RETRIES_SQL
        .replace("$1", &BATCH.to_string())
        .replace("$2", &grace.as_secs().to_string());
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql} FOR UPDATE SKIP LOCKED"),
        ))
        .await?;
    println!("plan of the sweep's query:");
    for r in rows {
        println!("  {}", r.try_get_by_index::<String>(0)?);
    }
    Ok(())
}

//! The worker's scheduled loops. Each runs as one task, so a tick never overlaps the previous
//! one (the running guard); each tick has a timeout; on shutdown the loop finishes the tick in
//! progress and stops (the drain). With several worker replicas the loops run everywhere: what
//! they publish is claimed row by row, so a duplicate costs a skipped message, never an attempt.

pub mod expiry;
pub mod relay;
pub mod retry_sweep;
pub mod revocation;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::metrics::WorkerMetrics;

/// Runs `tick` until shutdown. After each tick, `tick` says how long to wait; a `wake`
/// notification cuts the wait short.
pub async fn run<F, Fut>(
    name: &'static str,
    tick_timeout: Duration,
    wake: Option<Arc<Notify>>,
    metrics: Arc<WorkerMetrics>,
    shutdown: CancellationToken,
    mut tick: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Duration>>,
{
    let never = Arc::new(Notify::new());
    let wake = wake.unwrap_or(never);
    loop {
        let wait = match tokio::time::timeout(tick_timeout, tick()).await {
            Ok(Ok(wait)) => {
                metrics.loop_ticks.with_label_values(&[name, "ok"]).inc();
                wait
            }
            Ok(Err(e)) => {
                metrics.loop_ticks.with_label_values(&[name, "error"]).inc();
                tracing::warn!(loop_name = name, error = format!("{e:#}"), "loop tick failed");
                Duration::from_secs(1)
            }
            Err(_) => {
                metrics.loop_ticks.with_label_values(&[name, "timeout"]).inc();
                tracing::warn!(
                    loop_name = name,
                    timeout_ms = tick_timeout.as_millis() as u64,
                    "loop tick timed out"
                );
                Duration::from_secs(1)
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(wait) => {}
            () = wake.notified() => {}
        }
    }
    tracing::info!(loop_name = name, "loop stopped");
}

//! The worker's scheduled loops. Each runs as one task, so a tick never overlaps the previous
//! one (the running guard); each tick has a timeout; on shutdown the loop finishes the tick in
//! progress and stops (the drain). With several worker replicas the loops run everywhere: what
//! they publish is claimed row by row, so a duplicate costs a skipped message, never an attempt.

pub mod discovery;
pub mod expiry;
pub mod relay;
pub mod renewal;
pub mod retention;
pub mod retry_sweep;
pub mod revocation;
pub mod tally;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::metrics::WorkerMetrics;

/// A scheduled loop: what one tick does, and how long to wait before the next.
pub trait Tick: Send + Sync + 'static {
    /// The loop's name in logs and in `certctl_worker_loop_ticks_total`.
    const NAME: &'static str;

    /// One tick; returns how long to wait before the next.
    fn tick(&self) -> impl Future<Output = anyhow::Result<Duration>> + Send;
}

/// Starts loops on tasks of a set, all with the same tick timeout, metrics and shutdown.
pub struct Loops<'a> {
    pub tasks: &'a mut JoinSet<()>,
    pub tick_timeout: Duration,
    pub metrics: Arc<WorkerMetrics>,
    pub shutdown: CancellationToken,
}

impl Loops<'_> {
    /// Runs `job` on its own task until shutdown: one tick at a time (the running guard), each
    /// bounded by the tick timeout; after each tick it waits as long as the tick asked, or until
    /// `wake` is notified. A failed or timed-out tick is logged and counted, and the next comes a
    /// second later. On shutdown the tick in progress finishes and the loop stops (the drain).
    pub fn spawn<T: Tick>(&mut self, job: T, wake: Option<Arc<Notify>>) {
        let (tick_timeout, metrics, shutdown) = (self.tick_timeout, self.metrics.clone(), self.shutdown.clone());
        self.tasks.spawn(async move {
            let wake = wake.unwrap_or_default();
            loop {
                let wait = match tokio::time::timeout(tick_timeout, job.tick()).await {
                    Ok(Ok(wait)) => {
                        metrics.loop_ticks.with_label_values(&[T::NAME, "ok"]).inc();
                        wait
                    }
                    Ok(Err(e)) => {
                        metrics.loop_ticks.with_label_values(&[T::NAME, "error"]).inc();
                        tracing::warn!(loop_name = T::NAME, error = format!("{e:#}"), "loop tick failed");
                        Duration::from_secs(1)
                    }
                    Err(_) => {
                        metrics.loop_ticks.with_label_values(&[T::NAME, "timeout"]).inc();
                        tracing::warn!(
                            loop_name = T::NAME,
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
            tracing::info!(loop_name = T::NAME, "loop stopped");
        });
    }
}

//! The renewal loop: marks expired certificates, files renewal jobs for certificates entering
//! their renewal window, and runs the jobs that are due, through the same use cases as
//! `POST /api/v1/certificates/{id}/renew`, as `system:renewal` (see `certctl_usecases::renewal`).
//! With several workers each certificate and each job is claimed under a row lock that skips
//! rows another worker holds, so nothing is filed or renewed twice.

use std::time::{Duration, Instant};

use certctl_usecases::Core;
use certctl_usecases::renewal::{self, Attempted};

/// Certificates looked at per pass.
const BATCH: u64 = 100;
/// Jobs tried per tick at most; a tick that reaches it is followed at once by the next.
const JOBS_PER_TICK: usize = 50;
/// A tick stops starting new jobs after this long (the tick timeout is a minute).
const TICK_BUDGET: Duration = Duration::from_secs(30);

pub struct Renewal {
    pub core: Core,
    pub interval: Duration,
}

impl super::Tick for Renewal {
    const NAME: &'static str = "renewal";

    async fn tick(&self) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let filed = renewal::file_due(&self.core, BATCH).await?;
        if filed != renewal::Filed::default() {
            tracing::info!(
                expired = filed.expired,
                expiring = filed.expiring,
                jobs = filed.jobs,
                awaiting_csr = filed.awaiting_csr,
                "renewal windows"
            );
        }
        let mut busy = filed.expired >= BATCH || filed.expiring + filed.jobs >= BATCH;
        let mut tried = 0;
        while let Some((job, outcome)) = renewal::run_due_job(&self.core).await? {
            match outcome {
                Attempted::Completed => tracing::info!(job.id = %job, "renewed a certificate"),
                Attempted::AwaitingApproval => tracing::info!(job.id = %job, "a renewal waits for approval"),
                Attempted::Cancelled => tracing::info!(job.id = %job, "cancelled a renewal with nothing to renew"),
                // `run_due_job` logs failures with their error; a busy certificate is tried again soon.
                Attempted::Retrying | Attempted::Failed | Attempted::Busy => {}
            }
            tried += 1;
            if tried >= JOBS_PER_TICK || started.elapsed() >= TICK_BUDGET {
                busy = true;
                break;
            }
        }
        Ok(if busy { Duration::ZERO } else { self.interval })
    }
}

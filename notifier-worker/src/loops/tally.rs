//! The tally fold: moves the certificate counts' pending changes (appended by triggers as
//! certificates change) into the tally the dashboard summary reads, so that read stays a few
//! hundred rows. The summary is exact whether or not the fold has run; folding keeps it cheap.

use std::time::Duration;

use certctl_shared::repo::certificates;
use sea_orm::DatabaseConnection;

/// How many changes one tick folds at most; a tick that folds a whole batch is followed at once
/// by the next.
const BATCH: u64 = 50_000;

pub struct TallyFold {
    pub db: DatabaseConnection,
    pub interval: Duration,
}

impl super::Tick for TallyFold {
    const NAME: &'static str = "tally_fold";

    async fn tick(&self) -> anyhow::Result<Duration> {
        let folded = certificates::fold_tally(&self.db, chrono::Utc::now(), BATCH).await?;
        if folded > 0 {
            tracing::debug!(folded, "folded certificate count changes");
        }
        Ok(if folded >= BATCH { Duration::ZERO } else { self.interval })
    }
}

//! Notification retention: deletes `sent` notifications (and their attempts) older than
//! `CERTCTL_NOTIFICATION_SENT_RETENTION`, in batches, so the table stops growing with history.
//! `dead` ones are never touched here: they wait for an operator to requeue or purge them.

use std::time::Duration;

use certctl_shared::model::NotificationStatus;
use certctl_shared::repo::notifications;
use sea_orm::DatabaseConnection;

/// Rows per statement: each batch is a short transaction of its own.
const BATCH: u64 = 5_000;
/// Batches per tick; a tick that uses them all is followed at once by the next (which lets the
/// tick timeout and shutdown in between).
const BATCHES_PER_TICK: u32 = 20;

pub struct Retention {
    pub db: DatabaseConnection,
    /// `sent` rows created longer ago than this are deleted.
    pub keep: Duration,
    pub interval: Duration,
}

impl super::Tick for Retention {
    const NAME: &'static str = "notification_retention";

    async fn tick(&self) -> anyhow::Result<Duration> {
        let before = chrono::Duration::from_std(self.keep)
            .ok()
            .and_then(|keep| chrono::Utc::now().checked_sub_signed(keep))
            .ok_or_else(|| anyhow::anyhow!("retention {:?} reaches before the calendar", self.keep))?;
        let mut purged = 0;
        for _ in 0..BATCHES_PER_TICK {
            let n = notifications::purge(&self.db, NotificationStatus::Sent, before, BATCH).await?;
            purged += n;
            if n < BATCH {
                if purged > 0 {
                    tracing::info!(purged, %before, "deleted sent notifications past their retention");
                }
                return Ok(self.interval);
            }
        }
        tracing::info!(purged, %before, "deleted sent notifications past their retention; more to go");
        Ok(Duration::ZERO)
    }
}

//! One delivery: claim the row (recording the attempt as in progress), send, record the outcome.
//! The caller acks the message only after this returns, so a crash anywhere leaves a row the
//! relay will find, with its attempt on record.
//!
//! While the database cannot be reached, a delivery waits for it to answer again rather than
//! giving its message back to the broker: a requeued message counts toward the queue's delivery
//! limit, and an outage of some minutes would otherwise send good messages to the poison queue.
//! Waiting deliveries hold their concurrency permits and their messages stay unacked, so the
//! consumer takes no more than its prefetch window until the database is back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use certctl_shared::channel_config::{ChannelConfig, merge, secret_context};
use certctl_shared::crypto::KeyEncryptionKeys;
use certctl_shared::entities::notification_channel::Model as Channel;
use certctl_shared::model::{ChannelId, ChannelKind, NotificationId};
use certctl_shared::repo::notifications::{self, AttemptRecord, Claimed, Finished, Outcome};
use certctl_shared::retry::RetryPolicy;
use chrono::Utc;
use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::batch::Batcher;
use crate::channels::{self, Delivery, HttpSender, Outgoing};
use crate::metrics::WorkerMetrics;

pub struct Deliverer {
    /// Pinged while deliveries wait for the database to come back.
    pub db: DatabaseConnection,
    /// Ends a wait for the database at shutdown.
    pub shutdown: CancellationToken,
    pub keys: KeyEncryptionKeys,
    pub http: HttpSender,
    pub policy: RetryPolicy,
    pub timeout: Duration,
    pub worker_id: String,
    pub metrics: Arc<WorkerMetrics>,
    /// Woken when a failure is scheduled, so the sweep can sleep until exactly then.
    pub sweep_wake: Arc<Notify>,
    pub writes: Writes,
}

/// How often a delivery waiting for the database pings it.
const DATABASE_RETRY: Duration = Duration::from_millis(500);

/// The most claims, or outcomes, written in one statement.
const MAX_BATCH: usize = 64;
/// Batches of each kind being written at once.
const BATCHES_IN_FLIGHT: usize = 1;
/// The connections the batch writers need: claims and outcomes, each with its batches in flight.
pub const WRITE_CONNECTIONS: u32 = 2 * BATCHES_IN_FLIGHT as u32;

/// The claim and outcome writes of concurrent deliveries, batched (see [`crate::batch`]).
pub struct Writes {
    claims: Batcher<NotificationId, Option<Claimed>>,
    outcomes: Batcher<Finished, bool>,
}

impl Writes {
    pub fn spawn(db: DatabaseConnection, worker_id: String, lease: Duration) -> Self {
        let claim_db = db.clone();
        let worker_id = Arc::new(worker_id);
        let claims = Batcher::spawn(MAX_BATCH, BATCHES_IN_FLIGHT, move |ids: Arc<[NotificationId]>| {
            let (db, worker_id) = (claim_db.clone(), worker_id.clone());
            async move {
                let mut claimed: std::collections::HashMap<NotificationId, _> =
                    notifications::claim_many(&db, &ids, &worker_id, lease)
                        .await?
                        .into_iter()
                        .map(|c| (c.event.id, c))
                        .collect();
                // A duplicate message for the same row in one batch: only the first gets the claim.
                Ok(ids.iter().map(|id| claimed.remove(id)).collect())
            }
        });
        let outcomes = Batcher::spawn(MAX_BATCH, BATCHES_IN_FLIGHT, move |done: Arc<[Finished]>| {
            let db = db.clone();
            async move {
                let recorded: std::collections::HashSet<(NotificationId, Uuid)> =
                    notifications::finish_many(&db, &done).await?.into_iter().collect();
                Ok(done.iter().map(|d| recorded.contains(&(d.id, d.lease_token))).collect())
            }
        });
        Self { claims, outcomes }
    }
}

/// What processing a message came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Processed {
    /// An attempt was made and its outcome recorded.
    Attempted(&'static str),
    /// The row was not claimable: done already, not yet due, or leased by a live worker.
    Skipped,
    /// The attempt ran but the lease had passed to another worker, so nothing was recorded.
    LostLease,
}

/// What a claimed row's channel allows.
enum ChannelState {
    /// Exists, enabled, configured: deliver through it.
    Ready(ChannelKind, ChannelConfig),
    /// Exists and is enabled but cannot be used as configured (its secrets do not open under the
    /// configured keys, say, mid-rotation): a failed attempt like any other, retried on schedule.
    Broken(String),
    /// Deleted, disabled or missing: the row goes `dead` naming the channel, never silently `sent`.
    Gone(String),
}

/// One attempt, made: what happened, the row's next state, and the record to store.
struct Attempt {
    kind: String,
    outcome: Outcome,
    record: AttemptRecord,
    elapsed: Duration,
}

impl Deliverer {
    /// Claims the row, makes one attempt and records it. The caller acks the message afterwards.
    #[tracing::instrument(name = "deliver", skip_all, fields(notification.id = %id))]
    pub async fn process(&self, id: NotificationId) -> Result<Processed, DbErr> {
        let Some(claimed) = self.through_outages(|| self.writes.claims.call(id)).await? else {
            self.metrics.skipped.inc();
            return Ok(Processed::Skipped);
        };
        let Some(lease_token) = claimed.event.lease_token else {
            return Err(DbErr::Custom(format!("claimed notification {id} has no lease token")));
        };
        // The attempt's place in the budget: failed attempts so far, plus this one.
        let budget_slot = u32::try_from(claimed.event.retry_count).unwrap_or(0) + 1;
        let attempt = self.attempt(&claimed, budget_slot).await;
        self.record(id, lease_token, claimed.attempt, budget_slot, attempt)
            .await
    }

    /// Sends through the row's channel and decides the row's next state. Never fails: whatever
    /// the receiver or the channel does is an outcome.
    async fn attempt(&self, claimed: &Claimed, budget_slot: u32) -> Attempt {
        let row = &claimed.event;
        let clock = Instant::now();
        let (kind, delivery) = match self.channel_state(row.channel_id, claimed.channel.clone()) {
            ChannelState::Gone(why) => {
                let elapsed = clock.elapsed();
                return Attempt {
                    kind: "unknown".to_owned(),
                    outcome: Outcome::Dead {
                        retry_count: row.retry_count,
                        error: why.clone(),
                    },
                    record: AttemptRecord {
                        duration_ms: millis(elapsed),
                        outcome: "channel_unavailable",
                        status_code: None,
                        error: Some(why),
                        worker: self.worker_id.clone(),
                    },
                    elapsed,
                };
            }
            ChannelState::Broken(why) => ("unknown".to_owned(), Delivery::Unreachable { error: why }),
            ChannelState::Ready(kind, config) => {
                let out = Outgoing {
                    id: row.id,
                    event_type: &row.event_type,
                    payload: &row.payload,
                };
                // The client has its own timeout; this one also bounds anything else in the exchange.
                let sent = tokio::time::timeout(
                    self.timeout + Duration::from_secs(1),
                    channels::send(&self.http, &config, &out, self.timeout),
                )
                .await
                .unwrap_or(Delivery::Unreachable {
                    error: "timed out".to_owned(),
                });
                (kind.as_str().to_owned(), sent)
            }
        };
        let elapsed = clock.elapsed();
        let outcome = match &delivery {
            Delivery::Delivered { .. } => Outcome::Sent,
            failed => {
                let error = failed.error().unwrap_or_default();
                Outcome::failed(self.policy.after_failure(budget_slot, Utc::now()), error)
            }
        };
        Attempt {
            kind,
            outcome,
            record: AttemptRecord {
                duration_ms: millis(elapsed),
                outcome: delivery.outcome(),
                status_code: delivery.status_code(),
                error: delivery.error(),
                worker: self.worker_id.clone(),
            },
            elapsed,
        }
    }

    /// Writes the attempt's outcome under the claim's lease, then counts and logs it.
    async fn record(
        &self,
        id: NotificationId,
        lease_token: Uuid,
        attempt_no: i32,
        budget_slot: u32,
        a: Attempt,
    ) -> Result<Processed, DbErr> {
        let done = Finished {
            id,
            lease_token,
            attempt_no,
            outcome: a.outcome.clone(),
            attempt: a.record.clone(),
        };
        let recorded = self.through_outages(|| self.writes.outcomes.call(done.clone())).await?;
        if !recorded {
            self.metrics.lost_leases.inc();
            tracing::warn!(
                attempt = budget_slot,
                "lease expired during the attempt; another worker owns the row now"
            );
            return Ok(Processed::LostLease);
        }
        let kind = a.kind.as_str();
        self.metrics.attempts.with_label_values(&[kind, a.record.outcome]).inc();
        self.metrics
            .latency
            .with_label_values(&[kind])
            .observe(a.elapsed.as_secs_f64());
        match &a.outcome {
            Outcome::Sent => {
                tracing::info!(attempt = budget_slot, channel.kind = %kind, duration_ms = a.record.duration_ms, "delivered notification")
            }
            Outcome::Failed {
                next_retry_at, error, ..
            } => {
                tracing::warn!(attempt = budget_slot, channel.kind = %kind, %next_retry_at, error = %error, "delivery failed; retry scheduled");
                self.sweep_wake.notify_one();
            }
            Outcome::Dead { error, .. } => {
                self.metrics.dead_total.inc();
                tracing::error!(attempt = budget_slot, channel.kind = %kind, error = %error, "notification is dead; an operator can requeue it");
            }
        }
        Ok(Processed::Attempted(a.record.outcome))
    }

    /// Runs `write` until it succeeds, or fails for a reason other than an unreachable database;
    /// while the database cannot be reached, waits for it between tries.
    async fn through_outages<T, F, Fut>(&self, mut write: F) -> Result<T, DbErr>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, DbErr>>,
    {
        loop {
            match write().await {
                Err(e) if certctl_shared::db::is_unavailable(&e) => self.wait_for_database(e).await?,
                other => return other,
            }
        }
    }

    /// Waits until the database answers a ping again; `Err(cause)` if shutdown comes first.
    async fn wait_for_database(&self, cause: DbErr) -> Result<(), DbErr> {
        self.metrics.paused.inc();
        if self.metrics.paused.get() == 1 {
            tracing::warn!(error = %cause, "database unreachable: deliveries wait for it, holding their messages");
        }
        let result = loop {
            tokio::select! {
                () = self.shutdown.cancelled() => break Err(cause),
                () = tokio::time::sleep(DATABASE_RETRY) => {}
            }
            if certctl_shared::db::ping(&self.db).await.is_ok() {
                break Ok(());
            }
        };
        self.metrics.paused.dec();
        if result.is_ok() && self.metrics.paused.get() == 0 {
            tracing::info!("database reachable again: deliveries resume");
        }
        result
    }

    /// The channel's full settings, or why it cannot be used.
    fn channel_state(&self, channel_id: ChannelId, channel: Option<Channel>) -> ChannelState {
        let Some(ch) = channel else {
            return ChannelState::Gone(format!("channel {channel_id} no longer exists"));
        };
        if ch.deleted_at.is_some() {
            return ChannelState::Gone(format!("channel '{}' ({channel_id}) was deleted", ch.name));
        }
        if !ch.enabled {
            return ChannelState::Gone(format!("channel '{}' ({channel_id}) is disabled", ch.name));
        }
        let Some(kind) = ChannelKind::parse(&ch.kind) else {
            return ChannelState::Broken(format!("channel '{}' has unknown kind {}", ch.name, ch.kind));
        };
        let secret = match &ch.secret_ciphertext {
            None => serde_json::json!({}),
            Some(sealed) => match self.keys.open(&secret_context(channel_id), sealed) {
                Ok(plain) => serde_json::from_slice(&plain).unwrap_or_else(|_| serde_json::json!({})),
                Err(e) => {
                    return ChannelState::Broken(format!("channel '{}' secrets cannot be opened: {e}", ch.name));
                }
            },
        };
        match ChannelConfig::parse(kind, &merge(&ch.config, &secret)) {
            Ok(config) => ChannelState::Ready(kind, config),
            Err(e) => ChannelState::Broken(format!("channel '{}' is misconfigured: {e}", ch.name)),
        }
    }
}

fn millis(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

//! Operating on notifications: giving a failed or dead one a fresh budget, and deleting dead ones
//! nobody will requeue.

use certctl_shared::entities::notification_event::Model as Event;
use certctl_shared::model::{NotificationId, NotificationStatus};
use certctl_shared::repo::audit;
use certctl_shared::repo::notifications::{self, Requeue};
use sea_orm::TransactionTrait;
use serde_json::json;

use super::{Actor, Fault, faults};
use crate::Core;

/// Why a notification was not requeued.
#[derive(Debug, thiserror::Error)]
pub enum RequeueError {
    #[error("notification not found")]
    NotFound,
    /// Only failed or dead notifications can be requeued; this is its status.
    #[error("only failed or dead notifications can be requeued; this one is {0}")]
    WrongState(certctl_shared::model::NotificationStatus),
    #[error(transparent)]
    Fault(#[from] Fault),
}

faults!(RequeueError);

/// Resets a failed or dead notification to `pending` with a fresh attempt budget, audits it, and
/// publishes it after commit. Returns the row as requeued, with its channel's kind.
pub async fn requeue(state: &Core, actor: &Actor, id: NotificationId) -> Result<(Event, Option<String>), RequeueError> {
    let txn = state.db.begin().await?;
    let event = match notifications::requeue(&txn, id).await? {
        Requeue::Done(e) => *e,
        Requeue::NotFound => return Err(RequeueError::NotFound),
        Requeue::WrongState(status) => return Err(RequeueError::WrongState(status)),
    };
    actor
        .audit(
            &txn,
            "notification.requeue",
            "notification",
            id,
            json!({ "type": event.event_type, "channel_id": event.channel_id }),
        )
        .await?;
    let kind = certctl_shared::repo::channels::find_any(&txn, event.channel_id)
        .await?
        .map(|c| c.kind);
    txn.commit().await?;
    state.dispatch(vec![id]);
    Ok((event, kind))
}

/// Dead notifications deleted per statement by [`purge_dead`].
const PURGE_BATCH: u64 = 10_000;

/// Deletes every dead notification created before `before`, with its attempts, and audits the
/// purge as one event with the count. Batches of [`PURGE_BATCH`], each committed with its share of
/// the count in its own audit row, so an interrupted purge leaves the log true to what was deleted.
pub async fn purge_dead(state: &Core, actor: &Actor, before: chrono::DateTime<chrono::Utc>) -> Result<u64, Fault> {
    let mut total = 0;
    loop {
        let txn = state.db.begin().await?;
        let n = notifications::purge(&txn, NotificationStatus::Dead, before, PURGE_BATCH).await?;
        if n > 0 || total == 0 {
            let event = actor.event(
                "notification.purge_dead",
                "notification",
                "",
                json!({ "created_before": before, "purged": n }),
            );
            // A purge names no one notification: the count and the bound say what went.
            audit::append(
                &txn,
                audit::NewAuditEvent {
                    resource_id: None,
                    ..event
                },
            )
            .await?;
        }
        txn.commit().await?;
        total += n;
        if n < PURGE_BATCH {
            return Ok(total);
        }
    }
}

//! Operating on notifications: giving a failed or dead one a fresh budget.

use certctl_shared::entities::notification_event::Model as Event;
use certctl_shared::model::NotificationId;
use certctl_shared::repo::notifications::{self, Requeue};
use sea_orm::TransactionTrait;
use serde_json::json;

use super::{Actor, Fault, faults};
use crate::state::AppState;

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
pub async fn requeue(
    state: &AppState,
    actor: &Actor,
    id: NotificationId,
) -> Result<(Event, Option<String>), RequeueError> {
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

//! `/api/v1/notifications`

use std::collections::HashMap;

use crate::auth::{Principal, RequestId};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::query::Params;
use crate::service::notifications as svc;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use certctl_shared::entities::notification_attempt::Model as Attempt;
use certctl_shared::entities::notification_event::Model as Event;
use certctl_shared::model::{ChannelId, NotificationId};
use certctl_shared::model::{EventType, NotificationStatus};
use certctl_shared::repo::channels;
use certctl_shared::repo::notifications::{self, EventFilter};
use certctl_types::api::ListOut;
use certctl_types::api::notifications::{
    AttemptOut, NotificationDetailOut, NotificationOut, NotificationQuery, PurgeDeadIn, PurgeOut,
};

const NOTIFICATION_ID: &str = "The notification's id";

pub(super) fn notification_out(e: Event, channel_kind: Option<String>, max_attempts: u32) -> NotificationOut {
    NotificationOut {
        id: e.id,
        event_type: e.event_type,
        status: e.status,
        channel_id: e.channel_id,
        channel_kind,
        certificate_id: e.certificate_id,
        retry_count: e.retry_count,
        max_attempts,
        next_retry_at: e.next_retry_at,
        last_error: e.last_error,
        created_at: e.created_at,
        updated_at: e.updated_at,
        sent_at: e.sent_at,
    }
}

fn attempt_out(a: Attempt) -> AttemptOut {
    AttemptOut {
        attempt: a.attempt,
        started_at: a.started_at,
        duration_ms: a.duration_ms,
        outcome: a.outcome,
        status_code: a.status_code,
        error: a.error,
        worker: a.worker,
    }
}

async fn channel_kinds(
    state: &AppState,
    ids: impl Iterator<Item = ChannelId>,
) -> Result<HashMap<ChannelId, String>, ApiError> {
    let mut kinds = HashMap::new();
    for id in ids {
        if let std::collections::hash_map::Entry::Vacant(slot) = kinds.entry(id)
            && let Some(c) = channels::find_any(&state.db, id).await?
        {
            slot.insert(c.kind);
        }
    }
    Ok(kinds)
}

/// Lists notifications, newest first; `status=dead` lists those waiting for an operator.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", params(NotificationQuery), responses(
    (status = 200, description = "One page", body = ListOut<NotificationOut>),
))]
pub async fn list_notifications(
    State(state): State<AppState>,
    mut q: Params,
) -> Result<Json<ListOut<NotificationOut>>, ApiError> {
    let filter = EventFilter {
        status: q.one_of("status", &NotificationStatus::names(), NotificationStatus::parse)?,
        event_type: q.one_of("type", &EventType::names(), EventType::parse)?,
        channel_id: q.uuid("channel_id")?,
        certificate_id: q.uuid("certificate_id")?,
    };
    let cursor = q.time_cursor()?;
    let limit = q.limit()?;
    q.finish(NotificationQuery::NAMES)?;
    let page = notifications::list(&state.db, &filter, cursor, limit).await?;
    let kinds = channel_kinds(&state, page.items.iter().map(|e| e.channel_id)).await?;
    let max = state.config.notifications.retry.max_attempts;
    Ok(Json(ListOut {
        data: page
            .items
            .into_iter()
            .map(|e| {
                let kind = kinds.get(&e.channel_id).cloned();
                notification_out(e, kind, max)
            })
            .collect(),
        next_cursor: page.next_cursor,
        total: page.total.count,
        total_estimated: page.total.estimated,
    }))
}

/// One notification with its payload and every delivery attempt.
#[utoipa::path(get, path = "/api/v1/notifications/{id}", tag = "notifications",
    params(("id" = NotificationId, Path, description = NOTIFICATION_ID)),
    responses((status = 200, description = "The notification", body = NotificationDetailOut)),
)]
pub async fn get_notification(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<NotificationId>,
) -> Result<Json<NotificationDetailOut>, ApiError> {
    let event = notifications::find(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("notification"))?;
    let attempts = notifications::attempts(&state.db, id)
        .await?
        .into_iter()
        .map(attempt_out)
        .collect();
    let kind = channels::find_any(&state.db, event.channel_id).await?.map(|c| c.kind);
    let payload = event.payload.clone();
    Ok(Json(NotificationDetailOut {
        notification: notification_out(event, kind, state.config.notifications.retry.max_attempts),
        payload,
        attempts,
    }))
}

/// Gives a failed or dead notification a fresh budget and dispatches it.
#[utoipa::path(post, path = "/api/v1/notifications/{id}/requeue", tag = "notifications",
    params(("id" = NotificationId, Path, description = NOTIFICATION_ID)),
    responses((status = 200, description = "Pending again, with a fresh budget", body = NotificationOut)),
)]
pub async fn requeue_notification(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiPath(id): ApiPath<NotificationId>,
) -> Result<Json<NotificationOut>, ApiError> {
    let (event, kind) = svc::requeue(&state, &principal.actor(request_id), id).await?;
    Ok(Json(notification_out(
        event,
        kind,
        state.config.notifications.retry.max_attempts,
    )))
}

/// Deletes dead notifications created before a time, with their attempts: the dead letters
/// nobody will requeue. Audited with the count. (`sent` ones are deleted by the worker after
/// `CERTCTL_NOTIFICATION_SENT_RETENTION`.)
#[utoipa::path(post, path = "/api/v1/notifications/purge-dead", tag = "notifications", request_body = PurgeDeadIn,
    responses((status = 200, description = "How many were deleted", body = PurgeOut)),
)]
pub async fn purge_dead_notifications(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiJson(body): ApiJson<PurgeDeadIn>,
) -> Result<Json<PurgeOut>, ApiError> {
    let purged = svc::purge_dead(&state, &principal.actor(request_id), body.created_before).await?;
    Ok(Json(PurgeOut { purged }))
}

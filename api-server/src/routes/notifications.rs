//! `/api/v1/notifications`

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use certctl_shared::entities::notification_attempt::Model as Attempt;
use certctl_shared::entities::notification_event::Model as Event;
use certctl_shared::model::{CertificateId, ChannelId, NotificationId};
use certctl_shared::model::{EventType, NotificationStatus};
use certctl_shared::repo::channels;
use certctl_shared::repo::notifications::{self, EventFilter};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use super::ListOut;
use crate::auth::{Principal, RequestId};
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::query::Params;
use crate::service::notifications as svc;
use crate::state::AppState;

#[derive(Serialize)]
pub struct NotificationOut {
    id: NotificationId,
    #[serde(rename = "type")]
    event_type: String,
    status: NotificationStatus,
    channel_id: ChannelId,
    channel_kind: Option<String>,
    certificate_id: Option<CertificateId>,
    retry_count: i32,
    max_attempts: u32,
    next_retry_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
}

impl NotificationOut {
    pub fn new(e: Event, channel_kind: Option<String>, max_attempts: u32) -> Self {
        Self {
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
}

#[derive(Serialize)]
pub struct AttemptOut {
    attempt: i32,
    started_at: DateTime<Utc>,
    /// `null` while the attempt is in progress.
    duration_ms: Option<i32>,
    outcome: String,
    status_code: Option<i32>,
    error: Option<String>,
    worker: String,
}

impl From<Attempt> for AttemptOut {
    fn from(a: Attempt) -> Self {
        Self {
            attempt: a.attempt,
            started_at: a.started_at,
            duration_ms: a.duration_ms,
            outcome: a.outcome,
            status_code: a.status_code,
            error: a.error,
            worker: a.worker,
        }
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
    q.finish(&["status", "type", "channel_id", "certificate_id", "cursor", "limit"])?;
    let page = notifications::list(&state.db, &filter, cursor, limit).await?;
    let kinds = channel_kinds(&state, page.items.iter().map(|e| e.channel_id)).await?;
    let max = state.config.notifications.retry.max_attempts;
    Ok(Json(ListOut {
        data: page
            .items
            .into_iter()
            .map(|e| {
                let kind = kinds.get(&e.channel_id).cloned();
                NotificationOut::new(e, kind, max)
            })
            .collect(),
        next_cursor: page.next_cursor,
        total: page.total,
    }))
}

pub async fn get_notification(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<NotificationId>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let event = notifications::find(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("notification"))?;
    let attempts: Vec<AttemptOut> = notifications::attempts(&state.db, id)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    let kind = channels::find_any(&state.db, event.channel_id).await?.map(|c| c.kind);
    let payload = event.payload.clone();
    let mut out = serde_json::to_value(NotificationOut::new(
        event,
        kind,
        state.config.notifications.retry.max_attempts,
    ))
    .map_err(ApiError::internal)?;
    out["payload"] = payload;
    out["attempts"] = json!(attempts);
    Ok(Json(out))
}

/// Gives a failed or dead notification a fresh budget and dispatches it.
pub async fn requeue_notification(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiPath(id): ApiPath<NotificationId>,
) -> Result<Json<NotificationOut>, ApiError> {
    let (event, kind) = svc::requeue(&state, &principal.actor(request_id), id).await?;
    Ok(Json(NotificationOut::new(
        event,
        kind,
        state.config.notifications.retry.max_attempts,
    )))
}

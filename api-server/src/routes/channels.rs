//! `/api/v1/notification-channels`

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use certctl_shared::channel_config::{displayed, secret_context, secret_fields};
use certctl_shared::entities::notification_channel::Model as Channel;
use certctl_shared::model::ChannelId;
use certctl_shared::model::{ChannelKind, EventType};
use certctl_shared::repo::channels;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::ListOut;
use super::notifications::NotificationOut;
use crate::auth::{Principal, RequestId};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::service::channels as svc;
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelIn {
    name: String,
    kind: ChannelKind,
    config: Value,
    event_types: Vec<EventType>,
    #[serde(default = "enabled_by_default")]
    enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelPatch {
    name: Option<String>,
    /// Merged into the current settings key by key; secret fields omitted keep their value.
    config: Option<Value>,
    event_types: Option<Vec<EventType>>,
    enabled: Option<bool>,
}

/// A channel as shown: settings without secrets, and which secrets are set.
#[derive(Serialize)]
pub struct ChannelOut {
    id: ChannelId,
    name: String,
    kind: String,
    config: Value,
    secrets_set: Vec<&'static str>,
    event_types: Vec<String>,
    enabled: bool,
    created_by: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl ChannelOut {
    /// `secrets_set` names the secret fields that actually hold a value, read from the sealed part.
    fn new(c: Channel, state: &AppState) -> Self {
        let set: Vec<String> = c
            .secret_ciphertext
            .as_ref()
            .and_then(|sealed| state.config.keys.open(&secret_context(c.id), sealed).ok())
            .and_then(|plain| serde_json::from_slice::<Value>(&plain).ok())
            .and_then(|v| v.as_object().map(|o| o.keys().cloned().collect()))
            .unwrap_or_default();
        let kind = ChannelKind::parse(&c.kind);
        Self {
            secrets_set: kind
                .map(secret_fields)
                .unwrap_or(&[])
                .iter()
                .copied()
                .filter(|f| set.iter().any(|s| s == f))
                .collect(),
            config: kind.map_or_else(|| json!({}), |k| displayed(k, &c.config)),
            id: c.id,
            name: c.name,
            kind: c.kind,
            event_types: c.event_types,
            enabled: c.enabled,
            created_by: c.created_by,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

pub async fn create_channel(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiJson(body): ApiJson<ChannelIn>,
) -> Result<(StatusCode, Json<ChannelOut>), ApiError> {
    let row = svc::create(
        &state,
        &principal.actor(request_id),
        svc::NewChannel {
            name: body.name,
            kind: body.kind,
            config: body.config,
            event_types: body.event_types,
            enabled: body.enabled,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(ChannelOut::new(row, &state))))
}

pub async fn list_channels(State(state): State<AppState>) -> Result<Json<ListOut<ChannelOut>>, ApiError> {
    let rows = channels::list_live(&state.db).await?;
    let total = rows.len() as u64;
    Ok(Json(ListOut {
        data: rows.into_iter().map(|c| ChannelOut::new(c, &state)).collect(),
        next_cursor: None,
        total,
    }))
}

pub async fn get_channel(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ChannelId>,
) -> Result<Json<ChannelOut>, ApiError> {
    let row = channels::find_live(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("notification channel"))?;
    Ok(Json(ChannelOut::new(row, &state)))
}

pub async fn update_channel(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiPath(id): ApiPath<ChannelId>,
    ApiJson(patch): ApiJson<ChannelPatch>,
) -> Result<Json<ChannelOut>, ApiError> {
    let row = svc::update(
        &state,
        &principal.actor(request_id),
        id,
        svc::ChannelChanges {
            name: patch.name,
            config: patch.config,
            event_types: patch.event_types,
            enabled: patch.enabled,
        },
    )
    .await?;
    Ok(Json(ChannelOut::new(row, &state)))
}

pub async fn delete_channel(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiPath(id): ApiPath<ChannelId>,
) -> Result<StatusCode, ApiError> {
    svc::delete(&state, &principal.actor(request_id), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sends a `channel_test` notification through the whole pipeline: outbox, broker, worker.
pub async fn test_channel(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiPath(id): ApiPath<ChannelId>,
) -> Result<Response, ApiError> {
    let (event, kind) = svc::test(&state, &principal.actor(request_id), id).await?;
    let out = NotificationOut::new(event, Some(kind), state.config.notifications.retry.max_attempts);
    Ok((StatusCode::ACCEPTED, Json(out)).into_response())
}

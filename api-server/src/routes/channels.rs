//! `/api/v1/notification-channels`

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use certctl_shared::channel_config::{displayed, secret_context, secret_fields};
use certctl_shared::entities::notification_channel::Model as Channel;
use certctl_shared::model::ChannelId;
use certctl_shared::model::ChannelKind;
use certctl_shared::repo::channels;
use certctl_types::api::ListOut;
use certctl_types::api::notifications::{ChannelIn, ChannelOut, ChannelPatch, NotificationOut};
use serde_json::Value;

use super::notifications::notification_out;
use crate::auth::{Principal, RequestId};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::service::channels as svc;
use crate::state::AppState;

const CHANNEL_ID: &str = "The channel's id";

/// A channel as shown: settings without secrets; `secrets_set` names the secret fields that
/// actually hold a value, read from the sealed part.
fn channel_out(c: Channel, state: &AppState) -> ChannelOut {
    let set: Vec<String> = c
        .secret_ciphertext
        .as_ref()
        .and_then(|sealed| state.config.keys.open(&secret_context(c.id), sealed).ok())
        .and_then(|plain| serde_json::from_slice::<Value>(&plain).ok())
        .and_then(|v| v.as_object().map(|o| o.keys().cloned().collect()))
        .unwrap_or_default();
    let kind = ChannelKind::parse(&c.kind);
    ChannelOut {
        secrets_set: kind
            .map(secret_fields)
            .unwrap_or(&[])
            .iter()
            .filter(|f| set.iter().any(|s| s == *f))
            .map(|f| (*f).to_owned())
            .collect(),
        config: kind
            .map(|k| displayed(k, &c.config))
            .and_then(|v| match v {
                Value::Object(map) => Some(map),
                _ => None,
            })
            .unwrap_or_default(),
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

/// Creates a notification channel. Secret settings are sealed at rest and never shown again.
#[utoipa::path(post, path = "/api/v1/notification-channels", tag = "notification-channels", request_body = ChannelIn, responses(
    (status = 201, description = "Created", body = ChannelOut),
))]
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
            config: Value::Object(body.config),
            event_types: body.event_types,
            enabled: body.enabled,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(channel_out(row, &state))))
}

/// Lists every channel not deleted (one page: `next_cursor` is always `null`).
#[utoipa::path(get, path = "/api/v1/notification-channels", tag = "notification-channels", responses(
    (status = 200, description = "Every channel", body = ListOut<ChannelOut>),
))]
pub async fn list_channels(State(state): State<AppState>) -> Result<Json<ListOut<ChannelOut>>, ApiError> {
    let rows = channels::list_live(&state.db).await?;
    let total = rows.len() as u64;
    Ok(Json(ListOut {
        data: rows.into_iter().map(|c| channel_out(c, &state)).collect(),
        next_cursor: None,
        total,
        total_estimated: false,
    }))
}

/// One channel, secrets redacted.
#[utoipa::path(get, path = "/api/v1/notification-channels/{id}", tag = "notification-channels",
    params(("id" = ChannelId, Path, description = CHANNEL_ID)),
    responses((status = 200, description = "The channel", body = ChannelOut)),
)]
pub async fn get_channel(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ChannelId>,
) -> Result<Json<ChannelOut>, ApiError> {
    let row = channels::find_live(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("notification channel"))?;
    Ok(Json(channel_out(row, &state)))
}

/// Changes the fields given; `config` is merged key by key and secret fields left out keep their value.
#[utoipa::path(patch, path = "/api/v1/notification-channels/{id}", tag = "notification-channels",
    params(("id" = ChannelId, Path, description = CHANNEL_ID)),
    request_body = ChannelPatch,
    responses((status = 200, description = "Updated", body = ChannelOut)),
)]
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
            config: patch.config.map(Value::Object),
            event_types: patch.event_types,
            enabled: patch.enabled,
        },
    )
    .await?;
    Ok(Json(channel_out(row, &state)))
}

/// Deletes a channel; its notification history stays readable.
#[utoipa::path(delete, path = "/api/v1/notification-channels/{id}", tag = "notification-channels",
    params(("id" = ChannelId, Path, description = CHANNEL_ID)),
    responses((status = 204, description = "Deleted")),
)]
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
#[utoipa::path(post, path = "/api/v1/notification-channels/{id}/test", tag = "notification-channels",
    params(("id" = ChannelId, Path, description = CHANNEL_ID)),
    responses((status = 202, description = "Queued; follow it with `GET /api/v1/notifications/{id}`", body = NotificationOut)),
)]
pub async fn test_channel(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiPath(id): ApiPath<ChannelId>,
) -> Result<Response, ApiError> {
    let (event, kind) = svc::test(&state, &principal.actor(request_id), id).await?;
    let out = notification_out(event, Some(kind), state.config.notifications.retry.max_attempts);
    Ok((StatusCode::ACCEPTED, Json(out)).into_response())
}

//! `/api/v1/notification-channels`

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use certctl_shared::channel_config::{ChannelConfig, displayed, merge, secret_context, secret_fields, split};
use certctl_shared::entities::notification_channel::Model as Channel;
use certctl_shared::model::{ChannelKind, EventType};
use certctl_shared::repo::notifications::ChannelTest;
use certctl_shared::repo::{channels, notifications};
use chrono::{DateTime, Utc};
use sea_orm::TransactionTrait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::ListOut;
use super::notifications::NotificationOut;
use crate::auth::{Principal, RequestId};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::service::Actor;
use crate::service::api_keys::check_identifier;
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
    id: Uuid,
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

/// Validates full settings and returns (clear part, sealed secret part).
fn seal(state: &AppState, id: Uuid, kind: ChannelKind, full: &Value) -> Result<(Value, Option<Vec<u8>>), ApiError> {
    ChannelConfig::parse(kind, full).map_err(|m| ApiError::bad_request("invalid_channel_config", m))?;
    let (clear, secret) = split(kind, full);
    let sealed = match secret.as_object() {
        Some(o) if !o.is_empty() => Some(
            state
                .config
                .keys
                .seal(&secret_context(id), secret.to_string().as_bytes())?,
        ),
        _ => None,
    };
    Ok((clear, sealed))
}

fn event_names(types: &[EventType]) -> Result<Vec<String>, ApiError> {
    if types.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_request",
            "event_types must name at least one event type",
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for t in types {
        if !out.iter().any(|o| o == t.as_str()) {
            out.push(t.as_str().to_owned());
        }
    }
    Ok(out)
}

pub async fn create_channel(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiJson(body): ApiJson<ChannelIn>,
) -> Result<(StatusCode, Json<ChannelOut>), ApiError> {
    check_identifier("name", &body.name)?;
    let id = Uuid::now_v7();
    let (config, secret_ciphertext) = seal(&state, id, body.kind, &body.config)?;
    let now = Utc::now();
    let row = Channel {
        id,
        name: body.name,
        kind: body.kind.as_str().to_owned(),
        config,
        secret_ciphertext,
        event_types: event_names(&body.event_types)?,
        enabled: body.enabled,
        created_by: principal.principal.clone(),
        created_at: now,
        updated_at: now,
        deleted_at: None,
    };
    let txn = state.db.begin().await?;
    let row = channels::insert(&txn, row).await?;
    Actor::new(&principal, request_id)
        .audit(
            &txn,
            "channel.create",
            "notification_channel",
            row.id,
            json!({ "name": row.name, "kind": row.kind, "event_types": row.event_types, "enabled": row.enabled }),
        )
        .await?;
    txn.commit().await?;
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
    ApiPath(id): ApiPath<Uuid>,
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
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(patch): ApiJson<ChannelPatch>,
) -> Result<Json<ChannelOut>, ApiError> {
    let txn = state.db.begin().await?;
    let mut row = channels::find_live(&txn, id)
        .await?
        .ok_or(ApiError::NotFound("notification channel"))?;
    let kind = ChannelKind::parse(&row.kind)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("channel {id} has unknown kind {}", row.kind)))?;
    if let Some(name) = patch.name {
        check_identifier("name", &name)?;
        row.name = name;
    }
    if let Some(types) = patch.event_types {
        row.event_types = event_names(&types)?;
    }
    if let Some(enabled) = patch.enabled {
        row.enabled = enabled;
    }
    if let Some(changes) = patch.config {
        let Some(changes) = changes.as_object() else {
            return Err(ApiError::bad_request(
                "invalid_channel_config",
                "config must be an object",
            ));
        };
        let secret = match &row.secret_ciphertext {
            Some(sealed) => serde_json::from_slice(&state.config.keys.open(&secret_context(id), sealed)?)
                .map_err(ApiError::internal)?,
            None => json!({}),
        };
        let mut full = merge(&row.config, &secret);
        if let Some(obj) = full.as_object_mut() {
            for (k, v) in changes {
                if v.is_null() {
                    obj.remove(k);
                } else {
                    obj.insert(k.clone(), v.clone());
                }
            }
        }
        let (clear, sealed) = seal(&state, id, kind, &full)?;
        row.config = clear;
        row.secret_ciphertext = sealed;
    }
    row.updated_at = Utc::now();
    let row = channels::update(&txn, row).await?;
    Actor::new(&principal, request_id)
        .audit(
            &txn,
            "channel.update",
            "notification_channel",
            id,
            json!({ "name": row.name, "event_types": row.event_types, "enabled": row.enabled, "config": row.config }),
        )
        .await?;
    txn.commit().await?;
    Ok(Json(ChannelOut::new(row, &state)))
}

/// Soft delete: the channel stops receiving new notifications; rows already queued for it go
/// `dead` naming it, so nothing disappears silently.
pub async fn delete_channel(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    let txn = state.db.begin().await?;
    let mut row = channels::find_live(&txn, id)
        .await?
        .ok_or(ApiError::NotFound("notification channel"))?;
    row.deleted_at = Some(Utc::now());
    row.updated_at = Utc::now();
    let row = channels::update(&txn, row).await?;
    Actor::new(&principal, request_id)
        .audit(
            &txn,
            "channel.delete",
            "notification_channel",
            id,
            json!({ "name": row.name }),
        )
        .await?;
    txn.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sends a `channel_test` notification through the whole pipeline: outbox, broker, worker.
pub async fn test_channel(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    let queued = notifications::enqueue_channel_test(
        &state.db,
        id,
        &principal.principal,
        Some(principal.key_id),
        request_id.0,
    )
    .await?;
    let (event, kind) = match queued {
        ChannelTest::NotFound => return Err(ApiError::NotFound("notification channel")),
        ChannelTest::Disabled => {
            return Err(ApiError::conflict(
                "channel_disabled",
                "the channel is disabled; enable it before testing",
            ));
        }
        ChannelTest::Queued { event, channel_kind } => (*event, channel_kind),
    };
    state.dispatch(vec![event.id]);
    let out = NotificationOut::new(event, Some(kind), state.config.notifications.retry.max_attempts);
    Ok((StatusCode::ACCEPTED, Json(out)).into_response())
}

//! `/api/v1/api-keys`

use axum::Json;
use axum::http::StatusCode;
use certctl_shared::entities::api_key::Model as ApiKey;
use certctl_shared::model::ApiKeyId;
use certctl_shared::model::Role;
use certctl_shared::repo::api_keys;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ListOut;
use crate::auth::{Principal, RequestId};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::service::api_keys as svc;
use crate::state::AppState;
use axum::extract::State;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyIn {
    name: String,
    role: Role,
    principal: Option<String>,
    expires_at: Option<DateTime<Utc>>,
}

/// A key as listed: never the secret, never the hash.
#[derive(Serialize)]
pub struct ApiKeyOut {
    id: ApiKeyId,
    name: String,
    principal: String,
    role: Role,
    created_by: String,
    /// The key that created this one (`null` for the bootstrap key).
    created_by_key_id: Option<ApiKeyId>,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    disabled_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
}

impl From<ApiKey> for ApiKeyOut {
    fn from(k: ApiKey) -> Self {
        Self {
            id: k.id,
            name: k.name,
            principal: k.principal,
            role: k.role,
            created_by: k.created_by,
            created_by_key_id: k.created_by_key_id,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            disabled_at: k.disabled_at,
            expires_at: k.expires_at,
        }
    }
}

pub async fn create_api_key(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiJson(body): ApiJson<ApiKeyIn>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let actor = principal.actor(request_id);
    let (key, secret) = svc::create(
        &state.db,
        &actor,
        svc::NewKey {
            name: body.name,
            role: body.role,
            principal: body.principal,
            expires_at: body.expires_at,
        },
    )
    .await?;
    let mut out = serde_json::to_value(ApiKeyOut::from(key)).map_err(ApiError::internal)?;
    out["key"] = serde_json::Value::String(secret);
    Ok((StatusCode::CREATED, Json(out)))
}

pub async fn list_api_keys(State(state): State<AppState>) -> Result<Json<ListOut<ApiKeyOut>>, ApiError> {
    let keys = api_keys::list(&state.db).await?;
    let total = keys.len() as u64;
    Ok(Json(ListOut {
        data: keys.into_iter().map(Into::into).collect(),
        next_cursor: None,
        total,
    }))
}

pub async fn disable_api_key(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiPath(id): ApiPath<ApiKeyId>,
) -> Result<Json<ApiKeyOut>, ApiError> {
    let key = svc::disable(&state.db, &principal.actor(request_id), id).await?;
    Ok(Json(key.into()))
}

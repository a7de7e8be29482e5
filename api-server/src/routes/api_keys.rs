//! `/api/v1/api-keys`

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use certctl_shared::entities::api_key::Model as ApiKey;
use certctl_shared::model::ApiKeyId;
use certctl_shared::repo::api_keys;
use certctl_types::api::ListOut;
use certctl_types::api::access::{ApiKeyCreatedOut, ApiKeyIn, ApiKeyOut};

use crate::auth::{Principal, RequestId};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::service::api_keys as svc;
use crate::state::AppState;

/// A key as shown: never its secret or hash.
fn api_key_out(k: ApiKey) -> ApiKeyOut {
    ApiKeyOut {
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

/// Creates an API key. The secret is in this response only.
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "api-keys", request_body = ApiKeyIn, responses(
    (status = 201, description = "Created; `key` is the secret, shown this once", body = ApiKeyCreatedOut),
))]
pub async fn create_api_key(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiJson(body): ApiJson<ApiKeyIn>,
) -> Result<(StatusCode, Json<ApiKeyCreatedOut>), ApiError> {
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
    Ok((
        StatusCode::CREATED,
        Json(ApiKeyCreatedOut {
            api_key: api_key_out(key),
            key: secret,
        }),
    ))
}

/// Lists every API key, disabled ones included (one page: `next_cursor` is always `null`).
#[utoipa::path(get, path = "/api/v1/api-keys", tag = "api-keys", responses(
    (status = 200, description = "Every key", body = ListOut<ApiKeyOut>),
))]
pub async fn list_api_keys(State(state): State<AppState>) -> Result<Json<ListOut<ApiKeyOut>>, ApiError> {
    let keys = api_keys::list(&state.db).await?;
    let total = keys.len() as u64;
    Ok(Json(ListOut {
        data: keys.into_iter().map(api_key_out).collect(),
        next_cursor: None,
        total,
        total_estimated: false,
    }))
}

/// Disables a key at once; the last enabled admin key cannot be disabled.
#[utoipa::path(post, path = "/api/v1/api-keys/{id}/disable", tag = "api-keys",
    params(("id" = ApiKeyId, Path, description = "The key's id")),
    responses((status = 200, description = "Disabled", body = ApiKeyOut)),
)]
pub async fn disable_api_key(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiPath(id): ApiPath<ApiKeyId>,
) -> Result<Json<ApiKeyOut>, ApiError> {
    let key = svc::disable(&state.db, &principal.actor(request_id), id).await?;
    Ok(Json(api_key_out(key)))
}

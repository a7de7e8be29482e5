//! `/api/v1/profiles`

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use certctl_pki::names::SanRules;
use certctl_pki::{Eku, KeyAlgorithm};
use certctl_shared::entities::certificate_profile::Model as Profile;
use certctl_shared::model::ProfileId;
use certctl_shared::repo::profiles;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ListOut;
use crate::auth::{Principal, RequestId};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::service::profiles::{self as svc, ProfileSpec};
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileIn {
    name: String,
    #[serde(default)]
    description: String,
    max_ttl_seconds: i64,
    allowed_key_algorithms: Vec<KeyAlgorithm>,
    ekus: Vec<Eku>,
    #[serde(default)]
    san_rules: SanRules,
    #[serde(default)]
    requires_approval: bool,
    #[serde(default)]
    allow_short_lived: bool,
}

#[derive(Serialize)]
pub struct ProfileOut {
    id: ProfileId,
    name: String,
    description: String,
    max_ttl_seconds: i64,
    allowed_key_algorithms: Vec<String>,
    ekus: Vec<String>,
    san_rules: serde_json::Value,
    requires_approval: bool,
    allow_short_lived: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    revision: i64,
}

impl From<Profile> for ProfileOut {
    fn from(p: Profile) -> Self {
        Self {
            id: p.id,
            name: p.name,
            description: p.description,
            max_ttl_seconds: p.max_ttl_seconds,
            allowed_key_algorithms: p.allowed_key_algorithms,
            ekus: p.ekus,
            san_rules: p.san_rules,
            requires_approval: p.requires_approval,
            allow_short_lived: p.allow_short_lived,
            created_at: p.created_at,
            updated_at: p.updated_at,
            revision: p.revision,
        }
    }
}

impl From<ProfileIn> for ProfileSpec {
    fn from(p: ProfileIn) -> Self {
        Self {
            name: p.name,
            description: p.description,
            max_ttl_seconds: p.max_ttl_seconds,
            allowed_key_algorithms: p.allowed_key_algorithms,
            ekus: p.ekus,
            san_rules: p.san_rules,
            requires_approval: p.requires_approval,
            allow_short_lived: p.allow_short_lived,
        }
    }
}

pub async fn create_profile(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiJson(body): ApiJson<ProfileIn>,
) -> Result<(StatusCode, Json<ProfileOut>), ApiError> {
    let row = svc::create(&state, &principal.actor(request_id), body.into()).await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

pub async fn replace_profile(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiPath(id): ApiPath<ProfileId>,
    ApiJson(body): ApiJson<ProfileIn>,
) -> Result<Json<ProfileOut>, ApiError> {
    let row = svc::replace(&state, &principal.actor(request_id), id, body.into()).await?;
    Ok(Json(row.into()))
}

pub async fn list_profiles(State(state): State<AppState>) -> Result<Json<ListOut<ProfileOut>>, ApiError> {
    let rows = profiles::list(&state.db).await?;
    let total = rows.len() as u64;
    Ok(Json(ListOut {
        data: rows.into_iter().map(Into::into).collect(),
        next_cursor: None,
        total,
    }))
}

pub async fn get_profile(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ProfileId>,
) -> Result<Json<ProfileOut>, ApiError> {
    let row = profiles::find_by_id(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("profile"))?;
    Ok(Json(row.into()))
}

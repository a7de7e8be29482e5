//! `/api/v1/profiles`

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use certctl_shared::entities::certificate_profile::Model as Profile;
use certctl_shared::model::ProfileId;
use certctl_shared::repo::profiles;
use certctl_types::api::ListOut;
use certctl_types::api::policy::{ProfileIn, ProfileOut};

use crate::auth::{Principal, RequestId};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::service::profiles::{self as svc, ProfileSpec};
use crate::state::AppState;

const PROFILE_ID: &str = "The profile's id";

fn profile_out(p: Profile) -> Result<ProfileOut, ApiError> {
    Ok(ProfileOut {
        san_rules: serde_json::from_value(p.san_rules)
            .map_err(|e| ApiError::internal(anyhow::Error::new(e).context("stored san_rules do not parse")))?,
        id: p.id,
        name: p.name,
        description: p.description,
        max_ttl_seconds: p.max_ttl_seconds,
        allowed_key_algorithms: p.allowed_key_algorithms,
        ekus: p.ekus,
        requires_approval: p.requires_approval,
        allow_short_lived: p.allow_short_lived,
        renewal_policy_id: p.renewal_policy_id,
        created_at: p.created_at,
        updated_at: p.updated_at,
        revision: p.revision,
    })
}

fn spec(p: ProfileIn) -> ProfileSpec {
    ProfileSpec {
        name: p.name,
        description: p.description,
        max_ttl_seconds: p.max_ttl_seconds,
        allowed_key_algorithms: p.allowed_key_algorithms,
        ekus: p.ekus,
        san_rules: p.san_rules,
        requires_approval: p.requires_approval,
        allow_short_lived: p.allow_short_lived,
        renewal_policy_id: p.renewal_policy_id,
    }
}

/// Creates a profile: what may be issued (lifetime, key types, usages, names) and whether an
/// approver must agree first.
#[utoipa::path(post, path = "/api/v1/profiles", tag = "profiles", request_body = ProfileIn, responses(
    (status = 201, description = "Created", body = ProfileOut),
))]
pub async fn create_profile(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiJson(body): ApiJson<ProfileIn>,
) -> Result<(StatusCode, Json<ProfileOut>), ApiError> {
    let row = svc::create(&state, &principal.actor(request_id), spec(body)).await?;
    Ok((StatusCode::CREATED, Json(profile_out(row)?)))
}

/// Replaces a profile whole and bumps its revision; jobs waiting under the old revision are
/// refused on approval.
#[utoipa::path(put, path = "/api/v1/profiles/{id}", tag = "profiles",
    params(("id" = ProfileId, Path, description = PROFILE_ID)),
    request_body = ProfileIn,
    responses((status = 200, description = "Replaced", body = ProfileOut)),
)]
pub async fn replace_profile(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiPath(id): ApiPath<ProfileId>,
    ApiJson(body): ApiJson<ProfileIn>,
) -> Result<Json<ProfileOut>, ApiError> {
    let row = svc::replace(&state, &principal.actor(request_id), id, spec(body)).await?;
    Ok(Json(profile_out(row)?))
}

/// Lists every profile (one page: `next_cursor` is always `null`).
#[utoipa::path(get, path = "/api/v1/profiles", tag = "profiles", responses(
    (status = 200, description = "Every profile", body = ListOut<ProfileOut>),
))]
pub async fn list_profiles(State(state): State<AppState>) -> Result<Json<ListOut<ProfileOut>>, ApiError> {
    let rows = profiles::list(&state.db).await?;
    let total = rows.len() as u64;
    Ok(Json(ListOut {
        data: rows.into_iter().map(profile_out).collect::<Result<_, _>>()?,
        next_cursor: None,
        total,
        total_estimated: false,
    }))
}

/// One profile.
#[utoipa::path(get, path = "/api/v1/profiles/{id}", tag = "profiles",
    params(("id" = ProfileId, Path, description = PROFILE_ID)),
    responses((status = 200, description = "The profile", body = ProfileOut)),
)]
pub async fn get_profile(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ProfileId>,
) -> Result<Json<ProfileOut>, ApiError> {
    let row = profiles::find_by_id(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("profile"))?;
    Ok(Json(profile_out(row)?))
}

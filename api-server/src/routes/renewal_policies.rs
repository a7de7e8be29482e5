//! `/api/v1/renewal-policies`

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use certctl_shared::entities::renewal_policy::Model as Policy;
use certctl_shared::model::{ChannelId, RenewalPolicyId};
use certctl_shared::repo::renewal::{self, DEFAULT_POLICY};
use certctl_types::api::ListOut;
use certctl_types::api::renewal::{RenewalPolicyIn, RenewalPolicyOut};

use crate::auth::{Principal, RequestId};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::service::renewal::{self as svc, PolicySpec};
use crate::state::AppState;

const POLICY_ID: &str = "The renewal policy's id";

fn policy_out(p: Policy) -> RenewalPolicyOut {
    RenewalPolicyOut {
        built_in: p.id == DEFAULT_POLICY,
        id: p.id,
        name: p.name,
        renew_before_seconds: p.renew_before_seconds,
        renew_at_fraction: p.renew_at_fraction,
        auto_renew: p.auto_renew,
        rotate_key: p.rotate_key,
        max_attempts: p.max_attempts,
        retry_interval_seconds: p.retry_interval_seconds,
        warning_days: p.warning_days,
        channel_ids: p.channel_ids.map(|c| c.into_iter().map(ChannelId).collect()),
        created_at: p.created_at,
        updated_at: p.updated_at,
    }
}

fn spec(p: RenewalPolicyIn) -> PolicySpec {
    PolicySpec {
        name: p.name,
        renew_before_seconds: p.renew_before_seconds,
        renew_at_fraction: p.renew_at_fraction,
        auto_renew: p.auto_renew,
        rotate_key: p.rotate_key,
        max_attempts: p.max_attempts,
        retry_interval_seconds: p.retry_interval_seconds,
        warning_days: p.warning_days,
        channel_ids: p.channel_ids,
    }
}

/// Creates a renewal policy: when certificates enter their renewal window, whether certctl
/// renews them by itself, with the same key or a new one, how failures are retried, and which
/// warnings and channels apply. Profiles and certificates name it to follow it.
#[utoipa::path(post, path = "/api/v1/renewal-policies", tag = "renewal", request_body = RenewalPolicyIn, responses(
    (status = 201, description = "Created", body = RenewalPolicyOut),
))]
pub async fn create_renewal_policy(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiJson(body): ApiJson<RenewalPolicyIn>,
) -> Result<(StatusCode, Json<RenewalPolicyOut>), ApiError> {
    let row = svc::create_policy(&state, &principal.actor(request_id), spec(body)).await?;
    Ok((StatusCode::CREATED, Json(policy_out(row))))
}

/// Lists every renewal policy, the built-in one among them (one page).
#[utoipa::path(get, path = "/api/v1/renewal-policies", tag = "renewal", responses(
    (status = 200, description = "Every policy", body = ListOut<RenewalPolicyOut>),
))]
pub async fn list_renewal_policies(State(state): State<AppState>) -> Result<Json<ListOut<RenewalPolicyOut>>, ApiError> {
    let rows = renewal::list(&state.db).await?;
    let total = rows.len() as u64;
    Ok(Json(ListOut {
        data: rows.into_iter().map(policy_out).collect(),
        next_cursor: None,
        total,
        total_estimated: false,
    }))
}

/// One renewal policy.
#[utoipa::path(get, path = "/api/v1/renewal-policies/{id}", tag = "renewal",
    params(("id" = RenewalPolicyId, Path, description = POLICY_ID)),
    responses((status = 200, description = "The policy", body = RenewalPolicyOut)),
)]
pub async fn get_renewal_policy(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<RenewalPolicyId>,
) -> Result<Json<RenewalPolicyOut>, ApiError> {
    let row = renewal::find_by_id(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("renewal policy"))?;
    Ok(Json(policy_out(row)))
}

/// Replaces a renewal policy whole; the windows of the certificates that follow it are
/// recomputed at once.
#[utoipa::path(put, path = "/api/v1/renewal-policies/{id}", tag = "renewal",
    params(("id" = RenewalPolicyId, Path, description = POLICY_ID)),
    request_body = RenewalPolicyIn,
    responses((status = 200, description = "Replaced", body = RenewalPolicyOut)),
)]
pub async fn replace_renewal_policy(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiPath(id): ApiPath<RenewalPolicyId>,
    ApiJson(body): ApiJson<RenewalPolicyIn>,
) -> Result<Json<RenewalPolicyOut>, ApiError> {
    let row = svc::replace_policy(&state, &principal.actor(request_id), id, spec(body)).await?;
    Ok(Json(policy_out(row)))
}

/// Deletes a renewal policy that no profile or certificate follows. The built-in policy cannot
/// be deleted.
#[utoipa::path(delete, path = "/api/v1/renewal-policies/{id}", tag = "renewal",
    params(("id" = RenewalPolicyId, Path, description = POLICY_ID)),
    responses((status = 204, description = "Deleted")),
)]
pub async fn delete_renewal_policy(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiPath(id): ApiPath<RenewalPolicyId>,
) -> Result<StatusCode, ApiError> {
    svc::delete_policy(&state, &principal.actor(request_id), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

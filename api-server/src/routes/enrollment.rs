//! `/api/v1/enrollment-profiles`

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use certctl_shared::entities::enrollment_profile::Model as EnrollmentProfile;
use certctl_shared::model::EnrollmentProfileId;
use certctl_shared::repo::enrollment;
use certctl_types::api::ListOut;
use certctl_types::api::enrollment::{EnrollmentProfileCreatedOut, EnrollmentProfileIn, EnrollmentProfileOut};

use crate::auth::{Principal, RequestId};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::service::enrollment::{self as svc, EstAuth, NewEnrollmentProfile, ScepAuth};
use crate::state::AppState;

const ENROLLMENT_PROFILE_ID: &str = "The enrollment profile's id";

/// A profile as shown: never a credential or its hash.
fn enrollment_profile_out(p: EnrollmentProfile) -> EnrollmentProfileOut {
    EnrollmentProfileOut {
        id: p.id,
        name: p.name,
        protocol: p.protocol,
        label: p.label,
        issuer_id: p.issuer_id,
        profile_id: p.profile_id,
        is_default: p.is_default,
        est_username: p.est_username,
        est_client_ca_issuer_id: p.est_client_ca_issuer_id,
        scep_challenge_expires_at: p.scep_challenge_expires_at,
        scep_challenge_one_time: p.scep_challenge_one_time,
        scep_challenge_used_at: p.scep_challenge_used_at,
        created_by: p.created_by,
        created_at: p.created_at,
        disabled_at: p.disabled_at,
        scep_ra_certificate_pem: p
            .scep_ra_certificate_der
            .as_deref()
            .map(|der| certctl_pki::pkcs7::pem("CERTIFICATE", der)),
    }
}

/// Creates an enrollment profile. For SCEP the challenge password is generated and in this
/// response only; an EST password is stored as a hash only.
#[utoipa::path(post, path = "/api/v1/enrollment-profiles", tag = "enrollment", request_body = EnrollmentProfileIn, responses(
    (status = 201, description = "Created; `scep_challenge` is shown this once", body = EnrollmentProfileCreatedOut),
))]
pub async fn create_enrollment_profile(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiJson(body): ApiJson<EnrollmentProfileIn>,
) -> Result<(StatusCode, Json<EnrollmentProfileCreatedOut>), ApiError> {
    let (row, challenge) = svc::create(
        &state,
        &principal.actor(request_id),
        NewEnrollmentProfile {
            name: body.name,
            protocol: body.protocol,
            label: body.label,
            issuer_id: body.issuer_id,
            profile_id: body.profile_id,
            is_default: body.is_default,
            est: body.est.map(|e| EstAuth {
                username: e.username,
                password: e.password,
                client_ca_issuer_id: e.client_ca_issuer_id,
            }),
            scep: body.scep.map(|s| ScepAuth {
                challenge_expires_at: s.challenge_expires_at,
                one_time: s.one_time,
            }),
        },
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(EnrollmentProfileCreatedOut {
            profile: enrollment_profile_out(row),
            scep_challenge: challenge,
        }),
    ))
}

/// Lists every enrollment profile, disabled ones included (one page: `next_cursor` is always `null`).
#[utoipa::path(get, path = "/api/v1/enrollment-profiles", tag = "enrollment", responses(
    (status = 200, description = "Every enrollment profile", body = ListOut<EnrollmentProfileOut>),
))]
pub async fn list_enrollment_profiles(
    State(state): State<AppState>,
) -> Result<Json<ListOut<EnrollmentProfileOut>>, ApiError> {
    let rows = enrollment::list(&state.db).await?;
    let total = rows.len() as u64;
    Ok(Json(ListOut {
        data: rows.into_iter().map(enrollment_profile_out).collect(),
        next_cursor: None,
        total,
        total_estimated: false,
    }))
}

/// One enrollment profile.
#[utoipa::path(get, path = "/api/v1/enrollment-profiles/{id}", tag = "enrollment",
    params(("id" = EnrollmentProfileId, Path, description = ENROLLMENT_PROFILE_ID)),
    responses((status = 200, description = "The enrollment profile", body = EnrollmentProfileOut)),
)]
pub async fn get_enrollment_profile(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<EnrollmentProfileId>,
) -> Result<Json<EnrollmentProfileOut>, ApiError> {
    let row = enrollment::find_by_id(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("enrollment profile"))?;
    Ok(Json(enrollment_profile_out(row)))
}

/// Disables an enrollment profile: its next enrollment is refused. The row stays, for the audit
/// log and the certificates issued through it.
#[utoipa::path(delete, path = "/api/v1/enrollment-profiles/{id}", tag = "enrollment",
    params(("id" = EnrollmentProfileId, Path, description = ENROLLMENT_PROFILE_ID)),
    responses((status = 200, description = "Disabled", body = EnrollmentProfileOut)),
)]
pub async fn disable_enrollment_profile(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiPath(id): ApiPath<EnrollmentProfileId>,
) -> Result<Json<EnrollmentProfileOut>, ApiError> {
    let row = svc::disable(&state, &principal.actor(request_id), id).await?;
    Ok(Json(enrollment_profile_out(row)))
}

/// Replaces a SCEP profile's RA certificate and key now (they are also replaced 30 days before
/// the RA expires). Clients pick the new RA up with GetCACert.
#[utoipa::path(post, path = "/api/v1/enrollment-profiles/{id}/rotate-scep-ra", tag = "enrollment",
    params(("id" = EnrollmentProfileId, Path, description = ENROLLMENT_PROFILE_ID)),
    responses((status = 200, description = "The profile with its new RA certificate", body = EnrollmentProfileOut)),
)]
pub async fn rotate_scep_ra(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiPath(id): ApiPath<EnrollmentProfileId>,
) -> Result<Json<EnrollmentProfileOut>, ApiError> {
    let row = svc::rotate_scep_ra(&state, &principal.actor(request_id), id).await?;
    Ok(Json(enrollment_profile_out(row)))
}

//! `/api/v1/issuers`

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use certctl_shared::entities::issuer::Model as Issuer;
use certctl_shared::model::IssuerId;
use certctl_shared::repo::issuers;
use certctl_types::api::ListOut;
use certctl_types::api::policy::{IssuerIn, IssuerOut};

use crate::auth::{Principal, RequestId};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::service::issuers as svc;
use crate::state::AppState;

/// An issuer as shown: never its key.
fn issuer_out(i: Issuer) -> IssuerOut {
    IssuerOut {
        id: i.id,
        name: i.name,
        common_name: i.common_name,
        key_algorithm: i.key_algorithm,
        is_root: i.parent_issuer_id.is_none(),
        parent_issuer_id: i.parent_issuer_id,
        serial_hex: i.serial_hex,
        not_before: i.not_before,
        not_after: i.not_after,
        certificate_pem: i.certificate_pem,
        created_by: i.created_by,
        created_at: i.created_at,
        crl_shards: u16::try_from(i.crl_shards).unwrap_or(0),
        disabled_at: i.disabled_at,
    }
}

/// Creates a certificate authority: a self-signed root, or an intermediate signed by a root.
/// Its key is generated here and stored sealed; it never leaves the server.
#[utoipa::path(post, path = "/api/v1/issuers", tag = "issuers", request_body = IssuerIn, responses(
    (status = 201, description = "Created", body = IssuerOut),
))]
pub async fn create_issuer(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiJson(body): ApiJson<IssuerIn>,
) -> Result<(StatusCode, Json<IssuerOut>), ApiError> {
    let row = svc::create(
        &state,
        &principal.actor(request_id),
        svc::NewIssuer {
            name: body.name,
            common_name: body.common_name,
            key_algorithm: body.key_algorithm,
            parent_issuer_id: body.parent_issuer_id,
            validity_days: body.validity_days,
            crl_shards: body.crl_shards.unwrap_or(0),
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(issuer_out(row))))
}

/// Lists every issuer (one page: `next_cursor` is always `null`).
#[utoipa::path(get, path = "/api/v1/issuers", tag = "issuers", responses(
    (status = 200, description = "Every issuer", body = ListOut<IssuerOut>),
))]
pub async fn list_issuers(State(state): State<AppState>) -> Result<Json<ListOut<IssuerOut>>, ApiError> {
    let rows = issuers::list(&state.db).await?;
    let total = rows.len() as u64;
    Ok(Json(ListOut {
        data: rows.into_iter().map(issuer_out).collect(),
        next_cursor: None,
        total,
        total_estimated: false,
    }))
}

/// One issuer, with its certificate.
#[utoipa::path(get, path = "/api/v1/issuers/{id}", tag = "issuers",
    params(("id" = IssuerId, Path, description = ISSUER_ID)),
    responses((status = 200, description = "The issuer", body = IssuerOut)),
)]
pub async fn get_issuer(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<IssuerId>,
) -> Result<Json<IssuerOut>, ApiError> {
    let row = issuers::find_by_id(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("issuer"))?;
    Ok(Json(issuer_out(row)))
}

const ISSUER_ID: &str = "The issuer's id";

/// Disables an issuer: from now on it signs no certificate (issuance, renewals, automatic
/// renewals and enrollments under it are refused with `409 issuer_disabled`); its CRLs and OCSP
/// responses go on. Disabling a disabled issuer changes nothing.
#[utoipa::path(post, path = "/api/v1/issuers/{id}/disable", tag = "issuers",
    params(("id" = IssuerId, Path, description = ISSUER_ID)),
    responses((status = 200, description = "Disabled", body = IssuerOut)),
)]
pub async fn disable_issuer(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiPath(id): ApiPath<IssuerId>,
) -> Result<Json<IssuerOut>, ApiError> {
    set_disabled(&state, principal, request_id, id, true).await
}

/// Enables a disabled issuer again.
#[utoipa::path(post, path = "/api/v1/issuers/{id}/enable", tag = "issuers",
    params(("id" = IssuerId, Path, description = ISSUER_ID)),
    responses((status = 200, description = "Enabled", body = IssuerOut)),
)]
pub async fn enable_issuer(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiPath(id): ApiPath<IssuerId>,
) -> Result<Json<IssuerOut>, ApiError> {
    set_disabled(&state, principal, request_id, id, false).await
}

async fn set_disabled(
    state: &AppState,
    principal: Principal,
    request_id: RequestId,
    id: IssuerId,
    disabled: bool,
) -> Result<Json<IssuerOut>, ApiError> {
    let row = svc::set_disabled(state, &principal.actor(request_id), id, disabled)
        .await?
        .ok_or(ApiError::NotFound("issuer"))?;
    Ok(Json(issuer_out(row)))
}

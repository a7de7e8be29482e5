//! `/api/v1/acme-endpoints`

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use certctl_shared::entities::acme_account::Model as AcmeAccount;
use certctl_shared::entities::acme_endpoint::Model as AcmeEndpoint;
use certctl_shared::entities::acme_order::Model as AcmeOrder;
use certctl_shared::model::AcmeEndpointId;
use certctl_shared::model::{AcmeAccountId, AcmeOrderId};
use certctl_shared::repo::acme;
use certctl_types::api::ListOut;
use certctl_types::api::acme::{
    AcmeAccountOut, AcmeEndpointIn, AcmeEndpointOut, AcmeIdentifierOut, AcmeOrderOut, AcmePageQuery, EabKeyCreatedOut,
};

use crate::auth::{Principal, RequestId};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::query::Params;
use crate::service::acme_endpoints::{self as svc, NewAcmeEndpoint};
use crate::state::AppState;

const ACME_ENDPOINT_ID: &str = "The ACME endpoint's id";

fn acme_endpoint_out(e: AcmeEndpoint) -> AcmeEndpointOut {
    AcmeEndpointOut {
        directory_path: format!("/acme/{}/directory", e.label),
        id: e.id,
        name: e.name,
        label: e.label,
        issuer_id: e.issuer_id,
        profile_id: e.profile_id,
        eab_required: e.eab_required,
        allowed_dns_suffixes: e.allowed_dns_suffixes,
        allowed_ip_ranges: e.allowed_ip_ranges,
        allow_private_targets: e.allow_private_targets,
        terms_of_service_url: e.terms_of_service_url,
        created_by: e.created_by,
        created_at: e.created_at,
        disabled_at: e.disabled_at,
    }
}

/// Creates an ACME endpoint, served at `directory_path`.
#[utoipa::path(post, path = "/api/v1/acme-endpoints", tag = "acme", request_body = AcmeEndpointIn, responses(
    (status = 201, description = "Created", body = AcmeEndpointOut),
))]
pub async fn create_acme_endpoint(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiJson(body): ApiJson<AcmeEndpointIn>,
) -> Result<(StatusCode, Json<AcmeEndpointOut>), ApiError> {
    let row = svc::create(
        &state,
        &principal.actor(request_id),
        NewAcmeEndpoint {
            name: body.name,
            label: body.label,
            issuer_id: body.issuer_id,
            profile_id: body.profile_id,
            eab_required: body.eab_required,
            allowed_dns_suffixes: body.allowed_dns_suffixes,
            allowed_ip_ranges: body.allowed_ip_ranges,
            allow_private_targets: body.allow_private_targets,
            terms_of_service_url: body.terms_of_service_url,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(acme_endpoint_out(row))))
}

/// Lists every ACME endpoint, disabled ones included (one page: `next_cursor` is always `null`).
#[utoipa::path(get, path = "/api/v1/acme-endpoints", tag = "acme", responses(
    (status = 200, description = "Every ACME endpoint", body = ListOut<AcmeEndpointOut>),
))]
pub async fn list_acme_endpoints(State(state): State<AppState>) -> Result<Json<ListOut<AcmeEndpointOut>>, ApiError> {
    let rows = acme::list_endpoints(&state.db).await?;
    let total = rows.len() as u64;
    Ok(Json(ListOut {
        data: rows.into_iter().map(acme_endpoint_out).collect(),
        next_cursor: None,
        total,
        total_estimated: false,
    }))
}

/// One ACME endpoint.
#[utoipa::path(get, path = "/api/v1/acme-endpoints/{id}", tag = "acme",
    params(("id" = AcmeEndpointId, Path, description = ACME_ENDPOINT_ID)),
    responses((status = 200, description = "The ACME endpoint", body = AcmeEndpointOut)),
)]
pub async fn get_acme_endpoint(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<AcmeEndpointId>,
) -> Result<Json<AcmeEndpointOut>, ApiError> {
    let row = acme::find_endpoint(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("ACME endpoint"))?;
    Ok(Json(acme_endpoint_out(row)))
}

/// Disables an ACME endpoint. The row stays, for the audit log and what was issued through it.
#[utoipa::path(delete, path = "/api/v1/acme-endpoints/{id}", tag = "acme",
    params(("id" = AcmeEndpointId, Path, description = ACME_ENDPOINT_ID)),
    responses((status = 200, description = "Disabled", body = AcmeEndpointOut)),
)]
pub async fn disable_acme_endpoint(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiPath(id): ApiPath<AcmeEndpointId>,
) -> Result<Json<AcmeEndpointOut>, ApiError> {
    let row = svc::disable(&state, &principal.actor(request_id), id).await?;
    Ok(Json(acme_endpoint_out(row)))
}

/// Issues an External Account Binding key for the endpoint; its HMAC key is in this response
/// only.
#[utoipa::path(post, path = "/api/v1/acme-endpoints/{id}/eab-keys", tag = "acme",
    params(("id" = AcmeEndpointId, Path, description = ACME_ENDPOINT_ID)),
    responses((status = 201, description = "Created; `hmac_key` is shown this once", body = EabKeyCreatedOut)),
)]
pub async fn create_eab_key(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiPath(id): ApiPath<AcmeEndpointId>,
) -> Result<(StatusCode, Json<EabKeyCreatedOut>), ApiError> {
    let (row, hmac_key) = svc::create_eab_key(&state, &principal.actor(request_id), id).await?;
    Ok((
        StatusCode::CREATED,
        Json(EabKeyCreatedOut {
            kid: row.kid,
            hmac_key,
            endpoint_id: row.endpoint_id,
            created_at: row.created_at,
        }),
    ))
}

const ACME_ACCOUNT_ID: &str = "The ACME account's id";

fn acme_account_out(a: AcmeAccount, endpoint_name: &str) -> AcmeAccountOut {
    AcmeAccountOut {
        actor: format!("acme:{endpoint_name}/{}", a.id),
        id: a.id,
        endpoint_id: a.endpoint_id,
        status: a.status,
        contact: a.contact,
        key_thumbprint: a.thumbprint,
        eab_kid: a.eab_kid,
        registered_by: a.registered_by,
        created_at: a.created_at,
        updated_at: a.updated_at,
    }
}

fn acme_order_out(o: AcmeOrder) -> AcmeOrderOut {
    let identifiers = o
        .identifiers
        .as_array()
        .map(|ids| {
            ids.iter()
                .map(|i| AcmeIdentifierOut {
                    kind: i["type"].as_str().unwrap_or_default().to_owned(),
                    value: i["value"].as_str().unwrap_or_default().to_owned(),
                })
                .collect()
        })
        .unwrap_or_default();
    AcmeOrderOut {
        id: o.id,
        account_id: o.account_id,
        endpoint_id: o.endpoint_id,
        status: o.status,
        identifiers,
        expires_at: o.expires_at,
        error: o.error,
        job_id: o.job_id,
        certificate_id: o.certificate_id,
        replaces_certificate_id: o.replaces_certificate_id,
        created_at: o.created_at,
        updated_at: o.updated_at,
    }
}

/// The next page's cursor: the last id, when the page is full.
fn next_cursor<T: ToString>(len: usize, limit: u64, last: Option<T>) -> Option<String> {
    (len as u64 == limit).then_some(last).flatten().map(|id| id.to_string())
}

/// The accounts ACME clients registered at an endpoint, oldest first.
#[utoipa::path(get, path = "/api/v1/acme-endpoints/{id}/accounts", tag = "acme",
    params(("id" = AcmeEndpointId, Path, description = ACME_ENDPOINT_ID), AcmePageQuery),
    responses((status = 200, description = "One page", body = ListOut<AcmeAccountOut>)),
)]
pub async fn list_acme_accounts(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<AcmeEndpointId>,
    mut q: Params,
) -> Result<Json<ListOut<AcmeAccountOut>>, ApiError> {
    let cursor = q.id_cursor::<AcmeAccountId>()?;
    let limit = q.limit()?;
    q.finish(AcmePageQuery::NAMES)?;
    let endpoint = acme::find_endpoint(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("ACME endpoint"))?;
    let rows = acme::list_accounts(&state.db, id, cursor, limit).await?;
    let total = acme::count_accounts(&state.db, id).await?;
    let next = next_cursor(rows.len(), limit, rows.last().map(|a| a.id));
    Ok(Json(ListOut {
        data: rows.into_iter().map(|a| acme_account_out(a, &endpoint.name)).collect(),
        next_cursor: next,
        total,
        total_estimated: false,
    }))
}

/// One ACME account.
#[utoipa::path(get, path = "/api/v1/acme-accounts/{id}", tag = "acme",
    params(("id" = AcmeAccountId, Path, description = ACME_ACCOUNT_ID)),
    responses((status = 200, description = "The account", body = AcmeAccountOut)),
)]
pub async fn get_acme_account(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<AcmeAccountId>,
) -> Result<Json<AcmeAccountOut>, ApiError> {
    let account = acme::find_account(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("ACME account"))?;
    let endpoint = acme::find_endpoint(&state.db, account.endpoint_id)
        .await?
        .ok_or(ApiError::NotFound("ACME endpoint"))?;
    Ok(Json(acme_account_out(account, &endpoint.name)))
}

/// The orders of an ACME account, oldest first: what it asked for and what it holds.
#[utoipa::path(get, path = "/api/v1/acme-accounts/{id}/orders", tag = "acme",
    params(("id" = AcmeAccountId, Path, description = ACME_ACCOUNT_ID), AcmePageQuery),
    responses((status = 200, description = "One page", body = ListOut<AcmeOrderOut>)),
)]
pub async fn list_acme_orders(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<AcmeAccountId>,
    mut q: Params,
) -> Result<Json<ListOut<AcmeOrderOut>>, ApiError> {
    let cursor = q.id_cursor::<AcmeOrderId>()?;
    let limit = q.limit()?;
    q.finish(AcmePageQuery::NAMES)?;
    acme::find_account(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("ACME account"))?;
    let rows = acme::list_orders(&state.db, id, cursor, limit).await?;
    let total = acme::count_orders(&state.db, id).await?;
    let next = next_cursor(rows.len(), limit, rows.last().map(|o| o.id));
    Ok(Json(ListOut {
        data: rows.into_iter().map(acme_order_out).collect(),
        next_cursor: next,
        total,
        total_estimated: false,
    }))
}

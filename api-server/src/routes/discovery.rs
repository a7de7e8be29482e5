//! `/api/v1/scan-targets` and `/api/v1/discovered-certificates`

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use certctl_shared::entities::discovered_certificate::Model as Discovered;
use certctl_shared::entities::network_scan_target::Model as Target;
use certctl_shared::model::{DiscoveredCertificateId, ScanTargetId};
use certctl_shared::repo::discovery::{self, DiscoveredFilter};
use certctl_types::api::ListOut;
use certctl_types::api::discovery::{
    DiscoveredCertificateOut, DiscoveredQuery, DiscoveryDecisionIn, EndpointOut, ScanTargetIn, ScanTargetOut,
};
use chrono::Utc;

use crate::auth::{Principal, RequestId};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::query::Params;
use crate::service::discovery::{self as svc, TargetSpec};
use crate::state::AppState;

const TARGET_ID: &str = "The scan target's id";
const DISCOVERED_ID: &str = "The discovered certificate's id";
const STATUSES: &[&str] = &["managed", "unmanaged", "claimed", "dismissed"];

fn target_out(t: Target) -> ScanTargetOut {
    ScanTargetOut {
        id: t.id,
        name: t.name,
        cidrs: t.cidrs,
        ports: t.ports,
        server_name: t.server_name,
        interval_seconds: t.interval_seconds,
        timeout_ms: t.timeout_ms,
        concurrency: t.concurrency,
        enabled: t.enabled,
        next_scan_at: t.next_scan_at,
        last_scan_started_at: t.last_scan_started_at,
        last_scan_finished_at: t.last_scan_finished_at,
        last_scan_found: t.last_scan_found,
        last_scan_error: t.last_scan_error,
        created_by: t.created_by,
        created_at: t.created_at,
        updated_at: t.updated_at,
    }
}

fn spec(t: ScanTargetIn) -> TargetSpec {
    TargetSpec {
        name: t.name,
        cidrs: t.cidrs,
        ports: t.ports,
        server_name: t.server_name,
        interval_seconds: t.interval_seconds,
        timeout_ms: t.timeout_ms,
        concurrency: t.concurrency,
        enabled: t.enabled,
    }
}

fn discovered_out(d: Discovered, endpoints: Option<Vec<discovery::Endpoint>>) -> DiscoveredCertificateOut {
    let single = endpoints.is_some();
    DiscoveredCertificateOut {
        expired: d.not_after <= Utc::now(),
        id: d.id,
        fingerprint_sha256: d.fingerprint_sha256,
        subject: d.subject,
        common_name: d.common_name,
        sans: d.sans,
        issuer: d.issuer,
        serial_hex: d.serial_hex,
        not_before: d.not_before,
        not_after: d.not_after,
        key_algorithm: d.key_algorithm,
        self_signed: d.self_signed,
        status: d.status,
        certificate_id: d.certificate_id,
        first_seen_at: d.first_seen_at,
        last_seen_at: d.last_seen_at,
        decided_by: d.decided_by,
        decided_at: d.decided_at,
        note: d.note,
        endpoints: endpoints.map(|e| {
            e.into_iter()
                .map(|e| EndpointOut {
                    address: e.address,
                    port: e.port,
                    server_name: e.server_name,
                    target_id: e.target_id,
                    first_seen_at: e.first_seen_at,
                    last_seen_at: e.last_seen_at,
                })
                .collect()
        }),
        certificate_pem: single.then_some(d.certificate_pem),
        chain_pem: single.then_some(d.chain_pem),
    }
}

/// Creates a scan target: address ranges and ports the worker connects to with TLS on a
/// schedule, recording every certificate it is shown. Only these addresses are dialled, at most
/// 1024 of them per target, and a scan must fit in 40 s even if every connection times out.
#[utoipa::path(post, path = "/api/v1/scan-targets", tag = "discovery", request_body = ScanTargetIn, responses(
    (status = 201, description = "Created; its first scan is due now", body = ScanTargetOut),
))]
pub async fn create_scan_target(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiJson(body): ApiJson<ScanTargetIn>,
) -> Result<(StatusCode, Json<ScanTargetOut>), ApiError> {
    let row = svc::create_target(&state, &principal.actor(request_id), spec(body)).await?;
    Ok((StatusCode::CREATED, Json(target_out(row))))
}

/// Lists every scan target with its last scan (one page).
#[utoipa::path(get, path = "/api/v1/scan-targets", tag = "discovery", responses(
    (status = 200, description = "Every target", body = ListOut<ScanTargetOut>),
))]
pub async fn list_scan_targets(State(state): State<AppState>) -> Result<Json<ListOut<ScanTargetOut>>, ApiError> {
    let rows = discovery::list_targets(&state.db).await?;
    let total = rows.len() as u64;
    Ok(Json(ListOut {
        data: rows.into_iter().map(target_out).collect(),
        next_cursor: None,
        total,
        total_estimated: false,
    }))
}

/// One scan target.
#[utoipa::path(get, path = "/api/v1/scan-targets/{id}", tag = "discovery",
    params(("id" = ScanTargetId, Path, description = TARGET_ID)),
    responses((status = 200, description = "The target", body = ScanTargetOut)),
)]
pub async fn get_scan_target(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ScanTargetId>,
) -> Result<Json<ScanTargetOut>, ApiError> {
    let row = discovery::find_target(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("scan target"))?;
    Ok(Json(target_out(row)))
}

/// Replaces a scan target whole; its next scan is due at once.
#[utoipa::path(put, path = "/api/v1/scan-targets/{id}", tag = "discovery",
    params(("id" = ScanTargetId, Path, description = TARGET_ID)),
    request_body = ScanTargetIn,
    responses((status = 200, description = "Replaced", body = ScanTargetOut)),
)]
pub async fn replace_scan_target(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiPath(id): ApiPath<ScanTargetId>,
    ApiJson(body): ApiJson<ScanTargetIn>,
) -> Result<Json<ScanTargetOut>, ApiError> {
    let row = svc::replace_target(&state, &principal.actor(request_id), id, spec(body)).await?;
    Ok(Json(target_out(row)))
}

/// Deletes a scan target; the certificates it found stay.
#[utoipa::path(delete, path = "/api/v1/scan-targets/{id}", tag = "discovery",
    params(("id" = ScanTargetId, Path, description = TARGET_ID)),
    responses((status = 204, description = "Deleted")),
)]
pub async fn delete_scan_target(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiPath(id): ApiPath<ScanTargetId>,
) -> Result<StatusCode, ApiError> {
    svc::delete_target(&state, &principal.actor(request_id), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Makes a scan target due now: the next worker tick scans it.
#[utoipa::path(post, path = "/api/v1/scan-targets/{id}/scan", tag = "discovery",
    params(("id" = ScanTargetId, Path, description = TARGET_ID)),
    responses((status = 202, description = "Due now", body = ScanTargetOut)),
)]
pub async fn scan_scan_target(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiPath(id): ApiPath<ScanTargetId>,
) -> Result<(StatusCode, Json<ScanTargetOut>), ApiError> {
    let row = svc::scan_now(&state, &principal.actor(request_id), id).await?;
    Ok((StatusCode::ACCEPTED, Json(target_out(row))))
}

/// Lists the certificates discovery found, newest discoveries first: `managed` (certctl issued
/// them), `unmanaged` (nobody has decided), `claimed` or `dismissed`.
#[utoipa::path(get, path = "/api/v1/discovered-certificates", tag = "discovery", params(DiscoveredQuery), responses(
    (status = 200, description = "One page", body = ListOut<DiscoveredCertificateOut>),
))]
pub async fn list_discovered_certificates(
    State(state): State<AppState>,
    mut q: Params,
) -> Result<Json<ListOut<DiscoveredCertificateOut>>, ApiError> {
    let filter = DiscoveredFilter {
        status: q.one_of("status", STATUSES, |s| STATUSES.contains(&s).then(|| s.to_owned()))?,
        search: q.text("q")?,
        expiring_before: q.time("expiring_before")?,
        target: q.uuid("target_id")?,
    };
    let cursor = q.time_cursor()?;
    let limit = q.limit()?;
    q.finish(DiscoveredQuery::NAMES)?;
    let page = discovery::list(&state.db, &filter, cursor, limit).await?;
    Ok(Json(ListOut {
        data: page.items.into_iter().map(|d| discovered_out(d, None)).collect(),
        next_cursor: page.next_cursor,
        total: page.total.count,
        total_estimated: page.total.estimated,
    }))
}

/// One discovered certificate, with where it was seen and its PEM.
#[utoipa::path(get, path = "/api/v1/discovered-certificates/{id}", tag = "discovery",
    params(("id" = DiscoveredCertificateId, Path, description = DISCOVERED_ID)),
    responses((status = 200, description = "The certificate", body = DiscoveredCertificateOut)),
)]
pub async fn get_discovered_certificate(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<DiscoveredCertificateId>,
) -> Result<Json<DiscoveredCertificateOut>, ApiError> {
    let row = discovery::find(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("discovered certificate"))?;
    let endpoints = discovery::endpoints(&state.db, id).await?;
    Ok(Json(discovered_out(row, Some(endpoints))))
}

/// Claims a certificate certctl did not issue: someone owns it, and its expiry is warned about
/// (`expiration_warning`). Audited.
#[utoipa::path(post, path = "/api/v1/discovered-certificates/{id}/claim", tag = "discovery",
    params(("id" = DiscoveredCertificateId, Path, description = DISCOVERED_ID)),
    request_body = Option<DiscoveryDecisionIn>,
    responses((status = 200, description = "Claimed", body = DiscoveredCertificateOut)),
)]
pub async fn claim_discovered_certificate(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiPath(id): ApiPath<DiscoveredCertificateId>,
    ApiJson(body): ApiJson<DiscoveryDecisionIn>,
) -> Result<Json<DiscoveredCertificateOut>, ApiError> {
    let row = svc::decide(&state, &principal.actor(request_id), id, true, body.note).await?;
    Ok(Json(discovered_out(row, None)))
}

/// Dismisses a certificate certctl did not issue: not ours to watch, so no expiry warnings.
/// Audited; a later claim reverses it.
#[utoipa::path(post, path = "/api/v1/discovered-certificates/{id}/dismiss", tag = "discovery",
    params(("id" = DiscoveredCertificateId, Path, description = DISCOVERED_ID)),
    request_body = Option<DiscoveryDecisionIn>,
    responses((status = 200, description = "Dismissed", body = DiscoveredCertificateOut)),
)]
pub async fn dismiss_discovered_certificate(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiPath(id): ApiPath<DiscoveredCertificateId>,
    ApiJson(body): ApiJson<DiscoveryDecisionIn>,
) -> Result<Json<DiscoveredCertificateOut>, ApiError> {
    let row = svc::decide(&state, &principal.actor(request_id), id, false, body.note).await?;
    Ok(Json(discovered_out(row, None)))
}

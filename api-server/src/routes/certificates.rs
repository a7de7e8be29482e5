//! `/api/v1/certificates`

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use certctl_pki::KeyAlgorithm;
use certctl_shared::entities::certificate::Model as Certificate;
use certctl_shared::entities::certificate_revocation::Model as Revocation;
use certctl_shared::model::{CertificateId, IssuerId, JobId, ProfileId};
use certctl_shared::model::{CertificateStatus, RevocationReason};
use certctl_shared::repo::certificates::{self, CertificateFilter};
use certctl_shared::repo::revocations;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::ListOut;
use crate::auth::{Principal, RequestId};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::query::Params;
use crate::service::issuance::{self, IssueInput, IssueOutcome, KeySource};
use crate::service::issuers;
use crate::service::revocation::{self, BulkCriteria};
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueIn {
    issuer_id: IssuerId,
    profile_id: ProfileId,
    common_name: String,
    sans: Option<Vec<String>>,
    ttl_seconds: Option<i64>,
    csr_pem: Option<String>,
    key_algorithm: Option<KeyAlgorithm>,
}

#[derive(Serialize)]
pub struct RevocationOut {
    reason: String,
    revoked_at: DateTime<Utc>,
    revoked_by: String,
}

#[derive(Serialize)]
pub struct CertificateOut {
    id: CertificateId,
    issuer_id: IssuerId,
    profile_id: ProfileId,
    serial_hex: String,
    common_name: String,
    sans: Vec<String>,
    key_algorithm: String,
    status: CertificateStatus,
    /// Past `not_after`; expiry is read off the date, not stored as a state.
    expired: bool,
    short_lived: bool,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
    renewed_from_id: Option<CertificateId>,
    superseded_by_id: Option<CertificateId>,
    job_id: Option<JobId>,
    requested_by: String,
    created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revocation: Option<RevocationOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate_pem: Option<String>,
}

impl CertificateOut {
    fn new(c: Certificate, revocation: Option<Revocation>, with_pem: bool) -> Self {
        Self {
            expired: c.not_after <= Utc::now(),
            id: c.id,
            issuer_id: c.issuer_id,
            profile_id: c.profile_id,
            serial_hex: c.serial_hex,
            common_name: c.common_name,
            sans: c.sans,
            key_algorithm: c.key_algorithm,
            status: c.status,
            short_lived: c.short_lived,
            not_before: c.not_before,
            not_after: c.not_after,
            renewed_from_id: c.renewed_from_id,
            superseded_by_id: c.superseded_by_id,
            job_id: c.job_id,
            requested_by: c.requested_by,
            created_at: c.created_at,
            revocation: revocation.map(|r| RevocationOut {
                reason: r.reason,
                revoked_at: r.revoked_at,
                revoked_by: r.revoked_by,
            }),
            certificate_pem: with_pem.then_some(c.certificate_pem),
        }
    }
}

/// A freshly issued certificate: the details, the chain, and a generated key shown this once.
#[derive(Serialize)]
struct IssuedOut {
    #[serde(flatten)]
    certificate: CertificateOut,
    chain_pem: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    private_key_pem: Option<String>,
}

fn outcome_response(outcome: IssueOutcome, created: StatusCode) -> Response {
    match outcome {
        IssueOutcome::Issued(issued) => {
            let issued = *issued;
            let body = IssuedOut {
                certificate: CertificateOut::new(issued.certificate, None, true),
                chain_pem: issued.chain_pem,
                private_key_pem: issued.private_key_pem,
            };
            (created, Json(body)).into_response()
        }
        IssueOutcome::AwaitingApproval(job) => (
            StatusCode::ACCEPTED,
            Json(json!({ "job_id": job.id, "status": job.status, "requested_by": job.requested_by })),
        )
            .into_response(),
    }
}

pub async fn issue_certificate(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiJson(body): ApiJson<IssueIn>,
) -> Result<Response, ApiError> {
    let key = match (body.csr_pem, body.key_algorithm) {
        (Some(csr), None) => KeySource::Csr(csr),
        (None, Some(alg)) => KeySource::Generate(alg),
        _ => {
            return Err(ApiError::bad_request(
                "invalid_request",
                "give exactly one of csr_pem (your key) or key_algorithm (certctl generates the key)",
            ));
        }
    };
    let outcome = issuance::issue(
        &state,
        &principal.actor(request_id),
        IssueInput {
            issuer_id: body.issuer_id,
            profile_id: body.profile_id,
            common_name: body.common_name,
            sans: body.sans,
            ttl_seconds: body.ttl_seconds,
            key,
        },
    )
    .await?;
    Ok(outcome_response(outcome, StatusCode::CREATED))
}

pub async fn list_certificates(
    State(state): State<AppState>,
    mut q: Params,
) -> Result<Json<ListOut<CertificateOut>>, ApiError> {
    let filter = CertificateFilter {
        status: q.one_of("status", &CertificateStatus::names(), CertificateStatus::parse)?,
        issuer_id: q.uuid("issuer_id")?,
        profile_id: q.uuid("profile_id")?,
        common_name: q.text("common_name")?,
        expiring_before: q.time("expiring_before")?,
    };
    let cursor = q.time_cursor()?;
    let limit = q.limit()?;
    q.finish(&[
        "status",
        "issuer_id",
        "profile_id",
        "common_name",
        "expiring_before",
        "cursor",
        "limit",
    ])?;
    let page = certificates::list(&state.db, &filter, cursor, limit).await?;
    Ok(Json(ListOut {
        data: page
            .items
            .into_iter()
            .map(|c| CertificateOut::new(c, None, false))
            .collect(),
        next_cursor: page.next_cursor,
        total: page.total,
    }))
}

pub async fn get_certificate(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<CertificateId>,
) -> Result<Json<CertificateOut>, ApiError> {
    let cert = certificates::find_by_id(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("certificate"))?;
    let rev = revocations::find_by_certificate(&state.db, id).await?;
    Ok(Json(CertificateOut::new(cert, rev, true)))
}

/// The certificate followed by its issuing chain, as `application/pem-certificate-chain`.
pub async fn get_certificate_pem(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<CertificateId>,
) -> Result<Response, ApiError> {
    let cert = certificates::find_by_id(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("certificate"))?;
    let chain = issuers::chain_pem(&state.db, cert.issuer_id).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/pem-certificate-chain")],
        format!("{}{}", cert.certificate_pem, chain),
    )
        .into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RenewIn {
    ttl_seconds: Option<i64>,
}

pub async fn renew_certificate(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiPath(id): ApiPath<CertificateId>,
    ApiJson(body): ApiJson<RenewIn>,
) -> Result<Response, ApiError> {
    let outcome = issuance::renew(&state, &principal.actor(request_id), id, body.ttl_seconds).await?;
    Ok(outcome_response(outcome, StatusCode::OK))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RevokeIn {
    reason: Option<String>,
}

/// Reads a revocation reason as RFC 5280 spells it (`keyCompromise`, …), refusing the two
/// certctl does not offer; none means `unspecified`.
fn parse_reason(raw: Option<&str>) -> Result<RevocationReason, ApiError> {
    let Some(raw) = raw else {
        return Ok(RevocationReason::Unspecified);
    };
    match raw {
        "certificateHold" | "removeFromCRL" => Err(ApiError::bad_request(
            "unsupported_reason",
            format!("`{raw}` is not supported: certctl revocations are final, there is no hold to release"),
        )),
        _ => RevocationReason::parse(raw).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_reason",
                format!(
                    "`{raw}` is not a revocation reason; use one of {}",
                    RevocationReason::ALL.map(|r| r.as_str()).join(", ")
                ),
            )
        }),
    }
}

pub async fn revoke_certificate(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiPath(id): ApiPath<CertificateId>,
    ApiJson(body): ApiJson<RevokeIn>,
) -> Result<Json<CertificateOut>, ApiError> {
    let reason = parse_reason(body.reason.as_deref())?;
    let (cert, rev) = revocation::revoke(&state, &principal.actor(request_id), id, reason).await?;
    Ok(Json(CertificateOut::new(cert, Some(rev), false)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkRevokeIn {
    reason: Option<String>,
    issuer_id: Option<IssuerId>,
    profile_id: Option<ProfileId>,
    certificate_ids: Option<Vec<CertificateId>>,
}

pub async fn bulk_revoke_certificates(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiJson(body): ApiJson<BulkRevokeIn>,
) -> Result<Json<revocation::BulkResult>, ApiError> {
    let reason = parse_reason(body.reason.as_deref())?;
    let result = revocation::bulk_revoke(
        &state,
        &principal.actor(request_id),
        BulkCriteria {
            issuer_id: body.issuer_id,
            profile_id: body.profile_id,
            certificate_ids: body.certificate_ids,
        },
        reason,
    )
    .await?;
    Ok(Json(result))
}

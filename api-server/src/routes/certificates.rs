//! `/api/v1/certificates`

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use certctl_shared::entities::certificate::Model as Certificate;
use certctl_shared::entities::certificate_revocation::Model as Revocation;
use certctl_shared::model::CertificateId;
use certctl_shared::model::{CertificateStatus, RevocationReason};
use certctl_shared::repo::certificates::{self, CertificateFilter, CertificateOrder};
use certctl_shared::repo::revocations;
use certctl_types::api::ListOut;
use certctl_types::api::certificates::{
    AwaitingApprovalOut, BulkRevokeIn, BulkRevokeOut, CertificateOut, CertificateQuery, CertificateSort, IssueIn,
    IssuedOut, RenewIn, RevocationOut, RevokeIn,
};
use certctl_types::api::renewal::CertificatePolicyIn;
use chrono::Utc;

use crate::auth::{Principal, RequestId};
use crate::error::{ApiError, Problems};
use crate::extract::{ApiJson, ApiPath};
use crate::query::Params;
use crate::service::issuance::{self, IssueInput, IssueOutcome, Issued, KeySource};
use crate::service::issuers;
use crate::service::revocation::{self, BulkCriteria};
use crate::state::AppState;

/// The id of a certificate, in the path.
const CERTIFICATE_ID: &str = "The certificate's id";

pub(super) fn certificate_out(c: Certificate, revocation: Option<Revocation>, with_pem: bool) -> CertificateOut {
    CertificateOut {
        expired: c.not_after <= Utc::now(),
        id: c.id,
        issuer_id: c.issuer_id,
        profile_id: c.profile_id,
        serial_hex: c.serial_hex,
        common_name: c.common_name,
        sans: c.sans,
        key_algorithm: c.key_algorithm,
        status: c.status,
        renew_after: c.renew_after,
        renewal_policy_id: c.renewal_policy_id,
        key_generated: c.key_generated,
        short_lived: c.short_lived,
        not_before: c.not_before,
        not_after: c.not_after,
        renewed_from_id: c.renewed_from_id,
        superseded_by_id: c.superseded_by_id,
        job_id: c.job_id,
        requested_by: c.requested_by,
        created_at: c.created_at,
        source: c.source,
        revocation: revocation.map(|r| RevocationOut {
            reason: r.reason,
            revoked_at: r.revoked_at,
            revoked_by: r.revoked_by,
        }),
        certificate_pem: with_pem.then_some(c.certificate_pem),
    }
}

fn outcome_response(outcome: IssueOutcome, created: StatusCode) -> Response {
    let issued_out = |issued: Issued| IssuedOut {
        certificate: certificate_out(issued.certificate, None, true),
        chain_pem: issued.chain_pem,
        private_key_pem: issued.private_key_pem,
    };
    match outcome {
        IssueOutcome::Issued(issued) => (created, Json(issued_out(*issued))).into_response(),
        // The first answer again (the same status, so a retrying client needs no special case),
        // marked as a replay.
        IssueOutcome::Replayed(issued) => (
            created,
            [(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"))],
            Json(issued_out(*issued)),
        )
            .into_response(),
        IssueOutcome::AwaitingApproval(job) => (
            StatusCode::ACCEPTED,
            Json(AwaitingApprovalOut {
                job_id: job.id,
                status: job.status,
                requested_by: job.requested_by,
            }),
        )
            .into_response(),
    }
}

/// The request header that makes an issuance safe to retry.
const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// The response header that marks an answer as the first request's, replayed.
const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";
/// The longest idempotency key accepted.
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// The `Idempotency-Key` header: 1-255 visible ASCII characters (a UUID is the usual choice).
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let mut values = headers.get_all(IDEMPOTENCY_KEY).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::bad_request(
            "invalid_request",
            "send one Idempotency-Key header, not several",
        ));
    }
    let key = value.to_str().unwrap_or_default();
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} visible ASCII characters, such as a UUID"),
        ));
    }
    Ok(Some(key.to_owned()))
}

/// Issues a certificate under a profile, or opens an approval job if the profile requires one.
///
/// With an `Idempotency-Key` header (and a CSR), the request can be retried safely: a retry with
/// the same key and the same request gets the certificate issued the first time (201, with
/// `Idempotent-Replayed: true`) instead of a second one. Keys are kept per principal, with the
/// certificate, for as long as it is stored.
#[utoipa::path(post, path = "/api/v1/certificates", tag = "certificates", request_body = IssueIn,
    params(("Idempotency-Key" = Option<String>, Header, description = "1-255 visible ASCII characters (a UUID, say): a retry with the same key and request gets the first certificate. Needs csr_pem; not accepted for profiles that require approval.")),
    responses(
        (status = 201, description = "Issued (or, for a retried request, the certificate issued the first time, with `Idempotent-Replayed: true`)", body = IssuedOut),
        (status = 202, description = "The profile requires approval: a job now waits for an approver", body = AwaitingApprovalOut),
))]
pub async fn issue_certificate(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    headers: HeaderMap,
    ApiJson(body): ApiJson<IssueIn>,
) -> Result<Response, ApiError> {
    let idempotency_key = idempotency_key(&headers)?;
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
            idempotency_key,
        },
    )
    .await?;
    Ok(outcome_response(outcome, StatusCode::CREATED))
}

/// Lists certificates, newest first.
#[utoipa::path(get, path = "/api/v1/certificates", tag = "certificates", params(CertificateQuery), responses(
    (status = 200, description = "One page", body = ListOut<CertificateOut>),
))]
pub async fn list_certificates(
    State(state): State<AppState>,
    mut q: Params,
) -> Result<Json<ListOut<CertificateOut>>, ApiError> {
    let filter = CertificateFilter {
        status: q.many_of("status", &CertificateStatus::names(), CertificateStatus::parse)?,
        issuer_id: q.uuid("issuer_id")?,
        profile_id: q.uuid("profile_id")?,
        common_name: q.text("common_name")?,
        serial_hex: q.serial("serial")?,
        search: q.text("q")?,
        expiring_before: q.time("expiring_before")?,
    };
    let order = match q.one_of("sort", &["newest", "expiry"], CertificateSort::parse)? {
        None | Some(CertificateSort::Newest) => CertificateOrder::Newest,
        Some(CertificateSort::Expiry) => CertificateOrder::Expiry,
    };
    let cursor = q.time_cursor()?;
    let limit = q.limit()?;
    q.finish(CertificateQuery::NAMES)?;
    let page = certificates::list(&state.db, &filter, order, cursor, limit).await?;
    Ok(Json(ListOut {
        data: page
            .items
            .into_iter()
            .map(|c| certificate_out(c, None, false))
            .collect(),
        next_cursor: page.next_cursor,
        total: page.total.count,
        total_estimated: page.total.estimated,
    }))
}

/// One certificate, with its PEM and revocation.
#[utoipa::path(get, path = "/api/v1/certificates/{id}", tag = "certificates",
    params(("id" = CertificateId, Path, description = CERTIFICATE_ID)),
    responses((status = 200, description = "The certificate", body = CertificateOut)),
)]
pub async fn get_certificate(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<CertificateId>,
) -> Result<Json<CertificateOut>, ApiError> {
    let cert = certificates::find_by_id(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("certificate"))?;
    let rev = revocations::find_by_certificate(&state.db, id).await?;
    Ok(Json(certificate_out(cert, rev, true)))
}

/// The certificate followed by its issuing chain, as `application/pem-certificate-chain`.
#[utoipa::path(get, path = "/api/v1/certificates/{id}/pem", tag = "certificates",
    params(("id" = CertificateId, Path, description = CERTIFICATE_ID)),
    responses((status = 200, description = "PEM certificates, leaf first", body = String, content_type = "application/pem-certificate-chain")),
)]
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

/// Issues a successor with the same names and key source; the old certificate is superseded.
#[utoipa::path(post, path = "/api/v1/certificates/{id}/renew", tag = "certificates",
    params(("id" = CertificateId, Path, description = CERTIFICATE_ID)),
    request_body = Option<RenewIn>,
    responses(
        (status = 200, description = "Renewed", body = IssuedOut),
        (status = 202, description = "The profile requires approval: a job now waits for an approver", body = AwaitingApprovalOut),
    ),
)]
pub async fn renew_certificate(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiPath(id): ApiPath<CertificateId>,
    ApiJson(body): ApiJson<RenewIn>,
) -> Result<Response, ApiError> {
    let outcome = issuance::renew(&state, &principal.actor(request_id), id, body.ttl_seconds, None).await?;
    Ok(outcome_response(outcome, StatusCode::OK))
}

/// The problems of an `Idempotency-Key`, which only a direct issuance takes.
pub struct IdempotencyProblems;

impl Problems for IdempotencyProblems {
    fn problems() -> Vec<(StatusCode, &'static str)> {
        vec![
            (StatusCode::BAD_REQUEST, "idempotency_not_supported"),
            (StatusCode::CONFLICT, "idempotency_key_reused"),
        ]
    }
}

/// The problems of reading a revocation reason, which happens here at the edge.
pub struct ReasonProblems;

impl Problems for ReasonProblems {
    fn problems() -> Vec<(StatusCode, &'static str)> {
        vec![
            (StatusCode::BAD_REQUEST, "unsupported_reason"),
            (StatusCode::BAD_REQUEST, "invalid_reason"),
        ]
    }
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
                    RevocationReason::names().join(", ")
                ),
            )
        }),
    }
}

/// Revokes a certificate; the revocation responder publishes it in the next CRL and at once in OCSP.
#[utoipa::path(post, path = "/api/v1/certificates/{id}/revoke", tag = "certificates",
    params(("id" = CertificateId, Path, description = CERTIFICATE_ID)),
    request_body = Option<RevokeIn>,
    responses((status = 200, description = "Revoked", body = CertificateOut)),
)]
pub async fn revoke_certificate(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiPath(id): ApiPath<CertificateId>,
    ApiJson(body): ApiJson<RevokeIn>,
) -> Result<Json<CertificateOut>, ApiError> {
    let reason = parse_reason(body.reason.as_deref())?;
    let (cert, rev) = revocation::revoke(&state, &principal.actor(request_id), id, reason).await?;
    Ok(Json(certificate_out(cert, Some(rev), false)))
}

/// Revokes every certificate matching all the given criteria, in one transaction.
#[utoipa::path(post, path = "/api/v1/certificates/bulk-revoke", tag = "certificates", request_body = BulkRevokeIn,
    responses((status = 200, description = "What was revoked", body = BulkRevokeOut)),
)]
pub async fn bulk_revoke_certificates(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiJson(body): ApiJson<BulkRevokeIn>,
) -> Result<Json<BulkRevokeOut>, ApiError> {
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
    Ok(Json(BulkRevokeOut {
        matched: result.matched,
        revoked: result.revoked,
        skipped: result.skipped,
        failed: result.failed,
        not_found: result.not_found,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_refusals_are_listed_problems() {
        use crate::service::issuance::IssueError;
        let listed = IdempotencyProblems::problems();
        for e in [
            IssueError::IdempotencyKeyReused(CertificateId::new()),
            IssueError::IdempotencyUnsupported("x"),
        ] {
            let e = ApiError::from(e);
            assert!(listed.contains(&(e.status(), e.code())), "{}", e.code());
        }
        let mut headers = HeaderMap::new();
        assert_eq!(idempotency_key(&headers).unwrap(), None);
        headers.insert(
            IDEMPOTENCY_KEY,
            HeaderValue::from_static("7f1c2a9e-4b1d-4c55-9a47-2a7d0c7a1e11"),
        );
        assert!(idempotency_key(&headers).unwrap().is_some());
        for bad in ["", "has space", &"k".repeat(MAX_IDEMPOTENCY_KEY + 1)] {
            headers.insert(IDEMPOTENCY_KEY, HeaderValue::from_str(bad).unwrap());
            let e = idempotency_key(&headers).expect_err(bad);
            assert_eq!((e.status(), e.code()), (StatusCode::BAD_REQUEST, "invalid_request"));
        }
    }

    #[test]
    fn reasons_are_read_as_rfc5280_spells_them_and_refusals_are_listed_problems() {
        assert_eq!(parse_reason(None).ok(), Some(RevocationReason::Unspecified));
        assert_eq!(
            parse_reason(Some("keyCompromise")).ok(),
            Some(RevocationReason::KeyCompromise)
        );
        let listed = ReasonProblems::problems();
        for bad in ["certificateHold", "removeFromCRL", "KeyCompromise", ""] {
            let e = parse_reason(Some(bad)).expect_err(bad);
            assert!(listed.contains(&(e.status(), e.code())), "{bad}: {}", e.code());
        }
    }
}

/// Sets the renewal policy this certificate follows instead of its profile's (`null`: its
/// profile's again), and recomputes its renewal window.
#[utoipa::path(put, path = "/api/v1/certificates/{id}/renewal-policy", tag = "certificates",
    params(("id" = CertificateId, Path, description = CERTIFICATE_ID)),
    request_body = CertificatePolicyIn,
    responses((status = 200, description = "The certificate with its new window", body = CertificateOut)),
)]
pub async fn set_certificate_renewal_policy(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiPath(id): ApiPath<CertificateId>,
    ApiJson(body): ApiJson<CertificatePolicyIn>,
) -> Result<Json<CertificateOut>, ApiError> {
    let cert = crate::service::renewal::set_certificate_policy(
        &state,
        &principal.actor(request_id),
        id,
        body.renewal_policy_id,
    )
    .await?;
    Ok(Json(certificate_out(cert, None, false)))
}

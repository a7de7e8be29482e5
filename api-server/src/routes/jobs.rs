//! `/api/v1/jobs`

use axum::Json;
use axum::extract::State;
use certctl_shared::entities::job::Model as Job;
use certctl_shared::model::{JobId, JobStatus};
use certctl_shared::repo::jobs;
use certctl_types::api::ListOut;
use certctl_types::api::certificates::{DecisionIn, JobOut, JobQuery};
use certctl_types::api::renewal::{JobCsrIn, RenewalKeyOut};

use crate::auth::{Principal, RequestId};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::query::Params;
use crate::service::jobs as svc;
use crate::service::renewal;
use crate::state::AppState;

const JOB_ID: &str = "The job's id";

pub(crate) fn job_out(j: Job) -> JobOut {
    JobOut {
        renews_certificate_id: j.renews_certificate_id,
        attempts: j.attempts,
        next_attempt_at: j.next_attempt_at,
        key_available: j.private_key_ciphertext.is_some(),
        key_retrieved_at: j.key_retrieved_at,
        id: j.id,
        kind: j.kind,
        status: j.status,
        issuer_id: j.issuer_id,
        profile_id: j.profile_id,
        request: j.request,
        requested_by: j.requested_by,
        decided_by: j.decided_by,
        decision_note: j.decision_note,
        decided_at: j.decided_at,
        certificate_id: j.certificate_id,
        error: j.error,
        created_at: j.created_at,
    }
}

/// Lists approval jobs, newest first.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", params(JobQuery), responses(
    (status = 200, description = "One page", body = ListOut<JobOut>),
))]
pub async fn list_jobs(State(state): State<AppState>, mut q: Params) -> Result<Json<ListOut<JobOut>>, ApiError> {
    let status = q.one_of("status", &JobStatus::names(), JobStatus::parse)?;
    let cursor = q.time_cursor()?;
    let limit = q.limit()?;
    q.finish(JobQuery::NAMES)?;
    let page = jobs::list(&state.db, status, cursor, limit).await?;
    Ok(Json(ListOut {
        data: page.items.into_iter().map(job_out).collect(),
        next_cursor: page.next_cursor,
        total: page.total.count,
        total_estimated: page.total.estimated,
    }))
}

/// One approval job.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs",
    params(("id" = JobId, Path, description = JOB_ID)),
    responses((status = 200, description = "The job", body = JobOut)),
)]
pub async fn get_job(State(state): State<AppState>, ApiPath(id): ApiPath<JobId>) -> Result<Json<JobOut>, ApiError> {
    let job = jobs::find_by_id(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("job"))?;
    Ok(Json(job_out(job)))
}

/// Approves a job: the certificate is issued now, under the profile as it was requested. The
/// requester (same principal, same key, or a key it created) cannot approve their own request.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/approve", tag = "jobs",
    params(("id" = JobId, Path, description = JOB_ID)),
    request_body = Option<DecisionIn>,
    responses((status = 200, description = "Decided; `status` says whether issuance succeeded", body = JobOut)),
)]
pub async fn approve_job(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiPath(id): ApiPath<JobId>,
    ApiJson(body): ApiJson<DecisionIn>,
) -> Result<Json<JobOut>, ApiError> {
    let job = svc::decide(&state, &principal.actor(request_id), id, true, body.note).await?;
    Ok(Json(job_out(job)))
}

/// Rejects a job; nothing is issued.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/reject", tag = "jobs",
    params(("id" = JobId, Path, description = JOB_ID)),
    request_body = Option<DecisionIn>,
    responses((status = 200, description = "Rejected", body = JobOut)),
)]
pub async fn reject_job(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiPath(id): ApiPath<JobId>,
    ApiJson(body): ApiJson<DecisionIn>,
) -> Result<Json<JobOut>, ApiError> {
    let job = svc::decide(&state, &principal.actor(request_id), id, false, body.note).await?;
    Ok(Json(job_out(job)))
}

/// Gives a renewal that waits for a new key (`awaiting_csr`) its CSR. Only the CSR's key is used;
/// the names stay those of the certificate being renewed. The renewal is then issued, or waits
/// for an approver under a profile that requires one (the CSR's submitter counts as the
/// requester). A refused CSR leaves the job waiting.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/csr", tag = "jobs",
    params(("id" = JobId, Path, description = JOB_ID)),
    request_body = JobCsrIn,
    responses((status = 200, description = "The job, `completed` (with `certificate_id`) or `awaiting_approval`", body = JobOut)),
)]
pub async fn submit_job_csr(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiPath(id): ApiPath<JobId>,
    ApiJson(body): ApiJson<JobCsrIn>,
) -> Result<Json<JobOut>, ApiError> {
    let job = renewal::submit_csr(&state, &principal.actor(request_id), id, body.csr_pem).await?;
    Ok(Json(job_out(job)))
}

/// Collects the key a renewal generated when its policy rotates keys certctl generated, with
/// the certificate it was issued for. Only the certificate's owner (who requested it, or the
/// certificate it renews) or an admin may (`403 not_key_owner`). Answered once: the key is erased
/// as it is handed out, and the collection is audited. Later calls answer
/// `409 key_already_collected`.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/key", tag = "jobs",
    params(("id" = JobId, Path, description = JOB_ID)),
    responses((status = 200, description = "The certificate, its chain and its private key (PKCS#8 PEM)", body = RenewalKeyOut)),
)]
pub async fn collect_job_key(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiPath(id): ApiPath<JobId>,
) -> Result<Json<RenewalKeyOut>, ApiError> {
    let any_owner = principal.role == certctl_shared::model::Role::Admin;
    let collected = renewal::collect_key(&state, &principal.actor(request_id), id, any_owner).await?;
    Ok(Json(RenewalKeyOut {
        certificate: super::certificates::certificate_out(collected.certificate, None, true),
        chain_pem: collected.chain_pem,
        private_key_pem: collected.private_key_pem,
    }))
}

//! `/api/v1/jobs`

use axum::Json;
use axum::extract::State;
use certctl_shared::entities::job::Model as Job;
use certctl_shared::model::JobStatus;
use certctl_shared::model::{CertificateId, IssuerId, JobId, ProfileId};
use certctl_shared::repo::jobs;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ListOut;
use crate::auth::{Principal, RequestId};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::query::Params;
use crate::service::jobs as svc;
use crate::state::AppState;

#[derive(Serialize)]
pub struct JobOut {
    id: JobId,
    kind: String,
    status: JobStatus,
    issuer_id: IssuerId,
    profile_id: ProfileId,
    request: serde_json::Value,
    requested_by: String,
    decided_by: Option<String>,
    decision_note: Option<String>,
    decided_at: Option<DateTime<Utc>>,
    certificate_id: Option<CertificateId>,
    error: Option<String>,
    created_at: DateTime<Utc>,
}

impl From<Job> for JobOut {
    fn from(j: Job) -> Self {
        Self {
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
}

pub async fn list_jobs(State(state): State<AppState>, mut q: Params) -> Result<Json<ListOut<JobOut>>, ApiError> {
    let status = q.one_of("status", &JobStatus::names(), JobStatus::parse)?;
    let cursor = q.time_cursor()?;
    let limit = q.limit()?;
    q.finish(&["status", "cursor", "limit"])?;
    let page = jobs::list(&state.db, status, cursor, limit).await?;
    Ok(Json(ListOut {
        data: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
        total: page.total,
    }))
}

pub async fn get_job(State(state): State<AppState>, ApiPath(id): ApiPath<JobId>) -> Result<Json<JobOut>, ApiError> {
    let job = jobs::find_by_id(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("job"))?;
    Ok(Json(job.into()))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DecisionIn {
    note: Option<String>,
}

pub async fn approve_job(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiPath(id): ApiPath<JobId>,
    ApiJson(body): ApiJson<DecisionIn>,
) -> Result<Json<JobOut>, ApiError> {
    let job = svc::decide(&state, &principal.actor(request_id), id, true, body.note).await?;
    Ok(Json(job.into()))
}

pub async fn reject_job(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiPath(id): ApiPath<JobId>,
    ApiJson(body): ApiJson<DecisionIn>,
) -> Result<Json<JobOut>, ApiError> {
    let job = svc::decide(&state, &principal.actor(request_id), id, false, body.note).await?;
    Ok(Json(job.into()))
}

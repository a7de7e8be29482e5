//! Deciding approval jobs. Nobody decides their own request, and any doubt fails closed.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use certctl_shared::entities::job::Model as Job;
use certctl_shared::model::{CertificateStatus, EventType, JobStatus};
use certctl_shared::repo::audit;
use certctl_shared::repo::{api_keys, certificates, jobs, notifications};
use sea_orm::TransactionTrait;
use serde_json::json;
use uuid::Uuid;

use super::Actor;
use super::issuance::{CheckedRequest, IssueInput, KeySource, ProfileRead, check, sign_and_store};
use crate::error::ApiError;
use crate::state::AppState;

/// Principals are compared trimmed and case-insensitively: when in doubt, it is the same person.
fn same_principal(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// Why `actor` counts as the requester of `job`, if it does: the same principal, the very key
/// that filed the request, or a key that the requesting key created (directly or through keys it
/// created), which would let one person approve their own request under a second name.
async fn own_request(
    conn: &impl sea_orm::ConnectionTrait,
    job: &Job,
    actor: &Actor,
) -> Result<Option<&'static str>, ApiError> {
    if job.requested_by.trim().is_empty() || same_principal(&job.requested_by, &actor.principal) {
        return Ok(Some("self_approval"));
    }
    let (Some(requester), Some(approver)) = (job.requested_by_key_id, actor.key_id) else {
        return Ok(None);
    };
    if requester == approver {
        return Ok(Some("self_approval_same_key"));
    }
    if api_keys::created_by_chain_contains(conn, approver, requester).await? {
        return Ok(Some("self_approval_created_key"));
    }
    Ok(None)
}

#[tracing::instrument(name = "decide_job", skip_all, fields(job.id = %id, approve = approve))]
pub async fn decide(
    state: &AppState,
    actor: &Actor,
    id: Uuid,
    approve: bool,
    note: Option<String>,
) -> Result<Job, ApiError> {
    let verb = if approve { "approve" } else { "reject" };
    if let Some(n) = &note
        && n.chars().count() > 2000
    {
        return Err(ApiError::bad_request(
            "invalid_request",
            "note must be at most 2000 characters",
        ));
    }
    let txn = state.db.begin().await?;
    let job = jobs::find_for_update(&txn, id)
        .await?
        .ok_or(ApiError::NotFound("job"))?;
    if let Some(reason) = own_request(&txn, &job, actor).await? {
        audit::append(
            &txn,
            actor.denial(
                &format!("job.{verb}"),
                "job",
                id,
                json!({ "reason": reason, "requested_by": job.requested_by,
                        "requested_by_key_id": job.requested_by_key_id }),
            ),
        )
        .await?;
        txn.commit().await?;
        return Err(ApiError::Forbidden(
            "self_approval_forbidden",
            format!("you requested this job, so someone else must {verb} it"),
        ));
    }
    if job.status != JobStatus::AwaitingApproval.as_str() {
        return Err(ApiError::conflict(
            "job_already_decided",
            format!("the job is already {}", job.status),
        ));
    }
    let note_ref = note.as_deref();
    if !approve {
        let job = jobs::decide(&txn, id, JobStatus::Rejected, &actor.principal, note_ref, None, None)
            .await?
            .ok_or_else(|| ApiError::conflict("job_already_decided", "the job was decided concurrently"))?;
        actor
            .audit(&txn, "job.reject", "job", id, json!({ "note": note }))
            .await?;
        let decided = decided_event(&txn, &job).await?;
        txn.commit().await?;
        state.dispatch(decided);
        return Ok(job);
    }

    let stored: CheckedRequest = serde_json::from_value(job.request.clone())
        .map_err(|e| ApiError::internal(anyhow::anyhow!("job {id} has an unreadable request: {e}")))?;
    let spki = stored
        .spki_der
        .as_deref()
        .map(|b| STANDARD.decode(b))
        .transpose()
        .map_err(|e| ApiError::internal(anyhow::anyhow!("job {id} has an unreadable key: {e}")))?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("job {id} has no public key")))?;
    // The profile or issuer may have changed since the request: check again, as things are now.
    let rechecked = check(
        state,
        &txn,
        IssueInput {
            issuer_id: stored.issuer_id,
            profile_id: stored.profile_id,
            common_name: stored.common_name.clone(),
            sans: Some(stored.sans.clone()),
            ttl_seconds: Some(stored.ttl_seconds),
            key: KeySource::Spki(spki),
        },
        ProfileRead::Fresh,
    )
    .await;
    let failure = match &rechecked {
        Err(e @ ApiError::BadRequest(..)) => Some(e.to_string()),
        Err(_) => None,
        Ok(_) => match stored.renew_of {
            Some(old) => match certificates::find_for_update(&txn, old).await? {
                Some(c) if c.status == CertificateStatus::Active.as_str() => None,
                _ => Some("the certificate to renew is no longer active".to_owned()),
            },
            None => None,
        },
    };
    if let Some(reason) = failure {
        let job = jobs::decide(
            &txn,
            id,
            JobStatus::Failed,
            &actor.principal,
            note_ref,
            None,
            Some(&reason),
        )
        .await?
        .ok_or_else(|| ApiError::conflict("job_already_decided", "the job was decided concurrently"))?;
        actor
            .audit(
                &txn,
                "job.approve",
                "job",
                id,
                json!({ "note": note, "result": "failed", "error": reason }),
            )
            .await?;
        let decided = decided_event(&txn, &job).await?;
        txn.commit().await?;
        state.dispatch(decided);
        return Ok(job);
    }
    let (issuer, profile, mut checked) = rechecked?;
    checked.renew_of = stored.renew_of;
    let issued = sign_and_store(
        state,
        &txn,
        actor,
        &issuer,
        &profile,
        &checked,
        Some(id),
        &job.requested_by,
    )
    .await?;
    let job = jobs::decide(
        &txn,
        id,
        JobStatus::Approved,
        &actor.principal,
        note_ref,
        Some(issued.certificate.id),
        None,
    )
    .await?
    .ok_or_else(|| ApiError::conflict("job_already_decided", "the job was decided concurrently"))?;
    actor
        .audit(
            &txn,
            "job.approve",
            "job",
            id,
            json!({ "note": note, "certificate_id": issued.certificate.id }),
        )
        .await?;
    let mut published = issued.notifications.clone();
    published.extend(decided_event(&txn, &job).await?);
    txn.commit().await?;
    issued.count(state);
    state.dispatch(published);
    Ok(job)
}

/// Queues `approval_decided` for a decided job (inside the decision's transaction).
async fn decided_event(conn: &impl sea_orm::ConnectionTrait, job: &Job) -> Result<Vec<Uuid>, ApiError> {
    Ok(notifications::enqueue(
        conn,
        EventType::ApprovalDecided,
        job.certificate_id,
        json!({ "job_id": job.id, "kind": job.kind, "decision": job.status, "decided_by": job.decided_by,
                "note": job.decision_note, "requested_by": job.requested_by, "certificate_id": job.certificate_id,
                "error": job.error }),
    )
    .await?)
}

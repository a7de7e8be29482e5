//! Deciding approval jobs. Nobody decides their own request, and any doubt fails closed.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use certctl_shared::entities::job::Model as Job;
use certctl_shared::model::{AcmeAccountId, JobId, NotificationId};
use certctl_shared::model::{CertificateStatus, EventType, JobStatus};
use certctl_shared::repo::audit;
use certctl_shared::repo::{acme, api_keys, certificates, jobs, notifications, renewal};
use sea_orm::{DbErr, TransactionTrait};
use serde_json::json;

use anyhow::Context;

use super::issuance::{
    CheckedRequest, IssueError, IssueInput, KeySource, ProfileRead, Provenance, check, sign_and_store,
};
use super::{Actor, Fault, faults};
use crate::Core;

/// The longest decision note kept.
pub const MAX_NOTE: usize = 2000;

/// Why a job was not decided.
#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    #[error("note must be at most {MAX_NOTE} characters")]
    NoteTooLong,
    #[error("job not found")]
    NotFound,
    /// The decider is, or speaks for, the requester (`reason` says how; it is audited).
    #[error(
        "{} so someone else must {verb} it",
        if *.reason == OWNER || *.reason == OWNER_KEY { "this job renews your certificate," } else { "you requested this job," }
    )]
    OwnRequest { verb: &'static str, reason: &'static str },
    /// The job is not awaiting a decision (`None`: it was decided while this decision ran).
    #[error("the job is already {}", .0.map_or("decided", |s| s.as_str()))]
    AlreadyDecided(Option<JobStatus>),
    /// Approving issues the certificate; that failed for a reason other than a rule (a rule
    /// broken at approval time fails the job instead).
    #[error(transparent)]
    Issue(IssueError),
    #[error(transparent)]
    Fault(#[from] Fault),
}

faults!(DecideError);

impl From<IssueError> for DecideError {
    fn from(e: IssueError) -> Self {
        match e {
            IssueError::Fault(f) => DecideError::Fault(f),
            other => DecideError::Issue(other),
        }
    }
}

/// Principals are compared trimmed and case-insensitively: when in doubt, it is the same person.
fn same_principal(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// The reason recorded when the decider owns the certificate an automatic renewal renews: by
/// principal, or (`_key`) by holding the owner's requesting key or a key it created.
const OWNER: &str = "self_approval_owner";
const OWNER_KEY: &str = "self_approval_owner_key";

/// Why `actor` counts as the requester of `job`, if it does: the same principal, the very key
/// that filed the request, or a key that the requesting key created (directly or through keys it
/// created), which would let one person approve their own request under a second name. An
/// automatic renewal is filed by the system, but it acts for the certificate's owner (whoever
/// asked for it, or for the certificate it renews), who may not decide it either, under their own
/// principal or with the key they requested it with or one it created: otherwise a requester
/// could keep a gated certificate alive without a second person ever looking again.
async fn own_request(
    conn: &impl sea_orm::ConnectionTrait,
    job: &Job,
    actor: &Actor,
) -> Result<Option<(&'static str, Option<renewal::Owner>)>, Fault> {
    if job.requested_by.trim().is_empty() || same_principal(&job.requested_by, &actor.principal) {
        return Ok(Some(("self_approval", None)));
    }
    if job.requested_by.starts_with("system:")
        && let Some(cert) = job.renews_certificate_id
        && let Some(owner) = renewal::owner_of(conn, cert).await?
    {
        if same_principal(&owner.principal, &actor.principal) {
            return Ok(Some((OWNER, Some(owner))));
        }
        if let (Some(owner_key), Some(approver)) = (owner.key_id, actor.key_id())
            && (owner_key == approver || api_keys::created_by_chain_contains(conn, approver, owner_key).await?)
        {
            return Ok(Some((OWNER_KEY, Some(owner))));
        }
    }
    if acme_registrant(conn, &job.requested_by)
        .await?
        .is_some_and(|registrant| same_principal(&registrant, &actor.principal))
    {
        return Ok(Some(("self_approval_registrant", None)));
    }
    let (Some(requester), Some(approver)) = (job.requested_by_key_id, actor.key_id()) else {
        return Ok(None);
    };
    if requester == approver {
        return Ok(Some(("self_approval_same_key", None)));
    }
    if api_keys::created_by_chain_contains(conn, approver, requester).await? {
        return Ok(Some(("self_approval_created_key", None)));
    }
    Ok(None)
}

/// For a request by an ACME account (`acme:<endpoint>/<account id>`), the principal who issued
/// the External Account Binding key it registered with: the person the account acts for.
async fn acme_registrant(conn: &impl sea_orm::ConnectionTrait, requested_by: &str) -> Result<Option<String>, Fault> {
    let Some(account) = requested_by
        .strip_prefix("acme:")
        .and_then(|rest| rest.rsplit_once('/'))
        .and_then(|(_, id)| id.parse::<AcmeAccountId>().ok())
    else {
        return Ok(None);
    };
    Ok(acme::find_account(conn, account).await?.and_then(|a| a.registered_by))
}

#[tracing::instrument(name = "decide_job", skip_all, fields(job.id = %id, approve = approve))]
pub async fn decide(
    state: &Core,
    actor: &Actor,
    id: JobId,
    approve: bool,
    note: Option<String>,
) -> Result<Job, DecideError> {
    let verb = if approve { "approve" } else { "reject" };
    if note.as_ref().is_some_and(|n| n.chars().count() > MAX_NOTE) {
        return Err(DecideError::NoteTooLong);
    }
    let txn = state.db.begin().await?;
    // A renewal's certificate before its job: the order in which renewals and revocations
    // through the API take them, so the two never wait on each other.
    if let Some(job) = jobs::find_by_id(&txn, id).await?
        && let Some(cert) = job.renews_certificate_id.or_else(|| {
            job.request
                .get("renew_of")
                .and_then(|v| v.as_str())
                .and_then(|s| s.parse().ok())
        })
    {
        certificates::find_for_update(&txn, cert).await?;
    }
    let job = jobs::find_for_update(&txn, id).await?.ok_or(DecideError::NotFound)?;
    if let Some((reason, owner)) = own_request(&txn, &job, actor).await? {
        let mut details = json!({ "reason": reason, "requested_by": job.requested_by,
                                  "requested_by_key_id": job.requested_by_key_id });
        // An automatic renewal's requester is the system: name the owner the decider matched.
        if let Some(owner) = owner {
            details["owner"] = owner.principal.into();
            details["owner_key_id"] = json!(owner.key_id);
        }
        audit::append(&txn, actor.denial(&format!("job.{verb}"), "job", id, details)).await?;
        txn.commit().await?;
        return Err(DecideError::OwnRequest { verb, reason });
    }
    if job.status != JobStatus::AwaitingApproval {
        return Err(DecideError::AlreadyDecided(Some(job.status)));
    }
    let note_ref = note.as_deref();
    if !approve {
        let job = jobs::decide(&txn, id, JobStatus::Rejected, &actor.principal, note_ref, None, None)
            .await?
            .ok_or_else(|| DecideError::AlreadyDecided(None))?;
        actor
            .audit(&txn, "job.reject", "job", id, json!({ "note": note }))
            .await?;
        let decided = decided_event(&txn, &job).await?;
        txn.commit().await?;
        state.dispatch(decided);
        return Ok(job);
    }

    let stored: CheckedRequest =
        serde_json::from_value(job.request.clone()).with_context(|| format!("job {id} has an unreadable request"))?;
    let spki = stored
        .spki_der
        .as_deref()
        .map(|b| STANDARD.decode(b))
        .transpose()
        .with_context(|| format!("job {id} has an unreadable key"))?
        .with_context(|| format!("job {id} has no public key"))?;
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
            idempotency_key: None,
        },
        ProfileRead::Fresh,
    )
    .await;
    // A request the rules now refuse fails the job (the decision is recorded); anything else
    // (an issuer or profile gone, the database) is an error of the decision itself.
    let failure = match &rechecked {
        Err(e @ IssueError::Refused(..)) => Some(e.to_string()),
        Err(_) => None,
        Ok(_) => match stored.renew_of {
            Some(old) => match certificates::find_for_update(&txn, old).await? {
                Some(c) if super::issuance::RENEWABLE.contains(&c.status) => None,
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
        .ok_or_else(|| DecideError::AlreadyDecided(None))?;
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
    // A renewal keeps the certificate's own policy, and whether certctl generated its key.
    checked.renewal_policy_id = stored.renewal_policy_id;
    checked.key_generated = stored.key_generated;
    // Approved under the requester's protocol: an EST enrollment stays `est` whoever approves it.
    checked.source = stored.source.or(Some(certctl_shared::model::CertificateSource::Api));
    let provenance = Provenance {
        job_id: Some(id),
        requested_by: &job.requested_by,
        idempotency_key: None,
    };
    let issued = sign_and_store(state, &txn, actor, &issuer, &profile, &checked, provenance).await?;
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
    .ok_or_else(|| DecideError::AlreadyDecided(None))?;
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

/// Queues `approval_decided` for a decided job (inside the decision's transaction), moves an
/// ACME order waiting on the job on with it, and puts the certificate of an automatic renewal
/// that was not approved back to `expiring`.
async fn decided_event(conn: &impl sea_orm::ConnectionTrait, job: &Job) -> Result<Vec<NotificationId>, DbErr> {
    acme::settle_job_orders(conn, job.id).await?;
    // An automatic renewal that will not happen: the certificate waits in its window, `expiring`.
    if let Some(cert) = job.renews_certificate_id
        && job.status != JobStatus::Approved
    {
        certificates::transition(
            conn,
            cert,
            &[CertificateStatus::RenewalInProgress],
            CertificateStatus::Expiring,
            None,
        )
        .await?;
    }
    notifications::enqueue(
        conn,
        EventType::ApprovalDecided,
        job.certificate_id,
        json!({ "job_id": job.id, "kind": job.kind, "decision": job.status, "decided_by": job.decided_by,
                "note": job.decision_note, "requested_by": job.requested_by, "certificate_id": job.certificate_id,
                "error": job.error }),
    )
    .await
}

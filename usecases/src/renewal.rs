//! Renewal policies and automatic renewal.
//!
//! The worker's renewal loop calls [`file_due`] and [`run_due_job`] as `system:renewal`:
//!
//! 1. Certificates past `not_after` become `expired`.
//! 2. Each `active` certificate whose window has opened (`renew_after`, set from its policy) is
//!    claimed under a row lock (so replicas never claim one twice). Under a policy without
//!    `auto_renew`, or if it came through a protocol whose client renews it (EST, SCEP, ACME), it
//!    becomes `expiring`. Otherwise a renewal job is filed and the certificate becomes
//!    `renewal_in_progress`: `pending` with the same key, `pending` with a new key certctl
//!    generates and seals on the job (the policy rotates a key certctl generated), or
//!    `awaiting_csr` with a `renewal_due` notification (the policy rotates a key that lives with
//!    its holder).
//! 3. Each due `pending` job is tried through the same checks and signing as
//!    `POST /certificates/{id}/renew`. Under a profile that requires approval the job moves to
//!    `awaiting_approval` (and `approval_requested` goes out); otherwise the renewal is issued
//!    and the job `completed` (`certificate_renewed` goes out with the certificate). A failed
//!    attempt raises `renewal_failed` and is retried after the policy's interval, up to its
//!    attempts; then the job `failed` and the certificate waits, `expiring`.

use anyhow::Context;
use certctl_pki::{KeyAlgorithm, generate_key, spki_of};
use certctl_shared::entities::certificate::Model as Certificate;
use certctl_shared::entities::job::Model as Job;
use certctl_shared::entities::renewal_policy::Model as Policy;
use certctl_shared::model::{
    CertificateId, CertificateSource, CertificateStatus, ChannelId, EventType, JobId, JobStatus, NotificationId,
    RenewalPolicyId,
};
use certctl_shared::repo::renewal::{self, DEFAULT_POLICY, JobUpdate, Scope};
use certctl_shared::repo::{audit, certificates, jobs, notifications};
use chrono::{DateTime, Duration, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr, SqlErr, TransactionTrait};
use serde_json::json;

use super::issuance::{self, IssueError, Issued, KeySource, Provenance};
use super::issuers::cached_issuer;
use super::{Actor, Fault, check_identifier, faults, name_taken};
use crate::Core;

/// The loop's principal is `system:renewal`.
pub const ACTOR: &str = "renewal";

/// The most expiry warning thresholds a policy may list, and the furthest one (days).
pub const MAX_WARNINGS: usize = 10;
pub const MAX_WARNING_DAYS: i32 = 3650;
/// The most channels a policy may name.
pub const MAX_CHANNELS: usize = 50;

/// A renewal policy as its author writes it.
#[derive(Clone, Debug)]
pub struct PolicySpec {
    pub name: String,
    pub renew_before_seconds: Option<i64>,
    pub renew_at_fraction: Option<f64>,
    pub auto_renew: bool,
    pub rotate_key: bool,
    pub max_attempts: i32,
    pub retry_interval_seconds: i64,
    pub warning_days: Option<Vec<i32>>,
    pub channel_ids: Option<Vec<ChannelId>>,
}

/// Why a policy was not written.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{0}")]
    Invalid(String),
    #[error("renewal policy not found")]
    NotFound,
    #[error("certificate not found")]
    CertificateNotFound,
    #[error("a renewal policy with this name already exists")]
    NameTaken,
    #[error("the built-in policy applies wherever no other is set: it can be edited, not deleted")]
    BuiltIn,
    #[error("profiles or certificates still follow this policy: point them at another first")]
    InUse,
    #[error(transparent)]
    Fault(#[from] Fault),
}

faults!(PolicyError);

fn validate(spec: &PolicySpec) -> Result<(), String> {
    check_identifier("name", &spec.name)?;
    match (spec.renew_before_seconds, spec.renew_at_fraction) {
        (Some(s), None) if (1..=315_360_000).contains(&s) => {}
        (Some(_), None) => return Err("renew_before_seconds must be 1-315360000".into()),
        (None, Some(f)) if f > 0.0 && f < 1.0 => {}
        (None, Some(_)) => return Err("renew_at_fraction must be between 0 and 1, both excluded".into()),
        _ => return Err("give exactly one of renew_before_seconds and renew_at_fraction".into()),
    }
    if !(1..=100).contains(&spec.max_attempts) {
        return Err("max_attempts must be 1-100".into());
    }
    if !(1..=604_800).contains(&spec.retry_interval_seconds) {
        return Err("retry_interval_seconds must be 1-604800 (a week)".into());
    }
    if let Some(days) = &spec.warning_days
        && (days.len() > MAX_WARNINGS || days.iter().any(|d| !(0..=MAX_WARNING_DAYS).contains(d)))
    {
        return Err(format!(
            "warning_days must list at most {MAX_WARNINGS} thresholds of 0-{MAX_WARNING_DAYS} days"
        ));
    }
    if spec.channel_ids.as_ref().is_some_and(|c| c.len() > MAX_CHANNELS) {
        return Err(format!("channel_ids must list at most {MAX_CHANNELS} channels"));
    }
    Ok(())
}

fn to_row(id: RenewalPolicyId, spec: PolicySpec) -> Policy {
    let now = Utc::now();
    let mut warning_days = spec.warning_days;
    if let Some(days) = warning_days.as_mut() {
        days.sort_unstable();
        days.dedup();
    }
    Policy {
        id,
        name: spec.name,
        renew_before_seconds: spec.renew_before_seconds,
        renew_at_fraction: spec.renew_at_fraction,
        auto_renew: spec.auto_renew,
        rotate_key: spec.rotate_key,
        max_attempts: spec.max_attempts,
        retry_interval_seconds: spec.retry_interval_seconds,
        warning_days,
        channel_ids: spec.channel_ids.map(|c| c.into_iter().map(|c| c.0).collect()),
        created_at: now,
        updated_at: now,
    }
}

/// Refuses channels that do not exist (or were deleted).
async fn check_channels(conn: &impl ConnectionTrait, spec: &PolicySpec) -> Result<(), PolicyError> {
    for id in spec.channel_ids.iter().flatten() {
        if certctl_shared::repo::channels::find_live(conn, *id).await?.is_none() {
            return Err(PolicyError::Invalid(format!("channel {id} does not exist")));
        }
    }
    Ok(())
}

fn audit_details(p: &Policy) -> serde_json::Value {
    json!({ "name": p.name, "renew_before_seconds": p.renew_before_seconds, "renew_at_fraction": p.renew_at_fraction,
            "auto_renew": p.auto_renew, "rotate_key": p.rotate_key, "max_attempts": p.max_attempts,
            "retry_interval_seconds": p.retry_interval_seconds, "warning_days": p.warning_days,
            "channel_ids": p.channel_ids })
}

pub async fn create_policy(state: &Core, actor: &Actor, spec: PolicySpec) -> Result<Policy, PolicyError> {
    validate(&spec).map_err(PolicyError::Invalid)?;
    let txn = state.db.begin().await?;
    check_channels(&txn, &spec).await?;
    let row = match renewal::insert(&txn, to_row(RenewalPolicyId::new(), spec)).await {
        Err(e) if name_taken(&e) => return Err(PolicyError::NameTaken),
        other => other?,
    };
    actor
        .audit(
            &txn,
            "renewal_policy.create",
            "renewal_policy",
            row.id,
            audit_details(&row),
        )
        .await?;
    txn.commit().await?;
    Ok(row)
}

/// Replaces a policy whole; the certificates that follow it get their windows recomputed in the
/// same transaction.
pub async fn replace_policy(
    state: &Core,
    actor: &Actor,
    id: RenewalPolicyId,
    spec: PolicySpec,
) -> Result<Policy, PolicyError> {
    validate(&spec).map_err(PolicyError::Invalid)?;
    let txn = state.db.begin().await?;
    let before = renewal::find_by_id(&txn, id).await?.ok_or(PolicyError::NotFound)?;
    check_channels(&txn, &spec).await?;
    let mut row = to_row(id, spec);
    row.created_at = before.created_at;
    let row = match renewal::replace(&txn, row).await {
        Err(e) if name_taken(&e) => return Err(PolicyError::NameTaken),
        other => other?,
    };
    let recomputed = renewal::recompute_windows(&txn, Scope::Policy(id)).await?;
    actor
        .audit(
            &txn,
            "renewal_policy.update",
            "renewal_policy",
            id,
            json!({ "before": audit_details(&before), "after": audit_details(&row), "certificates_recomputed": recomputed }),
        )
        .await?;
    txn.commit().await?;
    Ok(row)
}

pub async fn delete_policy(state: &Core, actor: &Actor, id: RenewalPolicyId) -> Result<(), PolicyError> {
    if id == DEFAULT_POLICY {
        return Err(PolicyError::BuiltIn);
    }
    let txn = state.db.begin().await?;
    let before = renewal::find_by_id(&txn, id).await?.ok_or(PolicyError::NotFound)?;
    match renewal::delete(&txn, id).await {
        Err(e) if matches!(e.sql_err(), Some(SqlErr::ForeignKeyConstraintViolation(_))) => {
            return Err(PolicyError::InUse);
        }
        other => other?,
    };
    actor
        .audit(
            &txn,
            "renewal_policy.delete",
            "renewal_policy",
            id,
            audit_details(&before),
        )
        .await?;
    txn.commit().await?;
    Ok(())
}

/// Sets the policy a certificate follows instead of its profile's (`None`: its profile's again),
/// and recomputes its window.
pub async fn set_certificate_policy(
    state: &Core,
    actor: &Actor,
    id: CertificateId,
    policy: Option<RenewalPolicyId>,
) -> Result<Certificate, PolicyError> {
    let txn = state.db.begin().await?;
    let before = certificates::find_for_update(&txn, id)
        .await?
        .ok_or(PolicyError::CertificateNotFound)?;
    if let Some(p) = policy
        && renewal::find_by_id(&txn, p).await?.is_none()
    {
        return Err(PolicyError::Invalid(format!("renewal policy {p} does not exist")));
    }
    renewal::set_certificate_policy(&txn, id, policy).await?;
    renewal::recompute_windows(&txn, Scope::Certificate(id)).await?;
    actor
        .audit(
            &txn,
            "certificate.set_renewal_policy",
            "certificate",
            id,
            json!({ "before": before.renewal_policy_id, "after": policy }),
        )
        .await?;
    let after = certificates::find_by_id(&txn, id)
        .await?
        .ok_or(PolicyError::CertificateNotFound)?;
    txn.commit().await?;
    Ok(after)
}

/// Associated data binding a sealed renewal key to its job.
fn key_context(job: JobId) -> String {
    format!("renewal-key:{job}")
}

/// What one pass of [`file_due`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Filed {
    pub expired: u64,
    pub expiring: u64,
    pub jobs: u64,
    pub awaiting_csr: u64,
}

/// Marks certificates past `not_after` expired, then files renewals for up to `batch`
/// certificates whose window has opened (see the module's documentation).
pub async fn file_due(state: &Core, batch: u64) -> Result<Filed, Fault> {
    let mut filed = Filed {
        expired: renewal::mark_expired(&state.db, batch).await?,
        ..Filed::default()
    };
    let actor = Actor::system(ACTOR);
    let txn = state.db.begin().await?;
    let mut published = Vec::new();
    for due in renewal::claim_due(&txn, batch).await? {
        if !due.auto_renew || due.source != CertificateSource::Api {
            certificates::transition(
                &txn,
                due.id,
                &[CertificateStatus::Active],
                CertificateStatus::Expiring,
                None,
            )
            .await?;
            filed.expiring += 1;
            continue;
        }
        let job_id = JobId::new();
        // A key certctl generated is rotated when the job is tried (one key at a time, outside
        // this batch); a key its holder keeps needs a CSR.
        let status = if due.rotate_key && !due.key_generated {
            JobStatus::AwaitingCsr
        } else {
            JobStatus::Pending
        };
        let mut job = issuance::new_job(
            &actor,
            "renew",
            status,
            (due.issuer_id, due.profile_id),
            json!({ "renew_of": due.id, "common_name": due.common_name, "serial_hex": due.serial_hex,
                    "rotate_key": due.rotate_key, "generate_key": due.rotate_key && due.key_generated }),
        );
        job.id = job_id;
        job.renews_certificate_id = Some(due.id);
        job.next_attempt_at = (status == JobStatus::Pending).then(Utc::now);
        jobs::insert(&txn, job).await?;
        actor
            .audit(
                &txn,
                "job.create",
                "job",
                job_id,
                json!({ "kind": "renew", "automatic": true, "renews_certificate_id": due.id, "policy_id": due.policy_id,
                        "rotate_key": due.rotate_key, "status": status }),
            )
            .await?;
        certificates::transition(
            &txn,
            due.id,
            &[CertificateStatus::Active],
            CertificateStatus::RenewalInProgress,
            None,
        )
        .await?;
        filed.jobs += 1;
        if status == JobStatus::AwaitingCsr {
            filed.awaiting_csr += 1;
            published.extend(
                notifications::enqueue_to(
                    &txn,
                    EventType::RenewalDue,
                    Some(due.id),
                    json!({ "certificate_id": due.id, "job_id": job_id, "common_name": due.common_name,
                            "serial_hex": due.serial_hex, "issuer_id": due.issuer_id, "not_after": due.not_after,
                            "submit_csr": format!("/api/v1/jobs/{job_id}/csr") }),
                    due.channel_ids.as_deref(),
                )
                .await?,
            );
        }
    }
    txn.commit().await?;
    state.dispatch(published);
    Ok(filed)
}

/// What one try of a renewal job came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempted {
    /// Issued; the job is `completed`.
    Completed,
    /// The profile requires approval; the job waits for an approver.
    AwaitingApproval,
    /// Failed; tried again after the policy's interval.
    Retrying,
    /// Failed for the last time allowed; the job is `failed`.
    Failed,
    /// The certificate was revoked or renewed by other means; the job is `cancelled`.
    Cancelled,
    /// A request held the certificate; the job is tried again in a few seconds.
    Busy,
}

/// Tries the pending renewal job that is most overdue, if there is one.
pub async fn run_due_job(state: &Core) -> Result<Option<(JobId, Attempted)>, Fault> {
    let actor = Actor::system(ACTOR);
    let txn = state.db.begin().await?;
    let Some(job) = renewal::claim_due_job(&txn).await? else {
        return Ok(None);
    };
    let Some(cert) = job.renews_certificate_id else {
        cancel(&txn, &actor, &job, "the job renews no certificate").await?;
        txn.commit().await?;
        return Ok(Some((job.id, Attempted::Cancelled)));
    };
    // Requests lock the certificate before its job (a renewal or revocation through the API
    // cancels the job); waiting here for the certificate while holding the job could deadlock
    // with them, so a certificate someone holds puts the job off for a moment instead.
    let Some(old) = renewal::lock_certificate_if_free(&txn, cert).await? else {
        renewal::postpone_job(&txn, job.id, BUSY_RETRY).await?;
        txn.commit().await?;
        return Ok(Some((job.id, Attempted::Busy)));
    };
    if let Some(refusal) = issuance::refuse_renewal(&txn, &old).await? {
        cancel(&txn, &actor, &job, &refusal.to_string()).await?;
        txn.commit().await?;
        return Ok(Some((job.id, Attempted::Cancelled)));
    }
    // A rotated key certctl generates: made now, sealed to this job, kept only if the attempt
    // issues (or hands the job to an approver).
    let new_key = if job.request.get("generate_key").and_then(|v| v.as_bool()) == Some(true) {
        match generate_sealed(state, job.id, &old.key_algorithm).await {
            Ok(k) => Some(k),
            Err(e) => {
                let error = format!("{e:#}");
                let (outcome, published) = record_failure(&txn, &job, &old, &error).await?;
                txn.commit().await?;
                state.dispatch(published);
                return Ok(Some((job.id, outcome)));
            }
        }
    } else {
        None
    };
    // The attempt runs in a savepoint: if it fails, its writes go and the failure is recorded in
    // the same transaction, still holding the job, so no other worker tries it meanwhile.
    let savepoint = txn.begin().await?;
    match attempt(state, &savepoint, &actor, &job, &old, new_key.map(NewKey::Generated)).await {
        Ok((outcome, published, issued)) => {
            savepoint.commit().await?;
            txn.commit().await?;
            if let Some(issued) = issued {
                issued.count(state);
            }
            state.dispatch(published);
            Ok(Some((job.id, outcome)))
        }
        // The database is unreachable: the job stays as it was, for the next tick.
        Err(IssueError::Fault(Fault::Database(e))) if certctl_shared::db::is_unavailable(&e) => Err(Fault::Database(e)),
        Err(e) => {
            savepoint.rollback().await?;
            let error = e.to_string();
            let (outcome, published) = record_failure(&txn, &job, &old, &error).await?;
            txn.commit().await?;
            state.dispatch(published);
            tracing::warn!(job.id = %job.id, certificate.id = %old.id, attempt = job.attempts + 1,
                will_retry = outcome == Attempted::Retrying, error, "automatic renewal failed");
            Ok(Some((job.id, outcome)))
        }
    }
}

/// A new key for a rotating renewal: the algorithm of the key it replaces, sealed to the job.
async fn generate_sealed(state: &Core, job: JobId, algorithm: &str) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    let alg = KeyAlgorithm::parse(algorithm).with_context(|| format!("unknown key algorithm {algorithm}"))?;
    let key = tokio::task::spawn_blocking(move || generate_key(alg))
        .await
        .context("key generation task failed")?
        .context("failed to generate the renewal key")?;
    let sealed = state.keys.seal(&key_context(job), key.serialized_der())?;
    Ok((spki_of(&key), sealed))
}

/// How long a job waits when its certificate is held by a request.
const BUSY_RETRY: Duration = Duration::seconds(5);

/// Ends a job that has nothing left to renew.
async fn cancel(txn: &DatabaseTransaction, actor: &Actor, job: &Job, why: &str) -> Result<(), DbErr> {
    renewal::update_job(
        txn,
        job.id,
        &[job.status],
        JobUpdate {
            status: JobStatus::Cancelled,
            certificate_id: None,
            error: Some(why),
            attempts: job.attempts,
            next_attempt_at: None,
            request: None,
        },
    )
    .await?;
    actor
        .audit(txn, "job.cancel", "job", job.id, json!({ "reason": why }))
        .await
}

/// The new key of a rotating renewal: from a CSR, or generated here (its SPKI, and the private
/// key sealed to the job).
enum NewKey {
    Csr(String),
    Generated((Vec<u8>, Vec<u8>)),
}

/// Tries a renewal job once, inside `txn`, which holds the job and `old` locked: the same checks
/// and signing as a renewal through the API. Issues (the job `completed`), or hands the job to an
/// approver. Returns the notifications to publish after commit.
async fn attempt(
    state: &Core,
    txn: &DatabaseTransaction,
    actor: &Actor,
    job: &Job,
    old: &Certificate,
    key: Option<NewKey>,
) -> Result<(Attempted, Vec<NotificationId>, Option<Issued>), IssueError> {
    let (key, sealed) = match key {
        Some(NewKey::Csr(pem)) => (Some(KeySource::Csr(pem)), None),
        Some(NewKey::Generated((spki, sealed))) => (Some(KeySource::Spki(spki)), Some(sealed)),
        None => (None, None),
    };
    let (issuer, profile, mut checked) = issuance::check_renewal(state, txn, old, None, key).await?;
    if let Some(sealed) = sealed {
        checked.key_generated = true;
        renewal::store_key(txn, job.id, &sealed).await?;
    }
    checked.source = Some(CertificateSource::Api);
    let from = [JobStatus::Pending, JobStatus::AwaitingCsr];
    if profile.requires_approval {
        let request = serde_json::to_value(&checked).context("failed to store the checked request")?;
        let job = renewal::update_job(
            txn,
            job.id,
            &from,
            JobUpdate {
                status: JobStatus::AwaitingApproval,
                certificate_id: None,
                error: None,
                attempts: job.attempts + 1,
                next_attempt_at: None,
                request: Some(request),
            },
        )
        .await?
        .context("the renewal job changed under its row lock")?;
        actor
            .audit(txn, "job.await_approval", "job", job.id, json!({ "renew_of": old.id }))
            .await?;
        let published = issuance::approval_requested(txn, &job, &checked).await?;
        return Ok((Attempted::AwaitingApproval, published, None));
    }
    let provenance = Provenance {
        job_id: Some(job.id),
        requested_by: &job.requested_by,
        idempotency_key: None,
    };
    let issued = issuance::sign_and_store(state, txn, actor, &issuer, &profile, &checked, provenance).await?;
    renewal::update_job(
        txn,
        job.id,
        &from,
        JobUpdate {
            status: JobStatus::Completed,
            certificate_id: Some(issued.certificate.id),
            error: None,
            attempts: job.attempts + 1,
            next_attempt_at: None,
            request: None,
        },
    )
    .await?
    .context("the renewal job changed under its row lock")?;
    Ok((Attempted::Completed, issued.notifications.clone(), Some(issued)))
}

/// Counts a failed try of `job` (locked by `txn`): retried after the policy's interval, or
/// failed for good after its attempts (the certificate then waits, `expiring`). Either way
/// `renewal_failed` goes out; returns it, to publish after commit.
async fn record_failure(
    txn: &DatabaseTransaction,
    job: &Job,
    old: &Certificate,
    error: &str,
) -> Result<(Attempted, Vec<NotificationId>), Fault> {
    let policy = renewal::policy_of(txn, old.id)
        .await?
        .context("the certificate being renewed has no policy")?;
    let attempts = job.attempts + 1;
    let last = attempts >= policy.max_attempts;
    let next = (!last).then(|| Utc::now() + Duration::seconds(policy.retry_interval_seconds));
    renewal::update_job(
        txn,
        job.id,
        &[JobStatus::Pending],
        JobUpdate {
            status: if last { JobStatus::Failed } else { JobStatus::Pending },
            certificate_id: None,
            error: Some(error),
            attempts,
            next_attempt_at: next,
            request: None,
        },
    )
    .await?
    .context("the renewal job changed under its row lock")?;
    if last {
        certificates::transition(
            txn,
            old.id,
            &[CertificateStatus::RenewalInProgress],
            CertificateStatus::Expiring,
            None,
        )
        .await?;
    }
    let published = notifications::enqueue_to(
        txn,
        EventType::RenewalFailed,
        Some(old.id),
        json!({ "certificate_id": old.id, "job_id": job.id, "common_name": old.common_name,
                "serial_hex": old.serial_hex, "not_after": old.not_after, "attempt": attempts,
                "max_attempts": policy.max_attempts, "will_retry": !last, "next_attempt_at": next, "error": error }),
        policy.channel_ids.as_deref(),
    )
    .await?;
    Ok((if last { Attempted::Failed } else { Attempted::Retrying }, published))
}

/// Why a renewal job's action was refused.
#[derive(Debug, thiserror::Error)]
pub enum JobActionError {
    #[error("job not found")]
    NotFound,
    /// The job is not in the state the action needs.
    #[error("the job is {status}: {needs}")]
    WrongState { status: JobStatus, needs: &'static str },
    #[error("this job has no key to collect: only a renewal that rotated a key certctl generated has one")]
    NoKey,
    #[error("the key was already collected at {0}; it is handed out once")]
    KeyCollected(DateTime<Utc>),
    /// Only the certificate's owner (the principal who requested it, or the certificate it
    /// renews) or an admin collects its key.
    #[error("only {0} (who requested the certificate) or an admin may collect this key")]
    NotOwner(String),
    #[error(transparent)]
    Issue(IssueError),
    #[error(transparent)]
    Fault(#[from] Fault),
}

faults!(JobActionError);

impl From<IssueError> for JobActionError {
    fn from(e: IssueError) -> Self {
        match e {
            IssueError::Fault(f) => JobActionError::Fault(f),
            other => JobActionError::Issue(other),
        }
    }
}

/// Gives a renewal waiting for a CSR its new key. Only the CSR's key is used (the names stay the
/// certificate's); its submitter becomes the job's requester, so someone else must approve it
/// under a profile that requires approval. A refused CSR leaves the job waiting.
pub async fn submit_csr(state: &Core, actor: &Actor, id: JobId, csr_pem: String) -> Result<Job, JobActionError> {
    let txn = state.db.begin().await?;
    // The certificate first, then the job: the order in which renewals and revocations through
    // the API take them.
    let cert = jobs::find_by_id(&txn, id)
        .await?
        .ok_or(JobActionError::NotFound)?
        .renews_certificate_id;
    let old = match cert {
        Some(cert) => certificates::find_for_update(&txn, cert).await?,
        None => None,
    };
    let job = jobs::find_for_update(&txn, id).await?.ok_or(JobActionError::NotFound)?;
    if job.status != JobStatus::AwaitingCsr {
        return Err(JobActionError::WrongState {
            status: job.status,
            needs: "only a renewal waiting for a CSR (awaiting_csr) takes one",
        });
    }
    let old = old.context("a renewal job waiting for a CSR has no certificate")?;
    if let Some(refusal) = issuance::refuse_renewal(&txn, &old).await? {
        cancel(&txn, actor, &job, &refusal.to_string()).await?;
        txn.commit().await?;
        return Err(refusal.into());
    }
    jobs::set_requester(&txn, id, &actor.principal, actor.key_id()).await?;
    let job = Job {
        requested_by: actor.principal.clone(),
        requested_by_key_id: actor.key_id(),
        ..job
    };
    let (_, published, issued) = attempt(state, &txn, actor, &job, &old, Some(NewKey::Csr(csr_pem))).await?;
    let job = jobs::find_by_id(&txn, id).await?.ok_or(JobActionError::NotFound)?;
    txn.commit().await?;
    if let Some(issued) = issued {
        issued.count(state);
    }
    state.dispatch(published);
    Ok(job)
}

/// A rotated key, collected.
pub struct CollectedKey {
    pub job: Job,
    pub certificate: Certificate,
    pub chain_pem: String,
    /// PKCS#8 PEM.
    pub private_key_pem: String,
}

/// Hands out the key a rotating renewal generated, with its certificate, once: the sealed key is
/// erased in the same transaction, and the collection audited (the key itself never is). Only the
/// certificate's owner collects it, or anyone when `any_owner` (an admin).
pub async fn collect_key(
    state: &Core,
    actor: &Actor,
    id: JobId,
    any_owner: bool,
) -> Result<CollectedKey, JobActionError> {
    let txn = state.db.begin().await?;
    let job = jobs::find_for_update(&txn, id).await?.ok_or(JobActionError::NotFound)?;
    if !any_owner && let Some(cert) = job.renews_certificate_id {
        let owner = renewal::owner_of(&txn, cert)
            .await?
            .map(|o| o.principal)
            .unwrap_or_default();
        if !owner.trim().eq_ignore_ascii_case(actor.principal.trim()) {
            audit::append(
                &txn,
                actor.denial(
                    "job.collect_key",
                    "job",
                    id,
                    json!({ "reason": "not_owner", "owner": owner }),
                ),
            )
            .await?;
            txn.commit().await?;
            return Err(JobActionError::NotOwner(owner));
        }
    }
    let Some(sealed) = job.private_key_ciphertext.clone() else {
        return Err(match job.key_retrieved_at {
            Some(at) => JobActionError::KeyCollected(at),
            None => JobActionError::NoKey,
        });
    };
    let Some(cert_id) = job.certificate_id else {
        return Err(JobActionError::WrongState {
            status: job.status,
            needs: "the key is handed out with its certificate, once the renewal is issued",
        });
    };
    let certificate = certificates::find_by_id(&txn, cert_id)
        .await?
        .context("the renewal's certificate is missing")?;
    let issuer = cached_issuer(state, &txn, certificate.issuer_id)
        .await?
        .context("the renewal's issuer is missing")?;
    let pkcs8 = state.keys.open(&key_context(id), &sealed)?;
    renewal::erase_key(&txn, id).await?;
    actor
        .audit(&txn, "job.collect_key", "job", id, json!({ "certificate_id": cert_id }))
        .await?;
    let job = jobs::find_by_id(&txn, id).await?.ok_or(JobActionError::NotFound)?;
    txn.commit().await?;
    Ok(CollectedKey {
        job,
        certificate,
        chain_pem: issuer.chain_pem.clone(),
        private_key_pem: certctl_pki::pkcs7::pem("PRIVATE KEY", &pkcs8),
    })
}

//! Issuing certificates: the profile's rules, the approval gate, and signing.
//!
//! A request is first checked against its issuer and profile ([`check`]). What passes is a
//! [`CheckedRequest`]: the exact names, lifetime and public key that will be certified. That is
//! what an approval job stores, and what approval re-checks against the profile as it is then.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use certctl_pki::names::{SanRules, check_names};
use certctl_pki::{
    Eku, KeyAlgorithm, LeafRequest, generate_key, issue_leaf, key_algorithm_of_spki, parse_csr, spki_of,
};
use certctl_shared::entities::certificate::Model as Certificate;
use certctl_shared::entities::certificate_profile::Model as Profile;
use certctl_shared::entities::job::Model as Job;
use certctl_shared::model::{CertificateSource, CertificateStatus, EventType, JobStatus};
use certctl_shared::repo::certificates::InsertOutcome;
use certctl_shared::repo::{certificates, jobs, notifications, profiles, renewal};
use chrono::{Duration, Utc};
use std::sync::Arc;

use certctl_shared::model::{CertificateId, IssuerId, JobId, NotificationId, ProfileId, RenewalPolicyId};
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde::{Deserialize, Serialize};
use serde_json::json;

use anyhow::Context;
use certctl_pki::PkiError;

use super::issuers::{MAX_COMMON_NAME, cached_issuer, from_time, to_time};
use super::{Actor, Fault, faults};
use crate::Core;
use crate::cache::CachedIssuer;

/// Which rule of the issuer or profile a request broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// A malformed or missing field (common name, lifetime, key source).
    Request,
    /// The CSR does not parse.
    Csr,
    /// The CSR's signature does not verify: no proof of possession of the key.
    CsrSignature,
    /// A name the profile does not allow.
    Names,
    /// A key type the profile does not allow.
    KeyType,
    /// Longer than the profile's maximum lifetime.
    Lifetime,
    /// Short-lived, under a profile that does not allow it.
    ShortLived,
    /// The certificate would outlast its issuer.
    OutlastsIssuer,
    /// Under approval, only a CSR is accepted (a generated key could be shown only to the approver).
    CsrRequired,
}

/// Why a certificate was not issued, renewed, or filed for approval.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("issuer {0} does not exist")]
    UnknownIssuer(IssuerId),
    #[error("profile {0} does not exist")]
    UnknownProfile(ProfileId),
    /// The request breaks a rule; the text says which and how.
    #[error("{1}")]
    Refused(Rule, String),
    #[error("the profile changed while the certificate was being issued; retry the request")]
    ProfileChanged,
    #[error("this public key belongs to a certificate revoked for keyCompromise and is never certified again")]
    KeyCompromised,
    #[error("certificate not found")]
    CertificateNotFound,
    #[error("a revoked certificate cannot be renewed")]
    CertificateRevoked,
    #[error("the certificate was already renewed (superseded by {0})")]
    CertificateSuperseded(String),
    #[error("the certificate being renewed is no longer active")]
    CertificateNotActive,
    #[error("issuer {0} is disabled: it signs no certificate until it is enabled again")]
    IssuerDisabled(IssuerId),
    /// Internal: the insert found the idempotency key taken (`issue` answers with the first).
    #[error("the idempotency key is already taken")]
    DuplicateIdempotencyKey,
    #[error(
        "this Idempotency-Key was already used for a different request (certificate {0}); use a new key for a new request"
    )]
    IdempotencyKeyReused(CertificateId),
    /// An idempotency key where a retry could not return what the first request did.
    #[error("{0}")]
    IdempotencyUnsupported(&'static str),
    #[error(transparent)]
    Fault(#[from] Fault),
}

faults!(IssueError);

impl From<PkiError> for IssueError {
    fn from(e: PkiError) -> Self {
        let rule = match e {
            PkiError::MalformedCsr => Rule::Csr,
            PkiError::BadCsrSignature => Rule::CsrSignature,
            PkiError::UnsupportedKey(_) => Rule::KeyType,
            PkiError::InvalidName(_) => Rule::Names,
            PkiError::Build(_) | PkiError::KeyGeneration => {
                return IssueError::Fault(Fault::Internal(anyhow::Error::new(e)));
            }
        };
        IssueError::Refused(rule, e.to_string())
    }
}

fn refused(rule: Rule, detail: impl Into<String>) -> IssueError {
    IssueError::Refused(rule, detail.into())
}

/// Under this lifetime a certificate is short-lived (RFC 9608): no revocation pointers.
pub const SHORT_LIVED_BELOW_SECONDS: i64 = 3600;
/// Nothing shorter than this is issued at all.
pub const MIN_TTL_SECONDS: i64 = 60;

/// Where the subject key comes from.
#[derive(Clone)]
pub enum KeySource {
    /// A PKCS#10 request, proving possession of the key.
    Csr(String),
    /// certctl generates the key and returns it once.
    Generate(KeyAlgorithm),
    /// A key certctl already certified (renewal, approval).
    Spki(Vec<u8>),
}

#[derive(Clone)]
pub struct IssueInput {
    pub issuer_id: IssuerId,
    pub profile_id: ProfileId,
    pub common_name: String,
    pub sans: Option<Vec<String>>,
    pub ttl_seconds: Option<i64>,
    pub key: KeySource,
    /// The client's `Idempotency-Key`: a retry with the same key gets the first certificate.
    pub idempotency_key: Option<String>,
}

/// A request that passed every rule. Stored as a job's `request` while it awaits approval.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CheckedRequest {
    pub issuer_id: IssuerId,
    pub profile_id: ProfileId,
    pub common_name: String,
    pub sans: Vec<String>,
    pub ttl_seconds: i64,
    pub key_algorithm: KeyAlgorithm,
    /// Base64 DER SubjectPublicKeyInfo; absent when certctl is to generate the key.
    pub spki_der: Option<String>,
    /// The certificate this one renews, if any.
    #[serde(default)]
    pub renew_of: Option<CertificateId>,
    /// The way the request came in, kept while it awaits approval so the certificate records the
    /// requester's protocol, not the approver's. Absent on jobs filed before it was kept: `api`.
    #[serde(default)]
    pub source: Option<CertificateSource>,
    /// A renewal keeps the renewed certificate's own renewal policy.
    #[serde(default)]
    pub renewal_policy_id: Option<RenewalPolicyId>,
    /// The key was generated by certctl (for this request, or for the certificate renewed with
    /// it), not brought in a CSR.
    #[serde(default)]
    pub key_generated: bool,
}

pub enum IssueOutcome {
    Issued(Box<Issued>),
    AwaitingApproval(Box<Job>),
    /// A retried request: the certificate issued under the same idempotency key the first time.
    Replayed(Box<Issued>),
}

pub struct Issued {
    pub certificate: Certificate,
    pub chain_pem: String,
    /// PKCS#8 PEM of a key certctl generated; returned this once and never stored.
    pub private_key_pem: Option<String>,
    /// Notifications queued with the certificate, to publish once committed.
    pub notifications: Vec<NotificationId>,
}

/// Applies the issuer's and profile's rules. Every failure is a 400 naming the rule.
/// How a profile is read. Replicas cache profiles; that is safe because the certificate insert
/// checks the profile's revision and writes nothing if it moved ([`sign_and_store`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProfileRead {
    Cached,
    Fresh,
}

async fn load_profile(
    state: &Core,
    conn: &impl ConnectionTrait,
    id: ProfileId,
    read: ProfileRead,
) -> Result<Option<Arc<Profile>>, Fault> {
    if read == ProfileRead::Cached
        && let Some(hit) = state.caches.profile(id)
    {
        return Ok(Some(hit));
    }
    let Some(profile) = profiles::find_by_id(conn, id).await? else {
        state.caches.forget_profile(id);
        return Ok(None);
    };
    let profile = Arc::new(profile);
    state.caches.keep_profile(profile.clone());
    Ok(Some(profile))
}

pub async fn check(
    state: &Core,
    conn: &impl ConnectionTrait,
    input: IssueInput,
    read: ProfileRead,
) -> Result<(Arc<CachedIssuer>, Arc<Profile>, CheckedRequest), IssueError> {
    let issuer = cached_issuer(state, conn, input.issuer_id)
        .await?
        .ok_or(IssueError::UnknownIssuer(input.issuer_id))?;
    let profile = load_profile(state, conn, input.profile_id, read)
        .await?
        .ok_or(IssueError::UnknownProfile(input.profile_id))?;

    let cn = input.common_name.trim().to_owned();
    if cn.is_empty() || cn.chars().count() > MAX_COMMON_NAME {
        return Err(refused(
            Rule::Request,
            format!("common_name must be 1-{MAX_COMMON_NAME} characters"),
        ));
    }
    // The common name is always certified as a SAN too (RFC 6125 clients ignore the CN).
    let mut requested = input.sans.unwrap_or_default();
    if !requested.iter().any(|s| s.eq_ignore_ascii_case(&cn)) {
        requested.insert(0, cn.clone());
    }
    let rules: SanRules = serde_json::from_value(profile.san_rules.clone())
        .with_context(|| format!("profile {} has unreadable san_rules", profile.id))?;
    let names = check_names(&rules, &requested).map_err(|m| refused(Rule::Names, m))?;

    let ttl = input.ttl_seconds.unwrap_or(profile.max_ttl_seconds);
    if ttl < MIN_TTL_SECONDS {
        return Err(refused(
            Rule::Request,
            format!("ttl_seconds must be at least {MIN_TTL_SECONDS}"),
        ));
    }
    if ttl > profile.max_ttl_seconds {
        return Err(refused(
            Rule::Lifetime,
            format!(
                "ttl_seconds {ttl} exceeds the profile's maximum of {}",
                profile.max_ttl_seconds
            ),
        ));
    }
    if ttl < SHORT_LIVED_BELOW_SECONDS && !profile.allow_short_lived {
        return Err(refused(
            Rule::ShortLived,
            format!("ttl_seconds under {SHORT_LIVED_BELOW_SECONDS} needs a profile with allow_short_lived"),
        ));
    }

    let (key_algorithm, spki_der) = match input.key {
        KeySource::Csr(pem) => {
            let csr = parse_csr(pem.as_bytes())?;
            (csr.key_algorithm, Some(csr.spki_der))
        }
        KeySource::Generate(alg) => (alg, None),
        KeySource::Spki(der) => (key_algorithm_of_spki(&der)?, Some(der)),
    };
    if !profile
        .allowed_key_algorithms
        .iter()
        .any(|a| a == key_algorithm.as_str())
    {
        return Err(refused(
            Rule::KeyType,
            format!(
                "key type {key_algorithm} is not allowed by the profile (allowed: {})",
                profile.allowed_key_algorithms.join(", ")
            ),
        ));
    }
    let not_after = Utc::now() + Duration::seconds(ttl);
    if not_after > issuer.row.not_after {
        return Err(refused(
            Rule::OutlastsIssuer,
            format!(
                "the certificate would outlast its issuer, which expires at {}",
                issuer.row.not_after
            ),
        ));
    }
    let checked = CheckedRequest {
        issuer_id: issuer.row.id,
        profile_id: profile.id,
        common_name: cn,
        sans: names.iter().map(|n| n.as_string()).collect(),
        ttl_seconds: ttl,
        key_algorithm,
        spki_der: spki_der.map(|d| STANDARD.encode(d)),
        renew_of: None,
        source: None,
        renewal_policy_id: None,
        key_generated: false,
    };
    Ok((issuer, profile, checked))
}

/// Issues now, or files an approval job if the profile requires one.
#[tracing::instrument(name = "issue_certificate", skip_all, fields(issuer.id = %input.issuer_id, profile.id = %input.profile_id))]
pub async fn issue(state: &Core, actor: &Actor, input: IssueInput) -> Result<IssueOutcome, IssueError> {
    if let Some(key) = &input.idempotency_key {
        if matches!(input.key, KeySource::Generate(_)) {
            return Err(IssueError::IdempotencyUnsupported(
                "an Idempotency-Key needs a CSR: a key certctl generates is returned only once, so a retried request could not return it",
            ));
        }
        if let Some(first) = certificates::find_by_idempotency_key(&state.db, &actor.principal, key).await? {
            return replay(state, &input, first).await;
        }
    }
    let mut read = ProfileRead::Cached;
    for _ in 0..4 {
        let (issuer, profile, checked) = match check(state, &state.db, input.clone(), read).await {
            Ok(checked) => checked,
            // Never refuse on a cached profile: the rule that failed may have been relaxed since.
            Err(IssueError::Refused(..) | IssueError::UnknownIssuer(_) | IssueError::UnknownProfile(_))
                if read == ProfileRead::Cached =>
            {
                read = ProfileRead::Fresh;
                continue;
            }
            Err(e) => return Err(e),
        };
        if profile.requires_approval {
            if read == ProfileRead::Cached {
                // Confirm against the database before asking a person to approve anything.
                read = ProfileRead::Fresh;
                continue;
            }
            if checked.spki_der.is_none() {
                return Err(refused(
                    Rule::CsrRequired,
                    "this profile requires approval, so it accepts only a CSR: a key certctl generated could be shown only to the approver",
                ));
            }
            if input.idempotency_key.is_some() {
                return Err(IssueError::IdempotencyUnsupported(
                    "this profile requires approval, and approval requests are not deduplicated by Idempotency-Key: send the request without one (a retry files a second request, which an approver can reject)",
                ));
            }
            return file_job(state, actor, "issue", checked)
                .await
                .map(|j| IssueOutcome::AwaitingApproval(Box::new(j)));
        }
        // The certificate and its audit row go in as one statement: atomic without a transaction.
        let provenance = Provenance {
            idempotency_key: input.idempotency_key.as_deref(),
            ..Provenance::direct(actor)
        };
        match sign_and_store(state, &state.db, actor, &issuer, &profile, &checked, provenance).await {
            Ok(issued) => {
                issued.count(state);
                state.dispatch(issued.notifications.clone());
                return Ok(IssueOutcome::Issued(Box::new(issued)));
            }
            // The same request, retried while the first was still being signed: the first won.
            Err(IssueError::DuplicateIdempotencyKey) => {
                let key = input.idempotency_key.as_deref().unwrap_or_default();
                let first = certificates::find_by_idempotency_key(&state.db, &actor.principal, key)
                    .await?
                    .context("a certificate holds the idempotency key but cannot be read")?;
                return replay(state, &input, first).await;
            }
            // The cached profile was stale: check again against the profile as it is now.
            Err(IssueError::ProfileChanged) => read = ProfileRead::Fresh,
            Err(e) => return Err(e),
        }
    }
    Err(IssueError::ProfileChanged)
}

/// The answer to a retried request: the first certificate, if the request is the same one. Both
/// are compared as `check` leaves them (names trimmed, lowercased, deduplicated, IP addresses in
/// standard form, the default lifetime filled in), so a byte-for-byte retry always matches: same
/// issuer, profile, common name, set of names, public key and lifetime (to the second; the
/// certificate's times have no fractions). A different request under a used key is refused.
async fn replay(state: &Core, input: &IssueInput, first: Certificate) -> Result<IssueOutcome, IssueError> {
    let (issuer, _, asked) = check(state, &state.db, input.clone(), ProfileRead::Cached).await?;
    let names = |n: &[String]| n.iter().cloned().collect::<std::collections::BTreeSet<_>>();
    let stored_ttl = (first.not_after - first.not_before).num_seconds();
    let same = first.issuer_id == asked.issuer_id
        && first.profile_id == asked.profile_id
        && first.common_name == asked.common_name
        && names(&first.sans) == names(&asked.sans)
        && asked.spki_der.as_deref().and_then(|b| STANDARD.decode(b).ok()) == Some(first.public_key_der.clone())
        && (stored_ttl - asked.ttl_seconds).abs() <= 1;
    if !same {
        return Err(IssueError::IdempotencyKeyReused(first.id));
    }
    Ok(IssueOutcome::Replayed(Box::new(Issued {
        certificate: first,
        chain_pem: issuer.chain_pem.clone(),
        private_key_pem: None,
        notifications: Vec::new(),
    })))
}

pub async fn file_job(state: &Core, actor: &Actor, kind: &str, checked: CheckedRequest) -> Result<Job, IssueError> {
    let txn = state.db.begin().await?;
    let (job, notifications) = file_job_in(&txn, actor, kind, checked).await?;
    txn.commit().await?;
    state.dispatch(notifications);
    Ok(job)
}

/// Files an approval job on `conn` (the caller's transaction, when the job is part of a larger
/// change) with its audit row and `approval_requested` notifications, to publish once committed.
pub async fn file_job_in(
    conn: &impl ConnectionTrait,
    actor: &Actor,
    kind: &str,
    mut checked: CheckedRequest,
) -> Result<(Job, Vec<NotificationId>), IssueError> {
    checked.source = Some(actor.protocol.certificate_source());
    let job = jobs::insert(
        conn,
        new_job(
            actor,
            kind,
            JobStatus::AwaitingApproval,
            (checked.issuer_id, checked.profile_id),
            serde_json::to_value(&checked).context("failed to store the checked request")?,
        ),
    )
    .await?;
    actor
        .audit(conn, "job.create", "job", job.id, json!({ "kind": kind, "common_name": checked.common_name, "sans": checked.sans, "renew_of": checked.renew_of }))
        .await?;
    let notifications = approval_requested(conn, &job, &checked).await?;
    Ok((job, notifications))
}

/// Queues `approval_requested` for a job now waiting for an approver, to publish once committed.
pub async fn approval_requested(
    conn: &impl ConnectionTrait,
    job: &Job,
    checked: &CheckedRequest,
) -> Result<Vec<NotificationId>, sea_orm::DbErr> {
    notifications::enqueue(
        conn,
        EventType::ApprovalRequested,
        checked.renew_of,
        json!({ "job_id": job.id, "kind": job.kind, "requested_by": job.requested_by, "common_name": checked.common_name,
                "sans": checked.sans, "issuer_id": checked.issuer_id, "profile_id": checked.profile_id,
                "renew_of": checked.renew_of }),
    )
    .await
}

/// A new job row requested by `actor`, for `(issuer, profile)`, with nothing decided or tried yet.
pub fn new_job(
    actor: &Actor,
    kind: &str,
    status: JobStatus,
    (issuer_id, profile_id): (IssuerId, ProfileId),
    request: serde_json::Value,
) -> Job {
    Job {
        id: JobId::new(),
        kind: kind.to_owned(),
        status,
        issuer_id,
        profile_id,
        request,
        requested_by: actor.principal.clone(),
        decided_by: None,
        decision_note: None,
        decided_at: None,
        certificate_id: None,
        error: None,
        created_at: jobs::now(),
        requested_by_key_id: actor.key_id(),
        renews_certificate_id: None,
        attempts: 0,
        next_attempt_at: None,
        private_key_ciphertext: None,
        key_retrieved_at: None,
        updated_at: None,
    }
}

impl Issued {
    /// Counts the issuance in metrics; call once the change is committed.
    pub fn count(&self, state: &Core) {
        state
            .counters
            .certificates_issued
            .with_label_values(&[self.certificate.key_algorithm.as_str()])
            .inc();
    }
}

/// For whom a certificate is stored: the approval job it settles, the principal who asked, and
/// that principal's idempotency key.
pub struct Provenance<'a> {
    pub job_id: Option<JobId>,
    pub requested_by: &'a str,
    pub idempotency_key: Option<&'a str>,
}

impl<'a> Provenance<'a> {
    /// Asked for by `actor` now, without a job or an idempotency key.
    pub fn direct(actor: &'a Actor) -> Self {
        Self {
            job_id: None,
            requested_by: &actor.principal,
            idempotency_key: None,
        }
    }
}

/// Signs the certificate described by `checked` and stores it with its audit row on `conn` (the
/// caller's transaction when the issuance is part of a larger change). A key revoked for
/// keyCompromise is refused here, in the same statement as the insert.
pub async fn sign_and_store(
    state: &Core,
    conn: &impl ConnectionTrait,
    actor: &Actor,
    issuer: &CachedIssuer,
    profile: &Profile,
    checked: &CheckedRequest,
    provenance: Provenance<'_>,
) -> Result<Issued, IssueError> {
    let Provenance {
        job_id,
        requested_by,
        idempotency_key,
    } = provenance;
    let (spki, private_key_pem) = match &checked.spki_der {
        Some(b64) => (
            STANDARD
                .decode(b64)
                .context("the checked request's public key is not base64")?,
            None,
        ),
        None => {
            let alg = checked.key_algorithm;
            let key = if alg.is_rsa() {
                tokio::task::spawn_blocking(move || generate_key(alg))
                    .await
                    .context("key generation task failed")??
            } else {
                generate_key(alg)?
            };
            (spki_of(&key), Some(key.serialize_pem()))
        }
    };
    let rules: SanRules = serde_json::from_value(profile.san_rules.clone())
        .with_context(|| format!("profile {} has unreadable san_rules", profile.id))?;
    let names = check_names(&rules, &checked.sans).map_err(|m| refused(Rule::Names, m))?;
    let ekus: Vec<Eku> = profile.ekus.iter().filter_map(|e| Eku::parse(e)).collect();
    let now = Utc::now();
    let not_after = now + Duration::seconds(checked.ttl_seconds);
    let short_lived = checked.ttl_seconds < SHORT_LIVED_BELOW_SECONDS;
    let cert = issue_leaf(LeafRequest {
        common_name: &checked.common_name,
        names: &names,
        spki_der: &spki,
        key_algorithm: checked.key_algorithm,
        ekus: &ekus,
        not_before: to_time(now),
        not_after: to_time(not_after),
        short_lived,
        issuer: &issuer.signer,
        urls: &state.urls,
    })?;
    let mut row = Certificate {
        id: CertificateId::new(),
        issuer_id: issuer.row.id,
        profile_id: profile.id,
        serial_hex: cert.serial_hex(),
        common_name: checked.common_name.clone(),
        sans: checked.sans.clone(),
        key_algorithm: checked.key_algorithm.as_str().to_owned(),
        public_key_der: spki,
        status: CertificateStatus::Active,
        short_lived,
        not_before: from_time(cert.not_before),
        not_after: from_time(cert.not_after),
        certificate_der: cert.der,
        certificate_pem: cert.pem,
        renewed_from_id: checked.renew_of,
        superseded_by_id: None,
        job_id,
        requested_by: requested_by.to_owned(),
        created_at: now,
        renewal_policy_id: checked.renewal_policy_id,
        // Computed by the insert statement from the renewal policy that applies.
        renew_after: None,
        key_generated: checked.key_generated || private_key_pem.is_some(),
        // Through an approval, the requester's way in (kept on the job), not the approver's.
        source: checked.source.unwrap_or_else(|| actor.protocol.certificate_source()),
    };
    let action = if checked.renew_of.is_some() {
        "certificate.renew"
    } else {
        "certificate.issue"
    };
    let audit = actor.event(
        action,
        "certificate",
        row.id,
        json!({ "serial_hex": row.serial_hex, "issuer_id": row.issuer_id, "profile_id": row.profile_id,
                "common_name": row.common_name, "sans": row.sans, "not_after": row.not_after,
                "key_algorithm": row.key_algorithm, "short_lived": short_lived, "job_id": job_id,
                "renewed_from_id": checked.renew_of, "server_generated_key": private_key_pem.is_some() }),
    );
    let (event_type, event_data) = certificate_event(&row, checked.renew_of.is_some());
    let notifications = match certificates::insert_audited(
        conn,
        &row,
        profile.revision,
        audit,
        event_type,
        event_data,
        idempotency_key,
    )
    .await?
    {
        InsertOutcome::Inserted {
            notifications,
            renew_after,
        } => {
            row.renew_after = renew_after;
            notifications
        }
        InsertOutcome::KeyCompromised => return Err(IssueError::KeyCompromised),
        InsertOutcome::ProfileChanged => return Err(IssueError::ProfileChanged),
        InsertOutcome::DuplicateIdempotencyKey => return Err(IssueError::DuplicateIdempotencyKey),
        InsertOutcome::IssuerDisabled => return Err(IssueError::IssuerDisabled(row.issuer_id)),
    };
    if let Some(old) = checked.renew_of {
        if certificates::transition(conn, old, RENEWABLE, CertificateStatus::Renewed, Some(row.id))
            .await?
            .is_none()
        {
            return Err(IssueError::CertificateNotActive);
        }
        // Renewed by other means than its automatic renewal: that renewal has nothing left to do.
        renewal::cancel_open_renewals(conn, &[old], job_id, "the certificate was renewed by another request").await?;
    }
    Ok(Issued {
        certificate: row,
        chain_pem: issuer.chain_pem.clone(),
        private_key_pem,
        notifications,
    })
}

/// The `certificate_issued` or `certificate_renewed` notification for a stored certificate.
fn certificate_event(c: &Certificate, renewal: bool) -> (EventType, serde_json::Value) {
    let t = if renewal {
        EventType::CertificateRenewed
    } else {
        EventType::CertificateIssued
    };
    let data = json!({ "certificate_id": c.id, "serial_hex": c.serial_hex, "common_name": c.common_name,
        "sans": c.sans, "issuer_id": c.issuer_id, "profile_id": c.profile_id, "not_before": c.not_before,
        "not_after": c.not_after, "requested_by": c.requested_by, "renewed_from_id": c.renewed_from_id });
    (t, data)
}

/// The states a certificate can be renewed from: live, or expired (neither revoked nor renewed).
pub const RENEWABLE: &[CertificateStatus] = &[
    CertificateStatus::Active,
    CertificateStatus::Expiring,
    CertificateStatus::RenewalInProgress,
    CertificateStatus::Expired,
];

/// Why `old` cannot be renewed, if it cannot.
pub async fn refuse_renewal(conn: &impl ConnectionTrait, old: &Certificate) -> Result<Option<IssueError>, Fault> {
    Ok(match old.status {
        s if RENEWABLE.contains(&s) => None,
        CertificateStatus::Revoked => {
            let reason = certctl_shared::repo::revocations::find_by_certificate(conn, old.id)
                .await?
                .map(|r| r.reason);
            Some(if reason.as_deref() == Some("keyCompromise") {
                IssueError::KeyCompromised
            } else {
                IssueError::CertificateRevoked
            })
        }
        _ => Some(IssueError::CertificateSuperseded(
            old.superseded_by_id.map(|u| u.to_string()).unwrap_or_default(),
        )),
    })
}

/// Checks the renewal of `old` (locked by the caller's transaction `conn`): the same names, a
/// fresh lifetime (the original one unless `ttl_seconds` says otherwise, within the profile as it
/// is now), and `key` (the same public key unless given another), under the issuer and profile as
/// they are now. The request keeps the certificate's own renewal policy.
pub async fn check_renewal(
    state: &Core,
    conn: &impl ConnectionTrait,
    old: &Certificate,
    ttl_seconds: Option<i64>,
    key: Option<KeySource>,
) -> Result<(Arc<CachedIssuer>, Arc<Profile>, CheckedRequest), IssueError> {
    let profile = profiles::find_by_id(conn, old.profile_id)
        .await?
        .ok_or(IssueError::UnknownProfile(old.profile_id))?;
    let original = (old.not_after - old.not_before).num_seconds();
    let ttl = ttl_seconds.unwrap_or_else(|| original.min(profile.max_ttl_seconds));
    let same_key = key.is_none();
    let (issuer, profile, mut checked) = check(
        state,
        conn,
        IssueInput {
            issuer_id: old.issuer_id,
            profile_id: old.profile_id,
            common_name: old.common_name.clone(),
            sans: Some(old.sans.clone()),
            ttl_seconds: Some(ttl),
            key: key.unwrap_or_else(|| KeySource::Spki(old.public_key_der.clone())),
            idempotency_key: None,
        },
        ProfileRead::Fresh,
    )
    .await?;
    checked.renew_of = Some(old.id);
    checked.renewal_policy_id = old.renewal_policy_id;
    checked.key_generated = same_key && old.key_generated;
    Ok((issuer, profile, checked))
}

/// Renews a certificate: same names, a fresh lifetime, and the same key unless `new_key` gives
/// another (an EST re-enrollment may rekey); the old one becomes `renewed`.
#[tracing::instrument(name = "renew_certificate", skip_all, fields(certificate.id = %id))]
pub async fn renew(
    state: &Core,
    actor: &Actor,
    id: CertificateId,
    ttl_seconds: Option<i64>,
    new_key: Option<KeySource>,
) -> Result<IssueOutcome, IssueError> {
    let txn = state.db.begin().await?;
    let old = certificates::find_for_update(&txn, id)
        .await?
        .ok_or(IssueError::CertificateNotFound)?;
    if let Some(refusal) = refuse_renewal(&txn, &old).await? {
        return Err(refusal);
    }
    let (issuer, profile, checked) = check_renewal(state, &txn, &old, ttl_seconds, new_key).await?;
    if profile.requires_approval {
        drop(txn);
        return file_job(state, actor, "renew", checked)
            .await
            .map(|j| IssueOutcome::AwaitingApproval(Box::new(j)));
    }
    let issued = sign_and_store(
        state,
        &txn,
        actor,
        &issuer,
        &profile,
        &checked,
        Provenance::direct(actor),
    )
    .await?;
    txn.commit().await?;
    issued.count(state);
    state.dispatch(issued.notifications.clone());
    Ok(IssueOutcome::Issued(Box::new(issued)))
}

/// The certificate `issuer_id` issued with this serial, given as the DER INTEGER's content bytes
/// (a leading zero byte or not: stored serials keep their 16 random bytes, zeros included).
pub async fn find_by_raw_serial(
    conn: &impl ConnectionTrait,
    issuer_id: IssuerId,
    raw_serial: &[u8],
) -> Result<Option<Certificate>, Fault> {
    let mut serial = raw_serial;
    while serial.len() > 1 && serial[0] == 0 {
        serial = &serial[1..];
    }
    let mut candidates = vec![hex::encode(serial)];
    if serial.len() < 16 {
        let mut padded = vec![0u8; 16 - serial.len()];
        padded.extend_from_slice(serial);
        candidates.push(hex::encode(padded));
    }
    for serial_hex in candidates {
        if let Some(row) = certificates::find_by_serial(conn, issuer_id, &serial_hex).await? {
            return Ok(Some(row));
        }
    }
    Ok(None)
}

/// The certificate `issuer_id` issued that `der` is, byte for byte.
pub async fn find_issued(
    conn: &impl ConnectionTrait,
    issuer_id: IssuerId,
    der: &[u8],
) -> Result<Option<Certificate>, Fault> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return Ok(None);
    };
    Ok(find_by_raw_serial(conn, issuer_id, cert.raw_serial())
        .await?
        .filter(|row| row.certificate_der == der))
}

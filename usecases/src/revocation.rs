//! Revoking certificates, one at a time or in bulk.

use certctl_shared::entities::certificate::Model as Certificate;
use certctl_shared::entities::certificate_revocation::Model as Revocation;
use certctl_shared::model::{CertificateId, IssuerId, ProfileId};
use certctl_shared::model::{CertificateStatus, EventType, RevocationReason};
use certctl_shared::repo::{audit, certificates, notifications, renewal, revocations};
use chrono::{DateTime, Utc};
use sea_orm::TransactionTrait;
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::{Actor, Fault, faults};
use crate::Core;

/// Why a certificate was not revoked.
#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    #[error("certificate not found")]
    NotFound,
    /// Revocation is final; this is when it happened.
    #[error("the certificate was already revoked at {}", .0.map(|t| t.to_rfc3339()).unwrap_or_default())]
    AlreadyRevoked(Option<DateTime<Utc>>),
    #[error(transparent)]
    Fault(#[from] Fault),
}

faults!(RevokeError);

/// Why a bulk revocation did nothing.
#[derive(Debug, thiserror::Error)]
pub enum BulkRevokeError {
    #[error(
        "give at least one criterion (issuer_id, profile_id or a non-empty certificate_ids): bulk revocation never means everything"
    )]
    NoCriteria,
    #[error(transparent)]
    Fault(#[from] Fault),
}

faults!(BulkRevokeError);

/// Revokes one certificate, records its key as compromised if that is the reason, and queues
/// `certificate_revoked`. Returns the certificate as revoked, and the revocation.
#[tracing::instrument(name = "revoke_certificate", skip_all, fields(certificate.id = %id, reason = reason.as_str()))]
pub async fn revoke(
    state: &Core,
    actor: &Actor,
    id: CertificateId,
    reason: RevocationReason,
) -> Result<(Certificate, Revocation), RevokeError> {
    let txn = state.db.begin().await?;
    let cert = certificates::find_for_update(&txn, id)
        .await?
        .ok_or(RevokeError::NotFound)?;
    if cert.status == CertificateStatus::Revoked {
        let at = revocations::find_by_certificate(&txn, id).await?.map(|r| r.revoked_at);
        return Err(RevokeError::AlreadyRevoked(at));
    }
    let from = cert.status;
    let rev = revocations::insert(
        &txn,
        Revocation {
            id: Uuid::now_v7(),
            certificate_id: cert.id,
            issuer_id: cert.issuer_id,
            serial_hex: cert.serial_hex.clone(),
            reason: reason.as_str().to_owned(),
            reason_code: reason.code(),
            revoked_at: Utc::now(),
            revoked_by: actor.principal.clone(),
        },
    )
    .await?;
    let cert = certificates::transition(&txn, id, &[from], CertificateStatus::Revoked, None)
        .await?
        .ok_or_else(|| anyhow::anyhow!("certificate {id} changed under its row lock"))?;
    renewal::cancel_open_renewals(&txn, &[id], None, "the certificate was revoked").await?;
    renewal::erase_keys_of(&txn, &[id]).await?;
    if reason == RevocationReason::KeyCompromise {
        certificates::record_compromised_keys(&txn, &[id]).await?;
    }
    actor
        .audit(
            &txn,
            "certificate.revoke",
            "certificate",
            id,
            json!({ "reason": reason.as_str(), "serial_hex": cert.serial_hex, "issuer_id": cert.issuer_id }),
        )
        .await?;
    let notifications = notifications::enqueue(
        &txn,
        EventType::CertificateRevoked,
        Some(id),
        json!({ "certificate_id": id, "serial_hex": cert.serial_hex, "common_name": cert.common_name,
                "issuer_id": cert.issuer_id, "reason": reason.as_str(), "revoked_by": actor.principal,
                "revoked_at": rev.revoked_at }),
    )
    .await?;
    txn.commit().await?;
    state.dispatch(notifications);
    Ok((cert, rev))
}

pub struct BulkCriteria {
    pub issuer_id: Option<IssuerId>,
    pub profile_id: Option<ProfileId>,
    pub certificate_ids: Option<Vec<CertificateId>>,
}

#[derive(Debug, Serialize)]
pub struct BulkResult {
    /// Certificates matching the criteria, in any state.
    pub matched: u64,
    /// Newly revoked by this call.
    pub revoked: u64,
    /// Matched but already revoked.
    pub skipped: u64,
    /// Listed ids that do not exist.
    pub failed: u64,
    pub not_found: Vec<CertificateId>,
}

/// Revokes everything matching all given criteria, in one transaction, set-based.
#[tracing::instrument(name = "bulk_revoke", skip_all, fields(reason = reason.as_str()))]
pub async fn bulk_revoke(
    state: &Core,
    actor: &Actor,
    criteria: BulkCriteria,
    reason: RevocationReason,
) -> Result<BulkResult, BulkRevokeError> {
    let ids = criteria.certificate_ids.filter(|v| !v.is_empty());
    if criteria.issuer_id.is_none() && criteria.profile_id.is_none() && ids.is_none() {
        return Err(BulkRevokeError::NoCriteria);
    }
    let txn = state.db.begin().await?;
    let done = certificates::bulk_revoke(
        &txn,
        &certificates::BulkFilter {
            issuer_id: criteria.issuer_id,
            profile_id: criteria.profile_id,
            ids: ids.clone(),
        },
        reason,
        &actor.principal,
    )
    .await?;
    let revoked_ids = done.revoked;
    // As for a single revocation: open renewals of these certificates end now, and rotated keys
    // waiting with them are erased (one statement each for the whole batch).
    renewal::cancel_open_renewals(&txn, &revoked_ids, None, "the certificate was revoked").await?;
    renewal::erase_keys_of(&txn, &revoked_ids).await?;
    if reason == RevocationReason::KeyCompromise {
        certificates::record_compromised_keys(&txn, &revoked_ids).await?;
    }
    // One audit row per certificate, so each certificate's history is complete on its own.
    audit::append_each(
        &txn,
        &actor.event(
            "certificate.revoke",
            "certificate",
            "",
            json!({ "reason": reason.as_str(), "bulk": true }),
        ),
        &revoked_ids,
    )
    .await?;
    let not_found = done.not_found;
    // Every count comes from the one statement's snapshot: matched = revoked + skipped.
    let result = BulkResult {
        matched: done.matched,
        revoked: revoked_ids.len() as u64,
        skipped: done.skipped,
        failed: not_found.len() as u64,
        not_found,
    };
    actor
        .audit(
            &txn,
            "certificate.bulk_revoke",
            "certificate",
            "bulk",
            json!({ "reason": reason.as_str(), "issuer_id": criteria.issuer_id, "profile_id": criteria.profile_id,
                    "certificate_ids": ids, "matched": result.matched, "revoked": result.revoked,
                    "skipped": result.skipped, "failed": result.failed }),
        )
        .await?;
    // One notification per channel for the whole batch, not one per certificate.
    let notifications = if result.revoked > 0 {
        notifications::enqueue(
            &txn,
            EventType::CertificateRevoked,
            None,
            json!({ "bulk": true, "reason": reason.as_str(), "revoked_by": actor.principal,
                    "matched": result.matched, "revoked": result.revoked, "skipped": result.skipped,
                    "issuer_id": criteria.issuer_id, "profile_id": criteria.profile_id,
                    "certificate_ids": revoked_ids.iter().take(100).collect::<Vec<_>>(),
                    "certificate_ids_truncated": revoked_ids.len() > 100 }),
        )
        .await?
    } else {
        Vec::new()
    };
    txn.commit().await?;
    state.dispatch(notifications);
    tracing::info!(
        matched = result.matched,
        revoked = result.revoked,
        reason = reason.as_str(),
        "bulk revocation"
    );
    Ok(result)
}

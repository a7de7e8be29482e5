//! Discovery: the scan targets admins configure (checked against the hard caps, audited) and the
//! operators' decisions about certificates certctl did not issue (claim: someone owns it and
//! wants its expiry warnings; dismiss: not ours to watch). The scanning itself is the worker's
//! discovery loop.

use std::time::Duration;

use certctl_shared::entities::discovered_certificate::Model as Discovered;
use certctl_shared::entities::network_scan_target::Model as Target;
use certctl_shared::model::{DiscoveredCertificateId, ScanTargetId};
use certctl_shared::repo::discovery;
use certctl_shared::scanrange;
use chrono::Utc;
use sea_orm::TransactionTrait;
use serde_json::json;

use super::{Actor, Fault, check_identifier, faults, name_taken};
use crate::Core;

/// The longest note kept with a decision.
pub const MAX_NOTE: usize = 2000;

/// A scan target as an admin writes it.
#[derive(Clone, Debug)]
pub struct TargetSpec {
    pub name: String,
    pub cidrs: Vec<String>,
    pub ports: Vec<i32>,
    pub server_name: Option<String>,
    pub interval_seconds: i32,
    pub timeout_ms: i32,
    pub concurrency: i32,
    pub enabled: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("{0}")]
    Invalid(String),
    #[error("scan target not found")]
    TargetNotFound,
    #[error("discovered certificate not found")]
    CertificateNotFound,
    #[error("a scan target with this name already exists")]
    NameTaken,
    /// Claim and dismiss are for certificates certctl did not issue.
    #[error("certctl issued this certificate: it is managed in the inventory, not claimed or dismissed")]
    Managed,
    #[error(transparent)]
    Fault(#[from] Fault),
}

faults!(DiscoveryError);

fn validate(spec: &TargetSpec) -> Result<(), String> {
    check_identifier("name", &spec.name)?;
    if spec.interval_seconds < 10 {
        return Err("interval_seconds must be at least 10".into());
    }
    if !(100..=60_000).contains(&spec.timeout_ms) {
        return Err("timeout_ms must be 100-60000".into());
    }
    if !(1..=256).contains(&spec.concurrency) {
        return Err("concurrency must be 1-256".into());
    }
    if let Some(name) = &spec.server_name
        && !certctl_pki::names::is_dns_name(name)
    {
        return Err(format!("server_name `{name}` is not a DNS name"));
    }
    scanrange::check(
        &spec.cidrs,
        &spec.ports,
        spec.concurrency as u32,
        Duration::from_millis(spec.timeout_ms as u64),
    )
}

fn to_row(id: ScanTargetId, spec: TargetSpec, actor: &Actor) -> Target {
    let now = Utc::now();
    Target {
        id,
        name: spec.name,
        cidrs: spec.cidrs.iter().map(|c| c.trim().to_owned()).collect(),
        ports: spec.ports,
        server_name: spec.server_name,
        interval_seconds: spec.interval_seconds,
        timeout_ms: spec.timeout_ms,
        concurrency: spec.concurrency,
        enabled: spec.enabled,
        next_scan_at: now,
        lease_until: None,
        leased_by: None,
        last_scan_started_at: None,
        last_scan_finished_at: None,
        last_scan_found: None,
        last_scan_error: None,
        created_by: actor.principal.clone(),
        created_at: now,
        updated_at: now,
    }
}

fn audit_details(t: &Target) -> serde_json::Value {
    json!({ "name": t.name, "cidrs": t.cidrs, "ports": t.ports, "server_name": t.server_name,
            "interval_seconds": t.interval_seconds, "timeout_ms": t.timeout_ms, "concurrency": t.concurrency,
            "enabled": t.enabled })
}

pub async fn create_target(state: &Core, actor: &Actor, spec: TargetSpec) -> Result<Target, DiscoveryError> {
    validate(&spec).map_err(DiscoveryError::Invalid)?;
    let txn = state.db.begin().await?;
    let row = match discovery::insert_target(&txn, to_row(ScanTargetId::new(), spec, actor)).await {
        Err(e) if name_taken(&e) => return Err(DiscoveryError::NameTaken),
        other => other?,
    };
    actor
        .audit(&txn, "scan_target.create", "scan_target", row.id, audit_details(&row))
        .await?;
    txn.commit().await?;
    Ok(row)
}

/// Replaces a target whole; its next scan is due at once.
pub async fn replace_target(
    state: &Core,
    actor: &Actor,
    id: ScanTargetId,
    spec: TargetSpec,
) -> Result<Target, DiscoveryError> {
    validate(&spec).map_err(DiscoveryError::Invalid)?;
    let txn = state.db.begin().await?;
    let before = discovery::find_target(&txn, id)
        .await?
        .ok_or(DiscoveryError::TargetNotFound)?;
    let row = match discovery::replace_target(&txn, to_row(id, spec, actor)).await {
        Err(e) if name_taken(&e) => return Err(DiscoveryError::NameTaken),
        other => other?.ok_or(DiscoveryError::TargetNotFound)?,
    };
    actor
        .audit(
            &txn,
            "scan_target.update",
            "scan_target",
            id,
            json!({ "before": audit_details(&before), "after": audit_details(&row) }),
        )
        .await?;
    txn.commit().await?;
    Ok(row)
}

/// Deletes a target; what it found stays (its sightings lose the link to it).
pub async fn delete_target(state: &Core, actor: &Actor, id: ScanTargetId) -> Result<(), DiscoveryError> {
    let txn = state.db.begin().await?;
    let before = discovery::find_target(&txn, id)
        .await?
        .ok_or(DiscoveryError::TargetNotFound)?;
    discovery::delete_target(&txn, id).await?;
    actor
        .audit(&txn, "scan_target.delete", "scan_target", id, audit_details(&before))
        .await?;
    txn.commit().await?;
    Ok(())
}

/// Makes a target due now (the next worker tick scans it).
pub async fn scan_now(state: &Core, actor: &Actor, id: ScanTargetId) -> Result<Target, DiscoveryError> {
    let txn = state.db.begin().await?;
    let row = discovery::scan_now(&txn, id)
        .await?
        .ok_or(DiscoveryError::TargetNotFound)?;
    actor
        .audit(&txn, "scan_target.scan", "scan_target", id, json!({ "name": row.name }))
        .await?;
    txn.commit().await?;
    Ok(row)
}

/// Claims (`claim` true: someone owns it, and its expiry is warned about) or dismisses a
/// certificate certctl did not issue. Deciding again replaces the decision.
pub async fn decide(
    state: &Core,
    actor: &Actor,
    id: DiscoveredCertificateId,
    claim: bool,
    note: Option<String>,
) -> Result<Discovered, DiscoveryError> {
    if note.as_ref().is_some_and(|n| n.chars().count() > MAX_NOTE) {
        return Err(DiscoveryError::Invalid(format!(
            "note must be at most {MAX_NOTE} characters"
        )));
    }
    let status = if claim { "claimed" } else { "dismissed" };
    let txn = state.db.begin().await?;
    let before = discovery::find(&txn, id)
        .await?
        .ok_or(DiscoveryError::CertificateNotFound)?;
    if before.status == "managed" {
        return Err(DiscoveryError::Managed);
    }
    let row = discovery::decide(&txn, id, status, &actor.principal, note.as_deref())
        .await?
        .ok_or(DiscoveryError::Managed)?;
    actor
        .audit(
            &txn,
            &format!("discovered_certificate.{}", if claim { "claim" } else { "dismiss" }),
            "discovered_certificate",
            id,
            json!({ "fingerprint_sha256": row.fingerprint_sha256, "subject": row.subject, "before": before.status,
                    "note": note }),
        )
        .await?;
    txn.commit().await?;
    Ok(row)
}

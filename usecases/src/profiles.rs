//! Certificate profiles: the policy issuance is checked against. Only admins write them (a
//! profile decides which keys, names and lifetimes are allowed and whether a second person must
//! approve).

use std::sync::Arc;

use anyhow::Context;
use certctl_pki::names::{SanRules, validate_rules};
use certctl_pki::{Eku, KeyAlgorithm};
use certctl_shared::entities::certificate_profile::Model as Profile;
use certctl_shared::model::{ProfileId, RenewalPolicyId};
use certctl_shared::repo::{profiles, renewal};
use chrono::Utc;
use sea_orm::TransactionTrait;
use serde_json::json;

use super::{Actor, Fault, check_identifier, faults, name_taken};
use crate::Core;

/// Ten years: longer-lived end-entity certificates are a mistake, not a policy.
pub const MAX_PROFILE_TTL: i64 = 10 * 365 * 86_400;

/// A profile as its author writes it.
pub struct ProfileSpec {
    pub name: String,
    pub description: String,
    pub max_ttl_seconds: i64,
    pub allowed_key_algorithms: Vec<KeyAlgorithm>,
    pub ekus: Vec<Eku>,
    pub san_rules: SanRules,
    pub requires_approval: bool,
    pub allow_short_lived: bool,
    /// `None`: the built-in renewal policy.
    pub renewal_policy_id: Option<RenewalPolicyId>,
}

/// Why a profile was not written.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("{0}")]
    Invalid(String),
    #[error("profile not found")]
    NotFound,
    #[error("a profile with this name already exists")]
    NameTaken,
    #[error(transparent)]
    Fault(#[from] Fault),
}

faults!(ProfileError);

fn to_row(id: ProfileId, spec: ProfileSpec) -> Result<Profile, ProfileError> {
    check_identifier("name", &spec.name).map_err(ProfileError::Invalid)?;
    if spec.max_ttl_seconds <= 0 || spec.max_ttl_seconds > MAX_PROFILE_TTL {
        return Err(ProfileError::Invalid(format!(
            "max_ttl_seconds must be 1-{MAX_PROFILE_TTL}"
        )));
    }
    if spec.allowed_key_algorithms.is_empty() {
        return Err(ProfileError::Invalid(
            "allowed_key_algorithms must name at least one algorithm".into(),
        ));
    }
    if spec.ekus.is_empty() {
        return Err(ProfileError::Invalid(
            "ekus must name at least one extended key usage".into(),
        ));
    }
    validate_rules(&spec.san_rules).map_err(ProfileError::Invalid)?;
    let now = Utc::now();
    Ok(Profile {
        id,
        name: spec.name,
        description: spec.description,
        allowed_key_algorithms: unique(spec.allowed_key_algorithms.iter().map(|a| a.as_str())),
        max_ttl_seconds: spec.max_ttl_seconds,
        ekus: unique(spec.ekus.iter().map(|e| e.as_str())),
        san_rules: serde_json::to_value(&spec.san_rules).context("failed to store san_rules")?,
        requires_approval: spec.requires_approval,
        allow_short_lived: spec.allow_short_lived,
        created_at: now,
        updated_at: now,
        revision: 1,
        renewal_policy_id: spec.renewal_policy_id,
    })
}

/// Refuses a renewal policy that does not exist (the foreign key would, less clearly).
async fn check_policy(conn: &impl sea_orm::ConnectionTrait, id: Option<RenewalPolicyId>) -> Result<(), ProfileError> {
    if let Some(id) = id
        && renewal::find_by_id(conn, id).await?.is_none()
    {
        return Err(ProfileError::Invalid(format!("renewal policy {id} does not exist")));
    }
    Ok(())
}

/// Keeps the first of each value, in order.
fn unique<'a>(values: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in values {
        if !out.iter().any(|o| o == v) {
            out.push(v.to_owned());
        }
    }
    out
}

fn audit_details(p: &Profile) -> serde_json::Value {
    json!({ "name": p.name, "max_ttl_seconds": p.max_ttl_seconds, "allowed_key_algorithms": p.allowed_key_algorithms,
            "ekus": p.ekus, "san_rules": p.san_rules, "requires_approval": p.requires_approval,
            "allow_short_lived": p.allow_short_lived, "renewal_policy_id": p.renewal_policy_id })
}

pub async fn create(state: &Core, actor: &Actor, spec: ProfileSpec) -> Result<Profile, ProfileError> {
    let row = to_row(ProfileId::new(), spec)?;
    let txn = state.db.begin().await?;
    check_policy(&txn, row.renewal_policy_id).await?;
    let row = match profiles::insert(&txn, row).await {
        Err(e) if name_taken(&e) => return Err(ProfileError::NameTaken),
        other => other?,
    };
    actor
        .audit(&txn, "profile.create", "profile", row.id, audit_details(&row))
        .await?;
    txn.commit().await?;
    Ok(row)
}

/// Replaces a profile whole, at the next revision. Certificates being issued under the previous
/// revision, on any replica, are refused at insert and checked again (see `service::issuance`).
pub async fn replace(state: &Core, actor: &Actor, id: ProfileId, spec: ProfileSpec) -> Result<Profile, ProfileError> {
    let mut row = to_row(id, spec)?;
    let txn = state.db.begin().await?;
    let before = profiles::find_for_update(&txn, id)
        .await?
        .ok_or(ProfileError::NotFound)?;
    row.revision = before.revision + 1;
    check_policy(&txn, row.renewal_policy_id).await?;
    let row = match profiles::replace(&txn, row).await {
        Err(e) if name_taken(&e) => return Err(ProfileError::NameTaken),
        other => other?,
    };
    if row.renewal_policy_id != before.renewal_policy_id {
        renewal::recompute_windows(&txn, renewal::Scope::Profile(id)).await?;
    }
    actor
        .audit(
            &txn,
            "profile.update",
            "profile",
            row.id,
            json!({ "before": audit_details(&before), "after": audit_details(&row) }),
        )
        .await?;
    txn.commit().await?;
    // This replica sees the change at once; others find out when an insert meets the new revision.
    state.caches.keep_profile(Arc::new(row.clone()));
    Ok(row)
}

//! Creating certificate authorities and loading them for signing.

use std::sync::Arc;

use anyhow::Context;
use certctl_pki::{CaRequest, KeyAlgorithm, LoadedIssuer, build_ca, generate_key};
use certctl_shared::entities::issuer::Model as Issuer;
use certctl_shared::model::IssuerId;
use certctl_shared::repo::issuers;
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::json;

use super::{Actor, Fault, check_identifier, faults, name_taken};
use crate::Core;
use crate::cache::CachedIssuer;

/// Why an issuer was not created.
#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    #[error("{0}")]
    Invalid(String),
    #[error("parent issuer {0} does not exist")]
    UnknownParent(IssuerId),
    #[error("an intermediate can only be created under a root: intermediates issue end-entity certificates only")]
    ParentNotRoot,
    #[error("the intermediate would outlast its parent, which expires at {0}")]
    OutlastsParent(DateTime<Utc>),
    #[error("an issuer with this name already exists")]
    NameTaken,
    #[error(transparent)]
    Fault(#[from] Fault),
}

faults!(IssuerError);

pub struct NewIssuer {
    pub name: String,
    pub common_name: String,
    pub key_algorithm: KeyAlgorithm,
    pub parent_issuer_id: Option<IssuerId>,
    pub validity_days: Option<u32>,
    /// 0, or 2 to 256 CRL shards.
    pub crl_shards: u16,
}

const DEFAULT_ROOT_DAYS: u32 = 3650;
const DEFAULT_INTERMEDIATE_DAYS: u32 = 1825;
const MAX_DAYS: u32 = 36_500;
/// RFC 5280 Appendix A: ub-common-name.
pub const MAX_COMMON_NAME: usize = 64;

/// The AAD binding a sealed CA key to its issuer row.
pub fn key_context(issuer_id: IssuerId) -> String {
    certctl_shared::crypto::issuer_key_context(issuer_id)
}

pub use certctl_shared::clock::{from_time, to_time};

pub async fn create(state: &Core, actor: &Actor, new: NewIssuer) -> Result<Issuer, IssuerError> {
    check_identifier("name", &new.name).map_err(IssuerError::Invalid)?;
    if new.common_name.trim().is_empty() || new.common_name.chars().count() > MAX_COMMON_NAME {
        return Err(IssuerError::Invalid(format!(
            "common_name must be 1-{MAX_COMMON_NAME} characters"
        )));
    }
    if new.crl_shards == 1 || new.crl_shards > 256 {
        return Err(IssuerError::Invalid(
            "crl_shards must be 0 (one full CRL) or 2-256".to_owned(),
        ));
    }
    let parent = match new.parent_issuer_id {
        None => None,
        Some(pid) => {
            let parent = cached_issuer(state, &state.db, pid)
                .await?
                .ok_or(IssuerError::UnknownParent(pid))?;
            // Intermediates carry pathLenConstraint 0: they issue end-entity certificates only.
            if parent.row.parent_issuer_id.is_some() {
                return Err(IssuerError::ParentNotRoot);
            }
            Some(parent)
        }
    };
    let days = new.validity_days.unwrap_or(if parent.is_some() {
        DEFAULT_INTERMEDIATE_DAYS
    } else {
        DEFAULT_ROOT_DAYS
    });
    if days == 0 || days > MAX_DAYS {
        return Err(IssuerError::Invalid(format!("validity_days must be 1-{MAX_DAYS}")));
    }
    let now = time::OffsetDateTime::now_utc();
    let not_after = now + time::Duration::days(i64::from(days));
    if let Some(p) = &parent
        && not_after > p.signer.not_after
    {
        return Err(IssuerError::OutlastsParent(from_time(p.signer.not_after)));
    }
    let id = IssuerId::new();
    let alg = new.key_algorithm;
    let key = tokio::task::spawn_blocking(move || generate_key(alg))
        .await
        .context("key generation task failed")?
        .context("failed to generate the CA key")?;
    let urls = state.urls.clone();
    let cert = build_ca(CaRequest {
        id: id.into(),
        common_name: &new.common_name,
        key: &key,
        not_before: now,
        not_after,
        parent: parent.as_ref().map(|p| &p.signer),
        urls: &urls,
    })
    .context("failed to build the CA certificate")?;
    let sealed = state.keys.seal(&key_context(id), key.serialized_der())?;
    let txn = state.db.begin().await?;
    let inserted = issuers::insert(
        &txn,
        Issuer {
            id,
            name: new.name,
            common_name: new.common_name,
            key_algorithm: alg.as_str().to_owned(),
            parent_issuer_id: new.parent_issuer_id,
            serial_hex: cert.serial_hex(),
            certificate_der: cert.der,
            certificate_pem: cert.pem,
            private_key_ciphertext: sealed,
            not_before: from_time(cert.not_before),
            not_after: from_time(cert.not_after),
            created_by: actor.principal.clone(),
            created_at: Utc::now(),
            crl_shards: new.crl_shards as i16,
            disabled_at: None,
            crl_url: (new.crl_shards > 0).then(|| urls.crl(id.into())),
        },
    )
    .await;
    let row = match inserted {
        Err(e) if name_taken(&e) => return Err(IssuerError::NameTaken),
        other => other?,
    };
    actor
        .audit(
            &txn,
            "issuer.create",
            "issuer",
            row.id,
            json!({ "name": row.name, "common_name": row.common_name, "key_algorithm": row.key_algorithm,
                    "parent_issuer_id": row.parent_issuer_id, "not_after": row.not_after, "kek_id": state.keys.current_id(),
                    "crl_shards": row.crl_shards }),
        )
        .await?;
    txn.commit().await?;
    tracing::info!(issuer.id = %row.id, issuer.name = %row.name, "created issuer");
    Ok(row)
}

/// How an issuer's CRL is partitioned, if it is.
fn crl_partition(row: &Issuer) -> Option<certctl_pki::CrlPartition> {
    let shards = u16::try_from(row.crl_shards).ok().filter(|&n| n > 0)?;
    Some(certctl_pki::CrlPartition {
        url: row.crl_url.clone()?,
        shards,
    })
}

/// Disables an issuer (it signs nothing more: every issuance and renewal under it is refused
/// until it is enabled again; its CRL and OCSP go on), or enables it. Audited.
pub async fn set_disabled(state: &Core, actor: &Actor, id: IssuerId, disabled: bool) -> Result<Option<Issuer>, Fault> {
    let txn = state.db.begin().await?;
    let Some(row) = issuers::set_disabled(&txn, id, disabled).await? else {
        return Ok(None);
    };
    let action = if disabled { "issuer.disable" } else { "issuer.enable" };
    actor
        .audit(&txn, action, "issuer", id, json!({ "name": row.name }))
        .await?;
    txn.commit().await?;
    Ok(Some(row))
}

/// The issuer `id`, from the cache or loaded through `conn`; `None` if it does not exist.
pub async fn cached_issuer(
    state: &Core,
    conn: &impl ConnectionTrait,
    id: IssuerId,
) -> Result<Option<Arc<CachedIssuer>>, Fault> {
    if let Some(hit) = state.caches.issuer(id) {
        return Ok(Some(hit));
    }
    let Some(row) = issuers::find_by_id(conn, id).await? else {
        return Ok(None);
    };
    let alg = KeyAlgorithm::parse(&row.key_algorithm)
        .with_context(|| format!("issuer {} has unknown key algorithm {}", row.id, row.key_algorithm))?;
    let pkcs8 = state.keys.open(&key_context(row.id), &row.private_key_ciphertext)?;
    let signer = LoadedIssuer::load(row.id.into(), row.certificate_der.clone(), alg, &pkcs8)
        .with_context(|| format!("issuer {} does not load", row.id))?
        .with_crl_partition(crl_partition(&row));
    let chain_pem = chain_pem(conn, row.id).await?;
    let cached = Arc::new(CachedIssuer { row, signer, chain_pem });
    state.caches.keep_issuer(cached.clone());
    Ok(Some(cached))
}

/// PEM of the issuer and every CA above it, issuer first, root last.
pub async fn chain_pem(conn: &impl ConnectionTrait, issuer_id: IssuerId) -> Result<String, Fault> {
    let mut out = String::new();
    let mut next = Some(issuer_id);
    let mut depth = 0;
    while let Some(id) = next {
        let row = issuers::find_by_id(conn, id)
            .await?
            .with_context(|| format!("issuer {id} missing from the chain of {issuer_id}"))?;
        out.push_str(&row.certificate_pem);
        next = row.parent_issuer_id;
        depth += 1;
        if depth > 16 {
            return Err(anyhow::anyhow!("issuer chain of {issuer_id} is too deep").into());
        }
    }
    Ok(out)
}

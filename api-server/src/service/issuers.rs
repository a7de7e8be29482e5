//! Creating certificate authorities and loading them for signing.

use std::sync::Arc;

use certctl_pki::{CaRequest, KeyAlgorithm, LoadedIssuer, build_ca, generate_key};
use certctl_shared::entities::issuer::Model as Issuer;
use certctl_shared::repo::issuers;
use chrono::Utc;
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::json;
use uuid::Uuid;

use super::Actor;
use super::api_keys::check_identifier;
use crate::error::ApiError;
use crate::state::AppState;

pub struct NewIssuer {
    pub name: String,
    pub common_name: String,
    pub key_algorithm: KeyAlgorithm,
    pub parent_issuer_id: Option<Uuid>,
    pub validity_days: Option<u32>,
}

const DEFAULT_ROOT_DAYS: u32 = 3650;
const DEFAULT_INTERMEDIATE_DAYS: u32 = 1825;
const MAX_DAYS: u32 = 36_500;
/// RFC 5280 Appendix A: ub-common-name.
pub const MAX_COMMON_NAME: usize = 64;

/// The AAD binding a sealed CA key to its issuer row.
pub fn key_context(issuer_id: Uuid) -> String {
    certctl_shared::crypto::issuer_key_context(issuer_id)
}

pub use certctl_shared::clock::{from_time, to_time};

pub async fn create(state: &AppState, actor: &Actor, new: NewIssuer) -> Result<Issuer, ApiError> {
    check_identifier("name", &new.name)?;
    if new.common_name.trim().is_empty() || new.common_name.chars().count() > MAX_COMMON_NAME {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("common_name must be 1-{MAX_COMMON_NAME} characters"),
        ));
    }
    let parent = match new.parent_issuer_id {
        None => None,
        Some(pid) => {
            let parent = cached_issuer(state, &state.db, pid).await?.ok_or_else(|| {
                ApiError::bad_request("unknown_issuer", format!("parent issuer {pid} does not exist"))
            })?;
            // Intermediates carry pathLenConstraint 0: they issue end-entity certificates only.
            if parent.row.parent_issuer_id.is_some() {
                return Err(ApiError::bad_request(
                    "parent_not_root",
                    "an intermediate can only be created under a root: intermediates issue end-entity certificates only",
                ));
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
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("validity_days must be 1-{MAX_DAYS}"),
        ));
    }
    let now = time::OffsetDateTime::now_utc();
    let not_after = now + time::Duration::days(i64::from(days));
    if let Some(p) = &parent
        && not_after > p.signer.not_after
    {
        return Err(ApiError::bad_request(
            "validity_exceeds_issuer",
            format!(
                "the intermediate would outlast its parent, which expires at {}",
                from_time(p.signer.not_after)
            ),
        ));
    }
    let id = Uuid::now_v7();
    let alg = new.key_algorithm;
    let key = tokio::task::spawn_blocking(move || generate_key(alg))
        .await
        .map_err(ApiError::internal)??;
    let urls = state.urls.clone();
    let cert = build_ca(CaRequest {
        id,
        common_name: &new.common_name,
        key: &key,
        not_before: now,
        not_after,
        parent: parent.as_ref().map(|p| &p.signer),
        urls: &urls,
    })?;
    let sealed = state.config.keys.seal(&key_context(id), key.serialized_der())?;
    let txn = state.db.begin().await?;
    let row = issuers::insert(
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
        },
    )
    .await?;
    actor
        .audit(
            &txn,
            "issuer.create",
            "issuer",
            row.id,
            json!({ "name": row.name, "common_name": row.common_name, "key_algorithm": row.key_algorithm,
                    "parent_issuer_id": row.parent_issuer_id, "not_after": row.not_after, "kek_id": state.config.keys.current_id() }),
        )
        .await?;
    txn.commit().await?;
    tracing::info!(issuer.id = %row.id, issuer.name = %row.name, "created issuer");
    Ok(row)
}

/// An issuer ready to sign: its row, its decrypted key and its chain. Issuers are never updated,
/// so a replica caches them for good; only an unseal and key parse per issuer is saved, and the
/// two queries per issuance that would otherwise read the row and the chain.
pub struct CachedIssuer {
    pub row: Issuer,
    pub signer: LoadedIssuer,
    /// The issuer and every CA above it, issuer first.
    pub chain_pem: String,
}

/// The issuer `id`, from the cache or loaded through `conn`; `None` if it does not exist.
pub async fn cached_issuer(
    state: &AppState,
    conn: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<Arc<CachedIssuer>>, ApiError> {
    if let Some(hit) = state.issuers.lock().unwrap_or_else(|p| p.into_inner()).get(&id) {
        return Ok(Some(hit.clone()));
    }
    let Some(row) = issuers::find_by_id(conn, id).await? else {
        return Ok(None);
    };
    let alg = KeyAlgorithm::parse(&row.key_algorithm)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("issuer {} has unknown key algorithm", row.id)))?;
    let pkcs8 = state
        .config
        .keys
        .open(&key_context(row.id), &row.private_key_ciphertext)?;
    let signer = LoadedIssuer::load(row.id, row.certificate_der.clone(), alg, &pkcs8)?;
    let chain_pem = chain_pem(conn, row.id).await?;
    let cached = Arc::new(CachedIssuer { row, signer, chain_pem });
    state
        .issuers
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id, cached.clone());
    Ok(Some(cached))
}

/// PEM of the issuer and every CA above it, issuer first, root last.
pub async fn chain_pem(conn: &impl ConnectionTrait, issuer_id: Uuid) -> Result<String, ApiError> {
    let mut out = String::new();
    let mut next = Some(issuer_id);
    let mut depth = 0;
    while let Some(id) = next {
        let row = issuers::find_by_id(conn, id)
            .await?
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("issuer {id} missing from its chain")))?;
        out.push_str(&row.certificate_pem);
        next = row.parent_issuer_id;
        depth += 1;
        if depth > 16 {
            return Err(ApiError::internal(anyhow::anyhow!(
                "issuer chain of {issuer_id} is too deep"
            )));
        }
    }
    Ok(out)
}

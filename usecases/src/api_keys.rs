//! Creating, disabling and bootstrapping API keys.

use certctl_shared::crypto::{generate_api_key, hash_api_key};
use certctl_shared::entities::api_key::Model as ApiKey;
use certctl_shared::model::ApiKeyId;
use certctl_shared::model::Role;
use certctl_shared::repo::api_keys;
use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, TransactionTrait};
use serde_json::json;

use super::{Actor, Fault, check_identifier, faults, name_taken};

/// Why a key was not created or disabled.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{0}")]
    Invalid(String),
    #[error("a key with this name already exists")]
    NameTaken,
    /// The principal names someone else's enabled key (see [`create`]).
    #[error(
        "principal `{principal}` belongs to the enabled key `{holder}`, made by someone else; disable that key first, or ask its creator"
    )]
    PrincipalTaken { principal: String, holder: String },
    #[error("api key not found")]
    NotFound,
    #[error("refusing to disable the last enabled admin key")]
    LastAdmin,
    #[error(transparent)]
    Fault(#[from] Fault),
}

faults!(KeyError);

/// The name of the key created from `CERTCTL_BOOTSTRAP_ADMIN_KEY`.
pub const BOOTSTRAP_KEY_NAME: &str = "bootstrap-admin";
/// Advisory lock taken while deciding whether to bootstrap, so replicas starting together agree.
const BOOTSTRAP_LOCK: i64 = 0x6365_7274_626f_6f74; // "certboot"

pub struct NewKey {
    pub name: String,
    pub role: Role,
    pub principal: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Creates a key and returns it with its secret, which is never shown again.
pub async fn create(db: &DatabaseConnection, actor: &Actor, new: NewKey) -> Result<(ApiKey, String), KeyError> {
    check_identifier("name", &new.name).map_err(KeyError::Invalid)?;
    let principal = new.principal.unwrap_or_else(|| new.name.clone());
    check_identifier("principal", &principal).map_err(KeyError::Invalid)?;
    if new.expires_at.is_some_and(|t| t <= Utc::now()) {
        return Err(KeyError::Invalid("expires_at must be in the future".into()));
    }
    let secret = generate_api_key()?;
    let txn = db.begin().await?;
    // Serialise key creation, so two keys with one principal cannot slip in side by side.
    api_keys::advisory_xact_lock(&txn, BOOTSTRAP_LOCK).await?;
    if let Some(holder) = api_keys::principal_held_by_other_creator(&txn, &principal, actor.key_id()).await? {
        return Err(KeyError::PrincipalTaken {
            principal: holder.principal,
            holder: holder.name,
        });
    }
    let inserted = api_keys::insert(
        &txn,
        ApiKey {
            id: ApiKeyId::new(),
            name: new.name,
            key_hash: hash_api_key(&secret).to_vec(),
            principal,
            role: new.role,
            created_by: actor.principal.clone(),
            created_at: Utc::now(),
            last_used_at: None,
            disabled_at: None,
            expires_at: new.expires_at,
            created_by_key_id: actor.key_id(),
        },
    )
    .await;
    let key = match inserted {
        Err(e) if name_taken(&e) => return Err(KeyError::NameTaken),
        other => other?,
    };
    actor
        .audit(
            &txn,
            "api_key.create",
            "api_key",
            key.id,
            json!({ "name": key.name, "principal": key.principal, "role": key.role, "expires_at": key.expires_at }),
        )
        .await?;
    txn.commit().await?;
    Ok((key, secret))
}

/// Disables a key. Refuses to disable the last enabled admin key, which would lock everyone out.
pub async fn disable(db: &DatabaseConnection, actor: &Actor, id: ApiKeyId) -> Result<ApiKey, KeyError> {
    let txn = db.begin().await?;
    // Serialise disables so two admins cannot each disable the other's last key at once.
    api_keys::advisory_xact_lock(&txn, BOOTSTRAP_LOCK).await?;
    let key = api_keys::find_by_id(&txn, id).await?.ok_or(KeyError::NotFound)?;
    if key.disabled_at.is_some() {
        return Ok(key);
    }
    if key.role == Role::Admin {
        let now = Utc::now();
        let other_admins = api_keys::list(&txn)
            .await?
            .into_iter()
            .filter(|k| {
                k.id != id && k.role == Role::Admin && k.disabled_at.is_none() && k.expires_at.is_none_or(|t| t > now)
            })
            .count();
        if other_admins == 0 {
            return Err(KeyError::LastAdmin);
        }
    }
    let key = api_keys::disable(&txn, id).await?.ok_or(KeyError::NotFound)?;
    actor
        .audit(&txn, "api_key.disable", "api_key", key.id, json!({ "name": key.name }))
        .await?;
    txn.commit().await?;
    Ok(key)
}

/// Creates `bootstrap-admin` with `secret` if, and only if, the key table is empty. Returns
/// whether it did. Replicas starting together serialise on an advisory lock; a bootstrap key
/// that was later disabled keeps the table non-empty, so it is never re-created.
pub async fn bootstrap(db: &DatabaseConnection, secret: &str) -> Result<bool, Fault> {
    let txn = db.begin().await?;
    api_keys::advisory_xact_lock(&txn, BOOTSTRAP_LOCK).await?;
    if api_keys::count(&txn).await? > 0 {
        return Ok(false);
    }
    let key = api_keys::insert(
        &txn,
        ApiKey {
            id: ApiKeyId::new(),
            name: BOOTSTRAP_KEY_NAME.to_owned(),
            key_hash: hash_api_key(secret).to_vec(),
            principal: BOOTSTRAP_KEY_NAME.to_owned(),
            role: Role::Admin,
            created_by: "system:bootstrap".to_owned(),
            created_at: Utc::now(),
            last_used_at: None,
            disabled_at: None,
            expires_at: None,
            created_by_key_id: None,
        },
    )
    .await?;
    Actor::system("bootstrap")
        .audit(
            &txn,
            "api_key.bootstrap",
            "api_key",
            key.id,
            json!({ "name": key.name }),
        )
        .await?;
    txn.commit().await?;
    Ok(true)
}

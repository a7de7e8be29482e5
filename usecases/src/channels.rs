//! Notification channels: creating, changing, deleting and testing them, and their settings at
//! rest (what is sealed under the key-encryption key and what is stored in the clear).

use anyhow::Context;
use certctl_shared::channel_config::{ChannelConfig, merge, resplit, secret_context, split};
use certctl_shared::crypto::KeyEncryptionKeys;
use certctl_shared::entities::notification_channel::Model as Channel;
use certctl_shared::entities::notification_event::Model as Event;
use certctl_shared::model::{ChannelKind, EventType};
use certctl_shared::repo::channels;
use certctl_shared::repo::notifications::{self, ChannelTest};
use chrono::Utc;
use sea_orm::{DatabaseConnection, TransactionTrait};
use serde_json::{Value, json};

use certctl_shared::model::ChannelId;

use super::{Actor, Fault, check_identifier, faults, name_taken};
use crate::Core;

/// Why a channel was not written or tested.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("{0}")]
    Invalid(String),
    /// The settings do not make a working channel of its kind.
    #[error("{0}")]
    InvalidConfig(String),
    #[error("notification channel not found")]
    NotFound,
    #[error("the channel is disabled; enable it before testing")]
    Disabled,
    #[error("a channel with this name already exists")]
    NameTaken,
    #[error(transparent)]
    Fault(#[from] Fault),
}

faults!(ChannelError);

/// A new channel.
pub struct NewChannel {
    pub name: String,
    pub kind: ChannelKind,
    /// Full settings, secrets included; split and sealed here.
    pub config: Value,
    pub event_types: Vec<EventType>,
    pub enabled: bool,
}

/// Changes to a channel; `None` keeps a field as it is.
pub struct ChannelChanges {
    pub name: Option<String>,
    /// Merged into the current settings key by key: an omitted secret keeps its value, `null`
    /// removes a key.
    pub config: Option<Value>,
    pub event_types: Option<Vec<EventType>>,
    pub enabled: Option<bool>,
}

/// Validates full settings and returns (clear part, sealed secret part).
fn seal(
    keys: &KeyEncryptionKeys,
    id: ChannelId,
    kind: ChannelKind,
    full: &Value,
) -> Result<(Value, Option<Vec<u8>>), ChannelError> {
    ChannelConfig::parse(kind, full).map_err(ChannelError::InvalidConfig)?;
    let (clear, secret) = split(kind, full);
    let sealed = match secret.as_object() {
        Some(o) if !o.is_empty() => Some(keys.seal(&secret_context(id), secret.to_string().as_bytes())?),
        _ => None,
    };
    Ok((clear, sealed))
}

fn event_names(types: &[EventType]) -> Result<Vec<String>, ChannelError> {
    if types.is_empty() {
        return Err(ChannelError::Invalid(
            "event_types must name at least one event type".into(),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for t in types {
        if !out.iter().any(|o| o == t.as_str()) {
            out.push(t.as_str().to_owned());
        }
    }
    Ok(out)
}

pub async fn create(state: &Core, actor: &Actor, new: NewChannel) -> Result<Channel, ChannelError> {
    check_identifier("name", &new.name).map_err(ChannelError::Invalid)?;
    let id = ChannelId::new();
    let (config, secret_ciphertext) = seal(&state.keys, id, new.kind, &new.config)?;
    let now = Utc::now();
    let row = Channel {
        id,
        name: new.name,
        kind: new.kind.as_str().to_owned(),
        config,
        secret_ciphertext,
        event_types: event_names(&new.event_types)?,
        enabled: new.enabled,
        created_by: actor.principal.clone(),
        created_at: now,
        updated_at: now,
        deleted_at: None,
    };
    let txn = state.db.begin().await?;
    let row = match channels::insert(&txn, row).await {
        Err(e) if name_taken(&e) => return Err(ChannelError::NameTaken),
        other => other?,
    };
    actor
        .audit(
            &txn,
            "channel.create",
            "notification_channel",
            row.id,
            json!({ "name": row.name, "kind": row.kind, "event_types": row.event_types, "enabled": row.enabled }),
        )
        .await?;
    txn.commit().await?;
    Ok(row)
}

pub async fn update(
    state: &Core,
    actor: &Actor,
    id: ChannelId,
    changes: ChannelChanges,
) -> Result<Channel, ChannelError> {
    let txn = state.db.begin().await?;
    let mut row = channels::find_live(&txn, id).await?.ok_or(ChannelError::NotFound)?;
    let kind = ChannelKind::parse(&row.kind).with_context(|| format!("channel {id} has unknown kind {}", row.kind))?;
    if let Some(name) = changes.name {
        check_identifier("name", &name).map_err(ChannelError::Invalid)?;
        row.name = name;
    }
    if let Some(types) = changes.event_types {
        row.event_types = event_names(&types)?;
    }
    if let Some(enabled) = changes.enabled {
        row.enabled = enabled;
    }
    if let Some(changes) = changes.config {
        let Some(changes) = changes.as_object() else {
            return Err(ChannelError::InvalidConfig("config must be an object".into()));
        };
        let mut full = merge(&row.config, &opened(&row, &state.keys)?);
        if let Some(obj) = full.as_object_mut() {
            for (k, v) in changes {
                if v.is_null() {
                    obj.remove(k);
                } else {
                    obj.insert(k.clone(), v.clone());
                }
            }
        }
        let (clear, sealed) = seal(&state.keys, id, kind, &full)?;
        row.config = clear;
        row.secret_ciphertext = sealed;
    }
    row.updated_at = Utc::now();
    let row = match channels::update(&txn, row).await {
        Err(e) if name_taken(&e) => return Err(ChannelError::NameTaken),
        other => other?,
    };
    actor
        .audit(
            &txn,
            "channel.update",
            "notification_channel",
            id,
            json!({ "name": row.name, "event_types": row.event_types, "enabled": row.enabled, "config": row.config }),
        )
        .await?;
    txn.commit().await?;
    Ok(row)
}

/// Soft delete: the channel stops receiving new notifications; rows already queued for it go
/// `dead` naming it, so nothing disappears silently.
pub async fn delete(state: &Core, actor: &Actor, id: ChannelId) -> Result<Channel, ChannelError> {
    let txn = state.db.begin().await?;
    let mut row = channels::find_live(&txn, id).await?.ok_or(ChannelError::NotFound)?;
    row.deleted_at = Some(Utc::now());
    row.updated_at = Utc::now();
    let row = channels::update(&txn, row).await?;
    actor
        .audit(
            &txn,
            "channel.delete",
            "notification_channel",
            id,
            json!({ "name": row.name }),
        )
        .await?;
    txn.commit().await?;
    Ok(row)
}

/// Sends a `channel_test` notification through the whole pipeline (outbox, broker, worker).
/// Returns the queued notification and the channel's kind.
pub async fn test(state: &Core, actor: &Actor, id: ChannelId) -> Result<(Event, String), ChannelError> {
    let audit = actor.event("channel.test", "notification_channel", id, json!({}));
    let (event, kind) = match notifications::enqueue_channel_test(&state.db, id, &audit).await? {
        ChannelTest::NotFound => return Err(ChannelError::NotFound),
        ChannelTest::Disabled => return Err(ChannelError::Disabled),
        ChannelTest::Queued { event, channel_kind } => (*event, channel_kind),
    };
    state.dispatch(vec![event.id]);
    Ok((event, kind))
}

/// Brings every channel row, deleted ones included, to the current split between sealed and
/// clear settings: rows written before a field became secret (webhook URLs, whose path and query
/// often carry tokens, were stored in the clear) and rows that lack the redacted form of a
/// sealed URL. Runs at start-up on every replica; each row is re-read under a lock, so replicas
/// starting together do the work once. A row that cannot be resealed (its secrets do not open
/// under the configured keys, say) is logged and left for the next start; the others go on.
/// Returns how many rows were resealed.
pub async fn reseal_legacy_rows(db: &DatabaseConnection, keys: &KeyEncryptionKeys) -> anyhow::Result<usize> {
    let mut resealed = 0;
    for row in channels::list_all(db).await? {
        let Some(kind) = ChannelKind::parse(&row.kind) else {
            continue;
        };
        match needs_reseal(&row, kind, keys) {
            Ok(false) => continue,
            Ok(true) => {}
            Err(e) => {
                tracing::error!(channel.id = %row.id, error = format!("{e:#}"), "cannot check a channel's sealed settings");
                continue;
            }
        }
        match reseal(db, keys, row.id, kind).await {
            Ok(true) => resealed += 1,
            Ok(false) => {}
            Err(e) => {
                tracing::error!(channel.id = %row.id, error = format!("{e:#}"), "failed to reseal a channel's settings")
            }
        }
    }
    Ok(resealed)
}

fn opened(row: &Channel, keys: &KeyEncryptionKeys) -> anyhow::Result<Value> {
    match &row.secret_ciphertext {
        None => Ok(json!({})),
        Some(sealed) => {
            let plain = keys
                .open(&secret_context(row.id), sealed)
                .context("the channel's secrets do not open under the configured keys")?;
            serde_json::from_slice(&plain).context("the channel's secrets are not JSON")
        }
    }
}

fn needs_reseal(row: &Channel, kind: ChannelKind, keys: &KeyEncryptionKeys) -> anyhow::Result<bool> {
    Ok(resplit(kind, &row.config, &opened(row, keys)?).is_some())
}

/// Reseals one row under a lock; false if another replica did it first.
async fn reseal(
    db: &DatabaseConnection,
    keys: &KeyEncryptionKeys,
    id: ChannelId,
    kind: ChannelKind,
) -> anyhow::Result<bool> {
    let txn = db.begin().await?;
    let Some(mut row) = channels::find_for_update(&txn, id).await? else {
        return Ok(false);
    };
    let Some((clear, secret)) = resplit(kind, &row.config, &opened(&row, keys)?) else {
        return Ok(false);
    };
    row.secret_ciphertext = Some(keys.seal(&secret_context(row.id), secret.to_string().as_bytes())?);
    row.config = clear;
    row.updated_at = chrono::Utc::now();
    let row = channels::update(&txn, row).await?;
    Actor::system("startup")
        .audit(
            &txn,
            "channel.seal_secrets",
            "notification_channel",
            row.id,
            json!({ "name": row.name, "config": row.config }),
        )
        .await?;
    txn.commit().await?;
    Ok(true)
}

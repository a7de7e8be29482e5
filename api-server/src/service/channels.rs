//! Notification channel settings at rest: what is sealed and what is stored in the clear.

use anyhow::Context;
use certctl_shared::channel_config::{resplit, secret_context};
use certctl_shared::crypto::KeyEncryptionKeys;
use certctl_shared::entities::notification_channel::Model as Channel;
use certctl_shared::model::ChannelKind;
use certctl_shared::repo::channels;
use sea_orm::{DatabaseConnection, TransactionTrait};
use serde_json::{Value, json};
use uuid::Uuid;

use super::Actor;

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
    id: Uuid,
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

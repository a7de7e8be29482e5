//! `certctl audit` and `certctl keys`: what was done, and who may do it.

use std::path::PathBuf;
use std::time::Duration;

use certctl_types::api::access::{ApiKeyIn, AuditQuery};
use certctl_types::ids::ApiKeyId;
use certctl_types::vocab::Role;
use clap::Subcommand;
use serde_json::Value;

use crate::client::Client;
use crate::config::{self};
use crate::output::{self, Format, Table, fields, opt, when};

use super::{Failure, Page, more, pages, parse_duration, parse_word, usage};

#[derive(Debug, Subcommand)]
pub enum Audit {
    /// Lists audit events, newest first.
    List {
        #[arg(long)]
        actor: Option<String>,
        #[arg(long)]
        action: Option<String>,
        #[arg(long)]
        resource_type: Option<String>,
        #[arg(long)]
        resource_id: Option<String>,
        #[arg(long)]
        key_id: Option<ApiKeyId>,
        /// Only events written at or after this RFC 3339 time.
        #[arg(long)]
        since: Option<chrono::DateTime<chrono::Utc>>,
        /// Only events written before this RFC 3339 time.
        #[arg(long)]
        until: Option<chrono::DateTime<chrono::Utc>>,
        /// Keep printing new events as they are written (Ctrl-C stops).
        #[arg(long, conflicts_with = "all")]
        follow: bool,
        #[command(flatten)]
        page: Page,
    },
}

#[derive(Debug, Subcommand)]
pub enum Keys {
    List,
    /// Creates a key and prints its secret, which is shown this once.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = parse_word::<Role>)]
        role: Role,
        #[arg(long)]
        principal: Option<String>,
        /// The key stops working after this long, e.g. 90d (by default it does not expire).
        #[arg(long, value_parser = parse_duration)]
        expires_in: Option<Duration>,
        /// Write the secret to this file (mode 0600) instead of printing it.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    Disable {
        id: ApiKeyId,
    },
}

pub(super) async fn audit(client: &Client, format: Format, cmd: Audit) -> Result<(), Failure> {
    let Audit::List {
        actor,
        action,
        resource_type,
        resource_id,
        key_id,
        since,
        until,
        follow,
        page,
    } = cmd;
    let query = AuditQuery {
        actor,
        action,
        resource_type,
        resource_id,
        key_id,
        since,
        until,
        ..AuditQuery::default()
    };
    let row = |e: &certctl_types::api::access::AuditEventOut| {
        vec![
            when(&e.created_at),
            e.actor.clone(),
            e.action.clone(),
            format!("{}/{}", e.resource_type, opt(&e.resource_id)),
            e.outcome.clone(),
        ]
    };
    let headers = ["TIME", "ACTOR", "ACTION", "RESOURCE", "OUTCOME"];
    let (items, raw, next) = pages(&page, |cursor, limit| {
        let q = AuditQuery {
            cursor,
            limit,
            ..query.clone()
        };
        async move { client.list_audit(&q).await }
    })
    .await?;
    if !follow {
        output::print(format, &raw, || {
            let mut t = Table::new(&headers);
            for e in &items {
                t.row(row(e));
            }
            t.render()
        });
        more(format, next);
        return Ok(());
    }
    // Following: the page asked for, oldest first; then every event written since the newest
    // one printed, oldest first, one line (or JSON object) each. Each poll walks back page by
    // page until it reaches what was already printed, so a burst larger than a page is not lost.
    let mut since = items.first().map_or_else(chrono::Utc::now, |e| e.created_at);
    let mut seen: std::collections::HashSet<uuid::Uuid> =
        items.iter().filter(|e| e.created_at >= since).map(|e| e.id).collect();
    let emit = |e: &certctl_types::api::access::AuditEventOut, raw: &Value| match format {
        Format::Table => output::emit(&format!("{}\n", row(e).join("  "))),
        Format::Json => output::emit(&format!("{raw}\n")),
        Format::Yaml => output::emit(&format!("---\n{}", output::yaml(raw))),
    };
    let raws = raw["data"].as_array().cloned().unwrap_or_default();
    for (e, r) in items.iter().zip(raws.iter()).rev() {
        emit(e, r);
    }
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut fresh = Vec::new();
        let mut cursor = None;
        loop {
            let q = AuditQuery {
                cursor: cursor.take(),
                limit: Some(certctl_types::api::MAX_PAGE),
                ..query.clone()
            };
            let page = client.list_audit(&q).await?;
            let raws = page.raw["data"].as_array().cloned().unwrap_or_default();
            let mut reached = false;
            for (e, r) in page.value.data.into_iter().zip(raws) {
                if e.created_at < since {
                    reached = true;
                    break;
                }
                if !seen.contains(&e.id) {
                    fresh.push((e, r));
                }
            }
            match page.value.next_cursor {
                Some(next) if !reached => cursor = Some(next),
                _ => break,
            }
        }
        for (e, r) in fresh.iter().rev() {
            emit(e, r);
        }
        // Only events at the newest time printed can come back in the next poll.
        if let Some(newest) = fresh.iter().map(|(e, _)| e.created_at).max()
            && newest > since
        {
            since = newest;
            seen.clear();
        }
        seen.extend(fresh.iter().filter(|(e, _)| e.created_at == since).map(|(e, _)| e.id));
    }
}

pub(super) async fn keys(client: &Client, format: Format, cmd: Keys) -> Result<(), Failure> {
    match cmd {
        Keys::List => {
            let all = client.list_keys().await?;
            output::print(format, &all.raw, || {
                let mut t = Table::new(&["ID", "NAME", "PRINCIPAL", "ROLE", "LAST USED", "DISABLED"]);
                for k in &all.value.data {
                    t.row(vec![
                        k.id.to_string(),
                        k.name.clone(),
                        k.principal.clone(),
                        k.role.to_string(),
                        k.last_used_at.as_ref().map_or("-".into(), when),
                        k.disabled_at.as_ref().map_or("-".into(), when),
                    ]);
                }
                t.render()
            });
        }
        Keys::Create {
            name,
            role,
            principal,
            expires_in,
            out,
        } => {
            let expires_at = match expires_in {
                None => None,
                Some(d) => Some(
                    i64::try_from(d.as_secs())
                        .ok()
                        .and_then(chrono::TimeDelta::try_seconds)
                        .and_then(|d| chrono::Utc::now().checked_add_signed(d))
                        .ok_or_else(|| usage("--expires-in is too long"))?,
                ),
            };
            let k = client
                .create_key(&ApiKeyIn {
                    name,
                    role,
                    principal,
                    expires_at,
                })
                .await?;
            let mut raw = k.raw.clone();
            if let Some(path) = &out {
                config::write_private(path, format!("{}\n", k.value.key).as_bytes())?;
                eprintln!("wrote the key's secret to {}", path.display());
                if let Some(o) = raw.as_object_mut() {
                    o.remove("key");
                }
            }
            output::print(format, &raw, || {
                let mut pairs = vec![
                    ("ID", k.value.api_key.id.to_string()),
                    ("Name", k.value.api_key.name.clone()),
                    ("Principal", k.value.api_key.principal.clone()),
                    ("Role", k.value.api_key.role.to_string()),
                ];
                if out.is_none() {
                    pairs.push(("Secret (shown once)", k.value.key.clone()));
                }
                fields(&pairs)
            });
        }
        Keys::Disable { id } => {
            let k = client.disable_key(id).await?;
            output::print(format, &k.raw, || {
                format!("disabled {} ({})\n", k.value.name, k.value.id)
            });
        }
    }
    Ok(())
}

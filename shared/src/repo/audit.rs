//! `audit_events` queries. There is deliberately no update or delete here: the table is
//! append-only and the database enforces it.

use sea_orm::prelude::*;
use sea_orm::{ActiveValue::NotSet, ActiveValue::Set, ConnectionTrait, QueryOrder, QuerySelect};

use super::Page;
use crate::entities::audit_event::{self, Entity as AuditEvents, Model as AuditEvent};
use crate::model::ApiKeyId;

/// A row to append.
#[derive(Debug, Clone)]
pub struct NewAuditEvent {
    pub actor: String,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub outcome: &'static str,
    pub details: serde_json::Value,
    pub request_id: Option<String>,
    /// The API key that acted, if a key did.
    pub key_id: Option<ApiKeyId>,
    /// How the actor came in: `api`, `system`, …
    pub protocol: &'static str,
}

/// The head of every statement that appends audit rows: follow it with a `SELECT` (or `VALUES`)
/// of the same columns, in this order. Statements that write a row together with its audit row
/// (a certificate, a channel test) use it, so the column list is written once.
pub const INSERT_INTO: &str = "INSERT INTO audit_events \
    (id, actor, action, resource_type, resource_id, outcome, details, request_id, key_id, protocol, created_at)";

/// Appends one row.
pub async fn append(conn: &impl ConnectionTrait, ev: NewAuditEvent) -> Result<AuditEvent, DbErr> {
    audit_event::ActiveModel {
        seq: NotSet,
        id: Set(Uuid::now_v7()),
        actor: Set(ev.actor),
        action: Set(ev.action),
        resource_type: Set(ev.resource_type),
        resource_id: Set(ev.resource_id),
        outcome: Set(ev.outcome.to_owned()),
        details: Set(ev.details),
        request_id: Set(ev.request_id),
        key_id: Set(ev.key_id),
        protocol: Set(Some(ev.protocol.to_owned())),
        created_at: Set(chrono::Utc::now()),
    }
    .insert(conn)
    .await
}

/// Appends one row per resource id, each like `template` but for that resource (bulk changes:
/// each resource's history stays complete on its own). One statement.
pub async fn append_each<T: Copy + Into<Uuid>>(
    conn: &impl ConnectionTrait,
    template: &NewAuditEvent,
    resource_ids: &[T],
) -> Result<(), DbErr> {
    let resource_ids: Vec<Uuid> = resource_ids.iter().map(|&id| id.into()).collect();
    if resource_ids.is_empty() {
        return Ok(());
    }
    conn.execute_raw(sea_orm::Statement::from_sql_and_values(
        sea_orm::DbBackend::Postgres,
        format!(
            "{INSERT_INTO} SELECT gen_random_uuid(), $1, $2, $3, r::text, $4, $5, $6, $7, $8, now() \
             FROM unnest($9::uuid[]) AS r"
        ),
        [
            template.actor.clone().into(),
            template.action.clone().into(),
            template.resource_type.clone().into(),
            template.outcome.into(),
            template.details.clone().into(),
            template.request_id.clone().into(),
            template.key_id.into(),
            template.protocol.into(),
            resource_ids.into(),
        ],
    ))
    .await?;
    Ok(())
}

#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub key_id: Option<ApiKeyId>,
    /// Written at or after this time.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Written before this time.
    pub until: Option<chrono::DateTime<chrono::Utc>>,
}

/// Newest first; the cursor is the `seq` of the last row of the previous page.
pub async fn list(
    conn: &impl ConnectionTrait,
    f: &AuditFilter,
    before_seq: Option<i64>,
    limit: u64,
) -> Result<Page<AuditEvent>, DbErr> {
    let mut q = AuditEvents::find();
    if let Some(v) = &f.actor {
        q = q.filter(audit_event::Column::Actor.eq(v.clone()));
    }
    if let Some(v) = &f.action {
        q = q.filter(audit_event::Column::Action.eq(v.clone()));
    }
    if let Some(v) = &f.resource_type {
        q = q.filter(audit_event::Column::ResourceType.eq(v.clone()));
    }
    if let Some(v) = &f.resource_id {
        q = q.filter(audit_event::Column::ResourceId.eq(v.clone()));
    }
    if let Some(v) = f.key_id {
        q = q.filter(audit_event::Column::KeyId.eq(v));
    }
    if let Some(v) = f.since {
        q = q.filter(audit_event::Column::CreatedAt.gte(v));
    }
    if let Some(v) = f.until {
        q = q.filter(audit_event::Column::CreatedAt.lt(v));
    }
    let unpaged = q.clone();
    if let Some(seq) = before_seq {
        q = q.filter(audit_event::Column::Seq.lt(seq));
    }
    let mut items = q
        .order_by_desc(audit_event::Column::Seq)
        .limit(limit + 1)
        .all(conn)
        .await?;
    let next_cursor = if items.len() as u64 > limit {
        items.truncate(limit as usize);
        items.last().map(|e| e.seq.to_string())
    } else {
        None
    };
    let total = super::page_total(conn, &unpaged, before_seq.is_none(), items.len(), next_cursor.is_some()).await?;
    Ok(Page {
        items,
        next_cursor,
        total,
    })
}

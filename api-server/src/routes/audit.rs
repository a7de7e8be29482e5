//! `/api/v1/audit`

use axum::Json;
use axum::extract::State;
use certctl_shared::entities::audit_event::Model as AuditEvent;
use certctl_shared::model::ApiKeyId;
use certctl_shared::repo::audit::{self, AuditFilter};
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::ListOut;
use crate::error::ApiError;
use crate::query::Params;
use crate::state::AppState;

#[derive(Serialize)]
pub struct AuditEventOut {
    id: Uuid,
    actor: String,
    action: String,
    resource_type: String,
    resource_id: Option<String>,
    outcome: String,
    details: serde_json::Value,
    request_id: Option<String>,
    /// The API key that acted; `null` for system actors.
    key_id: Option<ApiKeyId>,
    /// How the actor came in (`api`, `system`); `null` on rows older than this field.
    protocol: Option<String>,
    created_at: DateTime<Utc>,
}

impl From<AuditEvent> for AuditEventOut {
    fn from(e: AuditEvent) -> Self {
        Self {
            id: e.id,
            actor: e.actor,
            action: e.action,
            resource_type: e.resource_type,
            resource_id: e.resource_id,
            outcome: e.outcome,
            details: e.details,
            request_id: e.request_id,
            key_id: e.key_id,
            protocol: e.protocol,
            created_at: e.created_at,
        }
    }
}

pub async fn list_audit_events(
    State(state): State<AppState>,
    mut q: Params,
) -> Result<Json<ListOut<AuditEventOut>>, ApiError> {
    let filter = AuditFilter {
        actor: q.text("actor")?,
        action: q.text("action")?,
        resource_type: q.text("resource_type")?,
        resource_id: q.text("resource_id")?,
        key_id: q.uuid("key_id")?,
    };
    let before = q.seq_cursor()?;
    let limit = q.limit()?;
    q.finish(&[
        "actor",
        "action",
        "resource_type",
        "resource_id",
        "key_id",
        "cursor",
        "limit",
    ])?;
    let page = audit::list(&state.db, &filter, before, limit).await?;
    Ok(Json(ListOut {
        data: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
        total: page.total,
    }))
}

//! `/api/v1/audit`

use axum::Json;
use axum::extract::State;
use certctl_shared::entities::audit_event::Model as AuditEvent;
use certctl_shared::repo::audit::{self, AuditFilter};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{ListOut, page_limit};
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    resource_type: Option<String>,
    resource_id: Option<String>,
    cursor: Option<String>,
    limit: Option<u64>,
}

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
            created_at: e.created_at,
        }
    }
}

pub async fn list_audit_events(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<ListOut<AuditEventOut>>, ApiError> {
    let before = q
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| ApiError::bad_request("invalid_cursor", "cursor is not one this API issued"))
        })
        .transpose()?;
    let filter = AuditFilter {
        actor: q.actor,
        action: q.action,
        resource_type: q.resource_type,
        resource_id: q.resource_id,
    };
    let page = audit::list(&state.db, &filter, before, page_limit(q.limit)?).await?;
    Ok(Json(ListOut {
        data: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
        total: page.total,
    }))
}

//! `/api/v1/audit`

use axum::Json;
use axum::extract::State;
use certctl_shared::entities::audit_event::Model as AuditEvent;
use certctl_shared::repo::audit::{self, AuditFilter};
use certctl_types::api::ListOut;
use certctl_types::api::access::{AuditEventOut, AuditQuery};

use crate::error::ApiError;
use crate::query::Params;
use crate::state::AppState;

fn audit_event_out(e: AuditEvent) -> AuditEventOut {
    AuditEventOut {
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

/// Reads the append-only audit log, newest first. Repeated denials of one key on one route are
/// counted in one row per window (`details.count`).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery), responses(
    (status = 200, description = "One page", body = ListOut<AuditEventOut>),
))]
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
        since: q.time("since")?,
        until: q.time("until")?,
    };
    let before = q.seq_cursor()?;
    let limit = q.limit()?;
    q.finish(AuditQuery::NAMES)?;
    let page = audit::list(&state.db, &filter, before, limit).await?;
    Ok(Json(ListOut {
        data: page.items.into_iter().map(audit_event_out).collect(),
        next_cursor: page.next_cursor,
        total: page.total.count,
        total_estimated: page.total.estimated,
    }))
}

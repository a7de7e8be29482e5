//! `/api/v1/stats/summary`

use axum::Json;
use axum::extract::State;
use certctl_shared::model::NotificationStatus;
use certctl_shared::repo::{certificates, jobs, notifications};
use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::state::AppState;

/// Active certificates expiring within this window count as "expiring soon".
const EXPIRING_SOON_DAYS: i64 = 30;

pub async fn summary(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let now = Utc::now();
    let (by_status, expiring, expired) =
        certificates::counts(&state.db, now, now + Duration::days(EXPIRING_SOON_DAYS)).await?;
    let mut counts = json!({ "active": 0, "revoked": 0, "superseded": 0 });
    let mut total = 0;
    for (status, n) in by_status {
        counts[status] = json!(n);
        total += n;
    }
    counts["total"] = json!(total);
    counts["expired"] = json!(expired);
    let awaiting = jobs::count_awaiting(&state.db).await?;
    // The dashboard never fails for this field: a failure is logged and shown as 0.
    let dead = match notifications::count_by_status(&state.db, NotificationStatus::Dead).await {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "failed to count dead notifications for the summary");
            0
        }
    };
    Ok(Json(json!({
        "certificates": counts,
        "expiring_soon": expiring,
        "expiring_soon_days": EXPIRING_SOON_DAYS,
        "jobs_awaiting_approval": awaiting,
        "notifications_dead": dead,
    })))
}

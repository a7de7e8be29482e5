//! `/api/v1/stats/summary`

use axum::Json;
use axum::extract::State;
use certctl_shared::model::{CertificateStatus, NotificationStatus};
use certctl_shared::repo::{certificates, jobs, notifications};
use certctl_types::api::{CertificateCounts, SummaryOut};
use chrono::{Duration, Utc};

use crate::error::ApiError;
use crate::state::AppState;

/// Active certificates expiring within this window count as "expiring soon".
const EXPIRING_SOON_DAYS: u32 = 30;

/// What needs attention: certificates by state, expiring soon, approvals waiting, dead
/// notifications.
#[utoipa::path(get, path = "/api/v1/stats/summary", tag = "stats", responses(
    (status = 200, description = "The summary", body = SummaryOut),
))]
pub async fn summary(State(state): State<AppState>) -> Result<Json<SummaryOut>, ApiError> {
    let now = Utc::now();
    let (by_status, expiring, expired) =
        certificates::counts(&state.db, now, now + Duration::days(i64::from(EXPIRING_SOON_DAYS))).await?;
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    let mut counts = CertificateCounts {
        expired: count(expired),
        ..CertificateCounts::default()
    };
    for (status, n) in by_status {
        let n = count(n);
        match CertificateStatus::parse(&status) {
            Some(CertificateStatus::Active) => counts.active = n,
            Some(CertificateStatus::Revoked) => counts.revoked = n,
            Some(CertificateStatus::Superseded) => counts.superseded = n,
            None => tracing::warn!(status, "a certificate status the summary does not know"),
        }
        counts.total += n;
    }
    let awaiting = jobs::count_awaiting(&state.db).await?;
    // The dashboard never fails for this field: a failure is logged and shown as 0.
    let dead = match notifications::count_by_status(&state.db, NotificationStatus::Dead).await {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "failed to count dead notifications for the summary");
            0
        }
    };
    Ok(Json(SummaryOut {
        certificates: counts,
        expiring_soon: count(expiring),
        expiring_soon_days: EXPIRING_SOON_DAYS,
        jobs_awaiting_approval: awaiting,
        notifications_dead: dead,
    }))
}

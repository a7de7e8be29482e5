//! `/api/v1/stats/summary`

use axum::Json;
use axum::extract::State;
use certctl_shared::model::{CertificateStatus, NotificationStatus};
use certctl_shared::repo::{certificates, crls, jobs, notifications, ocsp_signers};
use certctl_types::api::{CertificateCounts, IssuerRevocationOut, SummaryOut};
use chrono::{Duration, Utc};

use crate::error::ApiError;
use crate::state::AppState;

/// Active certificates expiring within this window count as "expiring soon".
const EXPIRING_SOON_DAYS: u32 = 30;

/// What needs attention: certificates by state, expiring soon, approvals waiting, dead
/// notifications, and how fresh each issuer's CRL and OCSP signer are.
#[utoipa::path(get, path = "/api/v1/stats/summary", tag = "stats", responses(
    (status = 200, description = "The summary", body = SummaryOut),
))]
pub async fn summary(State(state): State<AppState>) -> Result<Json<SummaryOut>, ApiError> {
    let now = Utc::now();
    let tally = certificates::counts(&state.db, now, now + Duration::days(i64::from(EXPIRING_SOON_DAYS))).await?;
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    let mut counts = CertificateCounts {
        expired: count(tally.expired),
        ..CertificateCounts::default()
    };
    for (status, n) in tally.by_status {
        let n = count(n);
        match CertificateStatus::parse(&status) {
            Some(CertificateStatus::Active) => counts.active = n,
            Some(CertificateStatus::Expiring) => counts.expiring = n,
            Some(CertificateStatus::RenewalInProgress) => counts.renewal_in_progress = n,
            // Live certificates past `not_after` (counted above) plus those marked expired.
            Some(CertificateStatus::Expired) => counts.expired += n,
            Some(CertificateStatus::Renewed) => counts.renewed = n,
            Some(CertificateStatus::Revoked) => counts.revoked = n,
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
    let signers = ocsp_signers::expiries(&state.db).await?;
    let finite = |x: f64| x.is_finite().then_some(x.round());
    let revocation = crls::freshness(&state.db)
        .await?
        .into_iter()
        .map(|f| IssuerRevocationOut {
            issuer_id: f.issuer_id,
            crl_age_seconds: finite(f.age_seconds),
            crl_next_update_in_seconds: finite(f.next_update_in_seconds),
            ocsp_signer_expires_in_seconds: signers
                .iter()
                .find(|s| s.issuer_id == f.issuer_id)
                .and_then(|s| finite(s.expires_in_seconds)),
        })
        .collect();
    Ok(Json(SummaryOut {
        revocation,
        certificates: counts,
        expiring_soon: count(tally.expiring),
        expiring_soon_days: EXPIRING_SOON_DAYS,
        jobs_awaiting_approval: awaiting,
        notifications_dead: dead,
    }))
}

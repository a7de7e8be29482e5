//! `enrollment_profiles` and `enrollment_requests` queries.

use chrono::{DateTime, Utc};
use sea_orm::prelude::*;
use sea_orm::{ConnectionTrait, IntoActiveModel, QueryOrder};

use crate::entities::enrollment_profile::{self, Entity as EnrollmentProfiles, Model as EnrollmentProfile};
use crate::entities::enrollment_request::{self, Entity as EnrollmentRequests, Model as EnrollmentRequest};
use crate::model::{CertificateId, EnrollmentProfileId, EnrollmentProtocol, JobId};

pub async fn insert(conn: &impl ConnectionTrait, row: EnrollmentProfile) -> Result<EnrollmentProfile, DbErr> {
    row.into_active_model().insert(conn).await
}

pub async fn find_by_id(
    conn: &impl ConnectionTrait,
    id: EnrollmentProfileId,
) -> Result<Option<EnrollmentProfile>, DbErr> {
    EnrollmentProfiles::find_by_id(id).one(conn).await
}

/// Every profile, disabled ones included, by name.
pub async fn list(conn: &impl ConnectionTrait) -> Result<Vec<EnrollmentProfile>, DbErr> {
    EnrollmentProfiles::find()
        .order_by_asc(enrollment_profile::Column::Name)
        .order_by_asc(enrollment_profile::Column::CreatedAt)
        .all(conn)
        .await
}

/// Disables a profile in use; `None` when there is none with this id or it is already disabled.
pub async fn disable(
    conn: &impl ConnectionTrait,
    id: EnrollmentProfileId,
    at: DateTime<Utc>,
) -> Result<Option<EnrollmentProfile>, DbErr> {
    let Some(row) = find_by_id(conn, id).await? else {
        return Ok(None);
    };
    if row.disabled_at.is_some() {
        return Ok(None);
    }
    let mut active = row.into_active_model();
    active.disabled_at = sea_orm::Set(Some(at));
    active.update(conn).await.map(Some)
}

/// The profile in use with this protocol and label.
pub async fn find_active_by_label(
    conn: &impl ConnectionTrait,
    protocol: EnrollmentProtocol,
    label: &str,
) -> Result<Option<EnrollmentProfile>, DbErr> {
    EnrollmentProfiles::find()
        .filter(enrollment_profile::Column::Protocol.eq(protocol))
        .filter(enrollment_profile::Column::Label.eq(label))
        .filter(enrollment_profile::Column::DisabledAt.is_null())
        .one(conn)
        .await
}

/// The profile in use marked default for this protocol (served at the protocol's bare path).
pub async fn find_default(
    conn: &impl ConnectionTrait,
    protocol: EnrollmentProtocol,
) -> Result<Option<EnrollmentProfile>, DbErr> {
    EnrollmentProfiles::find()
        .filter(enrollment_profile::Column::Protocol.eq(protocol))
        .filter(enrollment_profile::Column::IsDefault.eq(true))
        .filter(enrollment_profile::Column::DisabledAt.is_null())
        .one(conn)
        .await
}

/// Stores a SCEP profile's RA certificate and sealed key in place of `replacing` (the RA it had,
/// `None` for its first), unless another replica changed it first: then its RA stays, and `false`
/// is returned (read the row again).
pub async fn set_scep_ra(
    conn: &impl ConnectionTrait,
    id: EnrollmentProfileId,
    replacing: Option<Vec<u8>>,
    certificate_der: Vec<u8>,
    key_ciphertext: Vec<u8>,
) -> Result<bool, DbErr> {
    let current = match replacing {
        Some(old) => enrollment_profile::Column::ScepRaCertificateDer.eq(old),
        None => enrollment_profile::Column::ScepRaCertificateDer.is_null(),
    };
    let result = EnrollmentProfiles::update_many()
        .col_expr(
            enrollment_profile::Column::ScepRaCertificateDer,
            Expr::value(certificate_der),
        )
        .col_expr(
            enrollment_profile::Column::ScepRaKeyCiphertext,
            Expr::value(key_ciphertext),
        )
        .filter(enrollment_profile::Column::Id.eq(id))
        .filter(current)
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Marks a one-time SCEP challenge used; `false` when it already was (the enrollment is refused).
pub async fn use_one_time_challenge(
    conn: &impl ConnectionTrait,
    id: EnrollmentProfileId,
    at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let result = EnrollmentProfiles::update_many()
        .col_expr(enrollment_profile::Column::ScepChallengeUsedAt, Expr::value(at))
        .filter(enrollment_profile::Column::Id.eq(id))
        .filter(enrollment_profile::Column::ScepChallengeUsedAt.is_null())
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

pub async fn insert_request(conn: &impl ConnectionTrait, row: EnrollmentRequest) -> Result<EnrollmentRequest, DbErr> {
    row.into_active_model().insert(conn).await
}

/// The latest open request of `requester` for this key through this profile.
pub async fn find_open_request(
    conn: &impl ConnectionTrait,
    profile: EnrollmentProfileId,
    requester: &str,
    spki_sha256: &[u8],
) -> Result<Option<EnrollmentRequest>, DbErr> {
    EnrollmentRequests::find()
        .filter(enrollment_request::Column::EnrollmentProfileId.eq(profile))
        .filter(enrollment_request::Column::SpkiSha256.eq(spki_sha256.to_vec()))
        .filter(enrollment_request::Column::Requester.eq(requester))
        .filter(enrollment_request::Column::ClosedAt.is_null())
        .order_by_desc(enrollment_request::Column::CreatedAt)
        .one(conn)
        .await
}

/// The latest request with this SCEP transaction id through this profile, open or not.
pub async fn find_request_by_transaction(
    conn: &impl ConnectionTrait,
    profile: EnrollmentProfileId,
    transaction_id: &str,
) -> Result<Option<EnrollmentRequest>, DbErr> {
    EnrollmentRequests::find()
        .filter(enrollment_request::Column::EnrollmentProfileId.eq(profile))
        .filter(enrollment_request::Column::TransactionId.eq(transaction_id))
        .order_by_desc(enrollment_request::Column::CreatedAt)
        .one(conn)
        .await
}

/// Records what became of a request: the job it waits on, or the certificate it got.
pub async fn set_request_outcome(
    conn: &impl ConnectionTrait,
    id: Uuid,
    job_id: Option<JobId>,
    certificate_id: Option<CertificateId>,
    closed_at: Option<DateTime<Utc>>,
) -> Result<(), DbErr> {
    EnrollmentRequests::update_many()
        .col_expr(enrollment_request::Column::JobId, Expr::value(job_id))
        .col_expr(enrollment_request::Column::CertificateId, Expr::value(certificate_id))
        .col_expr(enrollment_request::Column::ClosedAt, Expr::value(closed_at))
        .filter(enrollment_request::Column::Id.eq(id))
        .exec(conn)
        .await
        .map(|_| ())
}

//! `enrollment_profiles` queries.

use chrono::{DateTime, Utc};
use sea_orm::prelude::*;
use sea_orm::{ConnectionTrait, IntoActiveModel, QueryOrder};

use crate::entities::enrollment_profile::{self, Entity as EnrollmentProfiles, Model as EnrollmentProfile};
use crate::model::EnrollmentProfileId;

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

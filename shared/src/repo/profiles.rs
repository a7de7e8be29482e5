//! `certificate_profiles` queries.

use sea_orm::prelude::*;
use sea_orm::{ActiveValue::Set, ConnectionTrait, IntoActiveModel, QueryOrder, QuerySelect};

use crate::entities::certificate_profile::{self, Entity as Profiles, Model as Profile};
use crate::model::ProfileId;

pub async fn insert(conn: &impl ConnectionTrait, row: Profile) -> Result<Profile, DbErr> {
    row.into_active_model().insert(conn).await
}

pub async fn find_by_id(conn: &impl ConnectionTrait, id: ProfileId) -> Result<Option<Profile>, DbErr> {
    Profiles::find_by_id(id).one(conn).await
}

pub async fn list(conn: &impl ConnectionTrait) -> Result<Vec<Profile>, DbErr> {
    Profiles::find()
        .order_by_asc(certificate_profile::Column::Name)
        .all(conn)
        .await
}

/// Locks the row for the rest of the transaction, so concurrent updates number their revisions in turn.
pub async fn find_for_update(conn: &impl ConnectionTrait, id: ProfileId) -> Result<Option<Profile>, DbErr> {
    Profiles::find_by_id(id).lock_exclusive().one(conn).await
}

/// Replaces every writable field of the profile (PUT semantics); the caller sets `revision`.
pub async fn replace(conn: &impl ConnectionTrait, row: Profile) -> Result<Profile, DbErr> {
    certificate_profile::ActiveModel {
        id: Set(row.id),
        name: Set(row.name),
        description: Set(row.description),
        allowed_key_algorithms: Set(row.allowed_key_algorithms),
        max_ttl_seconds: Set(row.max_ttl_seconds),
        ekus: Set(row.ekus),
        san_rules: Set(row.san_rules),
        requires_approval: Set(row.requires_approval),
        allow_short_lived: Set(row.allow_short_lived),
        created_at: sea_orm::ActiveValue::NotSet,
        updated_at: Set(chrono::Utc::now()),
        revision: Set(row.revision),
        renewal_policy_id: Set(row.renewal_policy_id),
    }
    .update(conn)
    .await
}

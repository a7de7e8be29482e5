//! `notification_attempts`: every delivery attempt, kept.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification_attempts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub notification_id: crate::model::NotificationId,
    pub attempt: i32,
    pub started_at: DateTimeUtc,
    /// `None` while the attempt is in progress.
    pub duration_ms: Option<i32>,
    pub outcome: String,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub worker: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

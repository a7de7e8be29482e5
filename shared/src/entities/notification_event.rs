//! `notification_events`: the outbox. One row per notification per channel.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: crate::model::NotificationId,
    #[sea_orm(column_name = "type")]
    pub event_type: String,
    pub status: crate::model::NotificationStatus,
    pub channel_id: crate::model::ChannelId,
    pub certificate_id: Option<crate::model::CertificateId>,
    pub payload: Json,
    pub retry_count: i32,
    pub next_retry_at: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    pub locked_until: Option<DateTimeUtc>,
    pub lease_token: Option<Uuid>,
    pub locked_by: Option<String>,
    pub dedup_key: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
    /// When the relay or the retry sweep last published the row; cleared by each claim.
    pub dispatched_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

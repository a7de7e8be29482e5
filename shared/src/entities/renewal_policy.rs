//! `renewal_policies`: when certificates are renewed, how, and who hears about it.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "renewal_policies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: crate::model::RenewalPolicyId,
    pub name: String,
    /// The window opens this long before `not_after` (exactly one of this and the fraction).
    pub renew_before_seconds: Option<i64>,
    /// The window opens once this fraction of the lifetime has passed.
    pub renew_at_fraction: Option<f64>,
    pub auto_renew: bool,
    pub rotate_key: bool,
    pub max_attempts: i32,
    pub retry_interval_seconds: i64,
    /// Expiry warning thresholds in days; `None`: the worker's configured ones.
    pub warning_days: Option<Vec<i32>>,
    /// The channels told about these certificates; `None`: every subscribed channel.
    pub channel_ids: Option<Vec<Uuid>>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

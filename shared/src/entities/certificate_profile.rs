//! `certificate_profiles`: what may be issued, and how.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "certificate_profiles")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: crate::model::ProfileId,
    pub name: String,
    pub description: String,
    pub allowed_key_algorithms: Vec<String>,
    pub max_ttl_seconds: i64,
    pub ekus: Vec<String>,
    pub san_rules: Json,
    pub requires_approval: bool,
    pub allow_short_lived: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Bumped on every change; certificate inserts check it (see `repo::certificates`).
    pub revision: i64,
    /// The renewal policy of its certificates; `None`: the built-in one.
    pub renewal_policy_id: Option<crate::model::RenewalPolicyId>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

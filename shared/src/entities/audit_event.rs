//! `audit_events`: the append-only audit log (a trigger rejects UPDATE, DELETE and TRUNCATE).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    /// Insertion order; also the pagination cursor.
    #[sea_orm(primary_key)]
    pub seq: i64,
    pub id: Uuid,
    pub actor: String,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub outcome: String,
    pub details: Json,
    pub request_id: Option<String>,
    /// The API key that acted; `None` for system actors and rows written before keys were recorded.
    pub key_id: Option<crate::model::ApiKeyId>,
    /// How the actor came in (`api`, `system`, …); `None` on rows older than the column.
    pub protocol: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

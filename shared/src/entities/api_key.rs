//! `api_keys`: named credentials. Only the SHA-256 of a secret is stored.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: crate::model::ApiKeyId,
    pub name: String,
    pub key_hash: Vec<u8>,
    pub principal: String,
    pub role: crate::model::Role,
    pub created_by: String,
    pub created_at: DateTimeUtc,
    pub last_used_at: Option<DateTimeUtc>,
    pub disabled_at: Option<DateTimeUtc>,
    pub expires_at: Option<DateTimeUtc>,
    /// The key that created this one; `None` for the bootstrap key and keys made by the CLI command.
    pub created_by_key_id: Option<crate::model::ApiKeyId>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! `issuers`: local certificate authorities.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "issuers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: crate::model::IssuerId,
    pub name: String,
    pub common_name: String,
    pub key_algorithm: String,
    pub parent_issuer_id: Option<crate::model::IssuerId>,
    pub serial_hex: String,
    pub certificate_der: Vec<u8>,
    pub certificate_pem: String,
    pub private_key_ciphertext: Vec<u8>,
    pub not_before: DateTimeUtc,
    pub not_after: DateTimeUtc,
    pub created_by: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

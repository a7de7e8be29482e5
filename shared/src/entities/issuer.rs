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
    /// 0: one full CRL. N (2 to 256): the CRL is partitioned into N shards (`crl_url`/1 to N).
    pub crl_shards: i16,
    /// Where a partitioned issuer's shards are published (`{crl_url}/{shard}`); set with them.
    pub crl_url: Option<String>,
    /// Set while the issuer is disabled: it signs no certificate.
    pub disabled_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! `acme_accounts`: ACME client keys registered at an endpoint (RFC 8555 §7.1.2).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "acme_accounts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: crate::model::AcmeAccountId,
    pub endpoint_id: crate::model::AcmeEndpointId,
    /// The RFC 7638 thumbprint of the account key: one account per key and endpoint.
    pub thumbprint: String,
    /// The account key as a SubjectPublicKeyInfo.
    pub public_key_der: Vec<u8>,
    /// `valid`, `deactivated` (by the client) or `revoked` (by the server).
    pub status: String,
    pub contact: Vec<String>,
    /// The External Account Binding key it was created with, if any.
    pub eab_kid: Option<String>,
    /// Who issued that EAB key: the person the account answers to, who may not approve its orders.
    pub registered_by: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

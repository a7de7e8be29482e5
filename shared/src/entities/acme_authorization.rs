//! `acme_authorizations`: one identifier of an order, to be proven (RFC 8555 §7.1.4).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "acme_authorizations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: crate::model::AcmeAuthzId,
    pub order_id: crate::model::AcmeOrderId,
    pub account_id: crate::model::AcmeAccountId,
    /// `dns` or `ip`.
    pub identifier_type: String,
    /// The name without `*.` for a wildcard, or the IP address in its canonical text form.
    pub identifier_value: String,
    pub wildcard: bool,
    /// `pending`, `valid`, `invalid`, `deactivated`, `expired` or `revoked`.
    pub status: String,
    pub expires_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! `acme_orders`: a client's request for a certificate (RFC 8555 §7.1.3).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "acme_orders")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: crate::model::AcmeOrderId,
    pub account_id: crate::model::AcmeAccountId,
    pub endpoint_id: crate::model::AcmeEndpointId,
    /// `pending`, `ready`, `processing`, `valid` or `invalid`.
    pub status: String,
    /// `[{"type": "dns"|"ip", "value": …}]`, as the client sent them, normalised.
    pub identifiers: Json,
    pub not_before: Option<DateTimeUtc>,
    pub not_after: Option<DateTimeUtc>,
    pub expires_at: DateTimeUtc,
    /// The RFC 8555 problem document of an `invalid` order.
    pub error: Option<Json>,
    /// The approval job a finalized order waits on.
    pub job_id: Option<crate::model::JobId>,
    pub certificate_id: Option<crate::model::CertificateId>,
    /// The certificate this order replaces (RFC 9773 `replaces`).
    pub replaces_certificate_id: Option<crate::model::CertificateId>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! `certificates`: every certificate certctl has issued.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "certificates")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: crate::model::CertificateId,
    pub issuer_id: crate::model::IssuerId,
    pub profile_id: crate::model::ProfileId,
    pub serial_hex: String,
    pub common_name: String,
    pub sans: Vec<String>,
    pub key_algorithm: String,
    pub public_key_der: Vec<u8>,
    pub status: crate::model::CertificateStatus,
    /// How it came in: `api`, `est` or `scep`.
    pub source: crate::model::CertificateSource,
    pub short_lived: bool,
    pub not_before: DateTimeUtc,
    pub not_after: DateTimeUtc,
    pub certificate_der: Vec<u8>,
    pub certificate_pem: String,
    pub renewed_from_id: Option<crate::model::CertificateId>,
    pub superseded_by_id: Option<crate::model::CertificateId>,
    pub job_id: Option<crate::model::JobId>,
    pub requested_by: String,
    pub created_at: DateTimeUtc,
    /// This certificate's own renewal policy; `None`: its profile's, else the built-in one.
    pub renewal_policy_id: Option<crate::model::RenewalPolicyId>,
    /// When its renewal window opens (set on insert by a trigger from the policy that applies).
    pub renew_after: Option<DateTimeUtc>,
    /// certctl generated the key (and returned it once; it keeps none).
    pub key_generated: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! `enrollment_requests`: what became of each EST or SCEP enrollment, so a client asking again
//! (as both protocols do while a request awaits approval) finds its first request.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "enrollment_requests")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub enrollment_profile_id: crate::model::EnrollmentProfileId,
    pub protocol: crate::model::EnrollmentProtocol,
    /// The actor that asked (`est:<profile>/<user>`, `scep:<profile>`).
    pub requester: String,
    /// SCEP's transactionID.
    pub transaction_id: Option<String>,
    /// SHA-256 of the DER SubjectPublicKeyInfo to certify.
    pub spki_sha256: Vec<u8>,
    pub job_id: Option<crate::model::JobId>,
    pub certificate_id: Option<crate::model::CertificateId>,
    pub created_at: DateTimeUtc,
    /// Set once the client was told the request failed for good; the next one starts afresh.
    pub closed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

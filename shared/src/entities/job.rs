//! `jobs`: issuance requests waiting for, or decided by, a second person.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: crate::model::JobId,
    pub kind: String,
    pub status: crate::model::JobStatus,
    pub issuer_id: crate::model::IssuerId,
    pub profile_id: crate::model::ProfileId,
    pub request: Json,
    pub requested_by: String,
    pub decided_by: Option<String>,
    pub decision_note: Option<String>,
    pub decided_at: Option<DateTimeUtc>,
    pub certificate_id: Option<crate::model::CertificateId>,
    pub error: Option<String>,
    pub created_at: DateTimeUtc,
    /// The API key that filed the request, for the self-approval check.
    pub requested_by_key_id: Option<crate::model::ApiKeyId>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! `jobs`: issuance requests waiting for, or decided by, a second person, and the automatic
//! renewals the worker runs.

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
    /// An automatic renewal's certificate (at most one open job per certificate).
    pub renews_certificate_id: Option<crate::model::CertificateId>,
    pub attempts: i32,
    /// When a `pending` job is due.
    pub next_attempt_at: Option<DateTimeUtc>,
    /// A key generated for a rotating renewal, sealed, until collected once.
    pub private_key_ciphertext: Option<Vec<u8>>,
    pub key_retrieved_at: Option<DateTimeUtc>,
    pub updated_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

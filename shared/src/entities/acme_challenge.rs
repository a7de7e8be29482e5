//! `acme_challenges`: a way to prove control of an authorization's identifier (RFC 8555 §8).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "acme_challenges")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: crate::model::AcmeChallengeId,
    pub authz_id: crate::model::AcmeAuthzId,
    /// `http-01`, `dns-01` or `tls-alpn-01`.
    #[sea_orm(column_name = "type")]
    pub kind: String,
    pub token: String,
    /// `pending`, `processing` (validation asked for), `valid` or `invalid`.
    pub status: String,
    /// Validation attempts made so far.
    pub attempts: i32,
    pub next_attempt_at: Option<DateTimeUtc>,
    /// A replica validating the challenge holds it until then.
    pub claimed_until: Option<DateTimeUtc>,
    pub validated_at: Option<DateTimeUtc>,
    /// The RFC 8555 problem document of the last failed attempt.
    pub error: Option<Json>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

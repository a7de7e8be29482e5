//! `enrollment_profiles`: how devices enroll over EST and SCEP. Credentials are stored only as
//! argon2id hashes (PHC strings).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "enrollment_profiles")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: crate::model::EnrollmentProfileId,
    pub name: String,
    pub protocol: crate::model::EnrollmentProtocol,
    pub label: String,
    pub issuer_id: crate::model::IssuerId,
    pub profile_id: crate::model::ProfileId,
    pub is_default: bool,
    pub est_username: Option<String>,
    pub est_password_hash: Option<String>,
    pub est_client_ca_issuer_id: Option<crate::model::IssuerId>,
    pub scep_challenge_hash: Option<String>,
    pub scep_challenge_expires_at: Option<DateTimeUtc>,
    pub scep_challenge_one_time: bool,
    pub scep_challenge_used_at: Option<DateTimeUtc>,
    pub created_by: String,
    pub created_at: DateTimeUtc,
    pub disabled_at: Option<DateTimeUtc>,
    /// SCEP only: the RA certificate (signed by the issuer) and its RSA key, sealed under the KEK.
    pub scep_ra_certificate_der: Option<Vec<u8>>,
    pub scep_ra_key_ciphertext: Option<Vec<u8>>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! `certificate_revocations`: one row per revoked certificate, unique per issuer and serial.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "certificate_revocations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub certificate_id: crate::model::CertificateId,
    pub issuer_id: crate::model::IssuerId,
    pub serial_hex: String,
    pub reason: String,
    pub reason_code: Option<i16>,
    pub revoked_at: DateTimeUtc,
    pub revoked_by: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

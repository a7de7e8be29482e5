//! `certificate_revocations` queries.

use sea_orm::prelude::*;
use sea_orm::{ConnectionTrait, IntoActiveModel};

use crate::entities::certificate_revocation;
use crate::entities::certificate_revocation::{Entity as Revocations, Model as Revocation};
use crate::model::CertificateId;

pub async fn insert(conn: &impl ConnectionTrait, row: Revocation) -> Result<Revocation, DbErr> {
    row.into_active_model().insert(conn).await
}

pub async fn find_by_certificate(
    conn: &impl ConnectionTrait,
    certificate_id: CertificateId,
) -> Result<Option<Revocation>, DbErr> {
    Revocations::find()
        .filter(certificate_revocation::Column::CertificateId.eq(certificate_id))
        .one(conn)
        .await
}

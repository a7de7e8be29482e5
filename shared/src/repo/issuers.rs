//! `issuers` queries.

use sea_orm::prelude::*;
use sea_orm::{ConnectionTrait, DbBackend, IntoActiveModel, QueryOrder, Statement};

use crate::entities::issuer;
use crate::entities::issuer::{Entity as Issuers, Model as Issuer};
use crate::model::IssuerId;

pub async fn insert(conn: &impl ConnectionTrait, row: Issuer) -> Result<Issuer, DbErr> {
    row.into_active_model().insert(conn).await
}

pub async fn find_by_id(conn: &impl ConnectionTrait, id: IssuerId) -> Result<Option<Issuer>, DbErr> {
    Issuers::find_by_id(id).one(conn).await
}

pub async fn list(conn: &impl ConnectionTrait) -> Result<Vec<Issuer>, DbErr> {
    Issuers::find().order_by_asc(issuer::Column::CreatedAt).all(conn).await
}

/// Disables an issuer (`disabled` true) or enables it again; returns the row as it now is, or
/// `None` if there is none. Disabling an issuer already disabled keeps its first time.
pub async fn set_disabled(conn: &impl ConnectionTrait, id: IssuerId, disabled: bool) -> Result<Option<Issuer>, DbErr> {
    Issuers::find()
        .from_raw_sql(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE issuers SET disabled_at = CASE WHEN $2 THEN coalesce(disabled_at, now()) END \
             WHERE id = $1 RETURNING *",
            [id.into(), disabled.into()],
        ))
        .one(conn)
        .await
}

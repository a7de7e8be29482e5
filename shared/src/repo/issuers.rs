//! `issuers` queries.

use sea_orm::prelude::*;
use sea_orm::{ConnectionTrait, IntoActiveModel, QueryOrder};

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

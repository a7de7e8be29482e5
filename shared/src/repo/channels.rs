//! `notification_channels` queries.

use sea_orm::prelude::*;
use sea_orm::{ConnectionTrait, IntoActiveModel, QueryOrder, QuerySelect};

use crate::entities::notification_channel::{self, Entity as Channels, Model as Channel};
use crate::model::ChannelId;

pub async fn insert(conn: &impl ConnectionTrait, row: Channel) -> Result<Channel, DbErr> {
    row.into_active_model().insert(conn).await
}

/// A channel, deleted or not (the worker needs to know which it is).
pub async fn find_any(conn: &impl ConnectionTrait, id: ChannelId) -> Result<Option<Channel>, DbErr> {
    Channels::find_by_id(id).one(conn).await
}

/// Locks a channel row for the rest of the transaction.
pub async fn find_for_update(conn: &impl ConnectionTrait, id: ChannelId) -> Result<Option<Channel>, DbErr> {
    Channels::find_by_id(id).lock_exclusive().one(conn).await
}

/// A channel that has not been deleted.
pub async fn find_live(conn: &impl ConnectionTrait, id: ChannelId) -> Result<Option<Channel>, DbErr> {
    Ok(find_any(conn, id).await?.filter(|c| c.deleted_at.is_none()))
}

pub async fn list_live(conn: &impl ConnectionTrait) -> Result<Vec<Channel>, DbErr> {
    Channels::find()
        .filter(notification_channel::Column::DeletedAt.is_null())
        .order_by_asc(notification_channel::Column::Name)
        .all(conn)
        .await
}

/// Every channel, deleted ones included.
pub async fn list_all(conn: &impl ConnectionTrait) -> Result<Vec<Channel>, DbErr> {
    Channels::find()
        .order_by_asc(notification_channel::Column::CreatedAt)
        .all(conn)
        .await
}

/// Writes every field of `row` (PATCH is applied by the caller).
pub async fn update(conn: &impl ConnectionTrait, row: Channel) -> Result<Channel, DbErr> {
    row.into_active_model().reset_all().update(conn).await
}

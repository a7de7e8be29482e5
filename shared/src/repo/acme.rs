//! ACME queries: the anti-replay nonces (RFC 8555 §6.5), kept in the database so a nonce one
//! api-server replica hands out is accepted by any other, exactly once; the endpoints and their
//! External Account Binding keys.

use chrono::{DateTime, Utc};
use sea_orm::prelude::*;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, IntoActiveModel, QueryOrder, Statement};

use crate::entities::acme_eab_key::Model as AcmeEabKey;
use crate::entities::acme_endpoint::{self, Entity as AcmeEndpoints, Model as AcmeEndpoint};
use crate::model::AcmeEndpointId;

/// Stores a nonce handed out in a `Replay-Nonce` header, valid until `expires_at`.
pub async fn issue_nonce(conn: &impl ConnectionTrait, nonce: &str, expires_at: DateTime<Utc>) -> Result<(), DbErr> {
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO acme_nonces (nonce, expires_at) VALUES ($1, $2)",
        [nonce.into(), expires_at.into()],
    ))
    .await
    .map(|_| ())
}

/// Uses a nonce up: `true` if it was issued here, unexpired and not used before (RFC 8555
/// `badNonce` otherwise). One statement, so two replicas racing for the same nonce cannot both win.
pub async fn use_nonce(conn: &impl ConnectionTrait, nonce: &str) -> Result<bool, DbErr> {
    let result = conn
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "DELETE FROM acme_nonces WHERE nonce = $1 AND expires_at > now()",
            [nonce.into()],
        ))
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Deletes expired nonces; returns how many.
pub async fn sweep_nonces(conn: &impl ConnectionTrait) -> Result<u64, DbErr> {
    let result = conn
        .execute_raw(Statement::from_string(
            DbBackend::Postgres,
            "DELETE FROM acme_nonces WHERE expires_at <= now()",
        ))
        .await?;
    Ok(result.rows_affected())
}

pub async fn insert_endpoint(conn: &impl ConnectionTrait, row: AcmeEndpoint) -> Result<AcmeEndpoint, DbErr> {
    row.into_active_model().insert(conn).await
}

pub async fn find_endpoint(conn: &impl ConnectionTrait, id: AcmeEndpointId) -> Result<Option<AcmeEndpoint>, DbErr> {
    AcmeEndpoints::find_by_id(id).one(conn).await
}

/// Every endpoint, disabled ones included, by name.
pub async fn list_endpoints(conn: &impl ConnectionTrait) -> Result<Vec<AcmeEndpoint>, DbErr> {
    AcmeEndpoints::find()
        .order_by_asc(acme_endpoint::Column::Name)
        .order_by_asc(acme_endpoint::Column::CreatedAt)
        .all(conn)
        .await
}

/// Disables an endpoint in use; `None` when there is none with this id or it is already disabled.
pub async fn disable_endpoint(
    conn: &impl ConnectionTrait,
    id: AcmeEndpointId,
    at: DateTime<Utc>,
) -> Result<Option<AcmeEndpoint>, DbErr> {
    let Some(row) = find_endpoint(conn, id).await? else {
        return Ok(None);
    };
    if row.disabled_at.is_some() {
        return Ok(None);
    }
    let mut active = row.into_active_model();
    active.disabled_at = sea_orm::Set(Some(at));
    active.update(conn).await.map(Some)
}

pub async fn insert_eab_key(conn: &impl ConnectionTrait, row: AcmeEabKey) -> Result<AcmeEabKey, DbErr> {
    row.into_active_model().insert(conn).await
}

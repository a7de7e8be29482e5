//! ACME queries. So far: the anti-replay nonces (RFC 8555 §6.5), kept in the database so a nonce
//! one api-server replica hands out is accepted by any other, exactly once.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

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

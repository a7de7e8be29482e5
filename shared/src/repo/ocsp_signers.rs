//! Delegated OCSP responder certificates and their sealed keys.

use std::time::Duration;

use crate::model::IssuerId;
use chrono::{DateTime, Utc};
use sea_orm::prelude::*;
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement};

#[derive(Debug, Clone, FromQueryResult)]
pub struct IssuerNeedingSigner {
    pub issuer_id: IssuerId,
}

/// Issuers with no signer that stays valid for at least `rotate_before` more (or until the CA
/// itself expires, for a CA that expires sooner) and is sealed under the current responder key
/// (`current_kek`): introducing a new key replaces the signers at once.
pub async fn issuers_needing_signer(
    conn: &impl ConnectionTrait,
    rotate_before: Duration,
    current_kek: &str,
) -> Result<Vec<IssuerId>, DbErr> {
    Ok(IssuerNeedingSigner::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT i.id AS issuer_id FROM issuers i \
         WHERE i.not_after > now() AND NOT EXISTS ( \
           SELECT 1 FROM ocsp_signers s WHERE s.issuer_id = i.id AND s.not_before <= now() \
             AND s.kek_id = $2 \
             AND s.not_after >= LEAST(now() + make_interval(secs => $1), i.not_after))",
        [rotate_before.as_secs_f64().into(), current_kek.into()],
    ))
    .all(conn)
    .await?
    .into_iter()
    .map(|r| r.issuer_id)
    .collect())
}

/// Takes the per-issuer signer lock for the rest of the transaction, so two workers never both
/// create a signer for one issuer.
pub async fn lock_issuer(conn: &impl ConnectionTrait, issuer_id: IssuerId) -> Result<(), DbErr> {
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock(hashtextextended('certctl:ocsp-signer:' || $1::text, 0))",
        [issuer_id.into()],
    ))
    .await?;
    Ok(())
}

pub struct NewSigner<'a> {
    pub id: Uuid,
    pub issuer_id: IssuerId,
    pub serial_hex: &'a str,
    pub key_algorithm: &'a str,
    pub certificate_der: &'a [u8],
    pub private_key_ciphertext: &'a [u8],
    pub kek_id: &'a str,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub created_by: &'a str,
}

pub async fn insert(conn: &impl ConnectionTrait, s: NewSigner<'_>) -> Result<(), DbErr> {
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO ocsp_signers (id, issuer_id, serial_hex, key_algorithm, certificate_der, \
           private_key_ciphertext, kek_id, not_before, not_after, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        [
            s.id.into(),
            s.issuer_id.into(),
            s.serial_hex.into(),
            s.key_algorithm.into(),
            s.certificate_der.to_vec().into(),
            s.private_key_ciphertext.to_vec().into(),
            s.kek_id.into(),
            s.not_before.into(),
            s.not_after.into(),
            s.created_by.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Seconds until the newest signer of each live issuer expires (for metrics).
#[derive(Debug, Clone, FromQueryResult)]
pub struct SignerExpiry {
    pub issuer_id: IssuerId,
    pub expires_in_seconds: f64,
}

pub async fn expiries(conn: &impl ConnectionTrait) -> Result<Vec<SignerExpiry>, DbErr> {
    SignerExpiry::find_by_statement(Statement::from_string(
        DbBackend::Postgres,
        "SELECT i.id AS issuer_id, \
           COALESCE(EXTRACT(EPOCH FROM max(s.not_after) - now()), '-Infinity')::float8 AS expires_in_seconds \
         FROM issuers i LEFT JOIN ocsp_signers s ON s.issuer_id = i.id \
         WHERE i.not_after > now() GROUP BY i.id",
    ))
    .all(conn)
    .await
}

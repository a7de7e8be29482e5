//! The revocation responder's reads. Every query names its columns: the responder's database
//! role may read only these (migrations/sql/responder-role.sql, applied by `certctl-migrate responder-role`), never a CA key.

use crate::model::IssuerId;
use chrono::{DateTime, Utc};
use sea_orm::prelude::*;
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, Statement};

#[derive(Debug, Clone, FromQueryResult)]
pub struct IssuerRow {
    pub id: IssuerId,
    pub certificate_der: Vec<u8>,
    pub not_after: DateTime<Utc>,
    /// 0: one full CRL; N: CRL shards 1 to N.
    pub crl_shards: i16,
}

pub async fn issuers(conn: &impl ConnectionTrait) -> Result<Vec<IssuerRow>, DbErr> {
    IssuerRow::find_by_statement(Statement::from_string(
        DbBackend::Postgres,
        "SELECT id, certificate_der, not_after, crl_shards FROM issuers",
    ))
    .all(conn)
    .await
}

/// The signer each issuer should answer with now: the valid one that lasts longest.
#[derive(Debug, Clone, FromQueryResult)]
pub struct SignerRow {
    pub id: Uuid,
    pub issuer_id: IssuerId,
    pub key_algorithm: String,
    pub certificate_der: Vec<u8>,
    pub private_key_ciphertext: Vec<u8>,
    pub not_after: DateTime<Utc>,
}

pub async fn current_signers(conn: &impl ConnectionTrait) -> Result<Vec<SignerRow>, DbErr> {
    SignerRow::find_by_statement(Statement::from_string(
        DbBackend::Postgres,
        "SELECT DISTINCT ON (issuer_id) id, issuer_id, key_algorithm, certificate_der, private_key_ciphertext, not_after \
         FROM ocsp_signers WHERE not_before <= now() AND not_after > now() \
         ORDER BY issuer_id, not_after DESC, created_at DESC",
    ))
    .all(conn)
    .await
}

#[derive(Debug, Clone, FromQueryResult)]
pub struct CrlMeta {
    pub issuer_id: IssuerId,
    /// 0: the full CRL; otherwise the shard.
    pub shard: i16,
    pub crl_number: i64,
    pub this_update: DateTime<Utc>,
    pub next_update: DateTime<Utc>,
}

/// The number and dates of the newest CRL of each issuer (and of each shard of a partitioned one).
pub async fn latest_crls(conn: &impl ConnectionTrait) -> Result<Vec<CrlMeta>, DbErr> {
    CrlMeta::find_by_statement(Statement::from_string(
        DbBackend::Postgres,
        "SELECT DISTINCT ON (issuer_id, shard) issuer_id, shard, crl_number, this_update, next_update \
         FROM crls ORDER BY issuer_id, shard, crl_number DESC",
    ))
    .all(conn)
    .await
}

#[derive(Debug, Clone, FromQueryResult)]
struct DerRow {
    der: Vec<u8>,
}

pub async fn crl_der(conn: &impl ConnectionTrait, crl: &CrlMeta) -> Result<Option<Vec<u8>>, DbErr> {
    Ok(DerRow::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT der FROM crls WHERE issuer_id = $1 AND shard = $2 AND crl_number = $3",
        [crl.issuer_id.into(), crl.shard.into(), crl.crl_number.into()],
    ))
    .one(conn)
    .await?
    .map(|r| r.der))
}

#[derive(Debug, Clone, FromQueryResult)]
struct XminRow {
    xmin: String,
}

/// The oldest transaction still running in this statement's snapshot: every row written by an
/// older transaction is already visible (or never will be).
pub async fn snapshot_xmin(conn: &impl ConnectionTrait) -> Result<String, DbErr> {
    XminRow::find_by_statement(Statement::from_string(
        DbBackend::Postgres,
        "SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin",
    ))
    .one(conn)
    .await?
    .map(|r| r.xmin)
    .ok_or_else(|| DbErr::RecordNotFound("pg_current_snapshot".into()))
}

#[derive(Debug, Clone, FromQueryResult)]
pub struct IssuedRow {
    pub issuer_id: IssuerId,
    pub serial_hex: String,
}

/// Certificates written by transactions at or after `since` (all of them when `None`).
pub async fn certificates_since(conn: &impl ConnectionTrait, since: Option<&str>) -> Result<Vec<IssuedRow>, DbErr> {
    let sql = "SELECT issuer_id, serial_hex FROM certificates";
    IssuedRow::find_by_statement(since_statement(sql, since))
        .all(conn)
        .await
}

#[derive(Debug, Clone, FromQueryResult)]
pub struct RevokedRow {
    pub issuer_id: IssuerId,
    pub serial_hex: String,
    pub revoked_at: DateTime<Utc>,
    pub reason_code: Option<i16>,
}

/// Revocations written by transactions at or after `since` (all of them when `None`).
pub async fn revocations_since(conn: &impl ConnectionTrait, since: Option<&str>) -> Result<Vec<RevokedRow>, DbErr> {
    let sql = "SELECT issuer_id, serial_hex, revoked_at, reason_code FROM certificate_revocations";
    RevokedRow::find_by_statement(since_statement(sql, since))
        .all(conn)
        .await
}

/// `sql`, limited to rows written at or after transaction `since` (through the `created_xid` index).
fn since_statement(sql: &str, since: Option<&str>) -> Statement {
    match since {
        None => Statement::from_string(DbBackend::Postgres, sql),
        Some(xid) => Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("{sql} WHERE created_xid >= $1::text::xid8"),
            [xid.into()],
        ),
    }
}

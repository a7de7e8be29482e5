//! CRL publishing: state per CRL (numbering, the revision revocations bump, the build lease), the
//! revoked entries a CRL lists, and the stored CRLs. A CRL is an issuer's full CRL (shard 0) or,
//! for a partitioned issuer, one of its shards (1 to `crl_shards`), each numbered on its own.

use std::time::Duration;

use crate::model::IssuerId;
use chrono::{DateTime, Utc};
use sea_orm::prelude::*;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, FromQueryResult, Statement, TransactionTrait};

/// Creates the state row of every CRL that has none (each live issuer's full CRL, or each of its
/// shards), so new issuers get their first CRLs.
pub async fn ensure_states(conn: &impl ConnectionTrait) -> Result<(), DbErr> {
    conn.execute_raw(Statement::from_string(
        DbBackend::Postgres,
        "INSERT INTO crl_state (issuer_id, shard) \
         SELECT i.id, s FROM issuers i \
         CROSS JOIN LATERAL generate_series(least(i.crl_shards, 1), i.crl_shards) AS s \
         WHERE i.not_after > now() \
         ON CONFLICT (issuer_id, shard) DO NOTHING",
    ))
    .await?;
    Ok(())
}

/// A CRL build this worker has claimed: the number and `thisUpdate` it must carry and the
/// revision it covers.
#[derive(Debug, Clone, FromQueryResult)]
pub struct ClaimedBuild {
    pub issuer_id: IssuerId,
    /// 0: the full CRL; otherwise the shard.
    pub shard: i16,
    /// Where a shard is published (`{crl_url}/{shard}`), for its distribution point.
    pub crl_url: Option<String>,
    pub number: i64,
    pub revision: i64,
    /// The database's clock at the claim, in whole seconds, and never before a stored CRL's:
    /// one clock for every worker, so a higher number never carries an older `thisUpdate`.
    pub this_update: DateTime<Utc>,
}

/// Claims every CRL (of an issuer, or of one of its shards) that is missing, behind a revocation,
/// or due for renewal (less than `refresh_before` left), and not being built by a live worker. Claiming allocates the CRL
/// number and its `thisUpdate` and takes a lease of `lease`: two workers never build the same
/// issuer at once and a number is never handed out twice.
pub async fn claim_builds(
    conn: &impl ConnectionTrait,
    worker: &str,
    lease: Duration,
    refresh_before: Duration,
) -> Result<Vec<ClaimedBuild>, DbErr> {
    ClaimedBuild::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE crl_state s SET last_number = s.last_number + 1, \
           building_until = now() + make_interval(secs => $2), building_by = $1 \
         FROM issuers i \
         WHERE i.id = s.issuer_id AND i.not_after > now() \
           AND (s.building_until IS NULL OR s.building_until < now()) \
           AND (s.revision > s.built_revision OR s.next_update IS NULL \
                OR s.next_update < now() + make_interval(secs => $3)) \
         RETURNING s.issuer_id, s.shard, i.crl_url, s.last_number AS number, s.revision, \
           greatest(date_trunc('second', now()), \
                    (SELECT max(c.this_update) FROM crls c WHERE c.issuer_id = s.issuer_id AND c.shard = s.shard)) \
             AS this_update",
        [
            worker.into(),
            lease.as_secs_f64().into(),
            refresh_before.as_secs_f64().into(),
        ],
    ))
    .all(conn)
    .await
}

/// One line of a CRL.
#[derive(Debug, Clone, FromQueryResult)]
pub struct RevokedEntry {
    pub serial_hex: String,
    pub revoked_at: DateTime<Utc>,
    pub reason_code: Option<i16>,
}

/// What a CRL of `issuer_id` lists: the revoked certificates of its shard (0: all of them) that
/// are neither short-lived (RFC 9608: they promise no revocation information) nor expired.
pub async fn revoked_entries(
    conn: &impl ConnectionTrait,
    issuer_id: IssuerId,
    shard: i16,
) -> Result<Vec<RevokedEntry>, DbErr> {
    RevokedEntry::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT serial_hex, revoked_at, reason_code FROM certificate_revocations \
         WHERE issuer_id = $1 AND crl_shard = $2 AND NOT certificate_short_lived AND certificate_not_after > now()",
        [issuer_id.into(), shard.into()],
    ))
    .all(conn)
    .await
}

/// A built CRL, ready to store.
pub struct NewCrl<'a> {
    pub issuer_id: IssuerId,
    pub shard: i16,
    pub number: i64,
    pub revision: i64,
    pub this_update: DateTime<Utc>,
    pub next_update: DateTime<Utc>,
    pub der: &'a [u8],
    pub entry_count: i32,
    pub generated_by: &'a str,
    pub build_ms: i32,
}

/// Stores a CRL, records the revision it covers, releases the lease and prunes old CRLs, in one
/// transaction. Fails (and stores nothing) if a CRL with a number at least as high exists.
pub async fn store(conn: &DatabaseConnection, crl: NewCrl<'_>, keep: u32) -> Result<(), DbErr> {
    let tx = conn.begin().await?;
    tx.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO crls (issuer_id, crl_number, this_update, next_update, der, entry_count, generated_by, build_ms, shard) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        [
            crl.issuer_id.into(),
            crl.number.into(),
            crl.this_update.into(),
            crl.next_update.into(),
            crl.der.to_vec().into(),
            crl.entry_count.into(),
            crl.generated_by.into(),
            crl.build_ms.into(),
            crl.shard.into(),
        ],
    ))
    .await?;
    tx.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE crl_state SET built_revision = GREATEST(built_revision, $2), \
           next_update = GREATEST(next_update, $3), \
           building_until = CASE WHEN building_by = $4 THEN NULL ELSE building_until END, \
           building_by = CASE WHEN building_by = $4 THEN NULL ELSE building_by END \
         WHERE issuer_id = $1 AND shard = $5",
        [
            crl.issuer_id.into(),
            crl.revision.into(),
            crl.next_update.into(),
            crl.generated_by.into(),
            crl.shard.into(),
        ],
    ))
    .await?;
    tx.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "DELETE FROM crls WHERE issuer_id = $1 AND shard = $4 AND crl_number <= $2 - $3",
        [
            crl.issuer_id.into(),
            crl.number.into(),
            i64::from(keep).into(),
            crl.shard.into(),
        ],
    ))
    .await?;
    tx.commit().await
}

/// Gives a claimed build back after a failure, so another tick (or worker) can retry it soon.
pub async fn release(
    conn: &impl ConnectionTrait,
    build: &ClaimedBuild,
    worker: &str,
    retry_in: Duration,
) -> Result<(), DbErr> {
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE crl_state SET building_until = now() + make_interval(secs => $3) \
         WHERE issuer_id = $1 AND shard = $4 AND building_by = $2",
        [
            build.issuer_id.into(),
            worker.into(),
            retry_in.as_secs_f64().into(),
            build.shard.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Age in seconds of each issuer's newest CRL, and seconds to its nextUpdate (for metrics). For a
/// partitioned issuer, the stalest of its shards' newest CRLs; until every shard has one, the
/// issuer counts as having none.
#[derive(Debug, Clone, FromQueryResult)]
pub struct CrlFreshness {
    pub issuer_id: IssuerId,
    pub age_seconds: f64,
    pub next_update_in_seconds: f64,
    pub ca_expires_in_seconds: f64,
}

pub async fn freshness(conn: &impl ConnectionTrait) -> Result<Vec<CrlFreshness>, DbErr> {
    CrlFreshness::find_by_statement(Statement::from_string(
        DbBackend::Postgres,
        "SELECT i.id AS issuer_id, \
           COALESCE(EXTRACT(EPOCH FROM now() - l.this_update), 'Infinity')::float8 AS age_seconds, \
           COALESCE(EXTRACT(EPOCH FROM l.next_update - now()), '-Infinity')::float8 AS next_update_in_seconds, \
           EXTRACT(EPOCH FROM i.not_after - now())::float8 AS ca_expires_in_seconds \
         FROM issuers i LEFT JOIN LATERAL ( \
           SELECT CASE WHEN count(*) >= greatest(i.crl_shards, 1) THEN min(this_update) END AS this_update, \
                  CASE WHEN count(*) >= greatest(i.crl_shards, 1) THEN min(next_update) END AS next_update \
           FROM (SELECT DISTINCT ON (shard) this_update, next_update FROM crls WHERE issuer_id = i.id \
                 ORDER BY shard, crl_number DESC) newest \
         ) l ON true \
         WHERE i.not_after > now()",
    ))
    .all(conn)
    .await
}

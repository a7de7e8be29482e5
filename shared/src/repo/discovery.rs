//! `network_scan_targets`, `discovered_certificates` and `discovered_endpoints`: scan targets,
//! their claims by workers, what the scans saw, and the operator's decisions about it.

use chrono::{DateTime, Utc};
use sea_orm::prelude::*;
use sea_orm::{Condition, DbBackend, FromQueryResult, IntoActiveModel, QueryOrder, Statement};

use super::{Page, TimeCursor};
use crate::entities::discovered_certificate::{self, Entity as Discovered, Model as DiscoveredCertificate};
use crate::entities::network_scan_target::{self, Entity as Targets, Model as Target};
use crate::model::{CertificateId, DiscoveredCertificateId, ScanTargetId};

pub async fn insert_target(conn: &impl ConnectionTrait, row: Target) -> Result<Target, DbErr> {
    row.into_active_model().insert(conn).await
}

pub async fn find_target(conn: &impl ConnectionTrait, id: ScanTargetId) -> Result<Option<Target>, DbErr> {
    Targets::find_by_id(id).one(conn).await
}

pub async fn list_targets(conn: &impl ConnectionTrait) -> Result<Vec<Target>, DbErr> {
    Targets::find()
        .order_by_asc(network_scan_target::Column::Name)
        .all(conn)
        .await
}

/// Replaces what an admin writes (name, ranges, ports, SNI, schedule, limits, enabled) and
/// schedules the next scan now.
pub async fn replace_target(conn: &impl ConnectionTrait, row: Target) -> Result<Option<Target>, DbErr> {
    Targets::find()
        .from_raw_sql(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE network_scan_targets SET name = $2, cidrs = $3, ports = $4, server_name = $5, \
               interval_seconds = $6, timeout_ms = $7, concurrency = $8, enabled = $9, next_scan_at = now(), \
               updated_at = now() \
             WHERE id = $1 RETURNING *",
            [
                row.id.into(),
                row.name.into(),
                row.cidrs.into(),
                row.ports.into(),
                row.server_name.into(),
                row.interval_seconds.into(),
                row.timeout_ms.into(),
                row.concurrency.into(),
                row.enabled.into(),
            ],
        ))
        .one(conn)
        .await
}

pub async fn delete_target(conn: &impl ConnectionTrait, id: ScanTargetId) -> Result<bool, DbErr> {
    Ok(Targets::delete_by_id(id).exec(conn).await?.rows_affected > 0)
}

/// Asks for a scan of the target now; returns it, or `None` if there is none.
pub async fn scan_now(conn: &impl ConnectionTrait, id: ScanTargetId) -> Result<Option<Target>, DbErr> {
    Targets::find()
        .from_raw_sql(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE network_scan_targets SET next_scan_at = now() WHERE id = $1 RETURNING *",
            [id.into()],
        ))
        .one(conn)
        .await
}

/// Claims the enabled target most overdue for a scan, for `lease` (rows another worker holds or
/// leased are skipped): at most one worker scans a target at a time.
pub async fn claim_due_target(
    conn: &impl ConnectionTrait,
    worker: &str,
    lease: std::time::Duration,
) -> Result<Option<Target>, DbErr> {
    Targets::find()
        .from_raw_sql(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE network_scan_targets SET lease_until = now() + make_interval(secs => $2), leased_by = $1, \
               last_scan_started_at = now() \
             WHERE id = (SELECT id FROM network_scan_targets \
               WHERE enabled AND next_scan_at <= now() AND (lease_until IS NULL OR lease_until < now()) \
               ORDER BY next_scan_at LIMIT 1 FOR UPDATE SKIP LOCKED) \
             RETURNING *",
            [worker.into(), lease.as_secs_f64().into()],
        ))
        .one(conn)
        .await
}

/// Records the end of a scan by `worker`: when the next is due, how many certificates it saw,
/// and what went wrong, if anything. Does nothing if the worker lost its lease meanwhile.
pub async fn finish_scan(
    conn: &impl ConnectionTrait,
    id: ScanTargetId,
    worker: &str,
    found: i32,
    error: Option<&str>,
) -> Result<(), DbErr> {
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE network_scan_targets SET lease_until = NULL, leased_by = NULL, last_scan_finished_at = now(), \
           last_scan_found = $3, last_scan_error = $4, \
           next_scan_at = now() + make_interval(secs => interval_seconds) \
         WHERE id = $1 AND leased_by = $2",
        [id.into(), worker.into(), found.into(), error.map(str::to_owned).into()],
    ))
    .await?;
    Ok(())
}

/// A leaf certificate as a scan saw it, parsed.
#[derive(Clone, Debug)]
pub struct Seen {
    pub fingerprint_sha256: String,
    pub subject: String,
    pub common_name: Option<String>,
    pub sans: Vec<String>,
    pub issuer: String,
    pub serial_hex: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub key_algorithm: String,
    pub self_signed: bool,
    pub der: Vec<u8>,
    pub certificate_pem: String,
    pub chain_pem: String,
}

/// Where it was seen.
#[derive(Clone, Debug)]
pub struct SeenAt<'a> {
    pub target: ScanTargetId,
    pub address: String,
    pub port: i32,
    pub server_name: &'a str,
}

/// The certificate certctl issued that is exactly `der`, found by its serial (stored serials keep
/// their leading zeros; `serial_hex` is the DER INTEGER's bytes, which may add or drop one).
pub async fn find_issued(
    conn: &impl ConnectionTrait,
    serial_hex: &str,
    der: &[u8],
) -> Result<Option<CertificateId>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        id: CertificateId,
    }
    let trimmed = serial_hex.trim_start_matches("00");
    let candidates = vec![serial_hex.to_owned(), trimmed.to_owned(), format!("{trimmed:0>32}")];
    Ok(Row::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT id FROM certificates WHERE serial_hex = ANY($1) AND certificate_der = $2 LIMIT 1",
        [candidates.into(), der.to_vec().into()],
    ))
    .one(conn)
    .await?
    .map(|r| r.id))
}

/// Records a sighting: the certificate (new, or seen again: `last_seen_at`), linked to the
/// inventory as `managed` when certctl issued it, and the endpoint it was seen at. Returns
/// whether the certificate was new.
pub async fn record(
    conn: &impl ConnectionTrait,
    seen: &Seen,
    at: &SeenAt<'_>,
    issued: Option<CertificateId>,
) -> Result<bool, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        inserted: bool,
    }
    let row = Row::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "WITH cert AS ( \
           INSERT INTO discovered_certificates AS d (id, fingerprint_sha256, subject, common_name, sans, issuer, \
             serial_hex, not_before, not_after, key_algorithm, self_signed, certificate_pem, chain_pem, status, \
             certificate_id, first_seen_at, last_seen_at) \
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
             CASE WHEN $14::uuid IS NULL THEN 'unmanaged' ELSE 'managed' END, $14, now(), now()) \
           ON CONFLICT (fingerprint_sha256) DO UPDATE SET last_seen_at = now(), chain_pem = excluded.chain_pem, \
             certificate_id = coalesce(d.certificate_id, excluded.certificate_id), \
             status = CASE WHEN excluded.certificate_id IS NOT NULL AND d.status = 'unmanaged' THEN 'managed' \
                           ELSE d.status END \
           RETURNING id, (xmax = 0) AS inserted), \
         endpoint AS ( \
           INSERT INTO discovered_endpoints (discovered_id, address, port, server_name, target_id, first_seen_at, \
             last_seen_at) \
           SELECT id, $15, $16, $17, $18, now(), now() FROM cert \
           ON CONFLICT (discovered_id, address, port, server_name) \
             DO UPDATE SET last_seen_at = now(), target_id = excluded.target_id) \
         SELECT inserted FROM cert",
        [
            DiscoveredCertificateId::new().into(),
            seen.fingerprint_sha256.clone().into(),
            seen.subject.clone().into(),
            seen.common_name.clone().into(),
            seen.sans.clone().into(),
            seen.issuer.clone().into(),
            seen.serial_hex.clone().into(),
            seen.not_before.into(),
            seen.not_after.into(),
            seen.key_algorithm.clone().into(),
            seen.self_signed.into(),
            seen.certificate_pem.clone().into(),
            seen.chain_pem.clone().into(),
            issued.into(),
            at.address.clone().into(),
            at.port.into(),
            at.server_name.into(),
            at.target.into(),
        ],
    ))
    .one(conn)
    .await?;
    Ok(row.is_some_and(|r| r.inserted))
}

/// Filters of the discovered-certificates list, combined with AND.
#[derive(Clone, Debug, Default)]
pub struct DiscoveredFilter {
    pub status: Option<String>,
    /// Case-insensitive substring of the subject, the issuer or any SAN.
    pub search: Option<String>,
    pub expiring_before: Option<DateTime<Utc>>,
    /// Seen by this target.
    pub target: Option<ScanTargetId>,
}

/// One page, most recently discovered first.
pub async fn list(
    conn: &impl ConnectionTrait,
    filter: &DiscoveredFilter,
    cursor: Option<TimeCursor>,
    limit: u64,
) -> Result<Page<DiscoveredCertificate>, DbErr> {
    use discovered_certificate::Column as C;
    let mut cond = Condition::all();
    if let Some(s) = &filter.status {
        cond = cond.add(C::Status.eq(s.clone()));
    }
    if let Some(q) = &filter.search {
        let like = format!("%{}%", q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")).to_lowercase();
        cond = cond.add(Expr::cust_with_values(
            "(lower(subject) LIKE $1 OR lower(issuer) LIKE $1 OR EXISTS (SELECT 1 FROM unnest(sans) s WHERE lower(s) LIKE $1))",
            [like],
        ));
    }
    if let Some(t) = filter.expiring_before {
        cond = cond.add(C::NotAfter.lt(t));
    }
    if let Some(target) = filter.target {
        cond = cond.add(Expr::cust_with_values(
            "EXISTS (SELECT 1 FROM discovered_endpoints e WHERE e.discovered_id = discovered_certificates.id AND e.target_id = $1)",
            [target.0],
        ));
    }
    // Newest sighting first, by `first_seen_at`, which never moves under a cursor.
    super::newest_first(
        conn,
        Discovered::find().filter(cond),
        (C::FirstSeenAt, C::Id),
        cursor,
        limit,
        |d| TimeCursor {
            created_at: d.first_seen_at,
            id: d.id.into(),
        },
    )
    .await
}

pub async fn find(
    conn: &impl ConnectionTrait,
    id: DiscoveredCertificateId,
) -> Result<Option<DiscoveredCertificate>, DbErr> {
    Discovered::find_by_id(id).one(conn).await
}

/// Where a discovered certificate was seen.
#[derive(Clone, Debug, FromQueryResult)]
pub struct Endpoint {
    pub address: String,
    pub port: i32,
    pub server_name: String,
    pub target_id: Option<ScanTargetId>,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

pub async fn endpoints(conn: &impl ConnectionTrait, id: DiscoveredCertificateId) -> Result<Vec<Endpoint>, DbErr> {
    Endpoint::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT address, port, server_name, target_id, first_seen_at, last_seen_at FROM discovered_endpoints \
         WHERE discovered_id = $1 ORDER BY last_seen_at DESC, address, port",
        [id.into()],
    ))
    .all(conn)
    .await
}

/// Records an operator's decision (`claimed` or `dismissed`) on a certificate certctl did not
/// issue; returns the row as it now is, or `None` if it is not in `unmanaged`, `claimed` or
/// `dismissed`.
pub async fn decide(
    conn: &impl ConnectionTrait,
    id: DiscoveredCertificateId,
    status: &str,
    by: &str,
    note: Option<&str>,
) -> Result<Option<DiscoveredCertificate>, DbErr> {
    Discovered::find()
        .from_raw_sql(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE discovered_certificates SET status = $2, decided_by = $3, decided_at = now(), note = $4 \
             WHERE id = $1 AND status IN ('unmanaged', 'claimed', 'dismissed') RETURNING *",
            [id.into(), status.into(), by.into(), note.map(str::to_owned).into()],
        ))
        .one(conn)
        .await
}

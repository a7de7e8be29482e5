//! `certificates` queries.

use chrono::{DateTime, Utc};
use sea_orm::prelude::*;
use sea_orm::{Condition, ConnectionTrait, DbBackend, FromQueryResult, IntoActiveModel, QuerySelect, Statement};

use super::audit::NewAuditEvent;
use super::{Page, TimeCursor};
use crate::entities::certificate::{self, Entity as Certificates, Model as Certificate};
use crate::model::{CertificateId, IssuerId, NotificationId, ProfileId};
use crate::model::{CertificateStatus, EventType};

pub async fn insert(conn: &impl ConnectionTrait, row: Certificate) -> Result<Certificate, DbErr> {
    row.into_active_model().insert(conn).await
}

pub async fn find_by_id(conn: &impl ConnectionTrait, id: CertificateId) -> Result<Option<Certificate>, DbErr> {
    Certificates::find_by_id(id).one(conn).await
}

/// Locks the row for the rest of the transaction (revoke, renew and bulk revoke serialise on it).
pub async fn find_for_update(conn: &impl ConnectionTrait, id: CertificateId) -> Result<Option<Certificate>, DbErr> {
    Certificates::find_by_id(id).lock_exclusive().one(conn).await
}

/// Moves a certificate from `from` to `to`; returns the row as it now is, or `None` if it was
/// not in `from`.
pub async fn transition(
    conn: &impl ConnectionTrait,
    id: CertificateId,
    from: CertificateStatus,
    to: CertificateStatus,
    superseded_by: Option<CertificateId>,
) -> Result<Option<Certificate>, DbErr> {
    Certificates::find()
        .from_raw_sql(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE certificates SET status = $3, superseded_by_id = COALESCE($4, superseded_by_id) \
             WHERE id = $1 AND status = $2 RETURNING *",
            [
                id.into(),
                from.as_str().into(),
                to.as_str().into(),
                superseded_by.into(),
            ],
        ))
        .one(conn)
        .await
}

#[derive(Debug, Default, Clone)]
pub struct CertificateFilter {
    pub status: Option<CertificateStatus>,
    pub issuer_id: Option<IssuerId>,
    pub profile_id: Option<ProfileId>,
    pub common_name: Option<String>,
    /// Case-insensitive substring of the common name or of any SAN.
    pub search: Option<String>,
    pub expiring_before: Option<DateTime<Utc>>,
}

/// `text` as a `LIKE` pattern matching it anywhere, with `%`, `_` and `\` taken literally.
fn contains_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

impl CertificateFilter {
    fn condition(&self) -> Condition {
        let mut c = Condition::all();
        if let Some(s) = self.status {
            c = c.add(certificate::Column::Status.eq(s.as_str()));
        }
        if let Some(v) = self.issuer_id {
            c = c.add(certificate::Column::IssuerId.eq(v));
        }
        if let Some(v) = self.profile_id {
            c = c.add(certificate::Column::ProfileId.eq(v));
        }
        if let Some(v) = &self.common_name {
            c = c.add(certificate::Column::CommonName.eq(v.clone()));
        }
        if let Some(v) = &self.search {
            let pattern = contains_pattern(v);
            c = c.add(Expr::cust_with_values(
                "(common_name ILIKE $1 OR EXISTS (SELECT 1 FROM unnest(sans) AS san WHERE san ILIKE $1))",
                [pattern],
            ));
        }
        if let Some(v) = self.expiring_before {
            c = c.add(certificate::Column::NotAfter.lt(v));
        }
        c
    }
}

/// How a certificate list is ordered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CertificateOrder {
    /// Newest first (by creation).
    #[default]
    Newest,
    /// Soonest `not_after` first: the renewal queue.
    Expiry,
}

pub async fn list(
    conn: &impl ConnectionTrait,
    f: &CertificateFilter,
    order: CertificateOrder,
    cursor: Option<TimeCursor>,
    limit: u64,
) -> Result<Page<Certificate>, DbErr> {
    let query = Certificates::find().filter(f.condition());
    match order {
        CertificateOrder::Newest => {
            super::keyset(
                conn,
                query,
                (certificate::Column::CreatedAt, certificate::Column::Id),
                super::Direction::Descending,
                cursor,
                limit,
                |c| TimeCursor {
                    created_at: c.created_at,
                    id: c.id.into(),
                },
            )
            .await
        }
        CertificateOrder::Expiry => {
            super::keyset(
                conn,
                query,
                (certificate::Column::NotAfter, certificate::Column::Id),
                super::Direction::Ascending,
                cursor,
                limit,
                |c| TimeCursor {
                    created_at: c.not_after,
                    id: c.id.into(),
                },
            )
            .await
        }
    }
}

/// What [`insert_audited`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertOutcome {
    /// Stored, with the ids of the notifications it queued (to publish after commit).
    Inserted(Vec<NotificationId>),
    /// The public key was revoked for keyCompromise; nothing was written.
    KeyCompromised,
    /// The profile is no longer at the revision the certificate was built under; nothing was written.
    ProfileChanged,
    /// The principal already has a certificate under this idempotency key; nothing was written.
    DuplicateIdempotencyKey,
}

/// The index that makes an idempotency key unique per principal.
const IDEMPOTENCY_INDEX: &str = "certificates_idempotency_key";

/// The statement of [`insert_audited`], assembled once from the fragments each table's module
/// owns.
static INSERT_AUDITED_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH cert AS ( \
           INSERT INTO certificates (id, issuer_id, profile_id, serial_hex, common_name, sans, key_algorithm, \
             public_key_der, status, short_lived, not_before, not_after, certificate_der, certificate_pem, \
             renewed_from_id, superseded_by_id, job_id, requested_by, created_at, source, idempotency_key) \
           SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $32, $33 \
           WHERE NOT EXISTS (SELECT 1 FROM compromised_keys WHERE spki_sha256 = sha256($8)) \
             AND EXISTS (SELECT 1 FROM certificate_profiles WHERE id = $3 AND revision = $27) \
           RETURNING id), \
         audit AS ( \
           {audit} SELECT $20, $21, $22, $23, cert.id::text, $24, $25, $26, $30, $31, $19 FROM cert RETURNING seq), \
         ev AS ( \
           {events} SELECT gen_random_uuid(), $28, ch.id, cert.id, $29 \
           FROM cert CROSS JOIN notification_channels ch WHERE {subscribed} RETURNING id) \
         SELECT (SELECT count(*) FROM audit) AS inserted, ARRAY(SELECT id FROM ev) AS events",
        audit = super::audit::INSERT_INTO,
        events = super::notifications::INSERT_INTO,
        subscribed = super::notifications::subscribed("$28"),
    )
});

/// Inserts a certificate, its audit row and one notification per subscribed channel in one
/// statement (atomic without a transaction), unless its public key was revoked for keyCompromise,
/// its profile has moved past `profile_revision`, or its requester already used
/// `idempotency_key`.
pub async fn insert_audited(
    conn: &impl ConnectionTrait,
    c: &Certificate,
    profile_revision: i64,
    audit: NewAuditEvent,
    event_type: EventType,
    event_data: serde_json::Value,
    idempotency_key: Option<&str>,
) -> Result<InsertOutcome, DbErr> {
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            INSERT_AUDITED_SQL.as_str(),
            [
                c.id.into(),
                c.issuer_id.into(),
                c.profile_id.into(),
                c.serial_hex.clone().into(),
                c.common_name.clone().into(),
                c.sans.clone().into(),
                c.key_algorithm.clone().into(),
                c.public_key_der.clone().into(),
                c.status.into(),
                c.short_lived.into(),
                c.not_before.into(),
                c.not_after.into(),
                c.certificate_der.clone().into(),
                c.certificate_pem.clone().into(),
                c.renewed_from_id.into(),
                c.superseded_by_id.into(),
                c.job_id.into(),
                c.requested_by.clone().into(),
                c.created_at.into(),
                Uuid::now_v7().into(),
                audit.actor.into(),
                audit.action.into(),
                audit.resource_type.into(),
                audit.outcome.into(),
                audit.details.into(),
                audit.request_id.into(),
                profile_revision.into(),
                event_type.as_str().into(),
                super::notifications::envelope(event_type, event_data).into(),
                audit.key_id.into(),
                audit.protocol.into(),
                c.source.into(),
                idempotency_key.map(str::to_owned).into(),
            ],
        ))
        .await;
    let row = match row {
        Err(e) if crate::db::violated_constraint(&e).as_deref() == Some(IDEMPOTENCY_INDEX) => {
            return Ok(InsertOutcome::DuplicateIdempotencyKey);
        }
        other => other?.ok_or_else(|| DbErr::RecordNotFound("insert returned no row".into()))?,
    };
    if row.try_get::<i64>("", "inserted")? > 0 {
        let events: Vec<Uuid> = row.try_get("", "events")?;
        return Ok(InsertOutcome::Inserted(
            events.into_iter().map(NotificationId).collect(),
        ));
    }
    // Nothing written: say why (a rare path, so a second query is fine).
    let why = conn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT EXISTS (SELECT 1 FROM compromised_keys WHERE spki_sha256 = sha256($1)) AS compromised",
            [c.public_key_der.clone().into()],
        ))
        .await?;
    let compromised = why
        .map(|r| r.try_get::<bool>("", "compromised"))
        .transpose()?
        .unwrap_or(false);
    Ok(if compromised {
        InsertOutcome::KeyCompromised
    } else {
        InsertOutcome::ProfileChanged
    })
}

/// The certificate `requested_by` stored under `idempotency_key`, if any.
pub async fn find_by_idempotency_key(
    conn: &impl ConnectionTrait,
    requested_by: &str,
    idempotency_key: &str,
) -> Result<Option<Certificate>, DbErr> {
    Certificates::find()
        .filter(certificate::Column::RequestedBy.eq(requested_by))
        .filter(Expr::cust_with_values("idempotency_key = $1", [idempotency_key]))
        .one(conn)
        .await
}

/// Records the keys of these certificates as compromised (revoked for keyCompromise).
pub async fn record_compromised_keys(conn: &impl ConnectionTrait, ids: &[CertificateId]) -> Result<(), DbErr> {
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO compromised_keys (spki_sha256, certificate_id) \
         SELECT sha256(public_key_der), id FROM certificates WHERE id = ANY($1) ON CONFLICT DO NOTHING",
        [ids.to_vec().into()],
    ))
    .await?;
    Ok(())
}

#[derive(Debug, FromQueryResult)]
struct StatusCount {
    status: String,
    n: i64,
}

/// Certificate counts by stored status, plus active ones expiring before `soon`.
pub async fn counts(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
    soon: DateTime<Utc>,
) -> Result<(Vec<(String, i64)>, i64, i64), DbErr> {
    let rows = StatusCount::find_by_statement(Statement::from_string(
        DbBackend::Postgres,
        "SELECT status, count(*) AS n FROM certificates GROUP BY status",
    ))
    .all(conn)
    .await?;
    #[derive(FromQueryResult)]
    struct Expiry {
        expiring: i64,
        expired: i64,
    }
    let e = Expiry::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT count(*) FILTER (WHERE not_after >= $1 AND not_after < $2) AS expiring, \
                count(*) FILTER (WHERE not_after < $1) AS expired \
         FROM certificates WHERE status = 'active'",
        [now.into(), soon.into()],
    ))
    .one(conn)
    .await?
    .unwrap_or(Expiry {
        expiring: 0,
        expired: 0,
    });
    Ok((
        rows.into_iter().map(|r| (r.status, r.n)).collect(),
        e.expiring,
        e.expired,
    ))
}

/// Which certificates a bulk revocation covers: all given criteria at once.
#[derive(Debug, Default, Clone)]
pub struct BulkFilter {
    pub issuer_id: Option<IssuerId>,
    pub profile_id: Option<ProfileId>,
    pub ids: Option<Vec<CertificateId>>,
}

/// What a bulk revocation did, every figure from the same statement and so the same snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkRevoked {
    /// Certificates matching the criteria, in any state.
    pub matched: u64,
    /// Newly revoked by this statement.
    pub revoked: Vec<CertificateId>,
    /// Matched but already revoked.
    pub skipped: u64,
    /// Listed ids that match no certificate.
    pub not_found: Vec<CertificateId>,
}

/// Revokes every certificate matching `f` in one statement: locks the matching rows, records a
/// revocation for each not yet revoked, marks them revoked, and counts. Certificates issued while
/// it runs are neither matched nor revoked, so the counts always add up.
pub async fn bulk_revoke(
    conn: &impl ConnectionTrait,
    f: &BulkFilter,
    reason: crate::model::RevocationReason,
    revoked_by: &str,
) -> Result<BulkRevoked, DbErr> {
    let mut values: Vec<sea_orm::Value> = vec![
        reason.as_str().into(),
        reason.code().into(),
        revoked_by.into(),
        f.ids.clone().unwrap_or_default().into(),
    ];
    let mut clauses: Vec<String> = Vec::new();
    if let Some(v) = f.issuer_id {
        values.push(v.into());
        clauses.push(format!("issuer_id = ${}", values.len()));
    }
    if let Some(v) = f.profile_id {
        values.push(v.into());
        clauses.push(format!("profile_id = ${}", values.len()));
    }
    if f.ids.is_some() {
        clauses.push("id = ANY($4)".to_owned());
    }
    if clauses.is_empty() {
        // Never "everything": the caller checks, and so does this.
        return Err(DbErr::Custom("bulk revocation needs at least one criterion".into()));
    }
    let sql = format!(
        "WITH matched AS ( \
           SELECT id, issuer_id, serial_hex, status FROM certificates WHERE {filter} ORDER BY id FOR UPDATE), \
         ins AS ( \
           INSERT INTO certificate_revocations (id, certificate_id, issuer_id, serial_hex, reason, reason_code, revoked_at, revoked_by) \
           SELECT gen_random_uuid(), id, issuer_id, serial_hex, $1, $2, now(), $3 FROM matched WHERE status <> 'revoked' \
           ON CONFLICT DO NOTHING RETURNING certificate_id), \
         upd AS ( \
           UPDATE certificates SET status = 'revoked' FROM ins WHERE certificates.id = ins.certificate_id \
           RETURNING certificates.id) \
         SELECT (SELECT count(*) FROM matched) AS matched, \
                (SELECT count(*) FROM matched) - (SELECT count(*) FROM upd) AS skipped, \
                ARRAY(SELECT id FROM upd ORDER BY id) AS revoked, \
                ARRAY(SELECT DISTINCT u FROM unnest($4::uuid[]) AS u WHERE NOT EXISTS (SELECT 1 FROM matched m WHERE m.id = u)) AS not_found",
        filter = clauses.join(" AND ")
    );
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(DbBackend::Postgres, sql, values))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("bulk revocation returned no row".into()))?;
    let count = |col: &str| -> Result<u64, DbErr> {
        let n: i64 = row.try_get("", col)?;
        u64::try_from(n).map_err(|_| DbErr::Custom(format!("bulk revocation counted {n} {col}")))
    };
    let ids = |col: &str| -> Result<Vec<CertificateId>, DbErr> {
        Ok(row
            .try_get::<Vec<Uuid>>("", col)?
            .into_iter()
            .map(CertificateId)
            .collect())
    };
    Ok(BulkRevoked {
        matched: count("matched")?,
        skipped: count("skipped")?,
        revoked: ids("revoked")?,
        not_found: ids("not_found")?,
    })
}

/// The certificate `issuer_id` issued with this serial (lowercase hex, as stored).
pub async fn find_by_serial(
    conn: &impl ConnectionTrait,
    issuer_id: IssuerId,
    serial_hex: &str,
) -> Result<Option<Certificate>, DbErr> {
    Certificates::find()
        .filter(certificate::Column::IssuerId.eq(issuer_id))
        .filter(certificate::Column::SerialHex.eq(serial_hex))
        .one(conn)
        .await
}

#[cfg(test)]
mod tests {
    use super::contains_pattern;

    #[test]
    fn search_text_is_matched_literally() {
        assert_eq!(contains_pattern("api.example"), "%api.example%");
        assert_eq!(contains_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}

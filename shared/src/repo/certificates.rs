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

/// Moves a certificate from any of `from` to `to`; returns the row as it now is, or `None` if it
/// was in none of them. A certificate that stops being live has no renewal window any more.
pub async fn transition(
    conn: &impl ConnectionTrait,
    id: CertificateId,
    from: &[CertificateStatus],
    to: CertificateStatus,
    superseded_by: Option<CertificateId>,
) -> Result<Option<Certificate>, DbErr> {
    let from: Vec<String> = from.iter().map(|s| s.as_str().to_owned()).collect();
    Certificates::find()
        .from_raw_sql(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE certificates SET status = $3, superseded_by_id = COALESCE($4, superseded_by_id), \
               renew_after = CASE WHEN $3 IN ('renewed', 'revoked', 'expired') THEN NULL ELSE renew_after END \
             WHERE id = $1 AND status = ANY($2) RETURNING *",
            [id.into(), from.into(), to.as_str().into(), superseded_by.into()],
        ))
        .one(conn)
        .await
}

#[derive(Debug, Default, Clone)]
pub struct CertificateFilter {
    /// Any of these states; every state when empty.
    pub status: Vec<CertificateStatus>,
    pub issuer_id: Option<IssuerId>,
    pub profile_id: Option<ProfileId>,
    pub common_name: Option<String>,
    /// The serial as stored (lowercase hex, 32 digits), or the same number without its leading
    /// zeros, as `openssl x509 -serial` prints it.
    pub serial_hex: Option<String>,
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
        if !self.status.is_empty() {
            c = c.add(certificate::Column::Status.is_in(self.status.iter().map(|s| s.as_str())));
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
        if let Some(v) = &self.serial_hex {
            let padded = format!("{v:0>32}");
            c = c.add(certificate::Column::SerialHex.is_in([v.clone(), padded]));
        }
        if let Some(v) = &self.search {
            let pattern = contains_pattern(v);
            // The first test is the trigram index's (`idx_certificates_search`, over the name and
            // the SANs joined by newlines): it finds the candidates without reading the table. The
            // second is the definition, and drops a match that spans two names.
            c = c.add(Expr::cust_with_values(
                "(certctl_search_text(common_name, sans) ILIKE $1 \
                  AND (common_name ILIKE $1 OR EXISTS (SELECT 1 FROM unnest(sans) AS san WHERE san ILIKE $1)))",
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
    let (columns, direction, key): (_, _, fn(&Certificate) -> TimeCursor) = match order {
        CertificateOrder::Newest => (
            (certificate::Column::CreatedAt, certificate::Column::Id),
            super::Direction::Descending,
            |c| TimeCursor {
                created_at: c.created_at,
                id: c.id.into(),
            },
        ),
        CertificateOrder::Expiry => (
            (certificate::Column::NotAfter, certificate::Column::Id),
            super::Direction::Ascending,
            |c| TimeCursor {
                created_at: c.not_after,
                id: c.id.into(),
            },
        ),
    };
    let query = Certificates::find().filter(f.condition());
    if f.status.len() <= 1 {
        return super::keyset(conn, query, columns, direction, cursor, limit, key).await;
    }
    // Several states: a page of each from its own range of the `(status, …)` index, merged here.
    // One query over all of them would read and sort every match before the first row (about
    // half a second over a million certificates; docs/benchmarks.md).
    let mut items = Vec::new();
    let mut more = false;
    for status in &f.status {
        let one = CertificateFilter {
            status: vec![*status],
            ..f.clone()
        };
        let branch = Certificates::find().filter(one.condition());
        let (rows, next) = super::keyset_rows(conn, branch, columns, direction, cursor, limit, key).await?;
        more |= next.is_some();
        items.extend(rows);
    }
    items.sort_by(|a, b| {
        let (a, b) = (key(a), key(b));
        let ascending = (a.created_at, a.id).cmp(&(b.created_at, b.id));
        match direction {
            super::Direction::Ascending => ascending,
            super::Direction::Descending => ascending.reverse(),
        }
    });
    if items.len() as u64 > limit {
        items.truncate(limit as usize);
        more = true;
    }
    let next_cursor = if more {
        items.last().map(|c| key(c).encode())
    } else {
        None
    };
    let total = super::page_total(conn, &query, cursor.is_none(), items.len(), next_cursor.is_some()).await?;
    Ok(Page {
        items,
        next_cursor,
        total,
    })
}

/// What [`insert_audited`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertOutcome {
    /// Stored, with the ids of the notifications it queued (to publish after commit) and the
    /// renewal window the statement computed (`None` for a certificate that never renews).
    Inserted {
        notifications: Vec<NotificationId>,
        renew_after: Option<DateTime<Utc>>,
    },
    /// The public key was revoked for keyCompromise; nothing was written.
    KeyCompromised,
    /// The profile is no longer at the revision the certificate was built under; nothing was written.
    ProfileChanged,
    /// The principal already has a certificate under this idempotency key; nothing was written.
    DuplicateIdempotencyKey,
    /// The issuer is disabled; nothing was written.
    IssuerDisabled,
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
             renewed_from_id, superseded_by_id, job_id, requested_by, created_at, source, idempotency_key, \
             renewal_policy_id, key_generated, renew_after) \
           SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $32, $33, \
             $34, $35, certctl_window(rp.renew_before_seconds, rp.renew_at_fraction, $11, $12) \
           FROM certificate_profiles pr \
             JOIN renewal_policies rp ON rp.id = coalesce($34, pr.renewal_policy_id, $36) \
           WHERE pr.id = $3 AND pr.revision = $27 \
             AND NOT EXISTS (SELECT 1 FROM compromised_keys WHERE spki_sha256 = sha256($8)) \
             AND NOT EXISTS (SELECT 1 FROM issuers WHERE id = $2 AND disabled_at IS NOT NULL) \
           RETURNING id, renew_after), \
         audit AS ( \
           {audit} SELECT $20, $21, $22, $23, cert.id::text, $24, $25, $26, $30, $31, $19 FROM cert RETURNING seq), \
         ev AS ( \
           {events} SELECT gen_random_uuid(), $28, ch.id, cert.id, $29 \
           FROM cert CROSS JOIN notification_channels ch WHERE {subscribed} RETURNING id) \
         SELECT (SELECT count(*) FROM audit) AS inserted, ARRAY(SELECT id FROM ev) AS events, \
           (SELECT renew_after FROM cert) AS renew_after",
        audit = super::audit::INSERT_INTO,
        events = super::notifications::INSERT_INTO,
        subscribed = super::notifications::subscribed("$28"),
    )
});

/// Inserts a certificate, its audit row and one notification per subscribed channel in one
/// statement (atomic without a transaction), unless its public key was revoked for keyCompromise,
/// its profile has moved past `profile_revision`, its issuer is disabled, or its requester
/// already used `idempotency_key`.
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
                c.renewal_policy_id.into(),
                c.key_generated.into(),
                super::renewal::DEFAULT_POLICY.into(),
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
        return Ok(InsertOutcome::Inserted {
            notifications: events.into_iter().map(NotificationId).collect(),
            renew_after: row.try_get("", "renew_after")?,
        });
    }
    // Nothing written: say why (a rare path, so a second query is fine).
    let why = conn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT EXISTS (SELECT 1 FROM compromised_keys WHERE spki_sha256 = sha256($1)) AS compromised, \
               EXISTS (SELECT 1 FROM issuers WHERE id = $2 AND disabled_at IS NOT NULL) AS disabled",
            [c.public_key_der.clone().into(), c.issuer_id.into()],
        ))
        .await?;
    let flag = |name: &str| -> Result<bool, DbErr> {
        Ok(why
            .as_ref()
            .map(|r| r.try_get::<bool>("", name))
            .transpose()?
            .unwrap_or(false))
    };
    Ok(if flag("compromised")? {
        InsertOutcome::KeyCompromised
    } else if flag("disabled")? {
        InsertOutcome::IssuerDisabled
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

/// Certificate counts, as the dashboard shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// By stored status.
    pub by_status: Vec<(String, i64)>,
    /// Live (active, expiring or being renewed), with `now <= not_after < soon`.
    pub expiring: i64,
    /// Live, with `not_after < now` (not yet marked `expired` by the renewal loop).
    pub expired: i64,
}

/// The summary's statement: the maintained tally (`certificate_tally` plus the changes not yet
/// folded into it) for whole hours, and the certificates themselves for the two partial hours at
/// the window's edges (a few thousand rows at most, read from the `(status, not_after)` index).
/// One statement, so one snapshot: exact. `$1`, `$2` are `now` and `soon`; `$3`, `$4` the hours
/// (since the epoch) they fall in.
const COUNTS_SQL: &str = "\
    WITH tally AS ( \
        SELECT status, expiry_hour, n FROM certificate_tally \
        UNION ALL SELECT status, expiry_hour, n FROM certificate_tally_changes), \
    edge AS ( \
        SELECT count(*) FILTER (WHERE not_after < $1) AS expired, \
               count(*) FILTER (WHERE not_after >= $1 AND (not_after < $2 OR $4 > $3)) AS expiring_now \
        FROM certificates \
        WHERE status IN ('active', 'expiring', 'renewal_in_progress') AND not_after >= to_timestamp($3 * 3600) AND not_after < to_timestamp(($3 + 1) * 3600)), \
    edge_soon AS ( \
        SELECT count(*) AS expiring FROM certificates \
        WHERE status IN ('active', 'expiring', 'renewal_in_progress') AND $4 > $3 \
          AND not_after >= to_timestamp($4 * 3600) AND not_after < $2) \
    SELECT status, sum(n)::bigint AS n, \
           coalesce(sum(n) FILTER (WHERE status IN ('active', 'expiring', 'renewal_in_progress') AND expiry_hour < $3), 0)::bigint AS expired, \
           coalesce(sum(n) FILTER (WHERE expiry_hour > $3 AND expiry_hour < $4), 0)::bigint \
             AS expiring, \
           (SELECT expired FROM edge) AS edge_expired, \
           (SELECT expiring_now FROM edge) + (SELECT expiring FROM edge_soon) AS edge_expiring \
    FROM tally GROUP BY status";

#[derive(Debug, FromQueryResult)]
struct CountRow {
    status: String,
    n: i64,
    expired: i64,
    expiring: i64,
    edge_expired: i64,
    edge_expiring: i64,
}

/// Hours since the Unix epoch, the tally's buckets.
fn epoch_hour(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(3600)
}

/// Certificate counts by stored status, plus live ones expiring before `soon` and live ones
/// already past `not_after` at `now`, from the maintained tally: the cost does not grow with the number
/// of certificates. `soon` must not be before `now`.
pub async fn counts(conn: &impl ConnectionTrait, now: DateTime<Utc>, soon: DateTime<Utc>) -> Result<Counts, DbErr> {
    let rows = CountRow::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        COUNTS_SQL,
        [now.into(), soon.into(), epoch_hour(now).into(), epoch_hour(soon).into()],
    ))
    .all(conn)
    .await?;
    let mut counts = Counts::default();
    // Every row carries the same edge counts (with no rows there are no certificates).
    let mut edges = (0, 0);
    for r in rows {
        counts.expired += r.expired;
        counts.expiring += r.expiring;
        edges = (r.edge_expired, r.edge_expiring);
        if r.n != 0 {
            counts.by_status.push((r.status, r.n));
        }
    }
    counts.expired += edges.0;
    counts.expiring += edges.1;
    Ok(counts)
}

/// Folds the tally's pending changes into it (at most `batch` of them, oldest first) and merges
/// the hours that ended more than an hour ago into hour 0; returns how many changes it folded. Safe to run from
/// several workers at once: a change is deleted, and so counted, by exactly one of them.
pub async fn fold_tally(conn: &impl ConnectionTrait, now: DateTime<Utc>, batch: u64) -> Result<u64, DbErr> {
    #[derive(FromQueryResult)]
    struct Folded {
        folded: i64,
    }
    let folded = Folded::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "WITH moved AS ( \
             DELETE FROM certificate_tally_changes \
             WHERE id IN (SELECT id FROM certificate_tally_changes ORDER BY id LIMIT $1) \
             RETURNING status, expiry_hour, n), \
         sums AS ( \
             SELECT status, CASE WHEN expiry_hour < $2 THEN 0 ELSE expiry_hour END AS expiry_hour, sum(n) AS n \
             FROM moved GROUP BY 1, 2), \
         upserted AS ( \
             INSERT INTO certificate_tally AS t (status, expiry_hour, n) SELECT status, expiry_hour, n FROM sums \
             ON CONFLICT (status, expiry_hour) DO UPDATE SET n = t.n + excluded.n) \
         SELECT count(*) AS folded FROM moved",
        [(batch as i64).into(), (epoch_hour(now) - 1).into()],
    ))
    .one(conn)
    .await?
    .map_or(0, |f| f.folded);
    // Hours more than an hour past: one row for all of them, so the tally stays a row per future hour
    // however long the history. (An hour's margin, so a reader whose clock is behind ours never
    // sees its current hour merged.) Then the rows that count nothing.
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "WITH old AS ( \
             DELETE FROM certificate_tally WHERE expiry_hour <> 0 AND expiry_hour < $1 RETURNING status, n) \
         INSERT INTO certificate_tally AS t (status, expiry_hour, n) \
         SELECT status, 0, sum(n) FROM old GROUP BY status \
         ON CONFLICT (status, expiry_hour) DO UPDATE SET n = t.n + excluded.n",
        [(epoch_hour(now) - 1).into()],
    ))
    .await?;
    conn.execute_unprepared("DELETE FROM certificate_tally WHERE n = 0")
        .await?;
    Ok(u64::try_from(folded).unwrap_or(0))
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
           UPDATE certificates SET status = 'revoked', renew_after = NULL FROM ins WHERE certificates.id = ins.certificate_id \
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

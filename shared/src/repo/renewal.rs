//! `renewal_policies`, certificates' renewal windows and states, and the claims of the worker's
//! renewal loop.

use sea_orm::prelude::*;
use sea_orm::{DbBackend, FromQueryResult, IntoActiveModel, QueryOrder, Statement};

use crate::entities::job::{Entity as Jobs, Model as Job};
use crate::entities::renewal_policy::{self, Entity as Policies, Model as Policy};
use crate::model::{ApiKeyId, CertificateId, CertificateSource, JobId, ProfileId, RenewalPolicyId};

/// The built-in policy (`default`), created by the migration: used wherever no other is set.
pub const DEFAULT_POLICY: RenewalPolicyId = RenewalPolicyId(uuid::Uuid::from_u128(1));

pub async fn insert(conn: &impl ConnectionTrait, row: Policy) -> Result<Policy, DbErr> {
    row.into_active_model().insert(conn).await
}

pub async fn find_by_id(conn: &impl ConnectionTrait, id: RenewalPolicyId) -> Result<Option<Policy>, DbErr> {
    Policies::find_by_id(id).one(conn).await
}

pub async fn list(conn: &impl ConnectionTrait) -> Result<Vec<Policy>, DbErr> {
    Policies::find()
        .order_by_asc(renewal_policy::Column::Name)
        .all(conn)
        .await
}

/// Replaces every writable field (PUT semantics).
pub async fn replace(conn: &impl ConnectionTrait, row: Policy) -> Result<Policy, DbErr> {
    let mut model = row.into_active_model();
    model.created_at = sea_orm::ActiveValue::NotSet;
    model.updated_at = sea_orm::ActiveValue::Set(chrono::Utc::now());
    for column in [
        renewal_policy::Column::Name,
        renewal_policy::Column::RenewBeforeSeconds,
        renewal_policy::Column::RenewAtFraction,
        renewal_policy::Column::AutoRenew,
        renewal_policy::Column::RotateKey,
        renewal_policy::Column::MaxAttempts,
        renewal_policy::Column::RetryIntervalSeconds,
        renewal_policy::Column::WarningDays,
        renewal_policy::Column::ChannelIds,
    ] {
        model.reset(column);
    }
    model.update(conn).await
}

/// Deletes a policy no profile or certificate names; returns whether it existed. One that is
/// still named fails with the foreign key's violation.
pub async fn delete(conn: &impl ConnectionTrait, id: RenewalPolicyId) -> Result<bool, DbErr> {
    Ok(Policies::delete_by_id(id).exec(conn).await?.rows_affected > 0)
}

/// Which certificates' windows to recompute.
#[derive(Clone, Copy, Debug)]
pub enum Scope {
    /// Those that follow this policy (their own, their profile's, or the built-in one).
    Policy(RenewalPolicyId),
    /// Those of this profile without a policy of their own.
    Profile(ProfileId),
    Certificate(CertificateId),
}

/// Recomputes the renewal window of the live certificates in `scope` after their policy
/// changed, and puts `expiring` ones back to `active`, for the renewal loop to look at again
/// under the policy as it now is (renewing them if it now renews automatically). Returns how
/// many certificates it touched.
pub async fn recompute_windows(conn: &impl ConnectionTrait, scope: Scope) -> Result<u64, DbErr> {
    let (filter, id): (&str, Uuid) = match scope {
        Scope::Policy(id) => (
            "(c.renewal_policy_id = $1 OR (c.renewal_policy_id IS NULL AND \
               coalesce((SELECT p.renewal_policy_id FROM certificate_profiles p WHERE p.id = c.profile_id), $2) = $1))",
            id.0,
        ),
        Scope::Profile(id) => ("c.profile_id = $1 AND c.renewal_policy_id IS NULL", id.0),
        Scope::Certificate(id) => ("c.id = $1", id.0),
    };
    let res = conn
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "UPDATE certificates c SET \
                   renew_after = certctl_renew_after(c.renewal_policy_id, c.profile_id, c.not_before, c.not_after), \
                   status = 'active' \
                 WHERE c.status IN ('active', 'expiring') AND {filter}"
            ),
            [id.into(), DEFAULT_POLICY.0.into()],
        ))
        .await?;
    Ok(res.rows_affected())
}

/// Sets (or with `None`, clears) a certificate's own policy; returns whether it exists.
pub async fn set_certificate_policy(
    conn: &impl ConnectionTrait,
    id: CertificateId,
    policy: Option<RenewalPolicyId>,
) -> Result<bool, DbErr> {
    let res = conn
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE certificates SET renewal_policy_id = $2 WHERE id = $1",
            [id.into(), policy.into()],
        ))
        .await?;
    Ok(res.rows_affected() > 0)
}

/// Marks up to `limit` certificates past `not_after` `expired` (rows other workers hold are left
/// for them); returns how many.
pub async fn mark_expired(conn: &impl ConnectionTrait, limit: u64) -> Result<u64, DbErr> {
    let res = conn
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE certificates SET status = 'expired', renew_after = NULL WHERE id IN ( \
               SELECT id FROM certificates \
               WHERE status IN ('active', 'expiring', 'renewal_in_progress') AND not_after <= now() \
               ORDER BY not_after LIMIT $1 FOR UPDATE SKIP LOCKED)",
            [(limit as i64).into()],
        ))
        .await?;
    Ok(res.rows_affected())
}

/// An `active` certificate whose renewal window has opened, claimed (locked) by this
/// transaction, with the policy that applies to it.
#[derive(Debug, Clone, FromQueryResult)]
pub struct Due {
    pub id: CertificateId,
    pub issuer_id: crate::model::IssuerId,
    pub profile_id: ProfileId,
    pub common_name: String,
    pub serial_hex: String,
    pub key_algorithm: String,
    pub key_generated: bool,
    pub source: CertificateSource,
    pub not_after: chrono::DateTime<chrono::Utc>,
    pub policy_id: RenewalPolicyId,
    pub auto_renew: bool,
    pub rotate_key: bool,
    pub channel_ids: Option<Vec<Uuid>>,
}

/// Claims up to `limit` active certificates whose window has opened, soonest first; rows other
/// workers hold are skipped, so no certificate is claimed twice.
pub async fn claim_due(conn: &impl ConnectionTrait, limit: u64) -> Result<Vec<Due>, DbErr> {
    Due::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "WITH due AS ( \
           SELECT id, issuer_id, profile_id, common_name, serial_hex, key_algorithm, key_generated, source, \
                  not_after, renewal_policy_id \
           FROM certificates WHERE status = 'active' AND renew_after <= now() \
           ORDER BY renew_after LIMIT $1 FOR UPDATE SKIP LOCKED) \
         SELECT d.id, d.issuer_id, d.profile_id, d.common_name, d.serial_hex, d.key_algorithm, d.key_generated, \
                d.source, d.not_after, rp.id AS policy_id, rp.auto_renew, rp.rotate_key, rp.channel_ids \
         FROM due d \
         JOIN renewal_policies rp ON rp.id = coalesce(d.renewal_policy_id, \
           (SELECT p.renewal_policy_id FROM certificate_profiles p WHERE p.id = d.profile_id), $2)",
        [(limit as i64).into(), DEFAULT_POLICY.0.into()],
    ))
    .all(conn)
    .await
}

/// Locks a certificate for this transaction if nobody else holds it; `None` if someone does (or
/// it does not exist).
pub async fn lock_certificate_if_free(
    conn: &impl ConnectionTrait,
    id: CertificateId,
) -> Result<Option<crate::entities::certificate::Model>, DbErr> {
    crate::entities::certificate::Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT * FROM certificates WHERE id = $1 FOR UPDATE SKIP LOCKED",
            [id.into()],
        ))
        .one(conn)
        .await
}

/// Puts a pending job off by `by`, without counting an attempt.
pub async fn postpone_job(conn: &impl ConnectionTrait, id: JobId, by: chrono::Duration) -> Result<(), DbErr> {
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE jobs SET next_attempt_at = now() + make_interval(secs => $2) WHERE id = $1 AND status = 'pending'",
        [id.into(), (by.num_milliseconds() as f64 / 1000.0).into()],
    ))
    .await?;
    Ok(())
}

/// The policy that applies to a certificate.
pub async fn policy_of(conn: &impl ConnectionTrait, id: CertificateId) -> Result<Option<Policy>, DbErr> {
    Policies::find()
        .from_raw_sql(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT rp.* FROM certificates c JOIN renewal_policies rp ON rp.id = coalesce(c.renewal_policy_id, \
               (SELECT p.renewal_policy_id FROM certificate_profiles p WHERE p.id = c.profile_id), $2) \
             WHERE c.id = $1",
            [id.into(), DEFAULT_POLICY.0.into()],
        ))
        .one(conn)
        .await
}

/// Claims the pending renewal job that has waited longest past its time, if any (locked by this
/// transaction; jobs other workers hold are skipped).
pub async fn claim_due_job(conn: &impl ConnectionTrait) -> Result<Option<Job>, DbErr> {
    Jobs::find()
        .from_raw_sql(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT * FROM jobs WHERE id = ( \
               SELECT id FROM jobs WHERE status = 'pending' AND next_attempt_at <= now() \
               ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED) \
             FOR UPDATE",
            [],
        ))
        .one(conn)
        .await
}

/// Moves a job between states, recording what happened; returns the row as it now is, or `None`
/// if it was not in `from`. `certificate_id` and `error` are written as given; the sealed key is
/// erased when the job ends without issuing.
pub struct JobUpdate<'a> {
    pub status: crate::model::JobStatus,
    pub certificate_id: Option<CertificateId>,
    pub error: Option<&'a str>,
    pub attempts: i32,
    pub next_attempt_at: Option<chrono::DateTime<chrono::Utc>>,
    pub request: Option<serde_json::Value>,
}

pub async fn update_job(
    conn: &impl ConnectionTrait,
    id: JobId,
    from: &[crate::model::JobStatus],
    u: JobUpdate<'_>,
) -> Result<Option<Job>, DbErr> {
    let from: Vec<String> = from.iter().map(|s| s.as_str().to_owned()).collect();
    Jobs::find()
        .from_raw_sql(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE jobs SET status = $2, certificate_id = coalesce($3, certificate_id), error = $4, attempts = $5, \
               next_attempt_at = $6, request = coalesce($7, request), updated_at = now(), \
               private_key_ciphertext = CASE WHEN $2 IN ('failed', 'rejected', 'cancelled') THEN NULL \
                                             ELSE private_key_ciphertext END \
             WHERE id = $1 AND status = ANY($8) RETURNING *",
            [
                id.into(),
                u.status.as_str().into(),
                u.certificate_id.into(),
                u.error.map(str::to_owned).into(),
                u.attempts.into(),
                u.next_attempt_at.into(),
                u.request.into(),
                from.into(),
            ],
        ))
        .one(conn)
        .await
}

/// Cancels the open automatic renewals of certificates that were revoked or renewed by other
/// means (other than `except`, the job doing the renewing), erasing any sealed key.
pub async fn cancel_open_renewals(
    conn: &impl ConnectionTrait,
    certificates: &[CertificateId],
    except: Option<JobId>,
    why: &str,
) -> Result<u64, DbErr> {
    let res = conn
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE jobs SET status = 'cancelled', error = $3, private_key_ciphertext = NULL, updated_at = now() \
             WHERE renews_certificate_id = ANY($1) AND status IN ('pending', 'awaiting_csr', 'awaiting_approval') \
               AND id IS DISTINCT FROM $2",
            [certificates.to_vec().into(), except.into(), why.into()],
        ))
        .await?;
    Ok(res.rows_affected())
}

/// Erases the rotated keys waiting to be collected with `certificates`, which were revoked:
/// nobody should install a key for a revoked certificate.
pub async fn erase_keys_of(conn: &impl ConnectionTrait, certificates: &[CertificateId]) -> Result<(), DbErr> {
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE jobs SET private_key_ciphertext = NULL, updated_at = now() \
         WHERE certificate_id = ANY($1) AND private_key_ciphertext IS NOT NULL",
        [certificates.to_vec().into()],
    ))
    .await?;
    Ok(())
}

/// Who a certificate belongs to: see [`owner_of`].
#[derive(Debug, Clone, FromQueryResult)]
pub struct Owner {
    pub principal: String,
    /// The key that filed the approval job the owner's certificate was issued through; `None`
    /// when it was issued without one (no approval) or before jobs recorded keys.
    pub key_id: Option<ApiKeyId>,
}

/// Who a certificate belongs to: the nearest principal other than certctl itself (`system:…`)
/// that requested it or one of the certificates it renews, with the requesting key where known.
pub async fn owner_of(conn: &impl ConnectionTrait, certificate: CertificateId) -> Result<Option<Owner>, DbErr> {
    Owner::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "WITH RECURSIVE chain AS ( \
           SELECT id, renewed_from_id, requested_by, job_id, 0 AS depth FROM certificates WHERE id = $1 \
           UNION ALL \
           SELECT c.id, c.renewed_from_id, c.requested_by, c.job_id, chain.depth + 1 FROM certificates c \
           JOIN chain ON c.id = chain.renewed_from_id WHERE chain.depth < 10000) \
         SELECT chain.requested_by AS principal, j.requested_by_key_id AS key_id \
         FROM chain LEFT JOIN jobs j ON j.id = chain.job_id \
         WHERE chain.requested_by NOT LIKE 'system:%' ORDER BY chain.depth LIMIT 1",
        [certificate.into()],
    ))
    .one(conn)
    .await
}

/// Keeps a rotated key, sealed, on its job until it is collected.
pub async fn store_key(conn: &impl ConnectionTrait, id: JobId, sealed: &[u8]) -> Result<(), DbErr> {
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE jobs SET private_key_ciphertext = $2, updated_at = now() WHERE id = $1",
        [id.into(), sealed.to_vec().into()],
    ))
    .await?;
    Ok(())
}

/// Erases a job's sealed key once it has been handed out, stamping when.
pub async fn erase_key(conn: &impl ConnectionTrait, id: JobId) -> Result<(), DbErr> {
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE jobs SET private_key_ciphertext = NULL, key_retrieved_at = now(), updated_at = now() WHERE id = $1",
        [id.into()],
    ))
    .await?;
    Ok(())
}

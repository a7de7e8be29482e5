//! `jobs` queries.

use chrono::Utc;
use sea_orm::prelude::*;
use sea_orm::{ConnectionTrait, DbBackend, IntoActiveModel, QuerySelect, Statement};

use super::{Page, TimeCursor};
use crate::entities::job::{self, Entity as Jobs, Model as Job};
use crate::model::JobStatus;
use crate::model::{CertificateId, JobId};

pub async fn insert(conn: &impl ConnectionTrait, row: Job) -> Result<Job, DbErr> {
    row.into_active_model().insert(conn).await
}

pub async fn find_by_id(conn: &impl ConnectionTrait, id: JobId) -> Result<Option<Job>, DbErr> {
    Jobs::find_by_id(id).one(conn).await
}

/// Locks the job row for the rest of the transaction, so two concurrent decisions serialise.
pub async fn find_for_update(conn: &impl ConnectionTrait, id: JobId) -> Result<Option<Job>, DbErr> {
    Jobs::find_by_id(id).lock_exclusive().one(conn).await
}

/// Records a decision on a job still awaiting one; returns `None` if it was already decided.
pub async fn decide(
    conn: &impl ConnectionTrait,
    id: JobId,
    status: JobStatus,
    decided_by: &str,
    note: Option<&str>,
    certificate_id: Option<CertificateId>,
    error: Option<&str>,
) -> Result<Option<Job>, DbErr> {
    let res = conn
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE jobs SET status = $2, decided_by = $3, decision_note = $4, decided_at = now(), \
             certificate_id = $5, error = $6, updated_at = now(), \
             private_key_ciphertext = CASE WHEN $2 = 'approved' THEN private_key_ciphertext END \
             WHERE id = $1 AND status = 'awaiting_approval'",
            [
                id.into(),
                status.as_str().into(),
                decided_by.into(),
                note.map(str::to_owned).into(),
                certificate_id.into(),
                error.map(str::to_owned).into(),
            ],
        ))
        .await?;
    if res.rows_affected() == 0 {
        return Ok(None);
    }
    find_by_id(conn, id).await
}

/// Makes `principal` (with `key`) the job's requester: whoever completes a request (a renewal's
/// CSR) answers for it, and so may not approve it.
pub async fn set_requester(
    conn: &impl ConnectionTrait,
    id: JobId,
    principal: &str,
    key: Option<crate::model::ApiKeyId>,
) -> Result<(), DbErr> {
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE jobs SET requested_by = $2, requested_by_key_id = $3, updated_at = now() WHERE id = $1",
        [id.into(), principal.into(), key.into()],
    ))
    .await?;
    Ok(())
}

pub async fn list(
    conn: &impl ConnectionTrait,
    status: Option<JobStatus>,
    cursor: Option<TimeCursor>,
    limit: u64,
) -> Result<Page<Job>, DbErr> {
    let mut q = Jobs::find();
    if let Some(s) = status {
        q = q.filter(job::Column::Status.eq(s.as_str()));
    }
    super::newest_first(conn, q, (job::Column::CreatedAt, job::Column::Id), cursor, limit, |j| {
        TimeCursor {
            created_at: j.created_at,
            id: j.id.into(),
        }
    })
    .await
}

pub async fn count_awaiting(conn: &impl ConnectionTrait) -> Result<u64, DbErr> {
    Jobs::find()
        .filter(job::Column::Status.eq(JobStatus::AwaitingApproval.as_str()))
        .count(conn)
        .await
}

/// Jobs are timestamped by the application so that the cursor order is stable.
pub fn now() -> chrono::DateTime<Utc> {
    Utc::now()
}

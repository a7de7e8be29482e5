//! ACME queries: the anti-replay nonces (RFC 8555 §6.5), kept in the database so a nonce one
//! api-server replica hands out is accepted by any other, exactly once; the endpoints and their
//! External Account Binding keys; accounts, orders, authorizations and challenges, and the
//! claimed-row queue the challenge validators share.

use chrono::{DateTime, Utc};
use sea_orm::prelude::*;
use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, FromQueryResult, IntoActiveModel, PaginatorTrait, QueryOrder, QuerySelect,
    Statement, TransactionTrait,
};

use crate::entities::acme_account::{self, Entity as AcmeAccounts, Model as AcmeAccount};
use crate::entities::acme_authorization::{self, Entity as AcmeAuthzs, Model as AcmeAuthz};
use crate::entities::acme_challenge::{self, Entity as AcmeChallenges, Model as AcmeChallenge};
use crate::entities::acme_eab_key::Model as AcmeEabKey;
use crate::entities::acme_endpoint::{self, Entity as AcmeEndpoints, Model as AcmeEndpoint};
use crate::entities::acme_order::{self, Entity as AcmeOrders, Model as AcmeOrder};
use crate::model::{AcmeAccountId, AcmeAuthzId, AcmeChallengeId, AcmeEndpointId, AcmeOrderId, CertificateId};

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

pub async fn find_eab_key(conn: &impl ConnectionTrait, kid: &str) -> Result<Option<AcmeEabKey>, DbErr> {
    crate::entities::acme_eab_key::Entity::find_by_id(kid.to_owned())
        .one(conn)
        .await
}

/// Marks an EAB key as used by an account; `false` when it is unknown, revoked, of another
/// endpoint or already bound (each key binds one account, RFC 8555 §7.3.4).
pub async fn bind_eab_key(conn: &impl ConnectionTrait, kid: &str, endpoint: AcmeEndpointId) -> Result<bool, DbErr> {
    let result = conn
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE acme_eab_keys SET bound_at = now()
              WHERE kid = $1 AND endpoint_id = $2 AND bound_at IS NULL AND revoked_at IS NULL",
            [kid.into(), endpoint.as_uuid().into()],
        ))
        .await?;
    Ok(result.rows_affected() == 1)
}

/// An endpoint in use by its URL label.
pub async fn find_endpoint_by_label(conn: &impl ConnectionTrait, label: &str) -> Result<Option<AcmeEndpoint>, DbErr> {
    AcmeEndpoints::find()
        .filter(acme_endpoint::Column::Label.eq(label))
        .filter(acme_endpoint::Column::DisabledAt.is_null())
        .one(conn)
        .await
}

pub async fn insert_account(conn: &impl ConnectionTrait, row: AcmeAccount) -> Result<AcmeAccount, DbErr> {
    row.into_active_model().insert(conn).await
}

pub async fn find_account(conn: &impl ConnectionTrait, id: AcmeAccountId) -> Result<Option<AcmeAccount>, DbErr> {
    AcmeAccounts::find_by_id(id).one(conn).await
}

pub async fn find_account_for_update(
    conn: &impl ConnectionTrait,
    id: AcmeAccountId,
) -> Result<Option<AcmeAccount>, DbErr> {
    AcmeAccounts::find_by_id(id).lock_exclusive().one(conn).await
}

/// The account registered at `endpoint` with the key whose JWK thumbprint is `thumbprint`.
pub async fn find_account_by_key(
    conn: &impl ConnectionTrait,
    endpoint: AcmeEndpointId,
    thumbprint: &str,
) -> Result<Option<AcmeAccount>, DbErr> {
    AcmeAccounts::find()
        .filter(acme_account::Column::EndpointId.eq(endpoint))
        .filter(acme_account::Column::Thumbprint.eq(thumbprint))
        .one(conn)
        .await
}

/// Accounts of one endpoint, oldest first, after `after` (a cursor: the last id of the page before).
pub async fn list_accounts(
    conn: &impl ConnectionTrait,
    endpoint: AcmeEndpointId,
    after: Option<AcmeAccountId>,
    limit: u64,
) -> Result<Vec<AcmeAccount>, DbErr> {
    let mut q = AcmeAccounts::find().filter(acme_account::Column::EndpointId.eq(endpoint));
    if let Some(after) = after {
        q = q.filter(acme_account::Column::Id.gt(after));
    }
    q.order_by_asc(acme_account::Column::Id).limit(limit).all(conn).await
}

pub async fn update_account(conn: &impl ConnectionTrait, row: AcmeAccount) -> Result<AcmeAccount, DbErr> {
    row.into_active_model().reset_all().update(conn).await
}

pub async fn insert_order(conn: &impl ConnectionTrait, row: AcmeOrder) -> Result<AcmeOrder, DbErr> {
    row.into_active_model().insert(conn).await
}

pub async fn insert_authorization(conn: &impl ConnectionTrait, row: AcmeAuthz) -> Result<AcmeAuthz, DbErr> {
    row.into_active_model().insert(conn).await
}

pub async fn insert_challenge(conn: &impl ConnectionTrait, row: AcmeChallenge) -> Result<AcmeChallenge, DbErr> {
    row.into_active_model().insert(conn).await
}

pub async fn find_order(conn: &impl ConnectionTrait, id: AcmeOrderId) -> Result<Option<AcmeOrder>, DbErr> {
    AcmeOrders::find_by_id(id).one(conn).await
}

pub async fn find_order_for_update(conn: &impl ConnectionTrait, id: AcmeOrderId) -> Result<Option<AcmeOrder>, DbErr> {
    AcmeOrders::find_by_id(id).lock_exclusive().one(conn).await
}

/// The order that produced a certificate.
pub async fn find_order_by_certificate(
    conn: &impl ConnectionTrait,
    certificate: CertificateId,
) -> Result<Option<AcmeOrder>, DbErr> {
    AcmeOrders::find()
        .filter(acme_order::Column::CertificateId.eq(certificate))
        .one(conn)
        .await
}

/// An account's orders, oldest first, after the cursor `after`.
pub async fn list_orders(
    conn: &impl ConnectionTrait,
    account: AcmeAccountId,
    after: Option<AcmeOrderId>,
    limit: u64,
) -> Result<Vec<AcmeOrder>, DbErr> {
    let mut q = AcmeOrders::find().filter(acme_order::Column::AccountId.eq(account));
    if let Some(after) = after {
        q = q.filter(acme_order::Column::Id.gt(after));
    }
    q.order_by_asc(acme_order::Column::Id).limit(limit).all(conn).await
}

pub async fn update_order(conn: &impl ConnectionTrait, row: AcmeOrder) -> Result<AcmeOrder, DbErr> {
    row.into_active_model().reset_all().update(conn).await
}

/// Marks orders past their expiry that never got a certificate as `invalid`, and their
/// unfinished authorizations as `expired`; returns how many orders.
pub async fn expire_orders(conn: &impl ConnectionTrait) -> Result<u64, DbErr> {
    conn.execute_raw(Statement::from_string(
        DbBackend::Postgres,
        "UPDATE acme_authorizations SET status = 'expired'
          WHERE status = 'pending' AND expires_at <= now()",
    ))
    .await?;
    let result = conn
        .execute_raw(Statement::from_string(
            DbBackend::Postgres,
            r#"UPDATE acme_orders SET status = 'invalid', updated_at = now(),
                    error = '{"type":"urn:ietf:params:acme:error:malformed","detail":"the order expired before it was finalized","status":403}'
              WHERE status IN ('pending', 'ready') AND expires_at <= now()"#,
        ))
        .await?;
    Ok(result.rows_affected())
}

pub async fn find_authorization(conn: &impl ConnectionTrait, id: AcmeAuthzId) -> Result<Option<AcmeAuthz>, DbErr> {
    AcmeAuthzs::find_by_id(id).one(conn).await
}

pub async fn list_authorizations(conn: &impl ConnectionTrait, order: AcmeOrderId) -> Result<Vec<AcmeAuthz>, DbErr> {
    AcmeAuthzs::find()
        .filter(acme_authorization::Column::OrderId.eq(order))
        .order_by_asc(acme_authorization::Column::Id)
        .all(conn)
        .await
}

/// Deactivates a pending or valid authorization (RFC 8555 §7.5.2); its order can no longer
/// become ready. `None` if it was in neither state.
pub async fn deactivate_authorization(
    conn: &impl ConnectionTrait,
    id: AcmeAuthzId,
) -> Result<Option<AcmeAuthz>, DbErr> {
    let done = conn
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE acme_authorizations SET status = 'deactivated' WHERE id = $1 AND status IN ('pending', 'valid')",
            [id.as_uuid().into()],
        ))
        .await?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        r#"UPDATE acme_orders o SET status = 'invalid', updated_at = now(),
                error = '{"type":"urn:ietf:params:acme:error:unauthorized","detail":"an authorization of the order was deactivated","status":403}'
             FROM acme_authorizations a
            WHERE a.id = $1 AND o.id = a.order_id AND o.status IN ('pending', 'ready')"#,
        [id.as_uuid().into()],
    ))
    .await?;
    find_authorization(conn, id).await
}

pub async fn list_challenges(conn: &impl ConnectionTrait, authz: AcmeAuthzId) -> Result<Vec<AcmeChallenge>, DbErr> {
    AcmeChallenges::find()
        .filter(acme_challenge::Column::AuthzId.eq(authz))
        .order_by_asc(acme_challenge::Column::Kind)
        .all(conn)
        .await
}

pub async fn find_challenge(conn: &impl ConnectionTrait, id: AcmeChallengeId) -> Result<Option<AcmeChallenge>, DbErr> {
    AcmeChallenges::find_by_id(id).one(conn).await
}

/// The client says a challenge is ready (RFC 8555 §7.5.1): a pending challenge of a pending
/// authorization becomes `processing`, due now. Other states are left alone (answering the
/// same POST twice is harmless). Returns whether validation was scheduled.
pub async fn request_validation(conn: &impl ConnectionTrait, id: AcmeChallengeId) -> Result<bool, DbErr> {
    let result = conn
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE acme_challenges c SET status = 'processing', next_attempt_at = now()
               FROM acme_authorizations a
              WHERE c.id = $1 AND c.status = 'pending' AND a.id = c.authz_id AND a.status = 'pending'
                AND a.expires_at > now()
                AND NOT EXISTS (SELECT 1 FROM acme_challenges o
                                 WHERE o.authz_id = c.authz_id AND o.status = 'processing')",
            [id.as_uuid().into()],
        ))
        .await?;
    Ok(result.rows_affected() == 1)
}

/// A challenge claimed for validation, with what validating it needs.
#[derive(Debug, Clone, sea_orm::FromQueryResult)]
pub struct ClaimedChallenge {
    pub id: uuid::Uuid,
    pub authz_id: uuid::Uuid,
    pub order_id: uuid::Uuid,
    pub endpoint_id: uuid::Uuid,
    pub kind: String,
    pub token: String,
    pub attempts: i32,
    pub identifier_type: String,
    pub identifier_value: String,
    pub account_key_der: Vec<u8>,
}

/// Claims up to `limit` challenges due for validation for `lease` (a replica that dies
/// mid-validation lets the lease run out, and another takes it over), counting the attempt.
pub async fn claim_due_challenges(
    conn: &impl ConnectionTrait,
    limit: u64,
    lease: std::time::Duration,
) -> Result<Vec<ClaimedChallenge>, DbErr> {
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
    <ClaimedChallenge as FromQueryResult>::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "WITH due AS (
             SELECT id FROM acme_challenges
              WHERE status = 'processing' AND next_attempt_at <= now()
                AND (claimed_until IS NULL OR claimed_until < now())
              ORDER BY next_attempt_at
              LIMIT $1
              FOR UPDATE SKIP LOCKED),
         claimed AS (
             UPDATE acme_challenges c
                SET claimed_until = now() + $2 * interval '1 millisecond', attempts = c.attempts + 1
               FROM due WHERE c.id = due.id
             RETURNING c.id, c.authz_id, c.type, c.token, c.attempts)
         SELECT claimed.id, claimed.authz_id, a.order_id, o.endpoint_id, claimed.type AS kind, claimed.token,
                claimed.attempts, a.identifier_type, a.identifier_value, acc.public_key_der AS account_key_der
           FROM claimed
           JOIN acme_authorizations a ON a.id = claimed.authz_id
           JOIN acme_orders o ON o.id = a.order_id
           JOIN acme_accounts acc ON acc.id = a.account_id",
        [i64::try_from(limit).unwrap_or(i64::MAX).into(), lease_ms.into()],
    ))
    .all(conn)
    .await
}

/// A claimed challenge validated: it, its authorization, and (when every authorization of the
/// order is now valid) the order move on, in one transaction.
pub async fn challenge_valid(conn: &sea_orm::DatabaseConnection, c: &ClaimedChallenge) -> Result<(), DbErr> {
    let txn = conn.begin().await?;
    let moved = txn
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE acme_challenges SET status = 'valid', validated_at = now(), claimed_until = NULL, error = NULL
              WHERE id = $1 AND status = 'processing'",
            [c.id.into()],
        ))
        .await?;
    if moved.rows_affected() == 1 {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE acme_authorizations SET status = 'valid' WHERE id = $1 AND status = 'pending'",
            [c.authz_id.into()],
        ))
        .await?;
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE acme_orders SET status = 'ready', updated_at = now()
              WHERE id = $1 AND status = 'pending'
                AND NOT EXISTS (SELECT 1 FROM acme_authorizations WHERE order_id = $1 AND status <> 'valid')",
            [c.order_id.into()],
        ))
        .await?;
    }
    txn.commit().await
}

/// A claimed challenge failed an attempt with `error` (an RFC 8555 problem). With `retry_at`
/// it is tried again then; without, it is invalid, and so are its authorization and order.
pub async fn challenge_failed(
    conn: &sea_orm::DatabaseConnection,
    c: &ClaimedChallenge,
    error: serde_json::Value,
    retry_at: Option<DateTime<Utc>>,
) -> Result<(), DbErr> {
    let txn = conn.begin().await?;
    if let Some(at) = retry_at {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE acme_challenges SET next_attempt_at = $2, claimed_until = NULL, error = $3
              WHERE id = $1 AND status = 'processing'",
            [c.id.into(), at.into(), error.into()],
        ))
        .await?;
        return txn.commit().await;
    }
    let moved = txn
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE acme_challenges SET status = 'invalid', claimed_until = NULL, error = $2
              WHERE id = $1 AND status = 'processing'",
            [c.id.into(), error.clone().into()],
        ))
        .await?;
    if moved.rows_affected() == 1 {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE acme_authorizations SET status = 'invalid' WHERE id = $1 AND status = 'pending'",
            [c.authz_id.into()],
        ))
        .await?;
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE acme_orders SET status = 'invalid', error = $2, updated_at = now()
              WHERE id = $1 AND status IN ('pending', 'ready')",
            [c.order_id.into(), error.into()],
        ))
        .await?;
    }
    txn.commit().await
}

/// An order, not invalid, that replaces `certificate` (RFC 9773: one replacement per certificate).
pub async fn find_replacing_order(
    conn: &impl ConnectionTrait,
    certificate: CertificateId,
) -> Result<Option<AcmeOrder>, DbErr> {
    AcmeOrders::find()
        .filter(acme_order::Column::ReplacesCertificateId.eq(certificate))
        .filter(acme_order::Column::Status.ne("invalid"))
        .one(conn)
        .await
}

pub async fn count_accounts(conn: &impl ConnectionTrait, endpoint: AcmeEndpointId) -> Result<u64, DbErr> {
    AcmeAccounts::find()
        .filter(acme_account::Column::EndpointId.eq(endpoint))
        .count(conn)
        .await
}

pub async fn count_orders(conn: &impl ConnectionTrait, account: AcmeAccountId) -> Result<u64, DbErr> {
    AcmeOrders::find()
        .filter(acme_order::Column::AccountId.eq(account))
        .count(conn)
        .await
}

/// Moves the orders waiting on approval job `job` on by its decision: `valid` with the
/// certificate once approved and issued; `invalid` with the problem the client sees once
/// rejected (`unauthorized`) or failed (`badCSR`: the request no longer meets the profile).
/// Called in the decision's own transaction, and again when a client polls, so an order never
/// lags its job.
pub async fn settle_job_orders(conn: &impl ConnectionTrait, job: crate::model::JobId) -> Result<u64, DbErr> {
    let result = conn
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            r#"UPDATE acme_orders o SET updated_at = now(),
                    status = CASE WHEN j.status = 'approved' THEN 'valid' ELSE 'invalid' END,
                    certificate_id = j.certificate_id,
                    error = CASE
                        WHEN j.status = 'rejected' THEN jsonb_build_object(
                            'type', 'urn:ietf:params:acme:error:unauthorized', 'status', 403,
                            'detail', 'the certificate request was rejected by an approver'
                                      || coalesce(': ' || nullif(j.decision_note, ''), ''))
                        WHEN j.status = 'failed' THEN jsonb_build_object(
                            'type', 'urn:ietf:params:acme:error:badCSR', 'status', 403,
                            'detail', 'the request no longer meets the profile: ' || coalesce(j.error, ''))
                    END
                 FROM jobs j
                WHERE j.id = $1 AND o.job_id = j.id AND o.status = 'processing'
                  AND (j.status IN ('rejected', 'failed') OR (j.status = 'approved' AND j.certificate_id IS NOT NULL))"#,
            [job.as_uuid().into()],
        ))
        .await?;
    Ok(result.rows_affected())
}

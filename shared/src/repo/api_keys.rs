//! `api_keys` queries.

use sea_orm::prelude::*;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbBackend, QueryOrder, Statement};

use crate::entities::api_key::{self, Entity as ApiKeys, Model as ApiKey};
use crate::model::ApiKeyId;

pub async fn insert(conn: &impl ConnectionTrait, key: ApiKey) -> Result<ApiKey, DbErr> {
    api_key::ActiveModel {
        id: Set(key.id),
        name: Set(key.name),
        key_hash: Set(key.key_hash),
        principal: Set(key.principal),
        role: Set(key.role),
        created_by: Set(key.created_by),
        created_at: Set(key.created_at),
        last_used_at: Set(None),
        disabled_at: Set(None),
        expires_at: Set(key.expires_at),
        created_by_key_id: Set(key.created_by_key_id),
    }
    .insert(conn)
    .await
}

/// The key with this hash. Runs on every authenticated request, so the SQL is written out rather
/// than built per call.
pub async fn find_by_hash(conn: &impl ConnectionTrait, hash: &[u8]) -> Result<Option<ApiKey>, DbErr> {
    ApiKeys::find()
        .from_raw_sql(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT * FROM api_keys WHERE key_hash = $1",
            [hash.to_vec().into()],
        ))
        .one(conn)
        .await
}

pub async fn find_by_id(conn: &impl ConnectionTrait, id: ApiKeyId) -> Result<Option<ApiKey>, DbErr> {
    ApiKeys::find_by_id(id).one(conn).await
}

pub async fn list(conn: &impl ConnectionTrait) -> Result<Vec<ApiKey>, DbErr> {
    ApiKeys::find().order_by_asc(api_key::Column::CreatedAt).all(conn).await
}

pub async fn count(conn: &impl ConnectionTrait) -> Result<u64, DbErr> {
    ApiKeys::find().count(conn).await
}

/// Disables the key if it is enabled; returns the row as it now stands, or `None` if unknown.
pub async fn disable(conn: &impl ConnectionTrait, id: ApiKeyId) -> Result<Option<ApiKey>, DbErr> {
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE api_keys SET disabled_at = now() WHERE id = $1 AND disabled_at IS NULL",
        [id.into()],
    ))
    .await?;
    find_by_id(conn, id).await
}

/// Stamps `last_used_at`, writing only when the stored stamp is older than `throttle_secs`.
pub async fn stamp_last_used(conn: &impl ConnectionTrait, id: ApiKeyId, throttle_secs: i64) -> Result<(), DbErr> {
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE api_keys SET last_used_at = now() \
         WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - make_interval(secs => $2))",
        [id.into(), (throttle_secs as f64).into()],
    ))
    .await?;
    Ok(())
}

/// Takes a transaction-scoped advisory lock (released at commit or rollback).
pub async fn advisory_xact_lock(conn: &impl ConnectionTrait, key: i64) -> Result<(), DbErr> {
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock($1)",
        [key.into()],
    ))
    .await?;
    Ok(())
}

/// Whether `ancestor` created `key`, directly or through a chain of keys it created.
pub async fn created_by_chain_contains(
    conn: &impl ConnectionTrait,
    key: ApiKeyId,
    ancestor: ApiKeyId,
) -> Result<bool, DbErr> {
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "WITH RECURSIVE chain (id, created_by_key_id, depth) AS ( \
               SELECT id, created_by_key_id, 0 FROM api_keys WHERE id = $1 \
               UNION ALL \
               SELECT k.id, k.created_by_key_id, c.depth + 1 FROM api_keys k JOIN chain c ON k.id = c.created_by_key_id \
               WHERE c.depth < 64) \
             SELECT EXISTS (SELECT 1 FROM chain WHERE created_by_key_id = $2) AS found",
            [key.into(), ancestor.into()],
        ))
        .await?;
    Ok(match row {
        Some(r) => r.try_get::<bool>("", "found")?,
        None => false,
    })
}

/// Another enabled, unexpired key with this principal (compared trimmed and case-insensitively)
/// whose creator is not `creator`: principals name one person, and only that person's creator
/// may issue them a second key.
pub async fn principal_held_by_other_creator(
    conn: &impl ConnectionTrait,
    principal: &str,
    creator: Option<ApiKeyId>,
) -> Result<Option<ApiKey>, DbErr> {
    ApiKeys::find()
        .from_raw_sql(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT * FROM api_keys WHERE lower(btrim(principal)) = lower(btrim($1)) \
               AND disabled_at IS NULL AND (expires_at IS NULL OR expires_at > now()) \
               AND created_by_key_id IS DISTINCT FROM $2 LIMIT 1",
            [principal.into(), creator.into()],
        ))
        .one(conn)
        .await
}

//! `/api/v1/profiles`

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use certctl_pki::names::SanRules;
use certctl_pki::{Eku, KeyAlgorithm};
use certctl_shared::entities::certificate_profile::Model as Profile;
use certctl_shared::repo::profiles;
use chrono::{DateTime, Utc};
use sea_orm::TransactionTrait;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::ListOut;
use crate::auth::{Principal, RequestId};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::service::Actor;
use crate::service::api_keys::check_identifier;
use crate::state::AppState;

/// Ten years: longer-lived end-entity certificates are a mistake, not a policy.
const MAX_PROFILE_TTL: i64 = 10 * 365 * 86_400;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileIn {
    name: String,
    #[serde(default)]
    description: String,
    max_ttl_seconds: i64,
    allowed_key_algorithms: Vec<KeyAlgorithm>,
    ekus: Vec<Eku>,
    #[serde(default)]
    san_rules: SanRules,
    #[serde(default)]
    requires_approval: bool,
    #[serde(default)]
    allow_short_lived: bool,
}

#[derive(Serialize)]
pub struct ProfileOut {
    id: Uuid,
    name: String,
    description: String,
    max_ttl_seconds: i64,
    allowed_key_algorithms: Vec<String>,
    ekus: Vec<String>,
    san_rules: serde_json::Value,
    requires_approval: bool,
    allow_short_lived: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    revision: i64,
}

impl From<Profile> for ProfileOut {
    fn from(p: Profile) -> Self {
        Self {
            id: p.id,
            name: p.name,
            description: p.description,
            max_ttl_seconds: p.max_ttl_seconds,
            allowed_key_algorithms: p.allowed_key_algorithms,
            ekus: p.ekus,
            san_rules: p.san_rules,
            requires_approval: p.requires_approval,
            allow_short_lived: p.allow_short_lived,
            created_at: p.created_at,
            updated_at: p.updated_at,
            revision: p.revision,
        }
    }
}

fn to_row(id: Uuid, body: ProfileIn) -> Result<Profile, ApiError> {
    check_identifier("name", &body.name)?;
    if body.max_ttl_seconds <= 0 || body.max_ttl_seconds > MAX_PROFILE_TTL {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("max_ttl_seconds must be 1-{MAX_PROFILE_TTL}"),
        ));
    }
    if body.allowed_key_algorithms.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_request",
            "allowed_key_algorithms must name at least one algorithm",
        ));
    }
    if body.ekus.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_request",
            "ekus must name at least one extended key usage",
        ));
    }
    body.san_rules
        .validate()
        .map_err(|m| ApiError::bad_request("invalid_request", m))?;
    let algs = unique(body.allowed_key_algorithms.iter().map(|a| a.as_str()));
    let ekus = unique(body.ekus.iter().map(|e| e.as_str()));
    let now = Utc::now();
    Ok(Profile {
        id,
        name: body.name,
        description: body.description,
        allowed_key_algorithms: algs,
        max_ttl_seconds: body.max_ttl_seconds,
        ekus,
        san_rules: serde_json::to_value(&body.san_rules).map_err(ApiError::internal)?,
        requires_approval: body.requires_approval,
        allow_short_lived: body.allow_short_lived,
        created_at: now,
        updated_at: now,
        revision: 1,
    })
}

/// Keeps the first of each value, in order.
fn unique<'a>(values: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in values {
        if !out.iter().any(|o| o == v) {
            out.push(v.to_owned());
        }
    }
    out
}

fn audit_details(p: &Profile) -> serde_json::Value {
    json!({ "name": p.name, "max_ttl_seconds": p.max_ttl_seconds, "allowed_key_algorithms": p.allowed_key_algorithms,
            "ekus": p.ekus, "san_rules": p.san_rules, "requires_approval": p.requires_approval,
            "allow_short_lived": p.allow_short_lived })
}

pub async fn create_profile(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiJson(body): ApiJson<ProfileIn>,
) -> Result<(StatusCode, Json<ProfileOut>), ApiError> {
    let row = to_row(Uuid::now_v7(), body)?;
    let txn = state.db.begin().await?;
    let row = profiles::insert(&txn, row).await?;
    Actor::new(&principal, request_id)
        .audit(&txn, "profile.create", "profile", row.id, audit_details(&row))
        .await?;
    txn.commit().await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

pub async fn replace_profile(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ProfileIn>,
) -> Result<Json<ProfileOut>, ApiError> {
    let mut row = to_row(id, body)?;
    let txn = state.db.begin().await?;
    let before = profiles::find_for_update(&txn, id)
        .await?
        .ok_or(ApiError::NotFound("profile"))?;
    row.revision = before.revision + 1;
    let row = profiles::replace(&txn, row).await?;
    Actor::new(&principal, request_id)
        .audit(
            &txn,
            "profile.update",
            "profile",
            row.id,
            json!({ "before": audit_details(&before), "after": audit_details(&row) }),
        )
        .await?;
    txn.commit().await?;
    // This replica sees the change at once; others find out when an insert meets the new revision.
    state
        .profiles
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(row.id, std::sync::Arc::new(row.clone()));
    Ok(Json(row.into()))
}

pub async fn list_profiles(State(state): State<AppState>) -> Result<Json<ListOut<ProfileOut>>, ApiError> {
    let rows = profiles::list(&state.db).await?;
    let total = rows.len() as u64;
    Ok(Json(ListOut {
        data: rows.into_iter().map(Into::into).collect(),
        next_cursor: None,
        total,
    }))
}

pub async fn get_profile(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<ProfileOut>, ApiError> {
    let row = profiles::find_by_id(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("profile"))?;
    Ok(Json(row.into()))
}

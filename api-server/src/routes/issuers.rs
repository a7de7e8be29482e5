//! `/api/v1/issuers`

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use certctl_pki::KeyAlgorithm;
use certctl_shared::entities::issuer::Model as Issuer;
use certctl_shared::model::IssuerId;
use certctl_shared::repo::issuers;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ListOut;
use crate::auth::{Principal, RequestId};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::service::issuers as svc;
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerIn {
    name: String,
    common_name: String,
    key_algorithm: KeyAlgorithm,
    parent_issuer_id: Option<IssuerId>,
    validity_days: Option<u32>,
}

/// An issuer as shown: never its key.
#[derive(Serialize)]
pub struct IssuerOut {
    id: IssuerId,
    name: String,
    common_name: String,
    key_algorithm: String,
    parent_issuer_id: Option<IssuerId>,
    is_root: bool,
    serial_hex: String,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
    certificate_pem: String,
    created_by: String,
    created_at: DateTime<Utc>,
}

impl From<Issuer> for IssuerOut {
    fn from(i: Issuer) -> Self {
        Self {
            id: i.id,
            name: i.name,
            common_name: i.common_name,
            key_algorithm: i.key_algorithm,
            is_root: i.parent_issuer_id.is_none(),
            parent_issuer_id: i.parent_issuer_id,
            serial_hex: i.serial_hex,
            not_before: i.not_before,
            not_after: i.not_after,
            certificate_pem: i.certificate_pem,
            created_by: i.created_by,
            created_at: i.created_at,
        }
    }
}

pub async fn create_issuer(
    State(state): State<AppState>,
    principal: Principal,
    request_id: RequestId,
    ApiJson(body): ApiJson<IssuerIn>,
) -> Result<(StatusCode, Json<IssuerOut>), ApiError> {
    let row = svc::create(
        &state,
        &principal.actor(request_id),
        svc::NewIssuer {
            name: body.name,
            common_name: body.common_name,
            key_algorithm: body.key_algorithm,
            parent_issuer_id: body.parent_issuer_id,
            validity_days: body.validity_days,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

pub async fn list_issuers(State(state): State<AppState>) -> Result<Json<ListOut<IssuerOut>>, ApiError> {
    let rows = issuers::list(&state.db).await?;
    let total = rows.len() as u64;
    Ok(Json(ListOut {
        data: rows.into_iter().map(Into::into).collect(),
        next_cursor: None,
        total,
    }))
}

pub async fn get_issuer(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<IssuerId>,
) -> Result<Json<IssuerOut>, ApiError> {
    let row = issuers::find_by_id(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound("issuer"))?;
    Ok(Json(row.into()))
}

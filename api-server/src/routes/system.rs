//! Version, identity and the API description.

use axum::Json;
use certctl_types::api::VersionOut;
use certctl_types::api::access::MeOut;

use crate::auth::{Permission, Principal, role_grants};

/// The server's version; needs no key.
#[utoipa::path(get, path = "/api/v1/version", tag = "system", responses(
    (status = 200, description = "The version", body = VersionOut),
))]
pub async fn version() -> Json<VersionOut> {
    Json(VersionOut {
        name: "certctl".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        api: "v1".to_owned(),
    })
}

/// Who the presented key acts for, and its role.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "system", responses(
    (status = 200, description = "The caller", body = MeOut),
))]
pub async fn me(principal: Principal) -> Json<MeOut> {
    Json(MeOut {
        principal: principal.principal,
        role: principal.role,
        key_id: principal.key_id,
        key_name: principal.key_name,
        permissions: Permission::ALL
            .into_iter()
            .filter(|p| role_grants(principal.role, *p))
            .map(|p| p.as_str().to_owned())
            .collect(),
    })
}

/// This document: the OpenAPI 3.1 description of the API; needs no key.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "system", responses(
    (status = 200, description = "The OpenAPI document", body = Object),
))]
pub async fn openapi() -> axum::response::Response {
    use axum::response::IntoResponse;
    static DOCUMENT: std::sync::LazyLock<String> = std::sync::LazyLock::new(crate::openapi::json);
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
        .into_response()
}

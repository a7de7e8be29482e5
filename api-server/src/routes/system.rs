//! Version and identity.

use axum::Json;
use serde_json::{Value, json};

use crate::auth::Principal;

pub async fn version() -> Json<Value> {
    Json(json!({ "name": "certctl", "version": env!("CARGO_PKG_VERSION"), "api": "v1" }))
}

pub async fn me(principal: Principal) -> Json<Value> {
    Json(json!({
        "principal": principal.principal,
        "role": principal.role,
        "key_id": principal.key_id,
        "key_name": principal.key_name,
    }))
}

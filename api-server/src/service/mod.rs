//! Use cases: each runs in one transaction with its audit row, and returns domain results.

pub mod api_keys;
pub mod channels;
pub mod issuance;
pub mod issuers;
pub mod jobs;
pub mod revocation;

use certctl_shared::repo::audit::{self, NewAuditEvent};
use sea_orm::{ConnectionTrait, DbErr};
use uuid::Uuid;

use crate::auth::{Principal, RequestId};

/// Who is acting, for audit rows and approvals: the principal (a name a person or system
/// answers to) and, when an API key acted, that key's id, which is what audit rows can be traced
/// back to with certainty.
#[derive(Clone, Debug)]
pub struct Actor {
    pub principal: String,
    pub key_id: Option<Uuid>,
    pub request_id: Option<String>,
}

impl Actor {
    pub fn new(p: &Principal, request_id: RequestId) -> Self {
        Self {
            principal: p.principal.clone(),
            key_id: Some(p.key_id),
            request_id: request_id.0,
        }
    }

    pub fn system(what: &str) -> Self {
        Self {
            principal: format!("system:{what}"),
            key_id: None,
            request_id: None,
        }
    }

    /// An audit row for something this actor was refused, to be written by the caller.
    pub fn denial(
        &self,
        action: &str,
        resource_type: &str,
        resource_id: impl ToString,
        details: serde_json::Value,
    ) -> NewAuditEvent {
        NewAuditEvent {
            outcome: "denied",
            ..self.event(action, resource_type, resource_id, details)
        }
    }

    /// A successful-action audit row, to be written by the caller.
    pub fn event(
        &self,
        action: &str,
        resource_type: &str,
        resource_id: impl ToString,
        details: serde_json::Value,
    ) -> NewAuditEvent {
        NewAuditEvent {
            actor: self.principal.clone(),
            action: action.to_owned(),
            resource_type: resource_type.to_owned(),
            resource_id: Some(resource_id.to_string()),
            outcome: "success",
            details,
            request_id: self.request_id.clone(),
            key_id: self.key_id,
        }
    }

    /// Appends a successful-action audit row on `conn` (the change's own transaction).
    pub async fn audit(
        &self,
        conn: &impl ConnectionTrait,
        action: &str,
        resource_type: &str,
        resource_id: impl ToString,
        details: serde_json::Value,
    ) -> Result<(), DbErr> {
        audit::append(conn, self.event(action, resource_type, resource_id, details))
            .await
            .map(|_| ())
    }
}

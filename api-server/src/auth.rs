//! Authentication (named API keys) and authorisation (roles → permissions).
//!
//! Each route declares an [`Access`] in the route table (`routes/mod.rs`); [`authorize`] runs as
//! that route's layer, before any extractor reads the body. Keys are looked up by the SHA-256 of
//! the presented secret on every request, so a disabled key is refused on its very next request on
//! every replica. A 401 is logged and counted but never written to the database; a 403 is audited.

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use certctl_shared::crypto::{hash_api_key, hashes_equal};
use certctl_shared::model::{ApiKeyId, Role};
use certctl_shared::repo::{api_keys, audit};
use chrono::Utc;

use crate::denials::Denial;
use crate::error::ApiError;
use crate::state::AppState;

/// What a route requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// No key needed.
    Public,
    /// Any valid key.
    Authenticated,
    /// A key whose role grants this permission.
    Require(Permission),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    CertificatesRead,
    CertificatesWrite,
    CertificatesBulkRevoke,
    ProfilesWrite,
    IssuersWrite,
    JobsDecide,
    ApiKeysManage,
    AuditRead,
    ChannelsWrite,
    NotificationsOperate,
    EnrollmentManage,
    DiscoveryManage,
}

impl Permission {
    pub const ALL: [Permission; 12] = [
        Self::CertificatesRead,
        Self::CertificatesWrite,
        Self::CertificatesBulkRevoke,
        Self::ProfilesWrite,
        Self::IssuersWrite,
        Self::JobsDecide,
        Self::ApiKeysManage,
        Self::AuditRead,
        Self::ChannelsWrite,
        Self::NotificationsOperate,
        Self::EnrollmentManage,
        Self::DiscoveryManage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CertificatesRead => "certificates:read",
            Self::CertificatesWrite => "certificates:write",
            Self::CertificatesBulkRevoke => "certificates:bulk_revoke",
            Self::ProfilesWrite => "profiles:write",
            Self::IssuersWrite => "issuers:write",
            Self::JobsDecide => "jobs:decide",
            Self::ApiKeysManage => "api_keys:manage",
            Self::AuditRead => "audit:read",
            Self::ChannelsWrite => "channels:write",
            Self::NotificationsOperate => "notifications:operate",
            Self::EnrollmentManage => "enrollment:manage",
            Self::DiscoveryManage => "discovery:manage",
        }
    }
}

/// The one place roles meet permissions (the role table in `docs/api.md`).
pub fn role_grants(role: Role, permission: Permission) -> bool {
    use Permission as P;
    match role {
        Role::Admin => true,
        // Profiles and issuers are policy (which keys, names and lifetimes are allowed, and
        // whether a second person must approve): only admins write them, or an operator could
        // lift the approval gate and then issue past it alone.
        Role::Operator => matches!(
            permission,
            P::CertificatesRead | P::CertificatesWrite | P::JobsDecide | P::NotificationsOperate
        ),
        Role::Viewer => matches!(permission, P::CertificatesRead),
        Role::Auditor => matches!(permission, P::AuditRead),
    }
}

/// The authenticated caller, available to handlers as an extension.
#[derive(Clone, Debug)]
pub struct Principal {
    pub key_id: ApiKeyId,
    pub key_name: String,
    /// The identity written to audit rows and compared for self-approval.
    pub principal: String,
    pub role: Role,
}

impl Principal {
    /// This caller as the actor of a use case.
    pub fn actor(&self, request_id: RequestId) -> crate::service::Actor {
        crate::service::Actor::api_key(&self.principal, self.key_id, request_id.0)
    }
}

/// The request id (`x-request-id`), for audit rows.
#[derive(Clone, Debug)]
pub struct RequestId(pub Option<String>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestId(
            parts
                .headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        ))
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Principal {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or(ApiError::Unauthorized)
    }
}

/// How often one replica writes `last_used_at` for a given key.
const STAMP_INTERVAL: Duration = Duration::from_secs(60);

/// Route layer: authenticates and authorises according to `access`.
pub async fn authorize(State((state, access)): State<(AppState, Access)>, mut req: Request, next: Next) -> Response {
    if access == Access::Public {
        return next.run(req).await;
    }
    let authorization = req.headers().get(header::AUTHORIZATION).cloned();
    let principal = match authenticate(&state, authorization).await {
        Ok(p) => p,
        Err(AuthFailure::Refused(reason)) => {
            state.metrics.auth_failures.with_label_values(&[reason]).inc();
            tracing::info!(reason, method = %req.method(), path = %req.uri().path(), "refused unauthenticated request");
            return ApiError::Unauthorized.into_response();
        }
        Err(AuthFailure::Internal(e)) => return e.into_response(),
    };
    if let Access::Require(permission) = access
        && !role_grants(principal.role, permission)
    {
        state
            .metrics
            .authz_denials
            .with_label_values(&[permission.as_str()])
            .inc();
        let detail = format!("role `{}` lacks permission `{}`", principal.role, permission.as_str());
        let request_id = req
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .map_or_else(|| req.uri().path().to_owned(), |p| p.as_str().to_owned());
        let denial = Denial {
            key_id: principal.key_id,
            principal: &principal.principal,
            role: principal.role.as_str(),
            permission: permission.as_str(),
            method: req.method().as_str(),
            route: &route,
            path: req.uri().path(),
            request_id,
        };
        if let Some(row) = state.denials.record(&denial, Instant::now())
            && let Err(e) = audit::append(&state.db, row).await
        {
            // The denial stands either way; failing to record it must not turn into access.
            tracing::error!(error = %e, "failed to audit a denied request");
        }
        return ApiError::Forbidden("forbidden", detail).into_response();
    }
    stamp_last_used(&state, principal.key_id);
    req.extensions_mut().insert(principal);
    next.run(req).await
}

enum AuthFailure {
    Refused(&'static str),
    Internal(ApiError),
}

async fn authenticate(state: &AppState, authorization: Option<header::HeaderValue>) -> Result<Principal, AuthFailure> {
    let header = authorization.ok_or(AuthFailure::Refused("missing"))?;
    let header = header.to_str().map_err(|_| AuthFailure::Refused("malformed"))?;
    let (scheme, secret) = header.split_once(' ').ok_or(AuthFailure::Refused("malformed"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || secret.trim().is_empty() {
        return Err(AuthFailure::Refused("malformed"));
    }
    let hash = hash_api_key(secret.trim());
    let key = api_keys::find_by_hash(&state.db, &hash)
        .await
        .map_err(|e| AuthFailure::Internal(e.into()))?
        .ok_or(AuthFailure::Refused("unknown"))?;
    // The lookup is by hash; this comparison keeps the final check constant-time regardless.
    if !hashes_equal(&key.key_hash, &hash) {
        return Err(AuthFailure::Refused("unknown"));
    }
    if key.disabled_at.is_some() {
        return Err(AuthFailure::Refused("disabled"));
    }
    if key.expires_at.is_some_and(|t| t <= Utc::now()) {
        return Err(AuthFailure::Refused("expired"));
    }
    let role = key.role;
    Ok(Principal {
        key_id: key.id,
        key_name: key.name,
        principal: key.principal,
        role,
    })
}

/// Writes `last_used_at` at most once a minute per key and replica, off the request path.
fn stamp_last_used(state: &AppState, key_id: ApiKeyId) {
    let now = Instant::now();
    {
        let mut stamps = state.key_stamps.lock().unwrap_or_else(|p| p.into_inner());
        if stamps
            .get(&key_id)
            .is_some_and(|t| now.duration_since(*t) < STAMP_INTERVAL)
        {
            return;
        }
        stamps.insert(key_id, now);
    }
    let db = state.db.clone();
    tokio::spawn(async move {
        if let Err(e) = api_keys::stamp_last_used(&db, key_id, STAMP_INTERVAL.as_secs() as i64).await {
            tracing::warn!(api_key.id = %key_id, error = %e, "failed to stamp last_used_at");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_has_everything_and_auditor_only_audit() {
        for p in Permission::ALL {
            assert!(role_grants(Role::Admin, p));
            assert_eq!(role_grants(Role::Auditor, p), p == Permission::AuditRead);
        }
        assert!(!role_grants(Role::Operator, Permission::CertificatesBulkRevoke));
        assert!(!role_grants(Role::Operator, Permission::ApiKeysManage));
        assert!(!role_grants(Role::Operator, Permission::ProfilesWrite));
        assert!(!role_grants(Role::Operator, Permission::IssuersWrite));
        assert!(!role_grants(Role::Viewer, Permission::CertificatesWrite));
    }
}

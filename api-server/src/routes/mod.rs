//! The route table: every route, its method and the access it requires, in one list.
//!
//! The router is built from this table and nothing else, so a route cannot exist without a
//! declared [`Access`]; the integration tests walk the same table to check every role.

mod api_keys;
mod audit;
mod certificates;
mod channels;
mod issuers;
mod jobs;
mod notifications;
mod profiles;
mod stats;
mod system;

use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, patch, post, put};

use crate::auth::{Access, Permission, authorize};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Put => "PUT",
            Verb::Patch => "PATCH",
            Verb::Delete => "DELETE",
        }
    }
}

/// One route: method, path (axum syntax), required access and its handler.
pub struct RouteDef {
    pub verb: Verb,
    pub path: &'static str,
    pub access: Access,
    handler: fn() -> MethodRouter<AppState>,
}

use Access::{Authenticated, Public, Require};
use Permission as P;

macro_rules! routes {
    ($($verb:ident $path:literal => $access:expr, $handler:path;)+) => {
        &[$(RouteDef {
            verb: Verb::$verb,
            path: $path,
            access: $access,
            handler: || routes!(@method $verb)($handler),
        }),+]
    };
    (@method Get) => { get };
    (@method Post) => { post };
    (@method Put) => { put };
    (@method Patch) => { patch };
    (@method Delete) => { delete };
}

pub const ROUTES: &[RouteDef] = routes! {
    Get  "/api/v1/version"                       => Public, system::version;
    Get  "/api/v1/auth/me"                       => Authenticated, system::me;
    Post "/api/v1/api-keys"                      => Require(P::ApiKeysManage), api_keys::create_api_key;
    Get  "/api/v1/api-keys"                      => Require(P::ApiKeysManage), api_keys::list_api_keys;
    Post "/api/v1/api-keys/{id}/disable"         => Require(P::ApiKeysManage), api_keys::disable_api_key;
    Post "/api/v1/issuers"                       => Require(P::IssuersWrite), issuers::create_issuer;
    Get  "/api/v1/issuers"                       => Require(P::CertificatesRead), issuers::list_issuers;
    Get  "/api/v1/issuers/{id}"                  => Require(P::CertificatesRead), issuers::get_issuer;
    Post "/api/v1/profiles"                      => Require(P::ProfilesWrite), profiles::create_profile;
    Get  "/api/v1/profiles"                      => Require(P::CertificatesRead), profiles::list_profiles;
    Get  "/api/v1/profiles/{id}"                 => Require(P::CertificatesRead), profiles::get_profile;
    Put  "/api/v1/profiles/{id}"                 => Require(P::ProfilesWrite), profiles::replace_profile;
    Post "/api/v1/certificates"                  => Require(P::CertificatesWrite), certificates::issue_certificate;
    Get  "/api/v1/certificates"                  => Require(P::CertificatesRead), certificates::list_certificates;
    Post "/api/v1/certificates/bulk-revoke"      => Require(P::CertificatesBulkRevoke), certificates::bulk_revoke_certificates;
    Get  "/api/v1/certificates/{id}"             => Require(P::CertificatesRead), certificates::get_certificate;
    Get  "/api/v1/certificates/{id}/pem"         => Require(P::CertificatesRead), certificates::get_certificate_pem;
    Post "/api/v1/certificates/{id}/renew"       => Require(P::CertificatesWrite), certificates::renew_certificate;
    Post "/api/v1/certificates/{id}/revoke"      => Require(P::CertificatesWrite), certificates::revoke_certificate;
    Get  "/api/v1/jobs"                          => Require(P::CertificatesRead), jobs::list_jobs;
    Get  "/api/v1/jobs/{id}"                     => Require(P::CertificatesRead), jobs::get_job;
    Post "/api/v1/jobs/{id}/approve"             => Require(P::JobsDecide), jobs::approve_job;
    Post "/api/v1/jobs/{id}/reject"              => Require(P::JobsDecide), jobs::reject_job;
    Get  "/api/v1/audit"                         => Require(P::AuditRead), audit::list_audit_events;
    Post "/api/v1/notification-channels"            => Require(P::ChannelsWrite), channels::create_channel;
    Get  "/api/v1/notification-channels"            => Require(P::CertificatesRead), channels::list_channels;
    Get  "/api/v1/notification-channels/{id}"       => Require(P::CertificatesRead), channels::get_channel;
    Patch "/api/v1/notification-channels/{id}"      => Require(P::ChannelsWrite), channels::update_channel;
    Delete "/api/v1/notification-channels/{id}"     => Require(P::ChannelsWrite), channels::delete_channel;
    Post "/api/v1/notification-channels/{id}/test"  => Require(P::NotificationsOperate), channels::test_channel;
    Get  "/api/v1/notifications"                    => Require(P::CertificatesRead), notifications::list_notifications;
    Get  "/api/v1/notifications/{id}"               => Require(P::CertificatesRead), notifications::get_notification;
    Post "/api/v1/notifications/{id}/requeue"       => Require(P::NotificationsOperate), notifications::requeue_notification;
    Get  "/api/v1/stats/summary"                 => Require(P::CertificatesRead), stats::summary;
};

/// The API router (without the outer tower layers, which `lib.rs` adds).
pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for def in ROUTES {
        let layer = middleware::from_fn_with_state((state.clone(), def.access), authorize);
        router = router.route(def.path, (def.handler)().route_layer(layer));
    }
    router
        .fallback(|| async { ApiError::NotFound("route") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(middleware::from_fn_with_state(state.config.request_timeout, deadline))
        .layer(middleware::from_fn_with_state(state.clone(), record_metrics))
        .with_state(state)
}

/// Bounds every request by `CERTCTL_REQUEST_TIMEOUT`, answering a problem rather than hanging.
async fn deadline(State(limit): State<std::time::Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => ApiError::Timeout.into_response(),
    }
}

async fn record_metrics(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let resp = next.run(req).await.into_response();
    state
        .metrics
        .requests
        .with_label_values(&[method.as_str(), route.as_str(), resp.status().as_str()])
        .inc();
    state
        .metrics
        .latency
        .with_label_values(&[method.as_str(), route.as_str()])
        .observe(started.elapsed().as_secs_f64());
    resp
}

/// `{"data": [...], "next_cursor": ..., "total": N}`
#[derive(serde::Serialize)]
pub struct ListOut<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
    pub total: u64,
}

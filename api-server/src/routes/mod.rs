//! The route table: every route, its method and the access it requires, in one list.
//!
//! The router is built from this table and nothing else, so a route cannot exist without a
//! declared [`Access`]; the integration tests walk the same table to check every role.

pub(crate) mod acme_endpoints;
pub(crate) mod api_keys;
pub(crate) mod audit;
pub(crate) mod certificates;
pub(crate) mod channels;
pub(crate) mod discovery;
pub(crate) mod enrollment;
pub(crate) mod issuers;
pub(crate) mod jobs;
pub(crate) mod notifications;
pub(crate) mod profiles;
pub(crate) mod renewal_policies;
pub(crate) mod stats;
pub(crate) mod system;

use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, patch, post, put};

use axum::http::StatusCode;

use self::certificates::{IdempotencyProblems, ReasonProblems};
use crate::auth::{Access, Permission, authorize};
use crate::error::{ApiError, Problems};
use crate::service::acme_endpoints::AcmeEndpointError;
use crate::service::api_keys::KeyError;
use crate::service::channels::ChannelError;
use crate::service::discovery::DiscoveryError;
use crate::service::enrollment::EnrollmentError;
use crate::service::issuance::IssueError;
use crate::service::issuers::IssuerError;
use crate::service::jobs::DecideError;
use crate::service::notifications::RequeueError;
use crate::service::profiles::ProfileError;
use crate::service::renewal::{JobActionError, PolicyError};
use crate::service::revocation::{BulkRevokeError, RevokeError};
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

/// One route: method, path (axum syntax, which is also OpenAPI's), required access, its
/// handler, and the use-case errors the handler can return (for the API description; the
/// problems every route shares are added by `openapi.rs`).
pub struct RouteDef {
    pub verb: Verb,
    pub path: &'static str,
    pub access: Access,
    handler: fn() -> MethodRouter<AppState>,
    pub problems: fn() -> Vec<(StatusCode, &'static str)>,
}

use Access::{Authenticated, Public, Require};
use Permission as P;

macro_rules! routes {
    ($($verb:ident $path:literal => $access:expr, $handler:path $(, [$($error:ty),+])?;)+) => {
        &[$(RouteDef {
            verb: Verb::$verb,
            path: $path,
            access: $access,
            handler: || routes!(@method $verb)($handler),
            problems: || {
                #[allow(unused_mut)]
                let mut all = Vec::new();
                $($(all.extend(<$error as Problems>::problems());)+)?
                all
            },
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
    Get  "/api/v1/openapi.json"                  => Public, system::openapi;
    Get  "/api/v1/auth/me"                       => Authenticated, system::me;
    Post "/api/v1/api-keys"                      => Require(P::ApiKeysManage), api_keys::create_api_key, [KeyError];
    Get  "/api/v1/api-keys"                      => Require(P::ApiKeysManage), api_keys::list_api_keys;
    Post "/api/v1/api-keys/{id}/disable"         => Require(P::ApiKeysManage), api_keys::disable_api_key, [KeyError];
    Post "/api/v1/issuers"                       => Require(P::IssuersWrite), issuers::create_issuer, [IssuerError];
    Get  "/api/v1/issuers"                       => Require(P::CertificatesRead), issuers::list_issuers;
    Get  "/api/v1/issuers/{id}"                  => Require(P::CertificatesRead), issuers::get_issuer;
    Post "/api/v1/issuers/{id}/disable"          => Require(P::IssuersWrite), issuers::disable_issuer;
    Post "/api/v1/issuers/{id}/enable"           => Require(P::IssuersWrite), issuers::enable_issuer;
    Post "/api/v1/profiles"                      => Require(P::ProfilesWrite), profiles::create_profile, [ProfileError];
    Get  "/api/v1/profiles"                      => Require(P::CertificatesRead), profiles::list_profiles;
    Get  "/api/v1/profiles/{id}"                 => Require(P::CertificatesRead), profiles::get_profile;
    Put  "/api/v1/profiles/{id}"                 => Require(P::ProfilesWrite), profiles::replace_profile, [ProfileError];
    Post "/api/v1/renewal-policies"              => Require(P::ProfilesWrite), renewal_policies::create_renewal_policy, [PolicyError];
    Get  "/api/v1/renewal-policies"              => Require(P::CertificatesRead), renewal_policies::list_renewal_policies;
    Get  "/api/v1/renewal-policies/{id}"         => Require(P::CertificatesRead), renewal_policies::get_renewal_policy;
    Put  "/api/v1/renewal-policies/{id}"         => Require(P::ProfilesWrite), renewal_policies::replace_renewal_policy, [PolicyError];
    Delete "/api/v1/renewal-policies/{id}"       => Require(P::ProfilesWrite), renewal_policies::delete_renewal_policy, [PolicyError];
    Post "/api/v1/certificates"                  => Require(P::CertificatesWrite), certificates::issue_certificate, [IssueError, IdempotencyProblems];
    Get  "/api/v1/certificates"                  => Require(P::CertificatesRead), certificates::list_certificates;
    Post "/api/v1/certificates/bulk-revoke"      => Require(P::CertificatesBulkRevoke), certificates::bulk_revoke_certificates, [BulkRevokeError, ReasonProblems];
    Get  "/api/v1/certificates/{id}"             => Require(P::CertificatesRead), certificates::get_certificate;
    Get  "/api/v1/certificates/{id}/pem"         => Require(P::CertificatesRead), certificates::get_certificate_pem;
    Post "/api/v1/certificates/{id}/renew"       => Require(P::CertificatesWrite), certificates::renew_certificate, [IssueError];
    Post "/api/v1/certificates/{id}/revoke"      => Require(P::CertificatesWrite), certificates::revoke_certificate, [RevokeError, ReasonProblems];
    Put  "/api/v1/certificates/{id}/renewal-policy" => Require(P::ProfilesWrite), certificates::set_certificate_renewal_policy, [PolicyError];
    Get  "/api/v1/jobs"                          => Require(P::CertificatesRead), jobs::list_jobs;
    Get  "/api/v1/jobs/{id}"                     => Require(P::CertificatesRead), jobs::get_job;
    Post "/api/v1/jobs/{id}/approve"             => Require(P::JobsDecide), jobs::approve_job, [DecideError];
    Post "/api/v1/jobs/{id}/reject"              => Require(P::JobsDecide), jobs::reject_job, [DecideError];
    Post "/api/v1/jobs/{id}/csr"                 => Require(P::CertificatesWrite), jobs::submit_job_csr, [JobActionError];
    Post "/api/v1/jobs/{id}/key"                 => Require(P::CertificatesWrite), jobs::collect_job_key, [JobActionError];
    Get  "/api/v1/audit"                         => Require(P::AuditRead), audit::list_audit_events;
    Post "/api/v1/notification-channels"            => Require(P::ChannelsWrite), channels::create_channel, [ChannelError];
    Get  "/api/v1/notification-channels"            => Require(P::CertificatesRead), channels::list_channels;
    Get  "/api/v1/notification-channels/{id}"       => Require(P::CertificatesRead), channels::get_channel;
    Patch "/api/v1/notification-channels/{id}"      => Require(P::ChannelsWrite), channels::update_channel, [ChannelError];
    Delete "/api/v1/notification-channels/{id}"     => Require(P::ChannelsWrite), channels::delete_channel, [ChannelError];
    Post "/api/v1/notification-channels/{id}/test"  => Require(P::NotificationsOperate), channels::test_channel, [ChannelError];
    Get  "/api/v1/notifications"                    => Require(P::CertificatesRead), notifications::list_notifications;
    Get  "/api/v1/notifications/{id}"               => Require(P::CertificatesRead), notifications::get_notification;
    Post "/api/v1/notifications/{id}/requeue"       => Require(P::NotificationsOperate), notifications::requeue_notification, [RequeueError];
    Post "/api/v1/notifications/purge-dead"         => Require(P::ChannelsWrite), notifications::purge_dead_notifications;
    Get  "/api/v1/stats/summary"                 => Require(P::CertificatesRead), stats::summary;
    Post "/api/v1/enrollment-profiles"              => Require(P::EnrollmentManage), enrollment::create_enrollment_profile, [EnrollmentError];
    Get  "/api/v1/enrollment-profiles"              => Require(P::EnrollmentManage), enrollment::list_enrollment_profiles;
    Get  "/api/v1/enrollment-profiles/{id}"         => Require(P::EnrollmentManage), enrollment::get_enrollment_profile;
    Delete "/api/v1/enrollment-profiles/{id}"       => Require(P::EnrollmentManage), enrollment::disable_enrollment_profile, [EnrollmentError];
    Post "/api/v1/enrollment-profiles/{id}/rotate-scep-ra" => Require(P::EnrollmentManage), enrollment::rotate_scep_ra, [EnrollmentError];
    Post "/api/v1/acme-endpoints"                   => Require(P::EnrollmentManage), acme_endpoints::create_acme_endpoint, [AcmeEndpointError];
    Get  "/api/v1/acme-endpoints"                   => Require(P::EnrollmentManage), acme_endpoints::list_acme_endpoints;
    Get  "/api/v1/acme-endpoints/{id}"              => Require(P::EnrollmentManage), acme_endpoints::get_acme_endpoint;
    Delete "/api/v1/acme-endpoints/{id}"            => Require(P::EnrollmentManage), acme_endpoints::disable_acme_endpoint, [AcmeEndpointError];
    Post "/api/v1/acme-endpoints/{id}/eab-keys"     => Require(P::EnrollmentManage), acme_endpoints::create_eab_key, [AcmeEndpointError];
    Get  "/api/v1/acme-endpoints/{id}/accounts"     => Require(P::EnrollmentManage), acme_endpoints::list_acme_accounts;
    Get  "/api/v1/acme-accounts/{id}"               => Require(P::EnrollmentManage), acme_endpoints::get_acme_account;
    Get  "/api/v1/acme-accounts/{id}/orders"        => Require(P::EnrollmentManage), acme_endpoints::list_acme_orders;
    Post "/api/v1/scan-targets"                     => Require(P::DiscoveryManage), discovery::create_scan_target, [DiscoveryError];
    Get  "/api/v1/scan-targets"                     => Require(P::CertificatesRead), discovery::list_scan_targets;
    Get  "/api/v1/scan-targets/{id}"                => Require(P::CertificatesRead), discovery::get_scan_target;
    Put  "/api/v1/scan-targets/{id}"                => Require(P::DiscoveryManage), discovery::replace_scan_target, [DiscoveryError];
    Delete "/api/v1/scan-targets/{id}"              => Require(P::DiscoveryManage), discovery::delete_scan_target, [DiscoveryError];
    Post "/api/v1/scan-targets/{id}/scan"           => Require(P::DiscoveryManage), discovery::scan_scan_target, [DiscoveryError];
    Get  "/api/v1/discovered-certificates"          => Require(P::CertificatesRead), discovery::list_discovered_certificates;
    Get  "/api/v1/discovered-certificates/{id}"     => Require(P::CertificatesRead), discovery::get_discovered_certificate;
    Post "/api/v1/discovered-certificates/{id}/claim"   => Require(P::CertificatesWrite), discovery::claim_discovered_certificate, [DiscoveryError];
    Post "/api/v1/discovered-certificates/{id}/dismiss" => Require(P::CertificatesWrite), discovery::dismiss_discovered_certificate, [DiscoveryError];
};

/// The API router (without the outer tower layers, which `lib.rs` adds).
pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for def in ROUTES {
        let layer = middleware::from_fn_with_state((state.clone(), def.access), authorize);
        router = router.route(def.path, (def.handler)().route_layer(layer));
    }
    router
        // EST and SCEP authenticate in their own way (no API key), so they are not in the table.
        .merge(crate::enroll::router())
        // ACME authenticates each request by its JWS.
        .merge(crate::acme::router())
        // Paths no route matches: the web console when one is configured (never under /api/),
        // else the problem 404.
        .fallback(crate::web::fallback)
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
    let matched = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
    let resp = next.run(req).await.into_response();
    let route = matched.unwrap_or_else(|| {
        let console = resp.extensions().get::<crate::web::ConsoleResponse>().is_some();
        (if console { "console" } else { "unmatched" }).to_owned()
    });
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

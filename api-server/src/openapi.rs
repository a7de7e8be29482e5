//! The OpenAPI 3.1 description of the API, generated from the code: the bodies and query strings
//! from `certctl-types`, each operation from its handler's `#[utoipa::path]`, and from the route
//! table (`routes::ROUTES`) what a caller needs besides: the security requirement, the permission
//! the route requires (`x-required-permission`), and every problem it can answer with, grouped by
//! status (`x-problem-codes`).
//!
//! Served at `GET /api/v1/openapi.json` and committed as `docs/openapi.json`; the tests below fail
//! when the two differ or when the document and the route table disagree about which routes exist.

use std::collections::{BTreeMap, BTreeSet};

use axum::http::StatusCode;
use certctl_types::api::Problem;
use utoipa::OpenApi;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};

use crate::auth::Access;
use crate::routes::{self, ROUTES, RouteDef, Verb};

/// The name of the bearer-key security scheme in the document.
const SCHEME: &str = "api_key";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "certctl",
        description = "Certificate lifecycle control plane: local certificate authorities, profiles, \
issuance, renewal and revocation with approvals, notifications with retries and dead letters, and an \
append-only audit log.\n\nEvery route except `/api/v1/version` and `/api/v1/openapi.json` takes an API \
key as `Authorization: Bearer <key>`; the key's role must grant the permission an operation lists in \
`x-required-permission`. Errors are RFC 9457 `application/problem+json` with a stable `code`; each \
operation lists the codes it can return in `x-problem-codes`. Lists are paginated by an opaque cursor: \
pass `next_cursor` back as `cursor` until it is `null`.\n\nThe revocation responder (CRLs, OCSP, CA \
certificates under `/.well-known/pki/`) is a separate service with a document of its own.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        routes::system::version,
        routes::system::openapi,
        routes::system::me,
        routes::api_keys::create_api_key,
        routes::api_keys::list_api_keys,
        routes::api_keys::disable_api_key,
        routes::issuers::create_issuer,
        routes::issuers::list_issuers,
        routes::issuers::get_issuer,
        routes::issuers::disable_issuer,
        routes::issuers::enable_issuer,
        routes::profiles::create_profile,
        routes::profiles::list_profiles,
        routes::profiles::get_profile,
        routes::profiles::replace_profile,
        routes::renewal_policies::create_renewal_policy,
        routes::renewal_policies::list_renewal_policies,
        routes::renewal_policies::get_renewal_policy,
        routes::renewal_policies::replace_renewal_policy,
        routes::renewal_policies::delete_renewal_policy,
        routes::certificates::issue_certificate,
        routes::certificates::list_certificates,
        routes::certificates::bulk_revoke_certificates,
        routes::certificates::get_certificate,
        routes::certificates::get_certificate_pem,
        routes::certificates::renew_certificate,
        routes::certificates::revoke_certificate,
        routes::certificates::set_certificate_renewal_policy,
        routes::jobs::list_jobs,
        routes::jobs::get_job,
        routes::jobs::approve_job,
        routes::jobs::reject_job,
        routes::jobs::submit_job_csr,
        routes::jobs::collect_job_key,
        routes::audit::list_audit_events,
        routes::channels::create_channel,
        routes::channels::list_channels,
        routes::channels::get_channel,
        routes::channels::update_channel,
        routes::channels::delete_channel,
        routes::channels::test_channel,
        routes::notifications::list_notifications,
        routes::notifications::get_notification,
        routes::notifications::requeue_notification,
        routes::notifications::purge_dead_notifications,
        routes::stats::summary,
        routes::enrollment::create_enrollment_profile,
        routes::enrollment::list_enrollment_profiles,
        routes::enrollment::get_enrollment_profile,
        routes::enrollment::disable_enrollment_profile,
        routes::enrollment::rotate_scep_ra,
        routes::acme_endpoints::create_acme_endpoint,
        routes::acme_endpoints::list_acme_endpoints,
        routes::acme_endpoints::get_acme_endpoint,
        routes::acme_endpoints::disable_acme_endpoint,
        routes::acme_endpoints::create_eab_key,
        routes::acme_endpoints::list_acme_accounts,
        routes::acme_endpoints::get_acme_account,
        routes::acme_endpoints::list_acme_orders,
        routes::discovery::create_scan_target,
        routes::discovery::list_scan_targets,
        routes::discovery::get_scan_target,
        routes::discovery::replace_scan_target,
        routes::discovery::delete_scan_target,
        routes::discovery::scan_scan_target,
        routes::discovery::list_discovered_certificates,
        routes::discovery::get_discovered_certificate,
        routes::discovery::claim_discovered_certificate,
        routes::discovery::dismiss_discovered_certificate,
    ),
    components(schemas(Problem, certctl_types::api::certificates::CertificateSort)),
    tags(
        (name = "certificates", description = "Issue, renew, revoke and read certificates"),
        (name = "jobs", description = "Jobs: issuance that waits for a second person, and the automatic renewals the worker runs (some wait for a CSR, some hand out a rotated key once)"),
        (name = "renewal", description = "Renewal policies: when certificates renew, whether by themselves, with which key, and who hears about it"),
        (name = "issuers", description = "Certificate authorities"),
        (name = "profiles", description = "What may be issued, and whether approval is required"),
        (name = "notification-channels", description = "Where notifications go"),
        (name = "notifications", description = "Deliveries, their attempts, dead letters and requeues"),
        (name = "audit", description = "The append-only audit log"),
        (name = "api-keys", description = "API keys and their roles"),
        (name = "stats", description = "The dashboard summary"),
        (name = "enrollment", description = "EST and SCEP enrollment profiles: how devices authenticate at /.well-known/est and /scep (those protocols are described in docs/enrollment.md, not here)"),
        (name = "acme", description = "ACME endpoints, their External Account Binding keys, and the accounts and orders of ACME clients (read-only); the ACME protocol itself is served at /acme/{label}/directory"),
        (name = "discovery", description = "Scan targets (address ranges and ports the worker connects to with TLS) and the certificates found there: managed (certctl issued them), unmanaged, claimed or dismissed"),
        (name = "system", description = "Version, identity and this document"),
    ),
)]
struct ApiDoc;

/// The document, complete.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let mut bearer = Http::new(HttpAuthScheme::Bearer);
    bearer.description = Some("An API key created with `POST /api/v1/api-keys` (or the bootstrap key).".to_owned());
    doc.components
        .get_or_insert_with(Default::default)
        .add_security_scheme(SCHEME, SecurityScheme::Http(bearer));
    for def in ROUTES {
        if let Some(op) = operation(&mut doc, def) {
            complete(op, def);
        }
    }
    doc
}

/// The document as served and committed: pretty JSON with a final newline.
pub fn json() -> String {
    let mut out = serde_json::to_string_pretty(&document()).unwrap_or_else(|e| {
        // Serialising plain data cannot fail; if it ever did, say so in the document's place.
        format!("{{\"error\": \"the OpenAPI document could not be written: {e}\"}}")
    });
    out.push('\n');
    out
}

fn operation<'a>(doc: &'a mut utoipa::openapi::OpenApi, def: &RouteDef) -> Option<&'a mut Operation> {
    let item = doc.paths.paths.get_mut(def.path)?;
    match def.verb {
        Verb::Get => item.get.as_mut(),
        Verb::Post => item.post.as_mut(),
        Verb::Put => item.put.as_mut(),
        Verb::Patch => item.patch.as_mut(),
        Verb::Delete => item.delete.as_mut(),
    }
}

/// Adds what the route table knows to an operation: security, permission and problems.
fn complete(op: &mut Operation, def: &RouteDef) {
    let mut extensions = Extensions::builder();
    match def.access {
        Access::Public => op.security = Some(vec![SecurityRequirement::default()]),
        Access::Authenticated => op.security = Some(vec![SecurityRequirement::new(SCHEME, Vec::<String>::new())]),
        Access::Require(permission) => {
            op.security = Some(vec![SecurityRequirement::new(SCHEME, Vec::<String>::new())]);
            extensions = extensions.add("x-required-permission", permission.as_str());
            let note = format!("Requires the `{}` permission.", permission.as_str());
            op.description = Some(match op.description.take() {
                Some(d) if !d.is_empty() => format!("{d}\n\n{note}"),
                _ => note,
            });
        }
    }
    op.extensions
        .get_or_insert_with(Default::default)
        .merge(extensions.build());

    unwrap_optional_body(op);

    let mut problems: BTreeMap<StatusCode, BTreeSet<&'static str>> = BTreeMap::new();
    for (status, code) in shared_problems(op, def).into_iter().chain((def.problems)()) {
        problems.entry(status).or_default().insert(code);
    }
    for (status, codes) in problems {
        let codes: Vec<&str> = codes.into_iter().collect();
        let listed = codes.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ");
        let response = ResponseBuilder::new()
            .description(format!("{}: {listed}", status.canonical_reason().unwrap_or("Error")))
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .extensions(Some(Extensions::builder().add("x-problem-codes", codes).build()))
            .build();
        op.responses
            .responses
            .insert(status.as_str().to_owned(), response.into());
    }
}

/// An optional body (`request_body = Option<T>`) comes out of utoipa as "T or JSON null". The
/// API reads an absent body as `{}`, not a `null` one, so say instead: T, not required.
fn unwrap_optional_body(op: &mut Operation) {
    use utoipa::openapi::schema::Schema;
    use utoipa::openapi::{RefOr, Required};
    let Some(RefOr::T(body)) = op.request_body.as_mut() else {
        return;
    };
    for content in body.content.values_mut() {
        let RefOr::T(content) = content else {
            continue;
        };
        let inner = match &content.schema {
            Some(RefOr::T(Schema::OneOf(one_of))) if one_of.items.len() == 2 => {
                one_of.items.iter().find(|s| matches!(s, RefOr::Ref(_))).cloned()
            }
            _ => None,
        };
        if let Some(inner) = inner {
            content.schema = Some(inner);
            body.required = Some(Required::False);
        }
    }
}

/// The problems that come from how a route is reached rather than from its use case: the key,
/// the path, the body, the query string, and the server's own state.
fn shared_problems(op: &Operation, def: &RouteDef) -> Vec<(StatusCode, &'static str)> {
    let mut all = vec![
        (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        (StatusCode::SERVICE_UNAVAILABLE, "service_unavailable"),
        (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
    ];
    if def.access != Access::Public {
        all.push((StatusCode::UNAUTHORIZED, "unauthorized"));
    }
    if matches!(def.access, Access::Require(_)) {
        all.push((StatusCode::FORBIDDEN, "forbidden"));
    }
    if def.path.contains('{') {
        all.push((StatusCode::BAD_REQUEST, "invalid_request"));
        all.push((StatusCode::NOT_FOUND, "not_found"));
    }
    if op.request_body.is_some() {
        all.push((StatusCode::BAD_REQUEST, "invalid_request"));
        all.push((StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"));
        all.push((StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"));
    }
    let has_query = op.parameters.iter().flatten().any(|p| match p {
        utoipa::openapi::RefOr::T(p) => p.parameter_in == utoipa::openapi::path::ParameterIn::Query,
        utoipa::openapi::RefOr::Ref(_) => false,
    });
    if has_query {
        all.push((StatusCode::BAD_REQUEST, "invalid_query"));
        all.push((StatusCode::BAD_REQUEST, "invalid_cursor"));
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn documented() -> BTreeSet<(String, String)> {
        let doc = document();
        let mut out = BTreeSet::new();
        for (path, item) in &doc.paths.paths {
            for (verb, op) in [
                ("GET", &item.get),
                ("POST", &item.post),
                ("PUT", &item.put),
                ("PATCH", &item.patch),
                ("DELETE", &item.delete),
                ("HEAD", &item.head),
                ("OPTIONS", &item.options),
                ("TRACE", &item.trace),
            ] {
                if op.is_some() {
                    out.insert((verb.to_owned(), path.clone()));
                }
            }
        }
        out
    }

    #[test]
    fn the_document_describes_exactly_the_routes_in_the_route_table() {
        let table: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|d| (d.verb.as_str().to_owned(), d.path.to_owned()))
            .collect();
        let documented = documented();
        let missing: Vec<_> = table.difference(&documented).collect();
        let extra: Vec<_> = documented.difference(&table).collect();
        assert!(
            missing.is_empty(),
            "routes without an operation in the document: {missing:?}"
        );
        assert!(extra.is_empty(), "operations in the document with no route: {extra:?}");
    }

    #[test]
    fn the_committed_document_is_the_generated_one() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
        let generated = json();
        if std::env::var_os("CERTCTL_BLESS").is_some() {
            std::fs::write(path, &generated).expect("write docs/openapi.json");
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/openapi.json differs from the document the code generates; \
             run `CERTCTL_BLESS=1 cargo test -p certctl-api-server openapi` and commit the result"
        );
    }

    #[test]
    fn every_operation_says_who_may_call_it_and_how_it_fails() {
        let doc = document();
        for def in ROUTES {
            let mut doc = doc.clone();
            let op = operation(&mut doc, def).expect("operation");
            let security = op.security.as_ref().expect("security");
            assert_eq!(security.len(), 1, "{} {}", def.verb.as_str(), def.path);
            let ext = serde_json::to_value(&op.extensions).expect("extensions");
            match def.access {
                Access::Require(p) => assert_eq!(ext["x-required-permission"], p.as_str()),
                _ => assert!(ext.get("x-required-permission").is_none()),
            }
            for status in ["500", "503"] {
                assert!(op.responses.responses.contains_key(status), "{} {}", def.path, status);
            }
            if def.access != Access::Public {
                assert!(op.responses.responses.contains_key("401"), "{}", def.path);
            }
            assert!(
                op.responses.responses.keys().any(|s| s.starts_with('2')),
                "{} {} has no success response",
                def.verb.as_str(),
                def.path
            );
        }
    }
}

//! The OpenAPI 3.1 description of the responder's public routes, generated from their
//! `#[utoipa::path]` annotations. Served at `/.well-known/pki/openapi.json` and committed as
//! `docs/openapi-pki.json`; the tests fail when the two differ or when the router and the
//! document disagree about which routes exist.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;

use crate::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "certctl revocation responder",
        description = "The public, unauthenticated revocation service: CRLs, OCSP (RFC 6960, and RFC 5019 \
GET) and CA certificates for every certctl issuer. It holds no CA key: responses are signed by \
delegated OCSP signers, CRLs are built by the worker. Caching headers (ETag, Last-Modified, \
Expires, Cache-Control max-age) follow each answer's nextUpdate, capped by CERTCTL_PKI_MAX_AGE.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(routes::crl, routes::crl_shard, routes::ca_certificate, routes::ocsp_post, routes::ocsp_get, serve),
    tags((name = "pki", description = "Revocation status and CA certificates")),
)]
struct ResponderDoc;

pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ResponderDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

/// The document as served and committed: pretty JSON with a final newline.
pub fn json() -> String {
    let mut out = serde_json::to_string_pretty(&document())
        .unwrap_or_else(|e| format!("{{\"error\": \"the OpenAPI document could not be written: {e}\"}}"));
    out.push('\n');
    out
}

/// The route serving this document, merged into the public router.
pub fn router() -> axum::Router {
    axum::Router::new().route(routes::OPENAPI, axum::routing::get(serve))
}

/// This document.
#[utoipa::path(get, path = "/.well-known/pki/openapi.json", tag = "pki", responses(
    (status = 200, description = "The OpenAPI document", body = Object),
))]
pub async fn serve() -> Response {
    static DOCUMENT: std::sync::LazyLock<String> = std::sync::LazyLock::new(json);
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT.as_str()).into_response()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn the_document_describes_exactly_the_routes_the_router_serves() {
        let router: BTreeSet<(&str, String)> = [
            ("get", routes::CRL),
            ("get", routes::CRL_SHARD),
            ("get", routes::CA),
            ("post", routes::OCSP_POST),
            ("get", routes::OCSP_GET),
            ("get", routes::OPENAPI),
        ]
        .into_iter()
        // OpenAPI has no catch-all parameter: `{*request}` is documented as `{request}`.
        .map(|(verb, path)| (verb, path.replace("{*", "{")))
        .collect();
        let doc = serde_json::to_value(document()).unwrap();
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for verb in item.as_object().unwrap().keys() {
                documented.insert((
                    ["get", "post", "put", "patch", "delete"]
                        .into_iter()
                        .find(|v| v == verb)
                        .unwrap(),
                    path.clone(),
                ));
            }
        }
        assert_eq!(router, documented);
    }

    #[test]
    fn the_committed_document_is_the_generated_one() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi-pki.json");
        let generated = json();
        if std::env::var_os("CERTCTL_BLESS").is_some() {
            std::fs::write(path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/openapi-pki.json differs from the document the code generates; run \
             `CERTCTL_BLESS=1 cargo test -p certctl-revocation-responder openapi` and commit the result"
        );
    }
}

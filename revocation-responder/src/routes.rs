//! The public, unauthenticated routes under `/.well-known/pki/`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use certctl_pki::ocsp::{ErrorStatus, cert_id_for};
use certctl_shared::model::IssuerId;
use time::OffsetDateTime;

use crate::metrics::ResponderMetrics;
use crate::ocsp::{Answer, AnswerKind, OcspSettings, answer, cached_answer};
use crate::store::{Issuer, Store};

#[derive(Clone)]
pub struct PublicState {
    pub store: Arc<Store>,
    pub settings: OcspSettings,
    /// Cap on `max-age`.
    pub max_age: Duration,
    pub metrics: Arc<ResponderMetrics>,
}

/// The routes, as the router and the API description (`openapi.rs`) both name them.
pub const CRL: &str = "/.well-known/pki/crl/{issuer_id}";
/// One shard of a partitioned issuer's CRL.
pub const CRL_SHARD: &str = "/.well-known/pki/crl/{issuer_id}/{shard}";
pub const CA: &str = "/.well-known/pki/ca/{issuer_id}";
pub const OCSP_POST: &str = "/.well-known/pki/ocsp/{issuer_id}";
/// The request is the rest of the path (base64 may hold `/`).
pub const OCSP_GET: &str = "/.well-known/pki/ocsp/{issuer_id}/{*request}";
/// Served by `openapi::router`, merged beside these in `lib.rs`.
pub const OPENAPI: &str = "/.well-known/pki/openapi.json";

pub fn router(state: PublicState, max_request_bytes: usize) -> Router {
    Router::new()
        .route(CRL, get(crl))
        .route(CRL_SHARD, get(crl_shard))
        .route(CA, get(ca_certificate))
        .route(
            OCSP_POST,
            axum::routing::post(ocsp_post).layer(DefaultBodyLimit::max(max_request_bytes)),
        )
        .route(OCSP_GET, get(ocsp_get))
        .fallback(|| async { problem(StatusCode::NOT_FOUND, "not found", "no such resource") })
        .with_state(state)
}

/// RFC 9457 problem details.
pub fn problem(status: StatusCode, title: &str, detail: &str) -> Response {
    let body =
        serde_json::json!({ "type": "about:blank", "title": title, "status": status.as_u16(), "detail": detail });
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

fn unknown_issuer() -> Response {
    problem(StatusCode::NOT_FOUND, "unknown issuer", "no issuer with that id")
}

fn find_issuer(state: &PublicState, raw: &str) -> Option<Arc<Issuer>> {
    raw.parse::<IssuerId>().ok().and_then(|id| state.store.issuer(&id))
}

fn http_date(t: OffsetDateTime) -> HeaderValue {
    let system = std::time::UNIX_EPOCH + Duration::from_secs(t.unix_timestamp().max(0) as u64);
    HeaderValue::from_str(&httpdate::fmt_http_date(system)).unwrap_or(HeaderValue::from_static(""))
}

/// `max-age`: until nextUpdate, never beyond the configured cap.
fn max_age(cap: Duration, next_update: OffsetDateTime, now: OffsetDateTime) -> u64 {
    let left = (next_update - now).whole_seconds().max(0) as u64;
    left.min(cap.as_secs())
}

fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
}

/// Caching headers for a representation that is current from `modified` until `next_update`.
fn cache_headers(
    out: &mut HeaderMap,
    cap: Duration,
    etag: &str,
    modified: OffsetDateTime,
    next_update: OffsetDateTime,
) {
    let now = OffsetDateTime::now_utc();
    let age = max_age(cap, next_update, now);
    let cc = format!("public, max-age={age}, no-transform, must-revalidate");
    out.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_str(&cc).unwrap_or(HeaderValue::from_static("no-cache")),
    );
    if let Ok(v) = HeaderValue::from_str(etag) {
        out.insert(header::ETAG, v);
    }
    out.insert(header::LAST_MODIFIED, http_date(modified));
    out.insert(header::EXPIRES, http_date(now + Duration::from_secs(age)));
}

/// The issuer's current CRL (DER), with caching headers valid until its nextUpdate.
#[utoipa::path(get, path = "/.well-known/pki/crl/{issuer_id}", tag = "pki",
    params(("issuer_id" = String, Path, description = "The issuer's id", format = Uuid), ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer")),
    responses(
        (status = 200, description = "The CRL", content_type = "application/pkix-crl", body = Vec<u8>),
        (status = 304, description = "Unchanged since the ETag given"),
        (status = 404, description = "No such issuer", content_type = "application/problem+json", body = Object),
        (status = 503, description = "The issuer's first CRL is still being built; see Retry-After", content_type = "application/problem+json", body = Object),
    ),
)]
pub(crate) async fn crl(
    State(state): State<PublicState>,
    Path(issuer_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(issuer) = find_issuer(&state, &issuer_id) else {
        return unknown_issuer();
    };
    if issuer.crl_shards > 0 {
        return problem(
            StatusCode::NOT_FOUND,
            "CRL is partitioned",
            "this issuer publishes its CRL in shards: fetch the one named by the certificate's CRL distribution point",
        );
    }
    serve_crl(&state, &issuer, 0, &headers)
}

/// One shard of a partitioned issuer's CRL (DER): the revocations of the certificates whose CRL
/// distribution point names this URL, which its critical issuingDistributionPoint extension
/// repeats. Caching headers as for the full CRL.
#[utoipa::path(get, path = "/.well-known/pki/crl/{issuer_id}/{shard}", tag = "pki",
    params(
        ("issuer_id" = String, Path, description = "The issuer's id", format = Uuid),
        ("shard" = u16, Path, description = "The shard, 1 to the issuer's `crl_shards`", minimum = 1, maximum = 256),
        ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer"),
    ),
    responses(
        (status = 200, description = "The shard's CRL", content_type = "application/pkix-crl", body = Vec<u8>),
        (status = 304, description = "Unchanged since the ETag given"),
        (status = 404, description = "No such issuer, or no such shard of it", content_type = "application/problem+json", body = Object),
        (status = 503, description = "The shard's first CRL is still being built; see Retry-After", content_type = "application/problem+json", body = Object),
    ),
)]
pub(crate) async fn crl_shard(
    State(state): State<PublicState>,
    Path((issuer_id, shard)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(issuer) = find_issuer(&state, &issuer_id) else {
        return unknown_issuer();
    };
    match shard.parse::<u16>() {
        // Digits only, so `/01` and `/+1` are not a second name for shard 1.
        Ok(n) if (1..=issuer.crl_shards).contains(&n) && shard == n.to_string() => {
            serve_crl(&state, &issuer, n, &headers)
        }
        _ => problem(
            StatusCode::NOT_FOUND,
            "unknown CRL shard",
            "this issuer has no CRL shard of that number",
        ),
    }
}

fn serve_crl(state: &PublicState, issuer: &Issuer, shard: u16, headers: &HeaderMap) -> Response {
    let Some(crl) = issuer.crl(shard) else {
        let mut r = problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "CRL not published yet",
            "the first CRL of this issuer is being built; retry in a few seconds",
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        return r;
    };
    let mut out = HeaderMap::new();
    cache_headers(&mut out, state.max_age, &crl.etag, crl.this_update, crl.next_update);
    if if_none_match(headers, &crl.etag) {
        state.metrics.served("crl", "not_modified");
        return (StatusCode::NOT_MODIFIED, out).into_response();
    }
    state.metrics.served("crl", "ok");
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/pkix-crl"));
    (out, crl.der.clone()).into_response()
}

/// The issuer's CA certificate (DER), for the AIA caIssuers URL.
#[utoipa::path(get, path = "/.well-known/pki/ca/{issuer_id}", tag = "pki",
    params(("issuer_id" = String, Path, description = "The issuer's id", format = Uuid), ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer")),
    responses(
        (status = 200, description = "The certificate", content_type = "application/pkix-cert", body = Vec<u8>),
        (status = 304, description = "Unchanged since the ETag given"),
        (status = 404, description = "No such issuer", content_type = "application/problem+json", body = Object),
    ),
)]
pub(crate) async fn ca_certificate(
    State(state): State<PublicState>,
    Path(issuer_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(issuer) = find_issuer(&state, &issuer_id) else {
        return unknown_issuer();
    };
    let mut out = HeaderMap::new();
    let now = OffsetDateTime::now_utc();
    cache_headers(&mut out, state.max_age, &issuer.ca_etag, now, issuer.not_after);
    if if_none_match(&headers, &issuer.ca_etag) {
        return (StatusCode::NOT_MODIFIED, out).into_response();
    }
    state.metrics.served("ca", "ok");
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/pkix-cert"));
    (out, issuer.ca_der.clone()).into_response()
}

/// An OCSP request (RFC 6960) in the body. Malformed requests get an OCSP error response, not
/// an HTTP error; a request with a nonce is answered live and never cached.
#[utoipa::path(post, path = "/.well-known/pki/ocsp/{issuer_id}", tag = "pki",
    params(("issuer_id" = String, Path, description = "The issuer's id", format = Uuid)),
    request_body(content = Vec<u8>, content_type = "application/ocsp-request"),
    responses(
        (status = 200, description = "An OCSP response, successful or an OCSP error status", content_type = "application/ocsp-response", body = Vec<u8>),
        (status = 404, description = "No such issuer", content_type = "application/problem+json", body = Object),
        (status = 413, description = "The request is larger than the responder accepts"),
    ),
)]
pub(crate) async fn ocsp_post(
    State(state): State<PublicState>,
    Path(issuer_id): Path<String>,
    body: Bytes,
) -> Response {
    let Some(issuer) = find_issuer(&state, &issuer_id) else {
        return unknown_issuer();
    };
    let a = answer(&state.store, &issuer, &body, &state.settings);
    ocsp_response(&state, a, None)
}

/// A final segment of 2-40 hex digits is a serial (the shape earlier certctl clients use); anything else is a
/// base64 DER request (RFC 5019 §5, RFC 9919), URL-decoded already by the router.
fn is_serial(segment: &str) -> bool {
    (2..=40).contains(&segment.len()) && segment.bytes().all(|b| b.is_ascii_hexdigit())
}

const LENIENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);

/// An OCSP request by GET (RFC 5019): the base64 DER request, URL-encoded, as the rest of the
/// path; or a serial number in hex (2-40 digits), answered from the cache.
#[utoipa::path(get, path = "/.well-known/pki/ocsp/{issuer_id}/{request}", tag = "pki",
    params(
        ("issuer_id" = String, Path, description = "The issuer's id", format = Uuid),
        ("request" = String, Path, description = "The base64 DER OCSP request (may span `/`), or a serial number in hex"),
        ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer"),
    ),
    responses(
        (status = 200, description = "An OCSP response, successful or an OCSP error status", content_type = "application/ocsp-response", body = Vec<u8>),
        (status = 304, description = "Unchanged since the ETag given"),
        (status = 404, description = "No such issuer", content_type = "application/problem+json", body = Object),
    ),
)]
pub(crate) async fn ocsp_get(
    State(state): State<PublicState>,
    Path((issuer_id, request)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(issuer) = find_issuer(&state, &issuer_id) else {
        return unknown_issuer();
    };
    let a = if is_serial(&request) {
        let padded = if request.len() % 2 == 1 {
            format!("0{request}")
        } else {
            request
        };
        let serial = hex::decode(padded).unwrap_or_default();
        let serial = &serial[serial.iter().take_while(|b| **b == 0).count()..];
        let cert_id = cert_id_for(&issuer.identity, serial);
        let fresh = state.store.staleness() <= state.settings.stale_after;
        cached_answer(
            &state.store,
            &issuer,
            &cert_id,
            serial,
            OffsetDateTime::now_utc(),
            fresh,
            &state.settings,
        )
    } else {
        // RFC 5019 names the standard alphabet; the URL-safe one is accepted too.
        match STANDARD_LENIENT
            .decode(request.as_bytes())
            .or_else(|_| URL_SAFE_LENIENT.decode(request.as_bytes()))
        {
            Ok(der) => answer(&state.store, &issuer, &der, &state.settings),
            Err(_) => Answer {
                der: Bytes::from_static(ErrorStatus::MalformedRequest.response()),
                kind: AnswerKind::Error(ErrorStatus::MalformedRequest),
            },
        }
    };
    ocsp_response(&state, a, Some(&headers))
}

fn ocsp_response(state: &PublicState, a: Answer, request_headers: Option<&HeaderMap>) -> Response {
    let mut out = HeaderMap::new();
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/ocsp-response"),
    );
    match &a.kind {
        AnswerKind::Cacheable {
            this_update,
            next_update,
            etag,
        } => {
            cache_headers(&mut out, state.max_age, etag, *this_update, *next_update);
            if request_headers.is_some_and(|h| if_none_match(h, etag)) {
                state.metrics.served("ocsp", "not_modified");
                out.remove(header::CONTENT_TYPE);
                return (StatusCode::NOT_MODIFIED, out).into_response();
            }
            state.metrics.served("ocsp", "cacheable");
        }
        AnswerKind::Live => {
            state.metrics.served("ocsp", "live");
            out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        AnswerKind::Error(status) => {
            state.metrics.served("ocsp", error_label(*status));
            out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
    }
    (out, a.der).into_response()
}

fn error_label(status: ErrorStatus) -> &'static str {
    match status {
        ErrorStatus::MalformedRequest => "malformed_request",
        ErrorStatus::InternalError => "internal_error",
        ErrorStatus::TryLater => "try_later",
        ErrorStatus::Unauthorized => "unauthorized",
    }
}

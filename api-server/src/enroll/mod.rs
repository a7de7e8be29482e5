//! The enrollment protocols, EST (RFC 7030) and SCEP (RFC 8894): the ways in for devices that do
//! not speak the REST API. They need no API key; each authenticates the way its protocol does,
//! against an enrollment profile (see `service::enrollment`), and then issues, renews or files
//! for approval through the same use cases as the REST API, as an [`Actor`] that names the
//! protocol and the profile. What is particular to them lives here: finding the profile from the
//! URL, the wire formats, auditing failed enrollments (aggregated like denied API requests), and
//! rate limits per source address and per credential.

pub mod est;
pub mod scep;

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use certctl_shared::entities::certificate::Model as Certificate;
use certctl_shared::entities::enrollment_profile::Model as EnrollmentProfile;
use certctl_shared::model::EnrollmentProtocol;
use certctl_shared::model::IssuerId;
use certctl_shared::repo::audit::NewAuditEvent;
use certctl_shared::repo::enrollment;
use serde_json::json;

use crate::error::{ApiError, problem_response};
use crate::service::{Fault, Protocol};
use crate::state::AppState;

use crate::throttle::RateLimiter;

/// How long a client whose request awaits approval is asked to wait before asking again.
pub const RETRY_AFTER_PENDING_SECS: u64 = 60;

/// The routes of both protocols; they authenticate in their handlers, not with API keys.
pub fn router() -> Router<AppState> {
    est::router().merge(scep::router())
}

/// A refused enrollment: what the client is told, and what the audit row and metrics record.
#[derive(Debug)]
pub struct Refusal {
    pub status: StatusCode,
    /// A stable reason, also the audit row's `reason` and the metric's label.
    pub code: &'static str,
    pub detail: String,
    /// For a 401: the HTTP Basic realm to challenge with.
    pub basic_realm: Option<String>,
    /// For a 429 or 503: seconds to wait.
    pub retry_after: Option<u64>,
}

impl Refusal {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            basic_realm: None,
            retry_after: None,
        }
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    /// Whether the fault is the server's (not audited as the client's failed enrollment).
    pub fn is_server_error(&self) -> bool {
        self.status.is_server_error()
    }
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        if let ApiError::Internal(inner) = &e {
            tracing::error!(error = format!("{inner:#}"), "enrollment failed with an internal error");
        }
        let mut refusal = Refusal::new(e.status(), e.code(), e.to_string());
        if refusal.status == StatusCode::SERVICE_UNAVAILABLE {
            refusal.retry_after = Some(u64::from(crate::error::RETRY_AFTER_SECS));
        }
        refusal
    }
}

impl From<Fault> for Refusal {
    fn from(e: Fault) -> Self {
        ApiError::from(e).into()
    }
}

impl From<sea_orm::DbErr> for Refusal {
    fn from(e: sea_orm::DbErr) -> Self {
        Fault::from(e).into()
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut resp = problem_response(self.status, self.code, self.detail);
        if let Some(realm) = self.basic_realm
            && let Ok(value) = HeaderValue::from_str(&format!("Basic realm=\"{realm}\", charset=\"UTF-8\""))
        {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, value);
        }
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// Who is enrolling, as far as the request tells: where from, through which protocol and
/// profile, and the identity presented (once known).
pub struct Client {
    pub protocol: Protocol,
    pub ip: Option<IpAddr>,
    pub path: String,
    pub request_id: Option<String>,
}

impl Client {
    pub fn new(protocol: Protocol, extensions: &axum::http::Extensions, headers: &HeaderMap, path: &str) -> Self {
        Self {
            protocol,
            ip: extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()),
            path: path.to_owned(),
            request_id: headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        }
    }

    fn ip_text(&self) -> String {
        self.ip.map(|ip| ip.to_string()).unwrap_or_else(|| "unknown".into())
    }

    /// The per-source-address limit; a refusal is a 429 counted in the metric.
    pub fn check_ip_limit(&self, state: &AppState) -> Result<(), Refusal> {
        let key = format!("{}|{}", self.protocol.as_str(), self.ip_text());
        check_limit(state, self.protocol, &state.enroll_limits.per_ip, "ip", &key)
    }

    /// The per-credential limit: `credential` names the profile and the identity presented.
    pub fn check_credential_limit(&self, state: &AppState, credential: &str) -> Result<(), Refusal> {
        let key = format!("{}|{credential}", self.protocol.as_str());
        check_limit(
            state,
            self.protocol,
            &state.enroll_limits.per_credential,
            "credential",
            &key,
        )
    }

    /// Audits a refused enrollment as `enrollment.failed` (aggregated like denied API requests:
    /// the same profile, identity, source address and reason within the window share rows) and
    /// counts it. Server-side failures are logged, not audited as the client's.
    pub async fn refused(
        &self,
        state: &AppState,
        profile: Option<&EnrollmentProfile>,
        who: &str,
        refusal: Refusal,
    ) -> Response {
        self.record_refusal(state, profile, who, &refusal).await;
        refusal.into_response()
    }

    /// Audits and counts a refusal that is answered in the protocol's own terms (a SCEP
    /// CertRep FAILURE), like [`refused`](Self::refused) does for HTTP errors. A rate limit is
    /// counted in its own metric and not audited.
    pub async fn record_refusal(
        &self,
        state: &AppState,
        profile: Option<&EnrollmentProfile>,
        who: &str,
        refusal: &Refusal,
    ) {
        state
            .metrics
            .enrollments
            .with_label_values(&[self.protocol.as_str(), "refused"])
            .inc();
        if !refusal.is_server_error() && refusal.code != "rate_limited" {
            let ip = self.ip_text();
            let resource = profile.map_or_else(|| "unknown".to_owned(), |p| p.id.to_string());
            let row = NewAuditEvent {
                actor: who.to_owned(),
                action: "enrollment.failed".into(),
                resource_type: "enrollment_profile".into(),
                resource_id: Some(resource.clone()),
                outcome: "denied",
                details: json!({ "reason": refusal.code, "detail": refusal.detail, "source_ip": ip,
                                 "path": self.path, "status": refusal.status.as_u16(),
                                 "enrollment_profile": profile.map(|p| &p.name) }),
                request_id: self.request_id.clone(),
                key_id: None,
                protocol: self.protocol.as_str(),
            };
            let group = format!("{}|{resource}|{who}|{ip}|{}", self.protocol.as_str(), refusal.code);
            if let Some(row) = state.denials.record_row(group, row, Instant::now())
                && let Err(e) = certctl_shared::repo::audit::append(&state.db, row).await
            {
                tracing::error!(error = %e, "failed to audit a refused enrollment");
            }
        }
    }

    /// Counts a served enrollment (`issued` or `pending`).
    pub fn served(&self, state: &AppState, outcome: &str) {
        state
            .metrics
            .enrollments
            .with_label_values(&[self.protocol.as_str(), outcome])
            .inc();
    }
}

fn check_limit(
    state: &AppState,
    protocol: Protocol,
    limiter: &RateLimiter,
    scope: &str,
    key: &str,
) -> Result<(), Refusal> {
    if limiter.allow(key, Instant::now()) {
        return Ok(());
    }
    state
        .metrics
        .enrollment_rate_limited
        .with_label_values(&[protocol.as_str(), scope])
        .inc();
    let mut refusal = Refusal::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("too many enrollment requests from this {scope}; retry later"),
    );
    refusal.retry_after = Some(limiter.retry_after());
    Err(refusal)
}

/// The profile in use for `protocol` at `label`, or the protocol's default for the bare path.
pub async fn find_profile(
    state: &AppState,
    protocol: EnrollmentProtocol,
    label: Option<&str>,
) -> Result<EnrollmentProfile, Refusal> {
    let found = match label {
        Some(label) => enrollment::find_active_by_label(&state.db, protocol, label).await?,
        None => enrollment::find_default(&state.db, protocol).await?,
    };
    found.ok_or_else(|| {
        let detail = match label {
            Some(label) => format!("no {protocol} enrollment profile in use has the label `{label}`"),
            None => format!("no {protocol} enrollment profile in use is marked default; use a labelled path"),
        };
        Refusal::new(StatusCode::NOT_FOUND, "enrollment_profile_not_found", detail)
    })
}

/// The certificate `issuer_id` issued that `der` is, byte for byte (so it is one of ours, with
/// the key the TLS handshake proved).
pub async fn issued_certificate(
    state: &AppState,
    issuer_id: IssuerId,
    der: &[u8],
) -> Result<Option<Certificate>, Refusal> {
    Ok(crate::service::issuance::find_issued(&state.db, issuer_id, der).await?)
}

/// Base64 in lines of 76 characters, as MIME bodies are written (RFC 2045 §6.8).
pub fn base64_lines(der: &[u8]) -> String {
    let flat = STANDARD.encode(der);
    let mut out = String::with_capacity(flat.len() + flat.len() / 76 + 1);
    for (i, chunk) in flat.as_bytes().chunks(76).enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
    }
    out.push('\n');
    out
}

/// A PEM `CERTIFICATE REQUEST` for DER, as the issuance use case takes CSRs.
pub fn csr_pem(der: &[u8]) -> String {
    certctl_pki::pkcs7::pem("CERTIFICATE REQUEST", der)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_bodies_are_wrapped_in_mime_lines() {
        let data: Vec<u8> = (0..=255).collect();
        let text = base64_lines(&data);
        assert!(text.lines().all(|l| l.len() <= 76));
        assert_eq!(
            certctl_pki::est::decode_base64_body(text.as_bytes()).as_deref(),
            Some(&data[..])
        );
    }
}

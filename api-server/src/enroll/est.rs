//! EST (RFC 7030, with the clarifications of RFC 8951): `/.well-known/est/{operation}` for the
//! default EST profile and `/.well-known/est/{label}/{operation}` for a labelled one.
//!
//! - `cacerts` (GET): the issuer's chain as a certs-only PKCS#7, base64. No authentication.
//! - `csrattrs` (GET): the key types and signature algorithms the profile accepts. No
//!   authentication.
//! - `simpleenroll` (POST, base64 PKCS#10): authenticated by a client certificate issued by the
//!   profile's client CA (TLS client authentication) or by HTTP Basic with the profile's
//!   username and password. The certificate's names come from the CSR (its subject's common name
//!   and requested subjectAltNames) and the profile's rules decide. `200` with the certificate as
//!   a certs-only PKCS#7, or `202` + `Retry-After` when the profile requires approval: the client
//!   sends the same request again and gets the certificate once it is approved.
//! - `simplereenroll` (POST): authenticated by the certificate being renewed as the TLS client
//!   certificate; the CSR keeps its subject (and its names, if it lists any) and may carry a new
//!   key.
//!
//! EST runs only over TLS: on a plain-HTTP listener every EST path answers `403 tls_required`.
//! `serverkeygen` and `fullcmc` are not served (404).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use certctl_pki::est::{BodyError, read_enrollment_body};
use certctl_pki::pkcs7::{certs_only, csr_attributes, pem_chain_der};
use certctl_pki::{KeyAlgorithm, ParsedCsr, PkiError};
use certctl_shared::entities::certificate::Model as Certificate;
use certctl_shared::entities::enrollment_profile::Model as EnrollmentProfile;
use certctl_shared::entities::enrollment_request::Model as EnrollmentRequest;
use certctl_shared::model::{CertificateStatus, EnrollmentProtocol, JobStatus};
use certctl_shared::repo::{certificates, enrollment, jobs};
use certctl_shared::serve::TlsInfo;
use chrono::Utc;

use super::{Client, RETRY_AFTER_PENDING_SECS, Refusal, base64_lines, csr_pem, find_profile, issued_certificate};
use crate::error::ApiError;
use crate::service::issuance::{self, IssueInput, IssueOutcome, KeySource};
use crate::service::issuers::cached_issuer;
use crate::service::{Actor, Protocol};
use crate::state::AppState;

/// The largest CSR body read (base64); real CSRs are a few KiB.
const MAX_CSR_BODY: usize = 64 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/.well-known/est/{operation}", any(default_profile))
        .route("/.well-known/est/{label}/{operation}", any(labelled_profile))
}

async fn default_profile(State(state): State<AppState>, Path(operation): Path<String>, req: Request) -> Response {
    handle(state, None, operation, req).await
}

async fn labelled_profile(
    State(state): State<AppState>,
    Path((label, operation)): Path<(String, String)>,
    req: Request,
) -> Response {
    handle(state, Some(label), operation, req).await
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operation {
    CaCerts,
    CsrAttrs,
    SimpleEnroll,
    SimpleReenroll,
}

impl Operation {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "cacerts" => Self::CaCerts,
            "csrattrs" => Self::CsrAttrs,
            "simpleenroll" => Self::SimpleEnroll,
            "simplereenroll" => Self::SimpleReenroll,
            _ => return None,
        })
    }

    fn method(self) -> Method {
        match self {
            Self::CaCerts | Self::CsrAttrs => Method::GET,
            Self::SimpleEnroll | Self::SimpleReenroll => Method::POST,
        }
    }
}

/// Who the request is from, as far as it is known so far, for the audit row of a refusal.
struct Context {
    profile: Option<EnrollmentProfile>,
    who: String,
}

async fn handle(state: AppState, label: Option<String>, operation: String, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let client = Client::new(Protocol::Est, &parts.extensions, &parts.headers, parts.uri.path());
    let mut ctx = Context {
        profile: None,
        who: format!("est:{}", label.as_deref().unwrap_or("default")),
    };
    match serve(&state, &client, &mut ctx, label.as_deref(), &operation, parts, body).await {
        Ok(resp) => resp,
        Err(refusal) => client.refused(&state, ctx.profile.as_ref(), &ctx.who, refusal).await,
    }
}

async fn serve(
    state: &AppState,
    client: &Client,
    ctx: &mut Context,
    label: Option<&str>,
    operation: &str,
    parts: Parts,
    body: Body,
) -> Result<Response, Refusal> {
    client.check_ip_limit(state)?;
    let op = Operation::parse(operation).ok_or_else(|| {
        Refusal::new(
            StatusCode::NOT_FOUND,
            "unknown_operation",
            format!(
                "EST operation `{operation}` is not served; these are: cacerts, csrattrs, simpleenroll, simplereenroll"
            ),
        )
    })?;
    let allowed = op.method();
    if parts.method != allowed && !(allowed == Method::GET && parts.method == Method::HEAD) {
        return Err(Refusal::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("EST {operation} takes {allowed}"),
        ));
    }
    // The body is read before anything can refuse the request: answering while the client is
    // still sending makes HTTP/2 reset the stream, and curl then reports a framing error instead
    // of the answer.
    let body = match op.method() {
        Method::POST => axum::body::to_bytes(body, MAX_CSR_BODY).await.map_err(|_| {
            Refusal::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the CSR body is larger than {MAX_CSR_BODY} bytes"),
            )
        })?,
        _ => axum::body::Bytes::new(),
    };
    let Some(tls) = parts.extensions.get::<Arc<TlsInfo>>().cloned() else {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "tls_required",
            "EST runs only over TLS (RFC 7030 §3.3): this listener is plain HTTP. Connect with https:// to an \
             api-server started with CERTCTL_TLS_CERT_FILE and CERTCTL_TLS_KEY_FILE",
        ));
    };
    let profile = find_profile(state, EnrollmentProtocol::Est, label).await?;
    ctx.who = format!("est:{}/anonymous", profile.name);
    ctx.profile = Some(profile.clone());
    match op {
        Operation::CaCerts => cacerts(state, &profile).await,
        Operation::CsrAttrs => csrattrs(state, &profile).await,
        Operation::SimpleEnroll => {
            let identity = authenticate(state, client, ctx, &profile, &parts, &tls).await?;
            let csr = read_csr(&parts, &body)?;
            let actor = actor(&profile, &identity, client);
            let common_name = csr
                .parsed
                .common_name
                .clone()
                .or_else(|| csr.parsed.requested_names.first().cloned());
            let Some(common_name) = common_name else {
                return Err(Refusal::bad_request(
                    "csr_without_name",
                    "the CSR has neither a subject common name nor a subjectAltName to certify",
                ));
            };
            let input = IssueInput {
                issuer_id: profile.issuer_id,
                profile_id: profile.profile_id,
                common_name,
                sans: Some(csr.parsed.requested_names.clone()),
                ttl_seconds: None,
                key: KeySource::Csr(csr.pem.clone()),
                idempotency_key: None,
            };
            enroll(state, client, &profile, &actor, &csr, Ask::Issue(input)).await
        }
        Operation::SimpleReenroll => {
            let current = current_certificate(state, ctx, &profile, &tls).await?;
            client.check_credential_limit(state, &format!("{}|cert:{}", profile.id, current.id))?;
            let csr = read_csr(&parts, &body)?;
            check_same_subject(&current, &csr.parsed)?;
            let actor = actor(&profile, &current.common_name, client);
            enroll(state, client, &profile, &actor, &csr, Ask::Renew(Box::new(current))).await
        }
    }
}

fn actor(profile: &EnrollmentProfile, identity: &str, client: &Client) -> Actor {
    let mut actor = Actor::enrollment(format!("est:{}/{identity}", profile.name), Protocol::Est, profile.id);
    actor.request_id.clone_from(&client.request_id);
    actor
}

/// `cacerts`: the issuer and every CA above it.
async fn cacerts(state: &AppState, profile: &EnrollmentProfile) -> Result<Response, Refusal> {
    let issuer = cached_issuer(state, &state.db, profile.issuer_id)
        .await?
        .ok_or_else(|| {
            Refusal::from(ApiError::internal(anyhow::anyhow!(
                "issuer {} is gone",
                profile.issuer_id
            )))
        })?;
    let chain = pem_chain_der(&issuer.chain_pem);
    let refs: Vec<&[u8]> = chain.iter().map(Vec::as_slice).collect();
    let p7 = certs_only(&refs).map_err(|e| Refusal::from(ApiError::internal(e)))?;
    Ok(pkcs7_response(StatusCode::OK, &p7))
}

/// `csrattrs`: what the certificate profile accepts.
async fn csrattrs(state: &AppState, profile: &EnrollmentProfile) -> Result<Response, Refusal> {
    let cert_profile = certctl_shared::repo::profiles::find_by_id(&state.db, profile.profile_id)
        .await?
        .ok_or_else(|| {
            Refusal::from(ApiError::internal(anyhow::anyhow!(
                "profile {} is gone",
                profile.profile_id
            )))
        })?;
    let algorithms: Vec<KeyAlgorithm> = cert_profile
        .allowed_key_algorithms
        .iter()
        .filter_map(|a| KeyAlgorithm::parse(a))
        .collect();
    let der = csr_attributes(&algorithms).map_err(|e| Refusal::from(ApiError::internal(e)))?;
    let mut resp = (StatusCode::OK, base64_lines(&der)).into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/csrattrs"));
    headers.insert("content-transfer-encoding", HeaderValue::from_static("base64"));
    Ok(resp)
}

/// A certs-only PKCS#7 body, base64, as EST sends certificates.
fn pkcs7_response(status: StatusCode, der: &[u8]) -> Response {
    let mut resp = (status, base64_lines(der)).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pkcs7-mime; smime-type=certs-only"),
    );
    headers.insert("content-transfer-encoding", HeaderValue::from_static("base64"));
    resp
}

/// `simpleenroll`'s authentication: a client certificate from the profile's client CA, else HTTP
/// Basic. Returns the identity for the actor (the certificate's common name or the username).
async fn authenticate(
    state: &AppState,
    client: &Client,
    ctx: &mut Context,
    profile: &EnrollmentProfile,
    parts: &Parts,
    tls: &TlsInfo,
) -> Result<String, Refusal> {
    let mut certificate_problem = None;
    if let (Some(leaf), Some(ca)) = (tls.peer_certificates.first(), profile.est_client_ca_issuer_id) {
        client.check_credential_limit(
            state,
            &format!("{}|cert:{}", profile.id, hex::encode(certctl_pki::sha256(leaf))),
        )?;
        match issued_certificate(state, ca, leaf).await? {
            Some(cert) if cert.status == CertificateStatus::Revoked => {
                certificate_problem = Some("the client certificate is revoked");
            }
            Some(cert) if cert.not_after <= Utc::now() || cert.not_before > Utc::now() => {
                certificate_problem = Some("the client certificate is not within its validity period");
            }
            Some(cert) => {
                ctx.who = format!("est:{}/{}", profile.name, cert.common_name);
                return Ok(cert.common_name);
            }
            None => certificate_problem = Some("the client certificate was not issued by this profile's client CA"),
        }
    }
    let basic = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")))
        .and_then(|b64| STANDARD.decode(b64.trim()).ok())
        .and_then(|raw| String::from_utf8(raw).ok());
    let realm = format!("certctl EST {}", profile.label);
    let (Some(username), Some(hash)) = (&profile.est_username, &profile.est_password_hash) else {
        let detail = certificate_problem.map_or_else(
            || "this EST profile authenticates with a client certificate; present one issued by its client CA".into(),
            str::to_owned,
        );
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "client_certificate_required",
            detail,
        ));
    };
    let unauthorized = |detail: &str| {
        let mut r = Refusal::new(StatusCode::UNAUTHORIZED, "bad_credentials", detail);
        r.basic_realm = Some(realm.clone());
        r
    };
    let Some(basic) = basic else {
        let detail = certificate_problem.unwrap_or("authenticate with HTTP Basic or a client certificate");
        return Err(unauthorized(detail));
    };
    let (given_user, given_password) = basic.split_once(':').unwrap_or((basic.as_str(), ""));
    ctx.who = format!("est:{}/{given_user}", profile.name);
    // Limited before the (deliberately slow) hash check, so guessing is slow too.
    client.check_credential_limit(state, &format!("{}|user:{given_user}", profile.id))?;
    let verified = state.verified_secrets.verify(given_password, hash).await;
    if !verified || given_user != username {
        return Err(unauthorized("wrong username or password"));
    }
    Ok(given_user.to_owned())
}

/// `simplereenroll`'s authentication: the TLS client certificate must be a certificate this
/// profile's issuer issued under this profile, still active.
async fn current_certificate(
    state: &AppState,
    ctx: &mut Context,
    profile: &EnrollmentProfile,
    tls: &TlsInfo,
) -> Result<Certificate, Refusal> {
    let forbidden = |code, detail: &str| Refusal::new(StatusCode::FORBIDDEN, code, detail);
    let Some(leaf) = tls.peer_certificates.first() else {
        return Err(forbidden(
            "client_certificate_required",
            "simplereenroll authenticates with the certificate being renewed: present it as the TLS client certificate",
        ));
    };
    let Some(cert) = issued_certificate(state, profile.issuer_id, leaf).await? else {
        return Err(forbidden(
            "unknown_client_certificate",
            "the client certificate is not one this profile's issuer issued",
        ));
    };
    ctx.who = format!("est:{}/{}", profile.name, cert.common_name);
    if cert.profile_id != profile.profile_id {
        return Err(forbidden(
            "wrong_profile",
            "the client certificate was issued under another certificate profile than this EST profile's",
        ));
    }
    let now = Utc::now();
    if cert.not_after <= now || cert.not_before > now {
        return Err(forbidden(
            "certificate_expired",
            "the client certificate is not within its validity period",
        ));
    }
    match cert.status {
        s if s.is_live() || s == CertificateStatus::Expired => Ok(cert),
        CertificateStatus::Revoked => Err(forbidden("certificate_revoked", "the client certificate is revoked")),
        _ => Err(forbidden(
            "certificate_superseded",
            "the client certificate was already renewed; re-enroll with its successor",
        )),
    }
}

/// RFC 7030 §4.2.2: a re-enrollment keeps the subject, and the subjectAltNames if it lists them.
fn check_same_subject(current: &Certificate, csr: &ParsedCsr) -> Result<(), Refusal> {
    let subject = x509_parser::parse_x509_certificate(&current.certificate_der)
        .map(|(_, c)| c.subject().as_raw().to_vec())
        .unwrap_or_default();
    if csr.subject_der != subject {
        return Err(Refusal::bad_request(
            "subject_mismatch",
            "a re-enrollment CSR must have the same subject as the certificate being renewed",
        ));
    }
    if !csr.requested_names.is_empty() {
        let norm = |names: &[String]| {
            let mut v: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
            v.sort();
            v.dedup();
            v
        };
        if norm(&csr.requested_names) != norm(&current.sans) {
            return Err(Refusal::bad_request(
                "subject_alt_name_mismatch",
                "a re-enrollment CSR must request the same subjectAltNames as the certificate being renewed (or none)",
            ));
        }
    }
    Ok(())
}

/// A verified CSR and its PEM form.
pub struct Csr {
    pub parsed: ParsedCsr,
    pub pem: String,
}

/// Reads the base64 PKCS#10 body (already read, at most `MAX_CSR_BODY` bytes).
fn read_csr(parts: &Parts, body: &[u8]) -> Result<Csr, Refusal> {
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/pkcs10") {
        return Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("an EST enrollment body is application/pkcs10 (base64 DER), not `{content_type}`"),
        ));
    }
    let (der, parsed) = read_enrollment_body(body).map_err(|e| match e {
        BodyError::NotBase64 => Refusal::bad_request("bad_base64", e.to_string()),
        BodyError::Csr(PkiError::BadCsrSignature) => Refusal::bad_request("bad_csr_signature", e.to_string()),
        BodyError::Csr(PkiError::UnsupportedKey(_)) => Refusal::bad_request("key_not_allowed", e.to_string()),
        BodyError::Csr(_) => Refusal::bad_request("malformed_csr", e.to_string()),
    })?;
    Ok(Csr {
        parsed,
        pem: csr_pem(&der),
    })
}

/// What an enrollment asks for.
enum Ask {
    Issue(IssueInput),
    Renew(Box<Certificate>),
}

/// Answers a request already made with this key (approved, rejected or still waiting), or
/// issues or files a new one.
async fn enroll(
    state: &AppState,
    client: &Client,
    profile: &EnrollmentProfile,
    actor: &Actor,
    csr: &Csr,
    request: Ask,
) -> Result<Response, Refusal> {
    let spki_sha256 = certctl_pki::sha256(&csr.parsed.spki_der).to_vec();
    if let Some(open) = enrollment::find_open_request(&state.db, profile.id, &actor.principal, &spki_sha256).await?
        && let Some(resp) = answer_open(state, client, &open).await?
    {
        return Ok(resp);
    }
    let outcome = match request {
        Ask::Issue(input) => issuance::issue(state, actor, input).await,
        Ask::Renew(current) => {
            issuance::renew(state, actor, current.id, None, Some(KeySource::Csr(csr.pem.clone()))).await
        }
    }
    .map_err(|e| Refusal::from(ApiError::from(e)))?;
    match outcome {
        // Issued at once: nothing to remember (the certificate and its audit row say it all), and
        // no second write on the issuance path.
        // (EST sends no idempotency key, so nothing is replayed.)
        IssueOutcome::Issued(issued) | IssueOutcome::Replayed(issued) => {
            client.served(state, "issued");
            issued_response(&issued.certificate)
        }
        // Remembered, so the client's next identical request finds this job.
        IssueOutcome::AwaitingApproval(job) => {
            let record = EnrollmentRequest {
                id: uuid::Uuid::now_v7(),
                enrollment_profile_id: profile.id,
                protocol: EnrollmentProtocol::Est,
                requester: actor.principal.clone(),
                transaction_id: None,
                spki_sha256,
                job_id: Some(job.id),
                certificate_id: None,
                created_at: Utc::now(),
                closed_at: None,
            };
            enrollment::insert_request(&state.db, record).await?;
            client.served(state, "pending");
            Ok(pending_response())
        }
    }
}

/// The answer to a request made before: `None` when it left nothing to answer with.
async fn answer_open(state: &AppState, client: &Client, open: &EnrollmentRequest) -> Result<Option<Response>, Refusal> {
    let Some(job_id) = open.job_id else {
        return Ok(None);
    };
    let Some(job) = jobs::find_by_id(&state.db, job_id).await? else {
        return Ok(None);
    };
    let close = |certificate_id| {
        enrollment::set_request_outcome(&state.db, open.id, Some(job_id), certificate_id, Some(Utc::now()))
    };
    match job.status {
        JobStatus::AwaitingApproval | JobStatus::Pending | JobStatus::AwaitingCsr => {
            client.served(state, "pending");
            Ok(Some(pending_response()))
        }
        JobStatus::Approved | JobStatus::Completed => {
            let cert = match job.certificate_id {
                Some(id) => certificates::find_by_id(&state.db, id).await?,
                None => None,
            };
            let Some(cert) = cert else {
                return Ok(None);
            };
            close(Some(cert.id)).await?;
            client.served(state, "issued");
            issued_response(&cert).map(Some)
        }
        JobStatus::Rejected | JobStatus::Failed | JobStatus::Cancelled => {
            close(None).await?;
            let who = job.decided_by.as_deref().unwrap_or("an approver");
            let detail = match (job.status, &job.error, &job.decision_note) {
                (JobStatus::Failed, Some(error), _) => format!("the approved request could not be issued: {error}"),
                (_, _, Some(note)) => format!("the request was rejected by {who}: {note}"),
                _ => format!("the request was rejected by {who}"),
            };
            Err(Refusal::new(StatusCode::FORBIDDEN, "request_rejected", detail))
        }
    }
}

fn issued_response(cert: &Certificate) -> Result<Response, Refusal> {
    let p7 = certs_only(&[&cert.certificate_der]).map_err(|e| Refusal::from(ApiError::internal(e)))?;
    Ok(pkcs7_response(StatusCode::OK, &p7))
}

/// `202 Accepted` + `Retry-After`: the request awaits approval (RFC 7030 §4.2.3).
fn pending_response() -> Response {
    let mut resp = (
        StatusCode::ACCEPTED,
        "the request awaits approval; send the same request again after Retry-After seconds\n",
    )
        .into_response();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_PENDING_SECS));
    resp
}

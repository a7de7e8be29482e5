//! SCEP (RFC 8894): `/scep` for the default SCEP profile and `/scep/{label}` for a labelled one
//! (also `/scep/{label}/pkiclient.exe`, the path some clients append), with the operation in the
//! `operation` query parameter:
//!
//! - `GetCACaps`: what the server supports, one capability per line.
//! - `GetCACert`: the profile's RA certificate and the issuer's chain, as a degenerate PKCS#7
//!   (`application/x-x509-ca-ra-cert`).
//! - `PKIOperation`, by POST (the DER pkiMessage as body) or GET (`message`, base64): PKCSReq
//!   (authenticated by the profile's challenge password in the CSR), RenewalReq (signed with the
//!   certificate being renewed), CertPoll/GetCertInitial and GetCert. The answer is a CertRep
//!   signed by the RA: SUCCESS with the certificate encrypted to the requester, PENDING while an
//!   approval is awaited, or FAILURE with a failInfo. A message too broken to answer in SCEP
//!   (no transaction id, nonce or signer) gets an HTTP 400.
//!
//! The pkiMessage itself is read and written by `certctl_pki::scep`; this module decides what
//! to issue, through the same use cases as the REST API, and remembers each transaction
//! (`enrollment_requests`), so a client re-sending its PKCSReq while it is pending, or polling,
//! gets the same request's answer, and a transaction id reused for another key is refused.

use std::collections::HashMap;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use certctl_pki::pkcs7::{certs_only, pem_chain_der};
use certctl_pki::scep::{
    FailInfo, MessageType, Payload, PkiRequest, Ra, Reply, ReplyStatus, Requester, ScepError, build_cert_rep,
    parse_pki_message,
};
use certctl_pki::{PkiError, parse_csr};
use certctl_shared::entities::certificate::Model as Certificate;
use certctl_shared::entities::enrollment_profile::Model as EnrollmentProfile;
use certctl_shared::entities::enrollment_request::Model as EnrollmentRequest;
use certctl_shared::model::{CertificateId, EnrollmentProtocol, JobId, JobStatus};
use certctl_shared::repo::{certificates, enrollment, jobs};
use chrono::Utc;
use sea_orm::{DbErr, SqlErr};

use super::{Client, Refusal, csr_pem, find_profile, issued_certificate};
use crate::error::ApiError;
use crate::service::enrollment::scep_ra;
use crate::service::issuance::{self, IssueInput, IssueOutcome, KeySource};
use crate::service::issuers::cached_issuer;
use crate::service::{Actor, Protocol};
use crate::state::AppState;

/// The largest pkiMessage read; real ones are a few KiB.
const MAX_MESSAGE: usize = 256 * 1024;

/// GetCACaps: POST for PKIOperation, the digests and ciphers `certctl_pki::scep` handles,
/// RFC 8894 conformance and RenewalReq.
const CAPABILITIES: &str = "POSTPKIOperation\nSHA-256\nSHA-512\nSHA-1\nAES\nDES3\nSCEPStandard\nRenewal\n";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/scep", any(default_profile))
        .route("/scep/{label}", any(labelled_profile))
        .route("/scep/{label}/pkiclient.exe", any(labelled_profile))
}

async fn default_profile(State(state): State<AppState>, req: Request) -> Response {
    handle(state, None, req).await
}

async fn labelled_profile(State(state): State<AppState>, Path(label): Path<String>, req: Request) -> Response {
    // `/scep/pkiclient.exe` is the default profile at the path some clients append.
    let label = (label != "pkiclient.exe").then_some(label);
    handle(state, label, req).await
}

/// Who the request is from, as far as it is known so far, for the audit row of a refusal.
struct Context {
    profile: Option<EnrollmentProfile>,
    who: String,
}

async fn handle(state: AppState, label: Option<String>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let client = Client::new(Protocol::Scep, &parts.extensions, &parts.headers, parts.uri.path());
    let mut ctx = Context {
        profile: None,
        who: format!("scep:{}", label.as_deref().unwrap_or("default")),
    };
    match serve(&state, &client, &mut ctx, label.as_deref(), parts, body).await {
        Ok(resp) => resp,
        Err(refusal) => client.refused(&state, ctx.profile.as_ref(), &ctx.who, refusal).await,
    }
}

async fn serve(
    state: &AppState,
    client: &Client,
    ctx: &mut Context,
    label: Option<&str>,
    parts: Parts,
    body: Body,
) -> Result<Response, Refusal> {
    client.check_ip_limit(state)?;
    let Query(query) = Query::<HashMap<String, String>>::try_from_uri(&parts.uri)
        .map_err(|_| Refusal::bad_request("bad_query", "the query string does not parse"))?;
    let operation = query.get("operation").map(String::as_str).unwrap_or("");
    // Read before anything can refuse the request (see the EST handler: HTTP/2 resets a stream
    // answered while the client is still sending).
    let body = if parts.method == Method::POST {
        axum::body::to_bytes(body, MAX_MESSAGE).await.map_err(|_| too_large())?
    } else {
        axum::body::Bytes::new()
    };
    let profile = find_profile(state, EnrollmentProtocol::Scep, label).await?;
    ctx.who = format!("scep:{}", profile.name);
    ctx.profile = Some(profile.clone());
    let get = parts.method == Method::GET || parts.method == Method::HEAD;
    match (operation, get, parts.method == Method::POST) {
        // RFC 8894 §3.5.2 says text/plain; certmonger refuses it with a charset parameter.
        ("GetCACaps", true, _) => Ok(with_type(CAPABILITIES.into(), "text/plain")),
        ("GetCACert", true, _) => get_ca_cert(state, &profile).await,
        ("PKIOperation", _, true) => pki_operation(state, client, &profile, &body).await,
        ("PKIOperation", true, _) => {
            let message = query
                .get("message")
                .ok_or_else(|| Refusal::bad_request("bad_message", "PKIOperation by GET takes `message`"))?;
            if message.len() > MAX_MESSAGE * 4 / 3 + 4 {
                return Err(too_large());
            }
            let der = decode_message_parameter(message)
                .ok_or_else(|| Refusal::bad_request("bad_base64", "`message` is not base64"))?;
            pki_operation(state, client, &profile, &der).await
        }
        ("GetCACaps" | "GetCACert", false, _) | ("PKIOperation", false, false) => Err(Refusal::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!(
                "SCEP {operation} takes GET{}",
                if operation == "PKIOperation" { " or POST" } else { "" }
            ),
        )),
        _ => Err(Refusal::bad_request(
            "unknown_operation",
            format!("SCEP operation `{operation}` is not served; these are: GetCACaps, GetCACert, PKIOperation"),
        )),
    }
}

/// The `message` of a GET PKIOperation: base64 in either alphabet (micromdm's client sends the
/// URL-safe one), padded or not, with the spaces that form decoding makes of unescaped `+`.
fn decode_message_parameter(message: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let compact: String = message
        .chars()
        .filter(|c| *c != '\n' && *c != '\r')
        .map(|c| if c == ' ' { '+' } else { c })
        .collect();
    [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(&compact).ok())
        .filter(|der| !der.is_empty())
}

fn too_large() -> Refusal {
    Refusal::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("a SCEP message is at most {MAX_MESSAGE} bytes"),
    )
}

fn with_type(body: Vec<u8>, content_type: &'static str) -> Response {
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// GetCACert: the RA certificate and the issuer's chain (RFC 8894 §4.2.1.2).
async fn get_ca_cert(state: &AppState, profile: &EnrollmentProfile) -> Result<Response, Refusal> {
    let ra = scep_ra(state, profile).await?;
    let issuer = cached_issuer(state, &state.db, profile.issuer_id)
        .await?
        .ok_or_else(|| {
            Refusal::from(ApiError::internal(anyhow::anyhow!(
                "issuer {} is gone",
                profile.issuer_id
            )))
        })?;
    let chain = pem_chain_der(&issuer.chain_pem);
    let mut all: Vec<&[u8]> = vec![ra.certificate_der()];
    all.extend(chain.iter().map(Vec::as_slice));
    let p7 = certs_only(&all).map_err(|e| Refusal::from(ApiError::internal(e)))?;
    Ok(with_type(p7, "application/x-x509-ca-ra-cert"))
}

/// What a CertRep answers, before it is built.
enum Answer {
    Success(Vec<u8>),
    Pending,
    /// FAILURE with this failInfo; the code and detail go to the audit log.
    Failure(FailInfo, &'static str, String),
}

/// A PKIOperation: reads the message, decides, and answers with a signed CertRep.
async fn pki_operation(
    state: &AppState,
    client: &Client,
    profile: &EnrollmentProfile,
    der: &[u8],
) -> Result<Response, Refusal> {
    let ra = scep_ra(state, profile).await?;
    let who = format!("scep:{}", profile.name);
    let parsed = {
        let (ra, der) = (ra.clone(), der.to_vec());
        tokio::task::spawn_blocking(move || parse_pki_message(&der, &ra))
            .await
            .map_err(|e| Refusal::from(ApiError::internal(e)))?
    };
    let (requester, answer) = match parsed {
        Err(ScepError::Malformed(reason)) => {
            return Err(Refusal::bad_request(
                "bad_message",
                format!("not a SCEP pkiMessage this server can answer: {reason}"),
            ));
        }
        Err(ScepError::Failure {
            requester,
            fail_info,
            reason,
        }) => (
            *requester,
            Answer::Failure(fail_info, fail_code(fail_info), reason.to_owned()),
        ),
        Ok(request) => {
            let answer = decide(state, client, profile, &request).await?;
            (request.requester, answer)
        }
    };
    reply(state, client, profile, &who, &ra, &requester, answer).await
}

fn fail_code(fail_info: FailInfo) -> &'static str {
    match fail_info {
        FailInfo::BadAlg => "bad_alg",
        FailInfo::BadMessageCheck => "bad_message_check",
        FailInfo::BadRequest => "bad_request",
        FailInfo::BadTime => "bad_time",
        FailInfo::BadCertId => "bad_cert_id",
    }
}

/// Builds and sends the CertRep, auditing a FAILURE as a refused enrollment.
async fn reply(
    state: &AppState,
    client: &Client,
    profile: &EnrollmentProfile,
    who: &str,
    ra: &Ra,
    requester: &Requester,
    answer: Answer,
) -> Result<Response, Refusal> {
    let mut answer = answer;
    if let Answer::Success(_) = &answer
        && !requester.can_receive_certificate()
    {
        answer = Answer::Failure(
            FailInfo::BadAlg,
            "bad_alg",
            "the certificate cannot be encrypted to the requester's key (SCEP needs RSA)".into(),
        );
    }
    let issued: Vec<&[u8]> = match &answer {
        Answer::Success(cert) => vec![cert.as_slice()],
        _ => Vec::new(),
    };
    let status = match &answer {
        Answer::Success(_) => {
            client.served(state, "issued");
            ReplyStatus::Success { certificates: &issued }
        }
        Answer::Pending => {
            client.served(state, "pending");
            ReplyStatus::Pending
        }
        Answer::Failure(fail_info, code, detail) => {
            let refusal = Refusal::new(StatusCode::OK, code, format!("CertRep FAILURE ({code}): {detail}"));
            client.record_refusal(state, Some(profile), who, &refusal).await;
            ReplyStatus::Failure(*fail_info)
        }
    };
    let rep = match build_cert_rep(ra, &Reply { requester, status }) {
        Ok(rep) => rep,
        Err(e) => return Err(ApiError::internal(e).into()),
    };
    Ok(with_type(rep, "application/x-pki-message"))
}

/// Decides a verified request.
async fn decide(
    state: &AppState,
    client: &Client,
    profile: &EnrollmentProfile,
    request: &PkiRequest,
) -> Result<Answer, Refusal> {
    let failure = |fail_info, code, detail: &str| Ok(Answer::Failure(fail_info, code, detail.to_owned()));
    match (&request.message_type, &request.payload) {
        (
            MessageType::PkcsReq,
            Payload::CertificationRequest {
                csr_der,
                challenge_password,
            },
        ) => {
            client.check_credential_limit(state, &format!("{}|challenge", profile.id))?;
            let Some(challenge) = challenge_password.clone() else {
                return failure(
                    FailInfo::BadRequest,
                    "challenge_missing",
                    "a PKCSReq needs the profile's challenge password in the CSR",
                );
            };
            let hash = profile.scep_challenge_hash.clone().unwrap_or_default();
            let matches = state.verified_secrets.verify(&challenge, &hash).await;
            if !matches {
                return failure(FailInfo::BadRequest, "bad_challenge", "wrong challenge password");
            }
            if profile.scep_challenge_expires_at.is_some_and(|t| t <= Utc::now()) {
                return failure(
                    FailInfo::BadRequest,
                    "challenge_expired",
                    "the challenge password has expired",
                );
            }
            enroll(state, client, profile, request, csr_der, None).await
        }
        (MessageType::RenewalReq, Payload::CertificationRequest { csr_der, .. }) => {
            let signer = &request.requester.certificate_der;
            client.check_credential_limit(
                state,
                &format!("{}|cert:{}", profile.id, hex::encode(certctl_pki::sha256(signer))),
            )?;
            let Some(current) = issued_certificate(state, profile.issuer_id, signer).await? else {
                return failure(
                    FailInfo::BadCertId,
                    "unknown_client_certificate",
                    "a RenewalReq must be signed with a certificate this profile's issuer issued",
                );
            };
            let now = Utc::now();
            if current.profile_id != profile.profile_id {
                return failure(
                    FailInfo::BadRequest,
                    "wrong_profile",
                    "the certificate was issued under another profile",
                );
            }
            if !current.status.is_live() || current.not_after <= now || current.not_before > now {
                return failure(
                    FailInfo::BadCertId,
                    "certificate_not_active",
                    "the certificate to renew is revoked, already renewed or expired",
                );
            }
            enroll(state, client, profile, request, csr_der, Some(current)).await
        }
        (MessageType::CertPoll, Payload::IssuerAndSubject { .. }) => {
            let Some(row) =
                enrollment::find_request_by_transaction(&state.db, profile.id, &request.requester.transaction_id)
                    .await?
            else {
                return failure(
                    FailInfo::BadCertId,
                    "unknown_transaction",
                    "no request has this transaction id",
                );
            };
            if !same_key(&row, &request.requester.certificate_der) {
                return failure(
                    FailInfo::BadCertId,
                    "unknown_transaction",
                    "the poll is not signed with the requester's key",
                );
            }
            Ok(answer_existing(state, &row).await?.unwrap_or(Answer::Pending))
        }
        (MessageType::GetCert, Payload::IssuerAndSerial { serial, .. }) => {
            let serial_hex = hex::encode(serial.iter().skip_while(|b| **b == 0).copied().collect::<Vec<u8>>());
            let padded = format!("{serial_hex:0>32}");
            let found = match certificates::find_by_serial(&state.db, profile.issuer_id, &padded).await? {
                Some(c) => Some(c),
                None => certificates::find_by_serial(&state.db, profile.issuer_id, &serial_hex).await?,
            };
            match found {
                Some(cert) => Ok(Answer::Success(cert.certificate_der)),
                None => failure(
                    FailInfo::BadCertId,
                    "unknown_certificate",
                    "no certificate has this serial",
                ),
            }
        }
        _ => failure(
            FailInfo::BadRequest,
            "unsupported_message",
            "this message type is not served (GetCRL: use the CRL distribution point in the certificate)",
        ),
    }
}

/// Whether the request row is for the key of the certificate that signed this message.
fn same_key(row: &EnrollmentRequest, signer_der: &[u8]) -> bool {
    x509_parser::parse_x509_certificate(signer_der)
        .map(|(_, c)| certctl_pki::sha256(c.public_key().raw).as_slice() == row.spki_sha256.as_slice())
        .unwrap_or(false)
}

/// A PKCSReq or RenewalReq: answers the transaction if it is known, else claims it and issues,
/// renews or files for approval.
async fn enroll(
    state: &AppState,
    client: &Client,
    profile: &EnrollmentProfile,
    request: &PkiRequest,
    csr_der: &[u8],
    renew: Option<Certificate>,
) -> Result<Answer, Refusal> {
    let failure = |fail_info, code, detail: String| Ok(Answer::Failure(fail_info, code, detail));
    let csr = match parse_csr(csr_der) {
        Ok(csr) => csr,
        Err(e @ PkiError::BadCsrSignature) => {
            return failure(FailInfo::BadMessageCheck, "bad_csr_signature", e.to_string());
        }
        Err(e) => return failure(FailInfo::BadRequest, "malformed_csr", e.to_string()),
    };
    let spki_sha256 = certctl_pki::sha256(&csr.spki_der).to_vec();
    let transaction_id = &request.requester.transaction_id;
    let principal = format!("scep:{}", profile.name);
    let mut existing = enrollment::find_request_by_transaction(&state.db, profile.id, transaction_id).await?;
    // The transaction that issued the very certificate now being renewed is over: a client that
    // derives its transaction id from the key sends the same id again for the renewal.
    if let (Some(row), Some(current)) = (&existing, &renew)
        && row.closed_at.is_some()
        && row.certificate_id == Some(current.id)
    {
        existing = None;
    }
    let row = match existing {
        Some(row) if row.spki_sha256 != spki_sha256 => {
            return failure(
                FailInfo::BadRequest,
                "transaction_reused",
                "this transaction id was used for another key; start a new transaction".into(),
            );
        }
        Some(row) => match answer_existing(state, &row).await? {
            Some(answer) => return Ok(answer),
            // Claimed by a request that stopped before it was decided: decide it now.
            None => row,
        },
        None => {
            let claim = EnrollmentRequest {
                id: uuid::Uuid::now_v7(),
                enrollment_profile_id: profile.id,
                protocol: EnrollmentProtocol::Scep,
                requester: principal.clone(),
                transaction_id: Some(transaction_id.clone()),
                spki_sha256,
                job_id: None,
                certificate_id: None,
                created_at: Utc::now(),
                closed_at: None,
            };
            match enrollment::insert_request(&state.db, claim).await {
                Ok(row) => row,
                // The same transaction, sent twice at once: the other one decides it.
                Err(e) if unique_violation(&e) => return Ok(Answer::Pending),
                Err(e) => return Err(e.into()),
            }
        }
    };
    let close = |certificate_id: Option<CertificateId>, job_id: Option<JobId>| {
        let closed = certificate_id.is_some() || job_id.is_none();
        enrollment::set_request_outcome(&state.db, row.id, job_id, certificate_id, closed.then(Utc::now))
    };
    if renew.is_none()
        && profile.scep_challenge_one_time
        && !enrollment::use_one_time_challenge(&state.db, profile.id, Utc::now()).await?
    {
        close(None, None).await?;
        return failure(
            FailInfo::BadRequest,
            "challenge_used",
            "this one-time challenge password was already used".into(),
        );
    }
    let mut actor = Actor::enrollment(principal, Protocol::Scep, profile.id);
    actor.request_id.clone_from(&client.request_id);
    let pem = csr_pem(csr_der);
    let outcome = match renew {
        Some(current) => issuance::renew(state, &actor, current.id, None, Some(KeySource::Csr(pem))).await,
        None => {
            let Some(common_name) = csr.common_name.clone().or_else(|| csr.requested_names.first().cloned()) else {
                close(None, None).await?;
                return failure(
                    FailInfo::BadRequest,
                    "csr_without_name",
                    "the CSR has neither a subject common name nor a subjectAltName".into(),
                );
            };
            let input = IssueInput {
                issuer_id: profile.issuer_id,
                profile_id: profile.profile_id,
                common_name,
                sans: Some(csr.requested_names.clone()),
                ttl_seconds: None,
                key: KeySource::Csr(pem),
                idempotency_key: None,
            };
            issuance::issue(state, &actor, input).await
        }
    };
    match outcome {
        // (SCEP sends no idempotency key, so nothing is replayed.)
        Ok(IssueOutcome::Issued(issued) | IssueOutcome::Replayed(issued)) => {
            close(Some(issued.certificate.id), None).await?;
            Ok(Answer::Success(issued.certificate.certificate_der.clone()))
        }
        Ok(IssueOutcome::AwaitingApproval(job)) => {
            close(None, Some(job.id)).await?;
            Ok(Answer::Pending)
        }
        Err(e) => {
            let e = ApiError::from(e);
            if e.status().is_server_error() {
                // Left open: the client's retry of the same transaction decides it again.
                return Err(e.into());
            }
            close(None, None).await?;
            failure(FailInfo::BadRequest, e.code(), e.to_string())
        }
    }
}

fn unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// The answer to a transaction seen before: `None` when it was claimed but never decided.
async fn answer_existing(state: &AppState, row: &EnrollmentRequest) -> Result<Option<Answer>, Refusal> {
    if let Some(id) = row.certificate_id
        && let Some(cert) = certificates::find_by_id(&state.db, id).await?
    {
        return Ok(Some(Answer::Success(cert.certificate_der)));
    }
    let Some(job_id) = row.job_id else {
        return Ok(row.closed_at.map(|_| {
            Answer::Failure(
                FailInfo::BadRequest,
                "transaction_closed",
                "this transaction was refused; start a new one".into(),
            )
        }));
    };
    let Some(job) = jobs::find_by_id(&state.db, job_id).await? else {
        return Ok(None);
    };
    match job.status {
        JobStatus::AwaitingApproval | JobStatus::Pending | JobStatus::AwaitingCsr => Ok(Some(Answer::Pending)),
        JobStatus::Approved | JobStatus::Completed => {
            let cert = match job.certificate_id {
                Some(id) => certificates::find_by_id(&state.db, id).await?,
                None => None,
            };
            let Some(cert) = cert else {
                return Ok(None);
            };
            enrollment::set_request_outcome(&state.db, row.id, Some(job_id), Some(cert.id), Some(Utc::now())).await?;
            Ok(Some(Answer::Success(cert.certificate_der)))
        }
        JobStatus::Rejected | JobStatus::Failed | JobStatus::Cancelled => {
            if row.closed_at.is_none() {
                enrollment::set_request_outcome(&state.db, row.id, Some(job_id), None, Some(Utc::now())).await?;
            }
            let who = job.decided_by.as_deref().unwrap_or("an approver");
            let detail = match (&job.error, &job.decision_note) {
                (Some(error), _) if job.status == JobStatus::Failed => {
                    format!("the approved request could not be issued: {error}")
                }
                (_, Some(note)) => format!("rejected by {who}: {note}"),
                _ => format!("rejected by {who}"),
            };
            Ok(Some(Answer::Failure(FailInfo::BadRequest, "request_rejected", detail)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_messages_are_read_in_either_base64_alphabet() {
        let der: Vec<u8> = (0..=255).collect();
        let standard = STANDARD.encode(&der);
        let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&der);
        assert!(standard.contains('+') && url_safe.contains('-'));
        for form in [standard.clone(), url_safe, standard.replace('+', " ")] {
            assert_eq!(decode_message_parameter(&form).as_deref(), Some(&der[..]), "{form}");
        }
        assert_eq!(decode_message_parameter("%%%"), None);
        assert_eq!(decode_message_parameter(""), None);
    }
}

//! The API's one error type and its mapping to RFC 9457 `application/problem+json`.
//!
//! Every error a client can see has a stable machine `code`. The use cases return domain errors;
//! the `From` impls below are the one table that turns each into a status and a code. Internal
//! errors are logged here, once, and shown as an opaque 500.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sea_orm::{DbErr, SqlErr};
use serde::Serialize;

use crate::service::Fault;
use crate::service::acme_endpoints::AcmeEndpointError;
use crate::service::api_keys::KeyError;
use crate::service::channels::ChannelError;
use crate::service::discovery::DiscoveryError;
use crate::service::enrollment::EnrollmentError;
use crate::service::issuance::{IssueError, Rule};
use crate::service::issuers::IssuerError;
use crate::service::jobs::DecideError;
use crate::service::notifications::RequeueError;
use crate::service::profiles::ProfileError;
use crate::service::renewal::{JobActionError, PolicyError};
use crate::service::revocation::{BulkRevokeError, RevokeError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{1}")]
    BadRequest(&'static str, String),
    #[error("missing or invalid API key")]
    Unauthorized,
    #[error("{1}")]
    Forbidden(&'static str, String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{1}")]
    Conflict(&'static str, String),
    #[error("request body is larger than the limit")]
    PayloadTooLarge,
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("the request took longer than the server allows")]
    Timeout,
    /// The database cannot be reached; the client should retry after `RETRY_AFTER_SECS`.
    #[error("the service cannot reach its database right now; retry shortly")]
    Unavailable,
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::BadRequest(code, detail.into())
    }
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::Conflict(code, detail.into())
    }
    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        ApiError::Internal(e.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(..) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(..) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(..) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Timeout | ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(code, _) | ApiError::Forbidden(code, _) | ApiError::Conflict(code, _) => code,
            ApiError::Unauthorized => "unauthorized",
            ApiError::NotFound(_) => "not_found",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Timeout => "timeout",
            ApiError::Unavailable => "service_unavailable",
            ApiError::Internal(_) => "internal",
        }
    }
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: String,
    code: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(e) = &self {
            tracing::error!(error = format!("{e:#}"), "request failed with an internal error");
        }
        let status = self.status();
        let mut resp = problem_response(status, self.code(), self.to_string());
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"certctl\""),
            );
        }
        resp
    }
}

/// An `application/problem+json` response: what every error of the API, and of the enrollment
/// protocols where they let the server choose the body, looks like.
pub fn problem_response(status: StatusCode, code: &str, detail: String) -> Response {
    let problem = Problem {
        kind: format!("https://certctl.dev/problems/{code}"),
        title: status.canonical_reason().unwrap_or("error"),
        status: status.as_u16(),
        detail,
        code,
    };
    let mut resp = (status, Json(problem)).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    resp
}

/// What a 503 asks the client to wait, in seconds: about as long as the pool takes to give up on
/// a connection, so a retry has a fair chance.
pub const RETRY_AFTER_SECS: u32 = 5;

impl From<DbErr> for ApiError {
    fn from(e: DbErr) -> Self {
        Fault::Database(e).into()
    }
}

// The table: every domain error of the use cases, as a status and a stable code. The detail
// shown is the error's own text.

impl From<Fault> for ApiError {
    fn from(e: Fault) -> Self {
        match e {
            Fault::Database(e) if certctl_shared::db::is_unavailable(&e) => {
                tracing::warn!(error = %e, "database unavailable");
                ApiError::Unavailable
            }
            Fault::Database(e) => match e.sql_err() {
                Some(SqlErr::UniqueConstraintViolation(detail)) => {
                    ApiError::conflict("already_exists", unique_violation_detail(&detail))
                }
                _ => ApiError::Internal(anyhow::Error::new(e).context("database error")),
            },
            Fault::Internal(e) => ApiError::Internal(e),
        }
    }
}

impl From<IssueError> for ApiError {
    fn from(e: IssueError) -> Self {
        use IssueError as E;
        let detail = e.to_string();
        match e {
            E::UnknownIssuer(_) => ApiError::bad_request("unknown_issuer", detail),
            E::UnknownProfile(_) => ApiError::bad_request("unknown_profile", detail),
            E::Refused(rule, _) => ApiError::bad_request(rule_code(rule), detail),
            E::ProfileChanged => ApiError::conflict("profile_changed", detail),
            E::KeyCompromised => ApiError::conflict("key_compromised", detail),
            E::CertificateNotFound => ApiError::NotFound("certificate"),
            E::CertificateRevoked => ApiError::conflict("certificate_revoked", detail),
            E::CertificateSuperseded(_) => ApiError::conflict("certificate_superseded", detail),
            E::CertificateNotActive => ApiError::conflict("certificate_not_active", detail),
            E::IssuerDisabled(_) => ApiError::conflict("issuer_disabled", detail),
            E::IdempotencyKeyReused(_) => ApiError::conflict("idempotency_key_reused", detail),
            E::IdempotencyUnsupported(_) => ApiError::bad_request("idempotency_not_supported", detail),
            // `issue` answers this one itself; reaching here is a bug.
            E::DuplicateIdempotencyKey => ApiError::Internal(anyhow::anyhow!(detail)),
            E::Fault(f) => f.into(),
        }
    }
}

fn rule_code(rule: Rule) -> &'static str {
    match rule {
        Rule::Request => "invalid_request",
        Rule::Csr => "invalid_csr",
        Rule::CsrSignature => "bad_csr_signature",
        Rule::Names => "san_not_allowed",
        Rule::KeyType => "key_not_allowed",
        Rule::Lifetime => "ttl_exceeds_profile",
        Rule::ShortLived => "short_lived_not_allowed",
        Rule::OutlastsIssuer => "validity_exceeds_issuer",
        Rule::CsrRequired => "csr_required",
    }
}

impl From<DecideError> for ApiError {
    fn from(e: DecideError) -> Self {
        use DecideError as E;
        let detail = e.to_string();
        match e {
            E::NoteTooLong => ApiError::bad_request("invalid_request", detail),
            E::NotFound => ApiError::NotFound("job"),
            E::OwnRequest { .. } => ApiError::Forbidden("self_approval_forbidden", detail),
            E::AlreadyDecided(_) => ApiError::conflict("job_already_decided", detail),
            E::Issue(e) => e.into(),
            E::Fault(f) => f.into(),
        }
    }
}

impl From<RevokeError> for ApiError {
    fn from(e: RevokeError) -> Self {
        let detail = e.to_string();
        match e {
            RevokeError::NotFound => ApiError::NotFound("certificate"),
            RevokeError::AlreadyRevoked(_) => ApiError::conflict("already_revoked", detail),
            RevokeError::Fault(f) => f.into(),
        }
    }
}

impl From<BulkRevokeError> for ApiError {
    fn from(e: BulkRevokeError) -> Self {
        let detail = e.to_string();
        match e {
            BulkRevokeError::NoCriteria => ApiError::bad_request("empty_criteria", detail),
            BulkRevokeError::Fault(f) => f.into(),
        }
    }
}

impl From<IssuerError> for ApiError {
    fn from(e: IssuerError) -> Self {
        use IssuerError as E;
        let detail = e.to_string();
        match e {
            E::Invalid(_) => ApiError::bad_request("invalid_request", detail),
            E::UnknownParent(_) => ApiError::bad_request("unknown_issuer", detail),
            E::ParentNotRoot => ApiError::bad_request("parent_not_root", detail),
            E::OutlastsParent(_) => ApiError::bad_request("validity_exceeds_issuer", detail),
            E::NameTaken => ApiError::conflict("already_exists", detail),
            E::Fault(f) => f.into(),
        }
    }
}

impl From<PolicyError> for ApiError {
    fn from(e: PolicyError) -> Self {
        let detail = e.to_string();
        match e {
            PolicyError::Invalid(_) => ApiError::bad_request("invalid_request", detail),
            PolicyError::NotFound => ApiError::NotFound("renewal policy"),
            PolicyError::CertificateNotFound => ApiError::NotFound("certificate"),
            PolicyError::NameTaken => ApiError::conflict("already_exists", detail),
            PolicyError::BuiltIn => ApiError::conflict("built_in_policy", detail),
            PolicyError::InUse => ApiError::conflict("policy_in_use", detail),
            PolicyError::Fault(f) => f.into(),
        }
    }
}

impl From<JobActionError> for ApiError {
    fn from(e: JobActionError) -> Self {
        let detail = e.to_string();
        match e {
            JobActionError::NotFound => ApiError::NotFound("job"),
            JobActionError::WrongState { .. } => ApiError::conflict("job_state", detail),
            JobActionError::NoKey => ApiError::conflict("no_key", detail),
            JobActionError::KeyCollected(_) => ApiError::conflict("key_already_collected", detail),
            JobActionError::NotOwner(_) => ApiError::Forbidden("not_key_owner", detail),
            JobActionError::Issue(e) => e.into(),
            JobActionError::Fault(f) => f.into(),
        }
    }
}

impl From<DiscoveryError> for ApiError {
    fn from(e: DiscoveryError) -> Self {
        let detail = e.to_string();
        match e {
            DiscoveryError::Invalid(_) => ApiError::bad_request("invalid_request", detail),
            DiscoveryError::TargetNotFound => ApiError::NotFound("scan target"),
            DiscoveryError::CertificateNotFound => ApiError::NotFound("discovered certificate"),
            DiscoveryError::NameTaken => ApiError::conflict("already_exists", detail),
            DiscoveryError::Managed => ApiError::conflict("certificate_managed", detail),
            DiscoveryError::Fault(f) => f.into(),
        }
    }
}

impl From<ProfileError> for ApiError {
    fn from(e: ProfileError) -> Self {
        let detail = e.to_string();
        match e {
            ProfileError::Invalid(_) => ApiError::bad_request("invalid_request", detail),
            ProfileError::NotFound => ApiError::NotFound("profile"),
            ProfileError::NameTaken => ApiError::conflict("already_exists", detail),
            ProfileError::Fault(f) => f.into(),
        }
    }
}

impl From<KeyError> for ApiError {
    fn from(e: KeyError) -> Self {
        use KeyError as E;
        let detail = e.to_string();
        match e {
            E::Invalid(_) => ApiError::bad_request("invalid_request", detail),
            E::NameTaken => ApiError::conflict("already_exists", detail),
            E::PrincipalTaken { .. } => ApiError::conflict("principal_taken", detail),
            E::NotFound => ApiError::NotFound("api key"),
            E::LastAdmin => ApiError::conflict("last_admin_key", detail),
            E::Fault(f) => f.into(),
        }
    }
}

impl From<ChannelError> for ApiError {
    fn from(e: ChannelError) -> Self {
        use ChannelError as E;
        let detail = e.to_string();
        match e {
            E::Invalid(_) => ApiError::bad_request("invalid_request", detail),
            E::InvalidConfig(_) => ApiError::bad_request("invalid_channel_config", detail),
            E::NotFound => ApiError::NotFound("notification channel"),
            E::Disabled => ApiError::conflict("channel_disabled", detail),
            E::NameTaken => ApiError::conflict("already_exists", detail),
            E::Fault(f) => f.into(),
        }
    }
}

impl From<RequeueError> for ApiError {
    fn from(e: RequeueError) -> Self {
        let detail = e.to_string();
        match e {
            RequeueError::NotFound => ApiError::NotFound("notification"),
            RequeueError::WrongState(_) => ApiError::conflict("not_requeueable", detail),
            RequeueError::Fault(f) => f.into(),
        }
    }
}

impl From<EnrollmentError> for ApiError {
    fn from(e: EnrollmentError) -> Self {
        use EnrollmentError as E;
        let detail = e.to_string();
        match e {
            E::Invalid(_) => ApiError::bad_request("invalid_request", detail),
            E::UnknownIssuer(_) => ApiError::bad_request("unknown_issuer", detail),
            E::UnknownProfile(_) => ApiError::bad_request("unknown_profile", detail),
            E::NameTaken => ApiError::conflict("already_exists", detail),
            E::LabelTaken => ApiError::conflict("label_taken", detail),
            E::DefaultTaken => ApiError::conflict("default_taken", detail),
            E::NotFound => ApiError::NotFound("enrollment profile"),
            E::Fault(f) => f.into(),
        }
    }
}

impl From<AcmeEndpointError> for ApiError {
    fn from(e: AcmeEndpointError) -> Self {
        use AcmeEndpointError as E;
        let detail = e.to_string();
        match e {
            E::Invalid(_) => ApiError::bad_request("invalid_request", detail),
            E::UnknownIssuer(_) => ApiError::bad_request("unknown_issuer", detail),
            E::UnknownProfile(_) => ApiError::bad_request("unknown_profile", detail),
            E::NameTaken => ApiError::conflict("already_exists", detail),
            E::LabelTaken => ApiError::conflict("label_taken", detail),
            E::NotFound => ApiError::NotFound("ACME endpoint"),
            E::Fault(f) => f.into(),
        }
    }
}

/// Names the conflicting field without echoing database internals.
fn unique_violation_detail(detail: &str) -> String {
    if detail.contains("_name_key") {
        "a resource with this name already exists".to_owned()
    } else {
        "the resource already exists".to_owned()
    }
}

/// The problems a use case's error can become, for the API description: each operation in the
/// OpenAPI document lists the codes of the errors its handler returns, next to the ones every
/// route shares (see `openapi.rs`). The tests below keep each list equal to what the `From`
/// table above produces.
pub trait Problems {
    fn problems() -> Vec<(StatusCode, &'static str)>;
}

macro_rules! problems {
    ($($error:ty => [$($status:ident $code:literal),* $(,)?] $(+ $inner:ty)?;)+) => {$(
        impl Problems for $error {
            fn problems() -> Vec<(StatusCode, &'static str)> {
                #[allow(unused_mut)]
                let mut all = vec![$((StatusCode::$status, $code)),*];
                $(all.extend(<$inner as Problems>::problems());)?
                all
            }
        }
    )+};
}

problems! {
    IssueError => [
        BAD_REQUEST "unknown_issuer", BAD_REQUEST "unknown_profile", BAD_REQUEST "invalid_request",
        BAD_REQUEST "invalid_csr", BAD_REQUEST "bad_csr_signature", BAD_REQUEST "san_not_allowed",
        BAD_REQUEST "key_not_allowed", BAD_REQUEST "ttl_exceeds_profile", BAD_REQUEST "short_lived_not_allowed",
        BAD_REQUEST "validity_exceeds_issuer", BAD_REQUEST "csr_required", CONFLICT "profile_changed",
        CONFLICT "key_compromised", NOT_FOUND "not_found", CONFLICT "certificate_revoked",
        CONFLICT "certificate_superseded", CONFLICT "certificate_not_active", CONFLICT "issuer_disabled",
    ];
    DecideError => [
        BAD_REQUEST "invalid_request", NOT_FOUND "not_found", FORBIDDEN "self_approval_forbidden",
        CONFLICT "job_already_decided",
    ] + IssueError;
    RevokeError => [NOT_FOUND "not_found", CONFLICT "already_revoked"];
    BulkRevokeError => [BAD_REQUEST "empty_criteria"];
    IssuerError => [
        BAD_REQUEST "invalid_request", BAD_REQUEST "unknown_issuer", BAD_REQUEST "parent_not_root",
        BAD_REQUEST "validity_exceeds_issuer", CONFLICT "already_exists",
    ];
    ProfileError => [BAD_REQUEST "invalid_request", NOT_FOUND "not_found", CONFLICT "already_exists"];
    DiscoveryError => [
        BAD_REQUEST "invalid_request", NOT_FOUND "not_found", CONFLICT "already_exists", CONFLICT "certificate_managed",
    ];
    PolicyError => [
        BAD_REQUEST "invalid_request", NOT_FOUND "not_found", CONFLICT "already_exists", CONFLICT "built_in_policy",
        CONFLICT "policy_in_use",
    ];
    JobActionError => [
        NOT_FOUND "not_found", CONFLICT "job_state", CONFLICT "no_key", CONFLICT "key_already_collected",
        FORBIDDEN "not_key_owner",
    ] + IssueError;
    KeyError => [
        BAD_REQUEST "invalid_request", CONFLICT "already_exists", CONFLICT "principal_taken",
        NOT_FOUND "not_found", CONFLICT "last_admin_key",
    ];
    ChannelError => [
        BAD_REQUEST "invalid_request", BAD_REQUEST "invalid_channel_config", NOT_FOUND "not_found",
        CONFLICT "channel_disabled", CONFLICT "already_exists",
    ];
    RequeueError => [NOT_FOUND "not_found", CONFLICT "not_requeueable"];
    EnrollmentError => [
        BAD_REQUEST "invalid_request", BAD_REQUEST "unknown_issuer", BAD_REQUEST "unknown_profile",
        CONFLICT "already_exists", CONFLICT "label_taken", CONFLICT "default_taken", NOT_FOUND "not_found",
    ];
    AcmeEndpointError => [
        BAD_REQUEST "invalid_request", BAD_REQUEST "unknown_issuer", BAD_REQUEST "unknown_profile",
        CONFLICT "already_exists", CONFLICT "label_taken", NOT_FOUND "not_found",
    ];
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use certctl_shared::model::{IssuerId, JobStatus, ProfileId};

    use super::*;

    /// Every variant of every use-case error, built once. The `match`es make adding a variant
    /// without a sample a compile error.
    fn issue_samples() -> Vec<IssueError> {
        use IssueError as E;
        let rules = [
            Rule::Request,
            Rule::Csr,
            Rule::CsrSignature,
            Rule::Names,
            Rule::KeyType,
            Rule::Lifetime,
            Rule::ShortLived,
            Rule::OutlastsIssuer,
            Rule::CsrRequired,
        ];
        for r in rules {
            match r {
                Rule::Request
                | Rule::Csr
                | Rule::CsrSignature
                | Rule::Names
                | Rule::KeyType
                | Rule::Lifetime
                | Rule::ShortLived
                | Rule::OutlastsIssuer
                | Rule::CsrRequired => {}
            }
        }
        let mut all: Vec<IssueError> = rules.into_iter().map(|r| E::Refused(r, String::new())).collect();
        all.extend([
            E::UnknownIssuer(IssuerId::new()),
            E::UnknownProfile(ProfileId::new()),
            E::ProfileChanged,
            E::KeyCompromised,
            E::CertificateNotFound,
            E::CertificateRevoked,
            E::CertificateSuperseded(String::new()),
            E::CertificateNotActive,
            E::IssuerDisabled(IssuerId::new()),
        ]);
        // (The idempotency refusals come only from a direct issuance, whose route lists them
        // itself: `routes::certificates::IdempotencyProblems`, tested there.)
        for e in &all {
            match e {
                E::UnknownIssuer(_)
                | E::UnknownProfile(_)
                | E::Refused(..)
                | E::ProfileChanged
                | E::KeyCompromised
                | E::CertificateNotFound
                | E::CertificateRevoked
                | E::CertificateSuperseded(_)
                | E::CertificateNotActive
                | E::IssuerDisabled(_)
                | E::IdempotencyKeyReused(_)
                | E::IdempotencyUnsupported(_)
                | E::DuplicateIdempotencyKey
                | E::Fault(_) => {}
            }
        }
        all
    }

    fn produced<E: Into<ApiError>>(samples: Vec<E>) -> BTreeSet<(StatusCode, &'static str)> {
        samples
            .into_iter()
            .map(|e| {
                let api = e.into();
                (api.status(), api.code())
            })
            .collect()
    }

    fn listed<E: Problems>() -> BTreeSet<(StatusCode, &'static str)> {
        E::problems().into_iter().collect()
    }

    #[test]
    fn each_use_case_lists_exactly_the_problems_its_errors_become() {
        assert_eq!(produced(issue_samples()), listed::<IssueError>());

        let mut decide = vec![
            DecideError::NoteTooLong,
            DecideError::NotFound,
            DecideError::OwnRequest {
                verb: "approve",
                reason: "",
            },
            DecideError::AlreadyDecided(Some(JobStatus::Approved)),
        ];
        decide.extend(issue_samples().into_iter().map(DecideError::Issue));
        for e in &decide {
            match e {
                DecideError::NoteTooLong
                | DecideError::NotFound
                | DecideError::OwnRequest { .. }
                | DecideError::AlreadyDecided(_)
                | DecideError::Issue(_)
                | DecideError::Fault(_) => {}
            }
        }
        assert_eq!(produced(decide), listed::<DecideError>());

        let revoke = vec![RevokeError::NotFound, RevokeError::AlreadyRevoked(None)];
        for e in &revoke {
            match e {
                RevokeError::NotFound | RevokeError::AlreadyRevoked(_) | RevokeError::Fault(_) => {}
            }
        }
        assert_eq!(produced(revoke), listed::<RevokeError>());

        let bulk = vec![BulkRevokeError::NoCriteria];
        for e in &bulk {
            match e {
                BulkRevokeError::NoCriteria | BulkRevokeError::Fault(_) => {}
            }
        }
        assert_eq!(produced(bulk), listed::<BulkRevokeError>());

        let issuer = vec![
            IssuerError::Invalid(String::new()),
            IssuerError::UnknownParent(IssuerId::new()),
            IssuerError::ParentNotRoot,
            IssuerError::OutlastsParent(chrono::Utc::now()),
            IssuerError::NameTaken,
        ];
        for e in &issuer {
            match e {
                IssuerError::Invalid(_)
                | IssuerError::UnknownParent(_)
                | IssuerError::ParentNotRoot
                | IssuerError::OutlastsParent(_)
                | IssuerError::NameTaken
                | IssuerError::Fault(_) => {}
            }
        }
        assert_eq!(produced(issuer), listed::<IssuerError>());

        let profile = vec![
            ProfileError::Invalid(String::new()),
            ProfileError::NotFound,
            ProfileError::NameTaken,
        ];
        for e in &profile {
            match e {
                ProfileError::Invalid(_)
                | ProfileError::NotFound
                | ProfileError::NameTaken
                | ProfileError::Fault(_) => {}
            }
        }
        assert_eq!(produced(profile), listed::<ProfileError>());

        let key = vec![
            KeyError::Invalid(String::new()),
            KeyError::NameTaken,
            KeyError::PrincipalTaken {
                principal: String::new(),
                holder: String::new(),
            },
            KeyError::NotFound,
            KeyError::LastAdmin,
        ];
        for e in &key {
            match e {
                KeyError::Invalid(_)
                | KeyError::NameTaken
                | KeyError::PrincipalTaken { .. }
                | KeyError::NotFound
                | KeyError::LastAdmin
                | KeyError::Fault(_) => {}
            }
        }
        assert_eq!(produced(key), listed::<KeyError>());

        let channel = vec![
            ChannelError::Invalid(String::new()),
            ChannelError::InvalidConfig(String::new()),
            ChannelError::NotFound,
            ChannelError::Disabled,
            ChannelError::NameTaken,
        ];
        for e in &channel {
            match e {
                ChannelError::Invalid(_)
                | ChannelError::InvalidConfig(_)
                | ChannelError::NotFound
                | ChannelError::Disabled
                | ChannelError::NameTaken
                | ChannelError::Fault(_) => {}
            }
        }
        assert_eq!(produced(channel), listed::<ChannelError>());

        let requeue = vec![
            RequeueError::NotFound,
            RequeueError::WrongState(certctl_shared::model::NotificationStatus::Sent),
        ];
        for e in &requeue {
            match e {
                RequeueError::NotFound | RequeueError::WrongState(_) | RequeueError::Fault(_) => {}
            }
        }
        assert_eq!(produced(requeue), listed::<RequeueError>());

        let enrollment = vec![
            EnrollmentError::Invalid(String::new()),
            EnrollmentError::UnknownIssuer(IssuerId::new()),
            EnrollmentError::UnknownProfile(ProfileId::new()),
            EnrollmentError::NameTaken,
            EnrollmentError::LabelTaken,
            EnrollmentError::DefaultTaken,
            EnrollmentError::NotFound,
        ];
        for e in &enrollment {
            match e {
                EnrollmentError::Invalid(_)
                | EnrollmentError::UnknownIssuer(_)
                | EnrollmentError::UnknownProfile(_)
                | EnrollmentError::NameTaken
                | EnrollmentError::LabelTaken
                | EnrollmentError::DefaultTaken
                | EnrollmentError::NotFound
                | EnrollmentError::Fault(_) => {}
            }
        }
        assert_eq!(produced(enrollment), listed::<EnrollmentError>());

        let acme = vec![
            AcmeEndpointError::Invalid(String::new()),
            AcmeEndpointError::UnknownIssuer(IssuerId::new()),
            AcmeEndpointError::UnknownProfile(ProfileId::new()),
            AcmeEndpointError::NameTaken,
            AcmeEndpointError::LabelTaken,
            AcmeEndpointError::NotFound,
        ];
        for e in &acme {
            match e {
                AcmeEndpointError::Invalid(_)
                | AcmeEndpointError::UnknownIssuer(_)
                | AcmeEndpointError::UnknownProfile(_)
                | AcmeEndpointError::NameTaken
                | AcmeEndpointError::LabelTaken
                | AcmeEndpointError::NotFound
                | AcmeEndpointError::Fault(_) => {}
            }
        }
        assert_eq!(produced(acme), listed::<AcmeEndpointError>());

        let policy = vec![
            PolicyError::Invalid(String::new()),
            PolicyError::NotFound,
            PolicyError::CertificateNotFound,
            PolicyError::NameTaken,
            PolicyError::BuiltIn,
            PolicyError::InUse,
        ];
        for e in &policy {
            match e {
                PolicyError::Invalid(_)
                | PolicyError::NotFound
                | PolicyError::CertificateNotFound
                | PolicyError::NameTaken
                | PolicyError::BuiltIn
                | PolicyError::InUse
                | PolicyError::Fault(_) => {}
            }
        }
        assert_eq!(produced(policy), listed::<PolicyError>());

        let mut action = vec![
            JobActionError::NotFound,
            JobActionError::WrongState {
                status: JobStatus::Pending,
                needs: "",
            },
            JobActionError::NoKey,
            JobActionError::KeyCollected(chrono::Utc::now()),
            JobActionError::NotOwner(String::new()),
        ];
        action.extend(issue_samples().into_iter().map(JobActionError::Issue));
        for e in &action {
            match e {
                JobActionError::NotFound
                | JobActionError::WrongState { .. }
                | JobActionError::NoKey
                | JobActionError::KeyCollected(_)
                | JobActionError::NotOwner(_)
                | JobActionError::Issue(_)
                | JobActionError::Fault(_) => {}
            }
        }
        assert_eq!(produced(action), listed::<JobActionError>());

        let discovery = vec![
            DiscoveryError::Invalid(String::new()),
            DiscoveryError::TargetNotFound,
            DiscoveryError::CertificateNotFound,
            DiscoveryError::NameTaken,
            DiscoveryError::Managed,
        ];
        for e in &discovery {
            match e {
                DiscoveryError::Invalid(_)
                | DiscoveryError::TargetNotFound
                | DiscoveryError::CertificateNotFound
                | DiscoveryError::NameTaken
                | DiscoveryError::Managed
                | DiscoveryError::Fault(_) => {}
            }
        }
        assert_eq!(produced(discovery), listed::<DiscoveryError>());
    }
}

//! The API's one error type and its mapping to RFC 9457 `application/problem+json`.
//!
//! Every error a client can see has a stable machine `code`. Internal errors are logged here, once,
//! and shown as an opaque 500.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sea_orm::{DbErr, SqlErr};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{1}")]
    BadRequest(&'static str, String),
    #[error("missing or invalid API key")]
    Unauthorized,
    #[error("{0}")]
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
        let code = self.code();
        let problem = Problem {
            kind: format!("https://certctl.dev/problems/{code}"),
            title: status.canonical_reason().unwrap_or("error"),
            status: status.as_u16(),
            detail: self.to_string(),
            code,
        };
        let mut resp = (status, Json(problem)).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
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

/// What a 503 asks the client to wait, in seconds: about as long as the pool takes to give up on
/// a connection, so a retry has a fair chance.
pub const RETRY_AFTER_SECS: u32 = 5;

impl From<DbErr> for ApiError {
    fn from(e: DbErr) -> Self {
        if certctl_shared::db::is_unavailable(&e) {
            tracing::warn!(error = %e, "database unavailable");
            return ApiError::Unavailable;
        }
        if let Some(SqlErr::UniqueConstraintViolation(detail)) = e.sql_err() {
            return ApiError::conflict("already_exists", unique_violation_detail(&detail));
        }
        ApiError::Internal(anyhow::Error::new(e).context("database error"))
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

impl From<certctl_pki::PkiError> for ApiError {
    fn from(e: certctl_pki::PkiError) -> Self {
        use certctl_pki::PkiError as P;
        match e {
            P::MalformedCsr => ApiError::bad_request("invalid_csr", e.to_string()),
            P::BadCsrSignature => ApiError::bad_request("bad_csr_signature", e.to_string()),
            P::UnsupportedKey(_) => ApiError::bad_request("key_not_allowed", e.to_string()),
            P::InvalidName(_) => ApiError::bad_request("san_not_allowed", e.to_string()),
            P::Build(_) | P::KeyGeneration => ApiError::internal(e),
        }
    }
}

impl From<certctl_shared::crypto::SealError> for ApiError {
    fn from(e: certctl_shared::crypto::SealError) -> Self {
        ApiError::internal(e)
    }
}

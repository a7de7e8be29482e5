//! Extractors that turn every malformed body or path into a 400 problem (never axum's default 422
//! or plain-text rejections). Query strings are read by [`crate::query::Params`].

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body. Requires `Content-Type: application/json`; an empty body is read as `{}` so that
/// actions whose fields are all optional can be posted bare.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
        let bytes = Bytes::from_request(req, state).await.map_err(|e| match e {
            BytesRejection::FailedToBufferBody(inner)
                if inner.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
            {
                ApiError::PayloadTooLarge
            }
            other => ApiError::bad_request("invalid_request", format!("could not read the request body: {other}")),
        })?;
        let body: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        if !bytes.is_empty() {
            match content_type.as_deref() {
                Some("application/json") => {}
                Some(t) if t.ends_with("+json") => {}
                _ => {
                    return Err(ApiError::UnsupportedMediaType(
                        "request body must be JSON with Content-Type: application/json".into(),
                    ));
                }
            }
        }
        serde_json::from_slice(body)
            .map(ApiJson)
            .map_err(|e| ApiError::bad_request("invalid_request", format!("invalid JSON body: {e}")))
    }
}

/// A path parameter; a bad UUID is a 400.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| ApiPath(v))
            .map_err(|e: PathRejection| {
                ApiError::bad_request("invalid_request", format!("invalid path: {}", e.body_text()))
            })
    }
}

//! The ACME server (RFC 8555), one per ACME endpoint at `/acme/{label}/…`: the way in for
//! cert-manager, certbot, lego, Caddy, Traefik and every other ACME client.
//!
//! Every request but the directory, `newNonce` and `renewalInfo` is a JWS (`application/jose+json`)
//! checked in [`authenticate`]: the protected header's `url` must be the URL the request reached,
//! its nonce one this server issued and nobody used (nonces are rows, so any replica accepts a
//! nonce another handed out, once), and its signature must verify with the account key (`kid`)
//! or, for `newAccount` and `revokeCert`, with the key it embeds (`jwk`). Every answer carries a
//! fresh `Replay-Nonce`, and every refusal is an RFC 8555 problem document
//! (`urn:ietf:params:acme:error:…`).
//!
//! Issuance goes through the same use case as the REST API (`service::issuance`), as the actor
//! `acme:<endpoint name>/<account id>`: the endpoint's profile decides names, key types and
//! lifetimes, and whether an approval is needed (the order then stays `processing` until someone
//! else approves its job). Challenges are validated in the background by [`validate`].

/// A POST handler for an ACME resource: reads the request whole, runs `$inner(&post)` (or
/// `$inner(&post, &id)` for a resource with an id in its path), and finishes the answer with a
/// fresh nonce and the directory link, whatever it is.
macro_rules! post_handler {
    ($name:ident => $inner:ident) => {
        pub async fn $name(
            axum::extract::State(state): axum::extract::State<crate::state::AppState>,
            axum::extract::Path(label): axum::extract::Path<String>,
            req: axum::extract::Request,
        ) -> axum::response::Response {
            match super::read_post(&state, &label, req).await {
                Ok(post) => {
                    let result = $inner(&post).await;
                    post.ctx.finish(result).await
                }
                Err(resp) => resp,
            }
        }
    };
    ($name:ident => $inner:ident, id) => {
        pub async fn $name(
            axum::extract::State(state): axum::extract::State<crate::state::AppState>,
            axum::extract::Path((label, id)): axum::extract::Path<(String, String)>,
            req: axum::extract::Request,
        ) -> axum::response::Response {
            match super::read_post(&state, &label, req).await {
                Ok(post) => {
                    let result = $inner(&post, &id).await;
                    post.ctx.finish(result).await
                }
                Err(resp) => resp,
            }
        }
    };
}

mod account;
mod objects;
mod order;
pub mod validate;

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use certctl_pki::jose::{self, JoseError, Jwk, Jws, KeyRef};
use certctl_shared::entities::acme_account::Model as AcmeAccount;
use certctl_shared::entities::acme_endpoint::Model as AcmeEndpoint;
use certctl_shared::model::AcmeAccountId;
use certctl_shared::repo::acme;
use chrono::Utc;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::json;

use crate::service::{Actor, Fault};
use crate::state::AppState;

/// How long a nonce stays usable after it is handed out.
const NONCE_LIFETIME_MINUTES: i64 = 60;

/// The ACME routes, under `/acme/{label}`; they authenticate by JWS, not with API keys. Unknown
/// paths and methods there are answered as ACME problems too.
pub fn router() -> Router<AppState> {
    let endpoint = Router::new()
        .route("/directory", get(directory))
        .route("/new-nonce", get(new_nonce).head(new_nonce))
        .route("/new-account", post(account::new_account))
        .route("/account/{id}", post(account::account))
        .route("/account/{id}/orders", post(account::orders))
        .route("/key-change", post(account::key_change))
        .route("/new-order", post(order::new_order))
        .route("/order/{id}", post(order::order))
        .route("/order/{id}/finalize", post(order::finalize))
        .route("/authz/{id}", post(order::authorization))
        .route("/chall/{id}", post(order::challenge))
        .route("/cert/{id}", post(order::certificate))
        .route("/revoke-cert", post(order::revoke))
        .route("/renewal-info/{id}", get(order::renewal_info))
        .fallback(unknown_resource)
        .method_not_allowed_fallback(wrong_method);
    Router::new().nest("/acme/{label}", endpoint)
}

async fn unknown_resource(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    let mut resp = Problem::new(StatusCode::NOT_FOUND, "malformed", "no such ACME resource").into_response();
    decorate(&state, &mut resp, None).await;
    resp
}

async fn wrong_method(axum::extract::State(state): axum::extract::State<AppState>, method: Method) -> Response {
    let mut resp = Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "malformed",
        format!("{method} is not accepted here: ACME resources are read and changed with POST (RFC 8555 §6.3)"),
    )
    .into_response();
    decorate(&state, &mut resp, None).await;
    resp
}

/// An RFC 8555 error (§6.7), answered as `application/problem+json`.
#[derive(Debug)]
pub struct Problem {
    pub status: StatusCode,
    /// The ACME error type without its `urn:ietf:params:acme:error:` prefix.
    pub kind: &'static str,
    pub detail: String,
    /// For `badSignatureAlgorithm`: list the algorithms accepted.
    pub algorithms: bool,
    /// For a conflict with an existing resource (a key already registered): its URL.
    pub location: Option<String>,
    /// For a 503 or a rate limit: seconds to wait.
    pub retry_after: Option<u64>,
}

impl Problem {
    pub fn new(status: StatusCode, kind: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            detail: detail.into(),
            algorithms: false,
            location: None,
            retry_after: None,
        }
    }

    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed", detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "unauthorized", detail)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "malformed", format!("no such {what}"))
    }

    /// The problem document, as stored on a failed challenge or order.
    pub fn to_json(&self) -> serde_json::Value {
        let mut body = json!({
            "type": format!("urn:ietf:params:acme:error:{}", self.kind),
            "detail": self.detail,
            "status": self.status.as_u16(),
        });
        if self.algorithms {
            body["algorithms"] = json!(jose::SUPPORTED_ALGORITHMS);
        }
        body
    }
}

impl From<JoseError> for Problem {
    fn from(e: JoseError) -> Self {
        let kind = e
            .problem_type()
            .strip_prefix("urn:ietf:params:acme:error:")
            .unwrap_or("malformed");
        let kind = match kind {
            "badNonce" => "badNonce",
            "badSignatureAlgorithm" => "badSignatureAlgorithm",
            "badPublicKey" => "badPublicKey",
            "unauthorized" => "unauthorized",
            _ => "malformed",
        };
        let status = if kind == "unauthorized" {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::BAD_REQUEST
        };
        let mut p = Problem::new(status, kind, e.to_string());
        p.algorithms = kind == "badSignatureAlgorithm";
        p
    }
}

impl From<Fault> for Problem {
    fn from(e: Fault) -> Self {
        let api = crate::error::ApiError::from(e);
        if let crate::error::ApiError::Internal(inner) = &api {
            tracing::error!(
                error = format!("{inner:#}"),
                "ACME request failed with an internal error"
            );
        }
        if api.status() == StatusCode::SERVICE_UNAVAILABLE {
            let mut p = Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "serverInternal",
                "the server cannot reach its database; retry later",
            );
            p.retry_after = Some(u64::from(crate::error::RETRY_AFTER_SECS));
            return p;
        }
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "serverInternal",
            "the server failed to process the request",
        )
    }
}

impl From<sea_orm::DbErr> for Problem {
    fn from(e: sea_orm::DbErr) -> Self {
        Fault::from(e).into()
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut resp = (self.status, axum::Json(self.to_json())).into_response();
        let headers = resp.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(location) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            headers.insert(header::LOCATION, location);
        }
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// One ACME request's context: the endpoint, the URLs it answers under, and who is asking.
pub struct Ctx {
    pub state: AppState,
    pub endpoint: AcmeEndpoint,
    /// `https://host[:port]`, as the client addressed this server.
    pub origin: String,
    /// `{origin}/acme/{label}`.
    pub base: String,
    pub ip: Option<IpAddr>,
    pub request_id: Option<String>,
}

impl Ctx {
    /// Finds the endpoint in use at `label` and checks the per-address rate limit.
    pub async fn new(
        state: &AppState,
        label: &str,
        req_headers: &HeaderMap,
        ext: &axum::http::Extensions,
        uri_authority: Option<&str>,
    ) -> Result<Ctx, Problem> {
        let ip = ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        let request_id = req_headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let host = uri_authority
            .map(str::to_owned)
            .or_else(|| {
                req_headers
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .map(str::to_owned)
            })
            .filter(|h| {
                !h.is_empty()
                    && h.len() <= 255
                    && h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b))
            })
            .ok_or_else(|| Problem::malformed("the request has no usable Host"))?;
        let scheme = if state.config.tls.is_some() { "https" } else { "http" };
        let ip_key = format!("acme|{}", ip.map(|i| i.to_string()).unwrap_or_default());
        if !state.acme_limits.per_ip.allow(&ip_key, Instant::now()) {
            return Err(rate_limited(state, "ip", state.acme_limits.per_ip.retry_after()));
        }
        let endpoint = acme::find_endpoint_by_label(&state.db, label).await?.ok_or_else(|| {
            Problem::new(
                StatusCode::NOT_FOUND,
                "malformed",
                format!("no ACME endpoint in use has the label `{label}`"),
            )
        })?;
        let origin = format!("{scheme}://{host}");
        let base = format!("{origin}/acme/{}", endpoint.label);
        Ok(Ctx {
            state: state.clone(),
            endpoint,
            origin,
            base,
            ip,
            request_id,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base)
    }

    pub fn account_url(&self, id: AcmeAccountId) -> String {
        self.url(&format!("account/{id}"))
    }

    /// The actor an account acts as: `acme:<endpoint name>/<account id>`.
    pub fn actor(&self, account: &AcmeAccount) -> Actor {
        let mut actor = Actor::acme(format!("acme:{}/{}", self.endpoint.name, account.id), account.id);
        actor.request_id = self.request_id.clone();
        actor
    }

    /// Adds what every ACME answer carries: a fresh nonce, the directory link, `no-store`.
    pub async fn finish(&self, result: Result<Response, Problem>) -> Response {
        let mut resp = match result {
            Ok(resp) => resp,
            Err(problem) => {
                let outcome = if problem.status.is_server_error() {
                    Some("error")
                } else if problem.status != StatusCode::TOO_MANY_REQUESTS {
                    Some("refused")
                } else {
                    None
                };
                if let Some(outcome) = outcome {
                    self.state
                        .metrics
                        .enrollments
                        .with_label_values(&["acme", outcome])
                        .inc();
                }
                problem.into_response()
            }
        };
        decorate(&self.state, &mut resp, Some(&self.base)).await;
        resp
    }
}

fn rate_limited(state: &AppState, scope: &str, retry_after: u64) -> Problem {
    state
        .metrics
        .enrollment_rate_limited
        .with_label_values(&["acme", scope])
        .inc();
    let mut p = Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rateLimited",
        format!("too many ACME requests from this {scope}; retry later"),
    );
    p.retry_after = Some(retry_after);
    p
}

/// Sets `Replay-Nonce`, `Link: <directory>;rel="index"` and `Cache-Control: no-store`. A
/// rate-limited answer gets no nonce: a flood of refused requests must not write to the database.
async fn decorate(state: &AppState, resp: &mut Response, base: Option<&str>) {
    let limited = resp.status() == StatusCode::TOO_MANY_REQUESTS;
    let headers = resp.headers_mut();
    match if limited {
        Ok(String::new())
    } else {
        issue_nonce(state).await
    } {
        Ok(nonce) if nonce.is_empty() => {}
        Ok(nonce) => {
            if let Ok(v) = HeaderValue::from_str(&nonce) {
                headers.insert("replay-nonce", v);
            }
        }
        Err(e) => tracing::warn!(error = %e, "failed to store an ACME nonce"),
    }
    if let Some(base) = base
        && let Ok(v) = HeaderValue::from_str(&format!("<{base}/directory>;rel=\"index\""))
    {
        headers.append(header::LINK, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// A fresh nonce: 128 random bits, stored until used or expired.
async fn issue_nonce(state: &AppState) -> Result<String, sea_orm::DbErr> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| sea_orm::DbErr::Custom("the system random generator failed".into()))?;
    let nonce = URL_SAFE_NO_PAD.encode(bytes);
    acme::issue_nonce(
        &state.db,
        &nonce,
        Utc::now() + chrono::Duration::minutes(NONCE_LIFETIME_MINUTES),
    )
    .await?;
    Ok(nonce)
}

/// A POST request taken apart: its context, headers and path, and its body, read whole first
/// (refusing before the body is read makes some HTTP/2 clients see a reset, not the answer).
pub struct Post {
    pub ctx: Ctx,
    pub headers: HeaderMap,
    pub path: String,
    pub body: Bytes,
}

/// Reads a POST and builds its context, or answers the problem.
pub async fn read_post(state: &AppState, label: &str, req: Request) -> Result<Post, Response> {
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, jose::MAX_JWS_BYTES).await {
        Ok(body) => body,
        Err(_) => {
            let mut resp = Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "malformed",
                format!("the request body is over {} bytes", jose::MAX_JWS_BYTES),
            )
            .into_response();
            decorate(state, &mut resp, None).await;
            return Err(resp);
        }
    };
    let ctx = context(state, label, &parts).await?;
    Ok(Post {
        ctx,
        headers: parts.headers,
        // The JWS `url` names the whole request URL, query included, as the client sent it (the
        // router strips the `/acme/{label}` prefix from `uri`).
        path: format!(
            "/acme/{label}{}",
            parts
                .uri
                .path_and_query()
                .map_or_else(|| parts.uri.path(), |p| p.as_str())
        ),
        body,
    })
}

/// Builds the context for a request, or answers its problem (with a nonce, so clients retry).
async fn context(state: &AppState, label: &str, req: &axum::http::request::Parts) -> Result<Ctx, Response> {
    match Ctx::new(
        state,
        label,
        &req.headers,
        &req.extensions,
        req.uri.authority().map(|a| a.as_str()),
    )
    .await
    {
        Ok(ctx) => Ok(ctx),
        Err(problem) => {
            let mut resp = problem.into_response();
            decorate(state, &mut resp, None).await;
            Err(resp)
        }
    }
}

async fn directory(
    axum::extract::State(state): axum::extract::State<AppState>,
    axum::extract::Path(label): axum::extract::Path<String>,
    req: Request,
) -> Response {
    let (req, _) = req.into_parts();
    let ctx = match context(&state, &label, &req).await {
        Ok(ctx) => ctx,
        Err(resp) => return resp,
    };
    let mut meta = json!({ "externalAccountRequired": ctx.endpoint.eab_required });
    if let Some(tos) = &ctx.endpoint.terms_of_service_url {
        meta["termsOfService"] = json!(tos);
    }
    let body = json!({
        "newNonce": ctx.url("new-nonce"),
        "newAccount": ctx.url("new-account"),
        "newOrder": ctx.url("new-order"),
        "revokeCert": ctx.url("revoke-cert"),
        "keyChange": ctx.url("key-change"),
        "renewalInfo": ctx.url("renewal-info"),
        "meta": meta,
    });
    let mut resp = axum::Json(body).into_response();
    // The directory is not a nonce-bearing resource, but clients may take one from it.
    decorate(&ctx.state, &mut resp, None).await;
    resp
}

async fn new_nonce(
    axum::extract::State(state): axum::extract::State<AppState>,
    axum::extract::Path(label): axum::extract::Path<String>,
    req: Request,
) -> Response {
    let (req, _) = req.into_parts();
    let ctx = match context(&state, &label, &req).await {
        Ok(ctx) => ctx,
        Err(resp) => return resp,
    };
    // RFC 8555 §7.2: 200 to HEAD, 204 to GET.
    let status = if req.method == Method::HEAD {
        StatusCode::OK
    } else {
        StatusCode::NO_CONTENT
    };
    ctx.finish(Ok(status.into_response())).await
}

/// Who signed a request.
pub enum Signer {
    /// A registered, valid account (a `kid` request).
    Account(AcmeAccount),
    /// The key embedded in the request (`newAccount`, `revokeCert` by the certificate key).
    Key(Jwk),
}

/// Which key a request must name.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum KeyMode {
    /// `kid`: an account of this endpoint.
    Account,
    /// `jwk`: the key itself.
    Jwk,
    /// Either (`revokeCert`).
    Either,
}

/// Checks a request's JWS: content type, form, `url`, nonce, key and signature (RFC 8555 §6.2-6.5).
pub async fn authenticate(
    ctx: &Ctx,
    path: &str,
    headers: &HeaderMap,
    body: &Bytes,
    mode: KeyMode,
) -> Result<(Jws, Signer), Problem> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/jose+json"))
    {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "malformed",
            "ACME requests must be application/jose+json",
        ));
    }
    let jws = jose::parse_flattened(body)?;
    let expected = format!("{}{path}", ctx.origin);
    if jws.header().url != expected {
        return Err(Problem::unauthorized(format!(
            "the JWS url is not the URL of this request ({expected})"
        )));
    }
    if !acme::use_nonce(&ctx.state.db, &jws.header().nonce).await? {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "badNonce",
            "the nonce is unknown, expired or already used; get a fresh one from the Replay-Nonce header",
        ));
    }
    let signer = match (&jws.header().key, mode) {
        (KeyRef::Jwk(_), KeyMode::Jwk | KeyMode::Either) => {
            let key = jws.verify_embedded()?.clone();
            Signer::Key(key)
        }
        (KeyRef::Kid(kid), KeyMode::Account | KeyMode::Either) => {
            let account = account_of_kid(ctx, kid).await?;
            let key = Jwk::from_spki_der(&account.public_key_der)?;
            jws.verify(&key)?;
            if account.status != "valid" {
                // RFC 8555 §7.3.6: a deactivated account gets 401 unauthorized.
                return Err(Problem::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    format!("the account is {}", account.status),
                ));
            }
            let key = format!("acme|{}", account.id);
            if !ctx.state.acme_limits.per_credential.allow(&key, Instant::now()) {
                return Err(rate_limited(
                    &ctx.state,
                    "account",
                    ctx.state.acme_limits.per_credential.retry_after(),
                ));
            }
            Signer::Account(account)
        }
        (KeyRef::Jwk(_), KeyMode::Account) => {
            return Err(Problem::malformed(
                "this request must be signed with the account key named by kid",
            ));
        }
        (KeyRef::Kid(_), KeyMode::Jwk) => {
            return Err(Problem::malformed("this request must be signed with a jwk, not a kid"));
        }
    };
    Ok((jws, signer))
}

/// The account a `kid` names: this endpoint's account URL of an existing account.
async fn account_of_kid(ctx: &Ctx, kid: &str) -> Result<AcmeAccount, Problem> {
    let prefix = format!("{}/account/", ctx.base);
    let id = kid
        .strip_prefix(&prefix)
        .and_then(|id| id.parse::<AcmeAccountId>().ok())
        .ok_or_else(|| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "accountDoesNotExist",
                "the kid is not an account URL of this endpoint",
            )
        })?;
    let account = acme::find_account(&ctx.state.db, id)
        .await?
        .filter(|a| a.endpoint_id == ctx.endpoint.id)
        .ok_or_else(|| Problem::new(StatusCode::BAD_REQUEST, "accountDoesNotExist", "no such account"))?;
    Ok(account)
}

/// A POST-as-GET request (RFC 8555 §6.3) must have an empty payload.
pub fn require_post_as_get(jws: &Jws) -> Result<(), Problem> {
    if jws.is_post_as_get() {
        Ok(())
    } else {
        Err(Problem::malformed(
            "this resource is read with POST-as-GET: an empty payload",
        ))
    }
}

/// A JSON answer with `status` and optional `Location`.
pub fn json_response(status: StatusCode, body: serde_json::Value, location: Option<&str>) -> Response {
    let mut resp = (status, axum::Json(body)).into_response();
    if let Some(v) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// An unpadded base64url field of a payload, decoded.
pub fn b64url_field(value: &str, what: &str) -> Result<Vec<u8>, Problem> {
    URL_SAFE_NO_PAD
        .decode(value.trim_end_matches('='))
        .map_err(|_| Problem::malformed(format!("{what} is not base64url")))
}

//! `certctl mcp`: the MCP (Model Context Protocol) server of the certctl API, over stdio or
//! streamable HTTP, built on the official Rust SDK (`rmcp`).
//!
//! Every tool is one call of the REST API through [`Client`], made with the caller's own API key,
//! so roles, approvals and the audit log apply exactly as they do to the CLI: over stdio the key
//! the CLI is configured with (flags, environment, context), over HTTP the bearer key of each
//! request (requests without one are answered 401 before they reach the MCP layer).
//!
//! Tools answer with the API's JSON unchanged (as text, and as structured content). A refusal of
//! the API comes back as a tool error carrying the problem (`403 Forbidden [forbidden]: …`), as
//! do arguments the tool cannot read: never a protocol error, never a crash.
//!
//! Input schemas are generated from the API's own request types: the OpenAPI (utoipa) schemas of
//! the bodies (`IssueIn`, `RevokeIn`, …) and the documented parameters of the list routes'
//! queries (`NotificationQuery`, …), with their references inlined. They cannot drift from what
//! the server accepts.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use anyhow::Context as _;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use certctl_types::api::Problem;
use certctl_types::api::access::AuditQuery;
use certctl_types::api::certificates::{CertificateQuery, DecisionIn, IssueIn, JobQuery, RenewIn, RevokeIn};
use certctl_types::api::discovery::DiscoveredQuery;
use certctl_types::api::notifications::NotificationQuery;
use certctl_types::api::renewal::JobCsrIn;
use certctl_types::ids::{CertificateId, ChannelId, JobId, NotificationId};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, JsonObject, ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, ServiceExt as _, tool, tool_handler, tool_router};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::client::{Client, ClientError};
use crate::config::{self, Config};

#[derive(Debug, Clone, clap::Args)]
pub struct McpArgs {
    /// Serve streamable HTTP on this address (at /mcp) instead of stdio; each request must carry
    /// `Authorization: Bearer <certctl API key>`, and the tools act with that key.
    #[arg(long, value_name = "ADDR:PORT")]
    pub http: Option<SocketAddr>,
    /// With --http, also accept requests addressed to this host (a name, or name:port), beside
    /// loopback and the address served on (repeat for more).
    #[arg(long = "allow-host", value_name = "HOST", requires = "http")]
    pub allow_hosts: Vec<String>,
}

/// What the server is built from: the CLI's own settings.
pub struct ServeFrom {
    /// The client of the CLI's server, key and CA bundle (flags, environment, context): the one
    /// the tools use over stdio, and whose server they call over HTTP.
    pub client: Client,
    /// The CA bundle given by flag or environment; the context's when absent.
    pub ca_bundle: Option<PathBuf>,
    /// The context named by flag or environment; the current one when absent.
    pub context: Option<String>,
}

const INSTRUCTIONS: &str = "certctl is a certificate lifecycle control plane: it issues, renews and \
revokes X.509 certificates from its own certificate authorities (issuers) under profiles, gates \
some issuance behind approval jobs, and notifies channels (webhooks, email, …) of what happens. \
Every tool calls certctl's REST API with your own API key, so your role decides what you may do \
and the audit log records it under your principal. Start with dashboard_summary to see what needs \
attention. Notifications that used up their retries are `dead`: find them with \
list_notifications(status=dead), read the attempts with get_notification, and send them again with \
requeue_notification. List tools return one page: pass `next_cursor` back as `cursor` for the next.";

/// Serves the tools until stdin closes (stdio) or the process is told to stop (HTTP).
pub async fn serve(from: ServeFrom, args: McpArgs) -> anyhow::Result<()> {
    match args.http {
        None => serve_stdio(from.client).await,
        Some(addr) => serve_http(from, addr, args.allow_hosts).await,
    }
}

async fn serve_stdio(client: Client) -> anyhow::Result<()> {
    // stdout is the protocol's channel: nothing else may be written to it.
    let running = Certctl::new(Keys::Fixed(client))
        .serve(rmcp::transport::stdio())
        .await
        .context("the MCP session did not start")?;
    running.waiting().await.context("the MCP session failed")?;
    Ok(())
}

async fn serve_http(from: ServeFrom, addr: SocketAddr, allow_hosts: Vec<String>) -> anyhow::Result<()> {
    let ca_bundle = match from.ca_bundle {
        Some(path) => Some(path),
        None => Config::load(&config::path()?)?
            .context(from.context.as_deref())?
            .and_then(|c| c.ca_bundle.clone()),
    };
    let callers = Arc::new(Callers {
        server: from.client.server().to_owned(),
        ca_bundle,
    });

    let mut config = StreamableHttpServerConfig::default();
    let mut hosts = config.allowed_hosts.clone();
    if !addr.ip().is_unspecified() && !addr.ip().is_loopback() {
        hosts.push(addr.ip().to_string());
    }
    hosts.extend(allow_hosts);
    config = config.with_allowed_hosts(hosts);
    let stop = config.cancellation_token.clone();

    let tools = Certctl::tool_router();
    let service = StreamableHttpService::new(
        // Once per MCP session: each has its own cache of the caller's client.
        move || Ok(Certctl::with_router(Keys::PerCaller(callers.clone()), tools.clone())),
        LocalSessionManager::default().into(),
        config,
    );
    let app = axum::Router::new()
        .nest_service("/mcp", service)
        .layer(axum::middleware::from_fn(require_key));

    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    eprintln!(
        "certctl mcp: serving http://{local}/mcp for {} (each request authenticates with its own API key)",
        from.client.server()
    );
    if !local.ip().is_loopback() {
        eprintln!(
            "certctl mcp: warning: plain HTTP beyond loopback carries API keys in clear; put a TLS proxy in front"
        );
    }
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            stopped().await;
            // Ends open sessions and their event streams, which would otherwise hold the
            // shutdown forever.
            stop.cancel();
        })
        .await
        .context("the MCP HTTP server failed")?;
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn stopped() {
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

/// The API key an HTTP request presented, put in its extensions by [`require_key`] for the tools
/// to read.
#[derive(Clone)]
struct CallerKey(String);

impl std::fmt::Debug for CallerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallerKey(…)")
    }
}

/// Answers 401 to a request without a bearer key, before the MCP layer sees it.
async fn require_key(mut req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let Some(key) = bearer(req.headers()) else {
        let problem = Problem {
            kind: "https://certctl.dev/problems/unauthorized".to_owned(),
            title: "Unauthorized".to_owned(),
            status: 401,
            detail: "send your certctl API key as `Authorization: Bearer <key>`; the tools act with it".to_owned(),
            code: "unauthorized".to_owned(),
        };
        let mut resp = (StatusCode::UNAUTHORIZED, axum::Json(problem)).into_response();
        let headers = resp.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"certctl\""),
        );
        return resp;
    };
    req.extensions_mut().insert(CallerKey(key));
    next.run(req).await
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

/// Where the tools get their client.
#[derive(Clone)]
enum Keys {
    /// Stdio: the CLI's own.
    Fixed(Client),
    /// HTTP: one with each request's key.
    PerCaller(Arc<Callers>),
}

/// The server and CA bundle of the clients made for HTTP callers.
struct Callers {
    server: String,
    ca_bundle: Option<PathBuf>,
}

/// The MCP server: one instance per stdio process or HTTP session.
#[derive(Clone)]
pub struct Certctl {
    keys: Keys,
    /// HTTP: the last caller's key and its client, so a session does not build a client (and
    /// read the CA bundle) on every call.
    last: Arc<Mutex<Option<(String, Client)>>>,
    tool_router: ToolRouter<Self>,
}

/// Why a tool did not get an answer from the API.
#[derive(Debug, thiserror::Error)]
enum ToolError {
    #[error("invalid arguments: {0}")]
    Arguments(String),
    #[error("this request carries no API key: send `Authorization: Bearer <certctl API key>`")]
    NoKey,
    #[error("{0:#}")]
    Setup(anyhow::Error),
    #[error(transparent)]
    Client(#[from] ClientError),
}

impl ToolError {
    fn into_result(self) -> CallToolResult {
        match self {
            ToolError::Client(ClientError::Api { problem }) => {
                let text = problem_text(&problem);
                let mut r = CallToolResult::error(vec![ContentBlock::text(text)]);
                r.structured_content = serde_json::to_value(&problem).ok();
                r
            }
            other => CallToolResult::error(vec![ContentBlock::text(other.to_string())]),
        }
    }
}

/// `403 Forbidden [forbidden]: role `viewer` lacks permission …`
fn problem_text(p: &Problem) -> String {
    format!("{} {} [{}]: {}", p.status, p.title, p.code, p.detail)
}

/// The tool's result: the API's JSON, pretty, and as structured content when it is an object.
fn finish(outcome: Result<Value, ToolError>) -> Result<CallToolResult, McpError> {
    Ok(match outcome {
        Ok(value) => {
            let text = serde_json::to_string_pretty(&value).unwrap_or_else(|_| value.to_string());
            let mut r = CallToolResult::success(vec![ContentBlock::text(text)]);
            if value.is_object() {
                r.structured_content = Some(value);
            }
            r
        }
        Err(e) => e.into_result(),
    })
}

fn parse<T: DeserializeOwned>(args: JsonObject) -> Result<T, ToolError> {
    serde_json::from_value(Value::Object(args)).map_err(|e| ToolError::Arguments(e.to_string()))
}

/// A list route's query: only the parameters it documents (the API refuses others).
fn query<T: DeserializeOwned>(args: JsonObject, names: &[&str]) -> Result<T, ToolError> {
    if let Some(unknown) = args.keys().find(|k| !names.contains(&k.as_str())) {
        return Err(ToolError::Arguments(format!(
            "unknown argument `{unknown}`; this tool takes {}",
            names.join(", ")
        )));
    }
    parse(args)
}

/// The `id` argument, and the rest as the operation's body.
fn id_and<I: DeserializeOwned, B: DeserializeOwned>(mut args: JsonObject) -> Result<(I, B), ToolError> {
    let id = args
        .remove("id")
        .ok_or_else(|| ToolError::Arguments("`id` is required".to_owned()))?;
    let id = serde_json::from_value(id).map_err(|e| ToolError::Arguments(format!("`id`: {e}")))?;
    Ok((id, parse(args)?))
}

fn id_only<I: DeserializeOwned>(args: JsonObject) -> Result<I, ToolError> {
    let (id, rest): (I, JsonObject) = id_and(args)?;
    match rest.keys().next() {
        Some(unknown) => Err(ToolError::Arguments(format!(
            "unknown argument `{unknown}`; this tool takes id"
        ))),
        None => Ok(id),
    }
}

#[tool_router]
impl Certctl {
    fn new(keys: Keys) -> Self {
        Self::with_router(keys, Self::tool_router())
    }

    fn with_router(keys: Keys, tool_router: ToolRouter<Self>) -> Self {
        Self {
            keys,
            last: Arc::new(Mutex::new(None)),
            tool_router,
        }
    }

    /// The client to call the API with for this request.
    fn client(&self, ctx: &RequestContext<RoleServer>) -> Result<Client, ToolError> {
        let callers = match &self.keys {
            Keys::Fixed(client) => return Ok(client.clone()),
            Keys::PerCaller(callers) => callers,
        };
        let key = ctx
            .extensions
            .get::<Parts>()
            .and_then(|parts| parts.extensions.get::<CallerKey>())
            .ok_or(ToolError::NoKey)?;
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((k, client)) = last.as_ref()
            && *k == key.0
        {
            return Ok(client.clone());
        }
        let client = Client::new(&callers.server, Some(key.0.clone()), callers.ca_bundle.as_deref())
            .map_err(ToolError::Setup)?;
        *last = Some((key.0.clone(), client.clone()));
        Ok(client)
    }

    #[tool(
        description = "What needs attention: certificates by state, certificates expiring soon, jobs awaiting \
                       approval, dead notifications, and how fresh each issuer's published revocation status is.",
        annotations(title = "Dashboard summary", read_only_hint = true)
    )]
    async fn dashboard_summary(&self, ctx: RequestContext<RoleServer>) -> Result<CallToolResult, McpError> {
        finish(async { Ok(self.client(&ctx)?.summary().await?.raw) }.await)
    }

    #[tool(
        description = "Lists certificates, newest first, one page at a time; the filters combine with AND.",
        input_schema = schema::query::<CertificateQuery>(),
        annotations(title = "List certificates", read_only_hint = true)
    )]
    async fn list_certificates(
        &self,
        Parameters(args): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        finish(
            async {
                let q: CertificateQuery = query(args, CertificateQuery::NAMES)?;
                Ok(self.client(&ctx)?.list_certificates(&q).await?.raw)
            }
            .await,
        )
    }

    #[tool(
        description = "One certificate: its details, revocation if revoked, and the certificate in PEM.",
        input_schema = schema::id::<CertificateId>(),
        annotations(title = "Get a certificate", read_only_hint = true)
    )]
    async fn get_certificate(
        &self,
        Parameters(args): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        finish(
            async {
                let id = id_only(args)?;
                Ok(self.client(&ctx)?.get_certificate(id).await?.raw)
            }
            .await,
        )
    }

    #[tool(
        description = "Issues a certificate from an issuer under a profile. Give exactly one of `csr_pem` (certify \
                       your own key; preferred) or `key_algorithm` (certctl generates the key and returns it in this \
                       result only, once). When the profile requires approval, the answer is a job awaiting \
                       approval (`job_id`) instead of a certificate.",
        input_schema = schema::body::<IssueIn>(),
        annotations(title = "Issue a certificate", read_only_hint = false, destructive_hint = false)
    )]
    async fn issue_certificate(
        &self,
        Parameters(args): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        finish(
            async {
                let body: IssueIn = parse(args)?;
                Ok(self.client(&ctx)?.issue(&body).await?.raw)
            }
            .await,
        )
    }

    #[tool(
        description = "Issues a successor of a certificate (same subject, issuer and profile), which supersedes it. \
                       May answer with a job awaiting approval instead.",
        input_schema = schema::id_and::<CertificateId, RenewIn>(),
        annotations(title = "Renew a certificate", read_only_hint = false, destructive_hint = false)
    )]
    async fn renew_certificate(
        &self,
        Parameters(args): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        finish(
            async {
                let (id, body): (_, RenewIn) = id_and(args)?;
                Ok(self.client(&ctx)?.renew(id, &body).await?.raw)
            }
            .await,
        )
    }

    #[tool(
        description = "Revokes a certificate, for good: it is published as revoked on the CRL and by OCSP. \
                       There is no undo.",
        input_schema = schema::id_and::<CertificateId, RevokeIn>(),
        annotations(title = "Revoke a certificate", read_only_hint = false, destructive_hint = true)
    )]
    async fn revoke_certificate(
        &self,
        Parameters(args): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        finish(
            async {
                let (id, body): (_, RevokeIn) = id_and(args)?;
                Ok(self.client(&ctx)?.revoke(id, &body).await?.raw)
            }
            .await,
        )
    }

    #[tool(
        description = "Gives an automatic renewal that waits for a new key (status awaiting_csr) the PKCS#10 CSR of \
                       that key. Only the key is used: the names stay the certificate's. The renewal is then issued, \
                       or waits for an approver if its profile requires one.",
        input_schema = schema::id_and::<JobId, JobCsrIn>(),
        annotations(title = "Give a renewal its CSR", read_only_hint = false, destructive_hint = false)
    )]
    async fn submit_job_csr(
        &self,
        Parameters(args): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        finish(
            async {
                let (id, body): (_, JobCsrIn) = id_and(args)?;
                Ok(self.client(&ctx)?.submit_csr(id, &body).await?.raw)
            }
            .await,
        )
    }

    #[tool(
        description = "Lists jobs, newest first: approval requests (status=awaiting_approval for those waiting for a \
                       decision) and automatic renewals (pending, awaiting_csr, completed, failed, cancelled).",
        input_schema = schema::query::<JobQuery>(),
        annotations(title = "List approval jobs", read_only_hint = true)
    )]
    async fn list_jobs(
        &self,
        Parameters(args): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        finish(
            async {
                let q: JobQuery = query(args, JobQuery::NAMES)?;
                Ok(self.client(&ctx)?.list_jobs(&q).await?.raw)
            }
            .await,
        )
    }

    #[tool(
        description = "Approves a job awaiting approval: the certificate it asks for is issued now. Nobody may \
                       approve their own request.",
        input_schema = schema::id_and::<JobId, DecisionIn>(),
        annotations(title = "Approve a job", read_only_hint = false, destructive_hint = false)
    )]
    async fn approve_job(
        &self,
        Parameters(args): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        finish(
            async {
                let (id, body): (_, DecisionIn) = id_and(args)?;
                Ok(self.client(&ctx)?.decide(id, true, &body).await?.raw)
            }
            .await,
        )
    }

    #[tool(
        description = "Rejects a job awaiting approval: nothing is issued.",
        input_schema = schema::id_and::<JobId, DecisionIn>(),
        annotations(title = "Reject a job", read_only_hint = false, destructive_hint = false)
    )]
    async fn reject_job(
        &self,
        Parameters(args): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        finish(
            async {
                let (id, body): (_, DecisionIn) = id_and(args)?;
                Ok(self.client(&ctx)?.decide(id, false, &body).await?.raw)
            }
            .await,
        )
    }

    #[tool(
        description = "Lists notifications, newest first, with their delivery state and retry count. \
                       status=dead lists the dead letters: notifications that used their whole retry budget \
                       and wait for an operator to requeue them.",
        input_schema = schema::query::<NotificationQuery>(),
        annotations(title = "List notifications", read_only_hint = true)
    )]
    async fn list_notifications(
        &self,
        Parameters(args): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        finish(
            async {
                let q: NotificationQuery = query(args, NotificationQuery::NAMES)?;
                Ok(self.client(&ctx)?.list_notifications(&q).await?.raw)
            }
            .await,
        )
    }

    #[tool(
        description = "One notification with its payload and every delivery attempt (outcome, receiver status, error).",
        input_schema = schema::id::<NotificationId>(),
        annotations(title = "Get a notification", read_only_hint = true)
    )]
    async fn get_notification(
        &self,
        Parameters(args): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        finish(
            async {
                let id = id_only(args)?;
                Ok(self.client(&ctx)?.get_notification(id).await?.raw)
            }
            .await,
        )
    }

    #[tool(
        description = "Gives a failed or dead notification a fresh retry budget and sends it again (it becomes \
                       pending).",
        input_schema = schema::id::<NotificationId>(),
        annotations(title = "Requeue a notification", read_only_hint = false, destructive_hint = false)
    )]
    async fn requeue_notification(
        &self,
        Parameters(args): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        finish(
            async {
                let id = id_only(args)?;
                Ok(self.client(&ctx)?.requeue(id).await?.raw)
            }
            .await,
        )
    }

    #[tool(
        description = "Lists notification channels (webhooks, email, …): their settings without secrets, and the \
                       event types each receives.",
        annotations(title = "List notification channels", read_only_hint = true)
    )]
    async fn list_channels(&self, ctx: RequestContext<RoleServer>) -> Result<CallToolResult, McpError> {
        finish(async { Ok(self.client(&ctx)?.list_channels().await?.raw) }.await)
    }

    #[tool(
        description = "Sends a test notification through a channel's whole delivery pipeline; follow it with \
                       get_notification.",
        input_schema = schema::id::<ChannelId>(),
        annotations(title = "Test a channel", read_only_hint = false, destructive_hint = false)
    )]
    async fn test_channel(
        &self,
        Parameters(args): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        finish(
            async {
                let id = id_only(args)?;
                Ok(self.client(&ctx)?.test_channel(id).await?.raw)
            }
            .await,
        )
    }

    #[tool(
        description = "Lists audit events, newest first: who (actor, API key) did what (action) to which resource, \
                       and whether it was allowed.",
        input_schema = schema::query::<AuditQuery>(),
        annotations(title = "List audit events", read_only_hint = true)
    )]
    async fn list_audit_events(
        &self,
        Parameters(args): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        finish(
            async {
                let q: AuditQuery = query(args, AuditQuery::NAMES)?;
                Ok(self.client(&ctx)?.list_audit(&q).await?.raw)
            }
            .await,
        )
    }

    #[tool(
        description = "Lists the certificate authorities (issuers) certificates can be issued from.",
        annotations(title = "List issuers", read_only_hint = true)
    )]
    async fn list_issuers(&self, ctx: RequestContext<RoleServer>) -> Result<CallToolResult, McpError> {
        finish(async { Ok(self.client(&ctx)?.list_issuers().await?.raw) }.await)
    }

    #[tool(
        description = "Lists certificate profiles: the lifetimes, key algorithms, usages and names each allows, and \
                       whether issuance under it needs approval.",
        annotations(title = "List profiles", read_only_hint = true)
    )]
    async fn list_profiles(&self, ctx: RequestContext<RoleServer>) -> Result<CallToolResult, McpError> {
        finish(async { Ok(self.client(&ctx)?.list_profiles().await?.raw) }.await)
    }

    #[tool(
        description = "Lists certificates the discovery scans found on the network, newest discoveries first: \
                       managed (certctl issued them), unmanaged (nobody has decided), claimed or dismissed; with \
                       status=unmanaged, the ones nobody registered. The filters combine with AND.",
        input_schema = schema::query::<DiscoveredQuery>(),
        annotations(title = "List discovered certificates", read_only_hint = true)
    )]
    async fn list_discovered_certificates(
        &self,
        Parameters(args): Parameters<JsonObject>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        finish(
            async {
                let q: DiscoveredQuery = query(args, DiscoveredQuery::NAMES)?;
                Ok(self.client(&ctx)?.list_discovered(&q).await?.raw)
            }
            .await,
        )
    }

    #[tool(
        description = "Lists renewal policies: when certificates enter their renewal window, whether certctl renews \
                       them by itself, with the same key or a new one, how failures are retried, and which expiry \
                       warnings and channels apply. Profiles and certificates name the policy they follow.",
        annotations(title = "List renewal policies", read_only_hint = true)
    )]
    async fn list_renewal_policies(&self, ctx: RequestContext<RoleServer>) -> Result<CallToolResult, McpError> {
        finish(async { Ok(self.client(&ctx)?.list_policies().await?.raw) }.await)
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Certctl {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("certctl", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }
}

/// The tools' input schemas, from the API's own types: the OpenAPI schemas utoipa derives for the
/// request bodies, and the parameters it documents for the list routes' queries, with every
/// `$ref` to a component replaced by the component itself (an MCP input schema stands alone).
mod schema {
    use super::*;
    use certctl_types::api::certificates::CertificateSort;
    use certctl_types::ids::{ApiKeyId, IssuerId, ProfileId, ScanTargetId};
    use certctl_types::vocab::{
        CertificateStatus, ChannelKind, Eku, EventType, JobStatus, KeyAlgorithm, NotificationStatus, RevocationReason,
        Role,
    };
    use utoipa::openapi::RefOr;
    use utoipa::openapi::path::ParameterIn;
    use utoipa::openapi::schema::Schema;
    use utoipa::{IntoParams, ToSchema};

    const REF_PREFIX: &str = "#/components/schemas/";

    /// Every component a tool's schema may refer to, by name.
    static COMPONENTS: LazyLock<BTreeMap<String, Value>> = LazyLock::new(|| {
        let mut all: Vec<(String, RefOr<Schema>)> = Vec::new();
        fn add<T: ToSchema>(all: &mut Vec<(String, RefOr<Schema>)>) {
            all.push((T::name().into_owned(), T::schema()));
            T::schemas(all);
        }
        add::<IssueIn>(&mut all);
        add::<RenewIn>(&mut all);
        add::<RevokeIn>(&mut all);
        add::<DecisionIn>(&mut all);
        add::<CertificateSort>(&mut all);
        add::<IssuerId>(&mut all);
        add::<ProfileId>(&mut all);
        add::<CertificateId>(&mut all);
        add::<JobId>(&mut all);
        add::<ChannelId>(&mut all);
        add::<NotificationId>(&mut all);
        add::<ApiKeyId>(&mut all);
        add::<ScanTargetId>(&mut all);
        add::<JobCsrIn>(&mut all);
        add::<Role>(&mut all);
        add::<CertificateStatus>(&mut all);
        add::<NotificationStatus>(&mut all);
        add::<EventType>(&mut all);
        add::<ChannelKind>(&mut all);
        add::<JobStatus>(&mut all);
        add::<KeyAlgorithm>(&mut all);
        add::<Eku>(&mut all);
        add::<RevocationReason>(&mut all);
        all.into_iter()
            .filter_map(|(name, s)| Some((name, serde_json::to_value(s).ok()?)))
            .collect()
    });

    /// `value` with each `$ref` to a known component replaced by the component (its own keys
    /// beside the `$ref` kept). An unknown reference stays as it is (a test checks none does).
    fn inline(value: Value, depth: u8) -> Value {
        match value {
            Value::Object(mut map) if depth < 32 => {
                let target = map
                    .get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix(REF_PREFIX))
                    .and_then(|name| COMPONENTS.get(name))
                    .cloned();
                let mut out = match target {
                    Some(Value::Object(component)) => {
                        map.remove("$ref");
                        match inline(Value::Object(component), depth + 1) {
                            Value::Object(c) => c,
                            _ => JsonObject::new(),
                        }
                    }
                    _ => JsonObject::new(),
                };
                for (k, v) in map {
                    out.insert(k, inline(v, depth + 1));
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(items.into_iter().map(|v| inline(v, depth + 1)).collect()),
            other => other,
        }
    }

    fn object(value: Value) -> JsonObject {
        match inline(value, 0) {
            Value::Object(map) => map,
            _ => JsonObject::new(),
        }
    }

    /// A request body's schema.
    pub fn body<B: ToSchema>() -> JsonObject {
        object(serde_json::to_value(B::schema()).unwrap_or_default())
    }

    /// A record's id alone.
    pub fn id<I: ToSchema>() -> JsonObject {
        let mut s = JsonObject::new();
        s.insert("type".into(), "object".into());
        s.insert("properties".into(), serde_json::json!({}));
        s.insert("additionalProperties".into(), false.into());
        add_id::<I>(s)
    }

    /// A record's id, and the fields of the operation's body.
    pub fn id_and<I: ToSchema, B: ToSchema>() -> JsonObject {
        add_id::<I>(body::<B>())
    }

    fn add_id<I: ToSchema>(mut s: JsonObject) -> JsonObject {
        let id = object(serde_json::to_value(I::schema()).unwrap_or_default());
        if let Some(Value::Object(props)) = s.get_mut("properties") {
            props.insert("id".into(), Value::Object(id));
        }
        let mut required = vec![Value::from("id")];
        if let Some(Value::Array(rest)) = s.remove("required") {
            required.extend(rest);
        }
        s.insert("required".into(), Value::Array(required));
        s
    }

    /// A list route's query parameters as the properties of an object.
    pub fn query<Q: IntoParams>() -> JsonObject {
        let mut props = JsonObject::new();
        let mut required = Vec::new();
        for p in Q::into_params(|| Some(ParameterIn::Query)) {
            let mut prop = p
                .schema
                .map(|s| object(serde_json::to_value(s).unwrap_or_default()))
                .unwrap_or_default();
            if let Some(d) = p.description {
                prop.insert("description".into(), d.into());
            }
            if matches!(p.required, utoipa::openapi::Required::True) {
                required.push(Value::from(p.name.clone()));
            }
            props.insert(p.name, Value::Object(prop));
        }
        let mut s = JsonObject::new();
        s.insert("type".into(), "object".into());
        s.insert("properties".into(), Value::Object(props));
        if !required.is_empty() {
            s.insert("required".into(), Value::Array(required));
        }
        s.insert("additionalProperties".into(), false.into());
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tools() -> BTreeMap<String, rmcp::model::Tool> {
        Certctl::tool_router()
            .list_all()
            .into_iter()
            .map(|t| (t.name.to_string(), t))
            .collect()
    }

    const READ_ONLY: &[&str] = &[
        "dashboard_summary",
        "list_certificates",
        "get_certificate",
        "list_jobs",
        "list_notifications",
        "get_notification",
        "list_channels",
        "list_audit_events",
        "list_issuers",
        "list_profiles",
        "list_renewal_policies",
        "list_discovered_certificates",
    ];
    const WRITES: &[&str] = &[
        "issue_certificate",
        "renew_certificate",
        "approve_job",
        "reject_job",
        "requeue_notification",
        "test_channel",
        "submit_job_csr",
    ];

    #[test]
    fn the_tools_are_the_twenty_with_their_hints() {
        let tools = tools();
        let mut expected: Vec<&str> = READ_ONLY.iter().chain(WRITES).copied().collect();
        expected.push("revoke_certificate");
        expected.sort_unstable();
        assert_eq!(tools.keys().map(String::as_str).collect::<Vec<_>>(), expected);
        for (name, tool) in &tools {
            let a = tool
                .annotations
                .as_ref()
                .unwrap_or_else(|| panic!("{name} has no annotations"));
            assert!(tool.description.as_deref().is_some_and(|d| !d.is_empty()), "{name}");
            if READ_ONLY.contains(&name.as_str()) {
                assert_eq!(a.read_only_hint, Some(true), "{name}");
                assert_eq!(a.destructive_hint, None, "{name}");
            } else if name == "revoke_certificate" {
                assert_eq!(a.read_only_hint, Some(false), "{name}");
                assert_eq!(a.destructive_hint, Some(true), "{name}");
            } else {
                assert_eq!(a.read_only_hint, Some(false), "{name}");
                assert_eq!(a.destructive_hint, Some(false), "{name}");
            }
        }
    }

    #[test]
    fn input_schemas_are_self_contained_objects() {
        for (name, tool) in tools() {
            let s = Value::Object((*tool.input_schema).clone());
            assert_eq!(s["type"], "object", "{name}: {s}");
            let text = s.to_string();
            assert!(!text.contains("$ref"), "{name} keeps a reference: {s}");
        }
    }

    #[test]
    fn input_schemas_follow_the_api_types() {
        let tools = tools();
        let schema = |name: &str| Value::Object((*tools[name].input_schema).clone());

        let notifications = schema("list_notifications");
        let mut props: Vec<&String> = notifications["properties"].as_object().unwrap().keys().collect();
        props.sort();
        let mut names: Vec<&str> = NotificationQuery::NAMES.to_vec();
        names.sort_unstable();
        assert_eq!(props, names);
        let statuses = notifications["properties"]["status"]["enum"].as_array().unwrap();
        assert!(statuses.contains(&Value::from("dead")), "{notifications}");
        assert_eq!(notifications["properties"]["limit"]["maximum"], 500);

        let issue = schema("issue_certificate");
        assert_eq!(
            issue["required"],
            serde_json::json!(["issuer_id", "profile_id", "common_name"])
        );
        assert_eq!(issue["properties"]["issuer_id"]["format"], "uuid");
        assert_eq!(issue["additionalProperties"], false);

        let revoke = schema("revoke_certificate");
        assert_eq!(revoke["required"], serde_json::json!(["id"]));
        assert_eq!(revoke["properties"]["id"]["format"], "uuid");
        let reasons = revoke["properties"]["reason"].to_string();
        assert!(reasons.contains("keyCompromise"), "{revoke}");

        let renew = schema("renew_certificate");
        assert!(renew["properties"]["ttl_seconds"].is_object(), "{renew}");
        let approve = schema("approve_job");
        assert!(approve["properties"]["note"].is_object(), "{approve}");
        let requeue = schema("requeue_notification");
        assert_eq!(requeue["required"], serde_json::json!(["id"]));
        assert_eq!(requeue["properties"].as_object().unwrap().len(), 1);
    }

    #[test]
    fn arguments_are_read_strictly() {
        let args = |v: Value| v.as_object().unwrap().clone();
        let q: NotificationQuery =
            query(args(serde_json::json!({ "status": "dead" })), NotificationQuery::NAMES).unwrap();
        assert_eq!(q.status, Some(certctl_types::vocab::NotificationStatus::Dead));
        let e = query::<NotificationQuery>(args(serde_json::json!({ "state": "dead" })), NotificationQuery::NAMES)
            .unwrap_err();
        assert!(e.to_string().contains("unknown argument `state`"), "{e}");
        assert!(
            query::<NotificationQuery>(
                args(serde_json::json!({ "status": "zombie" })),
                NotificationQuery::NAMES
            )
            .is_err()
        );

        let id = uuid::Uuid::now_v7();
        let (got, body): (CertificateId, RevokeIn) =
            id_and(args(serde_json::json!({ "id": id, "reason": "superseded" }))).unwrap();
        assert_eq!(got.as_uuid(), id);
        assert_eq!(body.reason.as_deref(), Some("superseded"));
        assert!(id_and::<CertificateId, RevokeIn>(args(serde_json::json!({ "reason": "superseded" }))).is_err());
        assert!(id_only::<NotificationId>(args(serde_json::json!({ "id": "not-a-uuid" }))).is_err());
        assert!(id_and::<CertificateId, RevokeIn>(args(serde_json::json!({ "id": id, "why": "x" }))).is_err());
    }

    #[test]
    fn api_refusals_are_tool_errors_with_the_problem() {
        let problem = Problem {
            kind: "https://certctl.dev/problems/forbidden".into(),
            title: "Forbidden".into(),
            status: 403,
            detail: "role `viewer` lacks permission `certificates:revoke`".into(),
            code: "forbidden".into(),
        };
        let r = finish(Err(ToolError::Client(ClientError::Api { problem }))).unwrap();
        assert_eq!(r.is_error, Some(true));
        let text = r.content[0].as_text().unwrap().text.clone();
        assert_eq!(
            text,
            "403 Forbidden [forbidden]: role `viewer` lacks permission `certificates:revoke`"
        );
        assert_eq!(r.structured_content.unwrap()["code"], "forbidden");

        let ok = finish(Ok(serde_json::json!({ "data": [], "next_cursor": null, "total": 0 }))).unwrap();
        assert_eq!(ok.is_error, Some(false));
        assert_eq!(ok.structured_content.unwrap()["total"], 0);
    }

    #[test]
    fn only_bearer_keys_pass() {
        let headers = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
            h
        };
        assert_eq!(bearer(&headers("Bearer abc")).as_deref(), Some("abc"));
        assert_eq!(bearer(&headers("bearer abc")).as_deref(), Some("abc"));
        assert_eq!(bearer(&headers("Bearer ")), None);
        assert_eq!(bearer(&headers("Basic abc")), None);
        assert_eq!(bearer(&HeaderMap::new()), None);
    }
}

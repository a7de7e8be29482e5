//! The command tree (clap) and what each command does.
//!
//! Exit codes: 0 success; 1 the API refused or could not be reached (the problem's title,
//! detail and code go to stderr); 2 the command line itself is wrong (clap's own, and ours for
//! values it cannot check, such as a missing server).

use std::future::Future;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use certctl_types::api::ListOut;
use certctl_types::api::access::{ApiKeyIn, AuditQuery};
use certctl_types::api::certificates::{
    BulkRevokeIn, CertificateOut, CertificateQuery, DecisionIn, IssueIn, JobQuery, RenewIn, RevokeIn,
};
use certctl_types::api::notifications::{ChannelIn, NotificationOut, NotificationQuery};
use certctl_types::api::policy::{IssuerIn, ProfileIn};
use certctl_types::ids::{ApiKeyId, CertificateId, ChannelId, IssuerId, JobId, NotificationId, ProfileId};
use certctl_types::vocab::{
    CertificateStatus, ChannelKind, EventType, JobStatus, KeyAlgorithm, NotificationStatus, RevocationReason, Role,
};
use clap::{Args, Parser, Subcommand};
use serde_json::Value;

use crate::client::{Client, ClientError, Issued, Reply};
use crate::config::{self, Config, Context};
use crate::output::{self, Format, Table, fields, opt, when};

#[derive(Debug, Parser)]
#[command(
    name = "certctl",
    version,
    about = "Operate a certctl control plane: certificates, approvals, notifications, audit."
)]
pub struct Cli {
    /// The API's base URL, e.g. https://certctl.example.com (default: the context's).
    #[arg(long, env = "CERTCTL_SERVER", global = true)]
    pub server: Option<String>,
    /// The API key (prefer --api-key-file or the environment: arguments are visible to other users).
    #[arg(long, env = "CERTCTL_API_KEY", global = true, hide_env_values = true)]
    pub api_key: Option<String>,
    /// A file holding the API key.
    #[arg(long, env = "CERTCTL_API_KEY_FILE", global = true)]
    pub api_key_file: Option<PathBuf>,
    /// PEM CA certificates to trust for the server's TLS, besides the system's.
    #[arg(long, env = "CERTCTL_CA_BUNDLE", global = true)]
    pub ca_bundle: Option<PathBuf>,
    /// The context to use instead of the current one.
    #[arg(long, env = "CERTCTL_CONTEXT", global = true)]
    pub context: Option<String>,
    /// How to print results: a table, or the API's objects as JSON or YAML.
    #[arg(short, long, value_enum, default_value_t, global = true)]
    pub output: Format,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// What needs attention: certificates by state, expiring soon, approvals, dead notifications,
    /// revocation freshness.
    Status,
    /// Who the key acts for, and its role.
    Whoami,
    /// Certificates.
    #[command(subcommand, visible_alias = "cert")]
    Certs(Certs),
    /// Certificate authorities.
    #[command(subcommand)]
    Issuers(Issuers),
    /// Certificate profiles.
    #[command(subcommand)]
    Profiles(Profiles),
    /// Approval jobs.
    #[command(subcommand)]
    Jobs(Jobs),
    /// Notifications, their attempts and dead letters.
    #[command(subcommand, visible_alias = "notif")]
    Notifications(Notifications),
    /// Notification channels.
    #[command(subcommand)]
    Channels(Channels),
    /// The audit log.
    #[command(subcommand)]
    Audit(Audit),
    /// API keys.
    #[command(subcommand)]
    Keys(Keys),
    /// Contexts: named servers and keys.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Serves the MCP tools (stdio, or streamable HTTP with --http) over this API.
    Mcp(crate::mcp::McpArgs),
    /// Prints a shell completion script.
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args, Clone, Default)]
pub struct Page {
    /// Items per page (1-500).
    #[arg(long)]
    pub limit: Option<u64>,
    /// Start from this cursor (a `next_cursor` from an earlier page).
    #[arg(long)]
    pub cursor: Option<String>,
    /// Follow every page to the end.
    #[arg(long, conflicts_with = "cursor")]
    pub all: bool,
}

#[derive(Debug, Subcommand)]
pub enum Certs {
    /// Lists certificates, newest first.
    List {
        #[arg(long, value_parser = parse_word::<CertificateStatus>)]
        status: Option<CertificateStatus>,
        /// Issuer id or name.
        #[arg(long)]
        issuer: Option<String>,
        /// Profile id or name.
        #[arg(long)]
        profile: Option<String>,
        /// Exactly this common name.
        #[arg(long)]
        cn: Option<String>,
        /// Expiring within this long, e.g. 30d, 12h.
        #[arg(long, value_parser = parse_duration)]
        expiring_within: Option<Duration>,
        #[command(flatten)]
        page: Page,
    },
    /// One certificate.
    Get { id: CertificateId },
    /// The certificate and its chain, PEM.
    Pem { id: CertificateId },
    /// Issues a certificate, from a CSR or with a key certctl generates.
    Issue {
        /// Issuer id or name.
        #[arg(long)]
        issuer: String,
        /// Profile id or name.
        #[arg(long)]
        profile: String,
        #[arg(long)]
        cn: String,
        /// A subject alternative name (repeat for more; DNS names or IP addresses).
        #[arg(long = "san")]
        sans: Vec<String>,
        /// Lifetime, e.g. 30d, 12h, 3600 (seconds); the profile's maximum by default.
        #[arg(long, value_parser = parse_duration)]
        ttl: Option<Duration>,
        /// A PEM CSR: certify its key.
        #[arg(long, conflicts_with = "key_algorithm")]
        csr: Option<PathBuf>,
        /// Have certctl generate the key (ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096).
        #[arg(long, value_parser = parse_word::<KeyAlgorithm>)]
        key_algorithm: Option<KeyAlgorithm>,
        /// Write cert.pem, chain.pem and (for generated keys) key.pem, mode 0600, here.
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
    /// Issues a successor of a certificate.
    Renew {
        id: CertificateId,
        #[arg(long, value_parser = parse_duration)]
        ttl: Option<Duration>,
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
    /// Revokes a certificate.
    Revoke {
        id: CertificateId,
        /// RFC 5280 reason: keyCompromise, cACompromise, affiliationChanged, superseded,
        /// cessationOfOperation, privilegeWithdrawn, unspecified.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Revokes every certificate matching all the criteria given.
    BulkRevoke {
        #[arg(long)]
        issuer: Option<String>,
        #[arg(long)]
        profile: Option<String>,
        /// A certificate id (repeat for more).
        #[arg(long = "id")]
        ids: Vec<CertificateId>,
        #[arg(long)]
        reason: Option<String>,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum Issuers {
    List,
    Get {
        /// Id or name.
        issuer: String,
    },
    /// Creates a root CA, or an intermediate with --parent.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        cn: String,
        #[arg(long, value_parser = parse_word::<KeyAlgorithm>, default_value = "ecdsa-p384")]
        key_algorithm: KeyAlgorithm,
        /// The parent issuer's id or name.
        #[arg(long)]
        parent: Option<String>,
        #[arg(long)]
        validity_days: Option<u32>,
    },
}

#[derive(Debug, Subcommand)]
pub enum Profiles {
    List,
    Get {
        /// Id or name.
        profile: String,
    },
    /// Creates a profile from a JSON file (the body of POST /api/v1/profiles).
    Create {
        #[arg(short, long)]
        file: PathBuf,
    },
    /// Replaces a profile from a JSON file (the body of PUT /api/v1/profiles/{id}).
    Update {
        /// Id or name.
        profile: String,
        #[arg(short, long)]
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum Jobs {
    List {
        #[arg(long, value_parser = parse_word::<JobStatus>)]
        status: Option<JobStatus>,
        #[command(flatten)]
        page: Page,
    },
    Get {
        id: JobId,
    },
    /// Approves: the certificate is issued now.
    Approve {
        id: JobId,
        #[arg(long)]
        note: Option<String>,
    },
    Reject {
        id: JobId,
        #[arg(long)]
        note: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum Notifications {
    /// Lists notifications, newest first (`--status dead` for dead letters).
    List {
        #[arg(long, value_parser = parse_word::<NotificationStatus>)]
        status: Option<NotificationStatus>,
        #[arg(long = "type", value_parser = parse_word::<EventType>)]
        event_type: Option<EventType>,
        #[arg(long)]
        channel: Option<ChannelId>,
        #[arg(long)]
        certificate: Option<CertificateId>,
        #[command(flatten)]
        page: Page,
    },
    /// One notification with its attempts.
    Get { id: NotificationId },
    /// Gives failed or dead notifications a fresh budget.
    Requeue {
        #[arg(required_unless_present = "all_dead", conflicts_with = "all_dead")]
        ids: Vec<NotificationId>,
        /// Every dead notification.
        #[arg(long)]
        all_dead: bool,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum Channels {
    List,
    Get {
        id: ChannelId,
    },
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = parse_word::<ChannelKind>)]
        kind: ChannelKind,
        /// The channel's settings as a JSON object, or @FILE to read them from a file.
        #[arg(long)]
        config: String,
        /// An event type to deliver (repeat for more).
        #[arg(long = "event", required = true, value_parser = parse_word::<EventType>)]
        events: Vec<EventType>,
        #[arg(long)]
        disabled: bool,
    },
    /// Sends a test notification through the whole pipeline.
    Test {
        id: ChannelId,
    },
}

#[derive(Debug, Subcommand)]
pub enum Audit {
    /// Lists audit events, newest first.
    List {
        #[arg(long)]
        actor: Option<String>,
        #[arg(long)]
        action: Option<String>,
        #[arg(long)]
        resource_type: Option<String>,
        #[arg(long)]
        resource_id: Option<String>,
        #[arg(long)]
        key_id: Option<ApiKeyId>,
        /// Keep printing new events as they are written (Ctrl-C stops).
        #[arg(long, conflicts_with = "all")]
        follow: bool,
        #[command(flatten)]
        page: Page,
    },
}

#[derive(Debug, Subcommand)]
pub enum Keys {
    List,
    /// Creates a key and prints its secret, which is shown this once.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = parse_word::<Role>)]
        role: Role,
        #[arg(long)]
        principal: Option<String>,
        /// Write the secret to this file (mode 0600) instead of printing it.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    Disable {
        id: ApiKeyId,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Creates or changes a context.
    SetContext {
        name: String,
        #[arg(long = "context-server")]
        server: Option<String>,
        /// A file holding the key (kept as a path, not copied).
        #[arg(long = "context-api-key-file")]
        api_key_file: Option<PathBuf>,
        #[arg(long = "context-ca-bundle")]
        ca_bundle: Option<PathBuf>,
    },
    /// Makes a context the current one.
    UseContext {
        name: String,
    },
    GetContexts,
    CurrentContext,
}

/// Why a command failed, and so its exit code.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Api(#[from] ClientError),
    #[error("{0}")]
    Usage(String),
    #[error("{0:#}")]
    Other(#[from] anyhow::Error),
}

impl Failure {
    pub fn exit_code(&self) -> i32 {
        match self {
            Failure::Usage(_) => 2,
            Failure::Api(_) | Failure::Other(_) => 1,
        }
    }
}

fn usage(msg: impl Into<String>) -> Failure {
    Failure::Usage(msg.into())
}

/// Reads one of the API's words (`active`, `ecdsa-p256`, …), listing them when it is not one.
fn parse_word<T: Word>(s: &str) -> Result<T, String> {
    T::parse_word(s).ok_or_else(|| format!("must be one of {}", T::words().join(", ")))
}

trait Word: Sized + Clone + Send + Sync + 'static {
    fn parse_word(s: &str) -> Option<Self>;
    fn words() -> Vec<&'static str>;
}

macro_rules! words {
    ($($t:ty),+) => {$(
        impl Word for $t {
            fn parse_word(s: &str) -> Option<Self> {
                <$t>::parse(s)
            }
            fn words() -> Vec<&'static str> {
                <$t>::names()
            }
        }
    )+};
}
words!(
    CertificateStatus,
    JobStatus,
    NotificationStatus,
    EventType,
    ChannelKind,
    KeyAlgorithm,
    Role
);

/// `30d`, `12h`, `90m`, `45s`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{s}` is not a duration such as 30d, 12h, 90m or 3600"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("`{s}`: the unit must be s, m, h or d")),
    };
    Ok(Duration::from_secs(secs))
}

/// Runs one command.
pub async fn run(cli: Cli) -> Result<(), Failure> {
    let format = cli.output;
    match cli.command {
        Command::Config(cmd) => return config_command(cmd),
        Command::Completion { shell } => {
            use clap::CommandFactory as _;
            clap_complete::generate(shell, &mut Cli::command(), "certctl", &mut std::io::stdout());
            return Ok(());
        }
        _ => {}
    }
    let client = connect(
        cli.server.as_deref(),
        cli.api_key,
        cli.api_key_file.as_deref(),
        cli.ca_bundle.as_deref(),
        cli.context.as_deref(),
    )?;
    match cli.command {
        Command::Status => status(&client, format).await,
        Command::Whoami => {
            let me = client.me().await?;
            output::print(format, &me.raw, || {
                fields(&[
                    ("Principal", me.value.principal.clone()),
                    ("Role", me.value.role.to_string()),
                    ("Key", format!("{} ({})", me.value.key_name, me.value.key_id)),
                    ("Server", client.server().to_owned()),
                ])
            });
            Ok(())
        }
        Command::Certs(cmd) => certs(&client, format, cmd).await,
        Command::Issuers(cmd) => issuers(&client, format, cmd).await,
        Command::Profiles(cmd) => profiles(&client, format, cmd).await,
        Command::Jobs(cmd) => jobs(&client, format, cmd).await,
        Command::Notifications(cmd) => notifications(&client, format, cmd).await,
        Command::Channels(cmd) => channels(&client, format, cmd).await,
        Command::Audit(cmd) => audit(&client, format, cmd).await,
        Command::Keys(cmd) => keys(&client, format, cmd).await,
        Command::Mcp(args) => {
            let from = crate::mcp::ServeFrom {
                client,
                ca_bundle: cli.ca_bundle,
                context: cli.context,
            };
            Ok(crate::mcp::serve(from, args).await?)
        }
        Command::Config(_) | Command::Completion { .. } => Ok(()),
    }
}

/// The client for the flags, environment and context given (in that order of precedence).
pub fn connect(
    server: Option<&str>,
    api_key: Option<String>,
    api_key_file: Option<&Path>,
    ca_bundle: Option<&Path>,
    context: Option<&str>,
) -> Result<Client, Failure> {
    let cfg = Config::load(&config::path()?)?;
    let ctx = cfg.context(context)?.cloned().unwrap_or_default();
    let server = server.map(str::to_owned).or(ctx.server).ok_or_else(|| {
        usage("no server: pass --server, set CERTCTL_SERVER, or create a context with `certctl config set-context`")
    })?;
    let key = match (
        api_key,
        api_key_file.map(Path::to_path_buf).or(ctx.api_key_file),
        ctx.api_key,
    ) {
        (Some(k), _, _) => Some(k),
        (None, Some(file), _) => Some(read_key(&file)?),
        (None, None, k) => k,
    };
    Ok(Client::new(
        &server,
        key,
        ca_bundle.map(Path::to_path_buf).or(ctx.ca_bundle).as_deref(),
    )?)
}

fn read_key(path: &Path) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the API key file {}", path.display()))?;
    let key = text.trim();
    anyhow::ensure!(!key.is_empty(), "the API key file {} is empty", path.display());
    Ok(key.to_owned())
}

fn config_command(cmd: ConfigCmd) -> Result<(), Failure> {
    let path = config::path()?;
    let mut cfg = Config::load(&path)?;
    match cmd {
        ConfigCmd::SetContext {
            name,
            server,
            api_key_file,
            ca_bundle,
        } => {
            let ctx = cfg.contexts.entry(name.clone()).or_insert_with(Context::default);
            ctx.server = server.or(ctx.server.take());
            ctx.api_key_file = api_key_file.or(ctx.api_key_file.take());
            ctx.ca_bundle = ca_bundle.or(ctx.ca_bundle.take());
            if cfg.current_context.is_none() {
                cfg.current_context = Some(name.clone());
            }
            cfg.save(&path)?;
            eprintln!("context `{name}` saved in {}", path.display());
        }
        ConfigCmd::UseContext { name } => {
            if !cfg.contexts.contains_key(&name) {
                return Err(usage(format!("no context named `{name}`")));
            }
            cfg.current_context = Some(name.clone());
            cfg.save(&path)?;
            eprintln!("now using context `{name}`");
        }
        ConfigCmd::GetContexts => {
            let mut t = Table::new(&["CURRENT", "NAME", "SERVER", "KEY"]);
            for (name, ctx) in &cfg.contexts {
                let key = match (&ctx.api_key_file, &ctx.api_key) {
                    (Some(f), _) => f.display().to_string(),
                    (None, Some(_)) => "(in config)".to_owned(),
                    (None, None) => "-".to_owned(),
                };
                let current = if cfg.current_context.as_deref() == Some(name) {
                    "*"
                } else {
                    ""
                };
                t.row(vec![current.to_owned(), name.clone(), opt(&ctx.server), key]);
            }
            print!("{}", t.render());
        }
        ConfigCmd::CurrentContext => match cfg.current_context {
            Some(c) => println!("{c}"),
            None => return Err(usage("no current context")),
        },
    }
    Ok(())
}

/// A progress line on stderr when it is a terminal, nothing otherwise.
fn progress(message: &'static str, total: Option<u64>) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = match total {
        Some(n) => indicatif::ProgressBar::new(n),
        None => indicatif::ProgressBar::new_spinner(),
    };
    bar.set_message(message);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} {pos}/{len}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar
}

/// One page, or with `--all` every page: the items and the JSON to print for them.
async fn pages<T, F, Fut>(page: &Page, mut fetch: F) -> Result<(Vec<T>, Value, Option<String>), Failure>
where
    F: FnMut(Option<String>, Option<u64>) -> Fut,
    Fut: Future<Output = Result<Reply<ListOut<T>>, ClientError>>,
{
    let first = fetch(page.cursor.clone(), page.limit).await?;
    if !page.all {
        let next = first.value.next_cursor.clone();
        return Ok((first.value.data, first.raw, next));
    }
    let bar = progress("fetching", Some(first.value.total));
    let total = first.raw["total"].clone();
    let mut raw_items: Vec<Value> = first.raw["data"].as_array().cloned().unwrap_or_default();
    let mut items = first.value.data;
    let mut next = first.value.next_cursor;
    bar.set_position(items.len() as u64);
    while let Some(cursor) = next {
        let page = fetch(Some(cursor), Some(certctl_types::api::MAX_PAGE)).await?;
        raw_items.extend(page.raw["data"].as_array().cloned().unwrap_or_default());
        items.extend(page.value.data);
        next = page.value.next_cursor;
        bar.set_position(items.len() as u64);
    }
    bar.finish_and_clear();
    let raw = serde_json::json!({ "data": raw_items, "next_cursor": null, "total": total });
    Ok((items, raw, None))
}

/// Says on stderr where the next page starts, for tables (JSON carries `next_cursor` itself).
fn more(format: Format, next: Option<String>) {
    if let (Format::Table, Some(c)) = (format, next) {
        eprintln!("more: --cursor {c} (or --all)");
    }
}

/// An issuer given by id or by name.
async fn issuer_id(client: &Client, given: &str) -> Result<IssuerId, Failure> {
    if let Ok(id) = given.parse() {
        return Ok(id);
    }
    let all = client.list_issuers().await?;
    all.value
        .data
        .into_iter()
        .find(|i| i.name == given)
        .map(|i| i.id)
        .ok_or_else(|| usage(format!("no issuer named `{given}`")))
}

async fn profile_id(client: &Client, given: &str) -> Result<ProfileId, Failure> {
    if let Ok(id) = given.parse() {
        return Ok(id);
    }
    let all = client.list_profiles().await?;
    all.value
        .data
        .into_iter()
        .find(|p| p.name == given)
        .map(|p| p.id)
        .ok_or_else(|| usage(format!("no profile named `{given}`")))
}

fn ago(seconds: Option<f64>) -> String {
    seconds.map_or_else(|| "never".to_owned(), |s| human_seconds(s) + " ago")
}

fn human_seconds(s: f64) -> String {
    let a = s.abs();
    let text = if a >= 86_400.0 {
        format!("{:.0}d", a / 86_400.0)
    } else if a >= 3600.0 {
        format!("{:.0}h", a / 3600.0)
    } else if a >= 60.0 {
        format!("{:.0}m", a / 60.0)
    } else {
        format!("{a:.0}s")
    };
    if s < 0.0 { format!("-{text}") } else { text }
}

async fn status(client: &Client, format: Format) -> Result<(), Failure> {
    let s = client.summary().await?;
    // Issuers by name for the revocation table; the ids alone if they cannot be listed.
    let names: std::collections::HashMap<IssuerId, String> = match (format, s.value.revocation.is_empty()) {
        (Format::Table, false) => client
            .list_issuers()
            .await
            .map(|r| r.value.data.into_iter().map(|i| (i.id, i.name)).collect())
            .unwrap_or_default(),
        _ => Default::default(),
    };
    output::print(format, &s.raw, || {
        let v = &s.value;
        let c = &v.certificates;
        let mut out = fields(&[
            ("Server", client.server().to_owned()),
            (
                "Certificates",
                format!(
                    "{} total: {} active, {} revoked, {} superseded, {} expired",
                    c.total, c.active, c.revoked, c.superseded, c.expired
                ),
            ),
            (
                "Expiring soon",
                format!("{} within {} days", v.expiring_soon, v.expiring_soon_days),
            ),
            ("Awaiting approval", v.jobs_awaiting_approval.to_string()),
            (
                "Dead notifications",
                if v.notifications_dead > 0 {
                    format!("{} (certctl notifications list --status dead)", v.notifications_dead)
                } else {
                    "0".to_owned()
                },
            ),
        ]);
        if !v.revocation.is_empty() {
            let mut t = Table::new(&[
                "ISSUER",
                "CRL PUBLISHED",
                "CRL NEXT UPDATE IN",
                "OCSP SIGNER EXPIRES IN",
            ]);
            for r in &v.revocation {
                t.row(vec![
                    names
                        .get(&r.issuer_id)
                        .cloned()
                        .unwrap_or_else(|| r.issuer_id.to_string()),
                    ago(r.crl_age_seconds),
                    r.crl_next_update_in_seconds.map_or("-".into(), human_seconds),
                    r.ocsp_signer_expires_in_seconds.map_or("none".into(), human_seconds),
                ]);
            }
            out.push('\n');
            out.push_str(&t.render());
        }
        out
    });
    Ok(())
}

fn certificate_table(items: &[CertificateOut]) -> String {
    let mut t = Table::new(&["ID", "COMMON NAME", "STATUS", "NOT AFTER", "SERIAL"]);
    for c in items {
        let status = if c.expired && c.status == CertificateStatus::Active {
            "expired".to_owned()
        } else {
            c.status.to_string()
        };
        t.row(vec![
            c.id.to_string(),
            c.common_name.clone(),
            status,
            when(&c.not_after),
            c.serial_hex.clone(),
        ]);
    }
    t.render()
}

fn certificate_fields(c: &CertificateOut) -> String {
    let mut pairs = vec![
        ("ID", c.id.to_string()),
        ("Common name", c.common_name.clone()),
        ("SANs", c.sans.join(", ")),
        ("Status", c.status.to_string()),
        ("Expired", c.expired.to_string()),
        ("Serial", c.serial_hex.clone()),
        ("Key", c.key_algorithm.clone()),
        ("Not before", when(&c.not_before)),
        ("Not after", when(&c.not_after)),
        ("Issuer", c.issuer_id.to_string()),
        ("Profile", c.profile_id.to_string()),
        ("Requested by", c.requested_by.clone()),
    ];
    if let Some(r) = &c.revocation {
        pairs.push((
            "Revoked",
            format!("{} by {} ({})", when(&r.revoked_at), r.revoked_by, r.reason),
        ));
    }
    if let Some(id) = c.superseded_by_id {
        pairs.push(("Superseded by", id.to_string()));
    }
    fields(&pairs)
}

/// Prints an issuance's outcome and writes its files when asked.
fn issued(format: Format, reply: &Reply<Issued>, out_dir: Option<&Path>) -> Result<(), Failure> {
    match &reply.value {
        Issued::Certificate(c) => {
            if let Some(dir) = out_dir {
                std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
                let cert = c.certificate.certificate_pem.clone().unwrap_or_default();
                config::write_private(&dir.join("cert.pem"), cert.as_bytes())?;
                config::write_private(&dir.join("chain.pem"), c.chain_pem.as_bytes())?;
                if let Some(key) = &c.private_key_pem {
                    config::write_private(&dir.join("key.pem"), key.as_bytes())?;
                }
                eprintln!("wrote {}", dir.display());
            }
            // The generated key is never printed in a table; JSON and YAML print the response
            // as it is, key included, only when no --out-dir took it.
            let mut raw = reply.raw.clone();
            if out_dir.is_some()
                && let Some(o) = raw.as_object_mut()
            {
                o.remove("private_key_pem");
            }
            output::print(format, &raw, || certificate_fields(&c.certificate));
        }
        Issued::AwaitingApproval(job) => {
            output::print(format, &reply.raw, || {
                format!(
                    "awaiting approval: job {} (certctl jobs approve {} by another person)\n",
                    job.job_id, job.job_id
                )
            });
        }
    }
    Ok(())
}

fn reason(raw: Option<String>) -> Result<Option<String>, Failure> {
    match raw {
        Some(r) if RevocationReason::parse(&r).is_none() => Err(usage(format!(
            "`{r}` is not a revocation reason; use one of {}",
            RevocationReason::names().join(", ")
        ))),
        other => Ok(other),
    }
}

fn confirm(question: &str, yes: bool) -> Result<(), Failure> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(usage(format!(
            "{question}: pass --yes to confirm when not at a terminal"
        )));
    }
    eprint!("{question} [y/N] ");
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("cannot read the answer")?;
    if matches!(line.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(usage("not confirmed"))
    }
}

async fn certs(client: &Client, format: Format, cmd: Certs) -> Result<(), Failure> {
    match cmd {
        Certs::List {
            status,
            issuer,
            profile,
            cn,
            expiring_within,
            page,
        } => {
            let query = CertificateQuery {
                status,
                issuer_id: match issuer {
                    Some(i) => Some(issuer_id(client, &i).await?),
                    None => None,
                },
                profile_id: match profile {
                    Some(p) => Some(profile_id(client, &p).await?),
                    None => None,
                },
                common_name: cn,
                expiring_before: expiring_within
                    .map(|d| chrono::Utc::now() + chrono::Duration::seconds(d.as_secs() as i64)),
                ..CertificateQuery::default()
            };
            let (items, raw, next) = pages(&page, |cursor, limit| {
                let q = CertificateQuery {
                    cursor,
                    limit,
                    ..query.clone()
                };
                async move { client.list_certificates(&q).await }
            })
            .await?;
            output::print(format, &raw, || certificate_table(&items));
            more(format, next);
        }
        Certs::Get { id } => {
            let c = client.get_certificate(id).await?;
            output::print(format, &c.raw, || certificate_fields(&c.value));
        }
        Certs::Pem { id } => print!("{}", client.certificate_pem(id).await?),
        Certs::Issue {
            issuer,
            profile,
            cn,
            sans,
            ttl,
            csr,
            key_algorithm,
            out_dir,
        } => {
            let csr_pem = match csr {
                Some(path) => {
                    Some(std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?)
                }
                None => None,
            };
            if csr_pem.is_none() && key_algorithm.is_none() {
                return Err(usage(
                    "give --csr FILE (your key) or --key-algorithm (certctl generates the key)",
                ));
            }
            if key_algorithm.is_some() && out_dir.is_none() && format == Format::Table {
                return Err(usage(
                    "a generated key is shown once: pass --out-dir DIR to keep it (or -o json to print it)",
                ));
            }
            let body = IssueIn {
                issuer_id: issuer_id(client, &issuer).await?,
                profile_id: profile_id(client, &profile).await?,
                common_name: cn,
                sans: (!sans.is_empty()).then_some(sans),
                ttl_seconds: ttl.map(|d| d.as_secs() as i64),
                csr_pem,
                key_algorithm,
            };
            let reply = client.issue(&body).await?;
            issued(format, &reply, out_dir.as_deref())?;
        }
        Certs::Renew { id, ttl, out_dir } => {
            let reply = client
                .renew(
                    id,
                    &RenewIn {
                        ttl_seconds: ttl.map(|d| d.as_secs() as i64),
                    },
                )
                .await?;
            issued(format, &reply, out_dir.as_deref())?;
        }
        Certs::Revoke { id, reason: r } => {
            let c = client.revoke(id, &RevokeIn { reason: reason(r)? }).await?;
            output::print(format, &c.raw, || certificate_fields(&c.value));
        }
        Certs::BulkRevoke {
            issuer,
            profile,
            ids,
            reason: r,
            yes,
        } => {
            let body = BulkRevokeIn {
                reason: reason(r)?,
                issuer_id: match issuer {
                    Some(i) => Some(issuer_id(client, &i).await?),
                    None => None,
                },
                profile_id: match profile {
                    Some(p) => Some(profile_id(client, &p).await?),
                    None => None,
                },
                certificate_ids: (!ids.is_empty()).then_some(ids),
            };
            if body.issuer_id.is_none() && body.profile_id.is_none() && body.certificate_ids.is_none() {
                return Err(usage("give at least one of --issuer, --profile, --id"));
            }
            confirm("revoke every certificate matching these criteria", yes)?;
            let bar = progress("revoking", None);
            bar.enable_steady_tick(Duration::from_millis(120));
            let result = client.bulk_revoke(&body).await;
            bar.finish_and_clear();
            let r = result?;
            output::print(format, &r.raw, || {
                fields(&[
                    ("Matched", r.value.matched.to_string()),
                    ("Revoked", r.value.revoked.to_string()),
                    ("Already revoked", r.value.skipped.to_string()),
                    ("Not found", r.value.failed.to_string()),
                ])
            });
        }
    }
    Ok(())
}

async fn issuers(client: &Client, format: Format, cmd: Issuers) -> Result<(), Failure> {
    let show = |i: &certctl_types::api::policy::IssuerOut| {
        fields(&[
            ("ID", i.id.to_string()),
            ("Name", i.name.clone()),
            ("Common name", i.common_name.clone()),
            ("Key", i.key_algorithm.clone()),
            ("Root", i.is_root.to_string()),
            ("Parent", opt(&i.parent_issuer_id)),
            ("Not after", when(&i.not_after)),
        ])
    };
    match cmd {
        Issuers::List => {
            let all = client.list_issuers().await?;
            output::print(format, &all.raw, || {
                let mut t = Table::new(&["ID", "NAME", "COMMON NAME", "KEY", "ROOT", "NOT AFTER"]);
                for i in &all.value.data {
                    t.row(vec![
                        i.id.to_string(),
                        i.name.clone(),
                        i.common_name.clone(),
                        i.key_algorithm.clone(),
                        i.is_root.to_string(),
                        when(&i.not_after),
                    ]);
                }
                t.render()
            });
        }
        Issuers::Get { issuer } => {
            let i = client.get_issuer(issuer_id(client, &issuer).await?).await?;
            output::print(format, &i.raw, || show(&i.value));
        }
        Issuers::Create {
            name,
            cn,
            key_algorithm,
            parent,
            validity_days,
        } => {
            let parent_issuer_id = match parent {
                Some(p) => Some(issuer_id(client, &p).await?),
                None => None,
            };
            let i = client
                .create_issuer(&IssuerIn {
                    name,
                    common_name: cn,
                    key_algorithm,
                    parent_issuer_id,
                    validity_days,
                })
                .await?;
            output::print(format, &i.raw, || show(&i.value));
        }
    }
    Ok(())
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, Failure> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| usage(format!("{}: {e}", path.display())))
}

async fn profiles(client: &Client, format: Format, cmd: Profiles) -> Result<(), Failure> {
    let show = |p: &certctl_types::api::policy::ProfileOut| {
        fields(&[
            ("ID", p.id.to_string()),
            ("Name", p.name.clone()),
            ("Max lifetime", human_seconds(p.max_ttl_seconds as f64)),
            ("Key algorithms", p.allowed_key_algorithms.join(", ")),
            ("EKUs", p.ekus.join(", ")),
            ("Requires approval", p.requires_approval.to_string()),
            ("Revision", p.revision.to_string()),
        ])
    };
    match cmd {
        Profiles::List => {
            let all = client.list_profiles().await?;
            output::print(format, &all.raw, || {
                let mut t = Table::new(&["ID", "NAME", "MAX LIFETIME", "APPROVAL", "REVISION"]);
                for p in &all.value.data {
                    t.row(vec![
                        p.id.to_string(),
                        p.name.clone(),
                        human_seconds(p.max_ttl_seconds as f64),
                        if p.requires_approval { "required" } else { "-" }.to_owned(),
                        p.revision.to_string(),
                    ]);
                }
                t.render()
            });
        }
        Profiles::Get { profile } => {
            let p = client.get_profile(profile_id(client, &profile).await?).await?;
            output::print(format, &p.raw, || show(&p.value));
        }
        Profiles::Create { file } => {
            let body: ProfileIn = read_json(&file)?;
            let p = client.create_profile(&body).await?;
            output::print(format, &p.raw, || show(&p.value));
        }
        Profiles::Update { profile, file } => {
            let body: ProfileIn = read_json(&file)?;
            let p = client
                .replace_profile(profile_id(client, &profile).await?, &body)
                .await?;
            output::print(format, &p.raw, || show(&p.value));
        }
    }
    Ok(())
}

async fn jobs(client: &Client, format: Format, cmd: Jobs) -> Result<(), Failure> {
    let show = |j: &certctl_types::api::certificates::JobOut| {
        fields(&[
            ("ID", j.id.to_string()),
            ("Kind", j.kind.clone()),
            ("Status", j.status.to_string()),
            ("Requested by", j.requested_by.clone()),
            ("Decided by", opt(&j.decided_by)),
            ("Note", opt(&j.decision_note)),
            ("Certificate", opt(&j.certificate_id)),
            ("Error", opt(&j.error)),
        ])
    };
    match cmd {
        Jobs::List { status, page } => {
            let (items, raw, next) = pages(&page, |cursor, limit| {
                let q = JobQuery { status, cursor, limit };
                async move { client.list_jobs(&q).await }
            })
            .await?;
            output::print(format, &raw, || {
                let mut t = Table::new(&["ID", "KIND", "STATUS", "REQUESTED BY", "CREATED"]);
                for j in &items {
                    t.row(vec![
                        j.id.to_string(),
                        j.kind.clone(),
                        j.status.to_string(),
                        j.requested_by.clone(),
                        when(&j.created_at),
                    ]);
                }
                t.render()
            });
            more(format, next);
        }
        Jobs::Get { id } => {
            let j = client.get_job(id).await?;
            output::print(format, &j.raw, || show(&j.value));
        }
        Jobs::Approve { id, note } => {
            let j = client.decide(id, true, &DecisionIn { note }).await?;
            output::print(format, &j.raw, || show(&j.value));
        }
        Jobs::Reject { id, note } => {
            let j = client.decide(id, false, &DecisionIn { note }).await?;
            output::print(format, &j.raw, || show(&j.value));
        }
    }
    Ok(())
}

fn notification_table(items: &[NotificationOut]) -> String {
    let mut t = Table::new(&["ID", "TYPE", "CHANNEL", "STATUS", "RETRY", "LAST ERROR", "CREATED"]);
    for n in items {
        t.row(vec![
            n.id.to_string(),
            n.event_type.clone(),
            opt(&n.channel_kind),
            n.status.to_string(),
            format!("Retry {}/{}", n.retry_count, n.max_attempts),
            n.last_error
                .clone()
                .map_or_else(|| "-".to_owned(), |e| e.chars().take(60).collect()),
            when(&n.created_at),
        ]);
    }
    t.render()
}

async fn notifications(client: &Client, format: Format, cmd: Notifications) -> Result<(), Failure> {
    match cmd {
        Notifications::List {
            status,
            event_type,
            channel,
            certificate,
            page,
        } => {
            let (items, raw, next) = pages(&page, |cursor, limit| {
                let q = NotificationQuery {
                    status,
                    event_type,
                    channel_id: channel,
                    certificate_id: certificate,
                    cursor,
                    limit,
                };
                async move { client.list_notifications(&q).await }
            })
            .await?;
            output::print(format, &raw, || notification_table(&items));
            more(format, next);
        }
        Notifications::Get { id } => {
            let n = client.get_notification(id).await?;
            output::print(format, &n.raw, || {
                let v = &n.value;
                let mut out = fields(&[
                    ("ID", v.notification.id.to_string()),
                    ("Type", v.notification.event_type.clone()),
                    ("Status", v.notification.status.to_string()),
                    (
                        "Channel",
                        format!("{} ({})", v.notification.channel_id, opt(&v.notification.channel_kind)),
                    ),
                    ("Certificate", opt(&v.notification.certificate_id)),
                    (
                        "Retry",
                        format!("{}/{}", v.notification.retry_count, v.notification.max_attempts),
                    ),
                    (
                        "Next retry",
                        v.notification.next_retry_at.as_ref().map_or("-".into(), when),
                    ),
                    ("Last error", opt(&v.notification.last_error)),
                ]);
                let mut t = Table::new(&["ATTEMPT", "STARTED", "OUTCOME", "STATUS", "MS", "WORKER", "ERROR"]);
                for a in &v.attempts {
                    t.row(vec![
                        a.attempt.to_string(),
                        when(&a.started_at),
                        a.outcome.clone(),
                        opt(&a.status_code),
                        opt(&a.duration_ms),
                        a.worker.clone(),
                        opt(&a.error),
                    ]);
                }
                out.push('\n');
                out.push_str(&t.render());
                out
            });
        }
        Notifications::Requeue { ids, all_dead, yes } => {
            let ids: Vec<NotificationId> = if all_dead {
                let page = Page {
                    all: true,
                    limit: Some(certctl_types::api::MAX_PAGE),
                    ..Page::default()
                };
                let (dead, _, _) = pages(&page, |cursor, limit| {
                    let q = NotificationQuery {
                        status: Some(NotificationStatus::Dead),
                        cursor,
                        limit,
                        ..NotificationQuery::default()
                    };
                    async move { client.list_notifications(&q).await }
                })
                .await?;
                if dead.is_empty() {
                    eprintln!("no dead notifications");
                    return Ok(());
                }
                confirm(&format!("requeue {} dead notifications", dead.len()), yes)?;
                dead.into_iter().map(|n| n.id).collect()
            } else {
                ids
            };
            let bar = progress("requeueing", Some(ids.len() as u64));
            let mut done = Vec::new();
            let mut raw = Vec::new();
            let mut failed = None;
            for id in ids {
                match client.requeue(id).await {
                    Ok(r) => {
                        raw.push(r.raw);
                        done.push(r.value);
                    }
                    Err(e) => {
                        eprintln!("{id}: {e}");
                        failed = Some(e);
                    }
                }
                bar.inc(1);
            }
            bar.finish_and_clear();
            output::print(format, &Value::Array(raw), || notification_table(&done));
            if let Some(e) = failed {
                return Err(e.into());
            }
        }
    }
    Ok(())
}

async fn channels(client: &Client, format: Format, cmd: Channels) -> Result<(), Failure> {
    let show = |c: &certctl_types::api::notifications::ChannelOut| {
        fields(&[
            ("ID", c.id.to_string()),
            ("Name", c.name.clone()),
            ("Kind", c.kind.clone()),
            ("Enabled", c.enabled.to_string()),
            ("Events", c.event_types.join(", ")),
            ("Config", Value::Object(c.config.clone()).to_string()),
            ("Secrets set", c.secrets_set.join(", ")),
        ])
    };
    match cmd {
        Channels::List => {
            let all = client.list_channels().await?;
            output::print(format, &all.raw, || {
                let mut t = Table::new(&["ID", "NAME", "KIND", "ENABLED", "EVENTS"]);
                for c in &all.value.data {
                    t.row(vec![
                        c.id.to_string(),
                        c.name.clone(),
                        c.kind.clone(),
                        c.enabled.to_string(),
                        c.event_types.join(","),
                    ]);
                }
                t.render()
            });
        }
        Channels::Get { id } => {
            let c = client.get_channel(id).await?;
            output::print(format, &c.raw, || show(&c.value));
        }
        Channels::Create {
            name,
            kind,
            config,
            events,
            disabled,
        } => {
            let text = match config.strip_prefix('@') {
                Some(path) => std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?,
                None => config,
            };
            let config = match serde_json::from_str(&text) {
                Ok(Value::Object(map)) => map,
                _ => return Err(usage("--config must be a JSON object (or @FILE holding one)")),
            };
            let c = client
                .create_channel(&ChannelIn {
                    name,
                    kind,
                    config,
                    event_types: events,
                    enabled: !disabled,
                })
                .await?;
            output::print(format, &c.raw, || show(&c.value));
        }
        Channels::Test { id } => {
            let n = client.test_channel(id).await?;
            output::print(format, &n.raw, || {
                format!(
                    "queued test notification {} (certctl notifications get {})\n",
                    n.value.id, n.value.id
                )
            });
        }
    }
    Ok(())
}

async fn audit(client: &Client, format: Format, cmd: Audit) -> Result<(), Failure> {
    let Audit::List {
        actor,
        action,
        resource_type,
        resource_id,
        key_id,
        follow,
        page,
    } = cmd;
    let query = AuditQuery {
        actor,
        action,
        resource_type,
        resource_id,
        key_id,
        ..AuditQuery::default()
    };
    let row = |e: &certctl_types::api::access::AuditEventOut| {
        vec![
            when(&e.created_at),
            e.actor.clone(),
            e.action.clone(),
            format!("{}/{}", e.resource_type, opt(&e.resource_id)),
            e.outcome.clone(),
        ]
    };
    let headers = ["TIME", "ACTOR", "ACTION", "RESOURCE", "OUTCOME"];
    let (items, raw, next) = pages(&page, |cursor, limit| {
        let q = AuditQuery {
            cursor,
            limit,
            ..query.clone()
        };
        async move { client.list_audit(&q).await }
    })
    .await?;
    if !follow {
        output::print(format, &raw, || {
            let mut t = Table::new(&headers);
            for e in &items {
                t.row(row(e));
            }
            t.render()
        });
        more(format, next);
        return Ok(());
    }
    // Following: oldest first, then each new event as it appears, one line (or JSON object) each.
    let mut seen: std::collections::HashSet<uuid::Uuid> = items.iter().map(|e| e.id).collect();
    let emit = |e: &certctl_types::api::access::AuditEventOut, raw: &Value| match format {
        Format::Table => println!("{}", row(e).join("  ")),
        Format::Json => println!("{raw}"),
        Format::Yaml => print!("---\n{}", output::yaml(raw)),
    };
    let raws = raw["data"].as_array().cloned().unwrap_or_default();
    for (e, r) in items.iter().zip(raws.iter()).rev() {
        emit(e, r);
    }
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let latest = client.list_audit(&query).await?;
        let raws = latest.raw["data"].as_array().cloned().unwrap_or_default();
        for (e, r) in latest.value.data.iter().zip(raws.iter()).rev() {
            if seen.insert(e.id) {
                emit(e, r);
            }
        }
    }
}

async fn keys(client: &Client, format: Format, cmd: Keys) -> Result<(), Failure> {
    match cmd {
        Keys::List => {
            let all = client.list_keys().await?;
            output::print(format, &all.raw, || {
                let mut t = Table::new(&["ID", "NAME", "PRINCIPAL", "ROLE", "LAST USED", "DISABLED"]);
                for k in &all.value.data {
                    t.row(vec![
                        k.id.to_string(),
                        k.name.clone(),
                        k.principal.clone(),
                        k.role.to_string(),
                        k.last_used_at.as_ref().map_or("-".into(), when),
                        k.disabled_at.as_ref().map_or("-".into(), when),
                    ]);
                }
                t.render()
            });
        }
        Keys::Create {
            name,
            role,
            principal,
            out,
        } => {
            let k = client
                .create_key(&ApiKeyIn {
                    name,
                    role,
                    principal,
                    expires_at: None,
                })
                .await?;
            let mut raw = k.raw.clone();
            if let Some(path) = &out {
                config::write_private(path, format!("{}\n", k.value.key).as_bytes())?;
                eprintln!("wrote the key's secret to {}", path.display());
                if let Some(o) = raw.as_object_mut() {
                    o.remove("key");
                }
            }
            output::print(format, &raw, || {
                let mut pairs = vec![
                    ("ID", k.value.api_key.id.to_string()),
                    ("Name", k.value.api_key.name.clone()),
                    ("Principal", k.value.api_key.principal.clone()),
                    ("Role", k.value.api_key.role.to_string()),
                ];
                if out.is_none() {
                    pairs.push(("Secret (shown once)", k.value.key.clone()));
                }
                fields(&pairs)
            });
        }
        Keys::Disable { id } => {
            let k = client.disable_key(id).await?;
            output::print(format, &k.raw, || {
                format!("disabled {} ({})\n", k.value.name, k.value.id)
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_units_and_plain_seconds() {
        assert_eq!(parse_duration("30d").unwrap(), Duration::from_secs(30 * 86_400));
        assert_eq!(parse_duration("12h").unwrap(), Duration::from_secs(43_200));
        assert_eq!(parse_duration("3600").unwrap(), Duration::from_secs(3600));
        assert!(parse_duration("3w").is_err());
        assert!(parse_duration("h").is_err());
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }
}

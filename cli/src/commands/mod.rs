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
use certctl_types::api::policy::{IssuerOut, ProfileOut};
use certctl_types::ids::{IssuerId, ProfileId};
use certctl_types::vocab::{
    CertificateStatus, ChannelKind, EventType, JobStatus, KeyAlgorithm, NotificationStatus, Role,
};
use clap::{Args, Parser, Subcommand};
use serde_json::Value;

use crate::client::{Client, ClientError, Reply};
use crate::config::{self, Config};
use crate::output::{self, Format, fields};

mod access;
mod certs;
mod contexts;
mod demo;
mod discovery;
mod jobs;
mod notifications;
mod policy;
mod status;

pub use access::{Audit, Keys};
pub use certs::Certs;
pub use contexts::ConfigCmd;
pub use demo::Demo;
pub use jobs::Jobs;
pub use notifications::{Channels, Notifications};
pub use policy::{Issuers, Policies, Profiles};

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
    /// This client's version and the server's.
    Version,
    /// Certificates.
    #[command(subcommand, visible_alias = "cert")]
    Certs(Certs),
    /// Certificate authorities.
    #[command(subcommand)]
    Issuers(Issuers),
    /// Certificate profiles.
    #[command(subcommand)]
    Profiles(Profiles),
    /// Renewal policies: when certificates renew, by themselves or not, with which key.
    #[command(subcommand, name = "renewal-policies", visible_alias = "policies")]
    Policies(Policies),
    /// Jobs: approvals, and automatic renewals (a CSR to give, a rotated key to collect).
    #[command(subcommand)]
    Jobs(Jobs),
    /// Notifications, their attempts and dead letters.
    #[command(subcommand, visible_alias = "notif")]
    Notifications(Notifications),
    /// Notification channels.
    #[command(subcommand)]
    Channels(Channels),
    /// Discovery scan targets: address ranges and ports the worker scans for TLS certificates.
    #[command(subcommand, name = "scan-targets")]
    ScanTargets(discovery::ScanTargets),
    /// Certificates discovery found: managed, unmanaged, claimed or dismissed.
    #[command(subcommand)]
    Discovered(discovery::Discovered),
    /// The audit log.
    #[command(subcommand)]
    Audit(Audit),
    /// API keys.
    #[command(subcommand)]
    Keys(Keys),
    /// Contexts: named servers and keys.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Demo data for a test or development instance: `demo seed` fills it with a realistic estate.
    #[command(subcommand)]
    Demo(Demo),
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
        Command::Config(cmd) => return contexts::config_command(cmd),
        Command::Completion { shell } => {
            use clap::CommandFactory as _;
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "certctl", &mut script);
            output::emit(&String::from_utf8_lossy(&script));
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
        Command::Status => status::status(&client, format).await,
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
        Command::Version => {
            let v = client.version().await?;
            output::print(format, &v.raw, || {
                fields(&[
                    ("Client", env!("CARGO_PKG_VERSION").to_owned()),
                    (
                        "Server",
                        format!("{} {} (API {})", v.value.name, v.value.version, v.value.api),
                    ),
                ])
            });
            Ok(())
        }
        Command::Certs(cmd) => certs::certs(&client, format, cmd).await,
        Command::Issuers(cmd) => policy::issuers(&client, format, cmd).await,
        Command::Profiles(cmd) => policy::profiles(&client, format, cmd).await,
        Command::Policies(cmd) => policy::policies(&client, format, cmd).await,
        Command::Jobs(cmd) => jobs::jobs(&client, format, cmd).await,
        Command::Notifications(cmd) => notifications::notifications(&client, format, cmd).await,
        Command::Channels(cmd) => notifications::channels(&client, format, cmd).await,
        Command::ScanTargets(cmd) => discovery::scan_targets(&client, format, cmd).await,
        Command::Discovered(cmd) => discovery::discovered(&client, format, cmd).await,
        Command::Audit(cmd) => access::audit(&client, format, cmd).await,
        Command::Keys(cmd) => access::keys(&client, format, cmd).await,
        Command::Demo(cmd) => {
            let trust = demo::Trust {
                ca_bundle: cli.ca_bundle,
                context: cli.context,
            };
            demo::demo(&client, format, cmd, trust).await
        }
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
    let ctx = cfg
        .context(context)
        .map_err(|e| usage(format!("{e:#}")))?
        .cloned()
        .unwrap_or_default();
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
    // Every page was read, so the total is known exactly, even where the server estimated it.
    let raw = serde_json::json!({
        "data": raw_items, "next_cursor": null, "total": items.len(), "total_estimated": false,
    });
    Ok((items, raw, None))
}

/// Says on stderr where the next page starts, for tables (JSON carries `next_cursor` itself).
fn more(format: Format, next: Option<String>) {
    if let (Format::Table, Some(c)) = (format, next) {
        eprintln!("more: --cursor {c} (or --all)");
    }
}

/// The id `given` stands for: itself if it is an id, else the id of the one listed item that
/// `pick` names so (`pick` answers an item's id when its name is `given`).
async fn id_or_name<I: std::str::FromStr, T, Fut>(
    given: &str,
    what: &str,
    list: impl FnOnce() -> Fut,
    pick: impl Fn(&T) -> Option<I>,
) -> Result<I, Failure>
where
    Fut: Future<Output = Result<Reply<ListOut<T>>, ClientError>>,
{
    if let Ok(id) = given.parse() {
        return Ok(id);
    }
    list()
        .await?
        .value
        .data
        .iter()
        .find_map(pick)
        .ok_or_else(|| usage(format!("no {what} named `{given}`")))
}

/// An issuer given by id or by name.
async fn issuer_id(client: &Client, given: &str) -> Result<IssuerId, Failure> {
    id_or_name(
        given,
        "issuer",
        || client.list_issuers(),
        |i: &IssuerOut| (i.name == given).then_some(i.id),
    )
    .await
}

async fn profile_id(client: &Client, given: &str) -> Result<ProfileId, Failure> {
    id_or_name(
        given,
        "profile",
        || client.list_profiles(),
        |p: &ProfileOut| (p.name == given).then_some(p.id),
    )
    .await
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

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, Failure> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| usage(format!("{}: {e}", path.display())))
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

//! `certctl config`: contexts, kubectl-style.

use std::path::PathBuf;

use clap::Subcommand;

use crate::config::{self, Config, Context};
use crate::output::{self, Table, opt};

use super::{Failure, usage};

#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Creates or changes a context.
    ///
    /// Only the flags given change the context (the global --server, CERTCTL_SERVER and the
    /// like are not read here).
    SetContext {
        name: String,
        /// The API's base URL.
        #[arg(long = "context-server")]
        context_server: Option<String>,
        /// A file holding the key (kept as a path, not copied).
        #[arg(long = "context-api-key-file")]
        context_api_key_file: Option<PathBuf>,
        /// PEM CA certificates to trust for the server's TLS.
        #[arg(long = "context-ca-bundle")]
        context_ca_bundle: Option<PathBuf>,
    },
    /// Makes a context the current one.
    UseContext {
        name: String,
    },
    GetContexts,
    CurrentContext,
}

pub(super) fn config_command(cmd: ConfigCmd) -> Result<(), Failure> {
    let path = config::path()?;
    let mut cfg = Config::load(&path)?;
    match cmd {
        ConfigCmd::SetContext {
            name,
            context_server: server,
            context_api_key_file: api_key_file,
            context_ca_bundle: ca_bundle,
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
            output::emit(&t.render());
        }
        ConfigCmd::CurrentContext => match cfg.current_context {
            Some(c) => output::emit(&format!("{c}\n")),
            None => return Err(usage("no current context")),
        },
    }
    Ok(())
}

//! `certctl`, the command-line client of the certctl API, and its MCP server.
//!
//! - [`client`]: the typed HTTP client both are built on.
//! - [`config`]: contexts (server, key, CA bundle) in `~/.config/certctl/config.toml`.
//! - [`output`]: tables for people, the API's JSON (or YAML) unchanged for scripts.
//! - [`commands`]: the command tree and what each command does.
//! - [`mcp`]: `certctl mcp`, the MCP server (stdio or streamable HTTP) whose tools call the API.

pub mod client;
pub mod commands;
pub mod config;
pub mod mcp;
pub mod output;

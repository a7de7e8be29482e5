//! Integration tests of the API server against the machine's real PostgreSQL.

#![allow(clippy::unwrap_used)]

mod acme;
mod acme_protocol;
mod approvals;
mod audit;
mod auth;
mod cli;
mod console;
mod crl_shards;
mod delivery;
mod demo;
mod discovery;
mod email;
mod enrollment;
mod est;
mod faults;
mod hardening;
mod helpers;
mod inventory;
mod issuance;
mod mcp;
mod migrations;
mod notifications;
mod notify_harness;
mod openapi;
mod process;
mod renewal;
mod responder;
mod responder_harness;
mod retention;
mod revocation;
mod routes;
mod scep;
mod soak;
mod telemetry;
mod tls;

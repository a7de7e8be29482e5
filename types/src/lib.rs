//! certctl's vocabulary and wire format, shared by the server and every client.
//!
//! - [`ids`]: one UUID newtype per kind of record.
//! - [`vocab`]: the enums for states, kinds, key algorithms and revocation reasons.
//! - [`api`]: the REST API's request and response bodies and query strings, with their JSON
//!   schemas (the OpenAPI document is generated from these).
//!
//! Nothing here does I/O. The `db` feature adds the sea-orm column mappings the server needs;
//! clients leave it off.

pub mod api;
pub mod ids;
pub mod vocab;

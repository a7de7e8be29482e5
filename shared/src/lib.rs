//! Code shared by the certctl daemons: configuration, telemetry, the database schema as sea-orm
//! entities, repositories over it, domain models, key protection, and the admin
//! (health, readiness, metrics) listener every daemon runs.

pub mod admin;
pub mod channel_config;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod db;
pub mod entities;
pub mod model;
pub mod netguard;
pub mod queue;
pub mod repo;
pub mod retry;
pub mod scanrange;
pub mod serve;
pub mod telemetry;

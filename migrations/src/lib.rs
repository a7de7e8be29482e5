//! The certctl schema, as a list of sea-orm migrations.
//!
//! Every migration is written in idempotent SQL (`IF NOT EXISTS`, `CREATE OR REPLACE`), so applying
//! the set to a database that already has it — even with the `seaql_migrations` bookkeeping lost —
//! changes nothing. A migration describes the schema as it was the day it was written, so this crate
//! depends on nothing else of ours.

pub use sea_orm_migration::prelude::*;

mod m20261128_000001_pki;
mod m20261128_000002_auth_audit;
mod m20261128_000003_compromised_keys;
mod m20261128_000004_profile_revision;
mod m20261128_000005_notifications;
mod m20261128_000006_revocation;
mod m20261128_000007_crl_read_path;
mod m20261205_000008_hardening;
mod m20261205_000009_audit_protocol;
mod m20261205_000010_enrollment_profiles;
mod m20261206_000011_enrollment_requests;
mod m20261206_000012_acme_nonces;
mod m20261206_000013_acme_endpoints;
mod m20261207_000014_acme_orders;
mod m20261208_000015_idempotency_keys;
mod m20261209_000016_inventory_indexes;
mod m20261209_000017_certificate_tally;
mod m20261210_000018_crl_shards;
mod m20261211_000019_renewal;
mod m20261212_000020_discovery;
mod m20261213_000021_crl_this_update;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_pki::Migration),
            Box::new(m20261128_000002_auth_audit::Migration),
            Box::new(m20261128_000003_compromised_keys::Migration),
            Box::new(m20261128_000004_profile_revision::Migration),
            Box::new(m20261128_000005_notifications::Migration),
            Box::new(m20261128_000006_revocation::Migration),
            Box::new(m20261128_000007_crl_read_path::Migration),
            Box::new(m20261205_000008_hardening::Migration),
            Box::new(m20261205_000009_audit_protocol::Migration),
            Box::new(m20261205_000010_enrollment_profiles::Migration),
            Box::new(m20261206_000011_enrollment_requests::Migration),
            Box::new(m20261206_000012_acme_nonces::Migration),
            Box::new(m20261206_000013_acme_endpoints::Migration),
            Box::new(m20261207_000014_acme_orders::Migration),
            Box::new(m20261208_000015_idempotency_keys::Migration),
            Box::new(m20261209_000016_inventory_indexes::Migration),
            Box::new(m20261209_000017_certificate_tally::Migration),
            Box::new(m20261210_000018_crl_shards::Migration),
            Box::new(m20261211_000019_renewal::Migration),
            Box::new(m20261212_000020_discovery::Migration),
            Box::new(m20261213_000021_crl_this_update::Migration),
        ]
    }
}

/// Runs each statement of an idempotent script in order.
pub(crate) async fn run_script(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    let conn = manager.get_connection();
    for sql in statements {
        conn.execute_unprepared(sql).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The daemons' readiness waits for `REQUIRED_MIGRATION`: it must be the newest migration,
    /// or a new daemon would serve on a schema missing what its queries need.
    #[test]
    fn the_daemons_require_the_newest_migration() {
        let newest = Migrator::migrations().last().map(|m| m.name().to_owned());
        assert_eq!(newest.as_deref(), Some(certctl_shared::db::REQUIRED_MIGRATION));
    }
}

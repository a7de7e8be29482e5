//! Indexes for an inventory of millions of certificates: every list filter reads an index in the
//! list's order (so a page costs the same at any depth), a serial number is found directly, and
//! text search over names uses trigrams (`pg_trgm`) instead of reading every row.
//!
//! `pg_trgm` ships with PostgreSQL and is a trusted extension: the schema owner may create it
//! without being a superuser, given `CREATE` on the database.

use sea_orm_migration::prelude::*;

use crate::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261209_000016_inventory_indexes"
    }
}

/// The indexes built here, which an interrupted build leaves invalid.
const BUILT: &[&str] = &[
    "idx_certificates_search",
    "idx_certificates_serial",
    "idx_certificates_status_created",
    "idx_certificates_issuer_created",
    "idx_certificates_profile_created",
];

const UP: &[&str] = &[
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    // What text search matches against: the common name and every SAN, one per line. Declared
    // IMMUTABLE (true: it reads nothing but its arguments) so an index can be built on it.
    r"CREATE OR REPLACE FUNCTION certctl_search_text(common_name TEXT, sans TEXT[]) RETURNS TEXT
        LANGUAGE sql IMMUTABLE PARALLEL SAFE
        AS $$ SELECT common_name || E'\n' || coalesce(array_to_string(sans, E'\n'), '') $$",
    // Every index is built without blocking reads or writes (CONCURRENTLY, hence no transaction).
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_certificates_search \
       ON certificates USING gin (certctl_search_text(common_name, sans) gin_trgm_ops)",
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_certificates_serial ON certificates (serial_hex)",
    // Filters in newest-first order. The issuer and profile indexes replace single-column ones,
    // which these serve as well.
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_certificates_status_created \
       ON certificates (status, created_at DESC, id DESC)",
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_certificates_issuer_created \
       ON certificates (issuer_id, created_at DESC, id DESC)",
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_certificates_profile_created \
       ON certificates (profile_id, created_at DESC, id DESC)",
    "DROP INDEX CONCURRENTLY IF EXISTS idx_certificates_issuer",
    "DROP INDEX CONCURRENTLY IF EXISTS idx_certificates_profile",
];

const DOWN: &[&str] = &[
    "CREATE INDEX IF NOT EXISTS idx_certificates_issuer ON certificates (issuer_id)",
    "CREATE INDEX IF NOT EXISTS idx_certificates_profile ON certificates (profile_id)",
    "DROP INDEX IF EXISTS idx_certificates_profile_created",
    "DROP INDEX IF EXISTS idx_certificates_issuer_created",
    "DROP INDEX IF EXISTS idx_certificates_status_created",
    "DROP INDEX IF EXISTS idx_certificates_serial",
    "DROP INDEX IF EXISTS idx_certificates_search",
    "DROP FUNCTION IF EXISTS certctl_search_text(TEXT, TEXT[])",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// `CREATE INDEX CONCURRENTLY` cannot run inside a transaction. Each statement is idempotent,
    /// so a run interrupted between them is completed by the next.
    fn use_transaction(&self) -> Option<bool> {
        Some(false)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // A build interrupted earlier leaves an invalid index that IF NOT EXISTS would keep.
        let invalid = format!(
            "DO $$ DECLARE name TEXT; BEGIN
               FOR name IN SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                           WHERE NOT i.indisvalid AND c.relname IN ('{}') LOOP
                 EXECUTE format('DROP INDEX %I', name);
               END LOOP;
             END $$",
            BUILT.join("', '")
        );
        run_script(manager, &[invalid.as_str()]).await?;
        run_script(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, DOWN).await
    }
}

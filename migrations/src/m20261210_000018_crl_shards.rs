//! Partitioned CRLs (RFC 5280 §5.2.5, issuing distribution point): an issuer created with
//! `crl_shards` N > 0 assigns each certificate it signs to one of N shards, named by the
//! certificate's CRL distribution point (`…/crl/{issuer}/{shard}`), and publishes one CRL per
//! shard, each numbered on its own and carrying a critical IDP extension with its own URL. A CRL
//! then lists only its shard's revocations, so no file grows with the whole issuer. Issuers with
//! `crl_shards` 0 (the default, and every issuer made before this migration) keep one full CRL,
//! as shard 0.
//!
//! The shard is a function of the serial number (its last two octets modulo N, plus one), so the
//! issuance code that writes the distribution point and this schema agree without storing it
//! on the certificate; the revocation copies it, and the CRL build reads it from there.

use sea_orm_migration::prelude::*;

use crate::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261210_000018_crl_shards"
    }
}

const UP: &[&str] = &[
    "ALTER TABLE issuers ADD COLUMN IF NOT EXISTS crl_shards SMALLINT NOT NULL DEFAULT 0",
    "ALTER TABLE issuers DROP CONSTRAINT IF EXISTS issuers_crl_shards_check",
    "ALTER TABLE issuers ADD CONSTRAINT issuers_crl_shards_check CHECK (crl_shards = 0 OR crl_shards BETWEEN 2 AND 256)",
    // The URL the shards' CRLs are published under, fixed when the issuer is created, so the
    // distribution points in its certificates and the IDP in its CRLs always name the same place.
    "ALTER TABLE issuers ADD COLUMN IF NOT EXISTS crl_url TEXT",
    r"CREATE OR REPLACE FUNCTION certctl_crl_shard(serial_hex TEXT, shards SMALLINT) RETURNS SMALLINT
        LANGUAGE sql IMMUTABLE PARALLEL SAFE
        AS $$ SELECT CASE WHEN shards > 0
                     THEN (('x' || lpad(right(serial_hex, 4), 4, '0'))::bit(16)::int % shards + 1)::smallint
                     ELSE 0::smallint END $$",
    "ALTER TABLE certificate_revocations ADD COLUMN IF NOT EXISTS crl_shard SMALLINT NOT NULL DEFAULT 0",
    "CREATE INDEX IF NOT EXISTS idx_certificate_revocations_shard ON certificate_revocations (issuer_id, crl_shard)",
    // Filled on every insert, whoever inserts, as the certificate's other facts already are.
    r#"CREATE OR REPLACE FUNCTION certctl_revocations_copy_certificate() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            SELECT c.not_after, c.short_lived INTO NEW.certificate_not_after, NEW.certificate_short_lived
                FROM certificates c WHERE c.id = NEW.certificate_id;
            SELECT certctl_crl_shard(NEW.serial_hex, i.crl_shards) INTO NEW.crl_shard
                FROM issuers i WHERE i.id = NEW.issuer_id;
            RETURN NEW;
        END $$"#,
    // One state row, and one numbering, per issuer and shard.
    "ALTER TABLE crl_state ADD COLUMN IF NOT EXISTS shard SMALLINT NOT NULL DEFAULT 0",
    r#"DO $$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'crl_state_issuer_shard_key') THEN
            ALTER TABLE crl_state DROP CONSTRAINT IF EXISTS crl_state_pkey;
            ALTER TABLE crl_state ADD CONSTRAINT crl_state_issuer_shard_key PRIMARY KEY (issuer_id, shard);
        END IF;
    END $$"#,
    "ALTER TABLE crls ADD COLUMN IF NOT EXISTS shard SMALLINT NOT NULL DEFAULT 0",
    r#"DO $$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'crls_issuer_shard_number_key') THEN
            ALTER TABLE crls DROP CONSTRAINT IF EXISTS crls_pkey;
            ALTER TABLE crls ADD CONSTRAINT crls_issuer_shard_number_key PRIMARY KEY (issuer_id, shard, crl_number);
        END IF;
    END $$"#,
    r#"CREATE OR REPLACE FUNCTION certctl_crl_number_increases() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM 1 FROM crl_state WHERE issuer_id = NEW.issuer_id AND shard = NEW.shard FOR UPDATE;
            IF EXISTS (SELECT 1 FROM crls WHERE issuer_id = NEW.issuer_id AND shard = NEW.shard
                                             AND crl_number >= NEW.crl_number) THEN
                RAISE EXCEPTION 'CRL number % of issuer % shard % does not exceed the newest stored',
                    NEW.crl_number, NEW.issuer_id, NEW.shard
                    USING ERRCODE = 'check_violation';
            END IF;
            RETURN NEW;
        END $$"#,
    // A revocation marks the CRL it belongs in: its shard's, or the full one (shard 0).
    r#"CREATE OR REPLACE FUNCTION certctl_revocations_mark_crl() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO crl_state (issuer_id, shard, revision)
                SELECT DISTINCT issuer_id, crl_shard, 1 FROM new_revocations
                ON CONFLICT (issuer_id, shard) DO UPDATE SET revision = crl_state.revision + 1;
            RETURN NULL;
        END $$"#,
];

const DOWN: &[&str] = &[
    r#"CREATE OR REPLACE FUNCTION certctl_revocations_mark_crl() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO crl_state (issuer_id, revision)
                SELECT DISTINCT issuer_id, 1 FROM new_revocations
                ON CONFLICT (issuer_id) DO UPDATE SET revision = crl_state.revision + 1;
            RETURN NULL;
        END $$"#,
    r#"CREATE OR REPLACE FUNCTION certctl_crl_number_increases() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM 1 FROM crl_state WHERE issuer_id = NEW.issuer_id FOR UPDATE;
            IF EXISTS (SELECT 1 FROM crls WHERE issuer_id = NEW.issuer_id AND crl_number >= NEW.crl_number) THEN
                RAISE EXCEPTION 'CRL number % of issuer % does not exceed the newest stored', NEW.crl_number, NEW.issuer_id
                    USING ERRCODE = 'check_violation';
            END IF;
            RETURN NEW;
        END $$"#,
    "DELETE FROM crls WHERE shard <> 0",
    "ALTER TABLE crls DROP CONSTRAINT IF EXISTS crls_issuer_shard_number_key",
    "ALTER TABLE crls ADD PRIMARY KEY (issuer_id, crl_number)",
    "ALTER TABLE crls DROP COLUMN IF EXISTS shard",
    "DELETE FROM crl_state WHERE shard <> 0",
    "ALTER TABLE crl_state DROP CONSTRAINT IF EXISTS crl_state_issuer_shard_key",
    "ALTER TABLE crl_state ADD PRIMARY KEY (issuer_id)",
    "ALTER TABLE crl_state DROP COLUMN IF EXISTS shard",
    r#"CREATE OR REPLACE FUNCTION certctl_revocations_copy_certificate() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            SELECT c.not_after, c.short_lived INTO NEW.certificate_not_after, NEW.certificate_short_lived
                FROM certificates c WHERE c.id = NEW.certificate_id;
            RETURN NEW;
        END $$"#,
    "DROP INDEX IF EXISTS idx_certificate_revocations_shard",
    "ALTER TABLE certificate_revocations DROP COLUMN IF EXISTS crl_shard",
    "DROP FUNCTION IF EXISTS certctl_crl_shard(TEXT, SMALLINT)",
    "ALTER TABLE issuers DROP COLUMN IF EXISTS crl_url",
    "ALTER TABLE issuers DROP CONSTRAINT IF EXISTS issuers_crl_shards_check",
    "ALTER TABLE issuers DROP COLUMN IF EXISTS crl_shards",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, DOWN).await
    }
}

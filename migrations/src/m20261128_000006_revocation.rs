//! Revocation publishing: signed CRLs with their per-issuer numbering, the delegated OCSP
//! responder certificates, and the change markers the revocation responder polls.

use sea_orm_migration::prelude::*;

use crate::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261128_000006_revocation"
    }
}

const UP: &[&str] = &[
    // One row per issuer: the CRL number counter, the revision that every revocation bumps, the
    // revision the newest CRL covers, and the lease of the worker building the next one.
    r#"CREATE TABLE IF NOT EXISTS crl_state (
        issuer_id UUID PRIMARY KEY REFERENCES issuers (id),
        last_number BIGINT NOT NULL DEFAULT 0,
        revision BIGINT NOT NULL DEFAULT 0,
        built_revision BIGINT NOT NULL DEFAULT 0,
        next_update TIMESTAMPTZ,
        building_until TIMESTAMPTZ,
        building_by TEXT
    )"#,
    r#"CREATE TABLE IF NOT EXISTS crls (
        issuer_id UUID NOT NULL REFERENCES issuers (id),
        crl_number BIGINT NOT NULL CHECK (crl_number > 0),
        this_update TIMESTAMPTZ NOT NULL,
        next_update TIMESTAMPTZ NOT NULL,
        der BYTEA NOT NULL,
        entry_count INTEGER NOT NULL,
        generated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        generated_by TEXT NOT NULL,
        build_ms INTEGER NOT NULL,
        PRIMARY KEY (issuer_id, crl_number)
    )"#,
    // CRL numbers only go up, per issuer, whoever inserts: the counter never moves back and an
    // insert must exceed every stored number (serialised on the issuer's crl_state row).
    r#"CREATE OR REPLACE FUNCTION certctl_crl_state_monotonic() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.last_number < OLD.last_number OR NEW.revision < OLD.revision THEN
                RAISE EXCEPTION 'CRL numbering never goes back (issuer %)', OLD.issuer_id
                    USING ERRCODE = 'check_violation';
            END IF;
            RETURN NEW;
        END $$"#,
    r#"CREATE OR REPLACE TRIGGER crl_state_monotonic BEFORE UPDATE ON crl_state
        FOR EACH ROW EXECUTE FUNCTION certctl_crl_state_monotonic()"#,
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
    r#"CREATE OR REPLACE TRIGGER crls_number_increases BEFORE INSERT ON crls
        FOR EACH ROW EXECUTE FUNCTION certctl_crl_number_increases()"#,
    r#"CREATE OR REPLACE FUNCTION certctl_crls_immutable() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'a published CRL is never changed' USING ERRCODE = 'check_violation';
        END $$"#,
    r#"CREATE OR REPLACE TRIGGER crls_immutable BEFORE UPDATE ON crls
        FOR EACH ROW EXECUTE FUNCTION certctl_crls_immutable()"#,
    // Every statement that revokes marks the issuers it touched, in the same transaction: one
    // bump per statement, so a bulk revocation of thousands is one change, not thousands.
    r#"CREATE OR REPLACE FUNCTION certctl_revocations_mark_crl() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO crl_state (issuer_id, revision)
                SELECT DISTINCT issuer_id, 1 FROM new_revocations
                ON CONFLICT (issuer_id) DO UPDATE SET revision = crl_state.revision + 1;
            RETURN NULL;
        END $$"#,
    r#"CREATE OR REPLACE TRIGGER certificate_revocations_mark_crl AFTER INSERT ON certificate_revocations
        REFERENCING NEW TABLE AS new_revocations
        FOR EACH STATEMENT EXECUTE FUNCTION certctl_revocations_mark_crl()"#,
    // Delegated OCSP responders. The key is sealed under CERTCTL_RESPONDER_KEY_ENCRYPTION_KEY,
    // never under the CA key-encryption key.
    r#"CREATE TABLE IF NOT EXISTS ocsp_signers (
        id UUID PRIMARY KEY,
        issuer_id UUID NOT NULL REFERENCES issuers (id),
        serial_hex TEXT NOT NULL,
        key_algorithm TEXT NOT NULL,
        certificate_der BYTEA NOT NULL,
        private_key_ciphertext BYTEA NOT NULL,
        kek_id TEXT NOT NULL,
        not_before TIMESTAMPTZ NOT NULL,
        not_after TIMESTAMPTZ NOT NULL,
        created_by TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )"#,
    "CREATE INDEX IF NOT EXISTS idx_ocsp_signers_issuer ON ocsp_signers (issuer_id, not_after DESC)",
    // The id of the transaction that wrote each certificate and revocation. The responder reads
    // rows at or above the oldest transaction still running at its previous poll, so a row whose
    // transaction commits late is still seen: no commit-order gaps, unlike a sequence or a clock.
    "ALTER TABLE certificates ADD COLUMN IF NOT EXISTS created_xid xid8 NOT NULL DEFAULT '0'",
    "ALTER TABLE certificates ALTER COLUMN created_xid SET DEFAULT pg_current_xact_id()",
    "CREATE INDEX IF NOT EXISTS idx_certificates_created_xid ON certificates (created_xid)",
    "ALTER TABLE certificate_revocations ADD COLUMN IF NOT EXISTS created_xid xid8 NOT NULL DEFAULT '0'",
    "ALTER TABLE certificate_revocations ALTER COLUMN created_xid SET DEFAULT pg_current_xact_id()",
    "CREATE INDEX IF NOT EXISTS idx_certificate_revocations_created_xid ON certificate_revocations (created_xid)",
];

const DOWN: &[&str] = &[
    "DROP INDEX IF EXISTS idx_certificate_revocations_created_xid",
    "ALTER TABLE certificate_revocations DROP COLUMN IF EXISTS created_xid",
    "DROP INDEX IF EXISTS idx_certificates_created_xid",
    "ALTER TABLE certificates DROP COLUMN IF EXISTS created_xid",
    "DROP TABLE IF EXISTS ocsp_signers",
    "DROP TRIGGER IF EXISTS certificate_revocations_mark_crl ON certificate_revocations",
    "DROP FUNCTION IF EXISTS certctl_revocations_mark_crl()",
    "DROP TABLE IF EXISTS crls",
    "DROP FUNCTION IF EXISTS certctl_crls_immutable()",
    "DROP FUNCTION IF EXISTS certctl_crl_number_increases()",
    "DROP TABLE IF EXISTS crl_state",
    "DROP FUNCTION IF EXISTS certctl_crl_state_monotonic()",
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

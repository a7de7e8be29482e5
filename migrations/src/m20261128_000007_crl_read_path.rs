//! The CRL build's read and write path, measured against `openssl ca -gencrl` on 200k entries:
//! stored CRLs are already-compact DER, so they are kept out of line without compression, and each
//! revocation carries the two facts of its certificate a CRL filters on, so reading a CRL's
//! entries needs no join with every certificate ever issued.

use sea_orm_migration::prelude::*;

use crate::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261128_000007_crl_read_path"
    }
}

const UP: &[&str] = &[
    "ALTER TABLE crls ALTER COLUMN der SET STORAGE EXTERNAL",
    "ALTER TABLE certificate_revocations ADD COLUMN IF NOT EXISTS certificate_not_after TIMESTAMPTZ",
    "ALTER TABLE certificate_revocations ADD COLUMN IF NOT EXISTS certificate_short_lived BOOLEAN",
    r#"UPDATE certificate_revocations r SET certificate_not_after = c.not_after, certificate_short_lived = c.short_lived
        FROM certificates c WHERE c.id = r.certificate_id AND r.certificate_not_after IS NULL"#,
    // Filled from the certificate on every insert, whoever inserts: callers need not know.
    r#"CREATE OR REPLACE FUNCTION certctl_revocations_copy_certificate() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            SELECT c.not_after, c.short_lived INTO NEW.certificate_not_after, NEW.certificate_short_lived
                FROM certificates c WHERE c.id = NEW.certificate_id;
            RETURN NEW;
        END $$"#,
    r#"CREATE OR REPLACE TRIGGER certificate_revocations_copy_certificate BEFORE INSERT ON certificate_revocations
        FOR EACH ROW EXECUTE FUNCTION certctl_revocations_copy_certificate()"#,
];

const DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS certificate_revocations_copy_certificate ON certificate_revocations",
    "DROP FUNCTION IF EXISTS certctl_revocations_copy_certificate()",
    "ALTER TABLE certificate_revocations DROP COLUMN IF EXISTS certificate_short_lived",
    "ALTER TABLE certificate_revocations DROP COLUMN IF EXISTS certificate_not_after",
    "ALTER TABLE crls ALTER COLUMN der SET STORAGE EXTENDED",
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

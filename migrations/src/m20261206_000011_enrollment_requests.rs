//! What EST and SCEP need beside their profiles.
//!
//! `enrollment_requests` remembers the enrollments a client may ask about again — every SCEP
//! transaction, and EST requests that wait for approval: the key to certify (a SHA-256 of the
//! SubjectPublicKeyInfo), the SCEP transaction id, and what became of it (the approval job it
//! waits on, or the certificate it got). Both protocols answer a pending
//! request by having the client ask again, so a repeated request must find its first one: EST by
//! (profile, requester, key), SCEP by (profile, transaction id), and a transaction id reused for a
//! different key is refused. `closed_at` marks a request that is decided for good (issued or
//! refused): the next request with that key is a new one. Only one open request may hold a
//! transaction id; closed ones keep theirs (clients that derive the id from the key, as older
//! SCEP drafts advised, send the same id again when they renew).
//!
//! A SCEP profile also has its RA (registration authority) certificate, signed by the profile's
//! issuer, and the RA's RSA key sealed under the CA key-encryption key like CA keys are.

use sea_orm_migration::prelude::*;

use crate::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000011_enrollment_requests"
    }
}

const UP: &[&str] = &[
    r#"CREATE TABLE IF NOT EXISTS enrollment_requests (
        id UUID PRIMARY KEY,
        enrollment_profile_id UUID NOT NULL REFERENCES enrollment_profiles (id),
        protocol TEXT NOT NULL CHECK (protocol IN ('est', 'scep')),
        requester TEXT NOT NULL,
        transaction_id TEXT,
        spki_sha256 BYTEA NOT NULL,
        job_id UUID REFERENCES jobs (id),
        certificate_id UUID REFERENCES certificates (id),
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        closed_at TIMESTAMPTZ
    )"#,
    r#"CREATE UNIQUE INDEX IF NOT EXISTS enrollment_requests_transaction_key
        ON enrollment_requests (enrollment_profile_id, transaction_id)
        WHERE transaction_id IS NOT NULL AND closed_at IS NULL"#,
    r#"CREATE INDEX IF NOT EXISTS enrollment_requests_transaction_idx
        ON enrollment_requests (enrollment_profile_id, transaction_id, created_at DESC)
        WHERE transaction_id IS NOT NULL"#,
    r#"CREATE INDEX IF NOT EXISTS enrollment_requests_key_idx
        ON enrollment_requests (enrollment_profile_id, spki_sha256, created_at DESC) WHERE closed_at IS NULL"#,
    "ALTER TABLE enrollment_profiles ADD COLUMN IF NOT EXISTS scep_ra_certificate_der BYTEA",
    "ALTER TABLE enrollment_profiles ADD COLUMN IF NOT EXISTS scep_ra_key_ciphertext BYTEA",
    r#"DO $$ BEGIN
        ALTER TABLE enrollment_profiles ADD CONSTRAINT enrollment_profiles_scep_ra_check
            CHECK ((scep_ra_certificate_der IS NULL) = (scep_ra_key_ciphertext IS NULL));
    EXCEPTION WHEN duplicate_object THEN NULL; END $$"#,
];

const DOWN: &[&str] = &[
    "ALTER TABLE enrollment_profiles DROP CONSTRAINT IF EXISTS enrollment_profiles_scep_ra_check",
    "ALTER TABLE enrollment_profiles DROP COLUMN IF EXISTS scep_ra_key_ciphertext",
    "ALTER TABLE enrollment_profiles DROP COLUMN IF EXISTS scep_ra_certificate_der",
    "DROP TABLE IF EXISTS enrollment_requests",
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

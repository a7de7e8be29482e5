//! Certificate counts kept up to date as certificates change, so the dashboard summary reads a few
//! hundred rows rather than counting the whole `certificates` table.
//!
//! - `certificate_tally` holds counts by status and by the hour of `not_after` (hours since the
//!   Unix epoch). Only `active` certificates are counted per hour, since only they are reported
//!   as expiring or expired; other statuses are counted in hour 0, as are active certificates
//!   whose hour has passed (the fold merges those hours into it).
//! - Triggers on `certificates` append each statement's net change to
//!   `certificate_tally_changes`, in the same transaction as the change. Appending never waits for
//!   another writer, where updating a shared counter row would serialise every issuance.
//! - The worker folds the changes into the tally every few seconds, in one statement.
//!
//! Tally plus changes, read in one statement, is exact at that statement's snapshot.

use sea_orm_migration::prelude::*;

use crate::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261209_000017_certificate_tally"
    }
}

const UP: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS certificate_tally (
        status TEXT NOT NULL,
        expiry_hour BIGINT NOT NULL,
        n BIGINT NOT NULL,
        PRIMARY KEY (status, expiry_hour)
    )",
    "CREATE TABLE IF NOT EXISTS certificate_tally_changes (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        status TEXT NOT NULL,
        expiry_hour BIGINT NOT NULL,
        n BIGINT NOT NULL
    )",
    // The bucket a certificate is counted in. Hours since the epoch, so it does not depend on
    // the session's time zone.
    "CREATE OR REPLACE FUNCTION certificate_tally_hour(status TEXT, not_after TIMESTAMPTZ) RETURNS BIGINT
        LANGUAGE sql IMMUTABLE PARALLEL SAFE
        AS $$ SELECT CASE WHEN status = 'active' THEN floor(extract(epoch FROM not_after) / 3600)::bigint ELSE 0 END $$",
    // One function for every kind of change: the net count per bucket of the rows the statement
    // added (`added`) and took away (`removed`); updates that change neither status nor expiry
    // net to nothing and write nothing.
    "CREATE OR REPLACE FUNCTION certificate_tally_record() RETURNS TRIGGER LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO certificate_tally_changes (status, expiry_hour, n)
            SELECT status, certificate_tally_hour(status, not_after), count(*) FROM added GROUP BY 1, 2;
        ELSIF TG_OP = 'DELETE' THEN
            INSERT INTO certificate_tally_changes (status, expiry_hour, n)
            SELECT status, certificate_tally_hour(status, not_after), -count(*) FROM removed GROUP BY 1, 2;
        ELSE
            INSERT INTO certificate_tally_changes (status, expiry_hour, n)
            SELECT status, hour, sum(d) FROM (
                SELECT status, certificate_tally_hour(status, not_after) AS hour, 1 AS d FROM added
                UNION ALL
                SELECT status, certificate_tally_hour(status, not_after), -1 FROM removed
            ) AS moved
            GROUP BY 1, 2 HAVING sum(d) <> 0;
        END IF;
        RETURN NULL;
    END $$",
    "CREATE OR REPLACE FUNCTION certificate_tally_reset() RETURNS TRIGGER LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM certificate_tally;
        DELETE FROM certificate_tally_changes;
        RETURN NULL;
    END $$",
    "DROP TRIGGER IF EXISTS certificate_tally_insert ON certificates",
    "DROP TRIGGER IF EXISTS certificate_tally_update ON certificates",
    "DROP TRIGGER IF EXISTS certificate_tally_delete ON certificates",
    "DROP TRIGGER IF EXISTS certificate_tally_truncate ON certificates",
    "CREATE TRIGGER certificate_tally_insert AFTER INSERT ON certificates
        REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION certificate_tally_record()",
    "CREATE TRIGGER certificate_tally_update AFTER UPDATE ON certificates
        REFERENCING OLD TABLE AS removed NEW TABLE AS added
        FOR EACH STATEMENT EXECUTE FUNCTION certificate_tally_record()",
    "CREATE TRIGGER certificate_tally_delete AFTER DELETE ON certificates
        REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION certificate_tally_record()",
    "CREATE TRIGGER certificate_tally_truncate AFTER TRUNCATE ON certificates
        FOR EACH STATEMENT EXECUTE FUNCTION certificate_tally_reset()",
    // The counts of the certificates already stored. The triggers were created in this
    // transaction, which holds a lock that keeps writers out until it commits, so nothing is
    // counted twice or missed.
    "DELETE FROM certificate_tally",
    "DELETE FROM certificate_tally_changes",
    "INSERT INTO certificate_tally (status, expiry_hour, n)
     SELECT status, certificate_tally_hour(status, not_after), count(*) FROM certificates GROUP BY 1, 2",
];

const DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS certificate_tally_insert ON certificates",
    "DROP TRIGGER IF EXISTS certificate_tally_update ON certificates",
    "DROP TRIGGER IF EXISTS certificate_tally_delete ON certificates",
    "DROP TRIGGER IF EXISTS certificate_tally_truncate ON certificates",
    "DROP FUNCTION IF EXISTS certificate_tally_record()",
    "DROP FUNCTION IF EXISTS certificate_tally_reset()",
    "DROP FUNCTION IF EXISTS certificate_tally_hour(TEXT, TIMESTAMPTZ)",
    "DROP TABLE IF EXISTS certificate_tally_changes",
    "DROP TABLE IF EXISTS certificate_tally",
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

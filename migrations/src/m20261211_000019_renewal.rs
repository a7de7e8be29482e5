//! Lifecycle automation: renewal policies, the renewal jobs the worker runs, and certificate
//! states that say where each certificate is in its life.
//!
//! - `renewal_policies`: when a certificate enters its renewal window (a time before expiry, or
//!   a fraction of its lifetime), whether certctl renews it by itself, with the same key or a new
//!   one, how often a failed renewal is retried, and which expiry warnings and channels apply.
//!   One built-in policy, `default`, applies wherever no other is set; it can be edited, not
//!   deleted. A profile may name a policy; a certificate may override its profile's.
//! - `certificates.renew_after`: the start of the certificate's window under its policy, filled
//!   on insert by a trigger (so every way of issuing agrees) and recomputed when a policy or an
//!   override changes. The worker's renewal loop reads it through a partial index.
//! - Certificate states: `active`, `expiring` (inside the window, not being renewed),
//!   `renewal_in_progress`, `expired`, `renewed` (superseded by its renewal; `superseded`
//!   before this migration) and `revoked`.
//! - Jobs gain the states of automatic renewal: `pending` (the worker will try, and retry),
//!   `awaiting_csr` (the key lives with its holder: a new CSR is needed), `completed`,
//!   `cancelled`; the certificate a renewal job renews; the attempts; and a sealed private key
//!   for a renewal that rotated a key certctl holds, released once.
//! - `issuers.disabled_at`: a disabled issuer signs nothing more.

use sea_orm_migration::prelude::*;

use crate::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261211_000019_renewal"
    }
}

const UP: &[&str] = &[
    r"CREATE TABLE IF NOT EXISTS renewal_policies (
        id UUID PRIMARY KEY,
        name TEXT NOT NULL,
        renew_before_seconds BIGINT CHECK (renew_before_seconds > 0),
        renew_at_fraction DOUBLE PRECISION CHECK (renew_at_fraction > 0 AND renew_at_fraction < 1),
        auto_renew BOOLEAN NOT NULL,
        rotate_key BOOLEAN NOT NULL,
        max_attempts INT NOT NULL CHECK (max_attempts BETWEEN 1 AND 100),
        retry_interval_seconds BIGINT NOT NULL CHECK (retry_interval_seconds BETWEEN 1 AND 604800),
        warning_days INT[],
        channel_ids UUID[],
        created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        CONSTRAINT renewal_policies_name_key UNIQUE (name),
        CONSTRAINT renewal_policies_one_window CHECK ((renew_before_seconds IS NULL) <> (renew_at_fraction IS NULL))
    )",
    // The built-in policy: renew at two thirds of the lifetime, by itself, with the same key.
    r"INSERT INTO renewal_policies (id, name, renew_at_fraction, auto_renew, rotate_key, max_attempts,
        retry_interval_seconds)
      VALUES ('00000000-0000-0000-0000-000000000001', 'default', 2.0 / 3.0, true, false, 5, 3600)
      ON CONFLICT (id) DO NOTHING",
    "ALTER TABLE certificate_profiles ADD COLUMN IF NOT EXISTS renewal_policy_id UUID REFERENCES renewal_policies (id)",
    "ALTER TABLE certificates ADD COLUMN IF NOT EXISTS renewal_policy_id UUID REFERENCES renewal_policies (id)",
    "ALTER TABLE certificates ADD COLUMN IF NOT EXISTS renew_after TIMESTAMPTZ",
    "ALTER TABLE certificates ADD COLUMN IF NOT EXISTS key_generated BOOLEAN NOT NULL DEFAULT false",
    "CREATE INDEX IF NOT EXISTS idx_certificates_renewal_policy ON certificates (renewal_policy_id) \
        WHERE renewal_policy_id IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS idx_profiles_renewal_policy ON certificate_profiles (renewal_policy_id)",
    // The start of a certificate's renewal window under the policy that applies to it: its own,
    // else its profile's, else the built-in one. A window longer than half the lifetime opens at
    // half of it, so a renewal is never due the moment it is issued.
    // The window itself, from a policy's two settings (inlined by the planner wherever it is used).
    r"CREATE OR REPLACE FUNCTION certctl_window(before_seconds BIGINT, fraction DOUBLE PRECISION,
            not_before TIMESTAMPTZ, not_after TIMESTAMPTZ) RETURNS TIMESTAMPTZ
        LANGUAGE sql STABLE PARALLEL SAFE
        AS $$ SELECT CASE WHEN before_seconds IS NOT NULL
                          THEN greatest(not_before + (not_after - not_before) / 2,
                                        not_after - make_interval(secs => before_seconds))
                          ELSE not_before + (not_after - not_before) * fraction END $$",
    r"CREATE OR REPLACE FUNCTION certctl_renew_after(policy UUID, profile UUID, not_before TIMESTAMPTZ,
            not_after TIMESTAMPTZ) RETURNS TIMESTAMPTZ
        LANGUAGE sql STABLE
        AS $$ SELECT certctl_window(p.renew_before_seconds, p.renew_at_fraction, not_before, not_after)
              FROM renewal_policies p
              WHERE p.id = coalesce(policy, (SELECT renewal_policy_id FROM certificate_profiles WHERE id = profile),
                                    '00000000-0000-0000-0000-000000000001') $$",
    r"CREATE OR REPLACE FUNCTION certctl_certificates_renew_after() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.renew_after IS NULL AND NEW.status = 'active' THEN
                NEW.renew_after := certctl_renew_after(NEW.renewal_policy_id, NEW.profile_id, NEW.not_before,
                                                       NEW.not_after);
            END IF;
            RETURN NEW;
        END $$",
    "DROP TRIGGER IF EXISTS certificates_renew_after ON certificates",
    // Issuance computes the window in its own insert; the trigger fills it for any other insert
    // (and costs nothing when the window is given).
    "CREATE TRIGGER certificates_renew_after BEFORE INSERT ON certificates \
        FOR EACH ROW WHEN (NEW.renew_after IS NULL AND NEW.status = 'active') \
        EXECUTE FUNCTION certctl_certificates_renew_after()",
    // States. `superseded` becomes `renewed`: a certificate is only ever superseded by its renewal.
    "ALTER TABLE certificates DROP CONSTRAINT IF EXISTS certificates_status_check",
    "UPDATE certificates SET status = 'renewed' WHERE status = 'superseded'",
    "ALTER TABLE certificates ADD CONSTRAINT certificates_status_check CHECK (status IN \
        ('active', 'expiring', 'renewal_in_progress', 'expired', 'renewed', 'revoked'))",
    // Existing certificates get their windows; those already past expiry are expired.
    "UPDATE certificates SET renew_after = certctl_renew_after(renewal_policy_id, profile_id, not_before, not_after) \
        WHERE status = 'active' AND renew_after IS NULL",
    "UPDATE certificates SET status = 'expired', renew_after = NULL WHERE status = 'active' AND not_after <= now()",
    "CREATE INDEX IF NOT EXISTS idx_certificates_renew_due ON certificates (renew_after) WHERE status = 'active'",
    // The tally buckets every certificate that is still valid by its expiry hour.
    "CREATE OR REPLACE FUNCTION certificate_tally_hour(status TEXT, not_after TIMESTAMPTZ) RETURNS BIGINT
        LANGUAGE sql IMMUTABLE PARALLEL SAFE
        AS $$ SELECT CASE WHEN status IN ('active', 'expiring', 'renewal_in_progress')
                          THEN floor(extract(epoch FROM not_after) / 3600)::bigint ELSE 0 END $$",
    // Jobs.
    "ALTER TABLE jobs DROP CONSTRAINT IF EXISTS jobs_status_check",
    "ALTER TABLE jobs ADD CONSTRAINT jobs_status_check CHECK (status IN ('pending', 'awaiting_csr', \
        'awaiting_approval', 'approved', 'completed', 'rejected', 'failed', 'cancelled'))",
    "ALTER TABLE jobs ADD COLUMN IF NOT EXISTS renews_certificate_id UUID REFERENCES certificates (id)",
    "ALTER TABLE jobs ADD COLUMN IF NOT EXISTS attempts INT NOT NULL DEFAULT 0",
    "ALTER TABLE jobs ADD COLUMN IF NOT EXISTS next_attempt_at TIMESTAMPTZ",
    "ALTER TABLE jobs ADD COLUMN IF NOT EXISTS private_key_ciphertext BYTEA",
    "ALTER TABLE jobs ADD COLUMN IF NOT EXISTS key_retrieved_at TIMESTAMPTZ",
    "ALTER TABLE jobs ADD COLUMN IF NOT EXISTS updated_at TIMESTAMPTZ",
    // At most one open automatic renewal per certificate, whichever worker files it.
    "CREATE UNIQUE INDEX IF NOT EXISTS jobs_one_open_renewal ON jobs (renews_certificate_id) \
        WHERE status IN ('pending', 'awaiting_csr', 'awaiting_approval')",
    "CREATE INDEX IF NOT EXISTS idx_jobs_due ON jobs (next_attempt_at) WHERE status = 'pending'",
    "ALTER TABLE issuers ADD COLUMN IF NOT EXISTS disabled_at TIMESTAMPTZ",
];

const DOWN: &[&str] = &[
    "ALTER TABLE issuers DROP COLUMN IF EXISTS disabled_at",
    "DROP INDEX IF EXISTS idx_jobs_due",
    "DROP INDEX IF EXISTS jobs_one_open_renewal",
    "UPDATE jobs SET status = 'failed' WHERE status IN ('pending', 'awaiting_csr', 'cancelled')",
    "UPDATE jobs SET status = 'approved' WHERE status = 'completed'",
    "ALTER TABLE jobs DROP CONSTRAINT IF EXISTS jobs_status_check",
    "ALTER TABLE jobs ADD CONSTRAINT jobs_status_check CHECK (status IN ('awaiting_approval', 'approved', \
        'rejected', 'failed'))",
    "ALTER TABLE jobs DROP COLUMN IF EXISTS updated_at",
    "ALTER TABLE jobs DROP COLUMN IF EXISTS key_retrieved_at",
    "ALTER TABLE jobs DROP COLUMN IF EXISTS private_key_ciphertext",
    "ALTER TABLE jobs DROP COLUMN IF EXISTS next_attempt_at",
    "ALTER TABLE jobs DROP COLUMN IF EXISTS attempts",
    "ALTER TABLE jobs DROP COLUMN IF EXISTS renews_certificate_id",
    "DROP INDEX IF EXISTS idx_certificates_renew_due",
    "ALTER TABLE certificates DROP CONSTRAINT IF EXISTS certificates_status_check",
    "UPDATE certificates SET status = 'active' WHERE status IN ('expiring', 'renewal_in_progress', 'expired')",
    "UPDATE certificates SET status = 'superseded' WHERE status = 'renewed'",
    "CREATE OR REPLACE FUNCTION certificate_tally_hour(status TEXT, not_after TIMESTAMPTZ) RETURNS BIGINT
        LANGUAGE sql IMMUTABLE PARALLEL SAFE
        AS $$ SELECT CASE WHEN status = 'active' THEN floor(extract(epoch FROM not_after) / 3600)::bigint ELSE 0 END $$",
    "ALTER TABLE certificates ADD CONSTRAINT certificates_status_check CHECK (status IN \
        ('active', 'revoked', 'superseded'))",
    "DROP TRIGGER IF EXISTS certificates_renew_after ON certificates",
    "DROP FUNCTION IF EXISTS certctl_certificates_renew_after()",
    "DROP FUNCTION IF EXISTS certctl_renew_after(UUID, UUID, TIMESTAMPTZ, TIMESTAMPTZ)",
    "DROP FUNCTION IF EXISTS certctl_window(BIGINT, DOUBLE PRECISION, TIMESTAMPTZ, TIMESTAMPTZ)",
    "DROP INDEX IF EXISTS idx_profiles_renewal_policy",
    "DROP INDEX IF EXISTS idx_certificates_renewal_policy",
    "ALTER TABLE certificates DROP COLUMN IF EXISTS key_generated",
    "ALTER TABLE certificates DROP COLUMN IF EXISTS renew_after",
    "ALTER TABLE certificates DROP COLUMN IF EXISTS renewal_policy_id",
    "ALTER TABLE certificate_profiles DROP COLUMN IF EXISTS renewal_policy_id",
    "DROP TABLE IF EXISTS renewal_policies",
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

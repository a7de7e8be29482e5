//! A stored CRL never carries an older `thisUpdate` than one already stored for the same issuer
//! and shard. Numbers already only went up in storage order; a build that outlived its lease
//! could still store a lower number first with a later `thisUpdate`, and then the higher number,
//! built earlier, would follow it with an older one. Relying parties take the higher number as
//! the newer CRL, so the database now refuses that second store as well, whoever inserts.

use sea_orm_migration::prelude::*;

use crate::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261213_000021_crl_this_update"
    }
}

const UP: &[&str] = &[
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
            IF EXISTS (SELECT 1 FROM crls WHERE issuer_id = NEW.issuer_id AND shard = NEW.shard
                                             AND this_update > NEW.this_update) THEN
                RAISE EXCEPTION 'CRL number % of issuer % shard % has a thisUpdate (%) older than a stored CRL''s',
                    NEW.crl_number, NEW.issuer_id, NEW.shard, NEW.this_update
                    USING ERRCODE = 'check_violation';
            END IF;
            RETURN NEW;
        END $$"#,
];

/// Back to migration 18's check: numbers only.
const DOWN: &[&str] = &[
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

//! A revision number on profiles, so replicas can cache them and still never issue under a
//! profile that has changed: the insert of a certificate checks the revision it was made under.

use sea_orm_migration::prelude::*;

use crate::run_script;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261128_000004_profile_revision"
    }
}

const UP: &[&str] = &["ALTER TABLE certificate_profiles ADD COLUMN IF NOT EXISTS revision BIGINT NOT NULL DEFAULT 1"];

const DOWN: &[&str] = &["ALTER TABLE certificate_profiles DROP COLUMN IF EXISTS revision"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, DOWN).await
    }
}

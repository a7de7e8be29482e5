//! `acme_endpoints`: where ACME clients enroll, and under which rules.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "acme_endpoints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: crate::model::AcmeEndpointId,
    pub name: String,
    pub label: String,
    pub issuer_id: crate::model::IssuerId,
    pub profile_id: crate::model::ProfileId,
    pub eab_required: bool,
    /// DNS identifiers must end with one of these (or be one); empty: the profile alone decides.
    pub allowed_dns_suffixes: Vec<String>,
    /// IP identifiers must fall in one of these CIDR ranges; empty: the profile alone decides.
    pub allowed_ip_ranges: Vec<String>,
    /// Challenge validation may connect to private and loopback addresses.
    pub allow_private_targets: bool,
    pub terms_of_service_url: Option<String>,
    pub created_by: String,
    pub created_at: DateTimeUtc,
    pub disabled_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! `discovered_certificates`: each leaf certificate a scan has seen, by fingerprint.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "discovered_certificates")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: crate::model::DiscoveredCertificateId,
    /// SHA-256 of the certificate's DER, lowercase hex.
    pub fingerprint_sha256: String,
    pub subject: String,
    pub common_name: Option<String>,
    pub sans: Vec<String>,
    pub issuer: String,
    pub serial_hex: String,
    pub not_before: DateTimeUtc,
    pub not_after: DateTimeUtc,
    pub key_algorithm: String,
    pub self_signed: bool,
    pub certificate_pem: String,
    /// The certificates the server sent after the leaf, PEM.
    pub chain_pem: String,
    /// `managed` (certctl issued it), `unmanaged`, `claimed` or `dismissed`.
    pub status: String,
    /// The inventory's certificate, when managed.
    pub certificate_id: Option<crate::model::CertificateId>,
    pub first_seen_at: DateTimeUtc,
    pub last_seen_at: DateTimeUtc,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTimeUtc>,
    pub note: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

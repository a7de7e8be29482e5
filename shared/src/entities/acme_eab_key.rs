//! `acme_eab_keys`: External Account Binding keys (RFC 8555 §7.3.4), sealed under the CA KEK.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "acme_eab_keys")]
pub struct Model {
    /// The key identifier the client sends as the EAB JWS `kid`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub kid: String,
    pub endpoint_id: crate::model::AcmeEndpointId,
    pub key_ciphertext: Vec<u8>,
    pub created_by: String,
    pub created_at: DateTimeUtc,
    /// When an account was created with it (each key binds one account).
    pub bound_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

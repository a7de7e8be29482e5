//! Issuers (the certificate authorities) and profiles (what may be issued under them).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ids::{IssuerId, ProfileId, RenewalPolicyId};
use crate::vocab::{Eku, KeyAlgorithm};

/// `POST /api/v1/issuers`: a new root CA, or an intermediate under `parent_issuer_id`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssuerIn {
    /// 1-100 printable characters, no spaces at the ends; unique.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
    )]
    pub name: String,
    /// The CA certificate's subject common name.
    #[schema(min_length = 1, max_length = 64, pattern = r"\S")]
    pub common_name: String,
    pub key_algorithm: KeyAlgorithm,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_issuer_id: Option<IssuerId>,
    /// Validity in days (default 3650 for a root, 1825 for an intermediate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 36500)]
    pub validity_days: Option<u32>,
    /// Partitions the issuer's CRL into this many shards (2 to 256), each published at
    /// `/.well-known/pki/crl/{issuer_id}/{shard}` and named by the distribution point of the
    /// certificates it covers, so no CRL grows with the whole issuer. Omitted or 0: one full CRL
    /// at `/.well-known/pki/crl/{issuer_id}`. Fixed at creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 256)]
    pub crl_shards: Option<u16>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct IssuerOut {
    pub id: IssuerId,
    pub name: String,
    pub common_name: String,
    #[schema(value_type = KeyAlgorithm)]
    pub key_algorithm: String,
    pub parent_issuer_id: Option<IssuerId>,
    pub is_root: bool,
    pub serial_hex: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub certificate_pem: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// 0: one full CRL; otherwise the number of CRL shards.
    pub crl_shards: u16,
    /// Set while the issuer is disabled: it signs no certificate (it still publishes its CRL).
    pub disabled_at: Option<DateTime<Utc>>,
}

/// A profile's rules for the names it certifies. An empty `allowed_domains` allows any DNS name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SanRules {
    /// DNS names (and with `allow_subdomains`, names under them) this profile may certify.
    pub allowed_domains: Vec<String>,
    pub allow_subdomains: bool,
    pub allow_wildcards: bool,
    pub allow_ip_addresses: bool,
    /// At most this many names per certificate (0 means the default of 100).
    pub max_names: usize,
}

/// `POST /api/v1/profiles` and `PUT /api/v1/profiles/{id}` (a whole replacement).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileIn {
    /// 1-100 printable characters, no spaces at the ends; unique.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
    )]
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The longest lifetime a certificate may be issued for, up to ten years.
    #[schema(minimum = 1, maximum = 315_360_000)]
    pub max_ttl_seconds: i64,
    #[schema(min_items = 1)]
    pub allowed_key_algorithms: Vec<KeyAlgorithm>,
    #[schema(min_items = 1)]
    pub ekus: Vec<Eku>,
    #[serde(default)]
    pub san_rules: SanRules,
    /// Issuance and renewal wait for an approver other than the requester.
    #[serde(default)]
    pub requires_approval: bool,
    /// Certificates of under an hour may be issued, short-lived (RFC 9608): without CRL and OCSP
    /// URLs.
    #[serde(default)]
    pub allow_short_lived: bool,
    /// The renewal policy of this profile's certificates; omitted or `null`: the built-in one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal_policy_id: Option<RenewalPolicyId>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ProfileOut {
    pub id: ProfileId,
    pub name: String,
    pub description: String,
    pub max_ttl_seconds: i64,
    #[schema(value_type = Vec<KeyAlgorithm>)]
    pub allowed_key_algorithms: Vec<String>,
    #[schema(value_type = Vec<Eku>)]
    pub ekus: Vec<String>,
    pub san_rules: SanRules,
    pub requires_approval: bool,
    pub allow_short_lived: bool,
    pub renewal_policy_id: Option<RenewalPolicyId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Bumped by every replacement; an approval issued under an older revision is refused.
    pub revision: i64,
}

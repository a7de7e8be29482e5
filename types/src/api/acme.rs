//! ACME endpoints: where ACME clients (cert-manager, certbot, lego, …) will enroll, and under which
//! rules. Managed by admins; the ACME protocol itself is not served yet.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ids::{AcmeEndpointId, IssuerId, ProfileId};

/// `POST /api/v1/acme-endpoints`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcmeEndpointIn {
    /// 1-100 printable characters, no spaces at the ends; unique among endpoints in use.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
    )]
    pub name: String,
    /// The URL segment (`/acme/{label}/directory`): lowercase letters, digits and `-`, unique
    /// among endpoints in use.
    #[schema(pattern = r"^[a-z0-9][a-z0-9-]{0,62}$")]
    pub label: String,
    pub issuer_id: IssuerId,
    pub profile_id: ProfileId,
    /// Accounts must be bound to a key issued with `POST /api/v1/acme-endpoints/{id}/eab-keys`.
    #[serde(default)]
    pub eab_required: bool,
    /// DNS identifiers must be one of these names or end in `.` + one of them (at most 100);
    /// empty: only the certificate profile's rules apply.
    #[serde(default)]
    pub allowed_dns_suffixes: Vec<String>,
    /// IP identifiers must fall in one of these CIDR ranges (at most 100); empty: only the
    /// certificate profile's rules apply.
    #[serde(default)]
    pub allowed_ip_ranges: Vec<String>,
    /// Challenge validation may connect to private, loopback and other non-public addresses
    /// (internal PKI usually needs this).
    #[serde(default)]
    pub allow_private_targets: bool,
    /// Shown in the directory's `meta.termsOfService`; an `https://` or `http://` URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms_of_service_url: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AcmeEndpointOut {
    pub id: AcmeEndpointId,
    pub name: String,
    pub label: String,
    /// Where the endpoint's directory will be served, relative to the API's base URL.
    pub directory_path: String,
    pub issuer_id: IssuerId,
    pub profile_id: ProfileId,
    pub eab_required: bool,
    pub allowed_dns_suffixes: Vec<String>,
    pub allowed_ip_ranges: Vec<String>,
    pub allow_private_targets: bool,
    pub terms_of_service_url: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// Set once disabled.
    pub disabled_at: Option<DateTime<Utc>>,
}

/// A new External Account Binding key: give `kid` and `hmac_key` to the ACME client (for
/// example certbot's `--eab-kid` and `--eab-hmac-key`). The key is shown this once.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct EabKeyCreatedOut {
    pub kid: String,
    /// The HMAC key, base64url without padding (RFC 8555 §7.3.4), 32 random bytes.
    pub hmac_key: String,
    pub endpoint_id: AcmeEndpointId,
    pub created_at: DateTime<Utc>,
}

//! ACME endpoints: where ACME clients (cert-manager, certbot, lego, …) enroll, and under which
//! rules, managed by admins; and a read-only view of the accounts and orders they served.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use utoipa::IntoParams;

use crate::ids::{AcmeAccountId, AcmeEndpointId, AcmeOrderId, CertificateId, IssuerId, JobId, ProfileId};

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
    /// Where the endpoint's directory is served, relative to the API's base URL.
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

/// `GET /api/v1/acme-endpoints/{id}/accounts` and `GET /api/v1/acme-accounts/{id}/orders`, oldest
/// first.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AcmePageQuery {
    /// `next_cursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(pattern = "^[0-9a-f-]{36}$")]
    pub cursor: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
}

impl AcmePageQuery {
    pub const NAMES: &[&str] = &["cursor", "limit"];
}

/// An ACME account: a client key registered at an endpoint.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AcmeAccountOut {
    pub id: AcmeAccountId,
    pub endpoint_id: AcmeEndpointId,
    /// `valid`, or `deactivated` by its client.
    pub status: String,
    pub contact: Vec<String>,
    /// The RFC 7638 thumbprint of the account key.
    pub key_thumbprint: String,
    /// The External Account Binding key it registered with, and who issued that key.
    pub eab_kid: Option<String>,
    pub registered_by: Option<String>,
    /// The principal its actions are audited under: `acme:<endpoint name>/<account id>`.
    pub actor: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An identifier of an ACME order.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AcmeIdentifierOut {
    /// `dns` or `ip`.
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

/// An ACME order and where it stands.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AcmeOrderOut {
    pub id: AcmeOrderId,
    pub account_id: AcmeAccountId,
    pub endpoint_id: AcmeEndpointId,
    /// `pending`, `ready`, `processing` (being issued, or awaiting approval), `valid` or `invalid`.
    pub status: String,
    pub identifiers: Vec<AcmeIdentifierOut>,
    pub expires_at: DateTime<Utc>,
    /// Why it is invalid: the RFC 8555 problem document the client saw.
    #[schema(value_type = Option<Object>)]
    pub error: Option<serde_json::Value>,
    /// The approval job it waits on.
    pub job_id: Option<JobId>,
    pub certificate_id: Option<CertificateId>,
    /// The certificate it replaces (RFC 9773).
    pub replaces_certificate_id: Option<CertificateId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

//! Certificates and the approval jobs that gate their issuance.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::ids::{CertificateId, IssuerId, JobId, ProfileId, RenewalPolicyId};
use crate::vocab::{CertificateSource, CertificateStatus, JobStatus, KeyAlgorithm, RevocationReason};

/// `POST /api/v1/certificates`: give exactly one of `csr_pem` (your key) or `key_algorithm`
/// (certctl generates the key and returns it once).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueIn {
    pub issuer_id: IssuerId,
    pub profile_id: ProfileId,
    pub common_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sans: Option<Vec<String>>,
    /// Lifetime in seconds; the profile's maximum when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds: Option<i64>,
    /// A PEM PKCS#10 request; its subject public key is certified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csr_pem: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_algorithm: Option<KeyAlgorithm>,
}

/// `POST /api/v1/certificates/{id}/renew`
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenewIn {
    /// Lifetime in seconds; the profile's maximum when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds: Option<i64>,
}

/// `POST /api/v1/certificates/{id}/revoke`. The reason is RFC 5280's spelling; `unspecified`
/// when absent. `certificateHold` and `removeFromCRL` are refused: revocations are final.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeIn {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<RevocationReason>)]
    pub reason: Option<String>,
}

/// `POST /api/v1/certificates/bulk-revoke`: revokes every certificate matching all the given
/// criteria (at least one).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRevokeIn {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<RevocationReason>)]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_id: Option<IssuerId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_id: Option<ProfileId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_ids: Option<Vec<CertificateId>>,
}

/// What bulk revocation did, all counts from one snapshot.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BulkRevokeOut {
    /// Certificates matching the criteria, in any state.
    pub matched: u64,
    /// Newly revoked by this call.
    pub revoked: u64,
    /// Matched but already revoked.
    pub skipped: u64,
    /// Listed ids that do not exist.
    pub failed: u64,
    pub not_found: Vec<CertificateId>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RevocationOut {
    #[schema(value_type = RevocationReason)]
    pub reason: String,
    pub revoked_at: DateTime<Utc>,
    pub revoked_by: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CertificateOut {
    pub id: CertificateId,
    pub issuer_id: IssuerId,
    pub profile_id: ProfileId,
    /// The serial number, lowercase hex.
    pub serial_hex: String,
    pub common_name: String,
    pub sans: Vec<String>,
    #[schema(value_type = KeyAlgorithm)]
    pub key_algorithm: String,
    pub status: CertificateStatus,
    /// Past `not_after` (the `expired` status follows within a tick of the renewal loop).
    pub expired: bool,
    /// When the renewal window opens, under the policy that applies; `null` once the
    /// certificate is no longer live.
    pub renew_after: Option<DateTime<Utc>>,
    /// The renewal policy set on this certificate; `null`: its profile's (or the built-in one).
    pub renewal_policy_id: Option<RenewalPolicyId>,
    /// certctl generated the private key (and does not keep it).
    pub key_generated: bool,
    /// Lives under an hour and so carries no CRL or OCSP URL (RFC 9608).
    pub short_lived: bool,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub renewed_from_id: Option<CertificateId>,
    pub superseded_by_id: Option<CertificateId>,
    /// The approval job it was issued through, if any.
    pub job_id: Option<JobId>,
    pub requested_by: String,
    pub created_at: DateTime<Utc>,
    /// How it came in: `api` (the REST API and the clients on it), `est` or `scep`.
    pub source: CertificateSource,
    /// Present once revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation: Option<RevocationOut>,
    /// The certificate in PEM; present on single-certificate reads, absent in lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_pem: Option<String>,
}

/// A freshly issued certificate: its details, the issuing chain, and a generated key shown
/// this once (absent when a CSR was given).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct IssuedOut {
    #[serde(flatten)]
    pub certificate: CertificateOut,
    pub chain_pem: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_pem: Option<String>,
}

/// The request waits for an approver: the job to watch.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AwaitingApprovalOut {
    pub job_id: JobId,
    pub status: JobStatus,
    pub requested_by: String,
}

/// The order of a certificate list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CertificateSort {
    /// Newest first (the default).
    #[default]
    Newest,
    /// Soonest expiry (`not_after`) first.
    Expiry,
}

impl CertificateSort {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "newest" => Some(Self::Newest),
            "expiry" => Some(Self::Expiry),
            _ => None,
        }
    }
}

/// `GET /api/v1/certificates`: filters combine with AND; newest first unless `sort=expiry`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CertificateQuery {
    /// Certificates in any of these states (one matching is enough). A query string joins them
    /// with commas: `status=active,expiring,renewal_in_progress` lists every live certificate.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "status_list")]
    #[param(value_type = Option<Vec<CertificateStatus>>, style = Form, explode = false)]
    pub status: Vec<CertificateStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_id: Option<IssuerId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_id: Option<ProfileId>,
    /// Exactly this common name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_name: Option<String>,
    /// The certificate with this serial number, in hex: either case, `:` between bytes allowed,
    /// leading zeros optional (as `openssl x509 -serial` prints it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(pattern = "^[0-9A-Fa-f:]{1,59}$")]
    pub serial: Option<String>,
    /// Text search: the common name or any SAN contains this (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(max_length = 256)]
    pub q: Option<String>,
    /// `newest` (default) or `expiry` (soonest `not_after` first). A cursor continues the order
    /// it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort: Option<CertificateSort>,
    /// Only certificates whose `not_after` is before this RFC 3339 time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiring_before: Option<DateTime<Utc>>,
    /// `next_cursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(pattern = "^[A-Za-z0-9_-]{1,256}$")]
    pub cursor: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
}

/// [`CertificateQuery::status`] on the wire: one string, the states joined by commas, as a query
/// string carries it. Read back from that string or, from a JSON client (the MCP tool), a list;
/// `null` and `""` mean no filter, as leaving the argument out does.
mod status_list {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    use crate::vocab::CertificateStatus;

    pub fn serialize<S: Serializer>(states: &[CertificateStatus], s: S) -> Result<S::Ok, S::Error> {
        let names: Vec<&str> = states.iter().map(|st| st.as_str()).collect();
        s.serialize_str(&names.join(","))
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written {
        Joined(String),
        Listed(Vec<String>),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<CertificateStatus>, D::Error> {
        let words = match Option::<Written>::deserialize(d)? {
            None => Vec::new(),
            Some(Written::Joined(s)) if s.is_empty() => Vec::new(),
            Some(Written::Joined(s)) => s.split(',').map(str::to_owned).collect(),
            Some(Written::Listed(l)) => l,
        };
        words
            .iter()
            .map(|w| {
                CertificateStatus::parse(w).ok_or_else(|| {
                    D::Error::custom(format!(
                        "unknown certificate status `{w}`; expected one of {}",
                        CertificateStatus::names().join(", ")
                    ))
                })
            })
            .collect()
    }
}

impl CertificateQuery {
    pub const NAMES: &[&str] = &[
        "status",
        "issuer_id",
        "profile_id",
        "common_name",
        "serial",
        "q",
        "sort",
        "expiring_before",
        "cursor",
        "limit",
    ];
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct JobOut {
    pub id: JobId,
    /// What the job does (`issue`, `renew`).
    pub kind: String,
    pub status: JobStatus,
    pub issuer_id: IssuerId,
    pub profile_id: ProfileId,
    /// The request as it was made, replayed on approval.
    pub request: serde_json::Value,
    pub requested_by: String,
    pub decided_by: Option<String>,
    pub decision_note: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub certificate_id: Option<CertificateId>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    /// For an automatic renewal: the certificate it renews.
    pub renews_certificate_id: Option<CertificateId>,
    /// Attempts so far (automatic renewals).
    pub attempts: i32,
    /// When the worker tries again (a `pending` job).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// A rotated key waits to be collected once with `POST /api/v1/jobs/{id}/key`.
    pub key_available: bool,
    pub key_retrieved_at: Option<DateTime<Utc>>,
}

/// `POST /api/v1/jobs/{id}/approve` and `/reject`: an optional note for the audit trail.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionIn {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `GET /api/v1/jobs`
#[derive(Clone, Debug, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<JobStatus>,
    /// `next_cursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(pattern = "^[A-Za-z0-9_-]{1,256}$")]
    pub cursor: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
}

impl JobQuery {
    pub const NAMES: &[&str] = &["status", "cursor", "limit"];
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn status(v: serde_json::Value) -> Result<Vec<CertificateStatus>, String> {
        serde_json::from_value::<CertificateQuery>(json!({ "status": v }))
            .map(|q| q.status)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn several_states_read_from_a_joined_string_or_a_list_and_write_joined() {
        use CertificateStatus::{Active, Expiring, Revoked};
        assert_eq!(status(json!("active,revoked")), Ok(vec![Active, Revoked]));
        assert_eq!(status(json!(["expiring", "active"])), Ok(vec![Expiring, Active]));
        for none in [json!(null), json!(""), json!([])] {
            assert_eq!(status(none.clone()), Ok(vec![]), "{none}");
        }
        assert_eq!(
            serde_json::from_value::<CertificateQuery>(json!({})).unwrap().status,
            vec![]
        );
        for bad in [json!("active,sideways"), json!("active,"), json!(["active "]), json!(7)] {
            assert!(status(bad.clone()).is_err(), "{bad}");
        }
        let q = CertificateQuery {
            status: vec![Expiring, Active],
            ..CertificateQuery::default()
        };
        assert_eq!(
            serde_json::to_value(&q).unwrap(),
            json!({ "status": "expiring,active" })
        );
        assert_eq!(serde_json::to_value(CertificateQuery::default()).unwrap(), json!({}));
    }
}

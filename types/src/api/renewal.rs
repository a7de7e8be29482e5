//! Renewal policies, and what automatic renewal hands back: the CSR a waiting job needs, and a
//! rotated key released once.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ids::{ChannelId, RenewalPolicyId};

use super::certificates::CertificateOut;

fn yes() -> bool {
    true
}

fn default_max_attempts() -> i32 {
    5
}

fn default_retry_interval() -> i64 {
    3600
}

/// `POST /api/v1/renewal-policies` and `PUT /api/v1/renewal-policies/{id}` (a whole
/// replacement). Give exactly one window: `renew_before_seconds` (renew this long before expiry)
/// or `renew_at_fraction` (renew once this fraction of the lifetime has passed; 2/3 is what ACME
/// renewal information suggests).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenewalPolicyIn {
    /// 1-100 printable characters, no spaces at the ends; unique.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
    )]
    pub name: String,
    /// The window opens this many seconds before `not_after` (at `not_before` if the certificate
    /// lives shorter than that).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 315_360_000)]
    pub renew_before_seconds: Option<i64>,
    /// The window opens once this fraction of the lifetime has passed (between 0 and 1, both
    /// excluded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(exclusive_minimum = 0.0, exclusive_maximum = 1.0)]
    pub renew_at_fraction: Option<f64>,
    /// The worker renews certificates entering their window by itself (default `true`). Without
    /// it they are marked `expiring` and warned about, and someone renews them.
    #[serde(default = "yes")]
    pub auto_renew: bool,
    /// A renewal gets a new key (default `false`: the same public key is certified again). For a
    /// key certctl generated, the worker generates the new one and releases it once
    /// (`POST /api/v1/jobs/{id}/key`); for a key from a CSR, the job waits for a new CSR
    /// (`POST /api/v1/jobs/{id}/csr`).
    #[serde(default)]
    pub rotate_key: bool,
    /// Attempts before an automatic renewal fails for good (default 5).
    #[serde(default = "default_max_attempts")]
    #[schema(minimum = 1, maximum = 100, default = 5)]
    pub max_attempts: i32,
    /// Seconds between attempts (default 3600).
    #[serde(default = "default_retry_interval")]
    #[schema(minimum = 1, maximum = 604_800, default = 3600)]
    pub retry_interval_seconds: i64,
    /// Expiry warnings, in days before `not_after`, for certificates under this policy; omitted or
    /// `null`: the worker's `CERTCTL_EXPIRY_WARNING_DAYS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 10)]
    pub warning_days: Option<Vec<i32>>,
    /// The channels that hear about these certificates' expiry warnings, due and failed renewals;
    /// omitted or `null`: every channel subscribed to the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 50)]
    pub channel_ids: Option<Vec<ChannelId>>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RenewalPolicyOut {
    pub id: RenewalPolicyId,
    pub name: String,
    pub renew_before_seconds: Option<i64>,
    pub renew_at_fraction: Option<f64>,
    pub auto_renew: bool,
    pub rotate_key: bool,
    pub max_attempts: i32,
    pub retry_interval_seconds: i64,
    pub warning_days: Option<Vec<i32>>,
    pub channel_ids: Option<Vec<ChannelId>>,
    /// The built-in policy, used wherever no other is set: it can be edited, not deleted.
    pub built_in: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `PUT /api/v1/certificates/{id}/renewal-policy`: the policy this certificate follows instead
/// of its profile's; `null` goes back to the profile's.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CertificatePolicyIn {
    pub renewal_policy_id: Option<RenewalPolicyId>,
}

/// `POST /api/v1/jobs/{id}/csr`: the new key for a renewal that waits for one.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobCsrIn {
    /// A PKCS#10 request in PEM. Only its key is used: the names stay those of the certificate
    /// being renewed.
    #[schema(min_length = 1, max_length = 65536)]
    pub csr_pem: String,
}

/// `POST /api/v1/jobs/{id}/key`: the certificate a key-rotating renewal issued, with the private
/// key certctl generated for it. Answered once; the key is then erased.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RenewalKeyOut {
    pub certificate: CertificateOut,
    pub chain_pem: String,
    /// PKCS#8 PEM.
    pub private_key_pem: String,
}

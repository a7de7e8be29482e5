//! Enrollment profiles: how devices enroll over EST and SCEP.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ids::{EnrollmentProfileId, IssuerId, ProfileId};
use crate::vocab::EnrollmentProtocol;

/// `POST /api/v1/enrollment-profiles`. An EST profile needs `est` with a username and password
/// and/or a client CA; a SCEP profile gets a challenge password generated for it, shown once.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollmentProfileIn {
    /// 1-100 printable characters, no spaces at the ends; unique among profiles in use.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\s\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
    )]
    pub name: String,
    pub protocol: EnrollmentProtocol,
    /// The URL segment (`/.well-known/est/{label}/…`, `/scep/{label}`): lowercase letters,
    /// digits and `-`, unique per protocol among profiles in use.
    #[schema(pattern = r"^[a-z0-9][a-z0-9-]{0,62}$")]
    pub label: String,
    pub issuer_id: IssuerId,
    pub profile_id: ProfileId,
    /// Served at the protocol's bare path too; one default per protocol.
    #[serde(default)]
    pub is_default: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub est: Option<EstAuthIn>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scep: Option<ScepAuthIn>,
}

/// How an EST client proves itself: HTTP Basic, a client certificate from one of certctl's
/// issuers, or both.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EstAuthIn {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 100)]
    pub username: Option<String>,
    /// At least 12 characters; stored as an argon2id hash only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 12, max_length = 1024)]
    pub password: Option<String>,
    /// Client certificates chained to this issuer are accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca_issuer_id: Option<IssuerId>,
}

/// The SCEP challenge password's rules; the password itself is generated.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScepAuthIn {
    /// After this time the challenge is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge_expires_at: Option<DateTime<Utc>>,
    /// The challenge works for one enrollment only.
    #[serde(default)]
    pub one_time: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct EnrollmentProfileOut {
    pub id: EnrollmentProfileId,
    pub name: String,
    pub protocol: EnrollmentProtocol,
    pub label: String,
    pub issuer_id: IssuerId,
    pub profile_id: ProfileId,
    pub is_default: bool,
    /// EST: the Basic username, if password authentication is set.
    pub est_username: Option<String>,
    /// EST: the issuer whose client certificates are accepted.
    pub est_client_ca_issuer_id: Option<IssuerId>,
    pub scep_challenge_expires_at: Option<DateTime<Utc>>,
    pub scep_challenge_one_time: bool,
    /// When a one-time challenge was used.
    pub scep_challenge_used_at: Option<DateTime<Utc>>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// Set once disabled: the next enrollment through it is refused.
    pub disabled_at: Option<DateTime<Utc>>,
    /// SCEP: the RA certificate clients encrypt to (PEM), once the first SCEP request created it.
    #[serde(default)]
    pub scep_ra_certificate_pem: Option<String>,
}

/// A new enrollment profile; for SCEP, its challenge password, shown this once.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct EnrollmentProfileCreatedOut {
    #[serde(flatten)]
    pub profile: EnrollmentProfileOut,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scep_challenge: Option<String>,
}

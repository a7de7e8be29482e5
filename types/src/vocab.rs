//! certctl's vocabulary: roles, the states of certificates, jobs and notifications, event and
//! channel kinds, key algorithms, extended key usages and revocation reasons.
//!
//! Each is an enum with one spelling on the wire, in the database and in messages; `ALL` lists
//! every value and `parse` reads one back.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

macro_rules! string_enum {
    ($(#[doc = $doc:literal])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[doc = $doc])*
        ///
        /// Stored as its text in a `TEXT` column (with a `CHECK` of the same values), so rows
        /// carry the enum itself, not a string to compare.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "db", derive(sea_orm::EnumIter, sea_orm::DeriveActiveEnum))]
        #[cfg_attr(feature = "db", sea_orm(rs_type = "String", db_type = "Text"))]
        pub enum $name {
            $(#[serde(rename = $text)] #[cfg_attr(feature = "db", sea_orm(string_value = $text))] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// Every value as written, for error messages.
            pub fn names() -> Vec<&'static str> {
                Self::ALL.iter().map(|v| v.as_str()).collect()
            }

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        // Written by hand: the derive does not see serde's `rename` through a macro's literal.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                let doc = [$($doc.trim()),*].join(" ");
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .description((!doc.is_empty()).then_some(doc))
                    .into()
            }
        }

        impl ToSchema for $name {}

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum! {
    /// What an API key may do; `role_grants` in the api-server maps roles to permissions.
    Role {
        Admin => "admin",
        Operator => "operator",
        Viewer => "viewer",
        Auditor => "auditor",
    }
}

string_enum! {
    /// Where a certificate is in its life: `active`, `expiring` (inside its renewal window and not
    /// being renewed), `renewal_in_progress`, `expired`, `renewed` (superseded by its renewal) or
    /// `revoked`. The worker's renewal loop moves certificates into `expiring`,
    /// `renewal_in_progress` and `expired` as time passes.
    CertificateStatus {
        Active => "active",
        Expiring => "expiring",
        RenewalInProgress => "renewal_in_progress",
        Expired => "expired",
        Renewed => "renewed",
        Revoked => "revoked",
    }
}

impl CertificateStatus {
    /// Not revoked, not renewed and not yet marked expired: the states a certificate can be
    /// renewed or revoked from, and is counted by its expiry in.
    pub const LIVE: &'static [CertificateStatus] = &[
        CertificateStatus::Active,
        CertificateStatus::Expiring,
        CertificateStatus::RenewalInProgress,
    ];

    pub fn is_live(self) -> bool {
        Self::LIVE.contains(&self)
    }
}

string_enum! {
    /// A notification's state: pending → sending (leased) → sent | failed → … → dead.
    NotificationStatus {
        Pending => "pending",
        Sending => "sending",
        Sent => "sent",
        Failed => "failed",
        Dead => "dead",
    }
}

string_enum! {
    /// What a notification is about; channels subscribe to these.
    EventType {
        CertificateIssued => "certificate_issued",
        CertificateRenewed => "certificate_renewed",
        CertificateRevoked => "certificate_revoked",
        ApprovalRequested => "approval_requested",
        ApprovalDecided => "approval_decided",
        ExpirationWarning => "expiration_warning",
        RenewalDue => "renewal_due",
        RenewalFailed => "renewal_failed",
        ChannelTest => "channel_test",
    }
}

string_enum! {
    /// How a channel delivers.
    ChannelKind {
        Webhook => "webhook",
        Email => "email",
        Slack => "slack",
        Teams => "teams",
        Pagerduty => "pagerduty",
        Opsgenie => "opsgenie",
    }
}

string_enum! {
    /// A job's state. Approval requests wait in `awaiting_approval` and end `approved` (issued),
    /// `rejected` or `failed`. Automatic renewals start `pending` (the worker tries, and retries
    /// on the policy's schedule), may wait in `awaiting_csr` or `awaiting_approval`, and end
    /// `completed`, `approved`, `rejected`, `failed` or `cancelled` (the certificate was revoked
    /// or renewed by other means meanwhile).
    JobStatus {
        Pending => "pending",
        AwaitingCsr => "awaiting_csr",
        AwaitingApproval => "awaiting_approval",
        Approved => "approved",
        Completed => "completed",
        Rejected => "rejected",
        Failed => "failed",
        Cancelled => "cancelled",
    }
}

string_enum! {
    /// The way a certificate came in: the REST API (and the clients built on it), or an
    /// enrollment protocol.
    CertificateSource {
        Api => "api",
        Est => "est",
        Scep => "scep",
        Acme => "acme",
    }
}

string_enum! {
    /// An enrollment protocol, as an enrollment profile names it.
    EnrollmentProtocol {
        Est => "est",
        Scep => "scep",
    }
}

string_enum! {
    /// Key types certctl issues for and accepts in CSRs.
    KeyAlgorithm {
        EcdsaP256 => "ecdsa-p256",
        EcdsaP384 => "ecdsa-p384",
        Rsa2048 => "rsa-2048",
        Rsa3072 => "rsa-3072",
        Rsa4096 => "rsa-4096",
    }
}

impl KeyAlgorithm {
    pub fn is_rsa(self) -> bool {
        matches!(self, Self::Rsa2048 | Self::Rsa3072 | Self::Rsa4096)
    }
}

string_enum! {
    /// Extended key usages a profile may grant.
    Eku {
        ServerAuth => "server_auth",
        ClientAuth => "client_auth",
        CodeSigning => "code_signing",
        EmailProtection => "email_protection",
        TimeStamping => "time_stamping",
    }
}

string_enum! {
    /// RFC 5280 §5.3.1 CRLReason values an operator may give. `certificateHold` and
    /// `removeFromCRL` are not offered: certctl has no suspension, so a revocation is final.
    RevocationReason {
        Unspecified => "unspecified",
        KeyCompromise => "keyCompromise",
        CaCompromise => "cACompromise",
        AffiliationChanged => "affiliationChanged",
        Superseded => "superseded",
        CessationOfOperation => "cessationOfOperation",
        PrivilegeWithdrawn => "privilegeWithdrawn",
    }
}

impl RevocationReason {
    /// The CRLReason code, or `None` for `unspecified`: RFC 5280 §5.3.1 says the reason code
    /// extension SHOULD be absent rather than carry unspecified (0).
    pub fn code(self) -> Option<i16> {
        match self {
            Self::Unspecified => None,
            Self::KeyCompromise => Some(1),
            Self::CaCompromise => Some(2),
            Self::AffiliationChanged => Some(3),
            Self::Superseded => Some(4),
            Self::CessationOfOperation => Some(5),
            Self::PrivilegeWithdrawn => Some(9),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocation_reasons_round_trip_and_codes_follow_rfc5280() {
        for r in RevocationReason::ALL.iter().copied() {
            assert_eq!(RevocationReason::parse(r.as_str()), Some(r));
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(json, format!("\"{}\"", r.as_str()));
        }
        assert_eq!(RevocationReason::Unspecified.code(), None);
        assert_eq!(RevocationReason::PrivilegeWithdrawn.code(), Some(9));
        assert_eq!(RevocationReason::parse("certificateHold"), None);
        assert_eq!(RevocationReason::parse("removeFromCRL"), None);
    }

    #[test]
    fn the_json_schema_of_each_enum_lists_its_values_as_written() {
        fn check<T: utoipa::PartialSchema>(names: Vec<&'static str>) {
            let schema = serde_json::to_value(T::schema()).unwrap();
            assert_eq!(schema["type"], "string");
            assert_eq!(schema["enum"], serde_json::json!(names));
        }
        check::<KeyAlgorithm>(KeyAlgorithm::names());
        check::<Eku>(Eku::names());
        check::<Role>(Role::names());
        check::<RevocationReason>(RevocationReason::names());
        check::<CertificateStatus>(CertificateStatus::names());
        check::<NotificationStatus>(NotificationStatus::names());
        check::<JobStatus>(JobStatus::names());
        check::<ChannelKind>(ChannelKind::names());
        check::<EventType>(EventType::names());
    }

    #[test]
    fn every_value_is_written_as_it_is_parsed() {
        fn check<T: Copy + PartialEq + std::fmt::Debug + serde::Serialize>(all: &[T], text: fn(T) -> &'static str) {
            for v in all.iter().copied() {
                assert_eq!(serde_json::to_value(v).unwrap(), serde_json::json!(text(v)));
            }
        }
        check(KeyAlgorithm::ALL, KeyAlgorithm::as_str);
        check(Eku::ALL, Eku::as_str);
        check(Role::ALL, Role::as_str);
        check(EventType::ALL, EventType::as_str);
    }
}

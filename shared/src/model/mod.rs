//! Domain vocabulary shared by the daemons: roles, certificate and job states, revocation reasons.

mod ids;
mod revocation;

pub use ids::{ApiKeyId, CertificateId, ChannelId, IssuerId, JobId, NotificationId, ProfileId};
pub use revocation::RevocationReason;

use serde::{Deserialize, Serialize};

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        ///
        /// Stored as its text in a `TEXT` column (with a `CHECK` of the same values), so rows
        /// carry the enum itself, not a string to compare.
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, sea_orm::EnumIter, sea_orm::DeriveActiveEnum,
        )]
        #[sea_orm(rs_type = "String", db_type = "Text")]
        pub enum $name {
            $(#[serde(rename = $text)] #[sea_orm(string_value = $text)] $variant),+
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
    /// A certificate's stored state. Expiry is not a state: it is read off `not_after`.
    CertificateStatus {
        Active => "active",
        Revoked => "revoked",
        Superseded => "superseded",
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
    /// An approval job's state.
    JobStatus {
        AwaitingApproval => "awaiting_approval",
        Approved => "approved",
        Rejected => "rejected",
        Failed => "failed",
    }
}

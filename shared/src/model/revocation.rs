//! RFC 5280 §5.3.1 CRLReason values certctl accepts.

use serde::{Deserialize, Serialize};

/// Reasons an operator may give. `certificateHold` and `removeFromCRL` are not offered: certctl
/// has no suspension, so a revocation is final.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RevocationReason {
    Unspecified,
    KeyCompromise,
    #[serde(rename = "cACompromise")]
    CaCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
    PrivilegeWithdrawn,
}

impl RevocationReason {
    pub const ALL: [RevocationReason; 7] = [
        Self::Unspecified,
        Self::KeyCompromise,
        Self::CaCompromise,
        Self::AffiliationChanged,
        Self::Superseded,
        Self::CessationOfOperation,
        Self::PrivilegeWithdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::KeyCompromise => "keyCompromise",
            Self::CaCompromise => "cACompromise",
            Self::AffiliationChanged => "affiliationChanged",
            Self::Superseded => "superseded",
            Self::CessationOfOperation => "cessationOfOperation",
            Self::PrivilegeWithdrawn => "privilegeWithdrawn",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

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
    fn names_round_trip_and_codes_follow_rfc5280() {
        for r in RevocationReason::ALL {
            assert_eq!(RevocationReason::parse(r.as_str()), Some(r));
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(json, format!("\"{}\"", r.as_str()));
        }
        assert_eq!(RevocationReason::Unspecified.code(), None);
        assert_eq!(RevocationReason::PrivilegeWithdrawn.code(), Some(9));
        assert_eq!(RevocationReason::parse("certificateHold"), None);
        assert_eq!(RevocationReason::parse("removeFromCRL"), None);
    }
}

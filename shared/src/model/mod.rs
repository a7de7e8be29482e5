//! Domain vocabulary shared by the daemons: ids, roles, certificate and job states, revocation
//! reasons. Defined in `certctl-types` (so the API's clients share them) and re-exported here.

pub use certctl_types::ids::{
    AcmeAccountId, AcmeAuthzId, AcmeChallengeId, AcmeEndpointId, AcmeOrderId, ApiKeyId, CertificateId, ChannelId,
    DiscoveredCertificateId, EnrollmentProfileId, IssuerId, JobId, NotificationId, ProfileId, RenewalPolicyId,
    ScanTargetId,
};
pub use certctl_types::vocab::{
    CertificateSource, CertificateStatus, ChannelKind, EnrollmentProtocol, EventType, JobStatus, NotificationStatus,
    RevocationReason, Role,
};

//! sea-orm entities, one file per table (the migrations are the schema's source).

pub mod acme_account;
pub mod acme_authorization;
pub mod acme_challenge;
pub mod acme_eab_key;
pub mod acme_endpoint;
pub mod acme_order;
pub mod api_key;
pub mod audit_event;
pub mod certificate;
pub mod certificate_profile;
pub mod certificate_revocation;
pub mod discovered_certificate;
pub mod enrollment_profile;
pub mod enrollment_request;
pub mod issuer;
pub mod job;
pub mod network_scan_target;
pub mod notification_attempt;
pub mod notification_channel;
pub mod notification_event;
pub mod renewal_policy;

//! The `ocsp_request` fuzz target's check and seeds: the revocation responder's in-memory
//! fixture (`certctl_revocation_responder::fixture`), re-exported for the target and the seed
//! corpus example.

pub use certctl_revocation_responder::fixture::{Fixture, GOOD, REVOKED, UNKNOWN, check, seeds, sha256_request};

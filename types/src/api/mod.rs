//! The REST API's bodies and query strings, as the server writes and reads them and as clients
//! use them. Field names and optionality here are the wire format; the OpenAPI document is
//! generated from these types, so a change here is a change of the API.
//!
//! `*In` types are request bodies (unknown fields refused), `*Out` types responses, `*Query`
//! types the query strings of list routes (each lists its parameter names in `NAMES`, which the
//! server's parser accepts and nothing else).

pub mod access;
pub mod acme;
pub mod certificates;
pub mod discovery;
pub mod enrollment;
pub mod notifications;
pub mod policy;
pub mod renewal;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The page size when a list request gives no `limit`.
pub const DEFAULT_PAGE: u64 = 50;
/// The largest `limit` a list request may ask for.
pub const MAX_PAGE: u64 = 500;

/// One page of a list: pass `next_cursor` back as `cursor` for the next page, until it is `null`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ListOut<T> {
    pub data: Vec<T>,
    /// Opaque; `null` on the last page.
    pub next_cursor: Option<String>,
    /// How many items match the filter, across all pages: exact up to 10,000, beyond that the
    /// database's estimate (and `total_estimated` is `true`).
    pub total: u64,
    /// `total` is an estimate, not a count.
    #[serde(default)]
    pub total_estimated: bool,
}

/// An error, as RFC 9457 `application/problem+json`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem: `https://certctl.dev/problems/{code}`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The HTTP status's reason phrase.
    pub title: String,
    pub status: u16,
    /// What went wrong, for a person.
    pub detail: String,
    /// A stable machine-readable code; each operation lists the codes it can return.
    pub code: String,
}

/// `GET /api/v1/version`
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct VersionOut {
    pub name: String,
    pub version: String,
    pub api: String,
}

/// `GET /api/v1/stats/summary`: what needs attention, at a glance.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SummaryOut {
    pub certificates: CertificateCounts,
    /// Certificates still valid (active, expiring or being renewed) whose `not_after` falls
    /// within `expiring_soon_days`.
    pub expiring_soon: u64,
    pub expiring_soon_days: u32,
    pub jobs_awaiting_approval: u64,
    /// Notifications that used their whole retry budget and wait for an operator.
    pub notifications_dead: u64,
    /// What the revocation responder publishes for each live issuer, as of the database it reads.
    pub revocation: Vec<IssuerRevocationOut>,
}

/// How fresh an issuer's published revocation status is. `null` means there is none yet.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct IssuerRevocationOut {
    pub issuer_id: crate::ids::IssuerId,
    /// Seconds since the newest CRL's thisUpdate.
    pub crl_age_seconds: Option<f64>,
    /// Seconds until the newest CRL's nextUpdate; negative once it has passed.
    pub crl_next_update_in_seconds: Option<f64>,
    /// Seconds until the newest delegated OCSP signer expires.
    pub ocsp_signer_expires_in_seconds: Option<f64>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct CertificateCounts {
    pub active: u64,
    /// Inside their renewal window and not being renewed.
    pub expiring: u64,
    pub renewal_in_progress: u64,
    /// Past `not_after`, neither revoked nor renewed: those marked `expired`, and those the
    /// renewal loop has not marked yet.
    pub expired: u64,
    /// Superseded by their renewal.
    pub renewed: u64,
    pub revoked: u64,
    pub total: u64,
}

#[cfg(test)]
mod tests {
    use utoipa::IntoParams;

    use super::access::AuditQuery;
    use super::acme;
    use super::certificates::{CertificateQuery, JobQuery};
    use super::discovery::DiscoveredQuery;
    use super::notifications::NotificationQuery;

    fn documented<T: IntoParams>() -> Vec<String> {
        let mut names: Vec<String> = T::into_params(|| None).into_iter().map(|p| p.name).collect();
        names.sort();
        names
    }

    fn declared(names: &[&str]) -> Vec<String> {
        let mut names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        names.sort();
        names
    }

    #[test]
    fn every_query_type_names_exactly_the_parameters_it_documents() {
        assert_eq!(documented::<CertificateQuery>(), declared(CertificateQuery::NAMES));
        assert_eq!(documented::<JobQuery>(), declared(JobQuery::NAMES));
        assert_eq!(documented::<NotificationQuery>(), declared(NotificationQuery::NAMES));
        assert_eq!(documented::<AuditQuery>(), declared(AuditQuery::NAMES));
        assert_eq!(documented::<DiscoveredQuery>(), declared(DiscoveredQuery::NAMES));
        assert_eq!(
            documented::<acme::AcmePageQuery>(),
            declared(acme::AcmePageQuery::NAMES)
        );
    }
}

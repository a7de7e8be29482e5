//! What one replica keeps in memory between requests: issuers with their opened keys, and
//! profiles as last read. Loading is the use cases' business (`service::issuers`,
//! `service::issuance`); this module only holds what they loaded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use certctl_pki::LoadedIssuer;
use certctl_pki::scep::Ra;
use certctl_shared::entities::certificate_profile::Model as Profile;
use certctl_shared::entities::issuer::Model as Issuer;
use certctl_shared::model::{EnrollmentProfileId, IssuerId, ProfileId};

/// An issuer ready to sign: its row, its decrypted key and its chain. Issuers are never updated,
/// so a replica caches them for good; only an unseal and key parse per issuer is saved, and the
/// two queries per issuance that would otherwise read the row and the chain.
pub struct CachedIssuer {
    pub row: Issuer,
    pub signer: LoadedIssuer,
    /// The issuer and every CA above it, issuer first.
    pub chain_pem: String,
}

#[derive(Default)]
pub struct Caches {
    issuers: Mutex<HashMap<IssuerId, Arc<CachedIssuer>>>,
    /// Possibly stale: issuance re-checks the revision in the statement that stores the
    /// certificate.
    profiles: Mutex<HashMap<ProfileId, Arc<Profile>>>,
    /// SCEP RAs with their opened keys, by enrollment profile; valid while the profile row holds
    /// the same RA certificate (a rotation replaces it).
    scep_ras: Mutex<HashMap<EnrollmentProfileId, Ra>>,
}

impl Caches {
    pub fn issuer(&self, id: IssuerId) -> Option<Arc<CachedIssuer>> {
        self.issuers.lock().unwrap_or_else(|p| p.into_inner()).get(&id).cloned()
    }

    pub fn keep_issuer(&self, issuer: Arc<CachedIssuer>) {
        self.issuers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(issuer.row.id, issuer);
    }

    pub fn profile(&self, id: ProfileId) -> Option<Arc<Profile>> {
        self.profiles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
    }

    pub fn keep_profile(&self, profile: Arc<Profile>) {
        self.profiles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(profile.id, profile);
    }

    /// The cached RA of a SCEP profile, if it is still the one with `certificate_der`.
    pub fn scep_ra(&self, id: EnrollmentProfileId, certificate_der: &[u8]) -> Option<Ra> {
        self.scep_ras
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .filter(|ra| ra.certificate_der() == certificate_der)
            .cloned()
    }

    pub fn keep_scep_ra(&self, id: EnrollmentProfileId, ra: Ra) {
        self.scep_ras.lock().unwrap_or_else(|p| p.into_inner()).insert(id, ra);
    }

    pub fn forget_profile(&self, id: ProfileId) {
        self.profiles.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
    }
}

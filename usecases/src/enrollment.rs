//! Enrollment profiles: the bindings EST and SCEP clients enroll through (an issuer, a
//! certificate profile, a URL label, and how the client proves itself). Admins manage them; every
//! create and disable is audited. Credentials are kept only as argon2id hashes: an EST password
//! as given, a SCEP challenge generated here and returned once.

use certctl_shared::entities::enrollment_profile::Model as EnrollmentProfile;
use certctl_shared::model::{EnrollmentProfileId, EnrollmentProtocol, IssuerId, ProfileId};
use certctl_shared::repo::{enrollment, issuers, profiles};
use chrono::{DateTime, Utc};
use ring::rand::{SecureRandom, SystemRandom};
use sea_orm::{DbErr, SqlErr, TransactionTrait};
use serde_json::json;

use certctl_pki::scep::Ra;
use certctl_pki::{KeyAlgorithm, generate_key, issue_ra_certificate};

use super::issuers::{cached_issuer, from_time, to_time};
use super::{Actor, Fault, check_identifier, faults};
use crate::Core;

/// Shortest and longest EST password accepted.
pub const MIN_PASSWORD: usize = 12;
pub const MAX_PASSWORD: usize = 1024;

/// A profile as an admin asks for it.
pub struct NewEnrollmentProfile {
    pub name: String,
    pub protocol: EnrollmentProtocol,
    pub label: String,
    pub issuer_id: IssuerId,
    pub profile_id: ProfileId,
    pub is_default: bool,
    pub est: Option<EstAuth>,
    pub scep: Option<ScepAuth>,
}

pub struct EstAuth {
    pub username: Option<String>,
    pub password: Option<String>,
    pub client_ca_issuer_id: Option<IssuerId>,
}

pub struct ScepAuth {
    pub challenge_expires_at: Option<DateTime<Utc>>,
    pub one_time: bool,
}

/// Why an enrollment profile was not written.
#[derive(Debug, thiserror::Error)]
pub enum EnrollmentError {
    #[error("{0}")]
    Invalid(String),
    #[error("issuer {0} does not exist")]
    UnknownIssuer(IssuerId),
    #[error("profile {0} does not exist")]
    UnknownProfile(ProfileId),
    #[error("an enrollment profile in use already has this name")]
    NameTaken,
    #[error("an enrollment profile in use already has this label for this protocol")]
    LabelTaken,
    #[error("another enrollment profile is already the default for this protocol")]
    DefaultTaken,
    #[error("enrollment profile not found, or already disabled")]
    NotFound,
    #[error(transparent)]
    Fault(#[from] Fault),
}

faults!(EnrollmentError);

/// A URL segment: lowercase letters, digits and `-`, 1-63 characters, not starting with `-`.
pub fn valid_label(label: &str) -> bool {
    let b = label.as_bytes();
    (1..=63).contains(&b.len())
        && b[0] != b'-'
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// An argon2id hash (PHC string) of a secret, with a fresh salt.
pub fn hash_secret(secret: &str) -> Result<String, Fault> {
    crate::secrets::hash_secret(secret).map_err(Fault::Internal)
}

pub use crate::secrets::verify_secret;

/// A fresh SCEP challenge password: 20 random bytes, hex. Clients put it in the CSR's
/// challengePassword attribute, often as a PrintableString (certmonger does), which has no `_`
/// and no `@`: hex survives every string type a client may choose.
fn generate_challenge() -> Result<String, Fault> {
    let mut raw = [0u8; 20];
    SystemRandom::new()
        .fill(&mut raw)
        .map_err(|_| Fault::Internal(anyhow::anyhow!("no randomness for a challenge")))?;
    Ok(hex::encode(raw))
}

/// Which unique index a write ran into.
fn taken(e: &DbErr) -> Option<EnrollmentError> {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(d)) if d.contains("enrollment_profiles_name_key") => {
            Some(EnrollmentError::NameTaken)
        }
        Some(SqlErr::UniqueConstraintViolation(d)) if d.contains("enrollment_profiles_label_key") => {
            Some(EnrollmentError::LabelTaken)
        }
        Some(SqlErr::UniqueConstraintViolation(d)) if d.contains("enrollment_profiles_default_key") => {
            Some(EnrollmentError::DefaultTaken)
        }
        _ => None,
    }
}

fn audit_details(p: &EnrollmentProfile) -> serde_json::Value {
    json!({ "name": p.name, "protocol": p.protocol, "label": p.label, "issuer_id": p.issuer_id,
            "profile_id": p.profile_id, "is_default": p.is_default, "est_username": p.est_username,
            "est_client_ca_issuer_id": p.est_client_ca_issuer_id,
            "scep_challenge_expires_at": p.scep_challenge_expires_at,
            "scep_challenge_one_time": p.scep_challenge_one_time })
}

/// Creates a profile; for SCEP, also returns its challenge password (the only time it is seen).
pub async fn create(
    state: &Core,
    actor: &Actor,
    new: NewEnrollmentProfile,
) -> Result<(EnrollmentProfile, Option<String>), EnrollmentError> {
    use EnrollmentError as E;
    check_identifier("name", &new.name).map_err(E::Invalid)?;
    if !valid_label(&new.label) {
        return Err(E::Invalid(
            "label must be 1-63 lowercase letters, digits or '-', not starting with '-'".into(),
        ));
    }
    let now = Utc::now();
    let mut row = EnrollmentProfile {
        id: EnrollmentProfileId::new(),
        name: new.name,
        protocol: new.protocol,
        label: new.label,
        issuer_id: new.issuer_id,
        profile_id: new.profile_id,
        is_default: new.is_default,
        est_username: None,
        est_password_hash: None,
        est_client_ca_issuer_id: None,
        scep_challenge_hash: None,
        scep_challenge_expires_at: None,
        scep_challenge_one_time: false,
        scep_challenge_used_at: None,
        created_by: actor.principal.clone(),
        created_at: now,
        disabled_at: None,
        scep_ra_certificate_der: None,
        scep_ra_key_ciphertext: None,
    };
    let mut challenge = None;
    match (new.protocol, new.est, new.scep) {
        (EnrollmentProtocol::Est, Some(est), None) => {
            match (est.username, est.password) {
                (Some(user), Some(password)) => {
                    check_identifier("est.username", &user).map_err(E::Invalid)?;
                    if user.contains(':') {
                        return Err(E::Invalid("est.username must not contain ':' (HTTP Basic)".into()));
                    }
                    if !(MIN_PASSWORD..=MAX_PASSWORD).contains(&password.chars().count()) {
                        return Err(E::Invalid(format!(
                            "est.password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters"
                        )));
                    }
                    row.est_username = Some(user);
                    row.est_password_hash = Some(hash_secret(&password)?);
                }
                (None, None) => {}
                _ => return Err(E::Invalid("give est.username and est.password together".into())),
            }
            row.est_client_ca_issuer_id = est.client_ca_issuer_id;
            if row.est_password_hash.is_none() && row.est_client_ca_issuer_id.is_none() {
                return Err(E::Invalid(
                    "an EST profile needs est.username and est.password, est.client_ca_issuer_id, or both".into(),
                ));
            }
        }
        (EnrollmentProtocol::Scep, None, scep) => {
            let scep = scep.unwrap_or(ScepAuth {
                challenge_expires_at: None,
                one_time: false,
            });
            if scep.challenge_expires_at.is_some_and(|t| t <= now) {
                return Err(E::Invalid("scep.challenge_expires_at must be in the future".into()));
            }
            let secret = generate_challenge()?;
            row.scep_challenge_hash = Some(hash_secret(&secret)?);
            row.scep_challenge_expires_at = scep.challenge_expires_at;
            row.scep_challenge_one_time = scep.one_time;
            challenge = Some(secret);
        }
        (EnrollmentProtocol::Est, _, _) => {
            return Err(E::Invalid("an EST profile takes `est` settings, not `scep`".into()));
        }
        (EnrollmentProtocol::Scep, _, _) => {
            return Err(E::Invalid("a SCEP profile takes `scep` settings, not `est`".into()));
        }
    }
    let txn = state.db.begin().await?;
    for id in [Some(row.issuer_id), row.est_client_ca_issuer_id].into_iter().flatten() {
        if issuers::find_by_id(&txn, id).await?.is_none() {
            return Err(E::UnknownIssuer(id));
        }
    }
    if profiles::find_by_id(&txn, row.profile_id).await?.is_none() {
        return Err(E::UnknownProfile(row.profile_id));
    }
    let row = match enrollment::insert(&txn, row).await {
        Err(e) => return Err(taken(&e).unwrap_or_else(|| e.into())),
        Ok(row) => row,
    };
    actor
        .audit(
            &txn,
            "enrollment_profile.create",
            "enrollment_profile",
            row.id,
            audit_details(&row),
        )
        .await?;
    txn.commit().await?;
    Ok((row, challenge))
}

/// Disables a profile in use: the next enrollment through it is refused.
pub async fn disable(
    state: &Core,
    actor: &Actor,
    id: EnrollmentProfileId,
) -> Result<EnrollmentProfile, EnrollmentError> {
    let txn = state.db.begin().await?;
    let row = enrollment::disable(&txn, id, Utc::now())
        .await?
        .ok_or(EnrollmentError::NotFound)?;
    actor
        .audit(
            &txn,
            "enrollment_profile.disable",
            "enrollment_profile",
            row.id,
            audit_details(&row),
        )
        .await?;
    txn.commit().await?;
    Ok(row)
}

/// How long a SCEP RA certificate is issued for (capped by its issuer), and how long before its
/// end it is replaced.
const RA_LIFETIME_DAYS: i64 = 365;
const RA_ROTATE_BEFORE_DAYS: i64 = 30;

/// The key-encryption context of a SCEP profile's RA key.
fn ra_key_context(id: EnrollmentProfileId) -> String {
    format!("scep-ra:{id}")
}

/// The RA of a SCEP profile, ready to decrypt requests and sign replies. The first request
/// through a profile creates it: an RSA-2048 key sealed under the CA key-encryption key and a
/// certificate from the profile's issuer, valid a year; within 30 days of its end it is replaced
/// the same way (clients fetch it with GetCACert before enrolling). Creation and rotation are
/// audited; replicas racing to create it keep whichever was stored first.
pub async fn scep_ra(state: &Core, profile: &EnrollmentProfile) -> Result<Ra, Fault> {
    let mut row = profile.clone();
    for _ in 0..3 {
        if let (Some(cert), Some(sealed)) = (&row.scep_ra_certificate_der, &row.scep_ra_key_ciphertext) {
            let issuer = cached_issuer(state, &state.db, row.issuer_id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("issuer {} is gone", row.issuer_id))?;
            if !ra_due_for_rotation(cert, issuer.row.not_after) {
                if let Some(ra) = state.caches.scep_ra(row.id, cert) {
                    return Ok(ra);
                }
                let pkcs8 = state.keys.open(&ra_key_context(row.id), sealed)?;
                let ra = Ra::new(cert.clone(), &pkcs8).map_err(anyhow::Error::new)?;
                state.caches.keep_scep_ra(row.id, ra.clone());
                return Ok(ra);
            }
        }
        issue_scep_ra(state, &Actor::system("scep"), &row).await?;
        row = enrollment::find_by_id(&state.db, row.id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("enrollment profile {} is gone", profile.id))?;
    }
    Err(Fault::Internal(anyhow::anyhow!(
        "the SCEP RA of enrollment profile {} keeps changing",
        profile.id
    )))
}

/// Whether an RA certificate is within 30 days of its end, and a new one would last longer.
fn ra_due_for_rotation(certificate_der: &[u8], issuer_not_after: DateTime<Utc>) -> bool {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(certificate_der) else {
        return true;
    };
    let not_after = cert.validity().not_after.timestamp();
    let soon = (Utc::now() + chrono::Duration::days(RA_ROTATE_BEFORE_DAYS)).timestamp();
    not_after < soon && issuer_not_after.timestamp() > not_after
}

/// Replaces a SCEP profile's RA now (a key thought exposed, say), as `actor`: a new key and
/// certificate, stored and audited like a scheduled rotation. Clients fetch the new RA with
/// GetCACert; a request already encrypted to the old one fails and is sent again.
pub async fn rotate_scep_ra(
    state: &Core,
    actor: &Actor,
    id: EnrollmentProfileId,
) -> Result<EnrollmentProfile, EnrollmentError> {
    let row = enrollment::find_by_id(&state.db, id)
        .await?
        .filter(|p| p.disabled_at.is_none())
        .ok_or(EnrollmentError::NotFound)?;
    if row.protocol != EnrollmentProtocol::Scep {
        return Err(EnrollmentError::Invalid("only a SCEP profile has an RA".into()));
    }
    if !issue_scep_ra(state, actor, &row).await? {
        return Err(EnrollmentError::Fault(Fault::Internal(anyhow::anyhow!(
            "the RA of enrollment profile {id} changed while it was being rotated; retry"
        ))));
    }
    let row = enrollment::find_by_id(&state.db, id)
        .await?
        .ok_or(EnrollmentError::NotFound)?;
    Ok(row)
}

/// Issues an RA for `profile` and stores it in place of the one the row had; `false` when
/// another replica changed the RA first (its RA stays).
async fn issue_scep_ra(state: &Core, actor: &Actor, profile: &EnrollmentProfile) -> Result<bool, Fault> {
    let issuer = cached_issuer(state, &state.db, profile.issuer_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("issuer {} is gone", profile.issuer_id))?;
    let key = tokio::task::spawn_blocking(|| generate_key(KeyAlgorithm::Rsa2048))
        .await
        .map_err(anyhow::Error::new)?
        .map_err(anyhow::Error::new)?;
    let now = Utc::now();
    let cert = issue_ra_certificate(
        &issuer.signer,
        &key,
        &profile.name,
        to_time(now),
        to_time(now + chrono::Duration::days(RA_LIFETIME_DAYS)),
    )
    .map_err(anyhow::Error::new)?;
    let sealed = state.keys.seal(&ra_key_context(profile.id), &key.serialize_der())?;
    let rotated = profile.scep_ra_certificate_der.is_some();
    let txn = state.db.begin().await?;
    let stored = enrollment::set_scep_ra(
        &txn,
        profile.id,
        profile.scep_ra_certificate_der.clone(),
        cert.der.clone(),
        sealed,
    )
    .await?;
    if stored {
        actor
            .audit(
                &txn,
                if rotated {
                    "enrollment_profile.scep_ra_rotated"
                } else {
                    "enrollment_profile.scep_ra_created"
                },
                "enrollment_profile",
                profile.id,
                json!({ "name": profile.name, "ra_serial_hex": cert.serial_hex(),
                        "not_after": from_time(cert.not_after) }),
            )
            .await?;
    }
    txn.commit().await?;
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_url_segments() {
        for ok in ["routers", "mdm-2", "a", "0"] {
            assert!(valid_label(ok), "{ok}");
        }
        for bad in ["", "-x", "Routers", "a/b", "a_b", "é", &"a".repeat(64)] {
            assert!(!valid_label(bad), "{bad}");
        }
    }
}

//! ACME endpoints and their External Account Binding keys: admins create and disable endpoints
//! and issue EAB keys; every write is audited. The protocol that serves them is `crate::acme`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use certctl_pki::names::is_dns_name;
use certctl_shared::entities::acme_eab_key::Model as AcmeEabKey;
use certctl_shared::entities::acme_endpoint::Model as AcmeEndpoint;
use certctl_shared::model::{AcmeEndpointId, IssuerId, ProfileId};
use certctl_shared::repo::{acme, issuers, profiles};
use chrono::Utc;
use ring::rand::{SecureRandom, SystemRandom};
use sea_orm::{DbErr, SqlErr, TransactionTrait};
use serde_json::json;

use super::enrollment::valid_label;
use super::{Actor, Fault, check_identifier, faults};
use crate::Core;

/// At most this many DNS suffixes and IP ranges each.
pub const MAX_ALLOWED: usize = 100;

pub struct NewAcmeEndpoint {
    pub name: String,
    pub label: String,
    pub issuer_id: IssuerId,
    pub profile_id: ProfileId,
    pub eab_required: bool,
    pub allowed_dns_suffixes: Vec<String>,
    pub allowed_ip_ranges: Vec<String>,
    pub allow_private_targets: bool,
    pub terms_of_service_url: Option<String>,
}

/// Why an ACME endpoint or EAB key was not written.
#[derive(Debug, thiserror::Error)]
pub enum AcmeEndpointError {
    #[error("{0}")]
    Invalid(String),
    #[error("issuer {0} does not exist")]
    UnknownIssuer(IssuerId),
    #[error("profile {0} does not exist")]
    UnknownProfile(ProfileId),
    #[error("an ACME endpoint in use already has this name")]
    NameTaken,
    #[error("an ACME endpoint in use already has this label")]
    LabelTaken,
    #[error("ACME endpoint not found, or already disabled")]
    NotFound,
    #[error(transparent)]
    Fault(#[from] Fault),
}

faults!(AcmeEndpointError);

fn taken(e: &DbErr) -> Option<AcmeEndpointError> {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(d)) if d.contains("acme_endpoints_name_key") => {
            Some(AcmeEndpointError::NameTaken)
        }
        Some(SqlErr::UniqueConstraintViolation(d)) if d.contains("acme_endpoints_label_key") => {
            Some(AcmeEndpointError::LabelTaken)
        }
        _ => None,
    }
}

/// A CIDR range, normalised (`10.0.0.0/8`, `fd00::/8`); the address must be the range's first.
pub fn parse_cidr(text: &str) -> Result<String, String> {
    let bad = || format!("`{text}` is not a CIDR range such as 10.0.0.0/8 or fd00::/8");
    let (addr, prefix) = text.split_once('/').ok_or_else(bad)?;
    let addr: std::net::IpAddr = addr.parse().map_err(|_| bad())?;
    let prefix: u8 = prefix.parse().map_err(|_| bad())?;
    // The address as the top bits of a u128, so one mask serves both families.
    let (bits, width) = match addr {
        std::net::IpAddr::V4(a) => (u128::from(u32::from(a)) << 96, 32u8),
        std::net::IpAddr::V6(a) => (u128::from(a), 128u8),
    };
    if prefix > width {
        return Err(bad());
    }
    let network = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix))
    };
    if bits & !network != 0 {
        return Err(format!("`{text}` has host bits set: write the range's first address"));
    }
    Ok(format!("{addr}/{prefix}"))
}

fn check(new: &mut NewAcmeEndpoint) -> Result<(), AcmeEndpointError> {
    use AcmeEndpointError as E;
    check_identifier("name", &new.name).map_err(E::Invalid)?;
    if !valid_label(&new.label) {
        return Err(E::Invalid(
            "label must be 1-63 lowercase letters, digits or '-', not starting with '-'".into(),
        ));
    }
    if new.allowed_dns_suffixes.len() > MAX_ALLOWED || new.allowed_ip_ranges.len() > MAX_ALLOWED {
        return Err(E::Invalid(format!(
            "at most {MAX_ALLOWED} allowed_dns_suffixes and {MAX_ALLOWED} allowed_ip_ranges"
        )));
    }
    for suffix in &mut new.allowed_dns_suffixes {
        let lower = suffix.trim_end_matches('.').to_ascii_lowercase();
        if !is_dns_name(&lower) {
            return Err(E::Invalid(format!(
                "allowed_dns_suffixes: `{suffix}` is not a DNS name (write example.com, not *.example.com)"
            )));
        }
        *suffix = lower;
    }
    for range in &mut new.allowed_ip_ranges {
        *range = parse_cidr(range).map_err(|m| E::Invalid(format!("allowed_ip_ranges: {m}")))?;
    }
    if let Some(url) = &new.terms_of_service_url
        && (!(url.starts_with("https://") || url.starts_with("http://")) || url.len() > 2048 || !url.is_ascii())
    {
        return Err(E::Invalid(
            "terms_of_service_url must be an ASCII http:// or https:// URL of at most 2048 characters".into(),
        ));
    }
    Ok(())
}

fn audit_details(e: &AcmeEndpoint) -> serde_json::Value {
    json!({ "name": e.name, "label": e.label, "issuer_id": e.issuer_id, "profile_id": e.profile_id,
            "eab_required": e.eab_required, "allowed_dns_suffixes": e.allowed_dns_suffixes,
            "allowed_ip_ranges": e.allowed_ip_ranges, "allow_private_targets": e.allow_private_targets,
            "terms_of_service_url": e.terms_of_service_url })
}

pub async fn create(state: &Core, actor: &Actor, mut new: NewAcmeEndpoint) -> Result<AcmeEndpoint, AcmeEndpointError> {
    check(&mut new)?;
    let txn = state.db.begin().await?;
    if issuers::find_by_id(&txn, new.issuer_id).await?.is_none() {
        return Err(AcmeEndpointError::UnknownIssuer(new.issuer_id));
    }
    if profiles::find_by_id(&txn, new.profile_id).await?.is_none() {
        return Err(AcmeEndpointError::UnknownProfile(new.profile_id));
    }
    let row = AcmeEndpoint {
        id: AcmeEndpointId::new(),
        name: new.name,
        label: new.label,
        issuer_id: new.issuer_id,
        profile_id: new.profile_id,
        eab_required: new.eab_required,
        allowed_dns_suffixes: new.allowed_dns_suffixes,
        allowed_ip_ranges: new.allowed_ip_ranges,
        allow_private_targets: new.allow_private_targets,
        terms_of_service_url: new.terms_of_service_url,
        created_by: actor.principal.clone(),
        created_at: Utc::now(),
        disabled_at: None,
    };
    let row = match acme::insert_endpoint(&txn, row).await {
        Err(e) => return Err(taken(&e).unwrap_or_else(|| e.into())),
        Ok(row) => row,
    };
    actor
        .audit(
            &txn,
            "acme_endpoint.create",
            "acme_endpoint",
            row.id,
            audit_details(&row),
        )
        .await?;
    txn.commit().await?;
    Ok(row)
}

pub async fn disable(state: &Core, actor: &Actor, id: AcmeEndpointId) -> Result<AcmeEndpoint, AcmeEndpointError> {
    let txn = state.db.begin().await?;
    let row = acme::disable_endpoint(&txn, id, Utc::now())
        .await?
        .ok_or(AcmeEndpointError::NotFound)?;
    actor
        .audit(
            &txn,
            "acme_endpoint.disable",
            "acme_endpoint",
            row.id,
            audit_details(&row),
        )
        .await?;
    txn.commit().await?;
    Ok(row)
}

/// The key-encryption context of an EAB key.
pub fn eab_key_context(kid: &str) -> String {
    format!("acme-eab:{kid}")
}

/// Issues an EAB key for an endpoint in use: a random key id and a 32-byte HMAC key, sealed
/// under the CA KEK (the server needs the key itself to check the client's MAC). Returns the row
/// and the key, base64url, which is never shown again.
pub async fn create_eab_key(
    state: &Core,
    actor: &Actor,
    endpoint: AcmeEndpointId,
) -> Result<(AcmeEabKey, String), AcmeEndpointError> {
    let rng = SystemRandom::new();
    let (mut kid, mut key) = ([0u8; 12], [0u8; 32]);
    rng.fill(&mut kid)
        .and_then(|()| rng.fill(&mut key))
        .map_err(|_| Fault::Internal(anyhow::anyhow!("no randomness for an EAB key")))?;
    let kid = format!("eab_{}", URL_SAFE_NO_PAD.encode(kid));
    let sealed = state.keys.seal(&eab_key_context(&kid), &key)?;
    let txn = state.db.begin().await?;
    let live = acme::find_endpoint(&txn, endpoint)
        .await?
        .filter(|e| e.disabled_at.is_none())
        .ok_or(AcmeEndpointError::NotFound)?;
    let row = acme::insert_eab_key(
        &txn,
        AcmeEabKey {
            kid,
            endpoint_id: live.id,
            key_ciphertext: sealed,
            created_by: actor.principal.clone(),
            created_at: Utc::now(),
            bound_at: None,
            revoked_at: None,
        },
    )
    .await?;
    actor
        .audit(
            &txn,
            "acme_eab_key.create",
            "acme_endpoint",
            live.id,
            json!({ "kid": row.kid, "endpoint": live.name }),
        )
        .await?;
    txn.commit().await?;
    Ok((row, URL_SAFE_NO_PAD.encode(key)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_ranges_are_normalised_and_host_bits_refused() {
        assert_eq!(parse_cidr("10.0.0.0/8").unwrap(), "10.0.0.0/8");
        assert_eq!(parse_cidr("192.168.10.0/24").unwrap(), "192.168.10.0/24");
        assert_eq!(parse_cidr("fd00::/8").unwrap(), "fd00::/8");
        assert_eq!(parse_cidr("0.0.0.0/0").unwrap(), "0.0.0.0/0");
        assert_eq!(parse_cidr("127.0.0.1/32").unwrap(), "127.0.0.1/32");
        for bad in [
            "10.0.0.1/8",
            "10.0.0.0",
            "10.0.0.0/33",
            "fd00::/129",
            "fd00::1/8",
            "x/8",
            "10.0.0.0/-1",
        ] {
            assert!(parse_cidr(bad).is_err(), "{bad}");
        }
    }
}

//! CA and leaf certificate construction.

pub use certctl_types::vocab::Eku;
use rcgen::{
    BasicConstraints, CertificateParams, CrlDistributionPoint, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType, SerialNumber,
};
use time::OffsetDateTime;
use uuid::Uuid;

use super::der::{OID_AUTHORITY_INFO_ACCESS, OID_NO_REV_AVAIL, OID_OCSP_NOCHECK, authority_info_access, null_value};
use super::keys::load_key;
use super::names::SanName;
use super::sign::CaIdentity;
use super::{KeyAlgorithm, PkiError, random_serial};

/// The rcgen purpose of an extended key usage.
fn purpose(eku: Eku) -> ExtendedKeyUsagePurpose {
    match eku {
        Eku::ServerAuth => ExtendedKeyUsagePurpose::ServerAuth,
        Eku::ClientAuth => ExtendedKeyUsagePurpose::ClientAuth,
        Eku::CodeSigning => ExtendedKeyUsagePurpose::CodeSigning,
        Eku::EmailProtection => ExtendedKeyUsagePurpose::EmailProtection,
        Eku::TimeStamping => ExtendedKeyUsagePurpose::TimeStamping,
    }
}

/// The public base URL under which the revocation responder serves `/.well-known/pki/*`.
#[derive(Clone, Debug)]
pub struct PkiUrls {
    base: String,
}

impl PkiUrls {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
        }
    }
    pub fn crl(&self, issuer: Uuid) -> String {
        format!("{}/.well-known/pki/crl/{issuer}", self.base)
    }
    pub fn ocsp(&self, issuer: Uuid) -> String {
        format!("{}/.well-known/pki/ocsp/{issuer}", self.base)
    }
    pub fn ca(&self, issuer: Uuid) -> String {
        format!("{}/.well-known/pki/ca/{issuer}", self.base)
    }

    /// CRL distribution point and AIA (OCSP + caIssuers) pointing at `issuer`. The distribution
    /// point is the issuer's full CRL, or for a partitioned issuer the CRL of the shard `serial`
    /// falls in.
    fn revocation_pointers(&self, params: &mut CertificateParams, issuer: &LoadedIssuer, serial: &[u8]) {
        let crl = match &issuer.crl_partition {
            Some(p) => p.shard_url(crl_shard(serial, p.shards)),
            None => self.crl(issuer.id),
        };
        params.crl_distribution_points = vec![CrlDistributionPoint { uris: vec![crl] }];
        params.custom_extensions.push(CustomExtension::from_oid_content(
            OID_AUTHORITY_INFO_ACCESS,
            authority_info_access(&self.ocsp(issuer.id), &self.ca(issuer.id)),
        ));
    }
}

/// How a partitioned issuer splits its CRL: into `shards` CRLs published at `{url}/{shard}`,
/// shards numbered from 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrlPartition {
    /// The issuer's CRL URL without the shard, fixed when the issuer was created.
    pub url: String,
    pub shards: u16,
}

impl CrlPartition {
    pub fn shard_url(&self, shard: u16) -> String {
        format!("{}/{shard}", self.url)
    }
}

/// The CRL shard (1 to `shards`) a certificate with this serial belongs to: its last two octets,
/// big-endian, modulo `shards`, plus one; 0 when the issuer is not partitioned. The database
/// computes the same (`certctl_crl_shard`) to file each revocation in its shard's CRL.
pub fn crl_shard(serial: &[u8], shards: u16) -> u16 {
    if shards == 0 {
        return 0;
    }
    let low = match serial {
        [] => 0,
        [b] => u16::from(*b),
        [.., a, b] => u16::from_be_bytes([*a, *b]),
    };
    low % shards + 1
}

/// A CA ready to sign: its certificate and its decrypted key.
pub struct LoadedIssuer {
    pub id: Uuid,
    pub certificate_der: Vec<u8>,
    pub not_after: OffsetDateTime,
    pub key_algorithm: KeyAlgorithm,
    pub identity: CaIdentity,
    pub common_name: String,
    /// Set for an issuer whose CRL is partitioned: its certificates point at their shard's CRL.
    pub crl_partition: Option<CrlPartition>,
    issuer: Issuer<'static, KeyPair>,
}

impl LoadedIssuer {
    pub fn load(
        id: Uuid,
        certificate_der: Vec<u8>,
        key_algorithm: KeyAlgorithm,
        pkcs8: &[u8],
    ) -> Result<Self, PkiError> {
        let key = load_key(key_algorithm, pkcs8)?;
        let (_, parsed) = x509_parser::parse_x509_certificate(&certificate_der)
            .map_err(|e| PkiError::Build(format!("stored CA certificate does not parse: {e}")))?;
        let not_after = parsed.validity().not_after.to_datetime();
        let common_name = parsed
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .unwrap_or_default()
            .to_owned();
        let identity = CaIdentity::from_certificate(&certificate_der)?;
        let issuer = Issuer::from_ca_cert_der(&certificate_der.clone().into(), key)?;
        Ok(Self {
            id,
            certificate_der,
            not_after,
            key_algorithm,
            identity,
            common_name,
            crl_partition: None,
            issuer,
        })
    }

    /// The same issuer, signing certificates that point at their shard of a partitioned CRL.
    pub fn with_crl_partition(mut self, partition: Option<CrlPartition>) -> Self {
        self.crl_partition = partition;
        self
    }

    pub fn key(&self) -> &KeyPair {
        self.issuer.key()
    }
}

/// A signed certificate.
pub struct IssuedCertificate {
    pub der: Vec<u8>,
    pub pem: String,
    pub serial: [u8; 16],
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

impl IssuedCertificate {
    pub fn serial_hex(&self) -> String {
        hex::encode(self.serial)
    }
}

pub struct CaRequest<'a> {
    pub id: Uuid,
    pub common_name: &'a str,
    pub key: &'a KeyPair,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// `None` for a self-signed root.
    pub parent: Option<&'a LoadedIssuer>,
    pub urls: &'a PkiUrls,
}

/// The fields every certificate certctl builds starts from: a subject with one common name, the
/// serial, and the validity truncated to whole seconds (what DER `UTCTime` can carry).
fn base_params(
    common_name: &str,
    serial: &[u8],
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, common_name);
    params.serial_number = Some(SerialNumber::from_slice(serial));
    params.not_before = truncate_seconds(not_before);
    params.not_after = truncate_seconds(not_after);
    params
}

/// RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING contents. It is what
/// OpenSSL computes and what linters recognise, and it equals the OCSP `issuerKeyHash`.
fn key_identifier(key: &impl PublicKeyData) -> rcgen::KeyIdMethod {
    let hash = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, key.der_bytes());
    rcgen::KeyIdMethod::PreSpecified(hash.as_ref().to_vec())
}

fn truncate_seconds(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0).unwrap_or(t)
}

/// Builds a root (self-signed) or intermediate CA certificate.
pub fn build_ca(req: CaRequest<'_>) -> Result<IssuedCertificate, PkiError> {
    let serial = random_serial()?;
    let mut params = base_params(req.common_name, &serial, req.not_before, req.not_after);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.key_identifier_method = key_identifier(req.key);
    let cert = match req.parent {
        None => {
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.self_signed(req.key)?
        }
        Some(parent) => {
            // An intermediate issues end-entity certificates only.
            params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            params.use_authority_key_identifier_extension = true;
            req.urls.revocation_pointers(&mut params, parent, &serial);
            params.signed_by(req.key, &parent.issuer)?
        }
    };
    Ok(IssuedCertificate {
        der: cert.der().to_vec(),
        pem: cert.pem(),
        serial,
        not_before: params.not_before,
        not_after: params.not_after,
    })
}

pub struct LeafRequest<'a> {
    pub common_name: &'a str,
    pub names: &'a [SanName],
    /// DER SubjectPublicKeyInfo of the subject key.
    pub spki_der: &'a [u8],
    pub key_algorithm: KeyAlgorithm,
    pub ekus: &'a [Eku],
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// RFC 9608: carries `noRevAvail` and no CRL or OCSP pointers.
    pub short_lived: bool,
    pub issuer: &'a LoadedIssuer,
    pub urls: &'a PkiUrls,
}

/// Builds and signs an end-entity certificate.
pub fn issue_leaf(req: LeafRequest<'_>) -> Result<IssuedCertificate, PkiError> {
    let public_key =
        rcgen::SubjectPublicKeyInfo::from_der(req.spki_der).map_err(|e| PkiError::UnsupportedKey(e.to_string()))?;
    let serial = random_serial()?;
    let mut params = base_params(req.common_name, &serial, req.not_before, req.not_after);
    params.subject_alt_names = req
        .names
        .iter()
        .map(|n| match n {
            SanName::Dns(d) => d
                .clone()
                .try_into()
                .map(SanType::DnsName)
                .map_err(|_| PkiError::InvalidName(d.clone())),
            SanName::Ip(ip) => Ok(SanType::IpAddress(*ip)),
        })
        .collect::<Result<_, _>>()?;
    // ExplicitNoCa writes basicConstraints cA=false and, with it, a Subject Key Identifier.
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_identifier_method = key_identifier(&public_key);
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    if req.key_algorithm.is_rsa() && req.ekus.contains(&Eku::ServerAuth) {
        params.key_usages.push(KeyUsagePurpose::KeyEncipherment);
    }
    params.extended_key_usages = req.ekus.iter().map(|e| purpose(*e)).collect();
    if req.short_lived {
        params
            .custom_extensions
            .push(CustomExtension::from_oid_content(OID_NO_REV_AVAIL, null_value()));
    } else {
        req.urls.revocation_pointers(&mut params, req.issuer, &serial);
    }
    let cert = params.signed_by(&public_key, &req.issuer.issuer)?;
    Ok(IssuedCertificate {
        der: cert.der().to_vec(),
        pem: cert.pem(),
        serial,
        not_before: params.not_before,
        not_after: params.not_after,
    })
}

/// Builds the delegated OCSP responder certificate of `issuer` (RFC 6960 §4.2.2.2): EKU
/// id-kp-OCSPSigning and `id-pkix-ocsp-nocheck`, so clients need not check its own status, and no
/// revocation pointers.
pub fn issue_ocsp_signer(
    issuer: &LoadedIssuer,
    key: &KeyPair,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<IssuedCertificate, PkiError> {
    let serial = random_serial()?;
    let name = format!("{} OCSP Responder", issuer.common_name);
    let mut params = base_params(&name, &serial, not_before, not_after.min(issuer.not_after));
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_identifier_method = key_identifier(key);
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::OcspSigning];
    params
        .custom_extensions
        .push(CustomExtension::from_oid_content(OID_OCSP_NOCHECK, null_value()));
    let cert = params.signed_by(key, &issuer.issuer)?;
    Ok(IssuedCertificate {
        der: cert.der().to_vec(),
        pem: cert.pem(),
        serial,
        not_before: params.not_before,
        not_after: params.not_after,
    })
}

/// Builds the SCEP Registration Authority certificate of `issuer` (RFC 8894 §2.2): the
/// certificate clients encrypt their requests to and that signs the CertRep replies, so it carries
/// keyUsage digitalSignature and keyEncipherment and its key must be RSA (SCEP's key transport is
/// RSA). `name` goes into the subject as "`<name>` SCEP RA". No revocation pointers: clients use the
/// RA certificate from GetCACert and do not check its status.
pub fn issue_ra_certificate(
    issuer: &LoadedIssuer,
    key: &KeyPair,
    name: &str,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<IssuedCertificate, PkiError> {
    if !is_rsa_key(key) {
        return Err(PkiError::UnsupportedKey(
            "the SCEP RA key must be RSA (SCEP encrypts to it by RSA key transport)".into(),
        ));
    }
    let serial = random_serial()?;
    let common_name = format!("{name} SCEP RA");
    let mut params = base_params(&common_name, &serial, not_before, not_after.min(issuer.not_after));
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_identifier_method = key_identifier(key);
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    let cert = params.signed_by(key, &issuer.issuer)?;
    Ok(IssuedCertificate {
        der: cert.der().to_vec(),
        pem: cert.pem(),
        serial,
        not_before: params.not_before,
        not_after: params.not_after,
    })
}

fn is_rsa_key(key: &KeyPair) -> bool {
    [
        &rcgen::PKCS_RSA_SHA256,
        &rcgen::PKCS_RSA_SHA384,
        &rcgen::PKCS_RSA_SHA512,
    ]
    .iter()
    .any(|alg| key.algorithm() == *alg)
}

/// DER SubjectPublicKeyInfo of a key pair.
pub fn spki_of(key: &KeyPair) -> Vec<u8> {
    key.subject_public_key_info()
}

#[cfg(test)]
mod shard_tests {
    use super::{CrlPartition, crl_shard};

    #[test]
    fn a_serial_falls_in_one_shard_by_its_last_two_octets() {
        assert_eq!(crl_shard(&[0x7f, 0x12, 0x34], 0), 0, "not partitioned");
        assert_eq!(crl_shard(&[0x7f, 0x00, 0x00], 16), 1);
        assert_eq!(crl_shard(&[0x01, 0x12, 0x34], 16), 0x1234 % 16 + 1);
        assert_eq!(crl_shard(&[0x01, 0xff, 0xff], 256), 256);
        assert_eq!(crl_shard(&[0x05], 4), 2, "a one-octet serial");
        // Every shard is reachable and none beyond.
        let mut seen = std::collections::BTreeSet::new();
        for low in 0u16..=u16::MAX {
            let [a, b] = low.to_be_bytes();
            seen.insert(crl_shard(&[0x40, a, b], 7));
        }
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), (1..=7).collect::<Vec<_>>());
        let p = CrlPartition {
            url: "http://pki.test/.well-known/pki/crl/x".into(),
            shards: 7,
        };
        assert_eq!(p.shard_url(3), "http://pki.test/.well-known/pki/crl/x/3");
    }
}

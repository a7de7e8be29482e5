//! Signing of the structures certctl assembles itself (CRLs, OCSP responses) and what a relying
//! party needs to match a CA: its name and key hashes.

use rcgen::{KeyPair, SigningKey};
use ring::digest::{SHA1_FOR_LEGACY_USE_ONLY, SHA256, digest};
use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate};

use super::der::{BIT_STRING, SEQUENCE, push_header};
use super::{KeyAlgorithm, PkiError};

/// DER `AlgorithmIdentifier` of the signatures a key of this type makes. ECDSA's parameters are
/// absent and RSA's are NULL (RFC 5758 §3.2, RFC 4055 §5).
pub fn signature_algorithm_identifier(alg: KeyAlgorithm) -> &'static [u8] {
    match alg {
        KeyAlgorithm::EcdsaP256 => &[0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02],
        KeyAlgorithm::EcdsaP384 => &[0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03],
        _ => &[
            0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00,
        ],
    }
}

/// Signs `tbs` and wraps it as `SEQUENCE { tbs, signatureAlgorithm, signature BIT STRING }`, the
/// shape of a certificate, a CRL and a BasicOCSPResponse (which then appends its `certs`).
pub(crate) fn signed_sequence(
    key: &KeyPair,
    alg: KeyAlgorithm,
    tbs: &[u8],
    trailer: &[u8],
) -> Result<Vec<u8>, PkiError> {
    let signature = key
        .sign(tbs)
        .map_err(|e| PkiError::Build(format!("signing failed: {e}")))?;
    let alg_id = signature_algorithm_identifier(alg);
    let bits_len = signature.len() + 1;
    let mut bits_header = Vec::with_capacity(6);
    push_header(&mut bits_header, BIT_STRING, bits_len);
    let body_len = tbs.len() + alg_id.len() + bits_header.len() + bits_len + trailer.len();
    let mut out = Vec::with_capacity(body_len + 6);
    push_header(&mut out, SEQUENCE, body_len);
    out.extend_from_slice(tbs);
    out.extend_from_slice(alg_id);
    out.extend_from_slice(&bits_header);
    out.push(0); // no unused bits
    out.extend_from_slice(&signature);
    out.extend_from_slice(trailer);
    Ok(out)
}

/// What CRLs and OCSP responses need to know about a CA certificate.
#[derive(Clone, Debug)]
pub struct CaIdentity {
    /// DER of the subject Name, byte for byte as in the certificate.
    pub subject_der: Vec<u8>,
    /// Subject Key Identifier (our CAs always carry one).
    pub key_identifier: Vec<u8>,
    pub name_sha1: [u8; 20],
    pub key_sha1: [u8; 20],
    pub name_sha256: [u8; 32],
    pub key_sha256: [u8; 32],
}

impl CaIdentity {
    pub fn from_certificate(der: &[u8]) -> Result<Self, PkiError> {
        let (_, cert) = X509Certificate::from_der(der)
            .map_err(|e| PkiError::Build(format!("CA certificate does not parse: {e}")))?;
        let subject_der = cert.subject().as_raw().to_vec();
        let key_bits = cert.public_key().subject_public_key.data.to_vec();
        let key_identifier = cert
            .extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
                _ => None,
            })
            .unwrap_or_else(|| sha1(&key_bits).to_vec());
        Ok(Self {
            name_sha1: sha1(&subject_der),
            key_sha1: sha1(&key_bits),
            name_sha256: sha256(&subject_der),
            key_sha256: sha256(&key_bits),
            subject_der,
            key_identifier,
        })
    }
}

pub fn sha1(data: &[u8]) -> [u8; 20] {
    let mut out = [0u8; 20];
    out.copy_from_slice(digest(&SHA1_FOR_LEGACY_USE_ONLY, data).as_ref());
    out
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, data).as_ref());
    out
}

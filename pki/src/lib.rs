//! `certctl-pki`: key generation, CSR checks, CA and leaf certificate construction, CRLs and OCSP.
//! Pure functions over bytes and keys: no database, no broker, so the fuzz targets and the
//! benchmarks can use it alone.
//!
//! Certificates are assembled with rcgen and signed with ring; RSA keys are generated with aws-lc-rs
//! (ring cannot generate them) and then used through ring like any other PKCS#8 key.

mod build;
pub mod crl;
mod csr;
pub mod der;
pub mod dns;
pub mod est;
pub mod jose;
mod keys;
pub mod names;
pub mod ocsp;
pub mod pkcs7;
pub mod scep;
mod sign;

pub use build::{
    CaRequest, CrlPartition, Eku, IssuedCertificate, LeafRequest, LoadedIssuer, PkiUrls, build_ca, crl_shard,
    issue_leaf, issue_ocsp_signer, issue_ra_certificate, spki_of,
};
pub use csr::{ParsedCsr, parse_csr};
pub use keys::{KeyAlgorithm, generate_key, key_algorithm_of_spki, load_key, random_serial, signature_algorithm};
pub use sign::{CaIdentity, sha1, sha256, signature_algorithm_identifier};

/// Failures building or checking PKI material. Variants that describe bad input are shown to the
/// client; the others are internal.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("the CSR is not a valid PEM or DER PKCS#10 request")]
    MalformedCsr,
    #[error("the CSR signature does not verify")]
    BadCsrSignature,
    #[error("unsupported public key: {0}")]
    UnsupportedKey(String),
    #[error("invalid name: {0}")]
    InvalidName(String),
    #[error("certificate construction failed: {0}")]
    Build(String),
    #[error("key generation failed")]
    KeyGeneration,
}

impl From<rcgen::Error> for PkiError {
    fn from(e: rcgen::Error) -> Self {
        PkiError::Build(e.to_string())
    }
}

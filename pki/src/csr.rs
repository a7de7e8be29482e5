//! PKCS#10 parsing. The CSR proves possession of the key; the names in the issued certificate
//! come from the request body and the profile, never from the CSR's own attributes.

use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::prelude::FromDer;

use super::{KeyAlgorithm, PkiError, key_algorithm_of_spki};

/// What certctl takes from a verified CSR.
#[derive(Debug, Clone)]
pub struct ParsedCsr {
    /// DER SubjectPublicKeyInfo, copied into the certificate as is.
    pub spki_der: Vec<u8>,
    pub key_algorithm: KeyAlgorithm,
}

/// Parses a PEM (`CERTIFICATE REQUEST`) or base64-less DER CSR and verifies its self-signature.
pub fn parse_csr(pem_or_der: &[u8]) -> Result<ParsedCsr, PkiError> {
    let der = if pem_or_der.starts_with(b"-----") || pem_or_der.iter().take(64).all(|b| b.is_ascii()) {
        let text = std::str::from_utf8(pem_or_der).map_err(|_| PkiError::MalformedCsr)?;
        let (_, pem) = x509_parser::pem::parse_x509_pem(text.trim().as_bytes()).map_err(|_| PkiError::MalformedCsr)?;
        if pem.label != "CERTIFICATE REQUEST" && pem.label != "NEW CERTIFICATE REQUEST" {
            return Err(PkiError::MalformedCsr);
        }
        pem.contents
    } else {
        pem_or_der.to_vec()
    };
    let (rest, csr) = X509CertificationRequest::from_der(&der).map_err(|_| PkiError::MalformedCsr)?;
    if !rest.is_empty() {
        return Err(PkiError::MalformedCsr);
    }
    let spki_der = csr.certification_request_info.subject_pki.raw.to_vec();
    let key_algorithm = key_algorithm_of_spki(&spki_der)?;
    csr.verify_signature().map_err(|_| PkiError::BadCsrSignature)?;
    Ok(ParsedCsr {
        spki_der,
        key_algorithm,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate_key;

    #[test]
    fn a_generated_csr_verifies_and_a_tampered_one_does_not() {
        let key = generate_key(KeyAlgorithm::EcdsaP256).unwrap();
        let params = rcgen::CertificateParams::new(vec!["a.example".to_string()]).unwrap();
        let csr = params.serialize_request(&key).unwrap();
        let parsed = parse_csr(csr.pem().unwrap().as_bytes()).unwrap();
        assert_eq!(parsed.key_algorithm, KeyAlgorithm::EcdsaP256);

        let mut der = csr.der().to_vec();
        let n = der.len();
        der[n - 5] ^= 0x01;
        assert!(matches!(
            parse_csr(&der),
            Err(PkiError::BadCsrSignature | PkiError::MalformedCsr)
        ));
        assert!(matches!(
            parse_csr(b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----"),
            Err(PkiError::MalformedCsr)
        ));
    }
}

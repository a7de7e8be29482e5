//! PKCS#10 parsing. The CSR proves possession of the key. Through the REST API the names in the
//! issued certificate come from the request body; the enrollment protocols (EST, SCEP), which
//! have no body besides the CSR, take the subject's common name and the requested
//! subjectAltNames from it. Either way the profile's rules decide what is certified.

use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::prelude::FromDer;

use super::{KeyAlgorithm, PkiError, key_algorithm_of_spki};

/// What certctl takes from a verified CSR.
#[derive(Debug, Clone)]
pub struct ParsedCsr {
    /// DER SubjectPublicKeyInfo, copied into the certificate as is.
    pub spki_der: Vec<u8>,
    pub key_algorithm: KeyAlgorithm,
    /// DER of the subject Name, to compare a re-enrollment with the certificate it renews.
    pub subject_der: Vec<u8>,
    /// The subject's first common name, if it has one that is a string.
    pub common_name: Option<String>,
    /// DNS names and IP addresses asked for in an extensionRequest subjectAltName, in order.
    pub requested_names: Vec<String>,
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
    let info = &csr.certification_request_info;
    let common_name = info
        .subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned);
    Ok(ParsedCsr {
        spki_der,
        key_algorithm,
        subject_der: info.subject.as_raw().to_vec(),
        common_name,
        requested_names: requested_names(&csr),
    })
}

/// The DNS and IP subjectAltNames of the CSR's extensionRequest; other kinds are left out.
fn requested_names(csr: &X509CertificationRequest<'_>) -> Vec<String> {
    use x509_parser::extensions::{GeneralName, ParsedExtension};
    let mut names = Vec::new();
    for ext in csr.requested_extensions().into_iter().flatten() {
        let ParsedExtension::SubjectAlternativeName(san) = ext else {
            continue;
        };
        for name in &san.general_names {
            match name {
                GeneralName::DNSName(dns) => names.push((*dns).to_owned()),
                GeneralName::IPAddress(raw) => {
                    if let Ok(v4) = <[u8; 4]>::try_from(*raw) {
                        names.push(std::net::Ipv4Addr::from(v4).to_string());
                    } else if let Ok(v6) = <[u8; 16]>::try_from(*raw) {
                        names.push(std::net::Ipv6Addr::from(v6).to_string());
                    }
                }
                _ => {}
            }
        }
    }
    names
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

    #[test]
    fn the_subject_and_requested_names_are_read_for_the_enrollment_protocols() {
        let key = generate_key(KeyAlgorithm::EcdsaP256).unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["a.example".to_string(), "192.0.2.7".to_string()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Example");
        params.distinguished_name.push(rcgen::DnType::CommonName, "device-17");
        let csr = params.serialize_request(&key).unwrap();
        let parsed = parse_csr(csr.der()).unwrap();
        assert_eq!(parsed.common_name.as_deref(), Some("device-17"));
        assert_eq!(parsed.requested_names, ["a.example", "192.0.2.7"]);
        assert!(!parsed.subject_der.is_empty());
    }
}

//! Reading an EST enrollment body (RFC 7030 §4.2.1, RFC 8951 §3.2): base64 of a DER PKCS#10
//! request, line breaks allowed. Kept apart from HTTP so the fuzz target `est_body` can drive it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::{ParsedCsr, PkiError, parse_csr};

/// Why a body is not an enrollment request.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the body is not base64 (RFC 7030 §4.2.1)")]
    NotBase64,
    #[error(transparent)]
    Csr(#[from] PkiError),
}

/// Decodes a base64 body, ignoring line breaks and other ASCII whitespace; `None` when it is not
/// base64 or decodes to nothing.
pub fn decode_base64_body(body: &[u8]) -> Option<Vec<u8>> {
    let compact: Vec<u8> = body.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
    STANDARD.decode(compact).ok().filter(|d| !d.is_empty())
}

/// The DER request and what certctl takes from it, once its signature verified.
pub fn read_enrollment_body(body: &[u8]) -> Result<(Vec<u8>, ParsedCsr), BodyError> {
    let der = decode_base64_body(body).ok_or(BodyError::NotBase64)?;
    let parsed = parse_csr(&der)?;
    Ok((der, parsed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KeyAlgorithm, generate_key};

    #[test]
    fn bodies_are_read_with_any_line_breaks_and_refused_when_not_base64() {
        let key = generate_key(KeyAlgorithm::EcdsaP256).unwrap();
        let csr = rcgen::CertificateParams::new(vec!["a.example".to_string()])
            .unwrap()
            .serialize_request(&key)
            .unwrap();
        let flat = STANDARD.encode(csr.der());
        let wrapped: String = flat
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join("\r\n");
        let (der, parsed) = read_enrollment_body(wrapped.as_bytes()).unwrap();
        assert_eq!(der, csr.der().to_vec());
        assert_eq!(parsed.key_algorithm, KeyAlgorithm::EcdsaP256);
        assert!(matches!(
            read_enrollment_body(b"not base64!"),
            Err(BodyError::NotBase64)
        ));
        assert!(matches!(read_enrollment_body(b" \n"), Err(BodyError::NotBase64)));
        assert!(matches!(
            read_enrollment_body(b"TUlJQmFkQ1NS"),
            Err(BodyError::Csr(PkiError::MalformedCsr))
        ));
    }
}

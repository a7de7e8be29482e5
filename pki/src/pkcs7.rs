//! PKCS#7 / CMS containers shared by the enrollment protocols: the "certs-only" degenerate
//! SignedData (RFC 5652 §5, RFC 7030 §4.1.3 and RFC 8894 §3.4) that carries certificates with no
//! signature over anything.

use ::der::asn1::SetOfVec;
use ::der::{Any, Decode, Encode};
use cms::cert::CertificateChoices;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{CertificateSet, EncapsulatedContentInfo, SignedData, SignerInfos};
use const_oid::db::rfc5911::{ID_DATA, ID_SIGNED_DATA};

use crate::PkiError;

fn build_error(what: &str, e: impl std::fmt::Display) -> PkiError {
    PkiError::Build(format!("{what}: {e}"))
}

/// The DER of a certs-only SignedData `ContentInfo` holding `certificates` (each DER).
pub fn certs_only(certificates: &[&[u8]]) -> Result<Vec<u8>, PkiError> {
    let mut set = SetOfVec::new();
    for der in certificates {
        let cert = x509_cert::Certificate::from_der(der).map_err(|e| build_error("not a certificate", e))?;
        set.insert(CertificateChoices::Certificate(cert))
            .map_err(|e| build_error("duplicate certificate", e))?;
    }
    let signed = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::new(),
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: ID_DATA,
            econtent: None,
        },
        certificates: Some(CertificateSet(set)),
        crls: None,
        signer_infos: SignerInfos(SetOfVec::new()),
    };
    let content = Any::encode_from(&signed).map_err(|e| build_error("SignedData", e))?;
    ContentInfo {
        content_type: ID_SIGNED_DATA,
        content,
    }
    .to_der()
    .map_err(|e| build_error("ContentInfo", e))
}

/// The certificates (DER) in a certs-only or any other SignedData `ContentInfo`.
pub fn certificates_in(content_info_der: &[u8]) -> Result<Vec<Vec<u8>>, PkiError> {
    let info = ContentInfo::from_der(content_info_der).map_err(|e| build_error("not a ContentInfo", e))?;
    if info.content_type != ID_SIGNED_DATA {
        return Err(PkiError::Build("not a SignedData ContentInfo".into()));
    }
    let signed: SignedData = info.content.decode_as().map_err(|e| build_error("bad SignedData", e))?;
    let mut out = Vec::new();
    for choice in signed.certificates.map(|c| c.0.into_vec()).unwrap_or_default() {
        if let CertificateChoices::Certificate(cert) = choice {
            out.push(cert.to_der().map_err(|e| build_error("certificate", e))?);
        }
    }
    Ok(out)
}

/// A PEM block (RFC 7468): `label` (`CERTIFICATE`, `CERTIFICATE REQUEST`) around the base64 of
/// `der` in lines of 64 characters.
pub fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The DER certificates of a PEM chain, in order; anything that is not a `CERTIFICATE` block is
/// skipped.
pub fn pem_chain_der(pem: &str) -> Vec<Vec<u8>> {
    x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes())
        .filter_map(Result::ok)
        .filter(|p| p.label == "CERTIFICATE")
        .map(|p| p.contents)
        .collect()
}

/// The EST CSR attributes (RFC 7030 §4.5.2, `CsrAttrs ::= SEQUENCE SIZE (0..MAX) OF AttrOrOID`)
/// that tell a client which keys a profile accepts: for each key type, an attribute naming the
/// public key algorithm (with the curve for EC keys, RFC 9908 style) and the signature
/// algorithm OID to sign the CSR with.
pub fn csr_attributes(algorithms: &[crate::KeyAlgorithm]) -> Result<Vec<u8>, PkiError> {
    use crate::KeyAlgorithm as K;
    use const_oid::db::rfc5912::{
        ECDSA_WITH_SHA_256, ECDSA_WITH_SHA_384, ID_EC_PUBLIC_KEY, RSA_ENCRYPTION, SECP_256_R_1, SECP_384_R_1,
        SHA_256_WITH_RSA_ENCRYPTION,
    };
    use x509_cert::attr::Attribute;
    let encode = |e: &dyn Fn() -> ::der::Result<Vec<u8>>| e().map_err(|e| build_error("CSR attributes", e));
    let mut items: Vec<Vec<u8>> = Vec::new();
    let mut push = |der: Vec<u8>| {
        if !items.contains(&der) {
            items.push(der);
        }
    };
    for alg in algorithms {
        let (key, curve, signature) = match alg {
            K::EcdsaP256 => (ID_EC_PUBLIC_KEY, Some(SECP_256_R_1), ECDSA_WITH_SHA_256),
            K::EcdsaP384 => (ID_EC_PUBLIC_KEY, Some(SECP_384_R_1), ECDSA_WITH_SHA_384),
            K::Rsa2048 | K::Rsa3072 | K::Rsa4096 => (RSA_ENCRYPTION, None, SHA_256_WITH_RSA_ENCRYPTION),
        };
        match curve {
            Some(curve) => {
                let mut values = SetOfVec::new();
                values
                    .insert(Any::encode_from(&curve).map_err(|e| build_error("curve", e))?)
                    .map_err(|e| build_error("curve", e))?;
                push(encode(&|| {
                    Attribute {
                        oid: key,
                        values: values.clone(),
                    }
                    .to_der()
                })?);
            }
            None => push(encode(&|| key.to_der())?),
        }
        push(encode(&|| signature.to_der())?);
    }
    let body: Vec<u8> = items.concat();
    Any::new(::der::Tag::Sequence, body)
        .and_then(|any| any.to_der())
        .map_err(|e| build_error("CSR attributes", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KeyAlgorithm, generate_key};

    fn self_signed_pem(cn: &str) -> (Vec<u8>, String) {
        let key = generate_key(KeyAlgorithm::EcdsaP256).unwrap();
        let mut params = rcgen::CertificateParams::new(vec![format!("{cn}.example")]).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, cn);
        let cert = params.self_signed(&key).unwrap();
        (cert.der().to_vec(), cert.pem())
    }

    fn self_signed(cn: &str) -> Vec<u8> {
        self_signed_pem(cn).0
    }

    fn openssl(args: &[&str], input: &[u8]) -> String {
        use std::io::Write;
        let mut child = std::process::Command::new("openssl")
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("openssl runs");
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn openssl_reads_every_certificate_of_a_certs_only_message() {
        let (a, b) = (self_signed("alpha"), self_signed("beta"));
        let p7 = certs_only(&[&a, &b]).unwrap();
        let printed = openssl(&["pkcs7", "-inform", "DER", "-print_certs", "-noout"], &p7);
        assert!(printed.contains("alpha") && printed.contains("beta"), "{printed}");
        let mut back = certificates_in(&p7).unwrap();
        back.sort();
        let mut want = vec![a, b];
        want.sort();
        assert_eq!(back, want);
    }

    #[test]
    fn csr_attributes_name_the_profiles_key_types_for_openssl() {
        let der = csr_attributes(&[KeyAlgorithm::EcdsaP256, KeyAlgorithm::Rsa2048, KeyAlgorithm::Rsa3072]).unwrap();
        let printed = openssl(&["asn1parse", "-inform", "DER"], &der);
        for want in [
            "id-ecPublicKey",
            "prime256v1",
            "ecdsa-with-SHA256",
            "rsaEncryption",
            "sha256WithRSAEncryption",
        ] {
            assert!(printed.contains(want), "{want} missing from:\n{printed}");
        }
        assert_eq!(
            printed.matches(":rsaEncryption").count(),
            1,
            "RSA sizes share one entry:\n{printed}"
        );
    }

    #[test]
    fn pem_chains_become_der_in_order() {
        let ((a, a_pem), (b, b_pem)) = (self_signed_pem("alpha"), self_signed_pem("beta"));
        assert_eq!(pem_chain_der(&(a_pem.clone() + &b_pem)), vec![a.clone(), b]);
        assert_eq!(
            pem("CERTIFICATE", &a).trim(),
            a_pem.trim(),
            "written as rcgen writes it"
        );
    }
}

//! Key algorithms, key generation and serial numbers.

pub use certctl_types::vocab::KeyAlgorithm;
use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_RSA_SHA256, SignatureAlgorithm};
use ring::rand::{SecureRandom, SystemRandom};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use super::PkiError;

/// The signature algorithm a key of this type signs with.
pub fn signature_algorithm(alg: KeyAlgorithm) -> &'static SignatureAlgorithm {
    match alg {
        KeyAlgorithm::EcdsaP256 => &PKCS_ECDSA_P256_SHA256,
        KeyAlgorithm::EcdsaP384 => &PKCS_ECDSA_P384_SHA384,
        KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => &PKCS_RSA_SHA256,
    }
}

/// Loads a PKCS#8 private key of this type for signing.
pub fn load_key(alg: KeyAlgorithm, pkcs8: &[u8]) -> Result<KeyPair, PkiError> {
    KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8.to_vec().into(), signature_algorithm(alg))
        .map_err(|e| PkiError::Build(format!("cannot load private key: {e}")))
}

/// Generates a fresh private key.
pub fn generate_key(alg: KeyAlgorithm) -> Result<KeyPair, PkiError> {
    let size = match alg {
        KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => {
            return KeyPair::generate_for(signature_algorithm(alg)).map_err(|_| PkiError::KeyGeneration);
        }
        KeyAlgorithm::Rsa2048 => aws_lc_rs::rsa::KeySize::Rsa2048,
        KeyAlgorithm::Rsa3072 => aws_lc_rs::rsa::KeySize::Rsa3072,
        KeyAlgorithm::Rsa4096 => aws_lc_rs::rsa::KeySize::Rsa4096,
    };
    use aws_lc_rs::encoding::AsDer;
    let rsa = aws_lc_rs::rsa::KeyPair::generate(size).map_err(|_| PkiError::KeyGeneration)?;
    let pkcs8 = rsa.as_der().map_err(|_| PkiError::KeyGeneration)?;
    load_key(alg, pkcs8.as_ref())
}

const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";

/// Works out the key algorithm of a DER SubjectPublicKeyInfo, refusing anything certctl does not
/// issue for (other curves, RSA sizes other than 2048/3072/4096, Ed25519, RSA-PSS keys).
pub fn key_algorithm_of_spki(spki_der: &[u8]) -> Result<KeyAlgorithm, PkiError> {
    let (_, spki) = SubjectPublicKeyInfo::from_der(spki_der)
        .map_err(|_| PkiError::UnsupportedKey("the public key cannot be parsed".into()))?;
    let alg_oid = spki.algorithm.algorithm.to_id_string();
    match alg_oid.as_str() {
        OID_EC_PUBLIC_KEY => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string())
                .unwrap_or_default();
            match curve.as_str() {
                OID_P256 => Ok(KeyAlgorithm::EcdsaP256),
                OID_P384 => Ok(KeyAlgorithm::EcdsaP384),
                _ => Err(PkiError::UnsupportedKey(format!(
                    "elliptic curve {curve} (only P-256 and P-384)"
                ))),
            }
        }
        OID_RSA_ENCRYPTION => {
            let Ok(PublicKey::RSA(rsa)) = spki.parsed() else {
                return Err(PkiError::UnsupportedKey("malformed RSA public key".into()));
            };
            match rsa_modulus_bits(rsa.modulus) {
                2048 => Ok(KeyAlgorithm::Rsa2048),
                3072 => Ok(KeyAlgorithm::Rsa3072),
                4096 => Ok(KeyAlgorithm::Rsa4096),
                bits => Err(PkiError::UnsupportedKey(format!(
                    "RSA {bits}-bit (only 2048, 3072 and 4096)"
                ))),
            }
        }
        other => Err(PkiError::UnsupportedKey(format!("key algorithm {other}"))),
    }
}

fn rsa_modulus_bits(modulus: &[u8]) -> usize {
    let trimmed: &[u8] = match modulus.iter().position(|b| *b != 0) {
        Some(i) => &modulus[i..],
        None => return 0,
    };
    trimmed.len() * 8 - trimmed[0].leading_zeros() as usize
}

/// A certificate serial: 16 random bytes, top bit cleared (positive) and first byte non-zero, so
/// the DER INTEGER content is exactly these bytes and lookups by serial match byte for byte.
pub fn random_serial() -> Result<[u8; 16], PkiError> {
    let rng = SystemRandom::new();
    let mut serial = [0u8; 16];
    loop {
        rng.fill(&mut serial).map_err(|_| PkiError::KeyGeneration)?;
        serial[0] &= 0x7f;
        if serial[0] != 0 {
            return Ok(serial);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_positive_minimal_integers() {
        for _ in 0..200 {
            let s = random_serial().unwrap();
            assert!(s[0] != 0 && s[0] & 0x80 == 0);
        }
    }

    #[test]
    fn generated_keys_are_recognised() {
        for alg in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::EcdsaP384, KeyAlgorithm::Rsa2048] {
            let key = generate_key(alg).unwrap();
            let spki = rcgen::PublicKeyData::subject_public_key_info(&key);
            assert_eq!(key_algorithm_of_spki(&spki).unwrap(), alg);
        }
    }

    #[test]
    fn modulus_bits_ignore_sign_padding() {
        let mut m = vec![0u8; 257];
        m[1] = 0x80;
        assert_eq!(rsa_modulus_bits(&m), 2048);
    }
}

//! SCEP (RFC 8894) messages: reading a client's pkiMessage (a CMS SignedData whose content is an
//! EnvelopedData encrypted to the Registration Authority) and building the server's CertRep.
//! No HTTP and no database: the api-server routes call [`parse_pki_message`] and
//! [`build_cert_rep`], and decide what to issue in between.
//!
//! Parsing reads untrusted input with the crate's strict DER reader after a bounded BER-to-DER
//! rewrite (some clients send indefinite lengths or chunked OCTET STRINGs). It never allocates
//! from a length field (every length is checked against the bytes present) and never panics; the
//! `scep_pki_message` fuzz target checks this.
//!
//! Cryptography: RSA key transport (PKCS#1 v1.5), RSA PKCS#1 v1.5 and ECDSA signatures, AES-CBC
//! and SHA digests are aws-lc-rs's; DES-CBC and DES-EDE3-CBC, which old clients still use (the
//! micromdm scepclient in Debian encrypts with single DES), are the RustCrypto `des` crate's.

use std::sync::Arc;

use aws_lc_rs::cipher::{
    AES_128, AES_192, AES_256, DecryptionContext, PaddedBlockDecryptingKey, PaddedBlockEncryptingKey, UnboundCipherKey,
};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::rsa::{Pkcs1PrivateDecryptingKey, Pkcs1PublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey};
use aws_lc_rs::signature::{self, KeyPair as _, RsaKeyPair, UnparsedPublicKey, VerificationAlgorithm};
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer;
use x509_parser::time::ASN1Time;

use crate::PkiError;
use crate::der::{DerError, INTEGER, NULL, OCTET_STRING, OID, Reader, SEQUENCE, Tlv, push_tlv, tlv, x509_time};
use crate::pkcs7::certs_only;

const SET: u8 = 0x31;
const UTF8_STRING: u8 = 0x0c;
const PRINTABLE_STRING: u8 = 0x13;
const TELETEX_STRING: u8 = 0x14;
const IA5_STRING: u8 = 0x16;
const UNIVERSAL_STRING: u8 = 0x1c;
const BMP_STRING: u8 = 0x1e;
/// `[0]` constructed: EXPLICIT content, SignedData certificates, SignerInfo signedAttrs.
const CONTEXT_0: u8 = 0xa0;
const CONTEXT_1: u8 = 0xa1;
/// `[0]` primitive: a subjectKeyIdentifier choice, or EncryptedContentInfo's encryptedContent.
const CONTEXT_0_PRIMITIVE: u8 = 0x80;

/// Object identifiers, as DER content octets.
mod oid {
    pub const DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
    pub const SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
    pub const ENVELOPED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03];

    pub const CONTENT_TYPE: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x03];
    pub const MESSAGE_DIGEST: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04];
    pub const SIGNING_TIME: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x05];
    pub const CHALLENGE_PASSWORD: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x07];

    /// id-VeriSign 2.16.840.1.113733.1.9.x, the SCEP attributes (RFC 8894 §3.2.1).
    const fn scep(n: u8) -> [u8; 10] {
        [0x60, 0x86, 0x48, 0x01, 0x86, 0xf8, 0x45, 0x01, 0x09, n]
    }
    pub const MESSAGE_TYPE: &[u8] = &scep(2);
    pub const PKI_STATUS: &[u8] = &scep(3);
    pub const FAIL_INFO: &[u8] = &scep(4);
    pub const SENDER_NONCE: &[u8] = &scep(5);
    pub const RECIPIENT_NONCE: &[u8] = &scep(6);
    pub const TRANSACTION_ID: &[u8] = &scep(7);

    pub const SHA1: &[u8] = &[0x2b, 0x0e, 0x03, 0x02, 0x1a];
    pub const SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
    pub const SHA384: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];
    pub const SHA512: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03];

    pub const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    pub const SHA1_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05];
    pub const SHA256_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
    pub const SHA384_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c];
    pub const SHA512_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d];

    pub const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    pub const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    pub const P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
    pub const ECDSA_WITH_SHA1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01];
    pub const ECDSA_WITH_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
    pub const ECDSA_WITH_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
    pub const ECDSA_WITH_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04];

    pub const DES_CBC: &[u8] = &[0x2b, 0x0e, 0x03, 0x02, 0x07];
    pub const DES_EDE3_CBC: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x03, 0x07];
    pub const AES128_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x02];
    pub const AES192_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x16];
    pub const AES256_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a];
}

/// The longest transactionID accepted: clients use a hash of their key in hex or base64 (at most
/// 128 characters for SHA-512 in hex), and the caller stores it.
const MAX_TRANSACTION_ID: usize = 255;
/// RFC 8894 §3.2.1.5 nonces are 16 bytes; a little slack for clients that differ.
const MAX_NONCE: usize = 64;
/// The senderNonce of every CertRep, as RFC 8894 §3.2.1.5 asks.
const NONCE_LEN: usize = 16;

/// SCEP messageType (RFC 8894 §3.2.1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageType {
    /// 3: the server's reply.
    CertRep,
    /// 17: a certificate request signed with the certificate it renews.
    RenewalReq,
    /// 19: a certificate request (PKCSReq).
    PkcsReq,
    /// 20: CertPoll, called GetCertInitial before RFC 8894: polls a PENDING request.
    CertPoll,
    /// 21: fetches an issued certificate by issuer and serial.
    GetCert,
    /// 22: fetches the CRL of an issuer.
    GetCrl,
}

impl MessageType {
    pub fn code(self) -> u8 {
        match self {
            MessageType::CertRep => 3,
            MessageType::RenewalReq => 17,
            MessageType::PkcsReq => 19,
            MessageType::CertPoll => 20,
            MessageType::GetCert => 21,
            MessageType::GetCrl => 22,
        }
    }

    pub fn from_code(code: u32) -> Option<Self> {
        Some(match code {
            3 => MessageType::CertRep,
            17 => MessageType::RenewalReq,
            19 => MessageType::PkcsReq,
            20 => MessageType::CertPoll,
            21 => MessageType::GetCert,
            22 => MessageType::GetCrl,
            _ => return None,
        })
    }
}

/// SCEP failInfo (RFC 8894 §3.2.1.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailInfo {
    /// 0: unrecognised or unsupported algorithm.
    BadAlg,
    /// 1: integrity check (signature or messageDigest) failed.
    BadMessageCheck,
    /// 2: transaction not permitted or not supported.
    BadRequest,
    /// 3: signingTime not close enough to the server's time.
    BadTime,
    /// 4: no certificate matches the criteria.
    BadCertId,
}

impl FailInfo {
    pub fn code(self) -> u8 {
        match self {
            FailInfo::BadAlg => 0,
            FailInfo::BadMessageCheck => 1,
            FailInfo::BadRequest => 2,
            FailInfo::BadTime => 3,
            FailInfo::BadCertId => 4,
        }
    }
}

/// The message digest a client signed with; the CertRep is signed with the same one, except
/// SHA-1, which is answered with SHA-256 (aws-lc-rs signs no SHA-1, and every client that accepts
/// SHA-1 replies also accepts SHA-256 ones).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DigestAlgorithm {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl DigestAlgorithm {
    /// Also takes the sha*WithRSAEncryption identifiers, which some clients put in
    /// `digestAlgorithm`.
    fn from_oid(oid: &[u8]) -> Option<Self> {
        Some(match oid {
            oid::SHA1 | oid::SHA1_WITH_RSA => DigestAlgorithm::Sha1,
            oid::SHA256 | oid::SHA256_WITH_RSA => DigestAlgorithm::Sha256,
            oid::SHA384 | oid::SHA384_WITH_RSA => DigestAlgorithm::Sha384,
            oid::SHA512 | oid::SHA512_WITH_RSA => DigestAlgorithm::Sha512,
            _ => return None,
        })
    }

    fn oid(self) -> &'static [u8] {
        match self {
            DigestAlgorithm::Sha1 => oid::SHA1,
            DigestAlgorithm::Sha256 => oid::SHA256,
            DigestAlgorithm::Sha384 => oid::SHA384,
            DigestAlgorithm::Sha512 => oid::SHA512,
        }
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        let alg = match self {
            DigestAlgorithm::Sha1 => &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
            DigestAlgorithm::Sha256 => &aws_lc_rs::digest::SHA256,
            DigestAlgorithm::Sha384 => &aws_lc_rs::digest::SHA384,
            DigestAlgorithm::Sha512 => &aws_lc_rs::digest::SHA512,
        };
        aws_lc_rs::digest::digest(alg, data).as_ref().to_vec()
    }

    /// The digest of the reply signed for a client that used `self`.
    fn for_reply(self) -> Self {
        match self {
            DigestAlgorithm::Sha1 => DigestAlgorithm::Sha256,
            other => other,
        }
    }

    fn rsa_signing(self) -> &'static signature::RsaSignatureEncoding {
        match self {
            DigestAlgorithm::Sha384 => &signature::RSA_PKCS1_SHA384,
            DigestAlgorithm::Sha512 => &signature::RSA_PKCS1_SHA512,
            DigestAlgorithm::Sha1 | DigestAlgorithm::Sha256 => &signature::RSA_PKCS1_SHA256,
        }
    }
}

/// The content-encryption algorithm of an EnvelopedData. The reply uses the client's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentEncryption {
    DesCbc,
    DesEde3Cbc,
    Aes128Cbc,
    Aes192Cbc,
    Aes256Cbc,
}

impl ContentEncryption {
    fn from_oid(oid: &[u8]) -> Option<Self> {
        Some(match oid {
            oid::DES_CBC => ContentEncryption::DesCbc,
            oid::DES_EDE3_CBC => ContentEncryption::DesEde3Cbc,
            oid::AES128_CBC => ContentEncryption::Aes128Cbc,
            oid::AES192_CBC => ContentEncryption::Aes192Cbc,
            oid::AES256_CBC => ContentEncryption::Aes256Cbc,
            _ => return None,
        })
    }

    fn oid(self) -> &'static [u8] {
        match self {
            ContentEncryption::DesCbc => oid::DES_CBC,
            ContentEncryption::DesEde3Cbc => oid::DES_EDE3_CBC,
            ContentEncryption::Aes128Cbc => oid::AES128_CBC,
            ContentEncryption::Aes192Cbc => oid::AES192_CBC,
            ContentEncryption::Aes256Cbc => oid::AES256_CBC,
        }
    }

    fn key_len(self) -> usize {
        match self {
            ContentEncryption::DesCbc => 8,
            ContentEncryption::DesEde3Cbc => 24,
            ContentEncryption::Aes128Cbc => 16,
            ContentEncryption::Aes192Cbc => 24,
            ContentEncryption::Aes256Cbc => 32,
        }
    }

    /// Block and IV length.
    fn block_len(self) -> usize {
        match self {
            ContentEncryption::DesCbc | ContentEncryption::DesEde3Cbc => 8,
            _ => 16,
        }
    }

    fn aes(self) -> Option<&'static aws_lc_rs::cipher::Algorithm> {
        match self {
            ContentEncryption::Aes128Cbc => Some(&AES_128),
            ContentEncryption::Aes192Cbc => Some(&AES_192),
            ContentEncryption::Aes256Cbc => Some(&AES_256),
            ContentEncryption::DesCbc | ContentEncryption::DesEde3Cbc => None,
        }
    }

    /// CBC with PKCS#7 padding. `None` for a wrong key or IV length or bad padding.
    fn decrypt(self, key: &[u8], iv: &[u8], ciphertext: &[u8]) -> Option<Vec<u8>> {
        if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(self.block_len()) || iv.len() != self.block_len() {
            return None;
        }
        let mut buf = ciphertext.to_vec();
        let plaintext_len = match self {
            ContentEncryption::DesCbc => cbc::Decryptor::<des::Des>::new_from_slices(key, iv)
                .ok()?
                .decrypt_padded_mut::<Pkcs7>(&mut buf)
                .ok()?
                .len(),
            ContentEncryption::DesEde3Cbc => cbc::Decryptor::<des::TdesEde3>::new_from_slices(key, iv)
                .ok()?
                .decrypt_padded_mut::<Pkcs7>(&mut buf)
                .ok()?
                .len(),
            ContentEncryption::Aes128Cbc | ContentEncryption::Aes192Cbc | ContentEncryption::Aes256Cbc => {
                let alg = self.aes()?;
                let iv: [u8; 16] = iv.try_into().ok()?;
                let key = PaddedBlockDecryptingKey::cbc_pkcs7(UnboundCipherKey::new(alg, key).ok()?).ok()?;
                key.decrypt(&mut buf, DecryptionContext::Iv128(FixedLength::from(iv)))
                    .ok()?
                    .len()
            }
        };
        buf.truncate(plaintext_len);
        Some(buf)
    }

    /// CBC with PKCS#7 padding under a fresh random IV: `(iv, ciphertext)`.
    fn encrypt(self, key: &[u8], plaintext: &[u8]) -> Result<(Vec<u8>, Vec<u8>), PkiError> {
        let failed = || PkiError::Build("content encryption failed".into());
        if let Some(alg) = self.aes() {
            let key = PaddedBlockEncryptingKey::cbc_pkcs7(UnboundCipherKey::new(alg, key).map_err(|_| failed())?)
                .map_err(|_| failed())?;
            let mut buf = plaintext.to_vec();
            let context = key.encrypt(&mut buf).map_err(|_| failed())?;
            let iv: &[u8] = (&context).try_into().map_err(|_| failed())?;
            return Ok((iv.to_vec(), buf));
        }
        let iv = random_bytes(self.block_len())?;
        let mut buf = plaintext.to_vec();
        buf.resize(plaintext.len() + self.block_len(), 0);
        let len = match self {
            ContentEncryption::DesCbc => cbc::Encryptor::<des::Des>::new_from_slices(key, &iv)
                .map_err(|_| failed())?
                .encrypt_padded_mut::<Pkcs7>(&mut buf, plaintext.len())
                .map_err(|_| failed())?
                .len(),
            ContentEncryption::DesEde3Cbc => cbc::Encryptor::<des::TdesEde3>::new_from_slices(key, &iv)
                .map_err(|_| failed())?
                .encrypt_padded_mut::<Pkcs7>(&mut buf, plaintext.len())
                .map_err(|_| failed())?
                .len(),
            ContentEncryption::Aes128Cbc | ContentEncryption::Aes192Cbc | ContentEncryption::Aes256Cbc => {
                return Err(failed());
            }
        };
        buf.truncate(len);
        Ok((iv, buf))
    }
}

fn random_bytes(len: usize) -> Result<Vec<u8>, PkiError> {
    let mut out = vec![0u8; len];
    aws_lc_rs::rand::fill(&mut out).map_err(|_| PkiError::KeyGeneration)?;
    Ok(out)
}

/// The SCEP Registration Authority: the certificate clients encrypt to (from GetCACert) and its
/// RSA key, which decrypts requests and signs replies. Parsed once; clones share it.
#[derive(Clone)]
pub struct Ra(Arc<RaInner>);

struct RaInner {
    certificate_der: Vec<u8>,
    /// The certificate's issuer Name (whole TLV) and serial (INTEGER content octets): the
    /// SignerInfo sid of replies, and what a KeyTransRecipientInfo names when it is addressed to
    /// this RA.
    issuer_der: Vec<u8>,
    serial: Vec<u8>,
    /// Subject Key Identifier, the other way a recipient can be named.
    key_identifier: Vec<u8>,
    decrypting: Pkcs1PrivateDecryptingKey,
    signing: RsaKeyPair,
}

impl std::fmt::Debug for Ra {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ra").finish_non_exhaustive()
    }
}

impl Ra {
    /// `certificate_der` is the RA certificate (see `issue_ra_certificate`), `pkcs8` its RSA
    /// private key. Fails unless the key is RSA and belongs to the certificate.
    pub fn new(certificate_der: Vec<u8>, pkcs8: &[u8]) -> Result<Self, PkiError> {
        let bad = |what: &str| PkiError::Build(format!("SCEP RA: {what}"));
        let (rest, cert) =
            X509Certificate::from_der(&certificate_der).map_err(|_| bad("the certificate does not parse"))?;
        if !rest.is_empty() {
            return Err(bad("trailing bytes after the certificate"));
        }
        let signing = RsaKeyPair::from_pkcs8(pkcs8).map_err(|_| bad("the key is not an RSA PKCS#8 key"))?;
        let spki = cert.public_key();
        if spki.algorithm.algorithm.as_bytes() != oid::RSA_ENCRYPTION
            || spki.subject_public_key.data.as_ref() != signing.public_key().as_ref()
        {
            return Err(bad("the key does not belong to the certificate"));
        }
        let decrypting = PrivateDecryptingKey::from_pkcs8(pkcs8)
            .ok()
            .and_then(|k| Pkcs1PrivateDecryptingKey::new(k).ok())
            .ok_or_else(|| bad("the key cannot decrypt"))?;
        let key_identifier = subject_key_identifier(&cert);
        let issuer_der = cert.issuer().as_raw().to_vec();
        let serial = cert.raw_serial().to_vec();
        Ok(Self(Arc::new(RaInner {
            issuer_der,
            serial,
            key_identifier,
            decrypting,
            signing,
            certificate_der,
        })))
    }

    pub fn certificate_der(&self) -> &[u8] {
        &self.0.certificate_der
    }

    /// `IssuerAndSerialNumber` of the RA certificate.
    fn issuer_and_serial(&self) -> Vec<u8> {
        issuer_and_serial(&self.0.issuer_der, &self.0.serial)
    }

    fn is_named_by(&self, rid: &Identifier<'_>) -> bool {
        match rid {
            Identifier::IssuerAndSerial { issuer, serial } => {
                *issuer == self.0.issuer_der.as_slice() && *serial == self.0.serial.as_slice()
            }
            Identifier::KeyId(id) => *id == self.0.key_identifier.as_slice(),
        }
    }

    /// Decrypts a content-encryption key. On any failure, including a key of the wrong length, it
    /// returns a random key instead (RFC 3218 §2.3.2), so a bad RSA block and a bad content both
    /// end as the same padding or parse failure and the reply is no padding oracle.
    fn unwrap_key(&self, encrypted: &[u8], key_len: usize) -> Result<Vec<u8>, PkiError> {
        let fallback = random_bytes(key_len)?;
        let size = self.0.decrypting.key_size_bytes();
        if encrypted.len() > size {
            return Ok(fallback);
        }
        // Some encoders drop the leading zero octets of the RSA block.
        let mut block = vec![0u8; size - encrypted.len()];
        block.extend_from_slice(encrypted);
        let mut out = vec![0u8; self.0.decrypting.min_output_size()];
        Ok(match self.0.decrypting.decrypt(&block, &mut out) {
            Ok(key) if key.len() == key_len => key.to_vec(),
            _ => fallback,
        })
    }

    fn sign(&self, digest: DigestAlgorithm, message: &[u8]) -> Result<Vec<u8>, PkiError> {
        let key = &self.0.signing;
        let mut sig = vec![0u8; key.public_modulus_len()];
        key.sign(
            digest.rsa_signing(),
            &aws_lc_rs::rand::SystemRandom::new(),
            message,
            &mut sig,
        )
        .map_err(|_| PkiError::Build("SCEP RA signing failed".into()))?;
        Ok(sig)
    }
}

/// The Subject Key Identifier extension, or RFC 5280 method (1) when the certificate has none.
fn subject_key_identifier(cert: &X509Certificate<'_>) -> Vec<u8> {
    cert.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
            _ => None,
        })
        .unwrap_or_else(|| crate::sha1(&cert.public_key().subject_public_key.data).to_vec())
}

/// Who a CertRep answers, from the request's signed attributes and signer: everything a reply
/// needs, so a refused request can be answered too.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requester {
    pub transaction_id: String,
    /// Copied into the reply's recipientNonce.
    pub sender_nonce: Vec<u8>,
    /// The certificate that signed the request: self-signed for a PKCSReq, the certificate being
    /// renewed for a RenewalReq. A SUCCESS reply is encrypted to it.
    pub certificate_der: Vec<u8>,
    /// The client's digest (SHA-256 when it used one certctl does not know).
    pub digest: DigestAlgorithm,
    /// The client's content encryption; `None` when the request failed before it was known.
    pub content_encryption: Option<ContentEncryption>,
}

impl Requester {
    /// Whether a SUCCESS reply can be encrypted to the requester: SCEP's key transport is RSA, so
    /// a request signed with an ECDSA certificate (allowed for renewal) can only be answered with
    /// a FAILURE (badAlg). Check before issuing.
    pub fn can_receive_certificate(&self) -> bool {
        self.content_encryption.is_some() && rsa_encryption_key(&self.certificate_der).is_ok()
    }
}

/// What a request carries inside its envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    /// PKCSReq and RenewalReq: a PKCS#10 request, its signature not yet checked (`parse_csr`).
    CertificationRequest {
        csr_der: Vec<u8>,
        /// The CSR's challengePassword attribute, whatever its string type.
        challenge_password: Option<String>,
    },
    /// CertPoll (GetCertInitial): the issuer and subject Names (DER) of the pending request.
    IssuerAndSubject { issuer_der: Vec<u8>, subject_der: Vec<u8> },
    /// GetCert and GetCRL: an issuer Name (DER) and a serial number (INTEGER content octets, as
    /// certctl's serials are stored).
    IssuerAndSerial { issuer_der: Vec<u8>, serial: Vec<u8> },
}

/// A verified, decrypted SCEP request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PkiRequest {
    pub message_type: MessageType,
    /// Always with `content_encryption` set.
    pub requester: Requester,
    /// The signingTime attribute, if the client sent one (for a badTime policy).
    pub signing_time: Option<OffsetDateTime>,
    pub payload: Payload,
}

/// A pkiMessage that cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ScepError {
    /// Not a signed SCEP message with a transactionID, a senderNonce and a signer certificate,
    /// so there is nobody to send a CertRep to: answer HTTP 400.
    #[error("not a SCEP pkiMessage: {0}")]
    Malformed(&'static str),
    /// A SCEP message that must be answered with a signed CertRep FAILURE carrying `fail_info`
    /// (build it with `requester`).
    #[error("SCEP request refused ({fail_info:?}): {reason}")]
    Failure {
        requester: Box<Requester>,
        fail_info: FailInfo,
        reason: &'static str,
    },
}

/// Turns reader errors into a reason.
trait Context<T> {
    fn ctx(self, what: &'static str) -> Result<T, &'static str>;
}

impl<T> Context<T> for Result<T, DerError> {
    fn ctx(self, what: &'static str) -> Result<T, &'static str> {
        self.map_err(|_| what)
    }
}

/// A SignerInfo sid or a KeyTransRecipientInfo rid.
#[derive(Clone, Copy, Debug)]
enum Identifier<'a> {
    /// The issuer Name (whole TLV) and the serial (INTEGER content octets).
    IssuerAndSerial {
        issuer: &'a [u8],
        serial: &'a [u8],
    },
    KeyId(&'a [u8]),
}

impl<'a> Identifier<'a> {
    /// `IssuerAndSerialNumber` or `[0] SubjectKeyIdentifier`.
    fn read(r: &mut Reader<'a>) -> Result<Self, DerError> {
        let t = r.any()?;
        match t.tag {
            SEQUENCE => {
                let mut ias = Reader::new(t.content);
                let issuer = ias.expect(SEQUENCE)?.raw;
                let serial = ias.expect(INTEGER)?.content;
                ias.finish()?;
                Ok(Identifier::IssuerAndSerial { issuer, serial })
            }
            CONTEXT_0_PRIMITIVE => Ok(Identifier::KeyId(t.content)),
            _ => Err(DerError),
        }
    }

    fn names(&self, cert: &X509Certificate<'_>) -> bool {
        match self {
            Identifier::IssuerAndSerial { issuer, serial } => {
                *issuer == cert.issuer().as_raw() && *serial == cert.raw_serial()
            }
            Identifier::KeyId(id) => *id == subject_key_identifier(cert).as_slice(),
        }
    }
}

/// The parts of the outer SignedData a SCEP server reads.
struct Signed<'a> {
    content_type: &'a [u8],
    /// eContent, empty when absent.
    content: &'a [u8],
    /// The content octets of the `certificates` SET.
    certificates: &'a [u8],
    sid: Identifier<'a>,
    digest_oid: &'a [u8],
    /// The `[0] IMPLICIT` signedAttrs element, header included.
    signed_attrs: Tlv<'a>,
    signature_oid: &'a [u8],
    signature: &'a [u8],
    attributes: Vec<Attribute<'a>>,
}

/// One attribute: its type and the content octets of its SET of values.
struct Attribute<'a> {
    oid: &'a [u8],
    values: &'a [u8],
}

/// ContentInfo → SignedData with exactly one SignerInfo that has signed attributes.
fn read_signed(der: &[u8]) -> Result<Signed<'_>, &'static str> {
    let content = content_info(der, oid::SIGNED_DATA).ctx("not a SignedData ContentInfo")?;
    let mut sd = Reader::new(content);
    sd.expect(INTEGER).ctx("bad SignedData version")?;
    sd.expect(SET).ctx("bad digestAlgorithms")?;
    let encap = sd.expect(SEQUENCE).ctx("bad encapContentInfo")?;
    let (content_type, content) = read_encapsulated(encap.content).ctx("bad encapContentInfo")?;
    let certificates = sd
        .optional(CONTEXT_0)
        .ctx("bad certificates")?
        .map_or(&[][..], |t| t.content);
    sd.optional(CONTEXT_1).ctx("bad crls")?;
    let infos = sd.expect(SET).ctx("bad signerInfos")?;
    sd.finish().ctx("trailing data in SignedData")?;
    let mut infos = Reader::new(infos.content);
    let info = infos.expect(SEQUENCE).ctx("no SignerInfo")?;
    infos.finish().ctx("more than one SignerInfo")?;

    let mut si = Reader::new(info.content);
    si.expect(INTEGER).ctx("bad SignerInfo version")?;
    let sid = Identifier::read(&mut si).ctx("bad SignerInfo sid")?;
    let digest_oid = algorithm(&mut si).ctx("bad digestAlgorithm")?;
    let signed_attrs = si
        .optional(CONTEXT_0)
        .ctx("bad signedAttrs")?
        .ok_or("no signed attributes")?;
    let signature_oid = algorithm(&mut si).ctx("bad signatureAlgorithm")?;
    let signature = si.expect(OCTET_STRING).ctx("bad signature")?.content;
    si.optional(CONTEXT_1).ctx("bad unsignedAttrs")?;
    si.finish().ctx("trailing data in SignerInfo")?;
    let attributes = read_attributes(signed_attrs.content).ctx("bad signed attributes")?;
    Ok(Signed {
        content_type,
        content,
        certificates,
        sid,
        digest_oid,
        signed_attrs,
        signature_oid,
        signature,
        attributes,
    })
}

/// The content of a `ContentInfo` of type `expected`: the element inside `[0] EXPLICIT`.
fn content_info<'a>(der: &'a [u8], expected: &[u8]) -> Result<&'a [u8], DerError> {
    let mut top = Reader::new(der);
    let ci = top.expect(SEQUENCE)?;
    top.finish()?;
    let mut ci = Reader::new(ci.content);
    if ci.expect(OID)?.content != expected {
        return Err(DerError);
    }
    let explicit = ci.expect(CONTEXT_0)?;
    ci.finish()?;
    let mut inner = Reader::new(explicit.content);
    let content = inner.expect(SEQUENCE)?;
    inner.finish()?;
    Ok(content.content)
}

/// `EncapsulatedContentInfo`: the content type and the eContent octets (empty when absent).
fn read_encapsulated(content: &[u8]) -> Result<(&[u8], &[u8]), DerError> {
    let mut r = Reader::new(content);
    let content_type = r.expect(OID)?.content;
    let econtent = match r.optional(CONTEXT_0)? {
        Some(explicit) => {
            let mut inner = Reader::new(explicit.content);
            let octets = inner.expect(OCTET_STRING)?.content;
            inner.finish()?;
            octets
        }
        None => &[],
    };
    r.finish()?;
    Ok((content_type, econtent))
}

/// An `AlgorithmIdentifier`'s OID; the parameters are not read.
fn algorithm<'a>(r: &mut Reader<'a>) -> Result<&'a [u8], DerError> {
    algorithm_with_parameters(r).map(|(oid, _)| oid)
}

/// An `AlgorithmIdentifier`'s OID and its parameters element, if any.
fn algorithm_with_parameters<'a>(r: &mut Reader<'a>) -> Result<(&'a [u8], Option<Tlv<'a>>), DerError> {
    let seq = r.expect(SEQUENCE)?;
    let mut alg = Reader::new(seq.content);
    let oid = alg.expect(OID)?.content;
    let parameters = if alg.is_empty() { None } else { Some(alg.any()?) };
    alg.finish()?;
    Ok((oid, parameters))
}

fn read_attributes(content: &[u8]) -> Result<Vec<Attribute<'_>>, DerError> {
    let mut r = Reader::new(content);
    let mut out = Vec::new();
    while !r.is_empty() {
        let attr = r.expect(SEQUENCE)?;
        let mut a = Reader::new(attr.content);
        let oid = a.expect(OID)?.content;
        let values = a.expect(SET)?.content;
        a.finish()?;
        out.push(Attribute { oid, values });
    }
    Ok(out)
}

/// The single value of the attribute `oid`: `Ok(None)` if absent, `Err` if it occurs twice or
/// has other than one value.
fn single_value<'a>(attributes: &[Attribute<'a>], wanted: &[u8]) -> Result<Option<Tlv<'a>>, DerError> {
    let mut found = attributes.iter().filter(|a| a.oid == wanted);
    let Some(attr) = found.next() else {
        return Ok(None);
    };
    if found.next().is_some() {
        return Err(DerError);
    }
    let mut values = Reader::new(attr.values);
    let value = values.any()?;
    values.finish()?;
    Ok(Some(value))
}

/// A DirectoryString-like value as text: UTF8String, PrintableString, IA5String, TeletexString
/// (read as Latin-1), BMPString and UniversalString.
fn string_value(t: Tlv<'_>) -> Option<String> {
    match t.tag {
        UTF8_STRING => std::str::from_utf8(t.content).ok().map(str::to_owned),
        PRINTABLE_STRING | IA5_STRING => t
            .content
            .is_ascii()
            .then(|| t.content.iter().map(|b| char::from(*b)).collect()),
        TELETEX_STRING => Some(t.content.iter().map(|b| char::from(*b)).collect()),
        BMP_STRING => {
            if !t.content.len().is_multiple_of(2) {
                return None;
            }
            let units = t.content.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]]));
            char::decode_utf16(units).collect::<Result<String, _>>().ok()
        }
        UNIVERSAL_STRING => {
            if !t.content.len().is_multiple_of(4) {
                return None;
            }
            t.content
                .chunks_exact(4)
                .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect()
        }
        _ => None,
    }
}

/// The reply context: transactionID, senderNonce and the signer's certificate. Without them no
/// CertRep can be built.
fn requester_of(signed: &Signed<'_>) -> Result<Requester, &'static str> {
    let transaction_id = single_value(&signed.attributes, oid::TRANSACTION_ID)
        .ok()
        .flatten()
        .filter(|t| matches!(t.tag, PRINTABLE_STRING | UTF8_STRING | IA5_STRING))
        .and_then(string_value)
        .filter(|id| !id.is_empty() && id.len() <= MAX_TRANSACTION_ID)
        .ok_or("no valid transactionID")?;
    let sender_nonce = single_value(&signed.attributes, oid::SENDER_NONCE)
        .ok()
        .flatten()
        .filter(|t| t.tag == OCTET_STRING && (1..=MAX_NONCE).contains(&t.content.len()))
        .ok_or("no valid senderNonce")?
        .content
        .to_vec();
    let certificate_der = signer_certificate(signed.certificates, &signed.sid)
        .ok_or("the signer certificate is not in the message")?
        .to_vec();
    Ok(Requester {
        transaction_id,
        sender_nonce,
        certificate_der,
        digest: DigestAlgorithm::from_oid(signed.digest_oid).unwrap_or(DigestAlgorithm::Sha256),
        content_encryption: None,
    })
}

/// The certificate in `certificates` (a SET's content octets) that `sid` names.
fn signer_certificate<'a>(certificates: &'a [u8], sid: &Identifier<'_>) -> Option<&'a [u8]> {
    let mut r = Reader::new(certificates);
    while let Ok(choice) = r.any() {
        // Other CertificateChoices (attribute certificates, other formats) are tagged [n].
        if choice.tag != SEQUENCE {
            continue;
        }
        if let Ok((_, cert)) = X509Certificate::from_der(choice.raw)
            && sid.names(&cert)
        {
            return Some(choice.raw);
        }
    }
    None
}

/// Parses and verifies a client's pkiMessage (RFC 8894 §3.2, DER or BER), addressed to `ra`:
/// the signature over the signed attributes, the messageDigest of the encapsulated content, the
/// SCEP attributes, and then decrypts the content and reads the request inside.
pub fn parse_pki_message(der: &[u8], ra: &Ra) -> Result<PkiRequest, ScepError> {
    let normalized = ber::to_der(der).map_err(|_| ScepError::Malformed("not a BER or DER encoding"))?;
    let signed = read_signed(&normalized).map_err(ScepError::Malformed)?;
    let mut requester = requester_of(&signed).map_err(ScepError::Malformed)?;
    let refuse = |requester: &Requester, fail_info, reason| ScepError::Failure {
        requester: Box::new(requester.clone()),
        fail_info,
        reason,
    };

    verify(&signed, &requester.certificate_der).map_err(|(info, reason)| refuse(&requester, info, reason))?;
    let message_type = single_value(&signed.attributes, oid::MESSAGE_TYPE)
        .ok()
        .flatten()
        .and_then(string_value)
        .and_then(|s| s.parse::<u32>().ok())
        .and_then(MessageType::from_code)
        .filter(|t| *t != MessageType::CertRep)
        .ok_or_else(|| refuse(&requester, FailInfo::BadRequest, "missing or unsupported messageType"))?;
    let signing_time = single_value(&signed.attributes, oid::SIGNING_TIME)
        .ok()
        .flatten()
        .and_then(|t| ASN1Time::from_der(t.raw).ok())
        .map(|(_, t)| t.to_datetime());
    if signed.content_type != oid::DATA {
        return Err(refuse(
            &requester,
            FailInfo::BadRequest,
            "the signed content is not id-data",
        ));
    }

    let envelope = Envelope::read(signed.content, ra).map_err(|(info, reason)| refuse(&requester, info, reason))?;
    requester.content_encryption = Some(envelope.cipher);
    let plaintext = envelope
        .open(ra)
        .map_err(|(info, reason)| refuse(&requester, info, reason))?;
    let payload =
        read_payload(message_type, &plaintext).map_err(|reason| refuse(&requester, FailInfo::BadRequest, reason))?;
    Ok(PkiRequest {
        message_type,
        requester,
        signing_time,
        payload,
    })
}

/// The key of a signer certificate, as far as verifying goes.
#[derive(Clone, Copy)]
enum SignerKey {
    Rsa,
    P256,
    P384,
}

/// Checks contentType and messageDigest and the signature over the signed attributes.
fn verify(signed: &Signed<'_>, certificate_der: &[u8]) -> Result<(), (FailInfo, &'static str)> {
    let digest =
        DigestAlgorithm::from_oid(signed.digest_oid).ok_or((FailInfo::BadAlg, "unsupported digest algorithm"))?;
    let (_, cert) = X509Certificate::from_der(certificate_der)
        .map_err(|_| (FailInfo::BadMessageCheck, "bad signer certificate"))?;
    let spki = cert.public_key();
    let key = match spki.algorithm.algorithm.as_bytes() {
        oid::RSA_ENCRYPTION => SignerKey::Rsa,
        oid::EC_PUBLIC_KEY => match spki.algorithm.parameters.as_ref().map(|p| p.data) {
            Some(oid::P256) => SignerKey::P256,
            Some(oid::P384) => SignerKey::P384,
            _ => return Err((FailInfo::BadAlg, "unsupported elliptic curve")),
        },
        _ => return Err((FailInfo::BadAlg, "unsupported signer key")),
    };
    let algorithm = verification_algorithm(key, signed.signature_oid, digest)
        .ok_or((FailInfo::BadAlg, "unsupported signature algorithm"))?;

    let bad = |reason| (FailInfo::BadMessageCheck, reason);
    match single_value(&signed.attributes, oid::CONTENT_TYPE) {
        Ok(None) => {}
        Ok(Some(t)) if t.tag == OID && t.content == signed.content_type => {}
        _ => return Err(bad("the contentType attribute does not match the content")),
    }
    let message_digest = single_value(&signed.attributes, oid::MESSAGE_DIGEST)
        .ok()
        .flatten()
        .filter(|t| t.tag == OCTET_STRING)
        .ok_or(bad("no messageDigest attribute"))?;
    if message_digest.content != digest.digest(signed.content).as_slice() {
        return Err(bad("the messageDigest does not match the content"));
    }
    // The signature covers the DER of the attributes as a SET OF, not as [0] IMPLICIT.
    let mut signed_bytes = signed.signed_attrs.raw.to_vec();
    signed_bytes[0] = SET;
    UnparsedPublicKey::new(algorithm, spki.subject_public_key.data.as_ref())
        .verify(&signed_bytes, signed.signature)
        .map_err(|_| bad("the signature does not verify"))
}

/// The verification algorithm for a signer key and the SignerInfo's signatureAlgorithm. That is
/// either the bare key algorithm (rsaEncryption, id-ecPublicKey), with the hash from
/// digestAlgorithm, or a combined one (sha256WithRSAEncryption, ecdsa-with-SHA256...), whose hash
/// is used: clients write either.
fn verification_algorithm(
    key: SignerKey,
    signature_oid: &[u8],
    digest: DigestAlgorithm,
) -> Option<&'static dyn VerificationAlgorithm> {
    use DigestAlgorithm::*;
    let (rsa, hash) = match signature_oid {
        oid::RSA_ENCRYPTION => (true, digest),
        oid::SHA1_WITH_RSA => (true, Sha1),
        oid::SHA256_WITH_RSA => (true, Sha256),
        oid::SHA384_WITH_RSA => (true, Sha384),
        oid::SHA512_WITH_RSA => (true, Sha512),
        oid::EC_PUBLIC_KEY => (false, digest),
        oid::ECDSA_WITH_SHA1 => (false, Sha1),
        oid::ECDSA_WITH_SHA256 => (false, Sha256),
        oid::ECDSA_WITH_SHA384 => (false, Sha384),
        oid::ECDSA_WITH_SHA512 => (false, Sha512),
        _ => return None,
    };
    Some(match (key, rsa, hash) {
        (SignerKey::Rsa, true, Sha1) => &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
        (SignerKey::Rsa, true, Sha256) => &signature::RSA_PKCS1_2048_8192_SHA256,
        (SignerKey::Rsa, true, Sha384) => &signature::RSA_PKCS1_2048_8192_SHA384,
        (SignerKey::Rsa, true, Sha512) => &signature::RSA_PKCS1_2048_8192_SHA512,
        (SignerKey::P256, false, Sha1) => &signature::ECDSA_P256_SHA1_ASN1,
        (SignerKey::P256, false, Sha256) => &signature::ECDSA_P256_SHA256_ASN1,
        (SignerKey::P256, false, Sha384) => &signature::ECDSA_P256_SHA384_ASN1,
        (SignerKey::P256, false, Sha512) => &signature::ECDSA_P256_SHA512_ASN1,
        (SignerKey::P384, false, Sha256) => &signature::ECDSA_P384_SHA256_ASN1,
        (SignerKey::P384, false, Sha384) => &signature::ECDSA_P384_SHA384_ASN1,
        (SignerKey::P384, false, Sha512) => &signature::ECDSA_P384_SHA512_ASN1,
        _ => return None,
    })
}

/// The EnvelopedData of a request (RFC 5652 §6), as far as this RA is concerned.
struct Envelope {
    cipher: ContentEncryption,
    iv: Vec<u8>,
    ciphertext: Vec<u8>,
    /// The encryptedKey of the KeyTransRecipientInfo that names `ra`, if there is one.
    encrypted_key: Option<Vec<u8>>,
}

impl Envelope {
    fn read(content: &[u8], ra: &Ra) -> Result<Self, (FailInfo, &'static str)> {
        let bad = |reason| (FailInfo::BadRequest, reason);
        let der = ber::to_der(content).map_err(|_| bad("the content is not BER or DER"))?;
        let enveloped =
            content_info(&der, oid::ENVELOPED_DATA).map_err(|_| bad("the content is not an EnvelopedData"))?;
        let mut r = Reader::new(enveloped);
        r.expect(INTEGER).map_err(|_| bad("bad EnvelopedData version"))?;
        r.optional(CONTEXT_0).map_err(|_| bad("bad originatorInfo"))?;
        let recipients = r.expect(SET).map_err(|_| bad("bad recipientInfos"))?;
        let eci = r.expect(SEQUENCE).map_err(|_| bad("bad encryptedContentInfo"))?;
        r.optional(CONTEXT_1).map_err(|_| bad("bad unprotectedAttrs"))?;
        r.finish().map_err(|_| bad("trailing data in EnvelopedData"))?;

        let mut eci = Reader::new(eci.content);
        eci.expect(OID).map_err(|_| bad("bad encrypted content type"))?;
        let (cipher_oid, parameters) =
            algorithm_with_parameters(&mut eci).map_err(|_| bad("bad contentEncryptionAlgorithm"))?;
        let cipher =
            ContentEncryption::from_oid(cipher_oid).ok_or((FailInfo::BadAlg, "unsupported content encryption"))?;
        let iv = parameters
            .filter(|p| p.tag == OCTET_STRING && p.content.len() == cipher.block_len())
            .ok_or(bad("bad content-encryption IV"))?
            .content
            .to_vec();
        let ciphertext = encrypted_content(&mut eci).map_err(|_| bad("bad encryptedContent"))?;
        let encrypted_key = key_for(recipients.content, ra).map_err(|_| bad("bad recipientInfos"))?;
        Ok(Self {
            cipher,
            iv,
            ciphertext,
            encrypted_key,
        })
    }

    /// The plaintext.
    fn open(&self, ra: &Ra) -> Result<Vec<u8>, (FailInfo, &'static str)> {
        let encrypted_key = self
            .encrypted_key
            .as_deref()
            .ok_or((FailInfo::BadRequest, "the request is not encrypted to this RA"))?;
        let key = ra
            .unwrap_key(encrypted_key, self.cipher.key_len())
            .map_err(|_| (FailInfo::BadRequest, "no randomness to decrypt with"))?;
        self.cipher
            .decrypt(&key, &self.iv, &self.ciphertext)
            .ok_or((FailInfo::BadRequest, "the request content cannot be decrypted"))
    }
}

/// `[0] IMPLICIT OCTET STRING`, primitive or (BER) constructed of OCTET STRING chunks.
fn encrypted_content(eci: &mut Reader<'_>) -> Result<Vec<u8>, DerError> {
    let t = eci.any()?;
    eci.finish()?;
    match t.tag {
        CONTEXT_0_PRIMITIVE => Ok(t.content.to_vec()),
        CONTEXT_0 => {
            let mut chunks = Reader::new(t.content);
            let mut out = Vec::with_capacity(t.content.len());
            while !chunks.is_empty() {
                out.extend_from_slice(chunks.expect(OCTET_STRING)?.content);
            }
            Ok(out)
        }
        _ => Err(DerError),
    }
}

/// The encryptedKey of the RSA KeyTransRecipientInfo in a recipientInfos SET that names `ra`.
/// Other kinds of recipient, and recipients with another key-encryption algorithm, are skipped.
fn key_for(set: &[u8], ra: &Ra) -> Result<Option<Vec<u8>>, DerError> {
    let mut r = Reader::new(set);
    while !r.is_empty() {
        let info = r.any()?;
        // KeyTransRecipientInfo is the one untagged choice; kari, kekri, pwri and ori are [1]-[4].
        if info.tag != SEQUENCE {
            continue;
        }
        let mut ktri = Reader::new(info.content);
        ktri.expect(INTEGER)?;
        let rid = Identifier::read(&mut ktri)?;
        let key_alg = algorithm(&mut ktri)?;
        let encrypted_key = ktri.expect(OCTET_STRING)?.content;
        ktri.finish()?;
        if key_alg == oid::RSA_ENCRYPTION && ra.is_named_by(&rid) {
            return Ok(Some(encrypted_key.to_vec()));
        }
    }
    Ok(None)
}

/// The request inside the envelope.
fn read_payload(message_type: MessageType, plaintext: &[u8]) -> Result<Payload, &'static str> {
    match message_type {
        MessageType::PkcsReq | MessageType::RenewalReq => {
            let challenge_password = csr_challenge_password(plaintext).ctx("the content is not a PKCS#10 request")?;
            Ok(Payload::CertificationRequest {
                csr_der: plaintext.to_vec(),
                challenge_password,
            })
        }
        MessageType::CertPoll => {
            let der = ber::to_der(plaintext).ctx("the content is not an IssuerAndSubject")?;
            let (issuer, subject) =
                two_elements(&der, SEQUENCE, SEQUENCE).ctx("the content is not an IssuerAndSubject")?;
            Ok(Payload::IssuerAndSubject {
                issuer_der: issuer.raw.to_vec(),
                subject_der: subject.raw.to_vec(),
            })
        }
        MessageType::GetCert | MessageType::GetCrl => {
            let der = ber::to_der(plaintext).ctx("the content is not an IssuerAndSerialNumber")?;
            let (issuer, serial) =
                two_elements(&der, SEQUENCE, INTEGER).ctx("the content is not an IssuerAndSerialNumber")?;
            if serial.content.is_empty() {
                return Err("empty serial number");
            }
            Ok(Payload::IssuerAndSerial {
                issuer_der: issuer.raw.to_vec(),
                serial: serial.content.to_vec(),
            })
        }
        MessageType::CertRep => Err("a CertRep is not a request"),
    }
}

/// `SEQUENCE { first, second }` with the given tags.
fn two_elements(der: &[u8], first: u8, second: u8) -> Result<(Tlv<'_>, Tlv<'_>), DerError> {
    let mut top = Reader::new(der);
    let seq = top.expect(SEQUENCE)?;
    top.finish()?;
    let mut r = Reader::new(seq.content);
    let a = r.expect(first)?;
    let b = r.expect(second)?;
    r.finish()?;
    Ok((a, b))
}

/// Checks the outline of a PKCS#10 request (DER, as its signature needs) and returns its
/// challengePassword attribute. The signature itself is `parse_csr`'s to check.
fn csr_challenge_password(der: &[u8]) -> Result<Option<String>, DerError> {
    let mut top = Reader::new(der);
    let csr = top.expect(SEQUENCE)?;
    top.finish()?;
    let mut csr = Reader::new(csr.content);
    let info = csr.expect(SEQUENCE)?;
    csr.expect(SEQUENCE)?;
    csr.any()?;
    csr.finish()?;
    let mut info = Reader::new(info.content);
    info.expect(INTEGER)?;
    info.expect(SEQUENCE)?;
    info.expect(SEQUENCE)?;
    let attributes = info.optional(CONTEXT_0)?;
    info.finish()?;
    let Some(attributes) = attributes else {
        return Ok(None);
    };
    let attributes = read_attributes(attributes.content)?;
    match single_value(&attributes, oid::CHALLENGE_PASSWORD)? {
        None => Ok(None),
        Some(value) => string_value(value).map(Some).ok_or(DerError),
    }
}

/// What the CertRep answers.
#[derive(Clone, Copy, Debug)]
pub enum ReplyStatus<'a> {
    /// pkiStatus SUCCESS: the certificates, DER, go to the requester in a certs-only PKCS#7
    /// encrypted to its certificate. Put only the issued certificate here (or for GetCert the one
    /// asked for): the certs-only SET is sorted by encoding, and clients such as micromdm's
    /// scepclient take its first certificate as theirs.
    Success { certificates: &'a [&'a [u8]] },
    /// pkiStatus PENDING: the request waits for approval; the client polls.
    Pending,
    /// pkiStatus FAILURE with this failInfo.
    Failure(FailInfo),
}

/// A CertRep to build.
#[derive(Clone, Copy, Debug)]
pub struct Reply<'a> {
    pub requester: &'a Requester,
    pub status: ReplyStatus<'a>,
}

/// Builds the CertRep pkiMessage (RFC 8894 §3.3.2): a SignedData signed by the RA, carrying the
/// RA certificate, with the SCEP attributes (messageType 3, pkiStatus, failInfo, the client's
/// transactionID, its senderNonce as recipientNonce and a fresh senderNonce). On SUCCESS the
/// content is an EnvelopedData for the requester, with the client's content encryption; on
/// PENDING and FAILURE there is no content (`eContent` absent, messageDigest over nothing).
///
/// Fails with [`PkiError::UnsupportedKey`] on SUCCESS when the requester's key is not RSA (see
/// [`Requester::can_receive_certificate`]); answer that with FAILURE badAlg.
pub fn build_cert_rep(ra: &Ra, reply: &Reply<'_>) -> Result<Vec<u8>, PkiError> {
    let requester = reply.requester;
    let digest = requester.digest.for_reply();
    let (status, fail_info, content) = match reply.status {
        ReplyStatus::Success { certificates } => {
            let cipher = requester
                .content_encryption
                .ok_or_else(|| PkiError::Build("the requester's content encryption is not known".into()))?;
            let degenerate = certs_only(certificates)?;
            (
                b"0",
                None,
                Some(envelope(&requester.certificate_der, cipher, &degenerate)?),
            )
        }
        ReplyStatus::Pending => (b"3", None, None),
        ReplyStatus::Failure(info) => (b"2", Some(info), None),
    };
    let econtent = content.as_deref().unwrap_or_default();

    let mut attributes = vec![
        attribute(oid::CONTENT_TYPE, &tlv(OID, oid::DATA)),
        attribute(oid::MESSAGE_DIGEST, &tlv(OCTET_STRING, &digest.digest(econtent))),
        attribute(oid::SIGNING_TIME, &x509_time(OffsetDateTime::now_utc())),
        attribute(oid::MESSAGE_TYPE, &tlv(PRINTABLE_STRING, b"3")),
        attribute(oid::PKI_STATUS, &tlv(PRINTABLE_STRING, status)),
        attribute(oid::TRANSACTION_ID, &text_value(&requester.transaction_id)),
        attribute(oid::RECIPIENT_NONCE, &tlv(OCTET_STRING, &requester.sender_nonce)),
        attribute(oid::SENDER_NONCE, &tlv(OCTET_STRING, &random_bytes(NONCE_LEN)?)),
    ];
    if let Some(info) = fail_info {
        let code = info.code().to_string();
        attributes.push(attribute(oid::FAIL_INFO, &tlv(PRINTABLE_STRING, code.as_bytes())));
    }
    // DER orders a SET OF by the encodings of its elements.
    attributes.sort();
    let signed_attributes = tlv(SET, &attributes.concat());
    let signature = ra.sign(digest, &signed_attributes)?;

    let mut signer_info = tlv(INTEGER, &[1]);
    signer_info.extend(ra.issuer_and_serial());
    signer_info.extend(algorithm_identifier(digest.oid(), None));
    let mut implicit = signed_attributes;
    implicit[0] = CONTEXT_0;
    signer_info.extend(implicit);
    signer_info.extend(algorithm_identifier(oid::RSA_ENCRYPTION, Some(&[NULL, 0])));
    push_tlv(&mut signer_info, OCTET_STRING, &signature);

    let mut encapsulated = tlv(OID, oid::DATA);
    if let Some(content) = &content {
        push_tlv(&mut encapsulated, CONTEXT_0, &tlv(OCTET_STRING, content));
    }
    let mut signed_data = tlv(INTEGER, &[1]);
    push_tlv(&mut signed_data, SET, &algorithm_identifier(digest.oid(), None));
    push_tlv(&mut signed_data, SEQUENCE, &encapsulated);
    push_tlv(&mut signed_data, CONTEXT_0, ra.certificate_der());
    push_tlv(&mut signed_data, SET, &tlv(SEQUENCE, &signer_info));
    Ok(wrap_content_info(oid::SIGNED_DATA, &tlv(SEQUENCE, &signed_data)))
}

/// `Attribute ::= SEQUENCE { type, SET { value } }`.
fn attribute(oid: &[u8], value: &[u8]) -> Vec<u8> {
    let mut body = tlv(OID, oid);
    push_tlv(&mut body, SET, value);
    tlv(SEQUENCE, &body)
}

/// A transactionID as RFC 8894 wants it, a PrintableString, unless it has characters a
/// PrintableString cannot hold (then UTF8String, as some clients send it).
fn text_value(text: &str) -> Vec<u8> {
    let printable = text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b));
    tlv(if printable { PRINTABLE_STRING } else { UTF8_STRING }, text.as_bytes())
}

fn algorithm_identifier(oid: &[u8], parameters: Option<&[u8]>) -> Vec<u8> {
    let mut body = tlv(OID, oid);
    body.extend_from_slice(parameters.unwrap_or_default());
    tlv(SEQUENCE, &body)
}

/// `IssuerAndSerialNumber` from a Name TLV and INTEGER content octets.
fn issuer_and_serial(issuer: &[u8], serial: &[u8]) -> Vec<u8> {
    let mut body = issuer.to_vec();
    push_tlv(&mut body, INTEGER, serial);
    tlv(SEQUENCE, &body)
}

/// `ContentInfo ::= SEQUENCE { contentType, [0] EXPLICIT content }`.
fn wrap_content_info(content_type: &[u8], content: &[u8]) -> Vec<u8> {
    let mut body = tlv(OID, content_type);
    push_tlv(&mut body, CONTEXT_0, content);
    tlv(SEQUENCE, &body)
}

/// The RSA key-transport key of a certificate, and the certificate's issuer and serial.
fn rsa_encryption_key(certificate_der: &[u8]) -> Result<(Pkcs1PublicEncryptingKey, Vec<u8>), PkiError> {
    let (_, cert) = X509Certificate::from_der(certificate_der)
        .map_err(|_| PkiError::UnsupportedKey("the requester certificate does not parse".into()))?;
    let spki = cert.public_key();
    if spki.algorithm.algorithm.as_bytes() != oid::RSA_ENCRYPTION {
        return Err(PkiError::UnsupportedKey(
            "SCEP replies are encrypted by RSA key transport and the requester key is not RSA".into(),
        ));
    }
    let key = PublicEncryptingKey::from_der(spki.raw)
        .ok()
        .and_then(|k| Pkcs1PublicEncryptingKey::new(k).ok())
        .ok_or_else(|| PkiError::UnsupportedKey("the requester RSA key cannot be used (2048 to 8192 bits)".into()))?;
    Ok((key, issuer_and_serial(cert.issuer().as_raw(), cert.raw_serial())))
}

/// An EnvelopedData ContentInfo (RFC 5652 §6) of `plaintext` for the holder of `recipient_der`,
/// an RSA certificate, named by issuer and serial (what every SCEP client matches).
fn envelope(recipient_der: &[u8], cipher: ContentEncryption, plaintext: &[u8]) -> Result<Vec<u8>, PkiError> {
    let (public, rid) = rsa_encryption_key(recipient_der)?;
    let key = random_bytes(cipher.key_len())?;
    let mut encrypted_key = vec![0u8; public.ciphertext_size()];
    let encrypted_key = public
        .encrypt(&key, &mut encrypted_key)
        .map_err(|_| PkiError::Build("RSA key transport failed".into()))?;
    let (iv, ciphertext) = cipher.encrypt(&key, plaintext)?;

    let mut recipient = tlv(INTEGER, &[0]);
    recipient.extend(rid);
    recipient.extend(algorithm_identifier(oid::RSA_ENCRYPTION, Some(&[NULL, 0])));
    push_tlv(&mut recipient, OCTET_STRING, encrypted_key);

    let mut content_info = tlv(OID, oid::DATA);
    content_info.extend(algorithm_identifier(cipher.oid(), Some(&tlv(OCTET_STRING, &iv))));
    push_tlv(&mut content_info, CONTEXT_0_PRIMITIVE, &ciphertext);

    let mut enveloped = tlv(INTEGER, &[0]);
    push_tlv(&mut enveloped, SET, &tlv(SEQUENCE, &recipient));
    push_tlv(&mut enveloped, SEQUENCE, &content_info);
    Ok(wrap_content_info(oid::ENVELOPED_DATA, &tlv(SEQUENCE, &enveloped)))
}

/// BER to DER, for the clients (BouncyCastle-based ones among them) that send indefinite lengths,
/// long-form lengths for short contents or OCTET STRINGs in chunks. Bounded: the output is at most
/// a little longer than the input, and the nesting depth is capped.
mod ber {
    use crate::der::{DerError as BerError, OCTET_STRING, Reader, push_header, push_tlv};

    /// Deeper than any certificate or CMS structure SCEP carries.
    const MAX_DEPTH: usize = 32;
    const CONSTRUCTED: u8 = 0x20;
    const CONSTRUCTED_OCTET_STRING: u8 = OCTET_STRING | CONSTRUCTED;

    /// One BER element, re-encoded as DER (except that SET OF is not re-sorted: signatures cover
    /// the order the signer wrote).
    pub fn to_der(input: &[u8]) -> Result<Vec<u8>, BerError> {
        let mut out = Vec::with_capacity(input.len());
        let rest = element(input, &mut out, 0)?;
        if !rest.is_empty() {
            return Err(BerError);
        }
        Ok(out)
    }

    /// Rewrites the element at the start of `input` onto `out`; returns what follows it.
    fn element<'a>(input: &'a [u8], out: &mut Vec<u8>, depth: usize) -> Result<&'a [u8], BerError> {
        if depth > MAX_DEPTH {
            return Err(BerError);
        }
        let (&tag, rest) = input.split_first().ok_or(BerError)?;
        if tag & 0x1f == 0x1f {
            return Err(BerError); // high tag numbers occur in nothing SCEP carries
        }
        let constructed = tag & CONSTRUCTED != 0;
        let (&first, rest) = rest.split_first().ok_or(BerError)?;
        if first == 0x80 {
            if !constructed {
                return Err(BerError);
            }
            let start = out.len();
            let mut rest = rest;
            loop {
                if let Some(after) = rest.strip_prefix(&[0u8, 0][..]) {
                    rest = after;
                    break;
                }
                rest = element(rest, out, depth + 1)?;
            }
            close_constructed(tag, out, start)?;
            return Ok(rest);
        }
        let (len, rest) = definite_length(first, rest)?;
        if rest.len() < len {
            return Err(BerError);
        }
        let (content, after) = rest.split_at(len);
        if constructed {
            let start = out.len();
            let mut children = content;
            while !children.is_empty() {
                children = element(children, out, depth + 1)?;
            }
            close_constructed(tag, out, start)?;
        } else {
            push_tlv(out, tag, content);
        }
        Ok(after)
    }

    /// Any definite length, minimal or not, that fits in a `usize`.
    fn definite_length(first: u8, rest: &[u8]) -> Result<(usize, &[u8]), BerError> {
        if first < 0x80 {
            return Ok((first as usize, rest));
        }
        let n = (first & 0x7f) as usize;
        if n == 0x7f || rest.len() < n {
            return Err(BerError);
        }
        let (bytes, rest) = rest.split_at(n);
        let mut len = 0usize;
        for b in bytes {
            len = len.checked_mul(256).ok_or(BerError)? | *b as usize;
        }
        Ok((len, rest))
    }

    /// The children of a constructed element are at `out[start..]`: puts its DER header in front
    /// of them, or for a chunked OCTET STRING joins the chunks into one primitive OCTET STRING.
    fn close_constructed(tag: u8, out: &mut Vec<u8>, start: usize) -> Result<(), BerError> {
        if tag == CONSTRUCTED_OCTET_STRING {
            let children = out.split_off(start);
            let mut joined = Vec::with_capacity(children.len());
            let mut r = Reader::new(&children);
            while !r.is_empty() {
                joined.extend_from_slice(r.expect(OCTET_STRING).map_err(|_| BerError)?.content);
            }
            push_tlv(out, OCTET_STRING, &joined);
        } else {
            let mut header = Vec::with_capacity(6);
            push_header(&mut header, tag, out.len() - start);
            out.splice(start..start, header);
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::path::PathBuf;
    use std::process::Command;
    use std::sync::LazyLock;

    use rcgen::{DnType, KeyPair, PublicKeyData, SigningKey};
    use time::Duration;
    use uuid::Uuid;

    use super::*;
    use crate::der::BIT_STRING;
    use crate::{
        CaRequest, Eku, IssuedCertificate, KeyAlgorithm, LeafRequest, LoadedIssuer, PkiUrls, build_ca, generate_key,
        issue_leaf, issue_ra_certificate, parse_csr,
    };

    /// A CA (ECDSA, as certctl's usually are), its RSA RA, and where to write them for OpenSSL.
    struct Fixture {
        issuer: LoadedIssuer,
        ra: Ra,
        ra_key: KeyPair,
        ra_certificate: IssuedCertificate,
        urls: PkiUrls,
    }

    static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| fixture(KeyAlgorithm::EcdsaP256));

    fn fixture(ca_algorithm: KeyAlgorithm) -> Fixture {
        let now = OffsetDateTime::now_utc();
        let urls = PkiUrls::new("https://pki.example");
        let ca_key = generate_key(ca_algorithm).unwrap();
        let id = Uuid::new_v4();
        let ca = build_ca(CaRequest {
            id,
            common_name: "SCEP Test CA",
            key: &ca_key,
            not_before: now - Duration::hours(1),
            not_after: now + Duration::days(365),
            parent: None,
            urls: &urls,
        })
        .unwrap();
        let issuer = LoadedIssuer::load(id, ca.der, ca_algorithm, &ca_key.serialize_der()).unwrap();
        let ra_key = generate_key(KeyAlgorithm::Rsa2048).unwrap();
        let ra_certificate = issue_ra_certificate(
            &issuer,
            &ra_key,
            "SCEP Test CA",
            now - Duration::hours(1),
            now + Duration::days(30),
        )
        .unwrap();
        let ra = Ra::new(ra_certificate.der.clone(), &ra_key.serialize_der()).unwrap();
        Fixture {
            issuer,
            ra,
            ra_key,
            ra_certificate,
            urls,
        }
    }

    /// A SCEP client: its key and the self-signed certificate it signs its first request with.
    struct Client {
        key: KeyPair,
        certificate_der: Vec<u8>,
        certificate_pem: String,
    }

    fn client(key_algorithm: KeyAlgorithm, common_name: &str) -> Client {
        let key = generate_key(key_algorithm).unwrap();
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, common_name);
        let cert = params.self_signed(&key).unwrap();
        Client {
            key,
            certificate_der: cert.der().to_vec(),
            certificate_pem: cert.pem(),
        }
    }

    static RSA_CLIENT: LazyLock<Client> = LazyLock::new(|| client(KeyAlgorithm::Rsa2048, "device-1"));

    fn name(common_name: &str) -> Vec<u8> {
        let mut atv = tlv(OID, &[0x55, 0x04, 0x03]);
        push_tlv(&mut atv, UTF8_STRING, common_name.as_bytes());
        tlv(SEQUENCE, &tlv(SET, &tlv(SEQUENCE, &atv)))
    }

    /// A PKCS#10 request for `key` with the challengePassword, if any, as a string of type `tag`.
    fn csr(key: &KeyPair, common_name: &str, challenge: Option<(u8, &[u8])>) -> Vec<u8> {
        let mut info = tlv(INTEGER, &[0]);
        info.extend(name(common_name));
        info.extend(key.subject_public_key_info());
        let attributes = challenge.map_or_else(Vec::new, |(tag, pw)| attribute(oid::CHALLENGE_PASSWORD, &tlv(tag, pw)));
        push_tlv(&mut info, CONTEXT_0, &attributes);
        let info = tlv(SEQUENCE, &info);
        let mut bits = vec![0];
        bits.extend(key.sign(&info).unwrap());
        let mut body = info;
        body.extend(crate::signature_algorithm_identifier(KeyAlgorithm::Rsa2048));
        push_tlv(&mut body, BIT_STRING, &bits);
        tlv(SEQUENCE, &body)
    }

    /// What a client puts in its pkiMessage, beyond the content.
    struct Request<'a> {
        message_type: &'a [u8],
        transaction_id: &'a str,
        sender_nonce: [u8; 16],
        digest: DigestAlgorithm,
        signature_oid: &'static [u8],
    }

    impl Default for Request<'_> {
        fn default() -> Self {
            Self {
                message_type: b"19",
                transaction_id: "0f6a4c1b2d3e",
                sender_nonce: *b"sixteen byte nce",
                digest: DigestAlgorithm::Sha256,
                signature_oid: oid::RSA_ENCRYPTION,
            }
        }
    }

    /// Signs `message` as `client`: RSA PKCS#1 v1.5 with `digest`, or ECDSA with the client key's
    /// own hash. aws-lc-rs signs no SHA-1, so SHA-1 goes through `openssl pkeyutl`.
    fn client_signature(client: &Client, digest: DigestAlgorithm, message: &[u8]) -> Vec<u8> {
        if !client.key.algorithm().eq(&rcgen::PKCS_RSA_SHA256) {
            return client.key.sign(message).unwrap();
        }
        let encoding = match digest {
            DigestAlgorithm::Sha1 => {
                let dir = TempDir::new("sign");
                std::fs::write(dir.path("key.pem"), client.key.serialize_pem()).unwrap();
                std::fs::write(dir.path("digest"), digest.digest(message)).unwrap();
                openssl(&[
                    "pkeyutl",
                    "-sign",
                    "-inkey",
                    &dir.arg("key.pem"),
                    "-pkeyopt",
                    "digest:sha1",
                    "-in",
                    &dir.arg("digest"),
                    "-out",
                    &dir.arg("sig"),
                ]);
                return std::fs::read(dir.path("sig")).unwrap();
            }
            DigestAlgorithm::Sha256 => &signature::RSA_PKCS1_SHA256,
            DigestAlgorithm::Sha384 => &signature::RSA_PKCS1_SHA384,
            DigestAlgorithm::Sha512 => &signature::RSA_PKCS1_SHA512,
        };
        let key = RsaKeyPair::from_pkcs8(&client.key.serialize_der()).unwrap();
        let mut sig = vec![0; key.public_modulus_len()];
        key.sign(encoding, &aws_lc_rs::rand::SystemRandom::new(), message, &mut sig)
            .unwrap();
        sig
    }

    /// The client side of RFC 8894 §3.2: a SignedData over `content` with the SCEP attributes.
    fn signed_message(client: &Client, request: &Request<'_>, content: &[u8]) -> Vec<u8> {
        let mut attributes = [
            attribute(oid::CONTENT_TYPE, &tlv(OID, oid::DATA)),
            attribute(oid::MESSAGE_DIGEST, &tlv(OCTET_STRING, &request.digest.digest(content))),
            attribute(oid::SIGNING_TIME, &x509_time(OffsetDateTime::now_utc())),
            attribute(oid::MESSAGE_TYPE, &tlv(PRINTABLE_STRING, request.message_type)),
            attribute(
                oid::TRANSACTION_ID,
                &tlv(PRINTABLE_STRING, request.transaction_id.as_bytes()),
            ),
            attribute(oid::SENDER_NONCE, &tlv(OCTET_STRING, &request.sender_nonce)),
        ];
        attributes.sort();
        let signed_attributes = tlv(SET, &attributes.concat());
        let signature = client_signature(client, request.digest, &signed_attributes);
        let (_, cert) = X509Certificate::from_der(&client.certificate_der).unwrap();

        let mut signer_info = tlv(INTEGER, &[1]);
        signer_info.extend(issuer_and_serial(cert.issuer().as_raw(), cert.raw_serial()));
        signer_info.extend(algorithm_identifier(request.digest.oid(), None));
        let mut implicit = signed_attributes;
        implicit[0] = CONTEXT_0;
        signer_info.extend(implicit);
        signer_info.extend(algorithm_identifier(request.signature_oid, None));
        push_tlv(&mut signer_info, OCTET_STRING, &signature);

        let mut encapsulated = tlv(OID, oid::DATA);
        push_tlv(&mut encapsulated, CONTEXT_0, &tlv(OCTET_STRING, content));
        let mut signed_data = tlv(INTEGER, &[1]);
        push_tlv(&mut signed_data, SET, &algorithm_identifier(request.digest.oid(), None));
        push_tlv(&mut signed_data, SEQUENCE, &encapsulated);
        push_tlv(&mut signed_data, CONTEXT_0, &client.certificate_der);
        push_tlv(&mut signed_data, SET, &tlv(SEQUENCE, &signer_info));
        wrap_content_info(oid::SIGNED_DATA, &tlv(SEQUENCE, &signed_data))
    }

    /// A PKCSReq from the RSA client with a challengePassword, encrypted to the RA.
    fn pkcs_req(cipher: ContentEncryption, request: &Request<'_>) -> (Vec<u8>, Vec<u8>) {
        let client = &*RSA_CLIENT;
        let csr = csr(&client.key, "device-1", Some((PRINTABLE_STRING, b"s3cret")));
        let content = envelope(FIXTURE.ra.certificate_der(), cipher, &csr).unwrap();
        (signed_message(client, request, &content), csr)
    }

    fn refusal(result: Result<PkiRequest, ScepError>) -> (Requester, FailInfo) {
        match result {
            Err(ScepError::Failure {
                requester, fail_info, ..
            }) => (*requester, fail_info),
            other => panic!("expected a FAILURE to answer, got {other:?}"),
        }
    }

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            let unique = hex::encode(random_bytes(8).unwrap());
            let dir = std::env::temp_dir().join(format!("certctl-scep-{tag}-{unique}"));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn path(&self, file: &str) -> PathBuf {
            self.0.join(file)
        }

        fn arg(&self, file: &str) -> String {
            self.path(file).to_string_lossy().into_owned()
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn openssl(args: &[&str]) -> String {
        let out = Command::new("openssl").args(args).output().expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn pkcs_req_round_trips_with_every_cipher_and_digest() {
        let cases = [
            (
                ContentEncryption::Aes128Cbc,
                DigestAlgorithm::Sha256,
                oid::SHA256_WITH_RSA,
            ),
            (ContentEncryption::Aes256Cbc, DigestAlgorithm::Sha1, oid::RSA_ENCRYPTION),
            (
                ContentEncryption::DesEde3Cbc,
                DigestAlgorithm::Sha256,
                oid::RSA_ENCRYPTION,
            ),
            (ContentEncryption::DesCbc, DigestAlgorithm::Sha1, oid::SHA1_WITH_RSA),
            (
                ContentEncryption::Aes192Cbc,
                DigestAlgorithm::Sha512,
                oid::SHA512_WITH_RSA,
            ),
            (
                ContentEncryption::Aes256Cbc,
                DigestAlgorithm::Sha384,
                oid::RSA_ENCRYPTION,
            ),
        ];
        for (cipher, digest, signature_oid) in cases {
            let request = Request {
                digest,
                signature_oid,
                ..Request::default()
            };
            let (message, csr) = pkcs_req(cipher, &request);
            let parsed =
                parse_pki_message(&message, &FIXTURE.ra).unwrap_or_else(|e| panic!("{cipher:?} {digest:?}: {e}"));
            assert_eq!(parsed.message_type, MessageType::PkcsReq);
            assert_eq!(
                parsed.requester,
                Requester {
                    transaction_id: "0f6a4c1b2d3e".into(),
                    sender_nonce: b"sixteen byte nce".to_vec(),
                    certificate_der: RSA_CLIENT.certificate_der.clone(),
                    digest,
                    content_encryption: Some(cipher),
                }
            );
            assert!(parsed.requester.can_receive_certificate());
            let age = OffsetDateTime::now_utc() - parsed.signing_time.unwrap();
            assert!(age < Duration::minutes(5), "{age}");
            assert_eq!(
                parsed.payload,
                Payload::CertificationRequest {
                    csr_der: csr.clone(),
                    challenge_password: Some("s3cret".into()),
                }
            );
            parse_csr(&csr).unwrap();
        }
    }

    #[test]
    fn the_challenge_password_is_read_from_any_string_type() {
        let client = &*RSA_CLIENT;
        let bmp: Vec<u8> = "pässword".encode_utf16().flat_map(u16::to_be_bytes).collect();
        type Challenge<'a> = Option<(u8, &'a [u8])>;
        let cases: [(Challenge<'_>, Option<&str>); 5] = [
            (Some((UTF8_STRING, "pässword".as_bytes())), Some("pässword")),
            (Some((IA5_STRING, b"ia5-pw")), Some("ia5-pw")),
            (Some((PRINTABLE_STRING, b"printable")), Some("printable")),
            (Some((BMP_STRING, &bmp)), Some("pässword")),
            (None, None),
        ];
        for (challenge, expected) in cases {
            let csr = csr(&client.key, "device-1", challenge);
            let content = envelope(FIXTURE.ra.certificate_der(), ContentEncryption::Aes128Cbc, &csr).unwrap();
            let message = signed_message(client, &Request::default(), &content);
            let parsed = parse_pki_message(&message, &FIXTURE.ra).unwrap();
            let Payload::CertificationRequest { challenge_password, .. } = parsed.payload else {
                panic!("not a CSR");
            };
            assert_eq!(challenge_password.as_deref(), expected);
        }
    }

    #[test]
    fn polls_and_queries_carry_names_and_serials() {
        let client = &*RSA_CLIENT;
        let issuer = name("SCEP Test CA");
        let subject = name("device-1");
        let mut body = issuer.clone();
        body.extend(&subject);
        let issuer_and_subject = tlv(SEQUENCE, &body);
        let serial = [0x41, 0x02, 0x03];
        let ias = issuer_and_serial(&issuer, &serial);
        let cases: [(&[u8], &Vec<u8>, MessageType); 4] = [
            (b"20", &issuer_and_subject, MessageType::CertPoll),
            (b"21", &ias, MessageType::GetCert),
            (b"22", &ias, MessageType::GetCrl),
            (b"17", &csr(&client.key, "device-1", None), MessageType::RenewalReq),
        ];
        for (code, payload, message_type) in cases {
            let content = envelope(FIXTURE.ra.certificate_der(), ContentEncryption::Aes256Cbc, payload).unwrap();
            let request = Request {
                message_type: code,
                ..Request::default()
            };
            let parsed = parse_pki_message(&signed_message(client, &request, &content), &FIXTURE.ra).unwrap();
            assert_eq!(parsed.message_type, message_type);
            let expected = match message_type {
                MessageType::CertPoll => Payload::IssuerAndSubject {
                    issuer_der: issuer.clone(),
                    subject_der: subject.clone(),
                },
                MessageType::RenewalReq => Payload::CertificationRequest {
                    csr_der: payload.clone(),
                    challenge_password: None,
                },
                _ => Payload::IssuerAndSerial {
                    issuer_der: issuer.clone(),
                    serial: serial.to_vec(),
                },
            };
            assert_eq!(parsed.payload, expected);
        }
    }

    #[test]
    fn an_ecdsa_signer_verifies_but_cannot_receive_a_certificate() {
        for (algorithm, digest) in [
            (KeyAlgorithm::EcdsaP256, DigestAlgorithm::Sha256),
            (KeyAlgorithm::EcdsaP384, DigestAlgorithm::Sha384),
        ] {
            let client = client(algorithm, "renewing-device");
            let signature_oid = if digest == DigestAlgorithm::Sha256 {
                oid::ECDSA_WITH_SHA256
            } else {
                oid::ECDSA_WITH_SHA384
            };
            let request = Request {
                message_type: b"17",
                digest,
                signature_oid,
                ..Request::default()
            };
            let csr = csr(&RSA_CLIENT.key, "renewing-device", None);
            let content = envelope(FIXTURE.ra.certificate_der(), ContentEncryption::Aes128Cbc, &csr).unwrap();
            let parsed = parse_pki_message(&signed_message(&client, &request, &content), &FIXTURE.ra).unwrap();
            assert_eq!(parsed.message_type, MessageType::RenewalReq);
            assert!(!parsed.requester.can_receive_certificate());
            let reply = Reply {
                requester: &parsed.requester,
                status: ReplyStatus::Success {
                    certificates: &[FIXTURE.ra.certificate_der()],
                },
            };
            assert!(matches!(
                build_cert_rep(&FIXTURE.ra, &reply),
                Err(PkiError::UnsupportedKey(_))
            ));
        }
    }

    #[test]
    fn a_bad_signature_or_digest_is_a_bad_message_check_to_answer() {
        let (message, _) = pkcs_req(ContentEncryption::Aes128Cbc, &Request::default());
        // The signature is the message's last element.
        let mut tampered = message.clone();
        *tampered.last_mut().unwrap() ^= 0x01;
        let (requester, fail_info) = refusal(parse_pki_message(&tampered, &FIXTURE.ra));
        assert_eq!(fail_info, FailInfo::BadMessageCheck);
        assert_eq!(requester.transaction_id, "0f6a4c1b2d3e");
        assert_eq!(requester.sender_nonce, b"sixteen byte nce");
        assert_eq!(requester.certificate_der, RSA_CLIENT.certificate_der);

        // The last byte of the encrypted content: the messageDigest no longer matches.
        let csr = csr(&RSA_CLIENT.key, "device-1", None);
        let content = envelope(FIXTURE.ra.certificate_der(), ContentEncryption::Aes128Cbc, &csr).unwrap();
        let mut tampered = signed_message(&RSA_CLIENT, &Request::default(), &content);
        let at = tampered.windows(content.len()).position(|w| w == content).unwrap();
        tampered[at + content.len() - 1] ^= 0x40;
        let (_, fail_info) = refusal(parse_pki_message(&tampered, &FIXTURE.ra));
        assert_eq!(fail_info, FailInfo::BadMessageCheck);
    }

    #[test]
    fn a_request_for_another_recipient_or_of_another_type_is_a_bad_request() {
        let client = &*RSA_CLIENT;
        let csr = csr(&client.key, "device-1", None);
        let content = envelope(&client.certificate_der, ContentEncryption::Aes128Cbc, &csr).unwrap();
        let (requester, fail_info) = refusal(parse_pki_message(
            &signed_message(client, &Request::default(), &content),
            &FIXTURE.ra,
        ));
        assert_eq!(fail_info, FailInfo::BadRequest);
        assert_eq!(requester.content_encryption, Some(ContentEncryption::Aes128Cbc));

        let content = envelope(FIXTURE.ra.certificate_der(), ContentEncryption::Aes128Cbc, &csr).unwrap();
        for code in [&b"3"[..], b"18", b"99", b"x"] {
            let request = Request {
                message_type: code,
                ..Request::default()
            };
            let (_, fail_info) = refusal(parse_pki_message(
                &signed_message(client, &request, &content),
                &FIXTURE.ra,
            ));
            assert_eq!(fail_info, FailInfo::BadRequest, "{code:?}");
        }

        // Not a CSR inside.
        let content = envelope(FIXTURE.ra.certificate_der(), ContentEncryption::Aes128Cbc, b"hello").unwrap();
        let (_, fail_info) = refusal(parse_pki_message(
            &signed_message(client, &Request::default(), &content),
            &FIXTURE.ra,
        ));
        assert_eq!(fail_info, FailInfo::BadRequest);

        // AES-256-GCM (2.16.840.1.101.3.4.1.46) is not a SCEP content encryption.
        let mut content = envelope(FIXTURE.ra.certificate_der(), ContentEncryption::Aes256Cbc, &csr).unwrap();
        let at = content.windows(9).position(|w| w == oid::AES256_CBC).unwrap();
        content[at + 8] = 46;
        let (_, fail_info) = refusal(parse_pki_message(
            &signed_message(client, &Request::default(), &content),
            &FIXTURE.ra,
        ));
        assert_eq!(fail_info, FailInfo::BadAlg);
    }

    #[test]
    fn messages_with_nobody_to_answer_are_malformed() {
        let (message, _) = pkcs_req(ContentEncryption::Aes128Cbc, &Request::default());
        for bad in [
            &[][..],
            b"\x30\x00",
            b"garbage",
            &message[..message.len() / 2],
            &message[1..],
        ] {
            assert!(
                matches!(parse_pki_message(bad, &FIXTURE.ra), Err(ScepError::Malformed(_))),
                "{bad:02x?}"
            );
        }
        let mut extra = message.clone();
        extra.push(0);
        assert!(matches!(
            parse_pki_message(&extra, &FIXTURE.ra),
            Err(ScepError::Malformed(_))
        ));

        // No transactionID.
        let request = Request {
            transaction_id: "",
            ..Request::default()
        };
        let content = envelope(FIXTURE.ra.certificate_der(), ContentEncryption::Aes128Cbc, b"x").unwrap();
        let message = signed_message(&RSA_CLIENT, &request, &content);
        assert!(matches!(
            parse_pki_message(&message, &FIXTURE.ra),
            Err(ScepError::Malformed(_))
        ));
    }

    /// Re-encodes DER as BER the way streaming encoders do: indefinite lengths everywhere and
    /// OCTET STRINGs in 100-byte chunks.
    fn to_ber(der: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut r = Reader::new(der);
        while !r.is_empty() {
            let t = r.any().unwrap();
            if t.tag & 0x20 != 0 {
                out.extend([t.tag, 0x80]);
                out.extend(to_ber(t.content));
                out.extend([0, 0]);
            } else if t.tag == OCTET_STRING && t.content.len() > 100 {
                out.extend([0x24, 0x80]);
                for chunk in t.content.chunks(100) {
                    push_tlv(&mut out, OCTET_STRING, chunk);
                }
                out.extend([0, 0]);
            } else {
                out.extend(t.raw);
            }
        }
        out
    }

    #[test]
    fn ber_messages_and_envelopes_are_read() {
        let client = &*RSA_CLIENT;
        let csr = csr(&client.key, "device-1", Some((PRINTABLE_STRING, b"s3cret")));
        let content = to_ber(&envelope(FIXTURE.ra.certificate_der(), ContentEncryption::Aes128Cbc, &csr).unwrap());
        let message = signed_message(client, &Request::default(), &content);
        let ber = to_ber(&message);
        assert_ne!(ber, message);
        let parsed = parse_pki_message(&ber, &FIXTURE.ra).unwrap();
        assert_eq!(
            parsed.payload,
            Payload::CertificationRequest {
                csr_der: csr,
                challenge_password: Some("s3cret".into()),
            }
        );
        assert_eq!(ber::to_der(&ber).unwrap(), message);
    }

    #[test]
    fn ber_nesting_is_bounded() {
        let mut deep = Vec::new();
        for _ in 0..10_000 {
            deep.extend([0x30, 0x80]);
        }
        deep.extend(std::iter::repeat_n(0, 20_000));
        assert!(ber::to_der(&deep).is_err());
        assert!(ber::to_der(&[0x04, 0x80, 0, 0]).is_err());
        assert!(ber::to_der(&[0x30, 0x89, 1, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn truncations_and_bit_flips_never_panic() {
        let (message, _) = pkcs_req(ContentEncryption::DesEde3Cbc, &Request::default());
        for len in 0..message.len() {
            assert!(parse_pki_message(&message[..len], &FIXTURE.ra).is_err());
        }
        for i in 0..message.len() {
            let mut flipped = message.clone();
            flipped[i] ^= 1 << (i % 8);
            let _ = parse_pki_message(&flipped, &FIXTURE.ra);
        }
        // Past the signature: mangled envelopes and payloads, signed again each time.
        let client = &*RSA_CLIENT;
        let csr = csr(&client.key, "device-1", Some((UTF8_STRING, b"pw")));
        let content = envelope(FIXTURE.ra.certificate_der(), ContentEncryption::Aes128Cbc, &csr).unwrap();
        for i in (0..content.len()).step_by(7) {
            let mut flipped = content.clone();
            flipped[i] ^= 0x80;
            let _ = parse_pki_message(&signed_message(client, &Request::default(), &flipped), &FIXTURE.ra);
            let truncated = &content[..i];
            assert!(parse_pki_message(&signed_message(client, &Request::default(), truncated), &FIXTURE.ra).is_err());
        }
        for i in (0..csr.len()).step_by(5) {
            let content = envelope(FIXTURE.ra.certificate_der(), ContentEncryption::Aes128Cbc, &csr[..i]).unwrap();
            assert!(parse_pki_message(&signed_message(client, &Request::default(), &content), &FIXTURE.ra).is_err());
        }
    }

    /// Issues the certificate a PKCSReq asks for.
    fn issue_for(request: &PkiRequest) -> IssuedCertificate {
        let Payload::CertificationRequest { csr_der, .. } = &request.payload else {
            panic!("not a CSR");
        };
        let csr = parse_csr(csr_der).unwrap();
        let now = OffsetDateTime::now_utc();
        issue_leaf(LeafRequest {
            common_name: csr.common_name.as_deref().unwrap(),
            names: &[],
            spki_der: &csr.spki_der,
            key_algorithm: csr.key_algorithm,
            ekus: &[Eku::ClientAuth],
            not_before: now - Duration::minutes(5),
            not_after: now + Duration::days(30),
            short_lived: false,
            issuer: &FIXTURE.issuer,
            urls: &FIXTURE.urls,
        })
        .unwrap()
    }

    /// Reads our own CertRep back: the SCEP attributes, after checking its signature with the RA
    /// certificate it carries.
    fn read_cert_rep(rep: &[u8]) -> (String, Option<String>, Vec<u8>, Vec<u8>, String) {
        let signed = read_signed(rep).unwrap();
        assert_eq!(
            signer_certificate(signed.certificates, &signed.sid).unwrap(),
            FIXTURE.ra.certificate_der()
        );
        verify(&signed, FIXTURE.ra.certificate_der()).unwrap();
        let text = |oid| string_value(single_value(&signed.attributes, oid).unwrap().unwrap()).unwrap();
        let octets = |oid| single_value(&signed.attributes, oid).unwrap().unwrap().content.to_vec();
        assert_eq!(text(oid::MESSAGE_TYPE), "3");
        let fail_info = single_value(&signed.attributes, oid::FAIL_INFO)
            .unwrap()
            .map(|t| string_value(t).unwrap());
        (
            text(oid::PKI_STATUS),
            fail_info,
            octets(oid::RECIPIENT_NONCE),
            octets(oid::SENDER_NONCE),
            text(oid::TRANSACTION_ID),
        )
    }

    #[test]
    fn openssl_verifies_and_decrypts_a_success_reply() {
        let dir = TempDir::new("success");
        std::fs::write(dir.path("req.crt"), &RSA_CLIENT.certificate_pem).unwrap();
        std::fs::write(dir.path("req.key"), RSA_CLIENT.key.serialize_pem()).unwrap();
        let cases = [
            (ContentEncryption::Aes128Cbc, DigestAlgorithm::Sha256),
            (ContentEncryption::Aes256Cbc, DigestAlgorithm::Sha1),
            (ContentEncryption::Aes192Cbc, DigestAlgorithm::Sha512),
            (ContentEncryption::DesEde3Cbc, DigestAlgorithm::Sha384),
        ];
        for (cipher, digest) in cases {
            let request = Request {
                digest,
                ..Request::default()
            };
            let (message, _) = pkcs_req(cipher, &request);
            let parsed = parse_pki_message(&message, &FIXTURE.ra).unwrap();
            let issued = issue_for(&parsed);
            let reply = Reply {
                requester: &parsed.requester,
                status: ReplyStatus::Success {
                    certificates: &[&issued.der],
                },
            };
            let rep = build_cert_rep(&FIXTURE.ra, &reply).unwrap();

            let (status, fail_info, recipient_nonce, sender_nonce, transaction_id) = read_cert_rep(&rep);
            assert_eq!((status.as_str(), fail_info), ("0", None));
            assert_eq!(recipient_nonce, b"sixteen byte nce");
            assert_eq!(sender_nonce.len(), 16);
            assert_ne!(sender_nonce, recipient_nonce);
            assert_eq!(transaction_id, "0f6a4c1b2d3e");

            std::fs::write(dir.path("rep.der"), &rep).unwrap();
            openssl(&[
                "cms",
                "-verify",
                "-inform",
                "DER",
                "-noverify",
                "-in",
                &dir.arg("rep.der"),
                "-out",
                &dir.arg("env.der"),
            ]);
            openssl(&[
                "cms",
                "-decrypt",
                "-inform",
                "DER",
                "-in",
                &dir.arg("env.der"),
                "-recip",
                &dir.arg("req.crt"),
                "-inkey",
                &dir.arg("req.key"),
                "-out",
                &dir.arg("p7.der"),
            ]);
            let printed = openssl(&["pkcs7", "-inform", "DER", "-print_certs", "-in", &dir.arg("p7.der")]);
            // OpenSSL 3.0 writes "CN = x", later versions "CN=x".
            let printed = printed.replace(" = ", "=");
            assert!(printed.contains("subject=CN=device-1"), "{printed}");
            assert!(printed.contains("issuer=CN=SCEP Test CA"), "{printed}");
            let cipher_name = openssl(&["cms", "-cmsout", "-print", "-inform", "DER", "-in", &dir.arg("env.der")]);
            let expected = match cipher {
                ContentEncryption::Aes128Cbc => "aes-128-cbc",
                ContentEncryption::Aes192Cbc => "aes-192-cbc",
                ContentEncryption::Aes256Cbc => "aes-256-cbc",
                _ => "des-ede3-cbc",
            };
            assert!(cipher_name.contains(expected), "{cipher_name}");
        }
    }

    #[test]
    fn pending_and_failure_replies_have_no_content_and_verify() {
        let (message, _) = pkcs_req(ContentEncryption::Aes128Cbc, &Request::default());
        let parsed = parse_pki_message(&message, &FIXTURE.ra).unwrap();
        let dir = TempDir::new("pending");
        for (status, expected) in [
            (ReplyStatus::Pending, ("3", None)),
            (ReplyStatus::Failure(FailInfo::BadRequest), ("2", Some("2"))),
            (ReplyStatus::Failure(FailInfo::BadCertId), ("2", Some("4"))),
        ] {
            let rep = build_cert_rep(
                &FIXTURE.ra,
                &Reply {
                    requester: &parsed.requester,
                    status,
                },
            )
            .unwrap();
            let signed = read_signed(&rep).unwrap();
            assert!(signed.content.is_empty());
            let (status, fail_info, recipient_nonce, _, _) = read_cert_rep(&rep);
            assert_eq!((status.as_str(), fail_info.as_deref()), expected);
            assert_eq!(recipient_nonce, b"sixteen byte nce");
            // No eContent is a detached signature over empty content for OpenSSL.
            std::fs::write(dir.path("rep.der"), &rep).unwrap();
            std::fs::write(dir.path("empty"), b"").unwrap();
            openssl(&[
                "cms",
                "-verify",
                "-inform",
                "DER",
                "-noverify",
                "-in",
                &dir.arg("rep.der"),
                "-content",
                &dir.arg("empty"),
                "-binary",
            ]);
        }
    }

    #[test]
    fn a_failure_can_be_built_for_a_refused_request() {
        let (mut message, _) = pkcs_req(ContentEncryption::Aes128Cbc, &Request::default());
        *message.last_mut().unwrap() ^= 0xff;
        let Err(ScepError::Failure {
            requester, fail_info, ..
        }) = parse_pki_message(&message, &FIXTURE.ra)
        else {
            panic!("expected a failure");
        };
        let rep = build_cert_rep(
            &FIXTURE.ra,
            &Reply {
                requester: &requester,
                status: ReplyStatus::Failure(fail_info),
            },
        )
        .unwrap();
        let (status, fail_info, recipient_nonce, _, transaction_id) = read_cert_rep(&rep);
        assert_eq!((status.as_str(), fail_info.as_deref()), ("2", Some("1")));
        assert_eq!(recipient_nonce, b"sixteen byte nce");
        assert_eq!(transaction_id, "0f6a4c1b2d3e");
        // A success needs the content encryption, unknown before decryption.
        assert!(
            build_cert_rep(
                &FIXTURE.ra,
                &Reply {
                    requester: &requester,
                    status: ReplyStatus::Success {
                        certificates: &[FIXTURE.ra.certificate_der()]
                    },
                }
            )
            .is_err()
        );
    }

    #[test]
    fn openssl_envelopes_are_decrypted() {
        let dir = TempDir::new("envelope");
        std::fs::write(dir.path("ra.crt"), &FIXTURE.ra_certificate.pem).unwrap();
        std::fs::write(dir.path("other.crt"), &RSA_CLIENT.certificate_pem).unwrap();
        let other = dir.arg("other.crt");
        let csr = csr(&RSA_CLIENT.key, "device-1", Some((PRINTABLE_STRING, b"s3cret")));
        std::fs::write(dir.path("csr.der"), &csr).unwrap();
        for (flags, cipher) in [
            (&["-aes-256-cbc"][..], ContentEncryption::Aes256Cbc),
            (&["-aes-128-cbc", "-keyid"], ContentEncryption::Aes128Cbc),
            (&["-des3"], ContentEncryption::DesEde3Cbc),
            // Encrypted to another certificate as well (clients encrypt to every GetCACert one).
            (&["-aes-192-cbc", "-recip", &other], ContentEncryption::Aes192Cbc),
        ] {
            let mut args = vec!["cms", "-encrypt", "-binary", "-outform", "DER", "-in"];
            let (input, output, recipient) = (dir.arg("csr.der"), dir.arg("env.der"), dir.arg("ra.crt"));
            args.push(&input);
            args.extend(flags);
            args.extend(["-out", &output, "-recip", &recipient]);
            openssl(&args);
            let content = std::fs::read(dir.path("env.der")).unwrap();
            let parsed = parse_pki_message(&signed_message(&RSA_CLIENT, &Request::default(), &content), &FIXTURE.ra)
                .unwrap_or_else(|e| panic!("{flags:?}: {e}"));
            assert_eq!(parsed.requester.content_encryption, Some(cipher));
            assert_eq!(
                parsed.payload,
                Payload::CertificationRequest {
                    csr_der: csr.clone(),
                    challenge_password: Some("s3cret".into()),
                }
            );
        }
    }

    #[test]
    fn the_ra_certificate_is_an_rsa_end_entity_for_signing_and_key_transport() {
        let fixture = &*FIXTURE;
        let (_, cert) = X509Certificate::from_der(&fixture.ra_certificate.der).unwrap();
        assert_eq!(
            cert.subject().iter_common_name().next().unwrap().as_str().unwrap(),
            "SCEP Test CA SCEP RA"
        );
        let usage = cert.key_usage().unwrap().unwrap().value;
        assert!(usage.digital_signature() && usage.key_encipherment() && !usage.key_cert_sign());
        assert!(!cert.is_ca());
        assert!(
            cert.get_extension_unique(&x509_parser::oid_registry::OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER)
                .unwrap()
                .is_some()
        );
        assert!(
            cert.get_extension_unique(&x509_parser::oid_registry::OID_X509_EXT_SUBJECT_KEY_IDENTIFIER)
                .unwrap()
                .is_some()
        );
        assert!(fixture.ra_certificate.not_after <= fixture.issuer.not_after);

        // Capped at the issuer's notAfter.
        let now = OffsetDateTime::now_utc();
        let long =
            issue_ra_certificate(&fixture.issuer, &fixture.ra_key, "x", now, now + Duration::days(3650)).unwrap();
        assert_eq!(long.not_after, fixture.issuer.not_after);

        let ecdsa = generate_key(KeyAlgorithm::EcdsaP256).unwrap();
        assert!(matches!(
            issue_ra_certificate(&fixture.issuer, &ecdsa, "x", now, now + Duration::days(1)),
            Err(PkiError::UnsupportedKey(_))
        ));
        // The key must belong to the certificate.
        let other = generate_key(KeyAlgorithm::Rsa2048).unwrap();
        assert!(Ra::new(fixture.ra_certificate.der.clone(), &other.serialize_der()).is_err());
        assert!(Ra::new(fixture.ra_certificate.der.clone(), &ecdsa.serialize_der()).is_err());
    }

    /// What a run of micromdm's scepclient against [`serve_scep`] saw.
    struct ScepclientRun {
        exit: std::process::ExitStatus,
        output: String,
        /// The PKIOperation bodies it posted, and what they parsed to.
        requests: Vec<(Vec<u8>, Result<PkiRequest, String>)>,
        certificate_pem: Option<String>,
    }

    /// A minimal SCEP HTTP endpoint on loopback for one client run (GetCACaps, GetCACert with the
    /// RA and CA certificates, PKIOperation by POST), answering the first PKIOperation with
    /// PENDING when `pending_first`.
    fn serve_scep(
        listener: std::net::TcpListener,
        stop: &std::sync::atomic::AtomicBool,
        pending_first: bool,
    ) -> Vec<(Vec<u8>, Result<PkiRequest, String>)> {
        use std::io::{BufRead, BufReader, Read, Write};
        use std::sync::atomic::Ordering;
        listener.set_nonblocking(true).unwrap();
        let mut requests = Vec::new();
        while !stop.load(Ordering::SeqCst) {
            let stream = match listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                    continue;
                }
                Err(e) => panic!("{e}"),
            };
            stream.set_nonblocking(false).unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut content_length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    content_length = value.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; content_length];
            reader.read_exact(&mut body).unwrap();
            let (content_type, reply) = if request_line.contains("operation=GetCACaps") {
                (
                    "text/plain",
                    b"POSTPKIOperation\nSHA-256\nAES\nSCEPStandard\nRenewal\n".to_vec(),
                )
            } else if request_line.contains("operation=GetCACert") {
                let certs = [FIXTURE.ra.certificate_der(), &FIXTURE.issuer.certificate_der];
                ("application/x-x509-ca-ra-cert", certs_only(&certs).unwrap())
            } else if request_line.starts_with("POST") && request_line.contains("operation=PKIOperation") {
                let parsed = parse_pki_message(&body, &FIXTURE.ra);
                let rep = match &parsed {
                    Ok(request) if pending_first && requests.is_empty() => build_cert_rep(
                        &FIXTURE.ra,
                        &Reply {
                            requester: &request.requester,
                            status: ReplyStatus::Pending,
                        },
                    ),
                    Ok(request) => {
                        let issued = issue_for(request);
                        build_cert_rep(
                            &FIXTURE.ra,
                            &Reply {
                                requester: &request.requester,
                                status: ReplyStatus::Success {
                                    certificates: &[&issued.der],
                                },
                            },
                        )
                    }
                    Err(ScepError::Failure {
                        requester, fail_info, ..
                    }) => build_cert_rep(
                        &FIXTURE.ra,
                        &Reply {
                            requester,
                            status: ReplyStatus::Failure(*fail_info),
                        },
                    ),
                    Err(ScepError::Malformed(reason)) => panic!("scepclient sent a malformed message: {reason}"),
                };
                requests.push((body, parsed.map_err(|e| e.to_string())));
                ("application/x-pki-message", rep.unwrap())
            } else {
                panic!("unexpected request {request_line}");
            };
            let mut stream = stream;
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                reply.len()
            )
            .unwrap();
            stream.write_all(&reply).unwrap();
        }
        requests
    }

    /// Runs Debian's scepclient (micromdm/scep 2.1.0) against [`serve_scep`]. With
    /// `ca_fingerprint` it encrypts to the RA only; without, to every GetCACert certificate.
    fn run_scepclient(ca_fingerprint: bool, pending_first: bool) -> ScepclientRun {
        use std::sync::atomic::{AtomicBool, Ordering};
        let scepclient = "/usr/bin/scepclient";
        assert!(
            std::path::Path::new(scepclient).exists(),
            "{scepclient} is missing: install Debian's scep package (apt-get install scep)"
        );
        let dir = TempDir::new("scepclient");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/scep", listener.local_addr().unwrap());
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let server = {
            let stop = stop.clone();
            std::thread::spawn(move || serve_scep(listener, &stop, pending_first))
        };
        let fingerprint = hex::encode(crate::sha256(FIXTURE.ra.certificate_der()));
        let mut args = vec![
            "-server-url".to_owned(),
            url,
            "-private-key".into(),
            dir.arg("client.key"),
            "-certificate".into(),
            dir.arg("client.pem"),
            "-challenge".into(),
            "s3cret".into(),
            "-cn".into(),
            "device-7".into(),
        ];
        if ca_fingerprint {
            args.extend(["-ca-fingerprint".into(), fingerprint]);
        }
        let mut child = Command::new(scepclient)
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(if pending_first { 90 } else { 30 });
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                child.kill().unwrap();
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let out = child.wait_with_output().unwrap();
        stop.store(true, Ordering::SeqCst);
        let requests = server.join().unwrap();
        ScepclientRun {
            exit: out.status,
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
            requests,
            certificate_pem: std::fs::read_to_string(dir.path("client.pem")).ok(),
        }
    }

    /// The real peer for the request side and for replies: micromdm's scepclient signs with
    /// SHA-1, encrypts with single DES and decrypts our reply with its own CMS code.
    #[test]
    fn debians_scepclient_enrolls() {
        let run = run_scepclient(true, false);
        assert!(run.exit.success(), "scepclient failed: {}", run.output);
        assert_eq!(run.requests.len(), 1, "{}", run.output);
        let request = run.requests[0].1.as_ref().unwrap();
        assert_eq!(request.message_type, MessageType::PkcsReq);
        assert_eq!(request.requester.digest, DigestAlgorithm::Sha1);
        assert_eq!(request.requester.content_encryption, Some(ContentEncryption::DesCbc));
        let Payload::CertificationRequest { challenge_password, .. } = &request.payload else {
            panic!("not a CSR");
        };
        assert_eq!(challenge_password.as_deref(), Some("s3cret"));
        let pem = run.certificate_pem.unwrap();
        let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
        let cert = pem.parse_x509().unwrap();
        assert_eq!(
            cert.subject().iter_common_name().next().unwrap().as_str().unwrap(),
            "device-7"
        );
        assert_eq!(
            cert.issuer().as_raw(),
            X509Certificate::from_der(&FIXTURE.issuer.certificate_der)
                .unwrap()
                .1
                .subject()
                .as_raw()
        );
    }
}

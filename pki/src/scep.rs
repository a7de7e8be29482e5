//! SCEP (RFC 8894) messages: reading a client's pkiMessage (a CMS SignedData whose content is an
//! EnvelopedData encrypted to the Registration Authority) and building the server's CertRep.
//! No HTTP and no database: the api-server routes call [`parse_pki_message`] and
//! [`build_cert_rep`], and decide what to issue in between.
//!
//! The CMS structures are the RustCrypto `cms` crate's, with `x509-cert` for certificates, names,
//! attributes and PKCS#10, `const-oid` for identifiers and `der` underneath, to read and to build.
//! Declared here with `der`'s derive are only SCEP's IssuerAndSubject, which no crate defines, and
//! the two CMS structures that name a client's certificate, the request's SignedData and the
//! reply's EnvelopedData: cms's own cannot hold a serial number over 20 octets, which certmonger's
//! have, and the request's must keep the signed attributes as the client encoded them (see
//! `AnySerial` and `RequestSignedData`). Parsing reads untrusted input: first a bounded
//! BER-to-DER rewrite (the der crate reads DER only and some clients send indefinite lengths or
//! chunked OCTET STRINGs), then the crates' decoders, which never allocate from a length field
//! that the bytes do not back. Nothing panics on any input; the `scep_pki_message` fuzz target
//! checks this.
//!
//! Cryptography: RSA key transport (PKCS#1 v1.5), RSA PKCS#1 v1.5 and ECDSA signatures, AES-CBC
//! and SHA digests are aws-lc-rs's; DES-CBC and DES-EDE3-CBC, which old clients still use (the
//! micromdm scepclient in Debian encrypts with single DES), are the RustCrypto `des` crate's.
//! (`cms`'s `builder` feature is not used: it would bring the `rsa` crate.)

use std::sync::Arc;
use std::time::SystemTime;

use ::der::asn1::{BmpString, GeneralizedTime, Ia5StringRef, OctetString, PrintableStringRef, SetOfVec};
use ::der::asn1::{UtcTime, Utf8StringRef};
use ::der::{Any, Choice, Decode, Encode, EncodeValue, Sequence, Tag, Tagged};
use aws_lc_rs::cipher::{
    AES_128, AES_192, AES_256, DecryptionContext, PaddedBlockDecryptingKey, PaddedBlockEncryptingKey, UnboundCipherKey,
};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::rsa::{Pkcs1PrivateDecryptingKey, Pkcs1PublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey};
use aws_lc_rs::signature::{self, KeyPair as _, RsaKeyPair, UnparsedPublicKey, VerificationAlgorithm};
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::enveloped_data::{EncryptedContentInfo, EncryptedKey, EnvelopedData, RecipientIdentifier, RecipientInfo};
use cms::signed_data::{
    CertificateSet, DigestAlgorithmIdentifiers, EncapsulatedContentInfo, SignatureValue, SignedAttributes, SignedData,
    SignerIdentifier, SignerInfo, SignerInfos, UnsignedAttributes,
};
use const_oid::ObjectIdentifier;
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::certificate::{CertificateInner, Profile};
use x509_cert::ext::pkix::SubjectKeyIdentifier;
use x509_cert::name::Name;
use x509_cert::request::CertReq;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_cert::time::Time;

use crate::PkiError;
use crate::pkcs7::certs_only;

/// Object identifiers: const-oid's database, and the three it lacks.
mod oid {
    use const_oid::ObjectIdentifier;

    pub use const_oid::db::rfc5911::{
        DES_EDE_3_CBC, ID_AES_128_CBC, ID_AES_192_CBC, ID_AES_256_CBC, ID_CONTENT_TYPE, ID_DATA, ID_ENVELOPED_DATA,
        ID_MESSAGE_DIGEST, ID_SIGNED_DATA, ID_SIGNING_TIME,
    };
    pub use const_oid::db::rfc5912::{
        ECDSA_WITH_SHA_256, ECDSA_WITH_SHA_384, ECDSA_WITH_SHA_512, ID_EC_PUBLIC_KEY, ID_SHA_1, ID_SHA_256, ID_SHA_384,
        ID_SHA_512, RSA_ENCRYPTION, SECP_256_R_1, SECP_384_R_1, SHA_1_WITH_RSA_ENCRYPTION, SHA_256_WITH_RSA_ENCRYPTION,
        SHA_384_WITH_RSA_ENCRYPTION, SHA_512_WITH_RSA_ENCRYPTION,
    };
    /// The SCEP attributes (RFC 8894 §3.2.1).
    pub use const_oid::db::rfc8894::{
        ID_FAIL_INFO, ID_MESSAGE_TYPE, ID_PKI_STATUS, ID_RECIPIENT_NONCE, ID_SENDER_NONCE, ID_TRANSACTION_ID,
    };

    pub const DES_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.7");
    pub const ECDSA_WITH_SHA_1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.1");
    /// PKCS#9 challengePassword (RFC 2985 §5.4.1).
    pub const CHALLENGE_PASSWORD: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.7");
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
    fn from_oid(oid: ObjectIdentifier) -> Option<Self> {
        Some(match oid {
            oid::ID_SHA_1 | oid::SHA_1_WITH_RSA_ENCRYPTION => DigestAlgorithm::Sha1,
            oid::ID_SHA_256 | oid::SHA_256_WITH_RSA_ENCRYPTION => DigestAlgorithm::Sha256,
            oid::ID_SHA_384 | oid::SHA_384_WITH_RSA_ENCRYPTION => DigestAlgorithm::Sha384,
            oid::ID_SHA_512 | oid::SHA_512_WITH_RSA_ENCRYPTION => DigestAlgorithm::Sha512,
            _ => return None,
        })
    }

    fn oid(self) -> ObjectIdentifier {
        match self {
            DigestAlgorithm::Sha1 => oid::ID_SHA_1,
            DigestAlgorithm::Sha256 => oid::ID_SHA_256,
            DigestAlgorithm::Sha384 => oid::ID_SHA_384,
            DigestAlgorithm::Sha512 => oid::ID_SHA_512,
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
    fn from_oid(oid: ObjectIdentifier) -> Option<Self> {
        Some(match oid {
            oid::DES_CBC => ContentEncryption::DesCbc,
            oid::DES_EDE_3_CBC => ContentEncryption::DesEde3Cbc,
            oid::ID_AES_128_CBC => ContentEncryption::Aes128Cbc,
            oid::ID_AES_192_CBC => ContentEncryption::Aes192Cbc,
            oid::ID_AES_256_CBC => ContentEncryption::Aes256Cbc,
            _ => return None,
        })
    }

    fn oid(self) -> ObjectIdentifier {
        match self {
            ContentEncryption::DesCbc => oid::DES_CBC,
            ContentEncryption::DesEde3Cbc => oid::DES_EDE_3_CBC,
            ContentEncryption::Aes128Cbc => oid::ID_AES_128_CBC,
            ContentEncryption::Aes192Cbc => oid::ID_AES_192_CBC,
            ContentEncryption::Aes256Cbc => oid::ID_AES_256_CBC,
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

/// The SCEP Registration Authority: the certificate clients encrypt to (from GetCACert) and its
/// RSA key, which decrypts requests and signs replies. Parsed once; clones share it.
#[derive(Clone)]
pub struct Ra(Arc<RaInner>);

struct RaInner {
    certificate_der: Vec<u8>,
    /// The same, typed, for the certificate set of replies.
    certificate: Certificate,
    /// The SignerInfo sid of replies, and what a KeyTransRecipientInfo names when it is addressed
    /// to this RA.
    issuer_and_serial: IssuerAndSerialNumber,
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
        let certificate = Certificate::from_der(&certificate_der).map_err(|_| bad("the certificate does not parse"))?;
        // Replies carry the typed certificate: it must encode to the very bytes GetCACert serves.
        if certificate.to_der().ok().as_deref() != Some(certificate_der.as_slice()) {
            return Err(bad("the certificate is not DER"));
        }
        let signing = RsaKeyPair::from_pkcs8(pkcs8).map_err(|_| bad("the key is not an RSA PKCS#8 key"))?;
        let spki = &certificate.tbs_certificate.subject_public_key_info;
        if spki.algorithm.oid != oid::RSA_ENCRYPTION
            || spki.subject_public_key.as_bytes() != Some(signing.public_key().as_ref())
        {
            return Err(bad("the key does not belong to the certificate"));
        }
        let decrypting = PrivateDecryptingKey::from_pkcs8(pkcs8)
            .ok()
            .and_then(|k| Pkcs1PrivateDecryptingKey::new(k).ok())
            .ok_or_else(|| bad("the key cannot decrypt"))?;
        Ok(Self(Arc::new(RaInner {
            issuer_and_serial: issuer_and_serial(&certificate),
            key_identifier: subject_key_identifier(&certificate),
            certificate,
            decrypting,
            signing,
            certificate_der,
        })))
    }

    pub fn certificate_der(&self) -> &[u8] {
        &self.0.certificate_der
    }

    fn is_named_by(&self, rid: &RecipientIdentifier) -> bool {
        match rid {
            RecipientIdentifier::IssuerAndSerialNumber(ias) => *ias == self.0.issuer_and_serial,
            RecipientIdentifier::SubjectKeyIdentifier(id) => id.0.as_bytes() == self.0.key_identifier.as_slice(),
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

/// The certificate's `IssuerAndSerialNumber`, how CMS names it.
fn issuer_and_serial(certificate: &Certificate) -> IssuerAndSerialNumber {
    IssuerAndSerialNumber {
        issuer: certificate.tbs_certificate.issuer.clone(),
        serial_number: certificate.tbs_certificate.serial_number.clone(),
    }
}

/// The Subject Key Identifier extension, or RFC 5280 method (1) when the certificate has none.
fn subject_key_identifier<P: Profile>(certificate: &CertificateInner<P>) -> Vec<u8> {
    let tbs = &certificate.tbs_certificate;
    match tbs.get::<SubjectKeyIdentifier>() {
        Ok(Some((_, id))) => id.0.into_bytes(),
        _ => crate::sha1(tbs.subject_public_key_info.subject_public_key.raw_bytes()).to_vec(),
    }
}

/// Whether a SignerInfo's sid names `certificate`.
fn names(sid: &SignerId, certificate: &ClientCertificate) -> bool {
    match sid {
        SignerId::IssuerAndSerialNumber(ias) => *ias == IssuerAndSerial::of(certificate),
        SignerId::SubjectKeyIdentifier(id) => id.0.as_bytes() == subject_key_identifier(certificate).as_slice(),
    }
}

/// x509-cert's RFC 5280 profile but for the length of serial numbers, for the certificates of
/// clients. RFC 5280 §4.1.2.2 keeps the serials that CAs issue to 20 octets and asks certificate
/// users to cope with longer ones: certmonger signs its requests with a certificate it makes
/// itself, with a 32-octet serial, which x509-cert's default profile refuses. cms's types name
/// certificates with that profile (`cms::cert::IssuerAndSerialNumber`), so the two structures
/// that name a client's certificate by issuer and serial, the request's SignedData and the
/// reply's EnvelopedData, are declared here ([`RequestSignedData`], [`ReplyEnvelopedData`]).
#[derive(Clone, Debug, PartialEq, Eq)]
struct AnySerial;

impl Profile for AnySerial {
    fn check_serial_number(_: &SerialNumber<Self>) -> ::der::Result<()> {
        Ok(())
    }
}

/// A client's certificate.
type ClientCertificate = CertificateInner<AnySerial>;

/// `cms::cert::IssuerAndSerialNumber` with a serial number of any length.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct IssuerAndSerial {
    issuer: Name,
    serial_number: SerialNumber<AnySerial>,
}

impl IssuerAndSerial {
    fn of(certificate: &ClientCertificate) -> Self {
        Self {
            issuer: certificate.tbs_certificate.issuer.clone(),
            serial_number: certificate.tbs_certificate.serial_number.clone(),
        }
    }
}

/// `cms::signed_data::SignerIdentifier` with an [`IssuerAndSerial`].
#[derive(Clone, Debug, Eq, PartialEq, Choice)]
enum SignerId {
    IssuerAndSerialNumber(IssuerAndSerial),
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
    SubjectKeyIdentifier(SubjectKeyIdentifier),
}

/// A request's SignedData (RFC 5652 §5.1): `cms::signed_data::SignedData`, but for the
/// [`SignerId`] and for two fields kept as the client encoded them. cms's types sort SET OF
/// elements when decoding and drop DEFAULT values when encoding again, but the signature covers
/// the signed attributes in the client's order, and the signer certificate is handed on byte for
/// byte (to check a renewal against, to encrypt the reply to).
#[derive(Sequence)]
struct RequestSignedData {
    version: CmsVersion,
    digest_algorithms: DigestAlgorithmIdentifiers,
    encap_content_info: EncapsulatedContentInfo,
    /// The CertificateChoices, as sent.
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    certificates: Option<Vec<Any>>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    crls: Option<Vec<Any>>,
    /// A SET OF [`RequestSignerInfo`].
    signer_infos: Any,
}

/// A request's SignerInfo (RFC 5652 §5.3): `cms::signed_data::SignerInfo`, but for the
/// [`SignerId`] and the signed attributes kept as sent (see [`RequestSignedData`]).
#[derive(Sequence)]
struct RequestSignerInfo {
    version: CmsVersion,
    sid: SignerId,
    digest_alg: AlgorithmIdentifierOwned,
    /// The Attributes, as sent.
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    signed_attrs: Option<Vec<Any>>,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: SignatureValue,
    #[asn1(
        context_specific = "1",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    unsigned_attrs: Option<UnsignedAttributes>,
}

/// The EnvelopedData of a SUCCESS reply (RFC 5652 §6.1): `cms::enveloped_data::EnvelopedData`
/// with one KeyTransRecipientInfo, but naming the requester's certificate with an
/// [`IssuerAndSerial`].
#[derive(Sequence)]
struct ReplyEnvelopedData {
    version: CmsVersion,
    /// A SET OF one [`ReplyRecipientInfo`] (der's `SetOfVec` would want an order for it, which
    /// der's derive gives a `SerialNumber` of x509-cert's own profile only).
    recip_infos: Any,
    encrypted_content: EncryptedContentInfo,
}

/// `cms::enveloped_data::KeyTransRecipientInfo` with an [`IssuerAndSerial`].
#[derive(Sequence)]
struct ReplyRecipientInfo {
    version: CmsVersion,
    rid: IssuerAndSerial,
    key_enc_alg: AlgorithmIdentifierOwned,
    enc_key: EncryptedKey,
}

/// The parts of the outer SignedData a SCEP server reads.
struct Signed {
    content_type: ObjectIdentifier,
    /// eContent, empty when absent.
    content: Vec<u8>,
    /// The one SignerInfo, its `signed_attrs` moved to `attributes` and `signed_bytes`.
    signer: RequestSignerInfo,
    attributes: SignedAttributes,
    /// What the signature covers: the signed attributes as the client encoded them, tagged as the
    /// SET OF they are (RFC 5652 §5.4) instead of `[0] IMPLICIT`.
    signed_bytes: Vec<u8>,
    /// The certificates as the client encoded them, in its order.
    certificates: Vec<Vec<u8>>,
}

/// ContentInfo → SignedData with exactly one SignerInfo that has signed attributes.
fn read_signed(der: &[u8]) -> Result<Signed, &'static str> {
    let info = ContentInfo::from_der(der).map_err(|_| "not a ContentInfo")?;
    if info.content_type != oid::ID_SIGNED_DATA {
        return Err("not a SignedData ContentInfo");
    }
    let signed: RequestSignedData = info.content.decode_as().map_err(|_| "bad SignedData")?;
    if signed.signer_infos.tag() != Tag::Set {
        return Err("bad signerInfos");
    }
    let mut signer =
        RequestSignerInfo::from_der(signed.signer_infos.value()).map_err(|_| "not exactly one good SignerInfo")?;
    let signed_bytes =
        as_set(&signer.signed_attrs.take().ok_or("no signed attributes")?).map_err(|_| "bad signed attributes")?;
    let attributes = SignedAttributes::from_der(&signed_bytes).map_err(|_| "bad signed attributes")?;
    let content = match &signed.encap_content_info.econtent {
        Some(econtent) => econtent
            .decode_as::<OctetString>()
            .map_err(|_| "bad encapContentInfo")?
            .into_bytes(),
        None => Vec::new(),
    };
    let certificates = signed
        .certificates
        .unwrap_or_default()
        .iter()
        .map(Encode::to_der)
        .collect::<Result<_, _>>()
        .map_err(|_| "bad certificates")?;
    Ok(Signed {
        content_type: signed.encap_content_info.econtent_type,
        content,
        signer,
        attributes,
        signed_bytes,
        certificates,
    })
}

/// The DER of a SET OF `elements`, in their order.
fn as_set(elements: &[Any]) -> ::der::Result<Vec<u8>> {
    let mut content = Vec::new();
    for element in elements {
        element.encode_to_vec(&mut content)?;
    }
    Any::new(Tag::Set, content)?.to_der()
}

/// The single value of the attribute `wanted`: `Ok(None)` if absent, `Err` if it occurs twice or
/// has other than one value.
fn single_value(attributes: &SetOfVec<Attribute>, wanted: ObjectIdentifier) -> Result<Option<&Any>, ()> {
    let mut found = attributes.iter().filter(|a| a.oid == wanted);
    let Some(attribute) = found.next() else {
        return Ok(None);
    };
    match (found.next(), attribute.values.as_slice()) {
        (None, [value]) => Ok(Some(value)),
        _ => Err(()),
    }
}

/// A DirectoryString-like value as text: UTF8String, PrintableString, IA5String, TeletexString
/// and BMPString. der's `PrintableStringRef` and `TeletexStringRef` are not used: the first
/// refuses characters outside PrintableString's set, which clients put there anyway (`@` and `_`
/// in passwords), the second anything beyond ASCII; these are read as ASCII and as Latin-1.
/// (A UniversalString never gets here: the der crate does not decode its tag.)
fn string_value(value: &Any) -> Option<String> {
    let bytes = value.value();
    match value.tag() {
        Tag::Utf8String => Utf8StringRef::new(bytes).ok().map(|s| s.as_str().to_owned()),
        Tag::Ia5String => Ia5StringRef::new(bytes).ok().map(|s| s.as_str().to_owned()),
        Tag::PrintableString => bytes.is_ascii().then(|| bytes.iter().map(|b| char::from(*b)).collect()),
        Tag::TeletexString => Some(bytes.iter().map(|b| char::from(*b)).collect()),
        Tag::BmpString => BmpString::from_ucs2(bytes).ok().map(|s| s.to_string()),
        _ => None,
    }
}

/// The reply context: transactionID, senderNonce and the signer's certificate. Without them no
/// CertRep can be built.
fn requester_of(signed: &Signed) -> Result<Requester, &'static str> {
    let transaction_id = single_value(&signed.attributes, oid::ID_TRANSACTION_ID)
        .ok()
        .flatten()
        .filter(|v| matches!(v.tag(), Tag::PrintableString | Tag::Utf8String | Tag::Ia5String))
        .and_then(string_value)
        .filter(|id| !id.is_empty() && id.len() <= MAX_TRANSACTION_ID)
        .ok_or("no valid transactionID")?;
    let sender_nonce = single_value(&signed.attributes, oid::ID_SENDER_NONCE)
        .ok()
        .flatten()
        .filter(|v| v.tag() == Tag::OctetString && (1..=MAX_NONCE).contains(&v.value().len()))
        .ok_or("no valid senderNonce")?
        .value()
        .to_vec();
    let certificate_der = signer_certificate(&signed.certificates, &signed.signer.sid)
        .ok_or("the signer certificate is not in the message")?
        .to_vec();
    Ok(Requester {
        transaction_id,
        sender_nonce,
        certificate_der,
        digest: DigestAlgorithm::from_oid(signed.signer.digest_alg.oid).unwrap_or(DigestAlgorithm::Sha256),
        content_encryption: None,
    })
}

/// The certificate (DER) among `certificates` that `sid` names. Other CertificateChoices
/// (attribute certificates, other formats) are skipped.
fn signer_certificate<'a>(certificates: &'a [Vec<u8>], sid: &SignerId) -> Option<&'a [u8]> {
    certificates
        .iter()
        .find(|der| ClientCertificate::from_der(der).is_ok_and(|c| names(sid, &c)))
        .map(Vec::as_slice)
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
    let message_type = single_value(&signed.attributes, oid::ID_MESSAGE_TYPE)
        .ok()
        .flatten()
        .and_then(string_value)
        .and_then(|s| s.parse::<u32>().ok())
        .and_then(MessageType::from_code)
        .filter(|t| *t != MessageType::CertRep)
        .ok_or_else(|| refuse(&requester, FailInfo::BadRequest, "missing or unsupported messageType"))?;
    let signing_time = single_value(&signed.attributes, oid::ID_SIGNING_TIME)
        .ok()
        .flatten()
        .and_then(|v| Time::from_der(&v.to_der().ok()?).ok())
        .and_then(|t| OffsetDateTime::from_unix_timestamp(i64::try_from(t.to_unix_duration().as_secs()).ok()?).ok());
    if signed.content_type != oid::ID_DATA {
        return Err(refuse(
            &requester,
            FailInfo::BadRequest,
            "the signed content is not id-data",
        ));
    }

    let envelope = Envelope::read(&signed.content, ra).map_err(|(info, reason)| refuse(&requester, info, reason))?;
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
fn verify(signed: &Signed, certificate_der: &[u8]) -> Result<(), (FailInfo, &'static str)> {
    let digest = DigestAlgorithm::from_oid(signed.signer.digest_alg.oid)
        .ok_or((FailInfo::BadAlg, "unsupported digest algorithm"))?;
    let certificate = ClientCertificate::from_der(certificate_der)
        .map_err(|_| (FailInfo::BadMessageCheck, "bad signer certificate"))?;
    let spki = &certificate.tbs_certificate.subject_public_key_info;
    let key = match spki.algorithm.oid {
        oid::RSA_ENCRYPTION => SignerKey::Rsa,
        oid::ID_EC_PUBLIC_KEY => match spki.algorithm.parameters.as_ref().map(Any::decode_as) {
            Some(Ok(oid::SECP_256_R_1)) => SignerKey::P256,
            Some(Ok(oid::SECP_384_R_1)) => SignerKey::P384,
            _ => return Err((FailInfo::BadAlg, "unsupported elliptic curve")),
        },
        _ => return Err((FailInfo::BadAlg, "unsupported signer key")),
    };
    let algorithm = verification_algorithm(key, signed.signer.signature_algorithm.oid, digest)
        .ok_or((FailInfo::BadAlg, "unsupported signature algorithm"))?;

    let bad = |reason| (FailInfo::BadMessageCheck, reason);
    match single_value(&signed.attributes, oid::ID_CONTENT_TYPE) {
        Ok(None) => {}
        Ok(Some(v)) if v.decode_as::<ObjectIdentifier>() == Ok(signed.content_type) => {}
        _ => return Err(bad("the contentType attribute does not match the content")),
    }
    let message_digest = single_value(&signed.attributes, oid::ID_MESSAGE_DIGEST)
        .ok()
        .flatten()
        .filter(|v| v.tag() == Tag::OctetString)
        .ok_or(bad("no messageDigest attribute"))?;
    if message_digest.value() != digest.digest(&signed.content).as_slice() {
        return Err(bad("the messageDigest does not match the content"));
    }
    UnparsedPublicKey::new(algorithm, spki.subject_public_key.raw_bytes())
        .verify(&signed.signed_bytes, signed.signer.signature.as_bytes())
        .map_err(|_| bad("the signature does not verify"))
}

/// The verification algorithm for a signer key and the SignerInfo's signatureAlgorithm. That is
/// either the bare key algorithm (rsaEncryption, id-ecPublicKey), with the hash from
/// digestAlgorithm, or a combined one (sha256WithRSAEncryption, ecdsa-with-SHA256...), whose hash
/// is used: clients write either.
fn verification_algorithm(
    key: SignerKey,
    signature_oid: ObjectIdentifier,
    digest: DigestAlgorithm,
) -> Option<&'static dyn VerificationAlgorithm> {
    use DigestAlgorithm::*;
    let (rsa, hash) = match signature_oid {
        oid::RSA_ENCRYPTION => (true, digest),
        oid::SHA_1_WITH_RSA_ENCRYPTION => (true, Sha1),
        oid::SHA_256_WITH_RSA_ENCRYPTION => (true, Sha256),
        oid::SHA_384_WITH_RSA_ENCRYPTION => (true, Sha384),
        oid::SHA_512_WITH_RSA_ENCRYPTION => (true, Sha512),
        oid::ID_EC_PUBLIC_KEY => (false, digest),
        oid::ECDSA_WITH_SHA_1 => (false, Sha1),
        oid::ECDSA_WITH_SHA_256 => (false, Sha256),
        oid::ECDSA_WITH_SHA_384 => (false, Sha384),
        oid::ECDSA_WITH_SHA_512 => (false, Sha512),
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
        let der = ber::enveloped_to_der(content).map_err(|_| bad("the content is not BER or DER"))?;
        let info = ContentInfo::from_der(&der).map_err(|_| bad("the content is not a ContentInfo"))?;
        if info.content_type != oid::ID_ENVELOPED_DATA {
            return Err(bad("the content is not an EnvelopedData"));
        }
        let enveloped: EnvelopedData = info.content.decode_as().map_err(|_| bad("bad EnvelopedData"))?;
        let EncryptedContentInfo {
            content_enc_alg,
            encrypted_content,
            ..
        } = enveloped.encrypted_content;
        let cipher = ContentEncryption::from_oid(content_enc_alg.oid)
            .ok_or((FailInfo::BadAlg, "unsupported content encryption"))?;
        let iv = content_enc_alg
            .parameters
            .and_then(|p| p.decode_as::<OctetString>().ok())
            .map(OctetString::into_bytes)
            .filter(|iv| iv.len() == cipher.block_len())
            .ok_or(bad("bad content-encryption IV"))?;
        let ciphertext = encrypted_content.ok_or(bad("no encryptedContent"))?.into_bytes();
        // Other kinds of recipient, and recipients with another key-encryption algorithm, are
        // not for this RA.
        let encrypted_key = enveloped
            .recip_infos
            .0
            .into_vec()
            .into_iter()
            .find_map(|recipient| match recipient {
                RecipientInfo::Ktri(ktri)
                    if ktri.key_enc_alg.oid == oid::RSA_ENCRYPTION && ra.is_named_by(&ktri.rid) =>
                {
                    Some(ktri.enc_key.into_bytes())
                }
                _ => None,
            });
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

/// SCEP's `IssuerAndSubject` (RFC 8894 §3.3.3), the content of a CertPoll, which no crate
/// defines.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct IssuerAndSubject {
    issuer: Name,
    subject: Name,
}

/// The request inside the envelope.
fn read_payload(message_type: MessageType, plaintext: &[u8]) -> Result<Payload, &'static str> {
    match message_type {
        MessageType::PkcsReq | MessageType::RenewalReq => {
            let challenge_password = csr_challenge_password(plaintext).ok_or("the content is not a PKCS#10 request")?;
            Ok(Payload::CertificationRequest {
                csr_der: plaintext.to_vec(),
                challenge_password,
            })
        }
        MessageType::CertPoll => {
            let not = "the content is not an IssuerAndSubject";
            let der = ber::to_der(plaintext).map_err(|_| not)?;
            let names = IssuerAndSubject::from_der(&der).map_err(|_| not)?;
            Ok(Payload::IssuerAndSubject {
                issuer_der: names.issuer.to_der().map_err(|_| not)?,
                subject_der: names.subject.to_der().map_err(|_| not)?,
            })
        }
        MessageType::GetCert | MessageType::GetCrl => {
            let not = "the content is not an IssuerAndSerialNumber";
            let der = ber::to_der(plaintext).map_err(|_| not)?;
            let ias = IssuerAndSerial::from_der(&der).map_err(|_| not)?;
            Ok(Payload::IssuerAndSerial {
                issuer_der: ias.issuer.to_der().map_err(|_| not)?,
                serial: ias.serial_number.as_bytes().to_vec(),
            })
        }
        MessageType::CertRep => Err("a CertRep is not a request"),
    }
}

/// Checks that the content is a PKCS#10 request, in DER as its signature needs, and returns its
/// challengePassword attribute (`Some(None)` when it has none). The signature itself is
/// `parse_csr`'s to check.
fn csr_challenge_password(der: &[u8]) -> Option<Option<String>> {
    // Not for BER (x509-cert reads DER only), but for the bounds on its SETs.
    ber::to_der(der).ok()?;
    let csr = CertReq::from_der(der).ok()?;
    match single_value(&csr.info.attributes, oid::CHALLENGE_PASSWORD).ok()? {
        None => Some(None),
        Some(value) => string_value(value).map(Some),
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
/// PENDING and FAILURE the content is empty: an `eContent` of zero octets, not an absent one.
/// RFC 8894 §3.3.2 omits it, but OpenSSL's PKCS#7 verification (certmonger's) refuses a
/// SignedData without content ("no content") and so could never read a PENDING or a FAILURE;
/// an empty one verifies everywhere (micromdm's server sends the same), and the messageDigest is
/// the same, over nothing.
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
                "0",
                None,
                Some(envelope(&requester.certificate_der, cipher, &degenerate)?),
            )
        }
        ReplyStatus::Pending => ("3", None, Some(Vec::new())),
        ReplyStatus::Failure(info) => ("2", Some(info), Some(Vec::new())),
    };
    let econtent = content.as_deref().unwrap_or_default();
    let fail_info = fail_info.map(|info| info.code().to_string());

    let mut attributes = vec![
        (oid::ID_CONTENT_TYPE, Any::encode_from(&oid::ID_DATA)),
        (oid::ID_MESSAGE_DIGEST, octets(&digest.digest(econtent))),
        (oid::ID_SIGNING_TIME, signing_time(SystemTime::now())),
        (oid::ID_MESSAGE_TYPE, printable("3")),
        (oid::ID_PKI_STATUS, printable(status)),
        (oid::ID_TRANSACTION_ID, text_value(&requester.transaction_id)),
        (oid::ID_RECIPIENT_NONCE, octets(&requester.sender_nonce)),
        (oid::ID_SENDER_NONCE, octets(&random_bytes(NONCE_LEN)?)),
    ];
    if let Some(code) = &fail_info {
        attributes.push((oid::ID_FAIL_INFO, printable(code)));
    }
    let signed_attrs = single_valued(attributes).map_err(|e| encoding("the signed attributes", e))?;
    let signature_algorithm = AlgorithmIdentifierOwned {
        oid: oid::RSA_ENCRYPTION,
        parameters: Some(Any::null()),
    };
    signed_data(
        &ra.0.certificate,
        digest,
        signature_algorithm,
        signed_attrs,
        content.as_deref(),
        |signed_bytes| ra.sign(digest, signed_bytes),
    )
}

fn encoding(what: &str, e: ::der::Error) -> PkiError {
    PkiError::Build(format!("{what}: {e}"))
}

/// Attributes of one value each, in DER order.
fn single_valued(
    attributes: impl IntoIterator<Item = (ObjectIdentifier, ::der::Result<Any>)>,
) -> ::der::Result<SetOfVec<Attribute>> {
    let attributes = attributes
        .into_iter()
        .map(|(oid, value)| {
            Ok(Attribute {
                oid,
                values: SetOfVec::try_from(vec![value?])?,
            })
        })
        .collect::<::der::Result<Vec<_>>>()?;
    SetOfVec::try_from(attributes)
}

fn octets(bytes: &[u8]) -> ::der::Result<Any> {
    Any::encode_from(&OctetString::new(bytes)?)
}

fn printable(text: &str) -> ::der::Result<Any> {
    Any::encode_from(&PrintableStringRef::new(text)?)
}

/// A transactionID as RFC 8894 wants it, a PrintableString, unless it has characters a
/// PrintableString cannot hold (then UTF8String, as some clients send it).
fn text_value(text: &str) -> ::der::Result<Any> {
    printable(text).or_else(|_| Any::encode_from(&Utf8StringRef::new(text)?))
}

/// RFC 5652 §11.3 signingTime: UTCTime through 2049, GeneralizedTime from 2050.
fn signing_time(now: SystemTime) -> ::der::Result<Any> {
    match UtcTime::from_system_time(now) {
        Ok(utc) => Any::encode_from(&utc),
        Err(_) => Any::encode_from(&GeneralizedTime::from_system_time(now)?),
    }
}

/// A SignedData ContentInfo (RFC 5652 §5) carrying `signer`, the certificate that signs, named
/// by issuer and serial, and `content` (id-data) if any. `sign` signs the DER of the signed
/// attributes with the signer's key.
fn signed_data(
    signer: &Certificate,
    digest: DigestAlgorithm,
    signature_algorithm: AlgorithmIdentifierOwned,
    signed_attrs: SignedAttributes,
    content: Option<&[u8]>,
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, PkiError>,
) -> Result<Vec<u8>, PkiError> {
    let e = |e| encoding("SignedData", e);
    // The signature covers the attributes as a SET OF, the encoding `to_der` gives them.
    let signature = sign(&signed_attrs.to_der().map_err(e)?)?;
    let digest_algorithm = AlgorithmIdentifierOwned {
        oid: digest.oid(),
        parameters: None,
    };
    let signer_info = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(issuer_and_serial(signer)),
        digest_alg: digest_algorithm.clone(),
        signed_attrs: Some(signed_attrs),
        signature_algorithm,
        signature: OctetString::new(signature).map_err(e)?,
        unsigned_attrs: None,
    };
    let econtent = content.map(octets).transpose().map_err(e)?;
    let certificates = vec![CertificateChoices::Certificate(signer.clone())];
    let signed = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![digest_algorithm]).map_err(e)?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: oid::ID_DATA,
            econtent,
        },
        certificates: Some(CertificateSet::try_from(certificates).map_err(e)?),
        crls: None,
        signer_infos: SignerInfos::try_from(vec![signer_info]).map_err(e)?,
    };
    content_info(oid::ID_SIGNED_DATA, &signed).map_err(e)
}

/// `ContentInfo ::= SEQUENCE { contentType, [0] EXPLICIT content }`, DER.
fn content_info(content_type: ObjectIdentifier, content: &(impl Tagged + EncodeValue)) -> ::der::Result<Vec<u8>> {
    ContentInfo {
        content_type,
        content: Any::encode_from(content)?,
    }
    .to_der()
}

/// The RSA key-transport key of a certificate, and how CMS names the certificate.
fn rsa_encryption_key(certificate_der: &[u8]) -> Result<(Pkcs1PublicEncryptingKey, IssuerAndSerial), PkiError> {
    let certificate = ClientCertificate::from_der(certificate_der)
        .map_err(|_| PkiError::UnsupportedKey("the requester certificate does not parse".into()))?;
    let spki = &certificate.tbs_certificate.subject_public_key_info;
    if spki.algorithm.oid != oid::RSA_ENCRYPTION {
        return Err(PkiError::UnsupportedKey(
            "SCEP replies are encrypted by RSA key transport and the requester key is not RSA".into(),
        ));
    }
    let key = spki
        .to_der()
        .ok()
        .and_then(|spki| PublicEncryptingKey::from_der(&spki).ok())
        .and_then(|k| Pkcs1PublicEncryptingKey::new(k).ok())
        .ok_or_else(|| PkiError::UnsupportedKey("the requester RSA key cannot be used (2048 to 8192 bits)".into()))?;
    Ok((key, IssuerAndSerial::of(&certificate)))
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

    let e = |e| encoding("EnvelopedData", e);
    let recipient = ReplyRecipientInfo {
        version: CmsVersion::V0,
        rid,
        key_enc_alg: AlgorithmIdentifierOwned {
            oid: oid::RSA_ENCRYPTION,
            parameters: Some(Any::null()),
        },
        enc_key: OctetString::new(encrypted_key).map_err(e)?,
    };
    let enveloped = ReplyEnvelopedData {
        version: CmsVersion::V0,
        recip_infos: Any::new(Tag::Set, recipient.to_der().map_err(e)?).map_err(e)?,
        encrypted_content: EncryptedContentInfo {
            content_type: oid::ID_DATA,
            content_enc_alg: AlgorithmIdentifierOwned {
                oid: cipher.oid(),
                parameters: Some(octets(&iv).map_err(e)?),
            },
            encrypted_content: Some(OctetString::new(ciphertext).map_err(e)?),
        },
    };
    content_info(oid::ID_ENVELOPED_DATA, &enveloped).map_err(e)
}

/// BER to DER, for the clients (BouncyCastle-based ones among them) that send indefinite lengths,
/// long-form lengths for short contents or OCTET STRINGs in chunks. Hand-written: the der crate
/// reads DER only, and no maintained crate rewrites BER. Bounded: the output is at most a little
/// longer than the input, the nesting depth is capped, and so is the length of every SET (the
/// der crate sorts a SET OF as it decodes it, by insertion, in time quadratic in its length).
mod ber {
    use crate::der::{DerError as BerError, OCTET_STRING, Reader, push_header, push_tlv};

    /// Deeper than any certificate or CMS structure SCEP carries.
    const MAX_DEPTH: usize = 32;
    /// The most elements of a SET, or of a context-specific constructed element (CMS's IMPLICIT
    /// SETs: certificates, signed attributes...). Nothing SCEP carries comes near it: a few
    /// certificates, a dozen attributes, one value each.
    const MAX_SET_ELEMENTS: usize = 64;
    const CONSTRUCTED: u8 = 0x20;
    const CONSTRUCTED_OCTET_STRING: u8 = OCTET_STRING | CONSTRUCTED;
    const SET: u8 = 0x31;
    /// Context-specific and constructed: `tag & CLASS_AND_FORM == CONTEXT_CONSTRUCTED`.
    const CLASS_AND_FORM: u8 = 0xe0;
    const CONTEXT_CONSTRUCTED: u8 = 0xa0;
    const CONTEXT_0_PRIMITIVE: u8 = 0x80;
    /// Where an EnvelopedData's encryptedContent, `[0] IMPLICIT OCTET STRING`, sits: ContentInfo
    /// (0) → `[0]` (1) → EnvelopedData (2) → EncryptedContentInfo (3) → `[0]` (4). No other
    /// `[0]` at that depth is made of OCTET STRINGs (originatorInfo's certificates are
    /// SEQUENCEs).
    const ENCRYPTED_CONTENT_DEPTH: usize = 4;

    /// One BER element, re-encoded as DER (except that SET OF is not re-sorted: signatures cover
    /// the order the signer wrote).
    pub fn to_der(input: &[u8]) -> Result<Vec<u8>, BerError> {
        rewrite(input, false)
    }

    /// An EnvelopedData ContentInfo: as [`to_der`], and a constructed encryptedContent (streaming
    /// encoders send it in chunks) becomes one primitive `[0]`, the only form in which the der
    /// crate reads an IMPLICIT OCTET STRING.
    pub fn enveloped_to_der(input: &[u8]) -> Result<Vec<u8>, BerError> {
        rewrite(input, true)
    }

    fn rewrite(input: &[u8], enveloped: bool) -> Result<Vec<u8>, BerError> {
        let mut rewrite = Rewrite {
            out: Vec::with_capacity(input.len()),
            enveloped,
        };
        let rest = rewrite.element(input, 0)?;
        if !rest.is_empty() {
            return Err(BerError);
        }
        Ok(rewrite.out)
    }

    struct Rewrite {
        out: Vec<u8>,
        enveloped: bool,
    }

    impl Rewrite {
        /// Rewrites the element at the start of `input` onto `out`; returns what follows it.
        fn element<'a>(&mut self, input: &'a [u8], depth: usize) -> Result<&'a [u8], BerError> {
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
                let start = self.out.len();
                let mut rest = rest;
                let mut children = 0;
                loop {
                    if let Some(after) = rest.strip_prefix(&[0u8, 0][..]) {
                        rest = after;
                        break;
                    }
                    rest = self.element(rest, depth + 1)?;
                    children += 1;
                }
                self.close_constructed(tag, start, children, depth)?;
                return Ok(rest);
            }
            let (len, rest) = definite_length(first, rest)?;
            if rest.len() < len {
                return Err(BerError);
            }
            let (content, after) = rest.split_at(len);
            if constructed {
                let start = self.out.len();
                let mut rest = content;
                let mut children = 0;
                while !rest.is_empty() {
                    rest = self.element(rest, depth + 1)?;
                    children += 1;
                }
                self.close_constructed(tag, start, children, depth)?;
            } else {
                push_tlv(&mut self.out, tag, content);
            }
            Ok(after)
        }

        /// The `children` of a constructed element are at `out[start..]`: puts its DER header in
        /// front of them, or for a chunked OCTET STRING joins the chunks into one primitive
        /// OCTET STRING (and likewise an encryptedContent).
        fn close_constructed(&mut self, tag: u8, start: usize, children: usize, depth: usize) -> Result<(), BerError> {
            let encrypted_content = self.enveloped && depth == ENCRYPTED_CONTENT_DEPTH && tag == CONTEXT_CONSTRUCTED;
            if tag == CONSTRUCTED_OCTET_STRING || (encrypted_content && children > 0) {
                match joined(&self.out[start..]) {
                    Some(joined) => {
                        self.out.truncate(start);
                        let primitive = if encrypted_content {
                            CONTEXT_0_PRIMITIVE
                        } else {
                            OCTET_STRING
                        };
                        push_tlv(&mut self.out, primitive, &joined);
                        return Ok(());
                    }
                    None if !encrypted_content => return Err(BerError),
                    None => {}
                }
            }
            if (tag == SET || tag & CLASS_AND_FORM == CONTEXT_CONSTRUCTED) && children > MAX_SET_ELEMENTS {
                return Err(BerError);
            }
            let mut header = Vec::with_capacity(6);
            push_header(&mut header, tag, self.out.len() - start);
            self.out.splice(start..start, header);
            Ok(())
        }
    }

    /// The contents of a run of OCTET STRINGs, joined; `None` if anything else is among them.
    fn joined(chunks: &[u8]) -> Option<Vec<u8>> {
        let mut joined = Vec::with_capacity(chunks.len());
        let mut r = Reader::new(chunks);
        while !r.is_empty() {
            joined.extend_from_slice(r.expect(OCTET_STRING).ok()?.content);
        }
        Some(joined)
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

    use ::der::asn1::BitString;
    use x509_cert::request::{CertReqInfo, Version};
    use x509_cert::serial_number::SerialNumber;
    use x509_cert::spki::SubjectPublicKeyInfoOwned;
    use x509_parser::certificate::X509Certificate;
    use x509_parser::prelude::FromDer;

    use super::*;
    use crate::der::{OCTET_STRING, Reader, push_tlv, tlv};
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
        client_with_serial(key_algorithm, common_name, None)
    }

    fn client_with_serial(key_algorithm: KeyAlgorithm, common_name: &str, serial: Option<&[u8]>) -> Client {
        let key = generate_key(key_algorithm).unwrap();
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.serial_number = serial.map(rcgen::SerialNumber::from_slice);
        let cert = params.self_signed(&key).unwrap();
        Client {
            key,
            certificate_der: cert.der().to_vec(),
            certificate_pem: cert.pem(),
        }
    }

    static RSA_CLIENT: LazyLock<Client> = LazyLock::new(|| client(KeyAlgorithm::Rsa2048, "device-1"));

    /// `CN=common_name`, a UTF8String.
    fn name(common_name: &str) -> Name {
        format!("CN={common_name}").parse().unwrap()
    }

    /// A PKCS#10 request for `key` with the challengePassword, if any, as a string of type `tag`.
    fn csr(key: &KeyPair, common_name: &str, challenge: Option<(Tag, &[u8])>) -> Vec<u8> {
        let challenge = challenge.map(|(tag, pw)| (oid::CHALLENGE_PASSWORD, Any::new(tag, pw)));
        let info = CertReqInfo {
            version: Version::V1,
            subject: name(common_name),
            public_key: SubjectPublicKeyInfoOwned::from_der(&key.subject_public_key_info()).unwrap(),
            attributes: single_valued(challenge).unwrap(),
        };
        let signature = key.sign(&info.to_der().unwrap()).unwrap();
        CertReq {
            info,
            algorithm: AlgorithmIdentifierOwned::from_der(crate::signature_algorithm_identifier(KeyAlgorithm::Rsa2048))
                .unwrap(),
            signature: BitString::from_bytes(&signature).unwrap(),
        }
        .to_der()
        .unwrap()
    }

    /// What a client puts in its pkiMessage, beyond the content.
    struct Request<'a> {
        message_type: &'a [u8],
        transaction_id: &'a str,
        sender_nonce: [u8; 16],
        digest: DigestAlgorithm,
        signature_oid: ObjectIdentifier,
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
        let printable = |text: &[u8]| Any::new(Tag::PrintableString, text);
        let attributes = single_valued([
            (oid::ID_CONTENT_TYPE, Any::encode_from(&oid::ID_DATA)),
            (oid::ID_MESSAGE_DIGEST, octets(&request.digest.digest(content))),
            (oid::ID_SIGNING_TIME, signing_time(SystemTime::now())),
            (oid::ID_MESSAGE_TYPE, printable(request.message_type)),
            (oid::ID_TRANSACTION_ID, printable(request.transaction_id.as_bytes())),
            (oid::ID_SENDER_NONCE, octets(&request.sender_nonce)),
        ])
        .unwrap();
        let signature = client_signature(client, request.digest, &attributes.to_der().unwrap());
        let certificate = ClientCertificate::from_der(&client.certificate_der).unwrap();
        let digest_algorithm = AlgorithmIdentifierOwned {
            oid: request.digest.oid(),
            parameters: None,
        };
        let signer_info = RequestSignerInfo {
            version: CmsVersion::V1,
            sid: SignerId::IssuerAndSerialNumber(IssuerAndSerial::of(&certificate)),
            digest_alg: digest_algorithm.clone(),
            signed_attrs: Some(attributes.iter().map(|a| Any::encode_from(a).unwrap()).collect()),
            signature_algorithm: AlgorithmIdentifierOwned {
                oid: request.signature_oid,
                parameters: None,
            },
            signature: OctetString::new(signature).unwrap(),
            unsigned_attrs: None,
        };
        let signed = RequestSignedData {
            version: CmsVersion::V1,
            digest_algorithms: SetOfVec::try_from(vec![digest_algorithm]).unwrap(),
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: oid::ID_DATA,
                econtent: Some(octets(content).unwrap()),
            },
            certificates: Some(vec![Any::from_der(&client.certificate_der).unwrap()]),
            crls: None,
            signer_infos: Any::new(Tag::Set, signer_info.to_der().unwrap()).unwrap(),
        };
        content_info(oid::ID_SIGNED_DATA, &signed).unwrap()
    }

    /// A PKCSReq from the RSA client with a challengePassword, encrypted to the RA.
    fn pkcs_req(cipher: ContentEncryption, request: &Request<'_>) -> (Vec<u8>, Vec<u8>) {
        let client = &*RSA_CLIENT;
        let csr = csr(&client.key, "device-1", Some((Tag::PrintableString, b"s3cret")));
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
                oid::SHA_256_WITH_RSA_ENCRYPTION,
            ),
            (ContentEncryption::Aes256Cbc, DigestAlgorithm::Sha1, oid::RSA_ENCRYPTION),
            (
                ContentEncryption::DesEde3Cbc,
                DigestAlgorithm::Sha256,
                oid::RSA_ENCRYPTION,
            ),
            (
                ContentEncryption::DesCbc,
                DigestAlgorithm::Sha1,
                oid::SHA_1_WITH_RSA_ENCRYPTION,
            ),
            (
                ContentEncryption::Aes192Cbc,
                DigestAlgorithm::Sha512,
                oid::SHA_512_WITH_RSA_ENCRYPTION,
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
        type Challenge<'a> = Option<(Tag, &'a [u8])>;
        let cases: [(Challenge<'_>, Option<&str>); 5] = [
            (Some((Tag::Utf8String, "pässword".as_bytes())), Some("pässword")),
            (Some((Tag::Ia5String, b"ia5-pw")), Some("ia5-pw")),
            (Some((Tag::PrintableString, b"printable")), Some("printable")),
            (Some((Tag::BmpString, &bmp)), Some("pässword")),
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
        let issuer_and_subject = IssuerAndSubject {
            issuer: issuer.clone(),
            subject: subject.clone(),
        }
        .to_der()
        .unwrap();
        let serial = [0x41, 0x02, 0x03];
        let ias = IssuerAndSerialNumber {
            issuer: issuer.clone(),
            serial_number: SerialNumber::new(&serial).unwrap(),
        }
        .to_der()
        .unwrap();
        let (issuer, subject) = (issuer.to_der().unwrap(), subject.to_der().unwrap());
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
                oid::ECDSA_WITH_SHA_256
            } else {
                oid::ECDSA_WITH_SHA_384
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
        let aes256_cbc = oid::ID_AES_256_CBC.as_bytes();
        let at = content.windows(aes256_cbc.len()).position(|w| w == aes256_cbc).unwrap();
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
    /// OCTET STRINGs, and `[0] IMPLICIT` ones (an EnvelopedData's encryptedContent), in 100-byte
    /// chunks.
    fn to_ber(der: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut r = Reader::new(der);
        while !r.is_empty() {
            let t = r.any().unwrap();
            if t.tag & 0x20 != 0 {
                out.extend([t.tag, 0x80]);
                out.extend(to_ber(t.content));
                out.extend([0, 0]);
            } else if matches!(t.tag, OCTET_STRING | 0x80) && t.content.len() > 100 {
                out.extend([t.tag | 0x20, 0x80]);
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
        let csr = csr(&client.key, "device-1", Some((Tag::PrintableString, b"s3cret")));
        let content = to_ber(&envelope(FIXTURE.ra.certificate_der(), ContentEncryption::Aes128Cbc, &csr).unwrap());
        let message = signed_message(client, &Request::default(), &content);
        assert!(content.starts_with(&[0x30, 0x80]) && content.windows(2).any(|w| w == [0xa0, 0x80]));
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
    fn ber_sets_are_bounded() {
        let set = |tag, n: usize| tlv(tag, &(0..n).flat_map(|i| [0x02, 0x01, i as u8]).collect::<Vec<_>>());
        // A SET, and a context-specific one (CMS's IMPLICIT SETs, such as the certificates).
        for tag in [0x31, 0xa0] {
            assert!(ber::to_der(&set(tag, 64)).is_ok());
            assert!(ber::to_der(&set(tag, 65)).is_err());
        }
        // A SEQUENCE OF and a chunked OCTET STRING are read in linear time, whatever their length.
        assert!(ber::to_der(&set(0x30, 1000)).is_ok());
        let mut chunked = vec![0x24, 0x80];
        for i in 0..1000 {
            chunked.extend([0x04, 0x01, i as u8]);
        }
        chunked.extend([0, 0]);
        assert_eq!(ber::to_der(&chunked).unwrap().len(), 4 + 1000);
    }

    /// `haystack` with its one occurrence of `from` replaced by `to`, as long.
    fn replaced(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
        assert_eq!(from.len(), to.len());
        let at = haystack.windows(from.len()).position(|w| w == from).unwrap();
        [&haystack[..at], to, &haystack[at + from.len()..]].concat()
    }

    /// The signature covers the signed attributes in the order the client wrote them, even where
    /// that is not DER's (which the typed attributes come back in).
    #[test]
    fn the_signature_covers_the_attributes_as_the_client_ordered_them() {
        let (message, _) = pkcs_req(ContentEncryption::Aes128Cbc, &Request::default());
        let signed = read_signed(&message).unwrap();
        let sorted = signed.attributes.to_der().unwrap();
        assert_eq!(signed.signed_bytes, sorted);
        let reversed: Vec<u8> = signed
            .attributes
            .iter()
            .rev()
            .flat_map(|a| a.to_der().unwrap())
            .collect();
        let reversed = Any::new(Tag::Set, reversed).unwrap().to_der().unwrap();
        assert_ne!(reversed, sorted);
        let implicit = |set: &[u8]| [&[0xa0][..], &set[1..]].concat();
        let reordered = replaced(&message, &implicit(&sorted), &implicit(&reversed));

        // Signed as sent: it verifies, and the bytes checked are the client's.
        let signature = client_signature(&RSA_CLIENT, DigestAlgorithm::Sha256, &reversed);
        let resigned = replaced(&reordered, signed.signer.signature.as_bytes(), &signature);
        let parsed = parse_pki_message(&resigned, &FIXTURE.ra).unwrap();
        assert_eq!(parsed.requester.transaction_id, "0f6a4c1b2d3e");
        assert_eq!(read_signed(&resigned).unwrap().signed_bytes, reversed);
        // The signature over the DER order does not match what was sent.
        let (_, fail_info) = refusal(parse_pki_message(&reordered, &FIXTURE.ra));
        assert_eq!(fail_info, FailInfo::BadMessageCheck);
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
        let csr = csr(&client.key, "device-1", Some((Tag::Utf8String, b"pw")));
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
            signer_certificate(&signed.certificates, &signed.signer.sid).unwrap(),
            FIXTURE.ra.certificate_der()
        );
        verify(&signed, FIXTURE.ra.certificate_der()).unwrap();
        let text = |oid| string_value(single_value(&signed.attributes, oid).unwrap().unwrap()).unwrap();
        let octets = |oid| single_value(&signed.attributes, oid).unwrap().unwrap().value().to_vec();
        assert_eq!(text(oid::ID_MESSAGE_TYPE), "3");
        let fail_info = single_value(&signed.attributes, oid::ID_FAIL_INFO)
            .unwrap()
            .map(|v| string_value(v).unwrap());
        (
            text(oid::ID_PKI_STATUS),
            fail_info,
            octets(oid::ID_RECIPIENT_NONCE),
            octets(oid::ID_SENDER_NONCE),
            text(oid::ID_TRANSACTION_ID),
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

    /// certmonger signs with a certificate it makes itself, with a 32-octet serial: more than RFC
    /// 5280 lets a CA issue, and more than x509-cert's default profile reads.
    #[test]
    fn a_client_certificate_with_a_long_serial_enrolls() {
        let serial: Vec<u8> = (1..=32).collect();
        let client = client_with_serial(KeyAlgorithm::Rsa2048, "certmonger", Some(&serial));
        assert!(Certificate::from_der(&client.certificate_der).is_err());
        let csr = csr(&client.key, "certmonger", Some((Tag::PrintableString, b"s3cret")));
        let content = envelope(FIXTURE.ra.certificate_der(), ContentEncryption::Aes256Cbc, &csr).unwrap();
        let parsed = parse_pki_message(&signed_message(&client, &Request::default(), &content), &FIXTURE.ra).unwrap();
        assert_eq!(parsed.requester.certificate_der, client.certificate_der);
        assert!(parsed.requester.can_receive_certificate());

        let issued = issue_for(&parsed);
        let reply = Reply {
            requester: &parsed.requester,
            status: ReplyStatus::Success {
                certificates: &[&issued.der],
            },
        };
        let rep = build_cert_rep(&FIXTURE.ra, &reply).unwrap();
        // The envelope names the requester by its whole serial, and OpenSSL finds itself in it.
        let dir = TempDir::new("long-serial");
        std::fs::write(dir.path("req.crt"), &client.certificate_pem).unwrap();
        std::fs::write(dir.path("req.key"), client.key.serialize_pem()).unwrap();
        let envelope = read_signed(&rep).unwrap().content;
        assert!(envelope.windows(serial.len()).any(|w| w == serial));
        std::fs::write(dir.path("env.der"), &envelope).unwrap();
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
        assert!(
            printed.replace(" = ", "=").contains("subject=CN=certmonger"),
            "{printed}"
        );
    }

    #[test]
    fn pending_and_failure_replies_have_empty_content_that_openssl_verifies() {
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
            // An eContent of zero octets: OpenSSL verifies it as is, with no detached content, as
            // certmonger's PKCS#7 code must.
            std::fs::write(dir.path("rep.der"), &rep).unwrap();
            openssl(&[
                "cms",
                "-verify",
                "-inform",
                "DER",
                "-noverify",
                "-in",
                &dir.arg("rep.der"),
                "-binary",
            ]);
            openssl(&[
                "pkcs7",
                "-inform",
                "DER",
                "-in",
                &dir.arg("rep.der"),
                "-print",
                "-noout",
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
        let csr = csr(&RSA_CLIENT.key, "device-1", Some((Tag::PrintableString, b"s3cret")));
        std::fs::write(dir.path("csr.der"), &csr).unwrap();
        for (flags, cipher) in [
            (&["-aes-256-cbc"][..], ContentEncryption::Aes256Cbc),
            (&["-aes-128-cbc", "-keyid"], ContentEncryption::Aes128Cbc),
            (&["-des3"], ContentEncryption::DesEde3Cbc),
            // Encrypted to another certificate as well (clients encrypt to every GetCACert one).
            (&["-aes-192-cbc", "-recip", &other], ContentEncryption::Aes192Cbc),
            // Indefinite lengths and the encryptedContent in chunks.
            (&["-aes-128-cbc", "-stream"], ContentEncryption::Aes128Cbc),
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

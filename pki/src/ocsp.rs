//! RFC 6960 OCSP: parsing requests (untrusted input) and assembling signed responses.
//!
//! Parsing borrows from the request bytes and never allocates beyond the list of CertIDs; every
//! failure is [`Malformed`], which a responder answers with `malformedRequest`.

use rcgen::KeyPair;
use time::OffsetDateTime;

use super::der::{
    self, BOOLEAN, ENUMERATED, INTEGER, NULL, OCTET_STRING, OID, Reader, SEQUENCE, explicit, generalized_time,
    push_header, push_tlv, tlv,
};
use super::sign::{CaIdentity, sha1, signed_sequence};
use super::{KeyAlgorithm, PkiError};

/// The request is not a well-formed OCSP request (or breaks a limit certctl sets).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed OCSP request")]
pub struct Malformed;

impl From<der::DerError> for Malformed {
    fn from(_: der::DerError) -> Self {
        Malformed
    }
}

/// Most CertIDs one request may ask about. RFC 5019 clients send one; a bound keeps a single
/// request from buying an unbounded amount of signing.
pub const MAX_CERT_IDS: usize = 16;
/// RFC 9654 §2.1: a nonce is 1 to 128 octets.
pub const MAX_NONCE_LEN: usize = 128;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    Sha1,
    Sha256,
}

/// SHA-1 1.3.14.3.2.26 and SHA-256 2.16.840.1.101.3.4.2.1 (content octets).
const OID_SHA1: &[u8] = &[0x2b, 0x0e, 0x03, 0x02, 0x1a];
const OID_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
/// id-pkix-ocsp-nonce 1.3.6.1.5.5.7.48.1.2 and id-pkix-ocsp-basic 1.3.6.1.5.5.7.48.1.1.
const OID_NONCE: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02];
const OID_BASIC: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01];

/// One CertID of a request.
#[derive(Clone, Copy, Debug)]
pub struct CertId<'a> {
    /// The CertID exactly as sent, echoed in the response.
    pub raw: &'a [u8],
    /// `None` when the request hashes with an algorithm certctl does not support.
    pub hash: Option<HashAlgorithm>,
    pub issuer_name_hash: &'a [u8],
    pub issuer_key_hash: &'a [u8],
    /// The serial number's magnitude (leading zero octets removed).
    pub serial: &'a [u8],
}

impl CertId<'_> {
    /// Whether this CertID names `ca` (name and key hash, under its hash algorithm).
    pub fn matches(&self, ca: &CaIdentity) -> bool {
        match self.hash {
            Some(HashAlgorithm::Sha1) => self.issuer_name_hash == ca.name_sha1 && self.issuer_key_hash == ca.key_sha1,
            Some(HashAlgorithm::Sha256) => {
                self.issuer_name_hash == ca.name_sha256 && self.issuer_key_hash == ca.key_sha256
            }
            None => false,
        }
    }
}

/// A parsed OCSP request.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    pub cert_ids: Vec<CertId<'a>>,
    /// The whole nonce `Extension`, echoed byte for byte in the response (RFC 9654).
    pub nonce: Option<&'a [u8]>,
}

/// Parses a DER `OCSPRequest`.
pub fn parse_request(input: &[u8]) -> Result<Request<'_>, Malformed> {
    let mut outer = Reader::new(input);
    let request = outer.expect(SEQUENCE)?;
    outer.finish()?;
    let mut request = Reader::new(request.content);
    let tbs = request.expect(SEQUENCE)?;
    // optionalSignature [0]: not required here and not checked, but it must be well formed DER.
    request.optional(explicit(0))?;
    request.finish()?;

    let mut tbs = Reader::new(tbs.content);
    if let Some(version) = tbs.optional(explicit(0))? {
        let mut v = Reader::new(version.content);
        if v.expect(INTEGER)?.content != [0] {
            return Err(Malformed);
        }
        v.finish()?;
    }
    tbs.optional(explicit(1))?; // requestorName
    let list = tbs.expect(SEQUENCE)?;
    let mut nonce = None;
    if let Some(exts) = tbs.optional(explicit(2))? {
        nonce = find_nonce(exts.content)?;
    }
    tbs.finish()?;

    let mut cert_ids = Vec::with_capacity(1);
    let mut list = Reader::new(list.content);
    while !list.is_empty() {
        if cert_ids.len() == MAX_CERT_IDS {
            return Err(Malformed);
        }
        let single = list.expect(SEQUENCE)?;
        let mut single = Reader::new(single.content);
        let cert_id = parse_cert_id(single.expect(SEQUENCE)?)?;
        if let Some(exts) = single.optional(explicit(0))? {
            check_extensions(exts.content)?;
        }
        single.finish()?;
        cert_ids.push(cert_id);
    }
    if cert_ids.is_empty() {
        return Err(Malformed);
    }
    Ok(Request { cert_ids, nonce })
}

fn parse_cert_id(tlv: der::Tlv<'_>) -> Result<CertId<'_>, Malformed> {
    let mut r = Reader::new(tlv.content);
    let alg = r.expect(SEQUENCE)?;
    let name_hash = r.expect(OCTET_STRING)?.content;
    let key_hash = r.expect(OCTET_STRING)?.content;
    let serial = r.expect(INTEGER)?.content;
    r.finish()?;
    if serial.is_empty() || serial[0] & 0x80 != 0 {
        return Err(Malformed);
    }
    let serial = &serial[serial.iter().take_while(|b| **b == 0).count()..];

    let mut alg = Reader::new(alg.content);
    let oid = alg.expect(OID)?.content;
    // Parameters are NULL or absent for both hashes.
    if let Some(params) = alg.optional(NULL)?
        && !params.content.is_empty()
    {
        return Err(Malformed);
    }
    alg.finish()?;
    let hash = match oid {
        OID_SHA1 => Some(HashAlgorithm::Sha1),
        OID_SHA256 => Some(HashAlgorithm::Sha256),
        _ => None,
    };
    Ok(CertId {
        raw: tlv.raw,
        hash,
        issuer_name_hash: name_hash,
        issuer_key_hash: key_hash,
        serial,
    })
}

/// One request extension.
struct Extension<'a> {
    oid: &'a [u8],
    value: &'a [u8],
    /// The whole `Extension` encoding.
    raw: &'a [u8],
}

fn read_extension<'a>(r: &mut Reader<'a>) -> Result<Extension<'a>, Malformed> {
    let ext = r.expect(SEQUENCE)?;
    let mut e = Reader::new(ext.content);
    let oid = e.expect(OID)?.content;
    // `critical`: DER never encodes the DEFAULT FALSE, and anything but 0xff is not a BOOLEAN.
    if let Some(b) = e.optional(BOOLEAN)?
        && b.content != [0xff]
    {
        return Err(Malformed);
    }
    let value = e.expect(OCTET_STRING)?.content;
    e.finish()?;
    Ok(Extension {
        oid,
        value,
        raw: ext.raw,
    })
}

fn check_extensions(content: &[u8]) -> Result<(), Malformed> {
    let mut seq = Reader::new(content);
    let list = seq.expect(SEQUENCE)?;
    seq.finish()?;
    let mut r = Reader::new(list.content);
    while !r.is_empty() {
        read_extension(&mut r)?;
    }
    Ok(())
}

/// Finds the nonce among the request extensions and checks it: RFC 9654 §2.1 makes the value an
/// OCTET STRING of 1 to 128 octets and asks a responder to reject others as malformed.
fn find_nonce(content: &[u8]) -> Result<Option<&[u8]>, Malformed> {
    let mut seq = Reader::new(content);
    let list = seq.expect(SEQUENCE)?;
    seq.finish()?;
    let mut r = Reader::new(list.content);
    let mut nonce = None;
    while !r.is_empty() {
        let Extension { oid, value, raw } = read_extension(&mut r)?;
        if oid == OID_NONCE {
            if nonce.is_some() {
                return Err(Malformed);
            }
            let mut v = Reader::new(value);
            let inner = v.expect(OCTET_STRING)?;
            v.finish()?;
            if inner.content.is_empty() || inner.content.len() > MAX_NONCE_LEN {
                return Err(Malformed);
            }
            nonce = Some(raw);
        }
    }
    Ok(nonce)
}

/// `OCSPResponseStatus` values other than success: these responses carry no body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorStatus {
    MalformedRequest = 1,
    InternalError = 2,
    TryLater = 3,
    Unauthorized = 6,
}

impl ErrorStatus {
    /// The complete DER response: `SEQUENCE { ENUMERATED status }`.
    pub fn response(self) -> &'static [u8] {
        match self {
            Self::MalformedRequest => &[SEQUENCE, 3, ENUMERATED, 1, 1],
            Self::InternalError => &[SEQUENCE, 3, ENUMERATED, 1, 2],
            Self::TryLater => &[SEQUENCE, 3, ENUMERATED, 1, 3],
            Self::Unauthorized => &[SEQUENCE, 3, ENUMERATED, 1, 6],
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertStatus {
    Good,
    Revoked {
        at: OffsetDateTime,
        reason_code: Option<i16>,
    },
    Unknown,
}

/// One answer: the CertID it answers (as the request had it) and the status.
pub struct SingleResponse<'a> {
    pub cert_id: &'a [u8],
    pub status: CertStatus,
    pub this_update: OffsetDateTime,
    pub next_update: OffsetDateTime,
}

/// A delegated OCSP responder: its certificate (issued by the CA, EKU id-kp-OCSPSigning) and key.
pub struct OcspSigner {
    key: KeyPair,
    key_algorithm: KeyAlgorithm,
    /// `ResponderID byKey`, ready to write.
    responder_id: Vec<u8>,
    /// `certs [0] EXPLICIT SEQUENCE OF Certificate` holding the signer certificate.
    certs: Vec<u8>,
}

impl OcspSigner {
    pub fn new(certificate_der: &[u8], key_algorithm: KeyAlgorithm, pkcs8: &[u8]) -> Result<Self, PkiError> {
        let key = crate::keys::load_key(key_algorithm, pkcs8)?;
        let key_bits = {
            use x509_parser::prelude::FromDer;
            let (_, cert) = x509_parser::certificate::X509Certificate::from_der(certificate_der)
                .map_err(|e| PkiError::Build(format!("responder certificate does not parse: {e}")))?;
            cert.public_key().subject_public_key.data.to_vec()
        };
        if key_bits != rcgen::PublicKeyData::der_bytes(&key) {
            return Err(PkiError::Build("responder key does not match its certificate".into()));
        }
        // byKey [2] EXPLICIT KeyHash (SHA-1 of the subjectPublicKey bits).
        let responder_id = tlv(explicit(2), &tlv(OCTET_STRING, &sha1(&key_bits)));
        let certs = tlv(explicit(0), &tlv(SEQUENCE, certificate_der));
        Ok(Self {
            key,
            key_algorithm,
            responder_id,
            certs,
        })
    }

    /// Builds and signs a successful response.
    pub fn sign(
        &self,
        responses: &[SingleResponse<'_>],
        produced_at: OffsetDateTime,
        nonce: Option<&[u8]>,
    ) -> Result<Vec<u8>, PkiError> {
        let mut list = Vec::with_capacity(responses.len() * 120);
        for r in responses {
            let mut single = Vec::with_capacity(r.cert_id.len() + 80);
            single.extend_from_slice(r.cert_id);
            match r.status {
                CertStatus::Good => single.extend_from_slice(&[0x80, 0x00]),
                CertStatus::Unknown => single.extend_from_slice(&[0x82, 0x00]),
                CertStatus::Revoked { at, reason_code } => {
                    let mut info = generalized_time(at);
                    if let Some(code) = reason_code {
                        push_tlv(&mut info, explicit(0), &tlv(ENUMERATED, &[code as u8]));
                    }
                    push_tlv(&mut single, 0xa1, &info); // revoked [1] IMPLICIT RevokedInfo
                }
            }
            single.extend(generalized_time(r.this_update));
            push_tlv(&mut single, explicit(0), &generalized_time(r.next_update));
            push_tlv(&mut list, SEQUENCE, &single);
        }
        let produced = generalized_time(produced_at);
        let ext = nonce.map(|n| tlv(explicit(1), &tlv(SEQUENCE, n)));
        let mut list_header = Vec::with_capacity(4);
        push_header(&mut list_header, SEQUENCE, list.len());
        let data_len = self.responder_id.len()
            + produced.len()
            + list_header.len()
            + list.len()
            + ext.as_ref().map_or(0, Vec::len);
        let mut data = Vec::with_capacity(data_len + 4);
        push_header(&mut data, SEQUENCE, data_len);
        data.extend_from_slice(&self.responder_id);
        data.extend_from_slice(&produced);
        data.extend_from_slice(&list_header);
        data.extend_from_slice(&list);
        if let Some(ext) = ext {
            data.extend_from_slice(&ext);
        }
        let basic = signed_sequence(&self.key, self.key_algorithm, &data, &self.certs)?;
        // OCSPResponse { successful, [0] EXPLICIT ResponseBytes { id-pkix-ocsp-basic, OCTET STRING } }
        let mut bytes = tlv(OID, OID_BASIC);
        push_tlv(&mut bytes, OCTET_STRING, &basic);
        let bytes = tlv(SEQUENCE, &bytes);
        let mut body = vec![ENUMERATED, 1, 0];
        push_tlv(&mut body, explicit(0), &bytes);
        Ok(tlv(SEQUENCE, &body))
    }
}

/// A SHA-1 CertID for `serial` under `ca`, for requests that name a serial in the URL.
pub fn cert_id_for(ca: &CaIdentity, serial: &[u8]) -> Vec<u8> {
    let mut body = tlv(SEQUENCE, &{
        let mut alg = tlv(OID, OID_SHA1);
        alg.extend_from_slice(&[NULL, 0]);
        alg
    });
    push_tlv(&mut body, OCTET_STRING, &ca.name_sha1);
    push_tlv(&mut body, OCTET_STRING, &ca.key_sha1);
    push_tlv(&mut body, INTEGER, &der::unsigned_integer(serial));
    tlv(SEQUENCE, &body)
}

/// The DER of a request for `cert_ids` (SHA-1 CertIDs of `serials` under `ca`), with an optional
/// nonce. Used by tests and the benchmark client; OpenSSL builds the same shape.
pub fn build_request(ca: &CaIdentity, serials: &[&[u8]], nonce: Option<&[u8]>) -> Vec<u8> {
    let mut list = Vec::new();
    for serial in serials {
        push_tlv(&mut list, SEQUENCE, &cert_id_for(ca, serial));
    }
    let mut tbs = tlv(SEQUENCE, &list);
    if let Some(nonce) = nonce {
        let mut ext = tlv(OID, OID_NONCE);
        push_tlv(&mut ext, OCTET_STRING, &tlv(OCTET_STRING, nonce));
        let ext = tlv(SEQUENCE, &ext);
        push_tlv(&mut tbs, explicit(2), &tlv(SEQUENCE, &ext));
    }
    tlv(SEQUENCE, &tlv(SEQUENCE, &tbs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CaRequest, KeyAlgorithm, LoadedIssuer, PkiUrls, build_ca, generate_key, issue_ocsp_signer};

    fn ca() -> (LoadedIssuer, CaIdentity) {
        let key = generate_key(KeyAlgorithm::EcdsaP256).unwrap();
        let now = OffsetDateTime::now_utc();
        let urls = PkiUrls::new("http://pki.test");
        let id = uuid::Uuid::new_v4();
        let cert = build_ca(CaRequest {
            id,
            common_name: "Unit CA",
            key: &key,
            not_before: now,
            not_after: now + time::Duration::days(30),
            parent: None,
            urls: &urls,
        })
        .unwrap();
        let loaded = LoadedIssuer::load(id, cert.der, KeyAlgorithm::EcdsaP256, key.serialized_der()).unwrap();
        let identity = loaded.identity.clone();
        (loaded, identity)
    }

    #[test]
    fn requests_round_trip_and_name_their_issuer() {
        let (_, ca) = ca();
        let serial = [0x42u8; 16];
        let req = build_request(&ca, &[&serial], Some(&[9u8; 32]));
        let parsed = parse_request(&req).unwrap();
        assert_eq!(parsed.cert_ids.len(), 1);
        let id = parsed.cert_ids[0];
        assert_eq!(id.hash, Some(HashAlgorithm::Sha1));
        assert!(id.matches(&ca));
        assert_eq!(id.serial, serial);
        assert_eq!(id.raw, cert_id_for(&ca, &serial).as_slice());
        assert!(parsed.nonce.is_some());
    }

    #[test]
    fn nonce_lengths_follow_rfc_9654() {
        let (_, ca) = ca();
        for (len, ok) in [(0usize, false), (1, true), (128, true), (129, false)] {
            let req = build_request(&ca, &[&[1u8; 16]], Some(&vec![5u8; len]));
            assert_eq!(parse_request(&req).is_ok(), ok, "nonce of {len} octets");
        }
    }

    #[test]
    fn junk_and_limits_are_malformed() {
        let (_, ca) = ca();
        assert_eq!(parse_request(b"").unwrap_err(), Malformed);
        assert_eq!(parse_request(&[0x30, 0x00]).unwrap_err(), Malformed);
        let serials: Vec<[u8; 16]> = (0..=MAX_CERT_IDS as u8).map(|i| [i + 1; 16]).collect();
        let refs: Vec<&[u8]> = serials.iter().map(|s| s.as_slice()).collect();
        assert!(parse_request(&build_request(&ca, &refs[..MAX_CERT_IDS], None)).is_ok());
        assert!(parse_request(&build_request(&ca, &refs, None)).is_err());
        // Trailing bytes after the request.
        let mut req = build_request(&ca, &[&[1u8; 16]], None);
        req.push(0);
        assert!(parse_request(&req).is_err());
    }

    #[test]
    fn signed_responses_echo_the_cert_id_and_nonce() {
        let (issuer, ca) = ca();
        let key = generate_key(KeyAlgorithm::EcdsaP256).unwrap();
        let now = OffsetDateTime::now_utc();
        let cert = issue_ocsp_signer(&issuer, &key, now, now + time::Duration::days(1)).unwrap();
        let signer = OcspSigner::new(&cert.der, KeyAlgorithm::EcdsaP256, key.serialized_der()).unwrap();
        let req = build_request(&ca, &[&[7u8; 16]], Some(&[3u8; 20]));
        let parsed = parse_request(&req).unwrap();
        let resp = signer
            .sign(
                &[SingleResponse {
                    cert_id: parsed.cert_ids[0].raw,
                    status: CertStatus::Revoked {
                        at: now,
                        reason_code: Some(1),
                    },
                    this_update: now,
                    next_update: now + time::Duration::hours(1),
                }],
                now,
                parsed.nonce,
            )
            .unwrap();
        let contains = |needle: &[u8]| resp.windows(needle.len()).any(|w| w == needle);
        assert!(contains(parsed.cert_ids[0].raw));
        assert!(contains(parsed.nonce.unwrap()));
        assert!(contains(&cert.der));
        // A signer whose key is not its certificate's is refused.
        let other = generate_key(KeyAlgorithm::EcdsaP256).unwrap();
        assert!(OcspSigner::new(&cert.der, KeyAlgorithm::EcdsaP256, other.serialized_der()).is_err());
    }
}

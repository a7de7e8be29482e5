//! RFC 5280 §5 CRLs (v2), assembled directly in DER: a CRL of hundreds of thousands of entries is
//! one pass over the rows with no intermediate objects.

use rcgen::KeyPair;
use time::OffsetDateTime;

use super::der::{
    ENUMERATED, INTEGER, OCTET_STRING, SEQUENCE, explicit, push_header, push_tlv, unsigned_integer, x509_time,
};
use super::sign::{CaIdentity, signature_algorithm_identifier, signed_sequence};
use super::{KeyAlgorithm, PkiError};

/// One revoked certificate.
#[derive(Clone, Debug)]
pub struct CrlEntry {
    /// The serial number's magnitude, big-endian.
    pub serial: Vec<u8>,
    pub revoked_at: OffsetDateTime,
    /// RFC 5280 CRLReason; `None` (unspecified) writes no reasonCode, as §5.3.1 asks.
    pub reason_code: Option<i16>,
}

pub struct CrlRequest<'a> {
    pub issuer: &'a CaIdentity,
    pub key: &'a KeyPair,
    pub key_algorithm: KeyAlgorithm,
    pub number: u64,
    pub this_update: OffsetDateTime,
    pub next_update: OffsetDateTime,
    pub entries: &'a [CrlEntry],
    /// For one shard of a partitioned CRL: the shard's URL, written as the distribution point of
    /// a critical issuingDistributionPoint extension (RFC 5280 §5.2.5), which limits the CRL's
    /// scope to certificates naming that URL. `None` for a full CRL.
    pub distribution_point: Option<&'a str>,
}

/// id-ce-authorityKeyIdentifier, id-ce-cRLNumber, id-ce-cRLReasons (content octets).
const OID_AKI: &[u8] = &[0x55, 0x1d, 0x23];
const OID_CRL_NUMBER: &[u8] = &[0x55, 0x1d, 0x14];
const OID_REASON_CODE: &[u8] = &[0x55, 0x1d, 0x15];
/// id-ce-issuingDistributionPoint.
const OID_IDP: &[u8] = &[0x55, 0x1d, 0x1c];

fn extension(oid: &[u8], value: &[u8]) -> Vec<u8> {
    let mut body = super::der::tlv(super::der::OID, oid);
    push_tlv(&mut body, OCTET_STRING, value);
    super::der::tlv(SEQUENCE, &body)
}

fn critical_extension(oid: &[u8], value: &[u8]) -> Vec<u8> {
    let mut body = super::der::tlv(super::der::OID, oid);
    push_tlv(&mut body, super::der::BOOLEAN, &[0xff]);
    push_tlv(&mut body, OCTET_STRING, value);
    super::der::tlv(SEQUENCE, &body)
}

/// IssuingDistributionPoint ::= SEQUENCE { distributionPoint [0] DistributionPointName, … } with
/// DistributionPointName's fullName [0] holding one uniformResourceIdentifier [6]. The module is
/// IMPLICIT-tagged, but a tagged CHOICE is always explicit, hence the two constructed tags.
fn issuing_distribution_point(url: &str) -> Vec<u8> {
    let uri = super::der::tlv(0x86, url.as_bytes());
    let full_name = super::der::tlv(explicit(0), &uri);
    let distribution_point = super::der::tlv(explicit(0), &full_name);
    super::der::tlv(SEQUENCE, &distribution_point)
}

/// Builds and signs the CRL.
pub fn build_crl(req: CrlRequest<'_>) -> Result<Vec<u8>, PkiError> {
    if req.next_update <= req.this_update {
        return Err(PkiError::Build("nextUpdate must follow thisUpdate".into()));
    }
    // revokedCertificates: each entry is SEQUENCE { serial, revocationDate, [reasonCode] }.
    let mut revoked = Vec::with_capacity(req.entries.len() * 48);
    let mut last_time: Option<(OffsetDateTime, Vec<u8>)> = None;
    for entry in req.entries {
        let serial = unsigned_integer(&entry.serial);
        let time = match &last_time {
            Some((t, enc)) if *t == entry.revoked_at => enc.clone(),
            _ => {
                let enc = x509_time(entry.revoked_at);
                last_time = Some((entry.revoked_at, enc.clone()));
                enc
            }
        };
        let reason = entry.reason_code.map(|code| {
            let value = super::der::tlv(ENUMERATED, &[code as u8]);
            super::der::tlv(SEQUENCE, &extension(OID_REASON_CODE, &value))
        });
        let serial_len = serial.len() + 2;
        let len = serial_len + time.len() + reason.as_ref().map_or(0, Vec::len);
        push_header(&mut revoked, SEQUENCE, len);
        push_tlv(&mut revoked, INTEGER, &serial);
        revoked.extend_from_slice(&time);
        if let Some(reason) = reason {
            revoked.extend_from_slice(&reason);
        }
    }

    let mut aki = Vec::new();
    push_tlv(&mut aki, 0x80, &req.issuer.key_identifier); // keyIdentifier [0] IMPLICIT
    let aki = super::der::tlv(SEQUENCE, &aki);
    let number = super::der::tlv(INTEGER, &unsigned_integer(&req.number.to_be_bytes()));
    let mut exts = extension(OID_AKI, &aki);
    exts.extend(extension(OID_CRL_NUMBER, &number));
    if let Some(url) = req.distribution_point {
        exts.extend(critical_extension(OID_IDP, &issuing_distribution_point(url)));
    }
    let exts = super::der::tlv(explicit(0), &super::der::tlv(SEQUENCE, &exts));

    let this_update = x509_time(req.this_update);
    let next_update = x509_time(req.next_update);
    let version = [INTEGER, 1, 1]; // v2
    let alg_id = signature_algorithm_identifier(req.key_algorithm);
    let mut tbs_len = version.len()
        + alg_id.len()
        + req.issuer.subject_der.len()
        + this_update.len()
        + next_update.len()
        + exts.len();
    // RFC 5280 §5.1.2.6: with no revoked certificates the list is absent, not empty.
    let mut revoked_header = Vec::new();
    if !revoked.is_empty() {
        push_header(&mut revoked_header, SEQUENCE, revoked.len());
        tbs_len += revoked_header.len() + revoked.len();
    }
    let mut tbs = Vec::with_capacity(tbs_len + 6);
    push_header(&mut tbs, SEQUENCE, tbs_len);
    tbs.extend_from_slice(&version);
    tbs.extend_from_slice(alg_id);
    tbs.extend_from_slice(&req.issuer.subject_der);
    tbs.extend_from_slice(&this_update);
    tbs.extend_from_slice(&next_update);
    tbs.extend_from_slice(&revoked_header);
    tbs.extend_from_slice(&revoked);
    drop(revoked);
    tbs.extend_from_slice(&exts);
    signed_sequence(req.key, req.key_algorithm, &tbs, &[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::der::Reader;
    use crate::{CaRequest, LoadedIssuer, PkiUrls, build_ca, generate_key};

    #[test]
    fn entries_reasons_and_an_absent_list_when_empty() {
        let key = generate_key(KeyAlgorithm::EcdsaP384).unwrap();
        let now = OffsetDateTime::now_utc();
        let id = uuid::Uuid::new_v4();
        let cert = build_ca(CaRequest {
            id,
            common_name: "CRL CA",
            key: &key,
            not_before: now,
            not_after: now + time::Duration::days(30),
            parent: None,
            urls: &PkiUrls::new("http://pki.test"),
        })
        .unwrap();
        let ca = LoadedIssuer::load(id, cert.der, KeyAlgorithm::EcdsaP384, key.serialized_der()).unwrap();
        let build = |entries: &[CrlEntry]| {
            build_crl(CrlRequest {
                issuer: &ca.identity,
                key: ca.key(),
                key_algorithm: ca.key_algorithm,
                number: 300,
                this_update: now,
                next_update: now + time::Duration::days(1),
                entries,
                distribution_point: None,
            })
            .unwrap()
        };
        // tbsCertList fields: version, signature, issuer, thisUpdate, nextUpdate, [revoked], [0] exts.
        let fields = |der: &[u8]| {
            let mut outer = Reader::new(der);
            let list = outer.expect(SEQUENCE).unwrap();
            let tbs = Reader::new(list.content).expect(SEQUENCE).unwrap();
            let mut r = Reader::new(tbs.content);
            let mut tags = Vec::new();
            while !r.is_empty() {
                tags.push(r.any().unwrap().tag);
            }
            tags
        };
        let empty = build(&[]);
        assert_eq!(
            fields(&empty),
            vec![INTEGER, SEQUENCE, SEQUENCE, 0x17, 0x17, explicit(0)]
        );
        let full = build(&[
            CrlEntry {
                serial: vec![0x81, 1, 2],
                revoked_at: now,
                reason_code: Some(1),
            },
            CrlEntry {
                serial: vec![0x11],
                revoked_at: now,
                reason_code: None,
            },
        ]);
        assert_eq!(
            fields(&full),
            vec![INTEGER, SEQUENCE, SEQUENCE, 0x17, 0x17, SEQUENCE, explicit(0)]
        );
        // The high-bit serial gains its sign octet; the CRL number 300 is 0x012c.
        assert!(full.windows(6).any(|w| w == [INTEGER, 4, 0, 0x81, 1, 2]));
        assert!(full.windows(4).any(|w| w == [INTEGER, 2, 0x01, 0x2c]));
    }
}

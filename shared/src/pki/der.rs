//! The few DER structures rcgen has no builder for: Authority Information Access (RFC 5280
//! §4.2.2.1) and the RFC 9608 `noRevAvail` extension.

const SEQUENCE: u8 = 0x30;
const OID: u8 = 0x06;
/// GeneralName `uniformResourceIdentifier` is `[6] IMPLICIT IA5String`.
const GN_URI: u8 = 0x86;

pub(crate) const OID_AUTHORITY_INFO_ACCESS: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 1, 1];
pub(crate) const OID_NO_REV_AVAIL: &[u64] = &[2, 5, 29, 56];

/// id-ad-ocsp 1.3.6.1.5.5.7.48.1 and id-ad-caIssuers 1.3.6.1.5.5.7.48.2, content octets.
const AD_OCSP: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01];
const AD_CA_ISSUERS: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x02];

pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// `AuthorityInfoAccessSyntax` with one OCSP and one caIssuers location (URIs must be ASCII).
pub(crate) fn authority_info_access(ocsp_url: &str, ca_issuers_url: &str) -> Vec<u8> {
    let access = |method: &[u8], url: &str| {
        let mut body = tlv(OID, method);
        body.extend(tlv(GN_URI, url.as_bytes()));
        tlv(SEQUENCE, &body)
    };
    let mut body = access(AD_OCSP, ocsp_url);
    body.extend(access(AD_CA_ISSUERS, ca_issuers_url));
    tlv(SEQUENCE, &body)
}

/// RFC 9608 §2: the extension value is NULL.
pub(crate) fn no_rev_avail() -> Vec<u8> {
    vec![0x05, 0x00]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lengths_use_the_minimal_form() {
        assert_eq!(&tlv(0x04, &[0; 5])[..2], &[0x04, 5]);
        assert_eq!(&tlv(0x04, &[0; 200])[..3], &[0x04, 0x81, 200]);
        assert_eq!(&tlv(0x04, &[0; 300])[..4], &[0x04, 0x82, 0x01, 0x2c]);
    }
}

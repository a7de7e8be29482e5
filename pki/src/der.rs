//! A small, strict DER toolkit: the writer helpers for the structures rcgen has no builder for
//! (Authority Information Access, RFC 9608 `noRevAvail`, CRLs, OCSP responses) and a reader for
//! the one structure certctl parses from untrusted input, the OCSP request.
//!
//! The reader accepts DER only: definite, minimally encoded lengths and single-byte tags. It never
//! allocates and never panics on any input (the OCSP fuzz target checks this).

use time::OffsetDateTime;

pub const BOOLEAN: u8 = 0x01;
pub const INTEGER: u8 = 0x02;
pub const BIT_STRING: u8 = 0x03;
pub const OCTET_STRING: u8 = 0x04;
pub const NULL: u8 = 0x05;
pub const OID: u8 = 0x06;
pub const ENUMERATED: u8 = 0x0a;
pub const UTC_TIME: u8 = 0x17;
pub const GENERALIZED_TIME: u8 = 0x18;
pub const SEQUENCE: u8 = 0x30;

/// Context-specific constructed tag `[n]`.
pub const fn explicit(n: u8) -> u8 {
    0xa0 | n
}

/// GeneralName `uniformResourceIdentifier` is `[6] IMPLICIT IA5String`.
const GN_URI: u8 = 0x86;

pub(crate) const OID_AUTHORITY_INFO_ACCESS: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 1, 1];
pub(crate) const OID_NO_REV_AVAIL: &[u64] = &[2, 5, 29, 56];
pub(crate) const OID_OCSP_NOCHECK: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 48, 1, 5];

/// id-ad-ocsp 1.3.6.1.5.5.7.48.1 and id-ad-caIssuers 1.3.6.1.5.5.7.48.2, content octets.
const AD_OCSP: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01];
const AD_CA_ISSUERS: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x02];

/// Appends a tag-length header for `len` content octets.
pub fn push_header(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.push(tag);
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// Appends a whole TLV.
pub fn push_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    push_header(out, tag, content.len());
    out.extend_from_slice(content);
}

pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    push_tlv(&mut out, tag, content);
    out
}

/// Content octets of a non-negative INTEGER whose magnitude is `be` (big-endian, unsigned).
pub fn unsigned_integer(be: &[u8]) -> Vec<u8> {
    let trimmed = match be.iter().position(|b| *b != 0) {
        Some(i) => &be[i..],
        None => return vec![0],
    };
    let mut out = Vec::with_capacity(trimmed.len() + 1);
    if trimmed[0] & 0x80 != 0 {
        out.push(0);
    }
    out.extend_from_slice(trimmed);
    out
}

/// `YYYYMMDDHHMMSSZ`: GeneralizedTime in UTC without fractional seconds (RFC 5280 §4.1.2.5.2).
pub fn generalized_time(t: OffsetDateTime) -> Vec<u8> {
    let t = t.to_offset(time::UtcOffset::UTC);
    let s = format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    tlv(GENERALIZED_TIME, s.as_bytes())
}

/// RFC 5280 `Time`: UTCTime through 2049, GeneralizedTime from 2050.
pub fn x509_time(t: OffsetDateTime) -> Vec<u8> {
    let t = t.to_offset(time::UtcOffset::UTC);
    if t.year() >= 2050 || t.year() < 1950 {
        return generalized_time(t);
    }
    let s = format!(
        "{:02}{:02}{:02}{:02}{:02}{:02}Z",
        t.year() % 100,
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    tlv(UTC_TIME, s.as_bytes())
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

/// RFC 9608 §2 and RFC 6960 §4.2.2.2.1: the extension value is NULL.
pub(crate) fn null_value() -> Vec<u8> {
    vec![NULL, 0x00]
}

/// Not DER, or not the structure expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DerError;

/// One TLV read from a [`Reader`].
#[derive(Clone, Copy, Debug)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub content: &'a [u8],
    /// Header and content: the element's full encoding.
    pub raw: &'a [u8],
}

/// Reads consecutive DER elements from a slice.
#[derive(Clone, Copy, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn peek_tag(&self) -> Option<u8> {
        self.buf.first().copied()
    }

    /// Reads the next element, whatever its tag.
    pub fn any(&mut self) -> Result<Tlv<'a>, DerError> {
        let buf = self.buf;
        let (&tag, rest) = buf.split_first().ok_or(DerError)?;
        // High-tag-number form never occurs in the structures read here.
        if tag & 0x1f == 0x1f {
            return Err(DerError);
        }
        let (&first, rest) = rest.split_first().ok_or(DerError)?;
        let (len, rest) = if first < 0x80 {
            (first as usize, rest)
        } else {
            let n = (first & 0x7f) as usize;
            // 0x80 is BER's indefinite length; more than 4 length octets is never needed here.
            if n == 0 || n > 4 || rest.len() < n {
                return Err(DerError);
            }
            let (len_bytes, rest) = rest.split_at(n);
            if len_bytes[0] == 0 {
                return Err(DerError);
            }
            let len = len_bytes.iter().fold(0usize, |acc, b| (acc << 8) | *b as usize);
            if len < 0x80 {
                return Err(DerError);
            }
            (len, rest)
        };
        if rest.len() < len {
            return Err(DerError);
        }
        let header = buf.len() - rest.len();
        let (content, after) = rest.split_at(len);
        self.buf = after;
        Ok(Tlv {
            tag,
            content,
            raw: &buf[..header + len],
        })
    }

    /// Reads the next element, which must have tag `tag`.
    pub fn expect(&mut self, tag: u8) -> Result<Tlv<'a>, DerError> {
        let tlv = self.any()?;
        if tlv.tag == tag { Ok(tlv) } else { Err(DerError) }
    }

    /// Reads the next element if it has tag `tag`.
    pub fn optional(&mut self, tag: u8) -> Result<Option<Tlv<'a>>, DerError> {
        if self.peek_tag() == Some(tag) {
            self.expect(tag).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Fails unless every byte has been read.
    pub fn finish(&self) -> Result<(), DerError> {
        if self.buf.is_empty() { Ok(()) } else { Err(DerError) }
    }
}

/// Checks INTEGER content octets are minimally encoded and non-negative.
pub fn check_unsigned_integer(content: &[u8]) -> Result<(), DerError> {
    match content {
        [] => Err(DerError),
        [b, ..] if b & 0x80 != 0 => Err(DerError),
        [0, next, ..] if next & 0x80 == 0 => Err(DerError),
        _ => Ok(()),
    }
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

    #[test]
    fn reader_round_trips_what_the_writer_writes() {
        for len in [0usize, 1, 127, 128, 255, 256, 70_000] {
            let enc = tlv(OCTET_STRING, &vec![7u8; len]);
            let mut r = Reader::new(&enc);
            let t = r.expect(OCTET_STRING).unwrap();
            assert_eq!(t.content.len(), len);
            assert_eq!(t.raw, &enc[..]);
            r.finish().unwrap();
        }
    }

    #[test]
    fn reader_refuses_ber_and_truncation() {
        for bad in [
            &[0x30, 0x80, 0x00, 0x00][..],      // indefinite length
            &[0x04, 0x81, 0x05, 1, 2, 3, 4, 5], // long form for a short length
            &[0x04, 0x82, 0x00, 0x81],          // leading zero length octet
            &[0x04, 0x05, 1, 2],                // truncated
            &[0x1f, 0x01, 0x00],                // high tag number
            &[0x04],                            // no length
        ] {
            assert!(Reader::new(bad).any().is_err(), "{bad:02x?}");
        }
    }

    #[test]
    fn integers_are_minimal_and_positive() {
        assert_eq!(unsigned_integer(&[0, 0, 0x80]), vec![0, 0x80]);
        assert_eq!(unsigned_integer(&[0x7f]), vec![0x7f]);
        assert_eq!(unsigned_integer(&[0, 0]), vec![0]);
        assert!(check_unsigned_integer(&[0, 0x80]).is_ok());
        assert!(check_unsigned_integer(&[0, 0x7f]).is_err());
        assert!(check_unsigned_integer(&[0x80]).is_err());
        assert!(check_unsigned_integer(&[]).is_err());
    }

    #[test]
    fn times_switch_to_generalized_in_2050() {
        let t = OffsetDateTime::from_unix_timestamp(2_524_607_999).unwrap();
        assert_eq!(x509_time(t), tlv(UTC_TIME, b"491231235959Z"));
        let t = OffsetDateTime::from_unix_timestamp(2_524_608_000).unwrap();
        assert_eq!(x509_time(t), tlv(GENERALIZED_TIME, b"20500101000000Z"));
    }
}

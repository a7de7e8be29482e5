//! DNS messages for the ACME server's dns-01 validation (RFC 8555 §8.4): the TXT query for
//! `_acme-challenge.<domain>` sent to the configured recursive resolver, and the reading of its
//! answer. No sockets here: the caller sends [`txt_query`] over UDP, and again over TCP (framed
//! with [`tcp_frame`]) when [`parse_txt_response`] says the UDP answer was truncated.
//!
//! The answer comes from the network, so it is read as untrusted input: every read is
//! bounds-checked, a compression pointer must point back before the labels it ends (so reading a
//! name always ends), a name may make at most 64 jumps and a CNAME chain at most 8 hops. Nothing
//! panics on any input; the `dns_answer` fuzz target checks this.
//!
//! Only what dns-01 needs: one question, the TXT records at the end of the CNAME chain the
//! resolver put in the answer section, every other record type (RRSIG, …) skipped. DNSSEC is
//! the resolver's business; the authority and additional sections are not read.

use std::fmt::Write as _;

const TYPE_CNAME: u16 = 5;
const TYPE_TXT: u16 = 16;
const CLASS_IN: u16 = 1;
const HEADER_LEN: usize = 12;
/// Longest name in wire form, length octets and the final zero included (RFC 1035 §2.3.4).
const MAX_WIRE_NAME: usize = 255;
/// Jumps allowed while reading one name. Pointers that only point backwards cannot loop; this
/// bounds the work a hostile answer can ask for anyway.
const MAX_POINTER_JUMPS: usize = 64;
/// CNAME hops followed from the queried name: delegating `_acme-challenge` to a validation zone
/// takes one, and no sane setup needs more than a few.
const MAX_CNAME_HOPS: usize = 8;

/// Why a name cannot be queried or an answer cannot be used. The messages end up in the `detail`
/// of the ACME error the client sees, so they say what is wrong in plain words.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DnsError {
    #[error("{name:?} cannot be looked up in the DNS: {reason}")]
    BadName { name: String, reason: &'static str },
    #[error("the DNS answer is malformed: {0}")]
    Malformed(&'static str),
    #[error("the DNS answer does not answer the query: {0}")]
    Mismatch(String),
}

/// What a resolver answered. `rcode` is the response code (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN…);
/// `records` holds one value per TXT record, its character-strings concatenated (RFC 7208 §3.3),
/// as raw bytes since nothing says they are UTF-8. When `truncated` is set the records are those
/// read before the cut and the caller asks again over TCP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxtAnswer {
    pub rcode: u8,
    pub truncated: bool,
    pub records: Vec<Vec<u8>>,
}

/// A standard query (recursion desired) for the TXT records of `name`, given in presentation form
/// with or without the trailing dot. No EDNS: an answer over 512 octets comes back truncated and
/// the caller retries over TCP.
pub fn txt_query(id: u16, name: &str) -> Result<Vec<u8>, DnsError> {
    let qname = wire_name(name)?;
    let mut msg = Vec::with_capacity(HEADER_LEN + qname.len() + 4);
    msg.extend(id.to_be_bytes());
    msg.extend([0x01, 0x00]); // RD
    msg.extend([0, 1, 0, 0, 0, 0, 0, 0]); // one question, nothing else
    msg.extend(qname);
    msg.extend(TYPE_TXT.to_be_bytes());
    msg.extend(CLASS_IN.to_be_bytes());
    Ok(msg)
}

/// `msg` with the two-octet length that precedes every message over TCP (RFC 1035 §4.2.2). A DNS
/// message never exceeds 65535 octets, and a query from [`txt_query`] is at most 271.
pub fn tcp_frame(msg: &[u8]) -> Vec<u8> {
    debug_assert!(msg.len() <= usize::from(u16::MAX));
    let len = u16::try_from(msg.len()).unwrap_or(u16::MAX);
    let mut framed = Vec::with_capacity(msg.len() + 2);
    framed.extend(len.to_be_bytes());
    framed.extend_from_slice(msg);
    framed
}

/// Reads the answer to `txt_query(id, name)`: a response with the same id to a standard query
/// about `name` (any case), TXT, IN. Its TXT records are those owned by the last name of the
/// CNAME chain that starts at `name`. The response code is returned, not judged: NXDOMAIN and
/// NOERROR without records both mean "no such TXT record" to dns-01, SERVFAIL means "try again".
pub fn parse_txt_response(msg: &[u8], id: u16, name: &str) -> Result<TxtAnswer, DnsError> {
    let query = wire_name(name)?;
    let mismatch = |detail: String| Err(DnsError::Mismatch(detail));
    if msg.len() < HEADER_LEN {
        return Err(DnsError::Malformed("it is shorter than a DNS header"));
    }
    let flags = u16_at(msg, 2)?;
    if flags & 0x8000 == 0 {
        return mismatch("it is a query, not a response".into());
    }
    let got = u16_at(msg, 0)?;
    if got != id {
        return mismatch(format!("its id is {got}, the query's was {id}"));
    }
    let opcode = (flags >> 11) & 0xF;
    if opcode != 0 {
        return mismatch(format!("its opcode is {opcode}, not 0 (a standard query)"));
    }
    let (rcode, truncated) = ((flags & 0xF) as u8, flags & 0x0200 != 0);
    let (qdcount, ancount) = (u16_at(msg, 4)?, u16_at(msg, 6)?);
    // Some servers leave the question out of an error or a truncated response.
    if qdcount == 0 && (rcode != 0 || truncated) {
        return Ok(TxtAnswer {
            rcode,
            truncated,
            records: Vec::new(),
        });
    }
    if qdcount != 1 {
        return mismatch(format!("it has {qdcount} questions, the query had one"));
    }
    let (qname, mut pos) = read_name(msg, HEADER_LEN)?;
    if qname != query {
        let (theirs, ours) = (presentation(&qname), presentation(&query));
        return mismatch(format!("it is about {theirs}, the query was about {ours}"));
    }
    let (qtype, qclass) = (u16_at(msg, pos)?, u16_at(msg, pos + 2)?);
    if (qtype, qclass) != (TYPE_TXT, CLASS_IN) {
        return mismatch(format!("it asks for type {qtype} class {qclass}, not TXT IN"));
    }
    pos += 4;

    let (mut cnames, mut txts) = (Vec::new(), Vec::new());
    for _ in 0..ancount {
        match read_record(msg, pos) {
            Ok((record, next)) => {
                match record {
                    Record::Cname(owner, target) => cnames.push((owner, target)),
                    Record::Txt(owner, value) => txts.push((owner, value)),
                    Record::Other => {}
                }
                pos = next;
            }
            // The server cut the answer where it ran out of room: keep what came before.
            Err(_) if truncated => break,
            Err(e) => return Err(e),
        }
    }

    let mut chain = vec![query];
    while let Some((_, target)) = cnames.iter().find(|(owner, _)| chain.last() == Some(owner)) {
        if chain.contains(target) {
            return Err(DnsError::Malformed("its CNAME records loop"));
        }
        if chain.len() > MAX_CNAME_HOPS {
            return Err(DnsError::Malformed("its CNAME chain is longer than 8 records"));
        }
        chain.push(target.clone());
    }
    let last = chain.last();
    let records = txts
        .into_iter()
        .filter(|(owner, _)| Some(owner) == last)
        .map(|(_, v)| v)
        .collect();
    Ok(TxtAnswer {
        rcode,
        truncated,
        records,
    })
}

/// One resource record of the answer section, as far as dns-01 cares: owner and target of a
/// CNAME, owner and value of a TXT record. Names are in wire form, lower-cased.
enum Record {
    Cname(Vec<u8>, Vec<u8>),
    Txt(Vec<u8>, Vec<u8>),
    Other,
}

/// Reads the record at `pos`; returns it with the offset of the next one.
fn read_record(msg: &[u8], pos: usize) -> Result<(Record, usize), DnsError> {
    let (owner, pos) = read_name(msg, pos)?;
    let (rtype, class) = (u16_at(msg, pos)?, u16_at(msg, pos + 2)?);
    let start = pos + 10; // type, class, TTL, RDLENGTH
    let end = start + usize::from(u16_at(msg, pos + 8)?);
    let rdata = msg.get(start..end).ok_or(PAST_END)?;
    let record = match (rtype, class) {
        (TYPE_CNAME, CLASS_IN) => {
            let (target, after) = read_name(msg, start)?;
            if after != end {
                return Err(DnsError::Malformed("a CNAME record's data is not exactly one name"));
            }
            Record::Cname(owner, target)
        }
        (TYPE_TXT, CLASS_IN) => Record::Txt(owner, txt_value(rdata)?),
        _ => Record::Other,
    };
    Ok((record, end))
}

/// The character-strings of a TXT record's data, concatenated.
fn txt_value(mut rdata: &[u8]) -> Result<Vec<u8>, DnsError> {
    let mut value = Vec::with_capacity(rdata.len());
    while let Some((&len, rest)) = rdata.split_first() {
        if rest.len() < usize::from(len) {
            return Err(DnsError::Malformed("a TXT character-string runs past its record"));
        }
        let (string, rest) = rest.split_at(usize::from(len));
        value.extend_from_slice(string);
        rdata = rest;
    }
    Ok(value)
}

const PAST_END: DnsError = DnsError::Malformed("it ends in the middle of a record");

fn u16_at(msg: &[u8], at: usize) -> Result<u16, DnsError> {
    let bytes = msg.get(at..at + 2).ok_or(PAST_END)?;
    Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
}

/// Reads the name at `start`, following compression pointers (RFC 1035 §4.1.4); returns it in
/// uncompressed wire form, lower-cased (names compare case-insensitively, RFC 4343), with the
/// offset just after it. A pointer must point before the labels it ends: a compressor only points
/// at names it wrote earlier, and each jump then lands strictly before the previous one, so the
/// walk ends.
fn read_name(msg: &[u8], start: usize) -> Result<(Vec<u8>, usize), DnsError> {
    let mut name = Vec::new();
    let (mut pos, mut segment, mut after, mut jumps) = (start, start, None, 0);
    loop {
        let len = *msg.get(pos).ok_or(PAST_END)?;
        match len {
            0 => {
                name.push(0);
                return Ok((name, after.unwrap_or(pos + 1)));
            }
            1..=63 => {
                let label = msg.get(pos + 1..pos + 1 + usize::from(len)).ok_or(PAST_END)?;
                if name.len() + label.len() + 2 > MAX_WIRE_NAME {
                    return Err(DnsError::Malformed("a name is longer than 255 octets"));
                }
                name.push(len);
                name.extend(label.iter().map(u8::to_ascii_lowercase));
                pos += 1 + label.len();
            }
            0xC0..=0xFF => {
                let low = *msg.get(pos + 1).ok_or(PAST_END)?;
                let target = (usize::from(len & 0x3F) << 8) | usize::from(low);
                if target >= segment {
                    return Err(DnsError::Malformed("a compression pointer does not point backwards"));
                }
                jumps += 1;
                if jumps > MAX_POINTER_JUMPS {
                    return Err(DnsError::Malformed("a name has more than 64 compression pointers"));
                }
                after.get_or_insert(pos + 2);
                (pos, segment) = (target, target);
            }
            _ => return Err(DnsError::Malformed("a label has an unknown type")),
        }
    }
}

/// A wire-form name in presentation form for error messages, odd octets escaped as `\DDD`.
fn presentation(wire: &[u8]) -> String {
    let mut out = String::new();
    let mut rest = wire;
    while let Some((&len, tail)) = rest.split_first().filter(|(len, _)| **len != 0) {
        let (label, next) = tail.split_at(usize::from(len).min(tail.len()));
        for &b in label {
            if b.is_ascii_graphic() && b != b'.' && b != b'\\' {
                out.push(char::from(b));
            } else {
                let _ = write!(out, "\\{b:03}");
            }
        }
        out.push('.');
        rest = next;
    }
    if out.is_empty() { ".".into() } else { out }
}

/// `name` in wire form, lower-cased, once it passed the rules for names certctl looks up: labels
/// of 1-63 letters, digits, hyphens and underscores (`_acme-challenge` has one), 253 characters in
/// all. Internationalized names must already be A-labels.
fn wire_name(name: &str) -> Result<Vec<u8>, DnsError> {
    let bad = |reason| DnsError::BadName {
        name: name.to_owned(),
        reason,
    };
    let bare = name.strip_suffix('.').unwrap_or(name);
    if bare.is_empty() {
        return Err(bad("the name is empty"));
    }
    if bare.len() > 253 {
        return Err(bad("the name is longer than 253 characters"));
    }
    let mut wire = Vec::with_capacity(bare.len() + 2);
    for label in bare.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(bad("every label must be 1 to 63 characters long"));
        }
        if !label.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b)) {
            return Err(bad(
                "a label holds a character other than a letter, digit, hyphen or underscore",
            ));
        }
        wire.push(label.len() as u8);
        wire.extend(label.bytes().map(|b| b.to_ascii_lowercase()));
    }
    wire.push(0);
    Ok(wire)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: &str = "_acme-challenge.example.test";
    /// A pointer to the question's name, at offset 12 in every response built here.
    const Q: [u8; 2] = [0xC0, 12];
    /// QR, RD, RA, NOERROR.
    const OK: u16 = 0x8180;
    /// The offset of the first answer in those responses, and of its data.
    const ANSWERS: usize = 46;
    const DATA: usize = ANSWERS + 12;

    fn name(s: &str) -> Vec<u8> {
        wire_name(s).unwrap()
    }

    fn rr(owner: &[u8], rtype: u16, rdata: &[u8]) -> Vec<u8> {
        let ([t0, t1], [l0, l1]) = (rtype.to_be_bytes(), u16::try_from(rdata.len()).unwrap().to_be_bytes());
        [owner, &[t0, t1, 0, 1, 0, 0, 1, 44, l0, l1], rdata].concat() // class IN, TTL 300
    }

    fn txt(strings: &[&[u8]]) -> Vec<u8> {
        strings
            .iter()
            .flat_map(|s| [&[s.len() as u8][..], *s].concat())
            .collect()
    }

    /// A response with id 7 to the query for NAME.
    fn response(flags: u16, answers: &[Vec<u8>]) -> Vec<u8> {
        let mut msg = txt_query(7, NAME).unwrap();
        msg[2..4].copy_from_slice(&flags.to_be_bytes());
        msg[6..8].copy_from_slice(&u16::try_from(answers.len()).unwrap().to_be_bytes());
        [msg, answers.concat()].concat()
    }

    fn answer(msg: &[u8]) -> Result<(u8, bool, Vec<Vec<u8>>), DnsError> {
        parse_txt_response(msg, 7, NAME).map(|a| (a.rcode, a.truncated, a.records))
    }

    fn records(msg: &[u8]) -> Result<Vec<Vec<u8>>, DnsError> {
        answer(msg).map(|a| a.2)
    }

    fn malformed<T>(detail: &'static str) -> Result<T, DnsError> {
        Err(DnsError::Malformed(detail))
    }

    /// NAME is a CNAME for other.example.test (compressed, at DATA), which has two TXT records
    /// and an RRSIG; sub.other.example.test has a TXT record too.
    fn rich() -> Vec<u8> {
        let (other, sub) = ([0xC0, DATA as u8], [&b"\x03sub"[..], &[0xC0, DATA as u8]].concat());
        let answers = [
            rr(&Q, TYPE_CNAME, &[&b"\x05other"[..], &[0xC0, 28]].concat()),
            rr(&other, TYPE_TXT, &txt(&[b"v=1", b" two"])),
            rr(&other, 46, &[1, 2, 3]),
            rr(&sub, TYPE_TXT, &txt(&[b"not this one"])),
            rr(&other, TYPE_TXT, &txt(&[b""])),
        ];
        response(OK, &answers)
    }

    #[test]
    fn dns_queries_are_standard_txt_queries_and_their_answers_read_back() {
        let query = txt_query(0xBEEF, "_ACME-Challenge.Example.TEST.").unwrap();
        let header = [0xBE, 0xEF, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        let question = b"\x0f_acme-challenge\x07example\x04test\x00\x00\x10\x00\x01";
        assert_eq!(query, [&header[..], question].concat());
        assert_eq!(tcp_frame(&query), [&[0, 46][..], &query].concat());
        let mut msg = query;
        (msg[2], msg[7]) = (0x81, 1);
        msg.extend(rr(&Q, TYPE_TXT, &txt(&[b"token"])));
        let answer = parse_txt_response(&msg, 0xBEEF, "_acme-challenge.example.test.").unwrap();
        assert_eq!((answer.rcode, answer.truncated), (0, false));
        assert_eq!(answer.records, [b"token"]);
    }

    #[test]
    fn dns_names_that_cannot_be_queried_are_refused() {
        let long_label = format!("{}.test", "a".repeat(64));
        let long_name = format!("{}.tt", vec!["a".repeat(62); 4].join(".")); // 254 characters
        let odd = "|.|a..test|a.test..|a b.test|é.test|*.test".split('|');
        for bad in odd.chain([long_label.as_str(), &long_name]) {
            assert!(matches!(txt_query(1, bad), Err(DnsError::BadName { .. })), "{bad:?}");
        }
        assert!(txt_query(1, &long_name[1..]).is_ok());
        assert_eq!(
            txt_query(1, "a b.test").unwrap_err().to_string(),
            "\"a b.test\" cannot be looked up in the DNS: \
             a label holds a character other than a letter, digit, hyphen or underscore"
        );
    }

    #[test]
    fn dns_txt_records_are_read_through_cnames_and_compression() {
        assert_eq!(records(&rich()).unwrap(), [b"v=1 two".to_vec(), Vec::new()]);
        let mut upper = rich();
        upper[29..36].make_ascii_uppercase(); // the question echoes EXAMPLE
        assert_eq!(records(&upper).unwrap().len(), 2);
        let long = [&[b'x'; 255][..], b"y"];
        let answers = [
            rr(&Q, TYPE_TXT, &txt(&[b"a"])),
            rr(&Q, TYPE_TXT, &txt(&long)),
            rr(&name("other.test"), TYPE_TXT, &txt(&[b"c"])),
        ];
        let msg = response(OK, &answers);
        assert_eq!(records(&msg).unwrap(), [b"a".to_vec(), long.concat()]);
    }

    #[test]
    fn dns_cname_chains_are_bounded_and_may_not_loop() {
        let hop = |i: usize| name(&format!("H{i}.test"));
        let chain = |hops: usize| {
            let mut answers = vec![rr(&Q, TYPE_CNAME, &hop(1))];
            answers.extend((1..hops).map(|i| rr(&hop(i), TYPE_CNAME, &hop(i + 1))));
            answers.push(rr(&hop(hops), TYPE_TXT, &txt(&[b"end"])));
            records(&response(OK, &answers))
        };
        assert_eq!(chain(8).unwrap(), [b"end".to_vec()]);
        assert_eq!(chain(9), malformed("its CNAME chain is longer than 8 records"));
        let back = response(OK, &[rr(&Q, TYPE_CNAME, &hop(1)), rr(&hop(1), TYPE_CNAME, &name(NAME))]);
        assert_eq!(records(&back), malformed("its CNAME records loop"));
    }

    #[test]
    fn dns_response_codes_and_truncation_are_reported() {
        assert_eq!(answer(&response(0x8183, &[])), Ok((3, false, Vec::new())));
        let txt_rr = |value: &[u8]| rr(&Q, TYPE_TXT, &txt(&[value]));
        let mut cut = response(OK | 0x0200, &[txt_rr(b"first"), txt_rr(b"second")]);
        cut.truncate(cut.len() - 4);
        assert_eq!(answer(&cut), Ok((0, true, vec![b"first".to_vec()])));
        cut[2] &= !0x02;
        assert_eq!(answer(&cut), Err(PAST_END));
    }

    #[test]
    fn dns_answers_to_another_query_are_refused() {
        let msg = response(OK, &[rr(&Q, TYPE_TXT, &txt(&[b"a"]))]);
        assert_eq!(
            parse_txt_response(&msg, 8, NAME).unwrap_err().to_string(),
            "the DNS answer does not answer the query: its id is 7, the query's was 8"
        );
        let other = parse_txt_response(&msg, 7, "_acme-challenge.other.test");
        assert!(matches!(other, Err(DnsError::Mismatch(_))));
        // A query; opcode 2; two questions; type A; class CH.
        for (at, byte) in [(2, 0x01), (2, 0x90), (5, 2), (43, 1), (45, 3)] {
            let mut changed = msg.clone();
            changed[at] = byte;
            assert!(matches!(answer(&changed), Err(DnsError::Mismatch(_))), "{at} {byte}");
        }
    }

    #[test]
    fn dns_compression_pointers_must_point_backwards_a_bounded_number_of_times() {
        let owned_by = |owner: &[u8]| records(&response(OK, &[rr(owner, TYPE_TXT, &txt(&[b"a"]))]));
        let backwards = malformed("a compression pointer does not point backwards");
        assert_eq!(owned_by(&[0xC0, ANSWERS as u8]), backwards); // to itself
        assert_eq!(owned_by(&[1, b'a', 0xC0, ANSWERS as u8]), backwards); // to its own label
        assert_eq!(owned_by(&[0xC0, 200]), backwards); // forwards
        assert_eq!(owned_by(&[0x40, 0]), malformed("a label has an unknown type"));
        // Pointers to pointers in a record's data, ending at the question's name, then a record
        // owned by the last one: 64 jumps are read, 65 are not.
        let jumps = |n: usize| {
            let pointer = |k: usize| if k == 0 { Q } else { [0xC0, (DATA + 2 * k - 2) as u8] };
            let data: Vec<u8> = (0..n).flat_map(pointer).collect();
            let answers = [rr(&Q, 99, &data), rr(&pointer(n), TYPE_TXT, &txt(&[b"ok"]))];
            records(&response(OK, &answers))
        };
        assert_eq!(jumps(63).unwrap(), [b"ok".to_vec()]);
        assert_eq!(jumps(64), malformed("a name has more than 64 compression pointers"));
    }

    #[test]
    fn dns_cut_or_damaged_answers_never_panic() {
        let mut truncated = rich();
        truncated[2] |= 0x02;
        for msg in [rich(), truncated] {
            for len in 0..msg.len() {
                let _ = answer(&msg[..len]);
            }
            for (at, byte) in (0..msg.len()).flat_map(|at| (0..=255).map(move |byte| (at, byte))) {
                let mut damaged = msg.clone();
                damaged[at] = byte;
                let _ = answer(&damaged);
            }
        }
    }
}

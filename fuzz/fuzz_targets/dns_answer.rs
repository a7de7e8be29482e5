//! Fuzzes the DNS answer reader of dns-01 validation: every input goes through
//! `certctl_pki::dns::parse_txt_response` as the resolver's answer to the TXT query for
//! `_acme-challenge.example.test`, with the query id taken from its first two octets, so most
//! mutations get past the id check into the question and answer sections (names, compression
//! pointers, CNAME chains, TXT character-strings). It must never panic or loop. Run with
//! `scripts/fuzz.sh dns_answer`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let id = match data {
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => 0,
    };
    let _ = certctl_pki::dns::parse_txt_response(data, id, "_acme-challenge.example.test");
});

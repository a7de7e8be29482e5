//! Fuzzes the EST enrollment body reader: every input goes through
//! `certctl_pki::est::read_enrollment_body` (base64 with line breaks, then the PKCS#10 request and
//! its signature) as raw bytes, and once more base64-encoded, so mutations also reach the CSR
//! parser behind a valid encoding. It must never panic. Run with `scripts/fuzz.sh est_body`.

#![no_main]

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = certctl_pki::est::read_enrollment_body(data);
    let encoded = base64::engine::general_purpose::STANDARD.encode(data);
    let _ = certctl_pki::est::read_enrollment_body(encoded.as_bytes());
});

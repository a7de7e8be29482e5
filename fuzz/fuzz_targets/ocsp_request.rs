//! Fuzzes the revocation responder's OCSP request path: every input goes through
//! `certctl_revocation_responder::ocsp::answer` (fresh view, stale view, issuer without a signer)
//! and through the GET route of the public router. Run with `scripts/fuzz.sh`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = certctl_fuzz::check(data);
});

//! Fuzzes the SCEP pkiMessage parser: every input goes through
//! `certctl_pki::scep::parse_pki_message` with one fixed Registration Authority (an ECDSA CA and
//! its RSA RA certificate, generated once per process). The parser must never panic, whatever the
//! bytes; failures are its `ScepError`s. Run with
//! `(cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run scep_pki_message work/scep_pki_message corpus/scep_pki_message)`.
//!
//! The seeds in `corpus/scep_pki_message` are real client messages, so mutations start from a
//! signed request that passes the signature checks (they are addressed to another RA, so the
//! decryption layer is exercised by the unit tests in `pki/src/scep.rs` instead).

#![no_main]

use std::sync::LazyLock;

use certctl_pki::scep::{Ra, parse_pki_message};
use certctl_pki::{CaRequest, KeyAlgorithm, LoadedIssuer, PkiUrls, build_ca, generate_key, issue_ra_certificate};
use libfuzzer_sys::fuzz_target;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

static RA: LazyLock<Ra> = LazyLock::new(|| {
    let now = OffsetDateTime::now_utc();
    let urls = PkiUrls::new("https://pki.example");
    let ca_key = generate_key(KeyAlgorithm::EcdsaP256).expect("CA key");
    let id = Uuid::new_v4();
    let ca = build_ca(CaRequest {
        id,
        common_name: "Fuzz CA",
        key: &ca_key,
        not_before: now - Duration::hours(1),
        not_after: now + Duration::days(365),
        parent: None,
        urls: &urls,
    })
    .expect("CA certificate");
    let issuer = LoadedIssuer::load(id, ca.der, KeyAlgorithm::EcdsaP256, &ca_key.serialize_der()).expect("issuer");
    let ra_key = generate_key(KeyAlgorithm::Rsa2048).expect("RA key");
    let ra = issue_ra_certificate(&issuer, &ra_key, "Fuzz CA", now - Duration::hours(1), now + Duration::days(30))
        .expect("RA certificate");
    Ra::new(ra.der, &ra_key.serialize_der()).expect("RA")
});

fuzz_target!(|data: &[u8]| {
    let _ = parse_pki_message(data, &RA);
});

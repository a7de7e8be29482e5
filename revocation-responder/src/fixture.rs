//! An in-memory responder for fuzzing and mutation tests: an ECDSA P-256 root, its delegated
//! OCSP signer and a [`Store`] with good and revoked serials, so every input runs the request path
//! (parsing, CertID matching, status lookup, response cache, signing) and the public router
//! without a database. Built with the `fixture` feature: the cargo-fuzz target in `fuzz/` and the
//! mutation test in `tests/fuzz_ocsp.rs` both use it.
//!
//! The CA key is fixed so that the CertIDs of the seed corpus (`fuzz/corpus/ocsp_request`, written
//! by `cargo run --manifest-path fuzz/Cargo.toml --example seed_corpus`) name this CA on every
//! run; the CA certificate and the signer key are made afresh at start-up.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use certctl_pki::der::{INTEGER, NULL, OCTET_STRING, OID, SEQUENCE, push_tlv, tlv, unsigned_integer};
use certctl_pki::ocsp::{ErrorStatus, OcspSigner, build_request, parse_request};
use certctl_pki::{CaIdentity, CaRequest, KeyAlgorithm, LoadedIssuer, PkiUrls, build_ca, generate_key};
use certctl_shared::model::IssuerId;
use time::OffsetDateTime;
use tower::ServiceExt;
use uuid::Uuid;

use crate::metrics::ResponderMetrics;
use crate::ocsp::{AnswerKind, OcspSettings, answer};
use crate::routes::{PublicState, router};
use crate::store::{Issuer, Signer, Status, Store};

/// PKCS#8 of the fuzzing CA's P-256 key (a throwaway test key, made with
/// `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`).
const CA_KEY_PKCS8_HEX: &str = concat!(
    "308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420",
    "4f4c44ad5161488fa6e9c1f3806fccdc9ecb75e38e35f39ddc86a66368e900a8a1440342",
    "0004e1eed82fe3b958a06fdf6a25f22f973f910afe079a6f2aab7a5e17ba3374146988af",
    "65c02fde2ccc98ba123aea9255ce7a99339947bdc8ee44b65f3114f805b8",
);

pub const CA_COMMON_NAME: &str = "certctl fuzz root";
pub const ISSUER_ID: IssuerId = IssuerId(Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_0001));
/// The same CA again, without an OCSP signer (answers `tryLater` once past the parser).
pub const SIGNERLESS_ID: IssuerId = IssuerId(Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_0002));

/// Serial magnitudes (no leading zero octets) the store knows.
pub const GOOD: &[&[u8]] = &[&[0x01], &[0x7f, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99]];
pub const REVOKED: &[&[u8]] = &[&[0x02], &[0x80, 0x01]];
pub const UNKNOWN: &[u8] = &[0x03];

pub struct Fixture {
    pub store: Arc<Store>,
    pub issuer: Arc<Issuer>,
    pub signerless: Arc<Issuer>,
    pub ca_der: Vec<u8>,
    pub ca_pem: String,
    /// The view is current: misses are signed.
    pub fresh: OcspSettings,
    /// The view is stale: only cached answers or `tryLater`.
    pub stale: OcspSettings,
    pub router: Router,
    pub runtime: tokio::runtime::Runtime,
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex constant"))
        .collect()
}

impl Fixture {
    pub fn new() -> Self {
        let alg = KeyAlgorithm::EcdsaP256;
        let pkcs8 = hex_decode(CA_KEY_PKCS8_HEX);
        let ca_key = certctl_pki::load_key(alg, &pkcs8).expect("CA key loads");
        let now = OffsetDateTime::now_utc();
        let urls = PkiUrls::new("http://responder.invalid");
        let ca = build_ca(CaRequest {
            id: ISSUER_ID.as_uuid(),
            common_name: CA_COMMON_NAME,
            key: &ca_key,
            not_before: now - Duration::from_secs(3600),
            not_after: now + Duration::from_secs(10 * 365 * 86_400),
            parent: None,
            urls: &urls,
        })
        .expect("CA builds");
        let loaded = LoadedIssuer::load(ISSUER_ID.as_uuid(), ca.der.clone(), alg, &pkcs8).expect("CA loads");
        let signer_key = generate_key(alg).expect("signer key");
        let signer_cert = certctl_pki::issue_ocsp_signer(
            &loaded,
            &signer_key,
            now - Duration::from_secs(3600),
            now + Duration::from_secs(30 * 86_400),
        )
        .expect("signer certificate");
        let signer = OcspSigner::new(&signer_cert.der, alg, &signer_key.serialize_der()).expect("signer loads");
        let revoked_at = now - Duration::from_secs(86_400);
        let statuses = || {
            let good = GOOD.iter().map(|s| (s.to_vec(), Status::Good));
            let revoked = REVOKED.iter().zip([Some(1), None]).map(move |(s, reason_code)| {
                (
                    s.to_vec(),
                    Status::Revoked {
                        at: revoked_at,
                        reason_code,
                    },
                )
            });
            good.chain(revoked).collect::<Vec<_>>()
        };
        let store = Arc::new(Store::default());
        let issuer = store
            .insert_detached(
                ISSUER_ID,
                ca.der.clone(),
                Some(Signer {
                    id: Uuid::from_u128(0x0196_0000_0000_7000_8000_0000_0000_0003),
                    signer,
                    not_after: signer_cert.not_after,
                }),
                statuses(),
            )
            .expect("issuer");
        let signerless = store
            .insert_detached(SIGNERLESS_ID, ca.der.clone(), None, statuses())
            .expect("signerless issuer");
        let fresh = OcspSettings {
            validity: Duration::from_secs(3600),
            stale_after: Duration::from_secs(365 * 86_400),
        };
        let stale = OcspSettings {
            validity: Duration::from_secs(3600),
            stale_after: Duration::ZERO,
        };
        let metrics = Arc::new(ResponderMetrics::register(&prometheus::Registry::new()).expect("metrics"));
        let router = router(
            PublicState {
                store: store.clone(),
                settings: fresh,
                max_age: Duration::from_secs(3600),
                metrics,
            },
            64 * 1024,
        );
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        Self {
            store,
            issuer,
            signerless,
            ca_der: ca.der,
            ca_pem: ca.pem,
            fresh,
            stale,
            router,
            runtime,
        }
    }

    pub fn get() -> &'static Self {
        static FIXTURE: OnceLock<Fixture> = OnceLock::new();
        FIXTURE.get_or_init(Fixture::new)
    }

    pub fn identity(&self) -> &CaIdentity {
        &self.issuer.identity
    }
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}

/// A request with SHA-256 CertIDs (`build_request` writes SHA-1 ones).
pub fn sha256_request(ca: &CaIdentity, serials: &[&[u8]]) -> Vec<u8> {
    const OID_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
    let mut list = Vec::new();
    for serial in serials {
        let mut alg = tlv(OID, OID_SHA256);
        alg.extend_from_slice(&[NULL, 0]);
        let mut body = tlv(SEQUENCE, &alg);
        push_tlv(&mut body, OCTET_STRING, &ca.name_sha256);
        push_tlv(&mut body, OCTET_STRING, &ca.key_sha256);
        push_tlv(&mut body, INTEGER, &unsigned_integer(serial));
        push_tlv(&mut list, SEQUENCE, &tlv(SEQUENCE, &body));
    }
    tlv(SEQUENCE, &tlv(SEQUENCE, &tlv(SEQUENCE, &list)))
}

/// Seed requests: one CertID and several, with and without a nonce, known and unknown serials.
pub fn seeds(ca: &CaIdentity) -> Vec<(&'static str, Vec<u8>)> {
    let nonce16 = [0x5a; 16];
    let nonce32: Vec<u8> = (0..32).collect();
    let max: Vec<&[u8]> = GOOD.iter().chain(REVOKED).copied().cycle().take(16).collect();
    vec![
        ("sha1-good", build_request(ca, &[GOOD[0]], None)),
        ("sha1-good-long-serial", build_request(ca, &[GOOD[1]], None)),
        ("sha1-revoked-reason", build_request(ca, &[REVOKED[0]], None)),
        ("sha1-revoked-no-reason", build_request(ca, &[REVOKED[1]], None)),
        ("sha1-unknown", build_request(ca, &[UNKNOWN], None)),
        ("sha1-good-nonce16", build_request(ca, &[GOOD[0]], Some(&nonce16))),
        ("sha1-revoked-nonce32", build_request(ca, &[REVOKED[0]], Some(&nonce32))),
        ("sha1-three", build_request(ca, &[GOOD[0], REVOKED[0], UNKNOWN], None)),
        (
            "sha1-three-nonce",
            build_request(ca, &[GOOD[1], REVOKED[1], UNKNOWN], Some(&nonce16)),
        ),
        ("sha1-sixteen", build_request(ca, &max, None)),
        ("sha256-good", sha256_request(ca, &[GOOD[0]])),
        ("sha256-two", sha256_request(ca, &[GOOD[1], REVOKED[0]])),
    ]
}

fn percent_encode_all(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            s.push(*b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// The GET form of `data`: base64 (standard, percent-encoded as RFC 5019 asks, or URL-safe), or
/// the bytes themselves as the final path segment (the serial-in-URL form and garbage).
fn get_path(data: &[u8]) -> String {
    let tail = match data.len() % 3 {
        0 => percent_encode_all(STANDARD.encode(data).as_bytes()),
        1 => URL_SAFE_NO_PAD.encode(data),
        _ => percent_encode_all(data),
    };
    format!("/.well-known/pki/ocsp/{ISSUER_ID}/{tail}")
}

/// What one input came to, through `ocsp::answer` (fresh view, stale view, issuer without a
/// signer) and the GET route.
pub struct Checked {
    pub answers: [AnswerKind; 3],
    pub get: StatusCode,
}

/// Runs one input through the request path and checks that the answers agree with the parse: a
/// malformed request gets `malformedRequest` and nothing else does, an answer is DER, and the GET
/// route answers 200, 400 or 404, never an error of its own. Panics otherwise.
pub fn check(data: &[u8]) -> Checked {
    let f = Fixture::get();
    let malformed = parse_request(data).is_err();
    let answers =
        [(&f.issuer, &f.fresh), (&f.issuer, &f.stale), (&f.signerless, &f.fresh)].map(|(issuer, settings)| {
            let a = answer(&f.store, issuer, data, settings);
            match &a.kind {
                AnswerKind::Error(status) => {
                    assert_eq!(&a.der[..], status.response());
                    assert_eq!(malformed, *status == ErrorStatus::MalformedRequest);
                }
                AnswerKind::Live | AnswerKind::Cacheable { .. } => {
                    assert!(!malformed, "a malformed request was answered");
                    assert_eq!(a.der.first(), Some(&SEQUENCE));
                }
            }
            a.kind
        });
    let request = Request::get(get_path(data)).body(Body::empty()).expect("request");
    let get = f
        .runtime
        .block_on(f.router.clone().oneshot(request))
        .expect("infallible")
        .status();
    assert!(
        matches!(get, StatusCode::OK | StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND),
        "GET answered {get}"
    );
    Checked { answers, get }
}

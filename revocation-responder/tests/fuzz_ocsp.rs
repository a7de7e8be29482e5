//! Mutation fuzzing of the OCSP request path that runs with the ordinary test suite: requests
//! from `build_request` (and SHA-256 ones), fixed seeds and random well-formed ones, mutated by a
//! deterministic xorshift mutator, go through `ocsp::answer` (fresh view, stale view, issuer
//! without a signer) and through the GET route. No input may panic, and the answers must agree
//! with the parser.
//!
//! The coverage-guided version is the cargo-fuzz target in `fuzz/` (`scripts/fuzz.sh`). A long
//! run of this one: `CERTCTL_FUZZ_ITERATIONS=1000000 cargo test --release -p
//! certctl-revocation-responder --test fuzz_ocsp -- --nocapture` (`CERTCTL_FUZZ_SEED` picks
//! another mutation sequence).

#![allow(clippy::unwrap_used)]

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use certctl_pki::der::{INTEGER, NULL, OCTET_STRING, OID, SEQUENCE, push_tlv, tlv, unsigned_integer};
use certctl_pki::ocsp::{ErrorStatus, OcspSigner, build_request, parse_request};
use certctl_pki::{
    CaIdentity, CaRequest, KeyAlgorithm, LoadedIssuer, PkiUrls, build_ca, generate_key, issue_ocsp_signer,
};
use certctl_revocation_responder::metrics::ResponderMetrics;
use certctl_revocation_responder::ocsp::{AnswerKind, OcspSettings, answer};
use certctl_revocation_responder::routes::{PublicState, router};
use certctl_revocation_responder::store::{Issuer, Signer, Status, Store};
use time::OffsetDateTime;
use tower::ServiceExt;
use uuid::Uuid;

const DEFAULT_ITERATIONS: u64 = 20_000;
const MAX_LEN: usize = 4096;

const GOOD: &[&[u8]] = &[&[0x01], &[0x7f, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99]];
const REVOKED: &[&[u8]] = &[&[0x02], &[0x80, 0x01]];
const UNKNOWN: &[u8] = &[0x03];

struct Fixture {
    store: Arc<Store>,
    issuer: Arc<Issuer>,
    signerless: Arc<Issuer>,
    fresh: OcspSettings,
    stale: OcspSettings,
    router: Router,
    runtime: tokio::runtime::Runtime,
}

impl Fixture {
    fn new() -> Self {
        let alg = KeyAlgorithm::EcdsaP256;
        let ca_key = generate_key(alg).unwrap();
        let pkcs8 = ca_key.serialize_der();
        let now = OffsetDateTime::now_utc();
        let id = Uuid::now_v7();
        let urls = PkiUrls::new("http://responder.invalid");
        let ca = build_ca(CaRequest {
            id,
            common_name: "certctl fuzz root",
            key: &ca_key,
            not_before: now - Duration::from_secs(3600),
            not_after: now + Duration::from_secs(10 * 365 * 86_400),
            parent: None,
            urls: &urls,
        })
        .unwrap();
        let loaded = LoadedIssuer::load(id, ca.der.clone(), alg, &pkcs8).unwrap();
        let signer_key = generate_key(alg).unwrap();
        let signer_cert = issue_ocsp_signer(
            &loaded,
            &signer_key,
            now - Duration::from_secs(3600),
            now + Duration::from_secs(30 * 86_400),
        )
        .unwrap();
        let signer = OcspSigner::new(&signer_cert.der, alg, &signer_key.serialize_der()).unwrap();
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
        let signer = Signer {
            id: Uuid::now_v7(),
            signer,
            not_after: signer_cert.not_after,
        };
        let issuer = store
            .insert_detached(id, ca.der.clone(), Some(signer), statuses())
            .unwrap();
        let signerless = store.insert_detached(Uuid::now_v7(), ca.der, None, statuses()).unwrap();
        let fresh = OcspSettings {
            validity: Duration::from_secs(3600),
            stale_after: Duration::from_secs(365 * 86_400),
        };
        // Never refreshed again: past the first millisecond this view is stale.
        let stale = OcspSettings {
            validity: Duration::from_secs(3600),
            stale_after: Duration::ZERO,
        };
        let metrics = Arc::new(ResponderMetrics::register(&prometheus::Registry::new()).unwrap());
        let router = router(
            PublicState {
                store: store.clone(),
                settings: fresh,
                max_age: Duration::from_secs(3600),
                metrics,
            },
            64 * 1024,
        );
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        Self {
            store,
            issuer,
            signerless,
            fresh,
            stale,
            router,
            runtime,
        }
    }
}

fn sha256_request(ca: &CaIdentity, serials: &[&[u8]]) -> Vec<u8> {
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

fn seeds(ca: &CaIdentity) -> Vec<Vec<u8>> {
    let nonce16 = [0x5a; 16];
    let nonce32: Vec<u8> = (0..32).collect();
    let max: Vec<&[u8]> = GOOD.iter().chain(REVOKED).copied().cycle().take(16).collect();
    vec![
        build_request(ca, &[GOOD[0]], None),
        build_request(ca, &[GOOD[1]], None),
        build_request(ca, &[REVOKED[0]], None),
        build_request(ca, &[REVOKED[1]], None),
        build_request(ca, &[UNKNOWN], None),
        build_request(ca, &[GOOD[0]], Some(&nonce16)),
        build_request(ca, &[REVOKED[0]], Some(&nonce32)),
        build_request(ca, &[GOOD[0], REVOKED[0], UNKNOWN], None),
        build_request(ca, &[GOOD[1], REVOKED[1], UNKNOWN], Some(&nonce16)),
        build_request(ca, &max, None),
        sha256_request(ca, &[GOOD[0]]),
        sha256_request(ca, &[GOOD[1], REVOKED[0]]),
    ]
}

/// xorshift64*: deterministic, no dependencies.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

/// Bytes that mean something in DER: tags of the request structures and length octets.
const INTERESTING: &[u8] = &[
    0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x0a, 0x1f, 0x30, 0x7f, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0xa0, 0xa1, 0xa2,
    0xff,
];

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>], input: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(4) {
        let len = input.len();
        let pos = rng.below(len);
        match rng.below(11) {
            0 if len > 0 => input[pos] ^= 1 << rng.below(8),
            1 if len > 0 => input[pos] = rng.byte(),
            2 if len > 0 => input[pos] = INTERESTING[rng.below(INTERESTING.len())],
            3 if len > 0 => input[pos] = input[pos].wrapping_add(if rng.below(2) == 0 { 1 } else { 255 }),
            4 => input.insert(rng.below(len + 1), rng.byte()),
            5 if len > 0 => {
                let end = (pos + 1 + rng.below(8)).min(len);
                input.drain(pos..end);
            }
            6 if len > 0 => {
                let end = (pos + 1 + rng.below(32)).min(len);
                let chunk = input[pos..end].to_vec();
                let at = rng.below(len + 1);
                input.splice(at..at, chunk);
            }
            7 => input.truncate(pos),
            8 => {
                // Splice in the tail of another seed.
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len());
                input.truncate(pos);
                input.extend_from_slice(&other[from..]);
            }
            9 if len > 0 => {
                // A run of one interesting byte, e.g. a long-form length.
                let b = INTERESTING[rng.below(INTERESTING.len())];
                let n = 1 + rng.below(6);
                input.splice(pos..pos, std::iter::repeat_n(b, n));
            }
            10 => {
                let n = rng.below(64);
                *input = (0..n).map(|_| rng.byte()).collect();
            }
            _ => {}
        }
    }
    input.truncate(MAX_LEN);
}

/// A well-formed request with random serials (known, unknown, with leading zeros, empty), one to
/// 17 CertIDs (16 is the limit) and maybe a nonce of 0 to 140 octets (1 to 128 are valid).
fn generate(rng: &mut Rng, ca: &CaIdentity) -> Vec<u8> {
    let most = if rng.below(8) == 0 { 17 } else { 3 };
    let count = 1 + rng.below(most);
    let serials: Vec<Vec<u8>> = (0..count)
        .map(|_| match rng.below(4) {
            0 => GOOD[rng.below(GOOD.len())].to_vec(),
            1 => REVOKED[rng.below(REVOKED.len())].to_vec(),
            2 => [0].repeat(rng.below(3)).into_iter().chain([0x01]).collect(),
            _ => (0..rng.below(22)).map(|_| rng.byte()).collect(),
        })
        .collect();
    let serials: Vec<&[u8]> = serials.iter().map(Vec::as_slice).collect();
    let nonce: Option<Vec<u8>> = (rng.below(2) == 0).then(|| (0..rng.below(141)).map(|_| rng.byte()).collect());
    if rng.below(4) == 0 {
        sha256_request(ca, &serials)
    } else {
        build_request(ca, &serials, nonce.as_deref())
    }
}

#[derive(Debug, Default)]
struct Counts {
    malformed: u64,
    unauthorized: u64,
    try_later: u64,
    internal_error: u64,
    cacheable: u64,
    live: u64,
    get_ok: u64,
    get_other: u64,
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

fn check(f: &Fixture, data: &[u8], counts: &mut Counts) {
    let malformed = parse_request(data).is_err();
    for (issuer, settings) in [(&f.issuer, &f.fresh), (&f.issuer, &f.stale), (&f.signerless, &f.fresh)] {
        let a = answer(&f.store, issuer, data, settings);
        match &a.kind {
            AnswerKind::Error(status) => {
                assert_eq!(&a.der[..], status.response());
                assert_eq!(malformed, *status == ErrorStatus::MalformedRequest);
                match status {
                    ErrorStatus::MalformedRequest => counts.malformed += 1,
                    ErrorStatus::Unauthorized => counts.unauthorized += 1,
                    ErrorStatus::TryLater => counts.try_later += 1,
                    ErrorStatus::InternalError => counts.internal_error += 1,
                }
            }
            AnswerKind::Cacheable { .. } | AnswerKind::Live => {
                assert!(!malformed, "a malformed request was answered");
                assert_eq!(a.der.first(), Some(&SEQUENCE));
                if matches!(a.kind, AnswerKind::Live) {
                    counts.live += 1;
                } else {
                    counts.cacheable += 1;
                }
            }
        }
    }
    // The GET forms: base64 (standard and percent-encoded, or URL-safe), or the raw bytes as the
    // final segment (the serial-in-URL form and garbage).
    let tail = match data.len() % 3 {
        0 => percent_encode_all(STANDARD.encode(data).as_bytes()),
        1 => URL_SAFE_NO_PAD.encode(data),
        _ => percent_encode_all(data),
    };
    let uri = format!("/.well-known/pki/ocsp/{}/{tail}", f.issuer.id);
    let request = Request::get(uri).body(Body::empty()).unwrap();
    let status = f.runtime.block_on(f.router.clone().oneshot(request)).unwrap().status();
    match status {
        StatusCode::OK => counts.get_ok += 1,
        StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND => counts.get_other += 1,
        other => panic!("GET answered {other}"),
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

#[test]
fn mutated_requests_never_panic_and_agree_with_the_parser() {
    let iterations = env_u64("CERTCTL_FUZZ_ITERATIONS", DEFAULT_ITERATIONS);
    let seed = env_u64("CERTCTL_FUZZ_SEED", 0x0c5f_2026_dead_beef) | 1;
    let f = Fixture::new();
    let seeds = seeds(&f.issuer.identity);
    for s in &seeds {
        assert!(parse_request(s).is_ok());
    }
    let mut rng = Rng(seed);
    let mut counts = Counts::default();
    let started = Instant::now();
    let mut input = Vec::with_capacity(MAX_LEN);
    for i in 0..iterations {
        input.clear();
        let n = i as usize;
        if n < seeds.len() {
            input.extend_from_slice(&seeds[n]);
        } else if rng.below(4) == 0 {
            input.extend_from_slice(&generate(&mut rng, &f.issuer.identity));
            if rng.below(2) == 0 {
                mutate(&mut rng, &seeds, &mut input);
            }
        } else {
            input.extend_from_slice(&seeds[rng.below(seeds.len())]);
            mutate(&mut rng, &seeds, &mut input);
        }
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(&f, &input, &mut counts))) {
            eprintln!("input {i} (seed {seed:#x}) panicked: {}", hex::encode(&input));
            resume_unwind(panic);
        }
    }
    eprintln!(
        "{iterations} inputs (seed {seed:#x}) in {:.1?}: {counts:?}",
        started.elapsed()
    );
    // The mutator reaches every outcome, not only the parser's rejections.
    assert!(counts.malformed > 0 && counts.unauthorized > 0 && counts.try_later > 0);
    assert!(counts.cacheable > 0 && counts.live > 0 && counts.get_ok > 0);
    assert_eq!(counts.internal_error, 0);
}

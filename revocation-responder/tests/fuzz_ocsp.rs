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
use std::time::Instant;

use axum::http::StatusCode;
use certctl_pki::CaIdentity;
use certctl_pki::ocsp::{ErrorStatus, build_request, parse_request};
use certctl_revocation_responder::fixture::{self, Fixture, GOOD, REVOKED, sha256_request};
use certctl_revocation_responder::ocsp::AnswerKind;

const DEFAULT_ITERATIONS: u64 = 20_000;
const MAX_LEN: usize = 4096;

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

impl Counts {
    fn add(&mut self, checked: &fixture::Checked) {
        for kind in &checked.answers {
            match kind {
                AnswerKind::Error(ErrorStatus::MalformedRequest) => self.malformed += 1,
                AnswerKind::Error(ErrorStatus::Unauthorized) => self.unauthorized += 1,
                AnswerKind::Error(ErrorStatus::TryLater) => self.try_later += 1,
                AnswerKind::Error(ErrorStatus::InternalError) => self.internal_error += 1,
                AnswerKind::Live => self.live += 1,
                AnswerKind::Cacheable { .. } => self.cacheable += 1,
            }
        }
        if checked.get == StatusCode::OK {
            self.get_ok += 1;
        } else {
            self.get_other += 1;
        }
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
    let f = Fixture::get();
    let seeds: Vec<Vec<u8>> = fixture::seeds(f.identity()).into_iter().map(|(_, der)| der).collect();
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
            input.extend_from_slice(&generate(&mut rng, f.identity()));
            if rng.below(2) == 0 {
                mutate(&mut rng, &seeds, &mut input);
            }
        } else {
            input.extend_from_slice(&seeds[rng.below(seeds.len())]);
            mutate(&mut rng, &seeds, &mut input);
        }
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| counts.add(&fixture::check(&input)))) {
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

#!/usr/bin/env bash
# Fuzzes one of the parsers that read untrusted input with cargo-fuzz (libFuzzer +
# AddressSanitizer). Targets (fuzz/fuzz_targets/): ocsp_request (the responder's `ocsp::answer`
# and its GET route; the default), est_body (an EST enrollment body: base64, then the PKCS#10
# request), scep_pki_message (a SCEP pkiMessage: CMS SignedData, the envelope to the RA, the
# SCEP attributes) and dns_answer (a resolver's answer to dns-01's TXT query: names, compression
# pointers, CNAME chains) and acme_jws (an ACME request: the flattened JWS, its protected header
# and key, keyChange and External Account Binding). Runs RUNS executions (default 1000000), then
# prints how many ran and how long it took.
#
#   scripts/fuzz.sh [TARGET] [RUNS] [extra libFuzzer flags, e.g. -jobs=2 -max_len=8192]
#
# cargo-fuzz passes nightly-only flags (-Zsanitizer, sancov passes); RUSTC_BOOTSTRAP=1 lets the
# pinned stable toolchain take them. CERTCTL_FUZZ_SANITIZER=none runs without ASan (faster).
# New inputs go to fuzz/work/TARGET (ignored by git); the committed seeds in fuzz/corpus/TARGET
# are read, never written (the OCSP ones come from
# `cargo run --manifest-path fuzz/Cargo.toml --example seed_corpus`). Crashes land in
# fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

target=ocsp_request
if [[ $# -gt 0 && ! $1 =~ ^[0-9]+$ ]]; then
  target=$1
  shift
fi
[[ -f fuzz_targets/$target.rs ]] || { echo "no fuzz target $target in fuzz/fuzz_targets" >&2; exit 2; }
runs=${1:-1000000}
shift $(($# > 0 ? 1 : 0))
sanitizer=${CERTCTL_FUZZ_SANITIZER:-address}

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  cargo install --locked cargo-fuzz
fi
export RUSTC_BOOTSTRAP=1

cargo fuzz build --sanitizer "$sanitizer" "$target"
mkdir -p "work/$target" "corpus/$target"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
started=$(date +%s)
set +e
cargo fuzz run --sanitizer "$sanitizer" "$target" "work/$target" "corpus/$target" -- \
  -runs="$runs" -print_final_stats=1 "$@" >"$log" 2>&1
rc=$?
set -e
elapsed=$(($(date +%s) - started))

grep -E '^INFO: Seed|INITED' "$log" || true
if [ "$rc" -ne 0 ]; then
  tail -n 60 "$log"
  echo "FUZZING FAILED (exit $rc) after ${elapsed}s; reproduce with:" >&2
  echo "  (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run $target <artifact>)" >&2
  exit "$rc"
fi
grep -E '^Done [0-9]+ runs|^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log"
executed=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
echo "$target: ${executed:-?} executions in ${elapsed}s, no crash"

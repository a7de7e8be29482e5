#!/usr/bin/env bash
# Fuzzes the OCSP request path with cargo-fuzz (libFuzzer + AddressSanitizer): the target
# fuzz/fuzz_targets/ocsp_request.rs feeds every input to the responder's `ocsp::answer` and its
# GET route. Runs RUNS executions (default 1000000), then prints how many ran and how long it took.
#
#   scripts/fuzz.sh [RUNS] [extra libFuzzer flags, e.g. -jobs=2 -max_len=8192]
#
# cargo-fuzz passes nightly-only flags (-Zsanitizer, sancov passes); RUSTC_BOOTSTRAP=1 lets the
# pinned stable toolchain take them. CERTCTL_FUZZ_SANITIZER=none runs without ASan (faster).
# New inputs go to fuzz/work/ocsp_request (ignored by git); the committed seeds in
# fuzz/corpus/ocsp_request are read, never written (regenerate them with
# `cargo run --manifest-path fuzz/Cargo.toml --example seed_corpus`). Crashes land in
# fuzz/artifacts/ocsp_request/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

runs=${1:-1000000}
shift $(($# > 0 ? 1 : 0))
sanitizer=${CERTCTL_FUZZ_SANITIZER:-address}

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  cargo install --locked cargo-fuzz
fi
export RUSTC_BOOTSTRAP=1

cargo fuzz build --sanitizer "$sanitizer" ocsp_request
mkdir -p work/ocsp_request
log=$(mktemp)
trap 'rm -f "$log"' EXIT
started=$(date +%s)
set +e
cargo fuzz run --sanitizer "$sanitizer" ocsp_request work/ocsp_request corpus/ocsp_request -- \
  -runs="$runs" -print_final_stats=1 "$@" >"$log" 2>&1
rc=$?
set -e
elapsed=$(($(date +%s) - started))

grep -E '^INFO: Seed|INITED' "$log" || true
if [ "$rc" -ne 0 ]; then
  tail -n 60 "$log"
  echo "FUZZING FAILED (exit $rc) after ${elapsed}s; reproduce with:" >&2
  echo "  (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run ocsp_request <artifact>)" >&2
  exit "$rc"
fi
grep -E '^Done [0-9]+ runs|^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log"
executed=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
echo "ocsp_request: ${executed:-?} executions in ${elapsed}s, no crash"

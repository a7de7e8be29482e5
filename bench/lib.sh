# shellcheck shell=bash
# What the benchmark scripts share: the working directory, the release binaries, a fresh migrated
# database, daemons started in the background and stopped on exit, and the API calls that set up
# an issuer and a profile. Source it right after `set -euo pipefail`:
#
#   source "$(dirname "$0")/lib.sh"
#
# It changes to the repository root and sets OUT (bench/out), PG (the server, from
# CERTCTL_BENCH_PG) and BIN (target/release).

cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT=bench/out
mkdir -p "$OUT"
PG=${CERTCTL_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
BIN=target/release

# Daemons started with bench_spawn, and commands to run at exit (bench_on_exit).
BENCH_PIDS=()
BENCH_EXIT_HOOKS=()
bench_exit() {
  local p hook
  for p in "${BENCH_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for hook in "${BENCH_EXIT_HOOKS[@]}"; do $hook || true; done
}
trap bench_exit EXIT

# bench_on_exit CMD: also runs CMD when the script exits.
bench_on_exit() { BENCH_EXIT_HOOKS+=("$1"); }

# bench_build PACKAGE...: starts PostgreSQL and RabbitMQ if they are down, then builds the release
# binaries of the packages.
bench_build() {
  scripts/services-up.sh
  local args=() p
  for p in "$@"; do args+=(-p "$p"); done
  cargo build --release --quiet "${args[@]}"
}

# bench_fresh_db NAME: drops and creates database NAME on PG, and migrates it.
bench_fresh_db() {
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" 2>/dev/null
  CERTCTL_DATABASE_URL="$PG/$1" "$BIN/certctl-migrate" up >/dev/null
}

# bench_spawn LOG COMMAND...: runs a daemon in the background, output to LOG, stopped at exit.
# Its pid is in LAST_PID.
bench_spawn() {
  local log=$1
  shift
  "$@" >"$log" 2>&1 &
  LAST_PID=$!
  BENCH_PIDS+=("$LAST_PID")
}

# bench_wait_url URL: waits up to 30 s for URL to answer 2xx; fails the script otherwise.
bench_wait_url() {
  local _
  for _ in $(seq 1 300); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "not ready: $1" >&2
  return 1
}

# KEY: the admin key each script bootstraps its api-server with.
KEY="cctl_$(openssl rand -hex 24)"

# post PATH JSON: a POST to the API at $API with $KEY; prints the answer. Over https:// when
# API_CA names the PEM that signs the api-server's TLS certificate.
post() {
  local scheme=http tls=()
  if [[ -n ${API_CA:-} ]]; then scheme=https tls=(--cacert "$API_CA"); fi
  curl -fsS "${tls[@]}" -H "Authorization: Bearer $KEY" -H 'content-type: application/json' -d "$2" "$scheme://$API$1"
}

# json_id: the "id" of the JSON object on stdin.
json_id() { python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }

# bench_pki NAME ALGORITHM TTL_SECONDS: a root CA NAME with a key of ALGORITHM and a server
# profile "bench" (ECDSA P-256 leaves, TTL_SECONDS at most), through the API; sets ISSUER and
# PROFILE.
bench_pki() {
  ISSUER=$(post /api/v1/issuers "{\"name\":\"$1\",\"common_name\":\"$1 CA\",\"key_algorithm\":\"$2\"}" | json_id)
  PROFILE=$(post /api/v1/profiles "{\"name\":\"bench\",\"max_ttl_seconds\":$3,\"allowed_key_algorithms\":[\"ecdsa-p256\"],\"ekus\":[\"server_auth\"]}" | json_id)
}

#!/usr/bin/env bash
# Issuance through ACME (RFC 8555) beside issuance through the REST API, measured in one run
# against the same api-server over the same TLS listener.
#
#   bench/acme.sh [seconds=20] [clients=8]
#
# 1. A release api-server with a self-signed TLS certificate, on a fresh database `certctl_bench`,
#    fetching http-01 on port $HTTP01_PORT and resolving every *.bench.test name to 127.0.0.1, with
#    ACME and enrollment rate limits lifted; an ECDSA P-256 root, a profile, and an ACME endpoint
#    `bench` on them that may validate private addresses.
# 2. certctl-bench, `clients` keep-alive clients for `seconds` each (after a warm-up), one after
#    the other:
#    - REST: POST /api/v1/certificates with a P-256 CSR for one name, with the admin key;
#    - ACME: each client with an account of its own (registered before the run), one whole
#      issuance after another: newOrder for a fresh <random>.bench.test, the authorization, the
#      http-01 answer served by certctl-bench itself, the challenge, the order polled until ready
#      (every 50 ms), finalize with a P-256 CSR, the certificate downloaded (see bench/src/acme.rs).
# 3. Beside each rate, the api-server's CPU time per certificate over the measured window (from
#    /proc), which does not depend on how long the ACME clients sleep between polls.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
SECONDS_RUN=${1:-20}
CLIENTS=${2:-8}
WARMUP=3
DB=certctl_bench
API=127.0.0.1:18080
ADMIN=127.0.0.1:19090
HTTP01_PORT=18402

bench_build certctl-api-server certctl-migrations certctl-bench
bench_fresh_db $DB
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -addext basicConstraints=critical,CA:FALSE -addext keyUsage=digitalSignature \
  -addext extendedKeyUsage=serverAuth -keyout "$OUT/tls.key" -out "$OUT/tls.crt" 2>/dev/null
API_CA=$OUT/tls.crt
bench_spawn "$OUT/api-server.log" env CERTCTL_DATABASE_URL="$PG/$DB" CERTCTL_DATABASE_MAX_CONNECTIONS=$((CLIENTS + 4)) \
  CERTCTL_KEY_ENCRYPTION_KEY="$(openssl rand -base64 32)" CERTCTL_BOOTSTRAP_ADMIN_KEY="$KEY" \
  CERTCTL_TLS_CERT_FILE="$OUT/tls.crt" CERTCTL_TLS_KEY_FILE="$OUT/tls.key" \
  CERTCTL_ENROLL_RATE_PER_IP=0 CERTCTL_ENROLL_RATE_PER_CREDENTIAL=0 \
  CERTCTL_ACME_RATE_PER_IP=0 CERTCTL_ACME_RATE_PER_ACCOUNT=0 \
  CERTCTL_ACME_HTTP_PORT=$HTTP01_PORT CERTCTL_ACME_RESOLVE='*.bench.test=127.0.0.1' \
  CERTCTL_API_ADDR=$API CERTCTL_ADMIN_ADDR=$ADMIN RUST_LOG=warn $BIN/certctl-api-server
SERVER_PID=$LAST_PID
bench_wait_url "http://$ADMIN/readyz"
bench_pki "Bench Root" ecdsa-p256 2592000
post /api/v1/acme-endpoints "{\"name\":\"bench\",\"label\":\"bench\",\"issuer_id\":\"$ISSUER\",\"profile_id\":\"$PROFILE\",\"allow_private_targets\":true}" >/dev/null

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$OUT/bench.key" -out "$OUT/bench.csr" -subj /CN=rest.bench.test -addext subjectAltName=DNS:rest.bench.test 2>/dev/null
BODY=$(python3 -c 'import json,sys; print(json.dumps({"issuer_id": sys.argv[1], "profile_id": sys.argv[2], "common_name": "rest.bench.test", "sans": ["rest.bench.test"], "csr_pem": open(sys.argv[3]).read()}))' "$ISSUER" "$PROFILE" "$OUT/bench.csr")

# measure NAME COMMAND...: runs COMMAND (a certctl-bench run with a $WARMUP s warm-up), prints
# its figures and the api-server's CPU time per certificate over the measured window; sets NAME
# to all of them.
measure() {
  local name=$1 ticks=$OUT/cpu-ticks line cpu_line
  shift
  cpu() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }
  (sleep "$WARMUP" && cpu && sleep "$SECONDS_RUN" && cpu) >"$ticks" &
  local sampler=$!
  line=$("$@")
  wait "$sampler"
  echo "$line"
  # shellcheck disable=SC2046 # the two samples, as two arguments
  cpu_line=$(python3 - "$line" "$(getconf CLK_TCK)" $(cat "$ticks") <<'PY'
import sys
line, hz, before, after = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
issued, seconds = int(fields["issued"]), float(fields["seconds"])
cpu = (after - before) / hz
print(f"api_server_cpu_s={cpu:.1f} api_server_cores={cpu / seconds:.2f} api_server_cpu_ms_per_cert={1000 * cpu / max(issued, 1):.2f}")
PY
  )
  echo "$cpu_line"
  printf -v "$name" '%s %s' "$line" "$cpu_line"
}

echo "== REST: POST /api/v1/certificates over TLS, ECDSA P-256 CSR for one name, $CLIENTS clients, ${SECONDS_RUN}s"
measure REST $BIN/certctl-bench issue --url "https://$API/api/v1/certificates" --key "$KEY" --body "$BODY" \
  --ca "$API_CA" --clients "$CLIENTS" --seconds "$SECONDS_RUN" --warmup-seconds "$WARMUP"
echo "== ACME: newOrder, authz, http-01, challenge, poll, finalize (P-256 CSR), download; $CLIENTS accounts, ${SECONDS_RUN}s"
measure ACME $BIN/certctl-bench acme --directory "https://$API/acme/bench/directory" --ca "$API_CA" \
  --http01-listen "127.0.0.1:$HTTP01_PORT" --clients "$CLIENTS" --seconds "$SECONDS_RUN" --warmup-seconds "$WARMUP"

python3 - "$REST" "$ACME" <<'PY'
import sys
field = lambda line, name: float(line.split(name + "=")[1].split()[0])
rest, acme = (field(l, "rate_per_s") for l in sys.argv[1:])
rest_cpu, acme_cpu = (field(l, "api_server_cpu_ms_per_cert") for l in sys.argv[1:])
p50 = field(sys.argv[2], "p50_ms")
print(f"== result: REST {rest:.0f}/s; ACME {acme:.1f}/s = {100*acme/rest:.0f}% of REST "
      f"(REST/ACME = {rest/acme:.1f}x), an ACME issuance taking {p50:.0f} ms at the median; "
      f"api-server CPU per certificate: REST {rest_cpu:.2f} ms, ACME {acme_cpu:.2f} ms ({acme_cpu/rest_cpu:.1f}x)")
PY

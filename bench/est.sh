#!/usr/bin/env bash
# Issuance through EST (RFC 7030 simpleenroll) beside issuance through the REST API, measured in
# one run against the same api-server over the same TLS listener.
#
#   bench/est.sh [seconds=20] [clients=16]
#
# 1. A release api-server with a self-signed TLS certificate, on a fresh database `certctl_bench`;
#    an ECDSA P-256 root, a profile, and an EST enrollment profile `bench` that accepts both its
#    username and password and client certificates issued by the root.
# 2. certctl-bench, `clients` keep-alive clients for `seconds` each (after a warm-up), one after
#    the other, each POSTing the same P-256 CSR:
#    - REST: POST /api/v1/certificates (JSON with the CSR), with the admin key;
#    - EST, HTTP Basic: POST /.well-known/est/bench/simpleenroll (base64 DER), the password checked
#      against its argon2id hash (then remembered for five minutes, as the api-server does);
#    - EST, client certificate: the same, authenticated by a certificate of the root presented in
#      the TLS handshake (once per keep-alive connection).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
SECONDS_RUN=${1:-20}
CLIENTS=${2:-16}
DB=certctl_bench
API=127.0.0.1:18080
ADMIN=127.0.0.1:19090
PASSWORD="bench-est-password-$(openssl rand -hex 8)"

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
  CERTCTL_API_ADDR=$API CERTCTL_ADMIN_ADDR=$ADMIN RUST_LOG=warn $BIN/certctl-api-server
bench_wait_url "http://$ADMIN/readyz"
bench_pki "Bench Root" ecdsa-p256 2592000
post /api/v1/enrollment-profiles "{\"name\":\"bench\",\"protocol\":\"est\",\"label\":\"bench\",\"issuer_id\":\"$ISSUER\",\"profile_id\":\"$PROFILE\",\"est\":{\"username\":\"bench\",\"password\":\"$PASSWORD\",\"client_ca_issuer_id\":\"$ISSUER\"}}" >/dev/null
# The client certificate for the third run: a key certctl generates, issued by the root.
post /api/v1/certificates "{\"issuer_id\":\"$ISSUER\",\"profile_id\":\"$PROFILE\",\"common_name\":\"device.bench.example.com\",\"key_algorithm\":\"ecdsa-p256\"}" |
  python3 -c 'import json,sys; c = json.load(sys.stdin); print(c["certificate_pem"] + c["private_key_pem"])' >"$OUT/device.pem"

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$OUT/bench.key" -out "$OUT/bench.csr" -subj /CN=bench.example.com -addext subjectAltName=DNS:bench.example.com,DNS:www.bench.example.com 2>/dev/null
BODY=$(python3 -c 'import json,sys; print(json.dumps({"issuer_id": sys.argv[1], "profile_id": sys.argv[2], "common_name": "bench.example.com", "sans": ["bench.example.com", "www.bench.example.com"], "csr_pem": open(sys.argv[3]).read()}))' "$ISSUER" "$PROFILE" "$OUT/bench.csr")
EST_BODY=$(openssl req -in "$OUT/bench.csr" -outform DER | openssl base64)
EST_URL="https://$API/.well-known/est/bench/simpleenroll"
run() { $BIN/certctl-bench issue --ca "$API_CA" --clients "$CLIENTS" --seconds "$SECONDS_RUN" "$@"; }

echo "== REST: POST /api/v1/certificates over TLS, ECDSA P-256 CSR, $CLIENTS clients, ${SECONDS_RUN}s"
REST=$(run --url "https://$API/api/v1/certificates" --key "$KEY" --body "$BODY")
echo "$REST"
echo "== EST simpleenroll, HTTP Basic, same CSR, $CLIENTS clients, ${SECONDS_RUN}s"
BASIC=$(run --url "$EST_URL" --basic "bench:$PASSWORD" --content-type application/pkcs10 --expect 200 --body "$EST_BODY")
echo "$BASIC"
echo "== EST simpleenroll, TLS client certificate, same CSR, $CLIENTS clients, ${SECONDS_RUN}s"
CERT=$(run --url "$EST_URL" --identity "$OUT/device.pem" --content-type application/pkcs10 --expect 200 --body "$EST_BODY")
echo "$CERT"

python3 - "$REST" "$BASIC" "$CERT" <<'PY'
import sys
rate = lambda line: float(line.split("rate_per_s=")[1].split()[0])
rest, basic, cert = (rate(l) for l in sys.argv[1:])
print(f"== result: REST {rest:.0f}/s; EST with Basic {basic:.0f}/s ({100*basic/rest:.0f}% of REST); "
      f"EST with a client certificate {cert:.0f}/s ({100*cert/rest:.0f}% of REST)")
PY

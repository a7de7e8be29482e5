#!/usr/bin/env bash
# Issuance throughput through the HTTP API versus the database's own ceiling for the same writes,
# measured in one run on this machine.
#
#   bench/issuance.sh [seconds=20] [clients=16]
#
# 1. A release api-server on a fresh database `certctl_bench`; an ECDSA P-256 root and a profile.
# 2. certctl-bench: `clients` keep-alive clients POST /api/v1/certificates with a P-256 CSR for
#    `seconds` (after a warm-up): every certificate is signed, then stored with its audit row in one statement.
# 3. pgbench, same clients and duration: one transaction of the same two inserts (a certificate
#    row with a real certificate's bytes, and an audit row) — the ceiling for those writes.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
SECONDS_RUN=${1:-20}
CLIENTS=${2:-16}
DB=certctl_bench
API=127.0.0.1:18080
ADMIN=127.0.0.1:19090

bench_build certctl-api-server certctl-migrations certctl-bench
bench_fresh_db $DB
bench_spawn "$OUT/api-server.log" env CERTCTL_DATABASE_URL="$PG/$DB" CERTCTL_DATABASE_MAX_CONNECTIONS=$((CLIENTS + 4)) \
  CERTCTL_KEY_ENCRYPTION_KEY="$(openssl rand -base64 32)" CERTCTL_BOOTSTRAP_ADMIN_KEY="$KEY" \
  CERTCTL_API_ADDR=$API CERTCTL_ADMIN_ADDR=$ADMIN RUST_LOG=warn $BIN/certctl-api-server
bench_wait_url "http://$ADMIN/readyz"
bench_pki "Bench Root" ecdsa-p256 2592000
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$OUT/bench.key" -out "$OUT/bench.csr" -subj /CN=bench.example.com 2>/dev/null
BODY=$(python3 -c 'import json,sys; print(json.dumps({"issuer_id": sys.argv[1], "profile_id": sys.argv[2], "common_name": "bench.example.com", "sans": ["bench.example.com", "www.bench.example.com"], "csr_pem": open(sys.argv[3]).read()}))' "$ISSUER" "$PROFILE" "$OUT/bench.csr")

echo "== certctl: POST /api/v1/certificates, ECDSA P-256 CSR, $CLIENTS clients, ${SECONDS_RUN}s"
API_LINE=$($BIN/certctl-bench issue --url "http://$API/api/v1/certificates" --key "$KEY" --body "$BODY" --clients "$CLIENTS" --seconds "$SECONDS_RUN")
echo "$API_LINE"

# The ceiling: the same two rows, with the bytes of a certificate the API just issued.
python3 - "$PG/$DB" "$OUT/ceiling.sql" <<'PY'
import subprocess, sys, json
url, out = sys.argv[1], sys.argv[2]
q = lambda sql: subprocess.run(["psql", url, "-tAc", sql], check=True, capture_output=True, text=True).stdout.strip()
row = json.loads(q("SELECT row_to_json(c) FROM (SELECT issuer_id, profile_id, common_name, sans, key_algorithm, encode(public_key_der,'hex') spki, encode(certificate_der,'hex') der, certificate_pem pem FROM certificates LIMIT 1) c"))
details = q("SELECT details::text FROM audit_events WHERE action = 'certificate.issue' LIMIT 1")
lit = lambda s: "'" + s.replace("'", "''") + "'"
pem = "E" + lit(row["pem"].replace("\\", "\\\\").replace("\n", "\\n"))
sans = "ARRAY[" + ",".join(lit(s) for s in row["sans"]) + "]"
with open(out, "w") as f:
    f.write("BEGIN;\n")
    f.write(
        # The renewal window as the API's insert computes it: the profile's policy, in the statement.
        "INSERT INTO certificates (id, issuer_id, profile_id, serial_hex, common_name, sans, key_algorithm, public_key_der, status, short_lived, not_before, not_after, certificate_der, certificate_pem, requested_by, created_at, renew_after) "
        f"SELECT gen_random_uuid(), {lit(row['issuer_id'])}, {lit(row['profile_id'])}, md5(random()::text), {lit(row['common_name'])}, {sans}, {lit(row['key_algorithm'])}, "
        f"decode({lit(row['spki'])}, 'hex'), 'active', false, now(), now() + interval '30 days', decode({lit(row['der'])}, 'hex'), {pem}, 'bench', now(), "
        "certctl_window(rp.renew_before_seconds, rp.renew_at_fraction, now(), now() + interval '30 days') "
        "FROM certificate_profiles pr JOIN renewal_policies rp ON rp.id = coalesce(pr.renewal_policy_id, '00000000-0000-0000-0000-000000000001') "
        f"WHERE pr.id = {lit(row['profile_id'])};\n"
    )
    f.write(
        "INSERT INTO audit_events (id, actor, action, resource_type, resource_id, outcome, details, request_id, key_id, protocol) "
        f"VALUES (gen_random_uuid(), 'bench', 'certificate.issue', 'certificate', gen_random_uuid()::text, 'success', {lit(details)}::jsonb, gen_random_uuid()::text, gen_random_uuid(), 'api');\n"
    )
    f.write("COMMIT;\n")
PY
echo "== PostgreSQL ceiling: pgbench, one transaction of the same two inserts, $CLIENTS clients, ${SECONDS_RUN}s"
pgbench -n -c "$CLIENTS" -j 2 -T "$SECONDS_RUN" -f "$OUT/ceiling.sql" "$PG/$DB" >"$OUT/pgbench.txt" 2>&1
CEILING=$(grep -E '^tps' "$OUT/pgbench.txt" | head -n1 | sed -E 's/tps = ([0-9.]+).*/\1/')
LAT=$(grep -E '^latency average' "$OUT/pgbench.txt" | sed -E 's/latency average = ([0-9.]+) ms/\1/')
echo "transactions_per_s=$CEILING latency_avg_ms=$LAT clients=$CLIENTS"

RATE=$(sed -E 's/.*rate_per_s=([0-9.]+).*/\1/' <<<"$API_LINE")
python3 -c 'import sys; r, c = float(sys.argv[1]), float(sys.argv[2]); print(f"== result: API {r:.0f}/s vs ceiling {c:.0f}/s = {100*r/c:.0f}% of the ceiling (goal: at least 50%)")' "$RATE" "$CEILING"

#!/usr/bin/env bash
# The certificate inventory at scale: latency of the API's read paths with a million certificates
# and ten million audit rows, measured in one run on this machine, beside the database's own time
# for each statement (EXPLAIN ANALYZE, the floor an API answer cannot beat).
#
#   bench/inventory.sh [certificates=1000000] [audit_rows=10000000] [seconds=10] [clients=8]
#
# 1. A release api-server on a fresh database `certctl_inventory`; 4 issuers and 6 profiles made
#    through the API.
# 2. The estate seeded directly in SQL: certificates spread over the issuers and profiles, issued
#    over the last 47 days with 47-day lifetimes (so some have expired), 10% revoked (each with its
#    revocation row) and 20% renewed; audit rows from 20 actors over 12 actions. ANALYZE.
# 3. wrk, `clients` keep-alive connections for `seconds` per request: the first page, a page deep
#    in the list (by cursor), each filter, text search on CN/SAN, get by id and by serial, the dashboard summary,
#    and the audit list (first page and by actor). It prints p50, p99 and requests per second.
# 4. The same requests once more with PostgreSQL's auto_explain on: the plan, timing and buffers of
#    every statement each request ran, written to bench/out/inventory-plans.txt.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
CERTS=${1:-1000000}
AUDIT=${2:-10000000}
SECONDS_RUN=${3:-10}
CLIENTS=${4:-8}
DB=certctl_inventory
API=127.0.0.1:18080
ADMIN=127.0.0.1:19090
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }

bench_build certctl-api-server certctl-migrations
bench_fresh_db $DB
sql() { psql "$PG/$DB" -v ON_ERROR_STOP=1 -qAtX "$@"; }
start_api() {
  bench_spawn "$OUT/inventory-api-server.log" env CERTCTL_DATABASE_URL="$PG/$DB" \
    CERTCTL_DATABASE_MAX_CONNECTIONS=$((CLIENTS + 4)) CERTCTL_KEY_ENCRYPTION_KEY="$KEK" \
    CERTCTL_BOOTSTRAP_ADMIN_KEY="$KEY" CERTCTL_API_ADDR=$API CERTCTL_ADMIN_ADDR=$ADMIN RUST_LOG=warn \
    $BIN/certctl-api-server
  API_PID=$LAST_PID
  bench_wait_url "http://$ADMIN/readyz"
}
KEK=$(openssl rand -base64 32)
start_api

ISSUERS=() PROFILES=()
for i in 1 2 3 4; do
  ISSUERS+=("$(post /api/v1/issuers "{\"name\":\"inv-$i\",\"common_name\":\"Inventory $i CA\",\"key_algorithm\":\"ecdsa-p256\"}" | json_id)")
done
for p in 1 2 3 4 5 6; do
  PROFILES+=("$(post /api/v1/profiles "{\"name\":\"inv-$p\",\"max_ttl_seconds\":4060800,\"allowed_key_algorithms\":[\"ecdsa-p256\"],\"ekus\":[\"server_auth\"]}" | json_id)")
done
issuers_sql="ARRAY['${ISSUERS[0]}','${ISSUERS[1]}','${ISSUERS[2]}','${ISSUERS[3]}']::uuid[]"
profiles_sql="ARRAY['${PROFILES[0]}','${PROFILES[1]}','${PROFILES[2]}','${PROFILES[3]}','${PROFILES[4]}','${PROFILES[5]}']::uuid[]"

echo "== seeding $CERTS certificates and $AUDIT audit rows"
t0=$SECONDS
sql <<SQL
INSERT INTO certificates (id, issuer_id, profile_id, serial_hex, common_name, sans, key_algorithm,
    public_key_der, status, not_before, not_after, certificate_der, certificate_pem, requested_by, created_at)
SELECT gen_random_uuid(), ($issuers_sql)[1 + g % 4], ($profiles_sql)[1 + g % 6], md5('serial' || g),
       'svc-' || g || '.team' || (g % 50) || '.corp.example', ARRAY['svc-' || g || '.team' || (g % 50) || '.corp.example', 'alt-' || g || '.corp.example'],
       'ecdsa-p256', decode(md5('key' || g), 'hex'),
       CASE WHEN g % 10 = 0 THEN 'revoked' WHEN g % 10 IN (1, 2) THEN 'renewed' ELSE 'active' END,
       t.at, t.at + interval '47 days', '\x3000', '-', 'seed-' || (g % 20), t.at
FROM generate_series(1, $CERTS) g
CROSS JOIN LATERAL (SELECT now() - interval '47 days' * (($CERTS - g)::float8 / $CERTS) AS at) t;
INSERT INTO certificate_revocations (id, certificate_id, issuer_id, serial_hex, reason, reason_code, revoked_at, revoked_by)
SELECT gen_random_uuid(), id, issuer_id, serial_hex, 'superseded', 4, created_at + interval '1 day', 'seed'
FROM certificates WHERE status = 'revoked';
INSERT INTO audit_events (id, actor, action, resource_type, resource_id, outcome, details, created_at, protocol)
SELECT gen_random_uuid(), 'seed-' || (g % 20),
       (ARRAY['certificate.issue','certificate.revoke','certificate.renew','profile.update','issuer.create','api_key.create',
              'channel.create','job.approve','job.reject','notification.requeue','certificate.bulk_revoke','access.denied'])[1 + g % 12],
       'certificate', md5(g::text), CASE WHEN g % 12 = 11 THEN 'denied' ELSE 'success' END, '{}',
       now() - interval '365 days' * (($AUDIT - g)::float8 / $AUDIT), 'api'
FROM generate_series(1, $AUDIT) g;
VACUUM ANALYZE certificates;
VACUUM ANALYZE certificate_revocations;
VACUUM ANALYZE audit_events;
SQL
echo "seeded in $((SECONDS - t0)) s: $(sql -c "SELECT pg_size_pretty(pg_database_size('$DB'))")"

# The requests: name, then path.
SOME_ID=$(sql -c "SELECT id FROM certificates ORDER BY created_at DESC OFFSET $((CERTS / 2)) LIMIT 1")
DEEP=$(sql -c "SELECT (extract(epoch FROM created_at) * 1000000)::bigint || '|' || id FROM certificates ORDER BY created_at DESC, id DESC OFFSET $((CERTS * 9 / 10)) LIMIT 1" \
  | python3 -c 'import base64,sys; print(base64.urlsafe_b64encode(sys.stdin.read().strip().encode()).decode().rstrip("="))')
SERIAL=$(sql -c "SELECT upper(serial_hex) FROM certificates ORDER BY created_at DESC OFFSET $((CERTS / 3)) LIMIT 1")
SOON=$(date -u -d '+7 days' +%Y-%m-%dT%H:%M:%SZ)
SOON30=$(date -u -d '+30 days' +%Y-%m-%dT%H:%M:%SZ)
REQUESTS=(
  "list, first page|/api/v1/certificates?limit=50"
  "list, 90% deep by cursor|/api/v1/certificates?limit=50&cursor=$DEEP"
  "filter status=revoked|/api/v1/certificates?limit=50&status=revoked"
  "filter issuer|/api/v1/certificates?limit=50&issuer_id=${ISSUERS[2]}"
  "filter profile|/api/v1/certificates?limit=50&profile_id=${PROFILES[4]}"
  "filter expiring_before (+7 d), by expiry|/api/v1/certificates?limit=50&status=active&sort=expiry&expiring_before=$SOON"
  "live states (+7 d), by expiry|/api/v1/certificates?limit=50&status=active,expiring,renewal_in_progress&sort=expiry&expiring_before=$SOON"
  "live states, by expiry (whole queue)|/api/v1/certificates?limit=50&status=active,expiring,renewal_in_progress&sort=expiry"
  "live states (+30 d), count (dashboard)|/api/v1/certificates?limit=1&status=active,expiring,renewal_in_progress&sort=expiry&expiring_before=$SOON30"
  "live states, newest first|/api/v1/certificates?limit=50&status=active,expiring,renewal_in_progress"
  "filter common_name (exact)|/api/v1/certificates?limit=50&common_name=svc-777777.team27.corp.example"
  "search q=svc-77777 (CN/SAN substring)|/api/v1/certificates?limit=50&q=svc-77777"
  "search q=zz-nomatch (matches nothing)|/api/v1/certificates?limit=50&q=zz-nomatch"
  "get by id|/api/v1/certificates/$SOME_ID"
  "get by serial (as openssl prints it)|/api/v1/certificates?serial=$SERIAL"
  "dashboard summary|/api/v1/stats/summary"
  "audit, first page|/api/v1/audit?limit=50"
  "audit, by actor|/api/v1/audit?limit=50&actor=seed-7"
)

echo
printf '%-44s %10s %10s %10s\n' "request ($CLIENTS clients, ${SECONDS_RUN}s)" "p50 ms" "p99 ms" "req/s"
for r in "${REQUESTS[@]}"; do
  name=${r%%|*} path=${r#*|}
  # A 30 s timeout, so slow requests are measured rather than dropped (wrk's default is 2 s).
  out=$(wrk -t2 -c"$CLIENTS" -d"${SECONDS_RUN}s" --timeout 30s --latency -H "Authorization: Bearer $KEY" "http://$API$path")
  if grep -q "Non-2xx\|Socket errors" <<<"$out"; then echo "$name: errors:" >&2; grep "Non-2xx\|Socket errors" <<<"$out" >&2; fi
  ms() { awk -v p="$1" '$1 == p { v = $2; if (v ~ /us$/) { sub(/us/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms/, "", v) } else if (v ~ /s$/) { sub(/s/, "", v); v *= 1000 } printf "%.1f", v }' <<<"$out"; }
  rps=$(awk '/Requests\/sec/ { printf "%.0f", $2 }' <<<"$out")
  if [[ $(awk '/requests in/ { print $1 }' <<<"$out") == 0 ]]; then
    printf '%-44s %32s\n' "$name" "none finished within ${SECONDS_RUN}s"
    continue
  fi
  printf '%-44s %10s %10s %10s\n' "$name" "$(ms 50%)" "$(ms 99%)" "$rps"
done

# The plans: the same requests, once each, with auto_explain logging every statement's plan.
kill "$API_PID"; wait "$API_PID" 2>/dev/null || true
LOG=$(sql -c "SELECT pg_current_logfile()")
LOG=$(sql -c "SHOW data_directory")/$LOG
[[ -f $LOG ]] || LOG=$(ls -t /var/log/postgresql/postgresql-*-main.log | head -1)
psql "$PG/postgres" -qc "ALTER DATABASE $DB SET session_preload_libraries = 'auto_explain'" \
  -c "ALTER DATABASE $DB SET auto_explain.log_min_duration = 0" -c "ALTER DATABASE $DB SET auto_explain.log_analyze = on" \
  -c "ALTER DATABASE $DB SET auto_explain.log_buffers = on"
start_api
: > "$OUT/inventory-plans.txt"
for r in "${REQUESTS[@]}"; do
  name=${r%%|*} path=${r#*|}
  before=$(wc -l < "$LOG")
  curl -fsS -o /dev/null -H "Authorization: Bearer $KEY" "http://$API$path"
  sleep 0.3
  # Only the request's own statements: not authentication, nor the background loops that run
  # meanwhile (ACME validation, the gauge refresh).
  { echo "=== $name: GET $path"; tail -n +"$((before + 1))" "$LOG" | python3 -c '
import re, sys
blocks = re.split(r"(?m)^(?=\S.*LOG:  duration)", sys.stdin.read())
noise = ("api_keys", "acme_", "notification_events", "pg_advisory")
print("".join(b for b in blocks if b.strip() and not any(n in b for n in noise)))'; } >> "$OUT/inventory-plans.txt"
done
psql "$PG/postgres" -qc "ALTER DATABASE $DB RESET ALL"
echo
echo "plans of every statement: $OUT/inventory-plans.txt; in short (one request alone):"
# Per request: each statement's time and the scans its plan used (EXPLAIN itself runs nothing).
python3 - "$OUT/inventory-plans.txt" <<'PY' | tee "$OUT/inventory-plans-summary.txt"
import re, sys
text = open(sys.argv[1]).read()
for block in text.split("=== ")[1:]:
    name = block.split(":", 1)[0]
    parts = []
    for stmt in re.split(r"(?m)^(?=\S.*LOG:  duration)", block)[1:]:
        query = re.search(r"Query Text: (.*)", stmt)
        if not query or query.group(1).startswith("EXPLAIN"):
            continue
        q = query.group(1)
        kind = "count" if q.startswith("SELECT count(*) AS n FROM (") else "statement"
        ms = float(re.search(r"duration: ([0-9.]+) ms", stmt).group(1))
        scans = sorted(set(re.findall(r"((?:Index Only Scan|Index Scan|Bitmap Index Scan|Seq Scan)(?: Backward)? (?:using|on) \w+)", stmt)))
        parts.append(f"{kind} {ms:.1f} ms [{'; '.join(scans) or 'no scan'}]")
    print(f"{name}: {' + '.join(parts)}")
PY

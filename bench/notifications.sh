#!/usr/bin/env bash
# Delivery completeness and speed of notifications, end to end, against the database's ceiling
# for the same writes, in one run on this machine.
#
#   bench/notifications.sh [count=4000] [clients=16]
#
# 1. Release api-server and notifier-worker on a fresh database and their own queue prefix; one
#    webhook channel pointing at `certctl-bench receive`, a local receiver that records when each
#    webhook-id first arrives.
# 2. Peak: `count` notifications created through the API (POST .../notification-channels/{id}/test,
#    `clients` at a time, as fast as they go). Every one must arrive and end `sent`. Reported:
#    sustained notifications/s (first commit to last receipt) and p50/p99 commit-to-receipt.
# 3. Half rate: the same again at half the measured peak rate, open loop. Goal: p99 < 250 ms.
# 4. Ceiling: pgbench, `clients` clients, each iteration the insert and the two updates a
#    notification costs (insert, claim, mark sent), each in its own transaction as in certctl.
#    Goal: the peak at least 40 % of this.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${1:-4000}
CLIENTS=${2:-16}
OUT=bench/out
mkdir -p "$OUT"
PG=${CERTCTL_BENCH_PG:-postgres://postgres@127.0.0.1:5432}
DB=certctl_bench_notify
PREFIX="certctl-bench-$$"
API=127.0.0.1:18080
API_ADMIN=127.0.0.1:19090
WORKER_ADMIN=127.0.0.1:19091
RECEIVER=127.0.0.1:18090

scripts/services-up.sh
cargo build --release --quiet -p certctl-api-server -p certctl-notifier-worker -p certctl-migrations -p certctl-bench
BIN=target/release

psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB" 2>/dev/null
CERTCTL_DATABASE_URL="$PG/$DB" $BIN/certctl-migrate up >/dev/null

KEY="cctl_$(openssl rand -hex 24)"
export CERTCTL_DATABASE_URL="$PG/$DB" CERTCTL_KEY_ENCRYPTION_KEY="$(openssl rand -base64 32)" \
  CERTCTL_AMQP_PREFIX="$PREFIX" RUST_LOG=warn CERTCTL_DATABASE_MAX_CONNECTIONS=$((CLIENTS + 8))
CERTCTL_BOOTSTRAP_ADMIN_KEY="$KEY" CERTCTL_API_ADDR=$API CERTCTL_ADMIN_ADDR=$API_ADMIN \
  $BIN/certctl-api-server >"$OUT/notify-api.log" 2>&1 &
PIDS=($!)
CERTCTL_ADMIN_ADDR=$WORKER_ADMIN CERTCTL_WEBHOOK_ALLOW_PRIVATE=true \
  CERTCTL_NOTIFICATION_CONCURRENCY=64 CERTCTL_NOTIFICATION_PREFETCH=128 \
  $BIN/certctl-notifier-worker >"$OUT/notify-worker.log" 2>&1 &
PIDS+=($!)
trap 'kill "${PIDS[@]}" 2>/dev/null || true' EXIT
for url in "http://$API_ADMIN/readyz" "http://$WORKER_ADMIN/readyz"; do
  for _ in $(seq 1 100); do curl -fsS -o /dev/null "$url" 2>/dev/null && break; sleep 0.1; done
done

CHANNEL=$(curl -fsS -H "Authorization: Bearer $KEY" -H 'content-type: application/json' \
  -d "{\"name\":\"bench\",\"kind\":\"webhook\",\"config\":{\"url\":\"http://$RECEIVER/hook\",\"secret\":\"whsec_$(openssl rand -base64 24)\"},\"event_types\":[\"channel_test\"]}" \
  "http://$API/api/v1/notification-channels" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

# CPU seconds used so far by each party, to see where a phase's time goes.
cpu() {
  local api worker pg mq
  api=$(ps -o times= -p "${PIDS[0]}" | tr -d ' ')
  worker=$(ps -o times= -p "${PIDS[1]}" | tr -d ' ')
  pg=$(ps -C postgres -o times= | awk '{s+=$1} END {print s+0}')
  mq=$(ps -C beam.smp -o times= | awk '{s+=$1} END {print s+0}')
  echo "$api $worker $pg $mq"
}

# phase NAME COUNT [RATE]: prints "rate p50 p99" of that phase on the last line.
phase() {
  local name=$1 count=$2 rate=${3:-}
  local since before after
  since=$(psql "$PG/$DB" -tAc "SELECT now()")
  before=$(cpu)
  $BIN/certctl-bench receive --listen $RECEIVER --expect "$count" --timeout-seconds 600 >"$OUT/receipts-$name.csv" 2>"$OUT/receiver-$name.log" &
  local receiver=$!
  sleep 0.3
  $BIN/certctl-bench post --url "http://$API/api/v1/notification-channels/$CHANNEL/test" --key "$KEY" \
    --count "$count" --clients "$CLIENTS" ${rate:+--rate "$rate"} >"$OUT/post-$name.txt"
  wait $receiver
  after=$(cpu)
  python3 - "$before" "$after" >&2 <<'PY'
import sys
b, a = (list(map(int, x.split())) for x in sys.argv[1:3])
names = ["api-server", "notifier-worker", "postgres", "rabbitmq"]
print("   cpu seconds: " + ", ".join(f"{n} {y - x}" for n, x, y in zip(names, b, a)))
PY
  psql "$PG/$DB" -q >/dev/null <<SQL
DROP TABLE IF EXISTS bench_receipts;
CREATE TABLE bench_receipts (id uuid PRIMARY KEY, at_us bigint NOT NULL);
\copy bench_receipts FROM '$OUT/receipts-$name.csv' WITH (FORMAT csv)
SQL
  # Every notification of the phase is accounted for: created, received, and recorded sent.
  for _ in $(seq 1 50); do
    local open
    open=$(psql "$PG/$DB" -tAc "SELECT count(*) FROM notification_events WHERE created_at >= '$since' AND status <> 'sent'")
    [[ $open == 0 ]] && break
    sleep 0.2
  done
  psql "$PG/$DB" -tA -F ' ' <<SQL
SELECT 'phase=$name',
  'created=' || (SELECT count(*) FROM notification_events WHERE created_at >= '$since'),
  'received=' || count(*),
  'sent=' || (SELECT count(*) FROM notification_events WHERE created_at >= '$since' AND status = 'sent'),
  'rate_per_s=' || round((count(*) / ((max(r.at_us) - extract(epoch FROM min(e.created_at)) * 1e6) / 1e6))::numeric, 1),
  'p50_ms=' || round((percentile_cont(0.5) WITHIN GROUP (ORDER BY r.at_us - extract(epoch FROM e.created_at) * 1e6) / 1000)::numeric, 1),
  'p99_ms=' || round((percentile_cont(0.99) WITHIN GROUP (ORDER BY r.at_us - extract(epoch FROM e.created_at) * 1e6) / 1000)::numeric, 1)
FROM bench_receipts r JOIN notification_events e ON e.id = r.id;
SQL
}

echo "== certctl peak: $COUNT notifications through the API, $CLIENTS clients"
PEAK=$(phase peak "$COUNT")
echo "$PEAK"
PEAK_RATE=$(sed -E 's/.*rate_per_s=([0-9.]+).*/\1/' <<<"$PEAK")
HALF=$(python3 -c "print(round(float('$PEAK_RATE') / 2, 1))")
echo "== certctl at half the peak rate: $HALF/s"
HALF_LINE=$(phase half "$COUNT" "$HALF")
echo "$HALF_LINE"

cat >"$OUT/notify-ceiling.sql" <<SQL
INSERT INTO notification_events (id, type, channel_id, payload) VALUES (gen_random_uuid(), 'channel_test', '$CHANNEL', '{"type":"channel_test","timestamp":"2026-11-28T00:00:00Z","data":{"channel_id":"$CHANNEL","channel_name":"bench","message":"certctl test notification: this channel works","requested_by":"bootstrap-admin"}}') RETURNING id::text AS id \gset
UPDATE notification_events SET status = 'sending', locked_until = now() + interval '60 seconds', lease_token = gen_random_uuid(), locked_by = 'bench', updated_at = now() WHERE id = ':id'::uuid AND status = 'pending';
UPDATE notification_events SET status = 'sent', sent_at = now(), locked_until = NULL, lease_token = NULL, locked_by = NULL, updated_at = now() WHERE id = ':id'::uuid AND status = 'sending';
SQL
echo "== PostgreSQL ceiling: pgbench, insert + claim + mark sent per notification, $CLIENTS clients, 15s"
pgbench -n -c "$CLIENTS" -j 2 -T 15 -f "$OUT/notify-ceiling.sql" "$PG/$DB" >"$OUT/notify-pgbench.txt" 2>&1
CEILING=$(grep -E '^tps' "$OUT/notify-pgbench.txt" | head -n1 | sed -E 's/tps = ([0-9.]+).*/\1/')
echo "transactions_per_s=$CEILING (one per notification: its insert and two updates)"
python3 - "$PEAK_RATE" "$CEILING" "$HALF_LINE" <<'PY'
import re, sys
peak, ceiling, half = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
p99 = float(re.search(r"p99_ms=([0-9.]+)", half).group(1))
print(f"== result: peak {peak:.0f}/s = {100 * peak / ceiling:.0f}% of the ceiling {ceiling:.0f}/s (goal >= 40%); "
      f"p99 at half the peak {p99:.0f} ms (goal < 250 ms)")
PY

#!/usr/bin/env bash
# Delivery completeness and speed of notifications, end to end, against the database's ceiling
# for the same writes, in one run on this machine.
#
#   bench/notifications.sh [count=20000] [clients=16] [rounds=3]
#
# 1. Release api-server and notifier-worker on a fresh database and their own queue prefix; one
#    webhook channel pointing at `certctl-bench receive`, a local receiver that records when each
#    webhook-id first arrives.
# 2. Peak: `count` notifications created through the API (POST .../notification-channels/{id}/test,
#    `clients` at a time, as fast as they go). Every one must arrive and end `sent`. Reported:
#    sustained notifications/s (first commit to last receipt) and p50/p99 commit-to-receipt.
# 3. Ceiling: pgbench, `clients` clients, 15 s, each iteration the insert and the two updates a
#    notification costs (insert, claim, mark sent), each in its own transaction (as certctl writes
#    them when it is not batching), on the same table. Goal: the peak at least 40 % of this.
#    Steps 2 and 3 alternate for `rounds` rounds, so both see the table at the same sizes and
#    the same background noise; the result is the median of the rounds' ratios.
# 4. Half rate: the same as 2 at half the median peak rate, open loop. Goal: p99 < 250 ms.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
COUNT=${1:-20000}
CLIENTS=${2:-16}
ROUNDS=${3:-3}
DB=certctl_bench_notify
PREFIX="certctl-bench-$$"
API=127.0.0.1:18080
API_ADMIN=127.0.0.1:19090
WORKER_ADMIN=127.0.0.1:19091
RECEIVER=127.0.0.1:18090

bench_build certctl-api-server certctl-notifier-worker certctl-migrations certctl-bench
bench_fresh_db $DB
export CERTCTL_DATABASE_URL="$PG/$DB" CERTCTL_KEY_ENCRYPTION_KEY="$(openssl rand -base64 32)" \
  CERTCTL_AMQP_PREFIX="$PREFIX" RUST_LOG=warn CERTCTL_DATABASE_MAX_CONNECTIONS=$((CLIENTS + 8))
bench_spawn "$OUT/notify-api.log" env CERTCTL_BOOTSTRAP_ADMIN_KEY="$KEY" CERTCTL_API_ADDR=$API \
  CERTCTL_ADMIN_ADDR=$API_ADMIN $BIN/certctl-api-server
API_PID=$LAST_PID
bench_spawn "$OUT/notify-worker.log" env CERTCTL_ADMIN_ADDR=$WORKER_ADMIN CERTCTL_OUTBOUND_ALLOW_PRIVATE=true \
  CERTCTL_NOTIFICATION_CONCURRENCY=64 CERTCTL_NOTIFICATION_PREFETCH=128 $BIN/certctl-notifier-worker
WORKER_PID=$LAST_PID
bench_wait_url "http://$API_ADMIN/readyz"
bench_wait_url "http://$WORKER_ADMIN/readyz"

CHANNEL=$(post /api/v1/notification-channels \
  "{\"name\":\"bench\",\"kind\":\"webhook\",\"config\":{\"url\":\"http://$RECEIVER/hook\",\"secret\":\"whsec_$(openssl rand -base64 24)\"},\"event_types\":[\"channel_test\"]}" | json_id)

# CPU time used so far (clock ticks, from /proc) by each party, to see where a phase's time
# goes: the api-server, the notifier-worker, every PostgreSQL process and RabbitMQ. A process that
# exited in between (a pgbench connection) is not counted.
ticks() {
  awk '{ s += $14 + $15 } END { print s + 0 }' "$@" 2>/dev/null || echo 0
}
cpu() {
  local pg mq
  pg=$(pgrep -d ' ' -x postgres | sed -E 's#([0-9]+)#/proc/\1/stat#g')
  mq=$(pgrep -d ' ' beam.smp | sed -E 's#([0-9]+)#/proc/\1/stat#g')
  # shellcheck disable=SC2086
  echo "$(ticks /proc/$API_PID/stat) $(ticks /proc/$WORKER_PID/stat) $(ticks $pg) $(ticks $mq)"
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
  python3 - "$before" "$after" "$(getconf CLK_TCK)" "$count" >&2 <<'PY'
import sys
b, a = (list(map(int, x.split())) for x in sys.argv[1:3])
tck, n = int(sys.argv[3]), int(sys.argv[4])
names = ["api-server", "notifier-worker", "postgres", "rabbitmq"]
print("   cpu seconds: " + ", ".join(f"{name} {(y - x) / tck:.1f}" for name, x, y in zip(names, b, a))
      + f"; per notification: {1e3 * sum(y - x for x, y in zip(b, a)) / tck / n:.2f} ms of those four")
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

cat >"$OUT/notify-ceiling.sql" <<SQL
INSERT INTO notification_events (id, type, channel_id, payload) VALUES (gen_random_uuid(), 'channel_test', '$CHANNEL', '{"type":"channel_test","timestamp":"2026-11-28T00:00:00Z","data":{"channel_id":"$CHANNEL","channel_name":"bench","message":"certctl test notification: this channel works","requested_by":"bootstrap-admin"}}') RETURNING id::text AS id \gset
UPDATE notification_events SET status = 'sending', locked_until = now() + interval '60 seconds', lease_token = gen_random_uuid(), locked_by = 'bench', updated_at = now() WHERE id = ':id'::uuid AND status = 'pending';
UPDATE notification_events SET status = 'sent', sent_at = now(), locked_until = NULL, lease_token = NULL, locked_by = NULL, updated_at = now() WHERE id = ':id'::uuid AND status = 'sending';
SQL

RATIOS=()
PEAKS=()
for round in $(seq 1 "$ROUNDS"); do
  echo "== round $round of $ROUNDS: certctl peak, $COUNT notifications through the API, $CLIENTS clients"
  PEAK=$(phase "peak$round" "$COUNT")
  echo "$PEAK"
  PEAK_RATE=$(sed -E 's/.*rate_per_s=([0-9.]+).*/\1/' <<<"$PEAK")
  echo "== round $round of $ROUNDS: PostgreSQL ceiling, pgbench, insert + claim + mark sent per notification, $CLIENTS clients, 15 s"
  pgbench -n -c "$CLIENTS" -j 2 -T 15 -f "$OUT/notify-ceiling.sql" "$PG/$DB" >"$OUT/notify-pgbench-$round.txt" 2>&1
  CEILING=$(grep -E '^tps' "$OUT/notify-pgbench-$round.txt" | head -n1 | sed -E 's/tps = ([0-9.]+).*/\1/')
  echo "transactions_per_s=$CEILING (one per notification: its insert and two updates)"
  RATIO=$(python3 -c "print(round(100 * $PEAK_RATE / $CEILING, 1))")
  echo "round $round: peak $PEAK_RATE/s = $RATIO% of the ceiling"
  RATIOS+=("$RATIO")
  PEAKS+=("$PEAK_RATE")
done
MEDIAN_PEAK=$(printf '%s\n' "${PEAKS[@]}" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
HALF=$(python3 -c "print(round(float('$MEDIAN_PEAK') / 2, 1))")
echo "== certctl at half the median peak rate: $HALF/s"
HALF_LINE=$(phase half "$COUNT" "$HALF")
echo "$HALF_LINE"
python3 - "$HALF_LINE" "${RATIOS[@]}" <<'PY'
import re, statistics, sys
half, ratios = sys.argv[1], [float(r) for r in sys.argv[2:]]
p99 = float(re.search(r"p99_ms=([0-9.]+)", half).group(1))
print(f"== result: peak = {statistics.median(ratios):.0f}% of the ceiling, median of {len(ratios)} rounds "
      f"({', '.join(f'{r:.0f}%' for r in ratios)}; goal >= 40%); p99 at half the peak {p99:.0f} ms (goal < 250 ms)")
PY

#!/usr/bin/env bash
# The retry sweep beside a long delivery history: one tick of the worker's sweep with `due` failed
# rows due, first on a table holding nothing else (the peer: the cost of the work itself), then
# with `sent` rows of history beside them. Goal: under 20 ms, and no slower for the history.
#
#   bench/sweep.sh [sent=10000000] [due=1000] [ticks=50]
#
# 1. A fresh database `certctl_sweep`, migrated; one channel.
# 2. `due` failed rows whose retry has come, and as many again scheduled for later.
# 3. `certctl-bench-sweep` times `ticks` sweep ticks (the worker's own repository functions).
# 4. `sent` delivered rows, created over the last 90 days, each with one attempt; VACUUM ANALYZE.
# 5. The same ticks again; then the sweep query's plan (EXPLAIN ANALYZE, BUFFERS), and the time
#    of five retention batches (5,000 sent rows past 60 days deleted with their attempts each).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
SENT=${1:-10000000}
DUE=${2:-1000}
TICKS=${3:-50}
DB=certctl_sweep

bench_build certctl-bench certctl-migrations
bench_fresh_db $DB
sql() { psql "$PG/$DB" -v ON_ERROR_STOP=1 -qAtX "$@"; }
CHANNEL=$(sql -c "INSERT INTO notification_channels (id, name, kind, event_types, created_by)
  VALUES (gen_random_uuid(), 'bench', 'webhook', ARRAY['channel_test'], 'bench') RETURNING id")
sql -c "INSERT INTO notification_events (id, type, status, channel_id, payload, retry_count, next_retry_at, last_error)
  SELECT gen_random_uuid(), 'channel_test', 'failed', '$CHANNEL', '{}', 2,
         CASE WHEN g <= $DUE THEN now() - interval '1 minute' * g ELSE now() + interval '1 minute' * g END, 'HTTP 503'
  FROM generate_series(1, $((DUE * 2))) g" -c "VACUUM ANALYZE notification_events"

echo "== sweep, $DUE due, no history"
$BIN/certctl-bench-sweep "$PG/$DB" "$TICKS"

echo "== seeding $SENT sent notifications with one attempt each"
t0=$SECONDS
sql <<SQL
WITH ev AS (
  INSERT INTO notification_events (id, type, status, channel_id, payload, retry_count, created_at, updated_at, sent_at)
  SELECT gen_random_uuid(), 'channel_test', 'sent', '$CHANNEL', '{"type":"channel_test"}', 1, t.at, t.at, t.at
  FROM generate_series(1, $SENT) g
  CROSS JOIN LATERAL (SELECT now() - interval '90 days' * (($SENT - g)::float8 / $SENT) AS at) t
  RETURNING id, created_at)
INSERT INTO notification_attempts (notification_id, attempt, started_at, duration_ms, outcome, status_code, worker)
SELECT id, 1, created_at, 40, 'delivered', 200, 'bench' FROM ev;
VACUUM ANALYZE notification_events;
VACUUM ANALYZE notification_attempts;
SQL
echo "seeded in $((SECONDS - t0)) s: $(sql -c "SELECT pg_size_pretty(pg_database_size('$DB'))")"

echo "== sweep, $DUE due, beside $SENT sent"
$BIN/certctl-bench-sweep "$PG/$DB" "$TICKS" --history

psql "$PG/postgres" -qc "DROP DATABASE $DB WITH (FORCE)"

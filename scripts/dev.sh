#!/usr/bin/env bash
# Runs the whole platform on this machine: PostgreSQL and RabbitMQ (started if down), migrations,
# and the three daemons in the background, then prints the admin key and the URLs and makes a
# `certctl` context named "dev" (in ~/.config/certctl/config.toml, or $CERTCTL_CONFIG) current.
#
#   scripts/dev.sh up       build, migrate, start, wait until ready, print key and URLs
#   scripts/dev.sh down     stop the daemons
#   scripts/dev.sh status   show what runs
#   scripts/dev.sh env      print shell exports for the running instance: eval "$(scripts/dev.sh env)"
#   scripts/dev.sh demo     fill the running instance with demo data (certctl demo seed)
#
# State lives in .local/ (key-encryption key, admin key, logs, pids), or in $CERTCTL_DEV_STATE;
# the database is `certctl` unless CERTCTL_DATABASE_URL names another.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
STATE=${CERTCTL_DEV_STATE:-$ROOT/.local}
PROFILE_DIR="$ROOT/target/debug"
DAEMONS=(api-server notifier-worker revocation-responder)

export CERTCTL_DATABASE_URL=${CERTCTL_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/certctl}
export CERTCTL_AMQP_URL=${CERTCTL_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}
export CERTCTL_PUBLIC_PKI_URL=${CERTCTL_PUBLIC_PKI_URL:-http://127.0.0.1:8081}
# Development settings, each overridable from the environment. Channels may reach this machine
# and private networks (a webhook receiver on localhost), which production refuses by default;
# and a failed delivery is retried after 2 s, 4 s, 8 s, 10 s instead of 1, 2, 4 and 8 minutes,
# so a dead letter appears within half a minute rather than a quarter of an hour.
# (The setting's former name, if set, still decides: the daemons refuse the two disagreeing.)
export CERTCTL_OUTBOUND_ALLOW_PRIVATE=${CERTCTL_OUTBOUND_ALLOW_PRIVATE:-${CERTCTL_WEBHOOK_ALLOW_PRIVATE:-true}}
export CERTCTL_NOTIFICATION_BACKOFF_BASE=${CERTCTL_NOTIFICATION_BACKOFF_BASE:-2s}
export CERTCTL_NOTIFICATION_BACKOFF_CAP=${CERTCTL_NOTIFICATION_BACKOFF_CAP:-10s}

stop() {
  for d in "${DAEMONS[@]}"; do
    local pidfile="$STATE/$d.pid"
    if [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      kill -TERM "$(cat "$pidfile")"
      for _ in $(seq 1 50); do kill -0 "$(cat "$pidfile")" 2>/dev/null || break; sleep 0.2; done
      echo "stopped $d"
    fi
    rm -f "$pidfile"
  done
}

wait_ready() {
  local name=$1 url=$2
  for _ in $(seq 1 100); do
    if curl -fsS -o /dev/null "$url" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "$name did not become ready ($url); see $STATE/logs/$name.log" >&2
  tail -n 20 "$STATE/logs/$name.log" >&2 || true
  return 1
}

up() {
  scripts/services-up.sh
  cargo build --bins --locked --quiet
  # The web console: built into web/dist, which the api-server serves at /.
  if command -v npm >/dev/null; then
    (cd web && { [[ -d node_modules ]] || npm ci --no-audit --no-fund; } && npm run build --silent >/dev/null)
    export CERTCTL_WEB_DIR="$ROOT/web/dist"
  else
    echo "npm not found: the web console is not built (install Node 20.19+ and npm)" >&2
  fi
  mkdir -p "$STATE/logs"
  [[ -f $STATE/kek ]] || { openssl rand -base64 32 > "$STATE/kek"; chmod 600 "$STATE/kek"; }
  # The responder's key-encryption key seals the OCSP signing keys; it must differ from the CA one.
  [[ -f $STATE/responder-kek ]] || { openssl rand -base64 32 > "$STATE/responder-kek"; chmod 600 "$STATE/responder-kek"; }
  [[ -f $STATE/admin-key ]] || { echo "cctl_$(openssl rand -hex 24)" > "$STATE/admin-key"; chmod 600 "$STATE/admin-key"; }
  export CERTCTL_KEY_ENCRYPTION_KEY=$(cat "$STATE/kek")
  export CERTCTL_BOOTSTRAP_ADMIN_KEY=$(cat "$STATE/admin-key")
  export CERTCTL_RESPONDER_KEY_ENCRYPTION_KEY=$(cat "$STATE/responder-kek")

  local db=${CERTCTL_DATABASE_URL##*/}
  if ! psql "${CERTCTL_DATABASE_URL%/*}/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
    psql "${CERTCTL_DATABASE_URL%/*}/postgres" -qc "CREATE DATABASE \"$db\""
  fi
  "$PROFILE_DIR/certctl-migrate" up

  stop >/dev/null
  for d in "${DAEMONS[@]}"; do
    if [[ $d == revocation-responder ]]; then
      # The public responder never gets the CA key-encryption key.
      env -u CERTCTL_KEY_ENCRYPTION_KEY nohup "$PROFILE_DIR/certctl-$d" >"$STATE/logs/$d.log" 2>&1 &
    else
      nohup "$PROFILE_DIR/certctl-$d" >"$STATE/logs/$d.log" 2>&1 &
    fi
    echo $! > "$STATE/$d.pid"
  done
  wait_ready api-server http://127.0.0.1:9090/readyz
  wait_ready notifier-worker http://127.0.0.1:9091/readyz
  wait_ready revocation-responder http://127.0.0.1:9092/readyz

  # The bootstrap key is only created on an empty key table; an older database keeps its keys,
  # so make sure the key we print works, creating a fresh admin key if it does not.
  local key
  key=$(cat "$STATE/admin-key")
  if ! curl -fsS -o /dev/null -H "Authorization: Bearer $key" http://127.0.0.1:8080/api/v1/auth/me; then
    key=$("$PROFILE_DIR/certctl-api-server" create-admin-key --name "dev-admin-$(date +%s)" 2>/dev/null)
    echo "$key" > "$STATE/admin-key"
  fi
  # A context for the command-line client, so `certctl status` works at once.
  "$PROFILE_DIR/certctl" config set-context dev --context-server http://127.0.0.1:8080 \
    --context-api-key-file "$STATE/admin-key" 2>/dev/null
  "$PROFILE_DIR/certctl" config use-context dev 2>/dev/null
  cat <<MSG

certctl is running.
  console                http://127.0.0.1:8080/ (sign in with the admin key below)
  API                    http://127.0.0.1:8080/api/v1
  revocation responder   http://127.0.0.1:8081/.well-known/pki/
  admin (health/metrics) http://127.0.0.1:9090 (api)  :9091 (worker)  :9092 (responder)
  logs                   $STATE/logs/
  admin key              $key
  development settings   channels may reach private addresses; retries 2 s to 10 s apart

  API description        http://127.0.0.1:8080/api/v1/openapi.json

The client on PATH (context "dev" is current), \$KEY and \$API in this shell:
  eval "\$(scripts/dev.sh env)"
  certctl status
  curl -H "Authorization: Bearer \$KEY" \$API/auth/me

Stop with: scripts/dev.sh down
MSG
}

status() {
  for d in "${DAEMONS[@]}"; do
    if [[ -f $STATE/$d.pid ]] && kill -0 "$(cat "$STATE/$d.pid")" 2>/dev/null; then
      echo "$d running (pid $(cat "$STATE/$d.pid"))"
    else
      echo "$d stopped"
    fi
  done
}

# Shell exports for the running instance, for `eval "$(scripts/dev.sh env)"`: the client on PATH,
# the admin key as $KEY and the API's base URL as $API, for curl.
print_env() {
  [[ -f $STATE/admin-key ]] || { echo "no admin key in $STATE: run scripts/dev.sh up first" >&2; exit 1; }
  printf 'export PATH=%q:"$PATH"\n' "$PROFILE_DIR"
  printf 'export KEY=%q\n' "$(cat "$STATE/admin-key")"
  printf 'export API=%q\n' "http://127.0.0.1:8080/api/v1"
}

demo() {
  [[ -f $STATE/admin-key ]] || { echo "no admin key in $STATE: run scripts/dev.sh up first" >&2; exit 1; }
  # This instance's admin key, whatever key or context the shell holds.
  env -u CERTCTL_API_KEY -u CERTCTL_CONTEXT CERTCTL_SERVER=http://127.0.0.1:8080 \
    CERTCTL_API_KEY_FILE="$STATE/admin-key" "$PROFILE_DIR/certctl" demo seed "$@"
}

case "${1:-up}" in
  up) up ;;
  down) stop ;;
  status) status ;;
  env) print_env ;;
  demo) shift; demo "$@" ;;
  *) echo "usage: scripts/dev.sh up|down|status|env|demo [certctl demo seed options]" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Runs certctl as it runs in production, on this machine: 2 api-servers, 3 notifier-workers and
# 2 revocation responders behind HAProxy, which health-checks each replica's /readyz, all on
# loopback. The daemons get their secrets from files (*_FILE), the responders connect with their
# least-privilege role, and every step below is what a Kubernetes rollout does.
#
#   scripts/cluster.sh up            migrate, create the responder role, start everything, wait ready
#   scripts/cluster.sh down          stop everything (the database and state stay)
#   scripts/cluster.sh roll          restart every replica, one at a time: drain it at the load
#                                    balancer, SIGTERM, wait for it to exit, start, wait ready, re-enable
#   scripts/cluster.sh restart NAME  the same for one replica (api-1, api-2, worker-1..3, responder-1, responder-2)
#   scripts/cluster.sh kill NAME     kill -9 one replica, then start it again (no drain: a crash)
#   scripts/cluster.sh wait          wait until every replica is ready and UP at the load balancer
#   scripts/cluster.sh status        each replica's pid and readiness, and the load balancer's view
#
# Settings (environment):
#   CERTCTL_CLUSTER_DIR        state: secrets, pids, logs, haproxy.cfg (default .cluster/)
#   CERTCTL_CLUSTER_PORT_BASE  ports BASE+10.. for the replicas, BASE+80 API and BASE+81 PKI at the
#                              load balancer, BASE+99 its admin socket (default 27000)
#   CERTCTL_CLUSTER_DB         database name (default certctl_cluster), created if missing
#   CERTCTL_BIN_DIR            where the binaries are (default target/debug; built if missing)
#   Any other CERTCTL_* variable given to `up` (a notification schedule, say) is passed to every
#   daemon, and kept in the state directory (mode 0600) for later restarts. CERTCTL_AMQP_URL is
#   read at every invocation (default: RabbitMQ on 127.0.0.1 as guest).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
STATE=${CERTCTL_CLUSTER_DIR:-$ROOT/.cluster}
BASE=${CERTCTL_CLUSTER_PORT_BASE:-27000}
DB=${CERTCTL_CLUSTER_DB:-certctl_cluster}
BIN=${CERTCTL_BIN_DIR:-$ROOT/target/debug}
PG=postgres://postgres@127.0.0.1:5432
AMQP_URL=${CERTCTL_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}
LB_API=$((BASE + 80))
LB_PKI=$((BASE + 81))
LB_ADMIN=$((BASE + 99))

REPLICAS=(api-1 api-2 worker-1 worker-2 worker-3 responder-1 responder-2)

# name -> "daemon public-port admin-port haproxy-backend"
replica() {
  case $1 in
    api-1) echo "api-server $((BASE + 10)) $((BASE + 11)) api" ;;
    api-2) echo "api-server $((BASE + 12)) $((BASE + 13)) api" ;;
    worker-1) echo "notifier-worker - $((BASE + 31)) -" ;;
    worker-2) echo "notifier-worker - $((BASE + 32)) -" ;;
    worker-3) echo "notifier-worker - $((BASE + 33)) -" ;;
    responder-1) echo "revocation-responder $((BASE + 20)) $((BASE + 21)) pki" ;;
    responder-2) echo "revocation-responder $((BASE + 22)) $((BASE + 23)) pki" ;;
    *) echo "unknown replica '$1' (one of: ${REPLICAS[*]})" >&2; return 1 ;;
  esac
}

log() { echo "cluster: $*" >&2; }

# One command to HAProxy's runtime API (a TCP socket on loopback); prints the answer.
lb() {
  exec 3<>"/dev/tcp/127.0.0.1/$LB_ADMIN"
  printf '%s\n' "$*" >&3
  timeout 5 cat <&3 || true
  exec 3>&-
}

# A `set server` command; HAProxy answers nothing when it worked.
lb_set() {
  local answer
  answer=$(lb "set server $1 state $2")
  if [[ -n ${answer//[[:space:]]/} ]]; then
    log "haproxy refused 'set server $1 state $2': $answer"
    return 1
  fi
}

# Waits until HAProxy's own health checks have the replica UP again: only then may the next one
# go down, or both replicas of a backend could be out at once.
wait_lb() {
  local name=$1 backend
  read -r _ _ _ backend < <(replica "$name")
  [[ $backend == - ]] && return 0
  for _ in $(seq 1 100); do
    if lb "show stat" | grep -q "^$backend,$name,.*,UP,"; then return 0; fi
    sleep 0.1
  done
  log "haproxy does not see $name UP after 10 s"
  return 1
}

# The replica's pid, only while that process is still one of ours (a stale pid file whose number
# was reused by another process is ignored).
pid_of() {
  local p
  [[ -f $STATE/$1.pid ]] || return 1
  p=$(cat "$STATE/$1.pid")
  # (Contains, not starts with: for an instant after start it is still `setsid env … <binary>`.)
  [[ $({ tr '\0' ' ' < "/proc/$p/cmdline"; } 2>/dev/null) == *"$BIN/certctl-"* ]] || return 1
  echo "$p"
}
alive() { pid_of "$1" >/dev/null; }

wait_ready() {
  local name=$1 admin
  read -r _ _ admin _ < <(replica "$name")
  for _ in $(seq 1 300); do
    if curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$admin/readyz" 2>/dev/null; then return 0; fi
    if ! alive "$name"; then
      log "$name exited while starting; last lines of $STATE/logs/$name.log:"
      tail -n 20 "$STATE/logs/$name.log" >&2 || true
      return 1
    fi
    sleep 0.2
  done
  log "$name did not become ready within 60 s; see $STATE/logs/$name.log"
  return 1
}

start() {
  local name=$1 daemon port admin backend
  read -r daemon port admin backend < <(replica "$name")
  local env=(
    "CERTCTL_ADMIN_ADDR=127.0.0.1:$admin"
    "CERTCTL_LOG_FORMAT=json"
    "CERTCTL_AMQP_URL=$AMQP_URL"
  )
  case $daemon in
    api-server)
      env+=("CERTCTL_API_ADDR=127.0.0.1:$port"
        "CERTCTL_DATABASE_URL_FILE=$STATE/secrets/database-url"
        "CERTCTL_KEY_ENCRYPTION_KEY_FILE=$STATE/secrets/kek"
        "CERTCTL_BOOTSTRAP_ADMIN_KEY_FILE=$STATE/secrets/admin-key"
        "CERTCTL_PUBLIC_PKI_URL=http://127.0.0.1:$LB_PKI") ;;
    notifier-worker)
      env+=("CERTCTL_WORKER_ID=$name"
        "CERTCTL_DATABASE_URL_FILE=$STATE/secrets/database-url"
        "CERTCTL_KEY_ENCRYPTION_KEY_FILE=$STATE/secrets/kek"
        "CERTCTL_RESPONDER_KEY_ENCRYPTION_KEY_FILE=$STATE/secrets/responder-kek") ;;
    revocation-responder)
      # The public responder: its read-only role, and never the CA key-encryption key.
      env+=("CERTCTL_RESPONDER_ADDR=127.0.0.1:$port"
        "CERTCTL_DATABASE_URL_FILE=$STATE/secrets/responder-database-url"
        "CERTCTL_RESPONDER_KEY_ENCRYPTION_KEY_FILE=$STATE/secrets/responder-kek") ;;
  esac
  # The caller's own CERTCTL_* settings from `up`, then ours (which win).
  local extra=()
  [[ -f $STATE/env ]] && mapfile -t extra < "$STATE/env"
  # setsid: a replica outlives this script and is not hit by signals sent to its process group.
  setsid env -i PATH="$PATH" RUST_LOG="${RUST_LOG:-info,sqlx=warn,lapin=warn}" "${extra[@]}" "${env[@]}" \
    "$BIN/certctl-$daemon" >>"$STATE/logs/$name.log" 2>&1 </dev/null &
  echo $! > "$STATE/$name.pid"
}

stop_replica() {
  local name=$1 signal=${2:-TERM} p
  if p=$(pid_of "$name"); then
    # (It may exit on its own between the check and the signal: that is fine.)
    kill "-$signal" "$p" 2>/dev/null || true
    # Each daemon drains in-flight work for at most 10-30 s on SIGTERM.
    for _ in $(seq 1 400); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$p" 2>/dev/null; then
      log "$name did not stop in 40 s; killing it"
      kill -KILL "$p" 2>/dev/null || true
    fi
  fi
  rm -f "$STATE/$name.pid"
}

# A graceful restart, as a Kubernetes rolling update does it: out of the load balancer first
# (the endpoint removal plus preStop sleep), then SIGTERM, then the new process, back in once ready.
restart() {
  local name=$1 backend t0
  read -r _ _ _ backend < <(replica "$name")
  t0=$(date +%s%N)
  if [[ $backend != - ]]; then
    lb_set "$backend/$name" drain
    # Whatever happens next, the replica does not stay drained (a failed start leaves it DOWN
    # by its health check instead, and back in by itself once it answers).
    trap 'lb_set "'"$backend/$name"'" ready || true' EXIT
    # Let requests already inside finish and HAProxy stop picking this server.
    sleep 1
  fi
  stop_replica "$name" TERM
  start "$name"
  wait_ready "$name"
  if [[ $backend != - ]]; then
    lb_set "$backend/$name" ready
    trap - EXIT
    wait_lb "$name"
  fi
  log "restarted $name in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
}

crash() {
  local name=$1 t0
  t0=$(date +%s%N)
  stop_replica "$name" KILL
  start "$name"
  wait_ready "$name"
  wait_lb "$name"
  log "killed and restarted $name in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
}

haproxy_alive() {
  [[ -f $STATE/haproxy.pid ]] && [[ $(cat "/proc/$(cat "$STATE/haproxy.pid")/comm" 2>/dev/null) == haproxy ]]
}

haproxy_cfg() {
  cat <<CFG
global
    maxconn 4096
    stats socket ipv4@127.0.0.1:$LB_ADMIN level admin
    pidfile $STATE/haproxy.pid

defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    # Longer than clients keep idle connections (reqwest's default pool: 90 s; the soak test's: 5 s),
    # so a client never sends a request on a connection HAProxy is closing.
    timeout http-keep-alive 120s
    # A request whose connection to a replica could not be opened is sent to another one: it
    # never reached the replica, so this is safe for POSTs too.
    retries 3
    option redispatch 1

frontend api
    bind 127.0.0.1:$LB_API
    default_backend api
    # With no replica up (all failing /readyz during a database outage), HAProxy answers 503
    # itself: with Retry-After, as the api-server's own 503s have, so clients wait and retry.
    http-after-response set-header Retry-After 5 if { status 503 } !{ res.hdr(retry-after) -m found }

frontend pki
    bind 127.0.0.1:$LB_PKI
    default_backend pki
    http-after-response set-header Retry-After 5 if { status 503 } !{ res.hdr(retry-after) -m found }

backend api
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    # Only failures to connect are retried. A request cut off inside a replica that died may have
    # been carried out (a certificate issued): sending it again would do it twice, so the client
    # gets the 502 and decides (it can look the certificate up).
    retry-on conn-failure
    default-server check inter 500ms fall 2 rise 1
    server api-1 127.0.0.1:$((BASE + 10)) port $((BASE + 11))
    server api-2 127.0.0.1:$((BASE + 12)) port $((BASE + 13))

backend pki
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    # CRL and OCSP requests are idempotent reads: also retried when a replica closes a kept-alive
    # connection or dies mid-answer.
    retry-on conn-failure empty-response response-timeout junk-response
    timeout server 5s
    default-server check inter 500ms fall 2 rise 1
    server responder-1 127.0.0.1:$((BASE + 20)) port $((BASE + 21))
    server responder-2 127.0.0.1:$((BASE + 22)) port $((BASE + 23))
CFG
}

need() {
  command -v "$1" >/dev/null && return 0
  if [[ $(id -u) -eq 0 ]]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
  else
    log "$1 is required: apt-get install $2"; exit 1
  fi
}

up() {
  need haproxy haproxy
  need curl curl
  scripts/services-up.sh
  if [[ ! -x $BIN/certctl-api-server ]]; then cargo build --bins --quiet; fi
  mkdir -p "$STATE/logs" "$STATE/secrets"
  chmod 700 "$STATE/secrets"
  # The caller's CERTCTL_* settings, minus what this script owns and any secret (which it would
  # write to disk; give secrets to the daemons as files instead).
  (umask 077 && env | grep -E '^CERTCTL_' \
    | grep -vE '^CERTCTL_(CLUSTER_|BIN_DIR|DATABASE_URL|AMQP_URL|KEY_ENCRYPTION_KEY|RESPONDER_KEY_ENCRYPTION_KEY|BOOTSTRAP_ADMIN_KEY|PREVIOUS_|RESPONDER_DB_PASSWORD)' \
    | grep -vE '^[^=]*_FILE=' > "$STATE/env") || true
  chmod 600 "$STATE/env"
  local s=$STATE/secrets
  [[ -f $s/kek ]] || openssl rand -base64 32 > "$s/kek"
  [[ -f $s/responder-kek ]] || openssl rand -base64 32 > "$s/responder-kek"
  [[ -f $s/admin-key ]] || echo "cctl_$(openssl rand -hex 24)" > "$s/admin-key"
  echo "$PG/$DB" > "$s/database-url"
  echo "postgres://certctl_responder@127.0.0.1:5432/$DB" > "$s/responder-database-url"
  chmod 600 "$s"/*

  if ! psql "$PG/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1; then
    psql "$PG/postgres" -qc "CREATE DATABASE \"$DB\""
  fi
  # What the migrate and responder-role Jobs do on Kubernetes.
  CERTCTL_DATABASE_URL_FILE=$s/database-url "$BIN/certctl-migrate" up
  CERTCTL_DATABASE_URL_FILE=$s/database-url "$BIN/certctl-migrate" responder-role

  # A replica or load balancer left over from another cluster on these ports would answer for
  # ours: refuse to start over it.
  # Every port of a replica or of HAProxy that is not running now must be free.
  local port admin name busy=() ports=()
  for name in "${REPLICAS[@]}"; do
    if ! alive "$name"; then
      read -r _ port admin _ < <(replica "$name")
      [[ $port != - ]] && ports+=("$port")
      ports+=("$admin")
    fi
  done
  if ! haproxy_alive; then ports+=("$LB_API" "$LB_PKI" "$LB_ADMIN"); fi
  for port in "${ports[@]}"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then busy+=("$port"); fi
  done
  if ((${#busy[@]})); then
    log "ports ${busy[*]} are in use by something this cluster ($STATE) did not start;"
    log "stop it (another cluster: CERTCTL_CLUSTER_DIR=... scripts/cluster.sh down) or choose CERTCTL_CLUSTER_PORT_BASE"
    exit 1
  fi

  haproxy_cfg > "$STATE/haproxy.cfg"
  haproxy -c -f "$STATE/haproxy.cfg" >/dev/null
  if haproxy_alive; then
    log "haproxy already runs"
  else
    haproxy -D -f "$STATE/haproxy.cfg" >>"$STATE/logs/haproxy.log" 2>&1
  fi
  for name in "${REPLICAS[@]}"; do
    if alive "$name"; then log "$name already runs"; else start "$name"; fi
  done
  for name in "${REPLICAS[@]}"; do wait_ready "$name"; done
  for name in "${REPLICAS[@]}"; do wait_lb "$name"; done
  cat <<MSG
certctl cluster is up (state in $STATE).
  API, through HAProxy   http://127.0.0.1:$LB_API/api/v1
  PKI, through HAProxy   http://127.0.0.1:$LB_PKI/.well-known/pki/
  admin key              $(cat "$s/admin-key")
  replicas               ${REPLICAS[*]} (scripts/cluster.sh status)
MSG
}

down() {
  for name in "${REPLICAS[@]}"; do stop_replica "$name" TERM; done
  if haproxy_alive; then
    kill "$(cat "$STATE/haproxy.pid")" 2>/dev/null || true
  fi
  if [[ -f $STATE/haproxy.pid ]]; then
    rm -f "$STATE/haproxy.pid"
  fi
  log "stopped (database $DB and $STATE kept)"
}

status() {
  local daemon port admin backend r
  for name in "${REPLICAS[@]}"; do
    read -r daemon port admin backend < <(replica "$name")
    if alive "$name"; then
      r=$(curl -s --max-time 1 "http://127.0.0.1:$admin/readyz" || echo unreachable)
      echo "$name ($daemon) pid $(pid_of "$name"): $r"
    else
      echo "$name ($daemon) stopped"
    fi
  done
  if haproxy_alive; then
    lb "show servers state" | awk 'NR > 2 && NF > 6 { print "haproxy " $2 "/" $4 ": operational state " $6 ", admin state " $7 }'
  else
    echo "haproxy stopped"
  fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  roll) for name in "${REPLICAS[@]}"; do restart "$name"; done ;;
  wait) for name in "${REPLICAS[@]}"; do wait_ready "$name"; done; for name in "${REPLICAS[@]}"; do wait_lb "$name"; done ;;
  restart) replica "${2:?restart NAME}" >/dev/null && restart "$2" ;;
  kill) replica "${2:?kill NAME}" >/dev/null && crash "$2" ;;
  status) status ;;
  *) echo "usage: scripts/cluster.sh up|down|roll|restart NAME|kill NAME|wait|status" >&2; exit 2 ;;
esac

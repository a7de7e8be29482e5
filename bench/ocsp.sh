#!/usr/bin/env bash
# OCSP throughput: certctl's revocation-responder against OpenSSL's own responder
# (`openssl ocsp -index ... -port ... -multi 2`), same CA, same delegated responder certificate
# and key, same status list, in one run on this machine.
#
#   bench/ocsp.sh [seconds=10] [entries=100000]
#
# 1. Release api-server on a fresh database `certctl_bench_ocsp`: an ECDSA P-256 root and a
#    profile. `entries` certificates are inserted with SQL, every tenth revoked (reasons mixed),
#    then the notifier-worker runs until it has issued the delegated OCSP signer (P-256) and the
#    first CRL, and is stopped.
# 2. `certctl-bench pki-export` writes the CA certificate, the signer certificate and key (opened
#    with the responder key-encryption key this script generated) and an OpenSSL index.txt of the
#    same `entries` certificates; `certctl-bench ocsp-requests` writes 4096 requests (SHA-1
#    CertIDs, distinct serials drawn at random, good and revoked in proportion) with and without
#    a nonce, and samples with their expected status.
# 3. Both responders answer every sample; each answer must pass `openssl ocsp -respin -reqin
#    -CAfile ca.pem` ("Response verify OK"), carry the expected status, and match the other
#    responder's status, revocation time and reason.
# 4. Load, each run `seconds` long (wrk: 2 threads, keep-alive, a Lua script rotating the 4096
#    bodies; ab: HTTP/1.0, a new connection per request, one body file, i.e. one serial).
#    Sweeps first: OpenSSL with ab and with wrk (it closes every connection, so wrk reconnects per
#    request) over OSSL_AB_CONNS / OSSL_WRK_CONNS; certctl keep-alive (wrk, after a warm-up that
#    fills its response cache), without keep-alive (ab, and wrk sending `Connection: close`) and
#    with nonces (wrk, a fresh nonce per request) over OURS_*_CONNS. Then OCSP_REPEATS (3)
#    interleaved rounds, each party at its best client count (OpenSSL with its best tool), and the
#    medians are compared:
#    a. keep-alive, no nonce: certctl (wrk) vs OpenSSL's best. Goal: >= 4x.
#    b. without keep-alive, no nonce: certctl with its better no-keep-alive generator (ab, or wrk
#       with `Connection: close` rotating the 4096 bodies) vs OpenSSL's best. Goal: >= 1.5x. Both
#       of certctl's figures are printed too; ab, single-threaded, uses up its core against
#       certctl before the server does, so it cannot show the server's rate on its own.
#    c. nonce (every response signed live): certctl (wrk, keep-alive) vs OpenSSL's best with nonce
#       requests. Goal: >= 2x.
#    Each round also loads `certctl-bench fixed`, a bare axum handler returning one of certctl's
#    responses as fixed bytes: the HTTP stack's ceiling under the same load generators.
#    Every run prints the CPU the server and the load generator used (cores = CPU s / run s):
#    on two cores they compete, and ab is single-threaded.
# OCSP_PERF=1 also records a `perf` profile of certctl's responder during each of its runs
# (bench/out/ocsp/perf-*.txt); those runs' figures are then lower than without it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
SECONDS_RUN=${1:-10}
ENTRIES=${2:-100000}
W=$OUT/ocsp
rm -rf "$W"
mkdir -p "$W"
DB=certctl_bench_ocsp
API=127.0.0.1:18080
API_ADMIN=127.0.0.1:19090
WORKER_ADMIN=127.0.0.1:19091
RESP=127.0.0.1:18081
RESP_ADMIN=127.0.0.1:19092
OSSL_PORT=18082
FIXED=127.0.0.1:18083
# Client counts tried (wrk connections, ab concurrency).
OSSL_AB_CONNS=${OSSL_AB_CONNS:-"4 8 16 32 64 128 256"}
OSSL_WRK_CONNS=${OSSL_WRK_CONNS:-"4 16"}
OURS_KEEPALIVE_CONNS=${OURS_KEEPALIVE_CONNS:-"16 32 64"}
OURS_AB_CONNS=${OURS_AB_CONNS:-"4 8 16 32"}
OURS_CLOSE_CONNS=${OURS_CLOSE_CONNS:-"8 16 32 64"}

if ! command -v wrk >/dev/null || ! command -v ab >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk apache2-utils >/dev/null
fi
bench_build certctl-api-server certctl-notifier-worker certctl-revocation-responder certctl-migrations certctl-bench
bench_fresh_db $DB

OSSL=
bench_on_exit ossl_stop

CA_KEK=$(openssl rand -base64 32)
RESP_KEK=$(openssl rand -base64 32)
export CERTCTL_DATABASE_URL="$PG/$DB" RUST_LOG=warn
bench_spawn "$OUT/ocsp-api.log" env CERTCTL_KEY_ENCRYPTION_KEY="$CA_KEK" CERTCTL_BOOTSTRAP_ADMIN_KEY="$KEY" \
  CERTCTL_API_ADDR=$API CERTCTL_ADMIN_ADDR=$API_ADMIN $BIN/certctl-api-server
API_PID=$LAST_PID
bench_wait_url "http://$API_ADMIN/readyz"
bench_pki "Bench OCSP Root" ecdsa-p256 7776000
kill "$API_PID"

echo "== status list: $ENTRIES certificates of issuer $ISSUER, every tenth revoked"
psql "$PG/$DB" -q -v ON_ERROR_STOP=1 <<SQL
INSERT INTO certificates (id, issuer_id, profile_id, serial_hex, common_name, sans, key_algorithm, public_key_der,
    status, short_lived, not_before, not_after, certificate_der, certificate_pem, requested_by)
SELECT gen_random_uuid(), '$ISSUER', '$PROFILE', '4' || substr(md5('ocsp-' || i), 2), 'host-' || i || '.bench.example',
    ARRAY['host-' || i || '.bench.example'], 'ecdsa-p256', '\x00'::bytea,
    CASE WHEN i % 10 = 0 THEN 'revoked' ELSE 'active' END, false,
    date_trunc('second', now()) - interval '1 day', date_trunc('second', now()) + interval '90 days',
    '\x00'::bytea, '', 'bench'
FROM generate_series(1, $ENTRIES) i;
INSERT INTO certificate_revocations (id, certificate_id, issuer_id, serial_hex, reason, reason_code, revoked_at, revoked_by)
SELECT gen_random_uuid(), id, issuer_id, serial_hex,
    (ARRAY['unspecified', 'keyCompromise', 'superseded', 'cessationOfOperation'])[n % 4 + 1],
    (ARRAY[NULL, 1, 4, 5]::smallint[])[n % 4 + 1],
    date_trunc('second', now()) - n * interval '1 second', 'bench'
FROM (SELECT id, issuer_id, serial_hex, row_number() OVER (ORDER BY serial_hex) AS n FROM certificates WHERE status = 'revoked') c;
SQL

# The worker issues the delegated responder certificate (and the first CRL), then stops.
bench_spawn "$OUT/ocsp-worker.log" env CERTCTL_KEY_ENCRYPTION_KEY="$CA_KEK" CERTCTL_RESPONDER_KEY_ENCRYPTION_KEY="$RESP_KEK" \
  CERTCTL_ADMIN_ADDR=$WORKER_ADMIN CERTCTL_AMQP_PREFIX="certctl-bench-ocsp-$$" CERTCTL_AMQP_QUEUE_EXPIRES=60s \
  $BIN/certctl-notifier-worker
WORKER_PID=$LAST_PID
for _ in $(seq 1 600); do
  [[ $(psql "$PG/$DB" -tAc "SELECT (SELECT count(*) FROM ocsp_signers) > 0 AND (SELECT count(*) FROM crls) > 0") == t ]] && break
  sleep 0.1
done
kill "$WORKER_PID"
wait "$WORKER_PID" 2>/dev/null || true

$BIN/certctl-bench pki-export --database-url "$PG/$DB" --issuer "$ISSUER" --out "$W" --responder-kek "$RESP_KEK"
$BIN/certctl-bench ocsp-requests --database-url "$PG/$DB" --issuer "$ISSUER" --out "$W" --count 4096 --samples 24

bench_spawn "$OUT/ocsp-responder.log" env CERTCTL_RESPONDER_KEY_ENCRYPTION_KEY="$RESP_KEK" CERTCTL_RESPONDER_ADDR=$RESP \
  CERTCTL_ADMIN_ADDR=$RESP_ADMIN $BIN/certctl-revocation-responder
RESP_PID=$LAST_PID
bench_wait_url "http://$RESP_ADMIN/readyz"
for _ in $(seq 1 100); do
  [[ $(curl -fsS "http://$RESP_ADMIN/metrics" | awk '/^certctl_responder_serials / {print $2}') == "$ENTRIES" ]] && break
  sleep 0.1
done

# OpenSSL's responder. With -multi it puts itself in a process group of its own (setpgid, which
# fails in a session leader: no setsid here) and forks its children into it. OpenSSL 3.0's
# children spin forever on a connection closed before it sent a request (read() = 0 in a loop),
# which every load generator leaves behind when it stops: the responder is restarted before each
# run, and killed with its group (the children also inherit its SIGTERM handler).
ossl_stop() {
  if [[ -n $OSSL ]]; then
    kill -KILL -- "-$OSSL" 2>/dev/null || kill -KILL "$OSSL" 2>/dev/null || true
    wait "$OSSL" 2>/dev/null || true
    # The children must be gone too, or the next responder cannot bind the port.
    for _ in $(seq 1 100); do pgrep -g "$OSSL" >/dev/null || break; sleep 0.05; done
  fi
  OSSL=
}
ossl_start() {
  ossl_stop
  local attempt
  for attempt in 1 2 3 4 5; do
    (cd "$W" && exec openssl ocsp -index index.txt -port $OSSL_PORT -rsigner signer.pem -rkey signer.key -CA ca.pem \
      -nmin 60 -resp_key_id -multi 2 >>../ocsp-openssl.log 2>&1) &
    OSSL=$!
    # Up when it answers and both children are there (the parent and two children in its group).
    # With -multi it reports errors (a port still taken, say) to syslog only: it just exits.
    for _ in $(seq 1 100); do
      kill -0 "$OSSL" 2>/dev/null || break
      if [[ $(pgrep -g "$OSSL" | wc -l) -ge 3 ]] && curl -fsS -m 2 -o /dev/null -H 'content-type: application/ocsp-request' \
        --data-binary "@$W/one-plain.der" "http://127.0.0.1:$OSSL_PORT/" 2>/dev/null; then
        return 0
      fi
      sleep 0.1
    done
    ossl_stop
    sleep 0.5
  done
  echo "OpenSSL's responder did not start (attempt $attempt)" >&2
  return 1
}
ossl_start

# The HTTP stack's ceiling: a bare axum handler answering every POST with one of certctl's
# signed responses (same bytes on the wire, none of the work).
curl -fsS -H 'content-type: application/ocsp-request' --data-binary "@$W/one-plain.der" -o "$W/fixed-response.der" \
  "http://$RESP/.well-known/pki/ocsp/$ISSUER"
bench_spawn "$OUT/ocsp-fixed.log" $BIN/certctl-bench fixed --listen "$FIXED" --body-file "$W/fixed-response.der"
FIXED_PID=$LAST_PID
for _ in $(seq 1 100); do curl -fsS -o /dev/null --data-binary x "http://$FIXED/" 2>/dev/null && break; sleep 0.1; done

OURS_URL="http://$RESP/.well-known/pki/ocsp/$ISSUER"
FIXED_URL="http://$FIXED/.well-known/pki/ocsp/$ISSUER"
OSSL_URL="http://127.0.0.1:$OSSL_PORT/"

echo "== verification: every sample answered by both responders, checked by openssl"
status_lines() { grep -E 'Cert Status:|Revocation Time:|Revocation Reason:' "$1" | sed -E 's/^ +//'; }
FAILS=0
CHECKED=0
while read -r file want serial kind; do
  for who in ours openssl; do
    url=$OURS_URL
    [[ $who == openssl ]] && url=$OSSL_URL
    curl -fsS -H 'content-type: application/ocsp-request' --data-binary "@$W/samples/$file" -o "$W/samples/$file.$who.resp" "$url" </dev/null
    openssl ocsp -respin "$W/samples/$file.$who.resp" -reqin "$W/samples/$file" -issuer "$W/ca.pem" -CAfile "$W/ca.pem" \
      -resp_text >"$W/samples/$file.$who.txt" 2>&1 </dev/null || true
    ok=yes
    grep -q 'Response verify OK' "$W/samples/$file.$who.txt" || ok="no (verify)"
    grep -q "Cert Status: $want" "$W/samples/$file.$who.txt" || ok="no (status, want $want)"
    if [[ $kind == nonce ]] && ! grep -q 'OCSP Nonce' "$W/samples/$file.$who.txt"; then ok="no (nonce missing)"; fi
    grep -qiE 'nonce verify error|no nonce in response' "$W/samples/$file.$who.txt" && ok="no (nonce)"
    CHECKED=$((CHECKED + 1))
    if [[ $ok != yes ]]; then
      FAILS=$((FAILS + 1))
      echo "   $who $file serial=$serial: $ok (see $W/samples/$file.$who.txt)"
    fi
  done
  if [[ $(status_lines "$W/samples/$file.ours.txt") != "$(status_lines "$W/samples/$file.openssl.txt")" ]]; then
    FAILS=$((FAILS + 1))
    echo "   $file serial=$serial: the two responders disagree"
  fi
done <"$W/samples.txt"
echo "responses_checked=$CHECKED failures=$FAILS (samples: $(awk '{print $2}' "$W/samples.txt" | sort | uniq -c | xargs))"
[[ $FAILS == 0 ]] || { echo "verification failed" >&2; exit 1; }

cat >"$W/ocsp.lua" <<'LUA'
-- Rotates pre-built OCSP request bodies (hex, one per line), each thread from its own offset.
-- args: FILE [nonce] [close]. With `nonce`, the last 16 bytes of each body are its nonce and
-- are replaced per request by a value no other request carries. With `close`, every request
-- asks for the connection to be closed (a new connection per request).
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local reqs, n, i, counter, nonce = {}, 0, 0, 0, false
function init(args)
  nonce = args[2] == "nonce" or args[3] == "nonce"
  local close = args[2] == "close" or args[3] == "close"
  local headers = { ["Content-Type"] = "application/ocsp-request" }
  if close then headers["Connection"] = "close" end
  for line in io.lines(args[1]) do
    local body = (line:gsub("..", function(h) return string.char(tonumber(h, 16)) end))
    n = n + 1
    local r = wrk.format("POST", wrk.path, headers, body)
    if nonce then r = r:sub(1, -17) end
    reqs[n] = r
  end
  i = ((tid or 1) * 1361) % n
end
function request()
  i = i % n + 1
  if nonce then
    counter = counter + 1
    return reqs[i] .. string.format("%08x%08x", tid or 1, counter)
  end
  return reqs[i]
end
LUA

# CPU ticks (1/100 s) used so far by the given processes.
ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo $t; }
server_pids() {
  case $1 in
    openssl) pgrep -g "$OSSL" | xargs || true ;;
    fixed) echo "$FIXED_PID" ;;
    *) echo "$RESP_PID" ;;
  esac
}

# run NAME WHO TOOL CONNS ARGS...: one measured run; sets RATE, CORES and ERRORS. (No subshell:
# it restarts OpenSSL's responder, whose pid the script keeps.)
run() {
  local name=$1 who=$2 tool=$3 conns=$4
  shift 4
  local url=$OURS_URL
  if [[ $who == openssl ]]; then
    url=$OSSL_URL
    ossl_start
  elif [[ $who == fixed ]]; then
    url=$FIXED_URL
  fi
  local log="$W/run-$name-$who-$tool-c$conns.txt" pids before after rate errors cores client
  pids=$(server_pids "$who")
  # shellcheck disable=SC2086
  before=$(ticks $pids)
  local perf=
  if [[ ${OCSP_PERF:-} == 1 && $who == ours ]]; then
    perf record -q -F 299 --call-graph dwarf,16384 -p "$RESP_PID" -o "$W/perf-$name-$tool-c$conns.data" -- sleep "$SECONDS_RUN" 2>/dev/null &
    perf=$!
  fi
  if [[ $tool == wrk ]]; then
    /usr/bin/time -f 'client_cpu_s %U %S' wrk -t2 -c"$conns" -d"${SECONDS_RUN}s" --latency -s "$W/ocsp.lua" "$url" -- "$@" >"$log" 2>&1
    rate=$(awk '/^Requests\/sec:/ {print $2}' "$log")
    errors=$(awk '/Non-2xx or 3xx responses:/ {s += $5} /Socket errors:/ {gsub(",", ""); s += $4 + $6 + $8 + $10} END {print s + 0}' "$log")
  else
    /usr/bin/time -f 'client_cpu_s %U %S' ab -q -t "$SECONDS_RUN" -n 50000000 -c "$conns" -p "$1" -T application/ocsp-request "$url" >"$log" 2>&1
    rate=$(awk '/^Requests per second:/ {print $4}' "$log")
    # ab counts a response whose length differs from the first as failed ("Length"); OpenSSL's
    # ECDSA signatures vary in length by a byte or two, so only non-2xx and exceptions count here.
    errors=$(awk '/^Non-2xx responses:/ {s += $3} /\(Connect:/ {gsub(/[(),]/, ""); s += $2 + $4 + $8} END {print s + 0}' "$log")
  fi
  # shellcheck disable=SC2086
  after=$(ticks $pids)
  if [[ -n $perf ]]; then
    wait "$perf" || true
    perf report -q -i "$W/perf-$name-$tool-c$conns.data" --children --percent-limit 1 --sort symbol -g none \
      >"$W/perf-$name-$tool-c$conns.txt" 2>/dev/null || true
  fi
  [[ -n $rate ]] || { rate=0; errors=failed; }
  cores=$(python3 -c "print(f'{($after - $before) / 100 / $SECONDS_RUN:.2f}')")
  client=$(awk -v d="$SECONDS_RUN" '/^client_cpu_s/ {printf "%.2f", ($2 + $3) / d}' "$log")
  printf '   %-9s %-8s %-4s clients=%-3s rate_per_s=%-9s server_cores=%-5s client_cores=%-5s errors=%s\n' \
    "$name" "$who" "$tool" "$conns" "$rate" "$cores" "$client" "$errors"
  RATE=$rate CORES=$cores ERRORS=$errors CLIENT=$client
}

# best NAME WHO TOOL "CONNS..." ARGS...: the sweep; sets BEST (rate), BEST_C and BEST_CORES.
best() {
  local name=$1 who=$2 tool=$3 list=$4
  shift 4
  local c
  BEST=0 BEST_C=0 BEST_CORES=0
  for c in $list; do
    run "$name" "$who" "$tool" "$c" "$@"
    if [[ $ERRORS != 0 ]]; then echo "   ($name $who $tool c=$c had $ERRORS errors: not counted)"; continue; fi
    if python3 -c "import sys; sys.exit(0 if float('$RATE') > float('$BEST') else 1)"; then
      BEST=$RATE BEST_C=$c BEST_CORES=$CORES
    fi
  done
}

metric() { curl -fsS "http://$RESP_ADMIN/metrics" | awk -v k="$1" 'index($0, k) == 1 {s += $2} END {print s + 0}'; }

echo "== sweeps: ${SECONDS_RUN}s per run, $(nproc) cores; load before: $(uptime | sed -E 's/.*load average: //')"
echo "-- OpenSSL responder (-multi 2), no nonce"
best plain openssl ab "$OSSL_AB_CONNS" "$W/one-plain.der"
O_AB=$BEST O_AB_C=$BEST_C
best plain openssl wrk "$OSSL_WRK_CONNS" "$W/pool-plain.hex"
O_WRK=$BEST O_WRK_C=$BEST_C
ossl_stop
# OpenSSL's best way to be loaded (it closes every connection, so keep-alive does not apply).
if python3 -c "import sys; sys.exit(0 if float('$O_AB') >= float('$O_WRK') else 1)"; then
  O_TOOL=ab O_C=$O_AB_C O_PLAIN=$W/one-plain.der O_NONCE=$W/one-nonce.der O_ARGS=()
else
  O_TOOL=wrk O_C=$O_WRK_C O_PLAIN=$W/pool-plain.hex O_NONCE=$W/pool-nonce.hex O_ARGS=(nonce)
fi
echo "-- certctl, keep-alive, no nonce (after a warm-up that fills the response cache)"
wrk -t2 -c32 -d3s -s "$W/ocsp.lua" "$OURS_URL" -- "$W/pool-plain.hex" >/dev/null
best keepalive ours wrk "$OURS_KEEPALIVE_CONNS" "$W/pool-plain.hex"
C_KA_C=$BEST_C
echo "-- certctl, no keep-alive, no nonce"
best close ours ab "$OURS_AB_CONNS" "$W/one-plain.der"
C_AB_C=$BEST_C
best close ours wrk "$OURS_CLOSE_CONNS" "$W/pool-plain.hex" close
C_CLOSE_C=$BEST_C
echo "-- certctl, nonce, keep-alive"
best nonce ours wrk "$OURS_KEEPALIVE_CONNS" "$W/pool-nonce.hex" nonce
C_N_C=$BEST_C

# Head to head: each at its best client count, interleaved, OCSP_REPEATS rounds; medians.
REPEATS=${OCSP_REPEATS:-3}
echo "== head to head: $REPEATS rounds, OpenSSL $O_TOOL c=$O_C; certctl keep-alive c=$C_KA_C, ab c=$C_AB_C, close c=$C_CLOSE_C, nonce c=$C_N_C"
declare -A R
for round in $(seq 1 "$REPEATS"); do
  run "h2h$round-plain" openssl "$O_TOOL" "$O_C" "$O_PLAIN"
  R[o_plain]+=" $RATE"
  run "h2h$round-nonce" openssl "$O_TOOL" "$O_C" "$O_NONCE" "${O_ARGS[@]}"
  R[o_nonce]+=" $RATE"
  ossl_stop
  run "h2h$round-plain" ours wrk "$C_KA_C" "$W/pool-plain.hex"
  R[c_keepalive]+=" $RATE"
  R[c_keepalive_cores]+=" $CORES"
  run "h2h$round-plain" ours ab "$C_AB_C" "$W/one-plain.der"
  R[c_ab]+=" $RATE"
  R[c_ab_client]+=" $CLIENT"
  run "h2h$round-close" ours wrk "$C_CLOSE_C" "$W/pool-plain.hex" close
  R[c_close]+=" $RATE"
  run "h2h$round-nonce" ours wrk "$C_N_C" "$W/pool-nonce.hex" nonce
  R[c_nonce]+=" $RATE"
  R[c_nonce_cores]+=" $CORES"
  run "h2h$round-plain" fixed wrk "$C_KA_C" "$W/pool-plain.hex"
  R[f_keepalive]+=" $RATE"
  run "h2h$round-plain" fixed ab "$C_AB_C" "$W/one-plain.der"
  R[f_ab]+=" $RATE"
done
echo "load after: $(uptime | sed -E 's/.*load average: //')"
errors=$(curl -fsS "http://$RESP_ADMIN/metrics" | awk '/^certctl_responder_responses_total\{kind="ocsp"/ && !/cacheable|live/ {s += $2} END {print s + 0}')
echo "certctl answers: cacheable=$(metric 'certctl_responder_responses_total{kind="ocsp",result="cacheable"}') live=$(metric 'certctl_responder_responses_total{kind="ocsp",result="live"}') errors=$errors shed=$(metric certctl_responder_shed_total)"

python3 - "$O_TOOL" "$O_C" "$C_KA_C" "$C_AB_C" "$C_N_C" "$C_CLOSE_C" "${R[o_plain]}" "${R[o_nonce]}" "${R[c_keepalive]}" "${R[c_ab]}" \
  "${R[c_close]}" "${R[c_nonce]}" "${R[c_keepalive_cores]}" "${R[c_nonce_cores]}" "${R[f_keepalive]}" "${R[f_ab]}" \
  "${R[c_ab_client]}" <<'PY'
import statistics, sys
o_tool, o_c, ka_c, ab_c, n_c, close_c = sys.argv[1:7]
o_plain, o_nonce, ka, ab, close, nonce, ka_cores, n_cores, f_ka, f_ab, ab_client = (
    list(map(float, x.split())) for x in sys.argv[7:18])
med = statistics.median
def line(tag, ours, ours_by, theirs, theirs_by, goal):
    r = med(ours) / med(theirs) if med(theirs) else 0.0
    lo = min(o / t for o, t in zip(ours, theirs))
    hi = max(o / t for o, t in zip(ours, theirs))
    met = "met" if r >= goal else "NOT met"
    print(f"== {tag}: certctl {med(ours):,.0f}/s ({ours_by}) vs OpenSSL {med(theirs):,.0f}/s ({theirs_by}) = {r:.2f}x "
          f"(rounds {lo:.2f}-{hi:.2f}x; goal >= {goal}x: {met})")
theirs_by = f"{o_tool} c={o_c}"
line("a. keep-alive, no nonce", ka, f"wrk c={ka_c}, {med(ka_cores):.2f} server cores", o_plain, theirs_by, 4)
# b: without keep-alive, each side with the generator that loads it best (OpenSSL was tried with
# ab and wrk above; certctl with ab and with wrk sending `Connection: close`). ab is one thread:
# against certctl it runs out of its core before the server does (its CPU is printed).
best_close, best_by = (close, f"wrk Connection: close c={close_c}") if med(close) >= med(ab) else (ab, f"ab c={ab_c}")
line("b. no keep-alive, no nonce, each at its best generator", best_close, best_by, o_plain, theirs_by, 1.5)
line("b-ab. no keep-alive, ab on both sides", ab,
     f"ab c={ab_c}, one body; ab used {med(ab_client):.2f} of its one core", o_plain, theirs_by, 1.5)
line("b-wrk. no keep-alive, certctl with wrk Connection: close, 4096 bodies", close, f"wrk c={close_c}",
     o_plain, theirs_by, 1.5)
line("c. nonce, keep-alive", nonce, f"wrk c={n_c}, {med(n_cores):.2f} server cores", o_nonce, theirs_by, 2)
print(f"== HTTP ceiling (bare axum, fixed bytes): keep-alive {med(f_ka):,.0f}/s (wrk c={ka_c}; certctl reaches "
      f"{100 * med(ka) / med(f_ka):.0f}%), no keep-alive {med(f_ab):,.0f}/s (ab c={ab_c}; certctl reaches "
      f"{100 * med(ab) / med(f_ab):.0f}%)")
PY

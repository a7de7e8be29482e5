#!/usr/bin/env bash
# CRL generation: certctl's build (read the revoked entries from PostgreSQL, build, sign, store)
# against `openssl ca -gencrl` on an index of the same entries, same CA key, in one run on this
# machine. Time and peak memory of each come from /usr/bin/time -v.
#
#   bench/crl.sh [entries=200000] [key_algorithm=ecdsa-p256] [runs=3] [shards=0]
#
# 1. Release api-server on a fresh database `certctl_bench_crl`: a root of `key_algorithm` and a
#    profile. `entries` certificates are inserted with SQL and all of them revoked (distinct
#    revocation times, reasons mixed: none, keyCompromise, superseded, cessationOfOperation).
# 2. `certctl-bench pki-export` writes the CA certificate, the CA key (opened with the CA
#    key-encryption key this script generated) and an OpenSSL index.txt of the same entries.
# 3. certctl: `certctl-bench-crl-build` runs one tick of the notifier-worker's revocation
#    publisher in its own process (the worker's code and allocator): claim the issuer, read its
#    revoked entries, build, sign, store. Before each further run the issuer is marked dirty again.
# 4. OpenSSL: `openssl ca -gencrl` with a CRL number and an authority key identifier, as certctl
#    writes them (it writes PEM; certctl stores DER).
# 5. Both CRLs are checked: signature (`openssl crl -verify`), `entries` serial numbers, and the
#    same serial, revocation date and reason in each. `runs` alternating runs of each; the
#    median wall time and the largest peak RSS are reported. Goal: certctl no slower.
# 6. `certctl-bench-crl-build --phases` then times the parts of certctl's build one by one (load
#    the issuer, read the entries, convert, build and sign, store the DER with pglz, lz4, none).
# 7. With `shards` > 0, the same entries partitioned (the issuer is switched to that many CRL
#    shards and each revocation re-filed, which only a benchmark may do: an issuer's shards are
#    fixed at creation): one tick builds every shard's CRL (time, peak memory, each shard's size
#    and entries, each verified by openssl and carrying its issuingDistributionPoint); then one
#    more revocation, and the tick that rebuilds only its shard, which is what a revocation costs.
#
# Experiments (off by default, printed in the result when on): CRL_DER_COMPRESSION=lz4 stores
# crls.der with lz4 instead of PostgreSQL's default pglz; CRL_WORK_MEM=64MB gives the database
# that much work_mem (the entries query is a hash join that spills at the default 4MB).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ENTRIES=${1:-200000}
ALG=${2:-ecdsa-p256}
RUNS=${3:-3}
SHARDS=${4:-0}
W=$OUT/crl
rm -rf "$W"
mkdir -p "$W"
DB=certctl_bench_crl
API=127.0.0.1:18080
API_ADMIN=127.0.0.1:19090

if [[ ! -x /usr/bin/time ]]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
fi
bench_build certctl-api-server certctl-migrations certctl-bench
bench_fresh_db $DB
export CERTCTL_DATABASE_URL="$PG/$DB" RUST_LOG=warn

CA_KEK=$(openssl rand -base64 32)
bench_spawn "$OUT/crl-api.log" env CERTCTL_KEY_ENCRYPTION_KEY="$CA_KEK" CERTCTL_BOOTSTRAP_ADMIN_KEY="$KEY" \
  CERTCTL_API_ADDR=$API CERTCTL_ADMIN_ADDR=$API_ADMIN $BIN/certctl-api-server
API_PID=$LAST_PID
bench_wait_url "http://$API_ADMIN/readyz"
bench_pki "Bench CRL Root" "$ALG" 7776000
kill "$API_PID"

echo "== $ENTRIES revoked certificates of issuer $ISSUER ($ALG)"
psql "$PG/$DB" -q -v ON_ERROR_STOP=1 <<SQL
INSERT INTO certificates (id, issuer_id, profile_id, serial_hex, common_name, sans, key_algorithm, public_key_der,
    status, short_lived, not_before, not_after, certificate_der, certificate_pem, requested_by)
SELECT gen_random_uuid(), '$ISSUER', '$PROFILE', '4' || substr(md5('crl-' || i), 2), 'host-' || i || '.bench.example',
    ARRAY['host-' || i || '.bench.example'], 'ecdsa-p256', '\x00'::bytea, 'revoked', false,
    date_trunc('second', now()) - interval '1 day', date_trunc('second', now()) + interval '90 days',
    '\x00'::bytea, '', 'bench'
FROM generate_series(1, $ENTRIES) i;
INSERT INTO certificate_revocations (id, certificate_id, issuer_id, serial_hex, reason, reason_code, revoked_at, revoked_by)
SELECT gen_random_uuid(), id, issuer_id, serial_hex,
    (ARRAY['unspecified', 'keyCompromise', 'superseded', 'cessationOfOperation'])[n % 4 + 1],
    (ARRAY[NULL, 1, 4, 5]::smallint[])[n % 4 + 1],
    date_trunc('second', now()) - n * interval '1 second', 'bench'
FROM (SELECT id, issuer_id, serial_hex, row_number() OVER (ORDER BY id) AS n FROM certificates) c;
VACUUM ANALYZE certificates;
VACUUM ANALYZE certificate_revocations;
SQL

EXPERIMENT=
if [[ -n ${CRL_DER_COMPRESSION:-} ]]; then
  psql "$PG/$DB" -qc "ALTER TABLE crls ALTER COLUMN der SET COMPRESSION $CRL_DER_COMPRESSION"
  EXPERIMENT+=" crls.der compression $CRL_DER_COMPRESSION;"
fi
if [[ -n ${CRL_WORK_MEM:-} ]]; then
  psql "$PG/$DB" -qc "ALTER DATABASE $DB SET work_mem = '$CRL_WORK_MEM'"
  EXPERIMENT+=" work_mem $CRL_WORK_MEM;"
fi

$BIN/certctl-bench pki-export --database-url "$PG/$DB" --issuer "$ISSUER" --out "$W" --ca-kek "$CA_KEK"
cat >"$W/openssl.cnf" <<'CNF'
[ ca ]
default_ca = bench

[ bench ]
database = index.txt
crlnumber = crlnumber
certificate = ca.pem
private_key = ca.key
default_md = sha256
default_crl_days = 1
crl_extensions = crl_ext
unique_subject = no

[ crl_ext ]
authorityKeyIdentifier = keyid:always
CNF
echo 01 >"$W/crlnumber"

# field FILE LABEL: a value from /usr/bin/time -v output.
field() { grep -F "$2" "$1" | sed -E 's/.*: //'; }
# seconds of an "h:mm:ss" or "m:ss.ss" wall clock.
wall() { python3 -c "import sys; p = sys.argv[1].split(':'); print(sum(float(x) * 60 ** i for i, x in enumerate(reversed(p))))" "$1"; }

check_crl() { # DER-FILE -> serial count; fails unless the signature verifies
  openssl crl -inform DER -in "$1" -CAfile "$W/ca.pem" -noout -verify 2>&1 | grep -q 'verify OK' \
    || { echo "CRL $1 does not verify" >&2; return 1; }
  openssl crl -inform DER -in "$1" -noout -text | grep -c 'Serial Number'
}

OURS_T=()
OURS_RSS=()
OSSL_T=()
OSSL_RSS=()
for run in $(seq 1 "$RUNS"); do
  if [[ $run -gt 1 ]]; then
    # A new revision: the next tick rebuilds the same list.
    psql "$PG/$DB" -qc "UPDATE crl_state SET revision = revision + 1 WHERE issuer_id = '$ISSUER'"
  fi
  sync
  CERTCTL_KEY_ENCRYPTION_KEY="$CA_KEK" /usr/bin/time -v $BIN/certctl-bench-crl-build >"$W/ours-$run.txt" 2>"$W/ours-$run.time"
  psql "$PG/$DB" -tAc "SELECT encode(der, 'base64') FROM crls WHERE issuer_id = '$ISSUER' ORDER BY crl_number DESC LIMIT 1" \
    | base64 -d >"$W/ours.crl.der"
  count=$(check_crl "$W/ours.crl.der")
  [[ $count == "$ENTRIES" ]] || { echo "certctl's CRL lists $count serials, not $ENTRIES" >&2; exit 1; }
  t=$(wall "$(field "$W/ours-$run.time" 'Elapsed (wall clock)')")
  rss=$(field "$W/ours-$run.time" 'Maximum resident set size')
  OURS_T+=("$t")
  OURS_RSS+=("$rss")
  echo "   run $run certctl: wall_s=$t peak_rss_kb=$rss user_s=$(field "$W/ours-$run.time" 'User time') sys_s=$(field "$W/ours-$run.time" 'System time') $(cat "$W/ours-$run.txt")"

  (cd "$W" && /usr/bin/time -v openssl ca -gencrl -batch -config openssl.cnf -out openssl.crl.pem >openssl-$run.txt 2>"openssl-$run.time")
  openssl crl -in "$W/openssl.crl.pem" -outform DER -out "$W/openssl.crl.der"
  count=$(check_crl "$W/openssl.crl.der")
  [[ $count == "$ENTRIES" ]] || { echo "OpenSSL's CRL lists $count serials, not $ENTRIES" >&2; exit 1; }
  t=$(wall "$(field "$W/openssl-$run.time" 'Elapsed (wall clock)')")
  rss=$(field "$W/openssl-$run.time" 'Maximum resident set size')
  OSSL_T+=("$t")
  OSSL_RSS+=("$rss")
  echo "   run $run openssl: wall_s=$t peak_rss_kb=$rss user_s=$(field "$W/openssl-$run.time" 'User time') sys_s=$(field "$W/openssl-$run.time" 'System time') der_bytes=$(stat -c %s "$W/openssl.crl.der")"
done

# Where certctl's time goes: the same functions as the tick, timed one by one (second of two runs).
for _ in 1 2; do
  PHASES=$(CERTCTL_KEY_ENCRYPTION_KEY="$CA_KEK" $BIN/certctl-bench-crl-build --phases "$ISSUER")
done
echo "   certctl phases: $PHASES"

# The two CRLs list the same entries: serial, revocation date, reason.
python3 - "$W/ours.crl.der" "$W/openssl.crl.der" <<'PY'
import re, subprocess, sys
def entries(path):
    text = subprocess.run(["openssl", "crl", "-inform", "DER", "-in", path, "-noout", "-text"],
                          check=True, capture_output=True, text=True).stdout
    out = {}
    for block in text.split("Serial Number: ")[1:]:
        serial = block.split()[0].lower().lstrip("0")
        date = re.search(r"Revocation Date: (.+)", block).group(1).strip()
        reason = re.search(r"CRL Reason Code:\s*\n\s*(.+)", block)
        out[serial] = (date, reason.group(1).strip() if reason else None)
    return out
ours, theirs = entries(sys.argv[1]), entries(sys.argv[2])
same = ours == theirs
diff = [s for s in ours if ours[s] != theirs.get(s)][:3]
print(f"== the two CRLs list the same entries: {'yes' if same else 'NO'} ({len(ours)} vs {len(theirs)}){'' if same else ' e.g. ' + repr([(s, ours[s], theirs.get(s)) for s in diff])}")
sys.exit(0 if same else 1)
PY

if [[ $SHARDS -gt 0 ]]; then
  echo "== the same $ENTRIES entries in $SHARDS CRL shards"
  psql "$PG/$DB" -q -v ON_ERROR_STOP=1 <<SQL
UPDATE issuers SET crl_shards = $SHARDS, crl_url = 'http://127.0.0.1:18081/.well-known/pki/crl/$ISSUER' WHERE id = '$ISSUER';
ALTER TABLE certificate_revocations DISABLE TRIGGER certificate_revocations_mark_crl;
UPDATE certificate_revocations SET crl_shard = certctl_crl_shard(serial_hex, $SHARDS::smallint) WHERE issuer_id = '$ISSUER';
ALTER TABLE certificate_revocations ENABLE TRIGGER certificate_revocations_mark_crl;
DELETE FROM crl_state WHERE issuer_id = '$ISSUER';
VACUUM ANALYZE certificate_revocations;
SQL
  sync
  CERTCTL_KEY_ENCRYPTION_KEY="$CA_KEK" /usr/bin/time -v $BIN/certctl-bench-crl-build >"$W/shards.txt" 2>"$W/shards.time"
  t=$(wall "$(field "$W/shards.time" 'Elapsed (wall clock)')")
  rss=$(field "$W/shards.time" 'Maximum resident set size')
  total=0
  for shard in $(seq 1 "$SHARDS"); do
    psql "$PG/$DB" -tAc "SELECT encode(der, 'base64') FROM crls WHERE issuer_id = '$ISSUER' AND shard = $shard ORDER BY crl_number DESC LIMIT 1" \
      | base64 -d >"$W/shard-$shard.der"
    n=$(check_crl "$W/shard-$shard.der")
    openssl crl -inform DER -in "$W/shard-$shard.der" -noout -text | grep -q "Issuing Distribution Point: critical" \
      || { echo "shard $shard has no critical issuingDistributionPoint" >&2; exit 1; }
    total=$((total + n))
  done
  [[ $total == "$ENTRIES" ]] || { echo "the shards list $total serials, not $ENTRIES" >&2; exit 1; }
  echo "   all $SHARDS shards in one tick: wall_s=$t peak_rss_kb=$rss $(tail -1 "$W/shards.txt")"
  grep '^shard=' "$W/shards.txt" | sort -t= -k5 -n | sed -n '1p;$p' | sed 's/^/   smallest, largest: /'
  # One more revocation: only its shard is rebuilt.
  psql "$PG/$DB" -q -v ON_ERROR_STOP=1 <<SQL
WITH c AS (INSERT INTO certificates (id, issuer_id, profile_id, serial_hex, common_name, sans, key_algorithm, public_key_der,
    status, not_before, not_after, certificate_der, certificate_pem, requested_by)
  VALUES (gen_random_uuid(), '$ISSUER', '$PROFILE', '4' || substr(md5('one-more'), 2), 'one-more.bench.example',
    ARRAY['one-more.bench.example'], 'ecdsa-p256', '\x00'::bytea, 'revoked', now() - interval '1 day',
    now() + interval '90 days', '\x00'::bytea, '', 'bench') RETURNING id, issuer_id, serial_hex)
INSERT INTO certificate_revocations (id, certificate_id, issuer_id, serial_hex, reason, reason_code, revoked_at, revoked_by)
SELECT gen_random_uuid(), id, issuer_id, serial_hex, 'keyCompromise', 1, now(), 'bench' FROM c;
SQL
  CERTCTL_KEY_ENCRYPTION_KEY="$CA_KEK" /usr/bin/time -v $BIN/certctl-bench-crl-build >"$W/one.txt" 2>"$W/one.time"
  echo "   after one revocation, its shard alone: wall_s=$(wall "$(field "$W/one.time" 'Elapsed (wall clock)')") peak_rss_kb=$(field "$W/one.time" 'Maximum resident set size') $(tail -1 "$W/one.txt")"
fi

python3 - "${OURS_T[*]}" "${OURS_RSS[*]}" "${OSSL_T[*]}" "${OSSL_RSS[*]}" "$ENTRIES" "$ALG" "$EXPERIMENT" <<'PY'
import statistics, sys
ot, orss, st, srss = (list(map(float, x.split())) for x in sys.argv[1:5])
n, alg, exp = int(sys.argv[5]), sys.argv[6], sys.argv[7]
o, s = statistics.median(ot), statistics.median(st)
exp = f", EXPERIMENT:{exp}" if exp else ""
print(f"== result ({n} entries, {alg} CA, median of {len(ot)}{exp}): certctl {o:.2f}s peak {max(orss)/1024:.0f} MiB vs "
      f"openssl ca -gencrl {s:.2f}s peak {max(srss)/1024:.0f} MiB; certctl takes {o/s:.2f}x OpenSSL's time "
      f"(goal: no slower: {'met' if o <= s else 'NOT met'})")
PY

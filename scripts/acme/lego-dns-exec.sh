#!/usr/bin/env bash
# The hook of lego's `exec` DNS provider for the dns-01 tests (EXEC_PATH=scripts/acme/lego-dns-exec.sh).
# In its default mode lego 4.9.1 runs `$EXEC_PATH present FQDN VALUE` before it asks the ACME server
# to validate a challenge and `$EXEC_PATH cleanup FQDN VALUE` afterwards, FQDN being
# `_acme-challenge.<domain>.` and VALUE the TXT record's content.
#
# present writes VALUE to $CERTCTL_TEST_DNS_RECORDS/<FQDN lower-cased, without the trailing dot>/<sha256
# of VALUE>, where scripts/acme/dns-server.py reads it on every query; cleanup removes that file (and
# the directory once empty). Naming the file after the value lets one name hold several records at
# once, as an order for example.test and *.example.test needs.
set -euo pipefail

usage="usage: $0 present|cleanup FQDN VALUE (with CERTCTL_TEST_DNS_RECORDS set)"
[[ $# -eq 3 ]] || { echo "$usage" >&2; exit 2; }
action=$1
fqdn=$2
value=$3
records=${CERTCTL_TEST_DNS_RECORDS:?$usage}

name=$(printf '%s' "${fqdn%.}" | tr '[:upper:]' '[:lower:]')
# The name becomes a directory: only plain DNS labels, so nothing lands outside the records directory.
[[ $name =~ ^[a-z0-9_-]+(\.[a-z0-9_-]+)*$ ]] || { echo "$0: not a DNS name: $fqdn" >&2; exit 2; }
dir=$records/$name
file=$dir/$(printf '%s' "$value" | sha256sum | cut -d' ' -f1)

case $action in
  present)
    mkdir -p "$dir"
    # Written aside and renamed, so the server never reads half a value (it skips dot files).
    tmp=$(mktemp "$dir/.tmp.XXXXXX")
    printf '%s\n' "$value" >"$tmp"
    chmod 644 "$tmp"
    mv -f "$tmp" "$file"
    ;;
  cleanup)
    rm -f "$file"
    rmdir "$dir" 2>/dev/null || true
    ;;
  *)
    echo "$usage" >&2
    exit 2
    ;;
esac

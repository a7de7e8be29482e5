#!/usr/bin/env bash
# Supply-chain checks with cargo-deny (deny.toml): licences, banned and duplicate crates, sources,
# and RustSec advisories. Installs cargo-deny from crates.io when it is missing.
#
# Advisories need the RustSec advisory database. cargo-deny fetches it from GitHub; where that is
# not reachable (an offline CI machine), a copy already on disk ($CARGO_HOME/advisory-dbs) is used
# as it is, and with none the advisory check is skipped with a warning, never silently.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo deny --version >/dev/null 2>&1; then
  echo "installing cargo-deny"
  cargo install --locked cargo-deny
fi

cargo deny --log-level error check bans licenses sources
db_on_disk() { compgen -G "${CARGO_HOME:-$HOME/.cargo}/advisory-dbs/advisory-db-*/crates" | head -n1 | xargs -r dirname; }
db_date() { git -C "$1" log -1 --format=%cs 2>/dev/null || echo "an unknown date"; }
if cargo deny --log-level error fetch db >/dev/null 2>&1; then
  fetched=yes
else
  fetched=no
fi
db_dir=$(db_on_disk || true)
if [[ -n $db_dir ]]; then
  [[ $fetched == yes ]] || echo "the advisory database cannot be fetched; checking against the copy on disk"
  echo "RustSec advisory database as of $(db_date "$db_dir")"
  cargo deny --offline --log-level error check advisories
else
  echo "WARNING: no RustSec advisory database reachable or on disk: advisories NOT checked" >&2
fi

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
db_dir=$(compgen -G "${CARGO_HOME:-$HOME/.cargo}/advisory-dbs/advisory-db-*" | head -n1 || true)
db_date() { git -C "$db_dir" log -1 --format=%cs 2>/dev/null || echo "unknown date"; }
if cargo deny --log-level error fetch db >/dev/null 2>&1 && [[ -n $db_dir ]]; then
  echo "RustSec advisory database as of $(db_date)"
  cargo deny --offline --log-level error check advisories
elif [[ -n $db_dir && -d $db_dir/crates ]]; then
  echo "the advisory database cannot be fetched; checking against the copy on disk, as of $(db_date)"
  cargo deny --offline --log-level error check advisories
else
  echo "WARNING: no RustSec advisory database reachable or on disk: advisories NOT checked" >&2
fi

#!/usr/bin/env bash
# Runs every test: unit and integration tests of all crates against the real PostgreSQL and
# RabbitMQ (started here if down), with OpenSSL and pkilint as the referees, plus the static
# checks of compose.yaml, the Dockerfile and deploy/. Python tools are installed into .venv/.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/services-up.sh
# The quickstart check at the very end needs dev.sh's ports: say so now, not after the suite.
python3 scripts/check-quickstart.py --preflight

command -v openssl >/dev/null || { echo "openssl is required" >&2; exit 1; }

# Debian packages the tests drive as real clients, installed when missing: curl (EST, as RFC 7030's
# examples use it), scep (micromdm's scepclient) and certmonger (its scep-submit helper) for SCEP,
# lego and certbot for ACME, haproxy (the load balancer of scripts/cluster.sh, which the soak test
# runs), chromium for the console's end-to-end suite below, and jq, which the quickstart's
# commands use.
apt_need() {
  local missing=()
  for pair in "$@"; do
    [[ -e ${pair#*=} ]] || missing+=("${pair%%=*}")
  done
  ((${#missing[@]})) || return 0
  if [[ $(id -u) -eq 0 ]]; then sudo=(); else sudo=(sudo); fi
  # env inside sudo: sudo drops the caller's environment, DEBIAN_FRONTEND included.
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
}
apt_need curl=/usr/bin/curl scep=/usr/bin/scepclient certmonger=/usr/lib/certmonger/scep-submit \
  lego=/usr/bin/lego certbot=/usr/bin/certbot haproxy=/usr/sbin/haproxy \
  chromium=/usr/bin/chromium jq=/usr/bin/jq
# pkilint (lint_pkix_cert, lint_crl, lint_ocsp_response), aiosmtpd (the email tests' SMTP server),
# PyYAML (check-static.py, the CLI's YAML output), schemathesis (the OpenAPI document against the
# live API), the official MCP client (mcp, for `certctl mcp`) and josepy (certbot's JOSE library,
# the peer of the ACME JWS checks) go into the project virtualenv .venv/, which then comes first
# on PATH for everything below, the tests included.
source scripts/venv.sh
venv_require 'pkilint>=0.13,<0.14' 'aiosmtpd>=1.4,<2' pyyaml 'schemathesis>=4.32,<5' 'mcp>=2.3,<3' 'josepy>=2.2,<3'

python3 scripts/check-static.py
python3 scripts/check-imports.py
# The Kubernetes manifests: kustomize renders, schema validation, the alert rules and their unit
# tests (promtool), and the Helm chart against the kustomize base.
scripts/check-deploy.sh

export RUST_BACKTRACE=${RUST_BACKTRACE:-0}
# The system tests start the daemons' binaries, which Cargo builds only for their own package's
# tests: build every binary and test together (one feature resolution, so nextest reuses it all).
cargo build --workspace --bins --tests --locked

# The documentation site: mdBook over docs/, every internal link and anchor checked offline, and
# every test and every certctl subcommand the docs cite checked to exist (each compliance row
# must cite a test). mdbook is installed into ~/.cargo/bin when missing (a few minutes, once).
MDBOOK_VERSION=0.5.4
if [[ $(mdbook --version 2>/dev/null) != "mdbook v$MDBOOK_VERSION" ]]; then
  cargo install mdbook --version "$MDBOOK_VERSION" --locked --no-default-features --features search
fi
python3 scripts/check-docs.py --require-cli

# First the serial group: tests that restart PostgreSQL or RabbitMQ mid-run, which would disturb
# every other test, run alone (the soak test of scripts/cluster.sh's replicas among them, in its
# short form; see docs/operations.md for the long one). Then everything else, in parallel.
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --profile "${NEXTEST_PROFILE:-default}" --run-ignored only --test-threads 1 --no-capture "$@"
  scripts/services-up.sh
  cargo nextest run --workspace --profile "${NEXTEST_PROFILE:-default}" "$@"
else
  cargo test --workspace "$@" -- --ignored --test-threads 1 --nocapture
  scripts/services-up.sh
  cargo test --workspace "$@"
fi

# The web console: its unit tests (Vitest, jsdom), its production build, then the end-to-end
# suite, which drives that build in a real Chromium against the three daemons built above (its
# own database, RabbitMQ prefix and ports; see web/e2e/run.mjs). playwright-core brings no browser
# and cannot download one here, so the suite uses Debian's chromium (installed above if missing).
(
  cd web
  # `npm ci` installs exactly package-lock.json; only when node_modules is missing, so a run does
  # not reinstall every time (after a lockfile change, delete node_modules to pick it up).
  [[ -d node_modules ]] || npm ci --no-audit --no-fund
  npm test
  npm run build
  npm run e2e
)

# The quickstart (docs/guides/quickstart.md), executed as written against the real daemons of
# scripts/dev.sh (a throwaway instance: its own state directory and database), each step's
# output compared in shape with what the guide shows.
python3 scripts/check-quickstart.py

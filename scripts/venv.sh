# shellcheck shell=bash
# The project's Python virtualenv, `.venv/` at the repository root. Source this file from a
# script that needs Python tools, then call
#
#   venv_require 'pkilint>=0.13,<0.14' 'aiosmtpd>=1.4,<2' pyyaml
#
# It creates .venv/ with `python3 -m venv` if it is missing (or no longer runs), installs into it
# only the requirements that are not already satisfied there, and puts .venv/bin first on PATH,
# so `python3` and the tools' commands (lint_pkix_cert, ...) resolve to the virtualenv. Nothing is
# ever installed into the system Python.

VENV_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.venv"

venv_require() {
  local py="$VENV_DIR/bin/python"
  if ! "$py" -c 'import pip' >/dev/null 2>&1; then
    echo "creating the Python virtualenv $VENV_DIR"
    if ! python3 -m venv --clear "$VENV_DIR"; then
      echo "could not create $VENV_DIR: python3 with the venv module is required" \
        "(on Debian or Ubuntu: apt-get install python3-venv)" >&2
      return 1
    fi
  fi

  # A requirement counts as satisfied when its distribution is installed in the virtualenv at a
  # version its specifier allows.
  local missing=() req
  for req in "$@"; do
    if ! "$py" - "$req" >/dev/null 2>&1 <<'PY'; then
import sys
from importlib import metadata
from pip._vendor.packaging.requirements import Requirement

req = Requirement(sys.argv[1])
try:
    version = metadata.version(req.name)
except metadata.PackageNotFoundError:
    sys.exit(1)
sys.exit(0 if req.specifier.contains(version, prereleases=True) else 1)
PY
      missing+=("$req")
    fi
  done
  if ((${#missing[@]} > 0)); then
    echo "installing into $VENV_DIR: ${missing[*]}"
    "$py" -m pip install --quiet --disable-pip-version-check "${missing[@]}"
  fi

  export PATH="$VENV_DIR/bin:$PATH"
  hash -r
}

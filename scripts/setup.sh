#!/usr/bin/env bash
# Create .venv with everything ERank Studio needs. `--dev` also installs Debian's chromium for the
# browser tests and Debian's PostgreSQL server for the store tests (needs root or sudo). Safe to
# run again: it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements.txt
.venv/bin/python -m pip install -q --no-deps -r requirements-nodeps.txt
# ERank Studio itself, editable: `python -m erank_studio` and `erank-studio` work from any folder.
.venv/bin/python -m pip install -q --no-deps -e .
if [ "${1:-}" = "--dev" ]; then
  PACKAGES=""
  command -v chromium >/dev/null 2>&1 || PACKAGES="chromium"
  # The PostgreSQL server: the tests start a throwaway cluster of their own and run the store
  # tests against it too. Debian keeps initdb and pg_ctl in /usr/lib/postgresql/<version>/bin.
  if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    PACKAGES="$PACKAGES postgresql"
  fi
  if [ -n "$PACKAGES" ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    # No "main" cluster on port 5432: nothing here uses one.
    $SUDO mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.d/erank-studio.conf >/dev/null
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $PACKAGES
  fi
fi
echo "ERank Studio environment ready in .venv"

#!/usr/bin/env bash
# The PostgreSQL server for tests/test_sweep_workers.py (workers sharing one study): Debian's postgresql,
# whose initdb/pg_ctl the test runs itself in a temp dir (tests/postgres_support.py). Idempotent.
set -euo pipefail
if compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null; then
  echo "postgresql already installed: $(ls -d /usr/lib/postgresql/*/bin | tail -1)"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq postgresql >/dev/null
ls -d /usr/lib/postgresql/*/bin

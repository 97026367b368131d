#!/usr/bin/env bash
# The PostgreSQL server for tests/test_sweep_workers.py (workers sharing one study): Debian's postgresql,
# whose initdb/pg_ctl the test runs itself in a temp dir (tests/postgres_support.py).
exec bash "$(dirname "$0")/install-debian.sh" postgresql 'compgen -G "/usr/lib/postgresql/*/bin/pg_ctl"'

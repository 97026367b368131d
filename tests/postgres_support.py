"""A throwaway PostgreSQL server for tests (no tests here): Debian's binaries, a temp data dir, a free port.

Skipped when the binaries are missing, except under CI=true, where that is a failure
(.ci/install-postgres.sh installs them). As root, the server runs as the unprivileged user `nobody`.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest
from helpers import require


def postgres_bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl and shutil.which("initdb") else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres_url():
    """postgresql://postgres@127.0.0.1:PORT/postgres of a fresh server, stopped afterwards."""
    bindir = postgres_bindir()
    require(bindir is not None, "Debian's PostgreSQL server (initdb, pg_ctl)", "run .ci/install-postgres.sh")
    require(importlib.util.find_spec("psycopg") is not None, "psycopg", "pip install -e '.[dev,postgres]'")
    root = Path(tempfile.mkdtemp(prefix="vaelab-pg-"))  # under /tmp, so `nobody` can reach it
    as_user: list[str] = []
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.chown(root, nobody.pw_uid, nobody.pw_gid)
        as_user = ["runuser", "-u", "nobody", "--"]
    data, port = root / "data", _free_port()

    def run(*args):
        return subprocess.run(as_user + [str(a) for a in args], check=True, capture_output=True, timeout=120,
                              cwd=root)

    try:
        run(bindir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8")
        run(bindir / "pg_ctl", "-D", data, "-l", root / "server.log", "-w", "-t", "60",
            "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1", "start")
    except subprocess.CalledProcessError as e:
        log = (root / "server.log").read_text() if (root / "server.log").is_file() else ""
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start: {e.stderr.decode()[-800:]} {log[-800:]}")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(as_user + [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60, cwd=root)
        shutil.rmtree(root, ignore_errors=True)

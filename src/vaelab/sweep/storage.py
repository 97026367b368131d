"""Where a sweep's trials live, and how its workers stay honest with each other.

Default: Optuna's JournalStorage in SWEEP_DIR/study.journal: an append-only log of JSON lines, each
append fsync'ed under an exclusive flock. A kill -9 cannot leave a stale lock (the kernel drops a dead
process's flock), and a line is written by one write() call, so a killed writer leaves no half line.
`--storage URL`: Optuna's RDBStorage (PostgreSQL for workers on many machines) with heartbeats.

Two things keep the trial count exact whatever is killed, and when:

* `lock()` serialises "look at the study, then create a trial" across workers: a file lock in the
  sweep directory (local workers), or a PostgreSQL advisory lock (workers anywhere). Both die with
  their holder.
* `dead_trials()` finds RUNNING trials whose worker is gone: workers on this machine (same hostname
  and boot id) by process id and start time (a recycled pid is not mistaken for the worker), other
  machines by Optuna's heartbeat (RDB storages only; a trial is stale after GRACE_S without one).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import threading
import time
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.storages.journal import JournalFileBackend

JOURNAL = "study.journal"
LOCK = "sweep.lock"
HEARTBEAT_S = 10
GRACE_S = 60
WORKER_ATTR = "vaelab_worker"


class FlockLock:
    """A journal lock (acquire/release, as JournalFileOpenLock) on flock(2): the kernel releases it
    when its holder dies, even by kill -9, so no stale lock file is ever waited out."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        self._fd: int | None = None

    def acquire(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def redact(url: str) -> str:
    """The URL without its password (safe to print and to store in the sweep directory)."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}{':***' if ':' in creds else ''}@{host}"


def _sqlalchemy_url(url: str) -> str:
    """postgresql:// means psycopg2 to SQLAlchemy; use psycopg (3) when that is what is installed."""
    if url.startswith("postgresql://"):
        import importlib.util

        if importlib.util.find_spec("psycopg2") is None and importlib.util.find_spec("psycopg") is not None:
            return "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


@dataclass
class Store:
    """An Optuna storage plus the lock and liveness rules that go with it."""

    storage: object
    url: str  # redacted, for messages
    sweep_dir: Path
    study_name: str
    rdb: object | None = None  # the RDBStorage, when there is one

    @property
    def heartbeat(self) -> bool:
        return self.rdb is not None

    @contextlib.contextmanager
    def lock(self):
        """Exclusive section for all workers of the study (see the module docstring)."""
        if self.rdb is not None and self.rdb.engine.name == "postgresql":
            import sqlalchemy

            key = zlib.crc32(f"vaelab-sweep-{self.study_name}".encode())  # same on every machine
            with self.rdb.engine.connect() as conn:
                conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": key})
                try:
                    yield
                finally:
                    conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()
            return
        lock = FlockLock(self.sweep_dir / LOCK)
        lock.acquire()
        try:
            yield
        finally:
            lock.release()

    def claim(self, trial) -> None:
        """Marks `trial` as this process's (call under `lock()`, right after `study.ask()`)."""
        trial.storage.set_trial_system_attr(trial._trial_id, WORKER_ATTR, worker_identity())
        if self.heartbeat:
            self.rdb.record_heartbeat(trial._trial_id)

    def dead_trials(self, study) -> list:
        """RUNNING trials whose worker is gone (call under `lock()`); marks stale RDB trials failed first."""
        if self.heartbeat:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                optuna.storages.fail_stale_trials(study)  # heartbeat older than GRACE_S -> FAIL
        me = worker_identity()
        dead = []
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            w = t.system_attrs.get(WORKER_ATTR)
            if w is None:  # asked but never claimed: its worker died inside the locked section
                dead.append(t)
            elif (w.get("host"), w.get("boot")) == (me["host"], me["boot"]) and not _alive(w["pid"], w.get("start")):
                dead.append(t)
        return dead

    @contextlib.contextmanager
    def beating(self, trial):
        """Records the trial's heartbeat every HEARTBEAT_S seconds while the block runs (RDB only)."""
        if not self.heartbeat:
            yield
            return
        stop = threading.Event()

        def beat():
            while not stop.wait(HEARTBEAT_S):
                with contextlib.suppress(Exception):  # a missed beat is retried; GRACE_S allows several
                    self.rdb.record_heartbeat(trial._trial_id)

        thread = threading.Thread(target=beat, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()


def open_store(sweep_dir: str | Path, study_name: str, url: str | None = None) -> Store:
    """The default journal in `sweep_dir`, or the RDB storage at `url` (e.g. postgresql://user@host/db)."""
    sweep_dir = Path(sweep_dir)
    if url is None:
        sweep_dir.mkdir(parents=True, exist_ok=True)
        path = sweep_dir / JOURNAL
        backend = JournalFileBackend(str(path), lock_obj=FlockLock(str(path) + ".lock"))
        return Store(optuna.storages.JournalStorage(backend), str(path), sweep_dir, study_name)
    for attempt in range(5):
        try:
            with warnings.catch_warnings():  # heartbeat_interval is "experimental" in optuna
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                rdb = optuna.storages.RDBStorage(_sqlalchemy_url(url), heartbeat_interval=HEARTBEAT_S,
                                                 grace_period=GRACE_S, engine_kwargs={"pool_pre_ping": True})
            break
        except ImportError as e:
            raise OSError(f"--storage {redact(url)}: the database driver is missing ({e}); "
                          "for PostgreSQL: pip install 'vaelab[postgres]'") from None
        except Exception as e:  # sqlalchemy's errors: one line, not a traceback
            if attempt == 4:
                raise OSError(f"--storage {redact(url)}: cannot open it ({' '.join(str(e).split())[:300]})") from None
            time.sleep(1 + attempt)  # e.g. two workers creating optuna's tables at once: the loser retries
    sweep_dir.mkdir(parents=True, exist_ok=True)  # only once the storage opened: a bad URL leaves no folder
    return Store(rdb, redact(url), sweep_dir, study_name, rdb=rdb)


# ---------------------------------------------------------------------------- process liveness


def _process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux /proc), or None if unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else fields[19]  # a zombie is dead (just not reaped yet)


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def worker_identity() -> dict:
    """Who runs a trial: host (and boot, so two machines that share a hostname are told apart), process."""
    return {"host": socket.gethostname(), "boot": _boot_id(), "pid": os.getpid(), "start": _process_start(os.getpid())}


def _alive(pid: int | None, start: str | None) -> bool:
    if not isinstance(pid, int):
        return False
    if start is not None and Path("/proc").is_dir():
        return _process_start(pid) == start
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

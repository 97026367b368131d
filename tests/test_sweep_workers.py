"""Sweeps across processes: two workers on one journal, kill -9 and the same command again, PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from postgres_support import postgres_url  # noqa: F401  (fixture)
from sweep_support import write_spec

from vaelab import runs
from vaelab.cli import main
from vaelab.sweep.storage import _alive

pytestmark = pytest.mark.slow
SRC = str(Path(__file__).resolve().parents[1] / "src")
GRID = [1.0, 0.3, 0.1, 0.03, 0.01, 0.003]


def sweep_cmd(spec: Path, sweep_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "vaelab", "sweep", str(spec), "--dir", str(sweep_dir), "--no-compare", *extra]


def env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")]),
            "TF_CPP_MIN_LOG_LEVEL": "3"}


def journal_study(sweep_dir: Path, name: str) -> optuna.Study:
    backend = optuna.storages.journal.JournalFileBackend(str(sweep_dir / "study.journal"))
    return optuna.load_study(study_name=name, storage=optuna.storages.JournalStorage(backend))


def grid_spec(tmp_path: Path, values: list[float], epochs: int = 2) -> Path:
    return write_spec(tmp_path, name="grid", space={"loss.beta": {"type": "grid", "values": values}},
                      set=[f"train.epochs={epochs}"], objective={"metric": "val_loss"}, pruner="none")


def assert_exact_grid(study: optuna.Study, values: list[float]) -> list:
    """Every grid point finished exactly once; any other trial is a failed try replaced by its retry."""
    trials = study.get_trials()
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert sorted(t.params["loss.beta"] for t in complete) == sorted(values)  # none lost, none duplicated
    retried = {t.system_attrs.get("failed_trial") for t in complete}
    for t in trials:
        assert t.state == TrialState.COMPLETE or (t.state == TrialState.FAIL and t.number in retried), t
    return complete


def _trials(sweep_dir: Path) -> list:
    """The grid study's trials so far; none while the study is not created yet."""
    try:
        return journal_study(sweep_dir, "grid").get_trials()
    except (KeyError, FileNotFoundError, OSError):
        return []


def _running_trial(sweep_dir: Path, pid_ok, epochs_done: int = 0) -> int | None:
    """The pid of a worker (pid_ok(pid) true) whose RUNNING trial has `epochs_done` epochs in its history."""
    for t in _trials(sweep_dir):
        pid = t.system_attrs.get("vaelab_worker", {}).get("pid")
        if t.state == TrialState.RUNNING and pid and pid_ok(pid) and (
                not epochs_done or len(runs.read_history(t.user_attrs.get("run_dir", sweep_dir)).get("loss", []))
                >= epochs_done):
            return pid
    return None


def _wait_for(find, proc, log: Path, what: str, timeout: float = 300):
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if found := find():
            return found
        time.sleep(0.25)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGCONT)
        proc.kill()
    pytest.fail(f"{what}; the sweep's output:\n{log.read_text()[-2000:]}")


@contextlib.contextmanager
def parent_stopped(proc, sweep_dir: Path, log: Path):
    """SIGSTOPs the sweep's parent worker once it trains a trial (so it is past the study lock), for the block."""
    _wait_for(lambda: _running_trial(sweep_dir, lambda p: p == proc.pid, epochs_done=1), proc, log,
              "the parent worker never trained a trial")
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(proc.pid, signal.SIGCONT)


def test_two_local_workers_share_one_study(tmp_path):
    spec, sweep_dir, log = grid_spec(tmp_path, GRID), tmp_path / "sw", tmp_path / "sweep.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(sweep_cmd(spec, sweep_dir, "--workers", "2"), env=env(), stdout=out,
                                stderr=subprocess.STDOUT)
    # however slowly the child starts (it imports TensorFlow), it must find trials left: hold the parent
    # inside its first trial until the child has taken one
    with parent_stopped(proc, sweep_dir, log):
        _wait_for(lambda: _running_trial(sweep_dir, lambda p: p != proc.pid), proc, log,
                  "no child worker took a trial while the parent was stopped")
    assert proc.wait(timeout=600) == 0, log.read_text()[-2000:]
    study = journal_study(sweep_dir, "grid")
    complete = assert_exact_grid(study, GRID)
    assert len(study.get_trials()) == len(GRID)  # nothing failed, nothing extra
    assert len({t.system_attrs["vaelab_worker"]["pid"] for t in complete}) == 2  # both workers took trials
    assert len({t.user_attrs["run_dir"] for t in complete}) == len(GRID)


def test_kill_9_then_the_same_command_keeps_finished_trials_and_completes(tmp_path):
    values = GRID[:4]
    spec, sweep_dir = grid_spec(tmp_path, values, epochs=4), tmp_path / "sw"
    cmd = sweep_cmd(spec, sweep_dir, "--workers", "2")
    with open(tmp_path / "first.log", "w") as log:
        proc = subprocess.Popen(cmd, env=env(), stdout=log, stderr=subprocess.STDOUT)
    deadline, running = time.time() + 300, []
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)
        trials = _trials(sweep_dir)
        running = [t for t in trials if t.state == TrialState.RUNNING
                   and len(runs.read_history(t.user_attrs.get("run_dir", tmp_path)).get("loss", [])) >= 1]
        if running and any(t.state == TrialState.COMPLETE for t in trials):
            break
    assert running and proc.poll() is None, (tmp_path / "first.log").read_text()[-2000:]
    os.kill(proc.pid, signal.SIGKILL)  # the parent only: its child worker must die with it
    proc.wait()
    before = {t.number: (t.params, t.value, t.user_attrs["run_dir"])
              for t in journal_study(sweep_dir, "grid").get_trials() if t.state == TrialState.COMPLETE}
    workers = [t.system_attrs["vaelab_worker"] for t in running]
    for _ in range(40):
        if not any(_alive(w["pid"], w["start"]) for w in workers):
            break
        time.sleep(0.25)
    assert not any(_alive(w["pid"], w["start"]) for w in workers), "a worker outlived the killed sweep"

    again = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    study = journal_study(sweep_dir, "grid")
    complete = assert_exact_grid(study, values)
    after = {t.number: (t.params, t.value, t.user_attrs["run_dir"]) for t in complete}
    assert all(after[n] == v for n, v in before.items())  # finished trials kept as they were
    for t in running:  # each interrupted trial was retried in its own run directory, resumed, not restarted
        (retry,) = [c for c in complete if c.system_attrs.get("failed_trial") == t.number]
        assert retry.user_attrs["run_dir"] == t.user_attrs["run_dir"]
        history = runs.read_history(retry.user_attrs["run_dir"])
        assert history["epoch"] == [0.0, 1.0, 2.0, 3.0]
    assert "continuing the interrupted try" in again.stdout


def test_workers_on_two_machines_share_one_postgresql_study(tmp_path, postgres_url):  # noqa: F811
    values = GRID[:4]
    spec = grid_spec(tmp_path, values)
    procs = [subprocess.Popen(sweep_cmd(spec, tmp_path / f"machine{i}", "--storage", postgres_url), env=env(),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in range(2)]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    for p, out in zip(procs, outputs, strict=True):
        assert p.returncode == 0, out[-2000:]
    study = optuna.load_study(study_name="grid", storage=postgres_url.replace("postgresql://",
                                                                             "postgresql+psycopg://"))
    complete = assert_exact_grid(study, values)
    assert len(study.get_trials()) == len(values)
    dirs = {Path(t.user_attrs["run_dir"]).parents[1].name for t in complete}
    assert dirs <= {"machine0", "machine1"}
    out = tmp_path / "page.html"
    assert main(["compare", "--sweep", str(tmp_path / "machine0"), "-o", str(out), "--limit", "32"]) == 0
    assert all(f"trial {t.number}: beta=" in out.read_text() for t in complete)


def test_a_killed_child_worker_is_a_summary_line_and_the_sweep_completes(tmp_path):
    values = GRID[:4]
    spec, sweep_dir, log = grid_spec(tmp_path, values, epochs=3), tmp_path / "sw", tmp_path / "sweep.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(sweep_cmd(spec, sweep_dir, "--workers", "2"), env=env(), stdout=out,
                                stderr=subprocess.STDOUT)
    with parent_stopped(proc, sweep_dir, log):
        child = _wait_for(lambda: _running_trial(sweep_dir, lambda p: p != proc.pid), proc, log,
                          "no child worker took a trial while the parent was stopped")
        os.kill(child, signal.SIGKILL)
    assert proc.wait(timeout=600) == 0, log.read_text()[-2000:]
    out = log.read_text()
    assert "lost: worker 1 was killed by SIGKILL; its trials were retried by the other workers" in out
    assert "Traceback" not in out
    assert_exact_grid(journal_study(sweep_dir, "grid"), values)

"""Workers: processes that take trials from the shared study until it holds `trials` finished ones.

Each loop, under the study-wide lock: trials of dead workers are marked FAIL; every FAIL that is not a
divergence and has no retry yet gets one (optuna's RetryHeartbeatStaleTrialCallback: same parameters,
same grid point, same run directory, queued as WAITING); then the worker either takes a queued retry,
starts a new trial if finished + running trials are below the budget, or waits for the others. So a
kill -9 of any worker, at any moment, loses nothing and duplicates nothing; the same command again
continues the sweep (see docs/sweeps.md).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from vaelab.sweep.spec import load_spec
from vaelab.sweep.study import Sweep, make_sampler, open_sweep, tally
from vaelab.sweep.trial import run_trial

with warnings.catch_warnings():  # experimental in optuna (since 2.8), and exactly what we need
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    RETRY = RetryHeartbeatStaleTrialCallback()  # re-queues a failed trial: same params, attrs, grid point

IDLE_S = 2.0  # an idle worker looks at the study again after this long
STORAGE_ENV = "VAELAB_SWEEP_STORAGE"  # hands --storage to child workers without putting passwords in argv


def _next_trial(sweep: Sweep, study: optuna.Study) -> tuple[optuna.Trial | None, dict, bool]:
    """(trial, params, sweep done?) taken under the study-wide lock."""
    with sweep.store.lock():
        for t in sweep.store.dead_trials(study):
            study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
        counts = tally(study)
        for t in counts.orphans:
            RETRY(study, t)
        counts = tally(study)
        if counts.done >= sweep.spec.trials:
            return None, {}, True
        if counts.waiting == 0 and counts.done + counts.running >= sweep.spec.trials:
            return None, {}, False  # the last trials are running elsewhere: wait (and take over if they die)
        study.sampler = make_sampler(sweep.spec, len(study.get_trials(deepcopy=False)))
        trial = study.ask()
        sweep.store.claim(trial)
        return trial, {p.key: p.suggest(trial) for p in sweep.spec.space}, False


def run_worker(sweep: Sweep, worker: int = 0, log=print) -> int:
    """Runs trials until the study holds the budget of finished trials; returns how many this worker ran."""
    study = sweep.study()
    parent = sweep.tracking_parent(study)  # MLflow (train.track): the run the trials nest under
    ran = 0
    while True:
        trial, params, done = _next_trial(sweep, study)
        if done:
            parent.end("FINISHED")
            return ran
        if trial is None:
            time.sleep(IDLE_S)
            continue
        run_trial(sweep, study, trial, params, log=lambda m: log(f"[worker {worker}] {m}"), parent=parent.run_id)
        ran += 1


def run_sweep(spec_name: str | Path, sets: list[str] | None = None, trials: int | None = None,
              sweep_dir: str | Path | None = None, storage: str | None = None, workers: int = 1,
              log=print) -> Sweep:
    """Loads the spec, then runs `workers` processes on its study (this one and workers - 1 children)."""
    if workers < 1:
        raise ValueError(f"--workers: expected a positive integer, received {workers}")
    spec = load_spec(spec_name, sets, trials)
    sweep = open_sweep(spec, sweep_dir, storage)
    args = {"spec": str(spec.path), "sets": spec.extra_sets, "trials": trials, "dir": str(sweep.dir),
            "parent": os.getpid()}
    env = {**os.environ, **({STORAGE_ENV: storage} if storage else {})}
    children = [subprocess.Popen([sys.executable, "-m", "vaelab.sweep.worker", json.dumps({**args, "worker": i})],
                                 env=env) for i in range(1, workers)]
    try:
        run_worker(sweep, 0, log)
    finally:
        codes = [c.wait() for c in children]
    # the budget is reached (this worker returned only then): a lost child's trials were retried by the others
    sweep.lost_workers = [f"worker {i + 1} {_ended(c)}" for i, c in enumerate(codes) if c != 0]
    return sweep


def _ended(code: int) -> str:
    """How a child worker ended, from its exit status (negative: the signal that killed it)."""
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code} (see its output above)"


def _die_with_parent(parent: int) -> None:
    """A child worker is killed with its parent (Linux prctl PR_SET_PDEATHSIG), so a kill -9 of
    `vaelab sweep` leaves no orphan training on; its trial is then retried by the next run."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _child(argv: str) -> int:
    a = json.loads(argv)
    _die_with_parent(a["parent"])
    spec = load_spec(a["spec"], a["sets"], a["trials"])
    sweep = open_sweep(spec, a["dir"], os.environ.get(STORAGE_ENV))
    run_worker(sweep, a["worker"])
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1]))

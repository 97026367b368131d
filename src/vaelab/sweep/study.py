"""A sweep = a spec + a sweep directory + an Optuna study in a storage; and the study's bookkeeping.

    sweeps/<name>/
      sweep.json        name, spec file, settings (--set), storage (password removed)
      study.journal     the Optuna study (default storage; absent with --storage URL)
      trials/trial-0000/  one ordinary run directory per trial (report, explorer, resume all work)
      compare.html      the comparison page (`vaelab compare --sweep`)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from optuna.trial import TrialState

from vaelab import runs, tracking
from vaelab.sweep.spec import SweepSpec, load_spec
from vaelab.sweep.storage import Store, open_store

META = "sweep.json"
TRIALS = "trials"
SPEC_ATTR = "vaelab_spec"
TRACKING_ATTR = "vaelab_mlflow_parents"  # {tracking URI: the sweep's parent MLflow run id}
DEFAULT_ROOT = "sweeps"

optuna.logging.set_verbosity(optuna.logging.WARNING)


class NoStopGrid(optuna.samplers.GridSampler):
    """GridSampler without its `study.stop()` after the last point: that only works inside
    `study.optimize`, and our workers stop by the trial budget anyway."""

    def after_trial(self, study, trial, state, values) -> None:
        pass


def make_sampler(spec: SweepSpec, n_trials: int = 0) -> optuna.samplers.BaseSampler:
    """The sampler for the study's next trial. Grid: one fixed seed (it shuffles the grid order, which
    every worker must share). TPE/random: seed + number of trials so far, so that workers (on other
    machines too) never draw the same "random" points."""
    if spec.is_grid:
        return NoStopGrid(spec.grid(), seed=spec.seed)
    if spec.sampler == "random":
        return optuna.samplers.RandomSampler(seed=spec.seed + n_trials)
    return optuna.samplers.TPESampler(seed=spec.seed + n_trials)


def make_pruner(spec: SweepSpec) -> optuna.pruners.BasePruner:
    if spec.pruner.kind == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=spec.pruner.startup_trials,
                                       n_warmup_steps=spec.pruner.warmup_epochs)


@dataclass
class Sweep:
    spec: SweepSpec
    dir: Path
    store: Store
    lost_workers: list[str] = field(default_factory=list)  # "worker 1 was killed (SIGKILL)", for the summary

    @property
    def trials_dir(self) -> Path:
        return self.dir / TRIALS

    def study(self) -> optuna.Study:
        """Creates the study, or joins it after checking it asks the same question."""
        study = optuna.create_study(study_name=self.spec.name, storage=self.store.storage,
                                    direction=self.spec.objective.direction, sampler=make_sampler(self.spec),
                                    pruner=make_pruner(self.spec), load_if_exists=True)
        mine = json.loads(json.dumps(self.spec.identity(), default=str))
        theirs = study.user_attrs.get(SPEC_ATTR)
        if theirs is None:
            study.set_user_attr(SPEC_ATTR, mine)
        elif theirs != mine:
            raise ValueError(f"study {self.spec.name!r} in {self.store.url} was started with other settings "
                             f"({_first_difference(theirs, mine)}); rerun with the same spec and --set values, "
                             "or give the sweep another name (spec `name:`) or --dir")
        return study

    @property
    def tracking(self) -> dict:
        """The train keys each trial gets when tracked: the sweep's MLflow store (default <sweep dir>/mlruns)."""
        train = self.spec.base_config.train
        if train.track == "none":
            return {}
        return {"tracking_uri": train.tracking_uri or str(self.dir / tracking.STORE)}

    def tracking_parent(self, study: optuna.Study) -> tracking.Tracker:
        """The MLflow run the trials nest under (`train.track`): made once, its id kept in the study, so every
        worker and every later `vaelab sweep` of this study nests under the same run."""
        cfg = self.spec.trial_config({}, **self.tracking)
        if cfg.train.track == "none":
            return tracking.Tracker()
        with self.store.lock():
            known = study.user_attrs.get(TRACKING_ATTR, {})
            uri = tracking.resolve_uri(cfg)
            parent = tracking.start_parent(cfg, self.spec.name, known.get(uri), [p.key for p in self.spec.space])
            if parent.active and known.get(uri) != parent.run_id:
                study.set_user_attr(TRACKING_ATTR, {**known, uri: parent.run_id})
        return parent


def _first_difference(a, b, path: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return _first_difference(a.get(k), b.get(k), f"{path}.{k}" if path else k)
    return f"{path}: study has {a!r}, now {b!r}"


def open_sweep(spec: SweepSpec, sweep_dir: str | Path | None = None, storage: str | None = None) -> Sweep:
    """The sweep directory (default sweeps/<name>) and its storage; records sweep.json."""
    sweep_dir = Path(sweep_dir or Path(DEFAULT_ROOT) / spec.name).resolve()
    store = open_store(sweep_dir, spec.name, storage)
    meta = {"name": spec.name, "spec": str(spec.path) if spec.path else None, "extra_set": spec.extra_sets,
            "storage": None if storage is None else store.url, "objective": spec.objective.metric,
            "direction": spec.objective.direction, "trials": spec.trials}
    if runs.read_json(sweep_dir / META) != meta:
        runs.write_atomic(sweep_dir / META, json.dumps(meta, indent=2))
    return Sweep(spec, sweep_dir, store)


def load_sweep(sweep_dir: str | Path, storage: str | None = None) -> tuple[Sweep, optuna.Study]:
    """An existing sweep directory and its study (for `vaelab compare --sweep`)."""
    sweep_dir = Path(sweep_dir)
    meta = runs.read_json(sweep_dir / META)
    if not meta:
        raise FileNotFoundError(f"{sweep_dir}: not a sweep directory ({META} not found)")
    if storage is None and meta.get("storage"):
        if "***" in meta["storage"]:
            raise ValueError(f"{sweep_dir}: the study is in {meta['storage']}; pass --storage URL with the password")
        storage = meta["storage"]
    spec = load_spec(meta["spec"], meta.get("extra_set", []), meta.get("trials"))
    sweep = open_sweep(spec, sweep_dir, storage)
    return sweep, optuna.load_study(study_name=spec.name, storage=sweep.store.storage)


# ---------------------------------------------------------------------------- bookkeeping


@dataclass
class Tally:
    done: int  # finished trials that count toward the budget: complete, pruned, diverged
    running: int
    waiting: int  # queued retries
    orphans: list  # failed trials (killed or errored) that no retry replaces yet


def is_diverged(t) -> bool:
    return t.state == TrialState.FAIL and t.user_attrs.get("status") == "diverged"


def tally(study: optuna.Study) -> Tally:
    trials = study.get_trials(deepcopy=False)
    retried = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
    done = sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) or is_diverged(t) for t in trials)
    orphans = [t for t in trials if t.state == TrialState.FAIL and not is_diverged(t) and t.number not in retried]
    return Tally(done, sum(t.state == TrialState.RUNNING for t in trials),
                 sum(t.state == TrialState.WAITING for t in trials), orphans)


def trial_rows(study: optuna.Study) -> list[dict]:
    """One row per trial: number, state (diverged shown as such), params, value, run dir, retry of."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        state = "DIVERGED" if is_diverged(t) else t.state.name
        value = t.value if t.state == TrialState.COMPLETE else None
        rows.append({"trial": t.number, "state": state, **t.params, "value": value,
                     "run_dir": t.user_attrs.get("run_dir"), "retry_of": t.system_attrs.get("failed_trial"),
                     "seconds": (t.duration.total_seconds() if t.duration else None)})
    return rows


def format_trials(rows: list[dict]) -> str:
    from vaelab.runs_table import text_table

    if not rows:
        return "(no trials)"
    cols = [c for c in dict.fromkeys(c for r in rows for c in r) if c != "run_dir"] + ["run_dir"]
    return text_table(rows, cols)

"""One trial: an ordinary `vaelab.train.fit` run directory, its objective, and per-epoch pruning.

A retried trial (its first try was killed or failed) continues the first try's run directory when it
is on this machine and resumable, exactly like `vaelab train --resume`; otherwise it starts afresh.
"""

from __future__ import annotations

import math
import socket
from pathlib import Path

import keras
import optuna
from optuna.trial import TrialState

from vaelab import runs
from vaelab.sweep.spec import Objective
from vaelab.sweep.study import Sweep


class PruneOnEpoch(keras.callbacks.Callback):
    """Reports `metric` to the Optuna trial after each epoch; stops training (cleanly, so the run
    directory is complete) when the pruner says the trial is hopeless."""

    def __init__(self, trial: optuna.Trial, metric: str, run_dir: Path):
        super().__init__()
        self.trial, self.metric, self.run_dir = trial, metric, Path(run_dir)
        self.pruned = False

    def _report(self, value, epoch: int) -> None:
        if value is not None and math.isfinite(float(value)):
            self.trial.report(float(value), epoch)

    def on_train_begin(self, logs=None):
        # a resumed trial: the epochs done before the interruption (fit has already truncated history.csv)
        for epoch, value in enumerate(runs.read_history(self.run_dir).get(self.metric, [])):
            self._report(value, epoch)

    def on_epoch_end(self, epoch, logs=None):
        self._report((logs or {}).get(self.metric), epoch)
        if self.trial.should_prune():
            self.pruned = True
            self.model.stop_training = True


def objective_value(run_dir: str | Path, objective: Objective) -> float:
    """The objective of a finished run: a history.csv column reduced over epochs (`best` = min when
    minimising, max when maximising; `last` = the last finite value), or a metrics.json value
    (running `vaelab evaluate` with `objective.evaluate` options first when it is missing)."""
    run_dir = Path(run_dir)
    if objective.from_history:
        history = runs.read_history(run_dir)
        values = [v for v in history.get(objective.metric, []) if math.isfinite(v)]
        if not values:
            raise ValueError(f"{run_dir / runs.HISTORY}: no finite value in column {objective.metric!r}; "
                             f"columns: {sorted(history)}")
        if objective.reduce == "last":
            return values[-1]
        return min(values) if objective.direction == "minimize" else max(values)
    value = runs.metric_value(runs.read_metrics(run_dir), objective.metric)
    if value is None:
        from vaelab.evaluate import EvalOptions, evaluate_run_dir

        evaluate_run_dir(run_dir, EvalOptions(**objective.evaluate))
        value = runs.metric_value(runs.read_metrics(run_dir), objective.metric)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ValueError(f"{run_dir / runs.METRICS}: {objective.metric} is {value!r}, not a number; "
                         "objective.metric must name a numeric value (e.g. evaluation.iwae.nll)")
    return float(value)


def _run_dir(sweep: Sweep, trial: optuna.Trial) -> tuple[Path, bool]:
    """(run directory, resume it?): the first try's directory when this is a resumable retry."""
    prev = trial.user_attrs.get("run_dir")  # copied from the failed try by RetryHeartbeatStaleTrialCallback
    if prev and trial.user_attrs.get("host") == socket.gethostname() and (Path(prev) / runs.CONFIG).is_file():
        return Path(prev), True
    return sweep.trials_dir / f"trial-{trial.number:04d}", False


def run_trial(sweep: Sweep, study: optuna.Study, trial: optuna.Trial, params: dict, log=print,
              parent: str | None = None) -> str:
    """Trains the trial's run and tells the study how it ended; returns the final state's name. With
    `train.track`, its MLflow run nests under `parent` (the sweep's run id) and logs the objective.

    Divergence (a NaN loss) ends the trial as FAIL with user attr status=diverged (it counts toward the
    budget: trying again would diverge again). Any other error ends it as FAIL and is raised; the next
    worker loop queues a retry with the same parameters.
    """
    from vaelab.train import DivergenceError, fit
    from vaelab.workflow import after_training

    spec = sweep.spec
    run_dir, resume = _run_dir(sweep, trial)
    trial.set_user_attr("run_dir", str(run_dir))
    trial.set_user_attr("host", socket.gethostname())
    cfg = spec.trial_config(params, output_dir=str(run_dir.parent), run_name=run_dir.name, **sweep.tracking)
    finished = resume and runs.RunDir(run_dir).model.is_file() and not runs.RunDir(run_dir).backup.exists()
    log(f"trial {trial.number}: {params} -> {run_dir}" + (" (continuing the interrupted try)" if resume else ""))
    info = {"study": spec.name, "trial": trial.number, "params": params, "objective": spec.objective.metric}
    pruning = PruneOnEpoch(trial, spec.pruner.metric, run_dir) if spec.pruner.kind != "none" else None
    tracker = None
    try:
        with sweep.store.beating(trial):
            if not finished:
                result = fit(cfg, resume=run_dir if resume else None, argv=["vaelab", "sweep", spec.name],
                             extra_callbacks=[pruning] if pruning else [], tracking_parent=parent)
                tracker = result.tracker
                runs.write_trial(run_dir, **info, status="pruned" if pruning and pruning.pruned else "trained")
                if cfg.train.report:
                    after_training(result)
            if runs.read_trial(run_dir).get("status") == "pruned":
                study.tell(trial, state=TrialState.PRUNED)
                return "PRUNED"
            value = objective_value(run_dir, spec.objective)
    except DivergenceError as e:
        log(f"trial {trial.number}: {e}")
        if (run_dir / runs.CONFIG).is_file():  # fit removes a run directory that finished no epoch
            runs.write_trial(run_dir, **info, status="diverged")
        trial.set_user_attr("status", "diverged")
        study.tell(trial, state=TrialState.FAIL)
        return "DIVERGED"
    except BaseException:
        study.tell(trial, state=TrialState.FAIL)
        raise
    runs.write_trial(run_dir, **info, status="complete", value=value)
    if tracker is not None:
        tracker.log_metrics({"objective": value}, step=0)
        tracker.log_files(run_dir / runs.METRICS)  # objective_value may have evaluated the run
    study.tell(trial, value)
    log(f"trial {trial.number}: {spec.objective.metric} = {value:.5g}")
    return "COMPLETE"

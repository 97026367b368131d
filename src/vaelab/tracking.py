"""Experiment tracking on MLflow (`train.track: mlflow`, the `track` extra): one MLflow run per vaelab run.

    vaelab train --config digits_vae --track mlflow          # store: runs/mlruns (SQLite + artifacts)
    vaelab train ... --track mlflow --set train.tracking_uri=http://127.0.0.1:5000
    mlflow ui --backend-store-uri sqlite:///runs/mlruns/mlflow.db

An MLflow run holds the resolved config as params (`section.key`), every history.csv column per epoch as
metrics (step = epoch, as in history.csv), `config.yaml` and `env.json` from the start, and `model.keras`,
`metrics.json` and `report.html` at the end. A sweep's trials are nested runs under one parent run.

Tracking never stops training: its first failure (no server at the start, the server gone mid-run, a full
disk) warns once and the run trains on untracked. The MLflow run id is recorded in the run directory
(`mlflow.json`), so `vaelab train --resume` continues the same MLflow run.
"""

from __future__ import annotations

import json
import os
import re
import time
import warnings
from pathlib import Path
from urllib.parse import urlparse

import keras

from vaelab.atomic import write_atomic
from vaelab.config import ConfigError, RunConfig

STORE = "mlruns"  # the default store: <train.output_dir>/mlruns
INSTALL = "pip install 'vaelab[track]'"
EXPERIMENT = "vaelab"  # the experiment runs go to, unless $MLFLOW_EXPERIMENT_NAME names another
# A down server must cost seconds, not MLflow's default ~4 minutes of retries per call (7 retries, 120 s
# timeout); values the user set win.
HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                 "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}


class TrackingWarning(UserWarning):
    """Experiment tracking failed; training goes on untracked."""


def check(cfg: RunConfig) -> None:
    """ConfigError when `train.track` names a tracker that is not installed (before anything is written)."""
    if cfg.train.track == "mlflow":
        import importlib.util

        if importlib.util.find_spec("mlflow") is None:
            raise ConfigError(f"train.track: 'mlflow' needs the MLflow package, which is not installed; run "
                              f"{INSTALL}, or set train.track=none")


def resolve_uri(cfg: RunConfig) -> str:
    """`train.tracking_uri` as MLflow takes it: a URL (http://..., sqlite:///..., postgresql://...) as it is;
    a folder (default `<train.output_dir>/mlruns`) as a SQLite store `mlflow.db` in it."""
    uri = cfg.train.tracking_uri or str(Path(cfg.train.output_dir) / STORE)
    if urlparse(uri).scheme:
        return uri
    return f"sqlite:///{Path(uri).expanduser().resolve() / 'mlflow.db'}"


def params(cfg: RunConfig) -> dict[str, str]:
    """The resolved config flattened: {"model.latent_dim": "2", ...}."""
    return {f"{section}.{key}": str(value) for section, values in cfg.to_dict().items()
            for key, value in values.items()}


class Tracker(keras.callbacks.Callback):
    """An MLflow run seen from a training run: logs each epoch's row, files, and the end.

    Every MLflow call goes through `_safe`: the first failure warns once (TrackingWarning) and turns the
    tracker off, so training never waits on, or stops for, a tracking store. `Tracker()` tracks nothing.
    """

    def __init__(self, uri: str | None = None):
        super().__init__()
        self.uri, self.client, self.run_id, self.experiment_id = uri, None, None, None
        self.off = uri is None
        self.run_dir: Path | None = None  # the vaelab run directory (set by `start`)

    @property
    def active(self) -> bool:
        return not self.off and self.run_id is not None

    def _safe(self, what: str, fn, *args, **kwargs):
        """`fn(*args, **kwargs)`, or None once tracking is off; the first failure warns and turns it off."""
        if self.off:
            return None
        try:
            return fn(*args, **kwargs)
        except Exception as e:  # tracking must never end training, whatever the store raises
            self.off = True
            warnings.warn(f"experiment tracking stopped: {what} ({self.uri}) failed: {_reason(e)}; training goes on "
                          "untracked", TrackingWarning, stacklevel=2)
            return None

    def open(self, what: str, make) -> bool:
        """Connects and takes the MLflow run `make(client)` returns; False (after one warning) if that fails."""
        def go():
            self.client = _client(self.uri)
            run = make(self.client)
            self.run_id, self.experiment_id = run.info.run_id, run.info.experiment_id

        self._safe(what, go)
        return self.active

    def log_metrics(self, values: dict, step: int) -> None:
        if not self.active:
            return
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, float(v), now, step) for k, v in values.items() if _is_number(v)]
        if metrics:
            self._safe("logging metrics", self.client.log_batch, self.run_id, metrics=metrics)

    def log_params(self, values: dict[str, str]) -> None:
        """Params not logged yet (MLflow refuses to change one: a resumed run's new train.epochs becomes the tag
        `resumed.train.epochs`)."""
        if not self.active:
            return
        from mlflow.entities import Param, RunTag

        logged = self._safe("reading the run", lambda: self.client.get_run(self.run_id).data.params) or {}
        new = [Param(k, v) for k, v in values.items() if k not in logged]
        changed = [RunTag(f"resumed.{k}", v) for k, v in values.items() if k in logged and logged[k] != v]
        for i in range(0, max(len(new), len(changed)), 100):  # MLflow takes at most 100 params per batch
            self._safe("logging params", self.client.log_batch, self.run_id, params=new[i:i + 100],
                       tags=changed[i:i + 100])

    def log_files(self, *paths: Path) -> None:
        """Logs the files of `paths` that exist as artifacts (at the artifact root)."""
        for path in paths:
            if self.active and Path(path).is_file():
                self._safe(f"uploading {Path(path).name}", self.client.log_artifact, self.run_id, str(path))

    def describe(self) -> str:
        """Where to see the run: 'MLflow run ID on http://...' or how to open a local store."""
        if urlparse(self.uri).scheme in ("http", "https"):
            base = self.uri.rstrip("/")
            return f"MLflow run {self.run_id} at {base}/#/experiments/{self.experiment_id}/runs/{self.run_id}"
        return f"MLflow run {self.run_id}; to see it: mlflow ui --backend-store-uri {self.uri}"

    def on_train_begin(self, logs=None):
        from vaelab import runs

        if self.run_dir is not None:  # written by fit just before training starts
            self.log_files(self.run_dir / runs.CONFIG, self.run_dir / runs.ENV)

    def on_epoch_end(self, epoch, logs=None):
        self.log_metrics(logs or {}, step=epoch)

    def finish(self, run_dir: Path) -> None:
        """The end of training: the model and metrics.json as artifacts; the MLflow run FINISHED."""
        from vaelab import runs

        self.log_files(run_dir / runs.MODEL, run_dir / runs.METRICS)
        self.end("FINISHED")

    def fail(self, error: BaseException) -> None:
        """Training raised: the MLflow run ends KILLED (Ctrl-C) or FAILED."""
        self.end("KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED")

    def end(self, status: str) -> None:
        if self.active:
            self._safe("ending the run", self.client.set_terminated, self.run_id, status)


def _reason(e: Exception) -> str:
    """The gist of a store's error: the OS error inside a connection failure, else its first 200 characters."""
    text = " ".join(str(e).split())
    found = re.search(r"\[Errno -?\d+\] [^'\")]+", text)
    if found:
        return found.group(0).rstrip(" .")
    return (text[:200] + "...") if len(text) > 200 else text or type(e).__name__


def _is_number(v) -> bool:
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return not isinstance(v, (str, bool))


def _is_chief() -> bool:
    """Under `multi_worker`, only the chief tracks (every worker runs the same command): the `chief` task of
    TF_CONFIG, or worker 0 when the cluster names no chief (TensorFlow's rule)."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = config.get("task", {})
    if "chief" in config.get("cluster", {}):
        return task.get("type") == "chief"
    return task.get("type", "worker") == "worker" and int(task.get("index", 0)) == 0


def _client(uri: str):
    """An MlflowClient on `uri` (a local store's folder is made first)."""
    from mlflow.tracking import MlflowClient

    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    elif urlparse(uri).scheme in ("http", "https"):
        for name, value in HTTP_DEFAULTS.items():
            os.environ.setdefault(name, value)
    return MlflowClient(tracking_uri=uri)


def _active_run(client, run_id: str | None):
    """The run `run_id` when the store still has it (not deleted), else None."""
    from mlflow.exceptions import MlflowException

    if not run_id:
        return None
    try:
        run = client.get_run(run_id)
    except MlflowException:  # another store at the same address, or the run was purged
        return None
    return run if run.info.lifecycle_stage == "active" else None


def _experiment_id(client, uri: str) -> str:
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or EXPERIMENT
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None
    if uri.startswith("sqlite:///"):  # a local store keeps its artifacts beside the database
        location = (Path(uri.removeprefix("sqlite:///")).parent / "artifacts").as_uri()
    return client.create_experiment(name, artifact_location=location)


def start(cfg: RunConfig, run_dir: Path, first_epoch: int = 0, parent: str | None = None) -> Tracker:
    """The MLflow run of the run directory `run_dir` (a new one, or the recorded one when resuming), with
    the params, config.yaml and env.json logged; `Tracker()` when `train.track` is none."""
    if cfg.train.track == "none" or (cfg.train.distribute == "multi_worker" and not _is_chief()):
        return Tracker()
    from vaelab import runs

    uri = resolve_uri(cfg)
    record = runs.read_json(run_dir / runs.TRACKING)  # {"tracking_uri", "experiment_id", "run_id"}
    previous = record.get("run_id") if record.get("tracking_uri") == uri else None

    def make(client):
        run = _active_run(client, previous)
        if run is not None:
            client.update_run(run.info.run_id, status="RUNNING")
            return run
        tags = {"vaelab.run_dir": str(run_dir.resolve()), "vaelab.model": cfg.model.kind,
                "vaelab.dataset": cfg.data.name, **({"mlflow.parentRunId": parent} if parent else {})}
        return client.create_run(_experiment_id(client, uri), run_name=run_dir.name, tags=tags)

    tracker = Tracker(uri)
    if not tracker.open("starting a run", make):
        return tracker
    tracker.log_params(params(cfg))
    if tracker.run_id != previous:  # a new MLflow run for a resumed run: the epochs it already has
        rows = runs.read_history(run_dir)
        for epoch in range(first_epoch):
            tracker.log_metrics({k: v[epoch] for k, v in rows.items() if k != "epoch" and epoch < len(v)}, epoch)
    tracker.run_dir = run_dir
    if tracker.active:
        record = {"tracking_uri": uri, "experiment_id": tracker.experiment_id, "run_id": tracker.run_id}
        tracker._safe(f"recording the run in {runs.TRACKING}", write_atomic, run_dir / runs.TRACKING,
                      json.dumps(record, indent=2))
    return tracker


def start_parent(cfg: RunConfig, name: str, existing: str | None = None, space: list[str] = ()) -> Tracker:
    """The parent run of the sweep `name`, under which each trial's run nests: `existing` (a run id) when it
    is still there, else a new one; the config as params, less the swept keys `space` (each trial logs its
    own). `Tracker()` when `train.track` is none."""
    if cfg.train.track == "none":
        return Tracker()
    uri = resolve_uri(cfg)

    def make(client):
        run = _active_run(client, existing)
        if run is not None:
            return run
        tags = {"vaelab.sweep": name, "vaelab.space": ", ".join(space)}
        return client.create_run(_experiment_id(client, uri), run_name=name, tags=tags)

    tracker = Tracker(uri)
    if tracker.open("starting the sweep's parent run", make):
        tracker.log_params({k: v for k, v in params(cfg).items() if k not in space})
    return tracker

"""Experiment tracking on MLflow (vaelab/tracking.py): a real local store, a real `mlflow server`, failures.

Skipped where MLflow is not installed; under CI=true that is a failure (CI installs the `track` extra).
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from pathlib import Path

import keras
import pytest
from helpers import require, tiny_config

from vaelab import runs, tracking
from vaelab.train import fit

HAS_MLFLOW = importlib.util.find_spec("mlflow") is not None


@pytest.fixture(autouse=True)
def _mlflow_installed():
    require(HAS_MLFLOW, "mlflow", "pip install -e '.[track]'")


def client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def tracked(tmp_path, **train):
    return tiny_config(tmp_path, train={"track": "mlflow", **train})


def history_rows(run_dir: Path) -> list[dict]:
    with open(run_dir / runs.HISTORY, newline="") as f:
        return list(csv.DictReader(f))


def assert_logged(c, run_id: str, run_dir: Path, artifacts: set[str]) -> None:
    """Params = the resolved config; every history.csv column per epoch (step = epoch); `artifacts` present."""
    run = c.get_run(run_id)
    cfg = runs.read_run_config(run_dir)
    assert run.data.params == tracking.params(cfg)
    assert run.data.params["model.latent_dim"] == "2" and run.data.params["train.track"] == "mlflow"
    rows = history_rows(run_dir)
    columns = [k for k in rows[0] if k != "epoch"]
    assert {"loss", "kl_loss", "val_loss", "beta", "time"} <= set(columns)
    for key in columns:
        logged = [(m.step, m.value) for m in sorted(c.get_metric_history(run_id, key), key=lambda m: m.step)]
        assert logged == [(int(r["epoch"]), pytest.approx(float(r[key]), rel=1e-6)) for r in rows], key
    assert artifacts <= {a.path for a in c.list_artifacts(run_id)}


def test_local_store_params_metrics_artifacts(tmp_path):
    from vaelab.workflow import after_training

    result = fit(tracked(tmp_path, report=True))
    lines = after_training(result)
    record = json.loads((result.run_dir / runs.TRACKING).read_text())
    store = tmp_path / "runs" / "mlruns"  # the default: beside the run directories
    assert record["tracking_uri"] == f"sqlite:///{store / 'mlflow.db'}"
    c = client(record["tracking_uri"])
    assert_logged(c, record["run_id"], result.run_dir,
                  {"config.yaml", "env.json", "model.keras", "metrics.json", "report.html"})
    run = c.get_run(record["run_id"])
    assert run.info.status == "FINISHED" and run.info.run_name == result.run_dir.name
    assert Path(run.info.artifact_uri.removeprefix("file://")).is_relative_to(store / "artifacts")
    model = Path(run.info.artifact_uri.removeprefix("file://")) / "model.keras"
    assert model.read_bytes() == (result.run_dir / runs.MODEL).read_bytes()
    assert any(line.startswith("tracked: ") and "mlflow ui --backend-store-uri sqlite:///" in line for line in lines)


def test_untracked_by_default(tmp_path):
    result = fit(tiny_config(tmp_path))
    assert not (result.run_dir / runs.TRACKING).exists() and not (tmp_path / "runs" / "mlruns").exists()
    assert not result.tracker.active


@pytest.mark.slow
def test_resume_continues_the_same_mlflow_run(tmp_path):
    class Crash(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt("simulated crash")

    cfg = tracked(tmp_path, epochs=3, run_name="r")
    with pytest.raises(KeyboardInterrupt):
        fit(cfg, extra_callbacks=[Crash()])
    run_dir = tmp_path / "runs" / "r"
    record = json.loads((run_dir / runs.TRACKING).read_text())
    c = client(record["tracking_uri"])
    assert c.get_run(record["run_id"]).info.status == "KILLED"
    result = fit(tracked(tmp_path, epochs=4, run_name="r"), resume=run_dir)  # a resume may train longer
    assert json.loads((run_dir / runs.TRACKING).read_text())["run_id"] == record["run_id"]
    run = c.get_run(record["run_id"])
    assert run.info.status == "FINISHED"
    assert [m.step for m in c.get_metric_history(record["run_id"], "loss")] == [0, 1, 2, 3]
    assert run.data.params["train.epochs"] == "3" and run.data.tags["resumed.train.epochs"] == "4"
    assert result.history["loss"] == pytest.approx([m.value for m in c.get_metric_history(record["run_id"], "loss")])
    assert len(c.search_runs([record["experiment_id"]])) == 1


@pytest.mark.slow
def test_tracking_added_on_resume_gets_the_earlier_epochs(tmp_path):
    class Crash(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt("simulated crash")

    with pytest.raises(KeyboardInterrupt):
        fit(tiny_config(tmp_path, train={"run_name": "r"}), extra_callbacks=[Crash()])
    run_dir = tmp_path / "runs" / "r"
    fit(tracked(tmp_path, run_name="r"), resume=run_dir)
    record = json.loads((run_dir / runs.TRACKING).read_text())
    assert_logged(client(record["tracking_uri"]), record["run_id"], run_dir, {"config.yaml", "model.keras"})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_at_start_warns_once_and_trains(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fit(tracked(tmp_path, tracking_uri=url))
    mine = [w for w in caught if issubclass(w.category, tracking.TrackingWarning)]
    assert len(mine) == 1 and url in str(mine[0].message) and "training goes on untracked" in str(mine[0].message)
    assert (result.run_dir / runs.MODEL).is_file() and len(result.history["loss"]) == 2
    assert not (result.run_dir / runs.TRACKING).exists() and not result.tracker.active


def test_missing_mlflow_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    with pytest.raises(ValueError, match=r"train.track: 'mlflow' needs the MLflow package.*vaelab\[track\]"):
        fit(tracked(tmp_path))
    assert not (tmp_path / "runs").exists()


def test_a_recorded_run_the_store_does_not_have_gets_a_new_one(tmp_path):
    run_dir = tmp_path / "runs" / "r"
    run_dir.mkdir(parents=True)
    cfg = tracked(tmp_path)
    uri = tracking.resolve_uri(cfg)
    (run_dir / runs.TRACKING).write_text(json.dumps({"tracking_uri": uri, "run_id": "0" * 32}))
    with warnings.catch_warnings():
        warnings.simplefilter("error", tracking.TrackingWarning)
        tracker = tracking.start(cfg, run_dir)
    assert tracker.active and tracker.run_id != "0" * 32
    assert json.loads((run_dir / runs.TRACKING).read_text())["run_id"] == tracker.run_id
    assert client(uri).get_run(tracker.run_id).data.params == tracking.params(cfg)


@pytest.mark.parametrize("tf_config, chief", [
    ({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 0}}, True),
    ({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 1}}, False),
    ({"cluster": {"chief": ["c:1"], "worker": ["a:1"]}, "task": {"type": "worker", "index": 0}}, False),
    ({"cluster": {"chief": ["c:1"], "worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}, True),
])
def test_only_the_chief_tracks_a_multi_worker_run(tmp_path, monkeypatch, tf_config, chief):
    monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))
    cfg = tracked(tmp_path, distribute="multi_worker", tracking_uri=f"http://127.0.0.1:{free_port()}")
    with warnings.catch_warnings(record=True) as caught:  # the chief tries (and warns: nothing listens)
        warnings.simplefilter("always")
        tracking.start(cfg, tmp_path)
    assert len([w for w in caught if issubclass(w.category, tracking.TrackingWarning)]) == int(chief)


def test_folder_and_url_uris(tmp_path):
    assert tracking.resolve_uri(tracked(tmp_path, tracking_uri=str(tmp_path / "store"))) == \
        f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    for uri in ("http://127.0.0.1:5000", "sqlite:///x.db", "postgresql://u@h/db"):
        assert tracking.resolve_uri(tracked(tmp_path, tracking_uri=uri)) == uri


def test_cli_track_flag(tmp_path, capsys):
    from vaelab.cli import main

    args = ["train", "--dataset", "synthetic", "--output-dir", str(tmp_path), "--epochs", "1", "--set",
            "data.train_limit=64", "--set", "data.test_limit=16", "--set", "model.filters=[8]", "--set",
            "model.kernel_sizes=[3]", "--set", "model.strides=[2]", "--set", "train.verbose=0", "--set",
            "train.report=false", "--set", "train.precision=float32", "--set", "train.run_name=cli"]
    assert main([*args, "--track", "mlflow"]) == 0
    assert "tracked: MLflow run" in capsys.readouterr().out
    assert runs.read_run_config(tmp_path / "cli").train.track == "mlflow"
    assert (tmp_path / "cli" / runs.TRACKING).is_file()
    with pytest.raises(SystemExit) as e:
        main(["train", "--track", "wandb"])
    assert e.value.code == 2 and "--track: invalid choice: 'wandb'" in capsys.readouterr().err


@pytest.mark.slow
def test_sweep_trials_are_nested_runs(tmp_path):
    from sweep_support import write_spec

    from vaelab.sweep.study import TRACKING_ATTR
    from vaelab.sweep.worker import run_sweep

    path = write_spec(tmp_path, space={"loss.beta": {"type": "grid", "values": [0.5, 1.0]}},
                      objective={"metric": "val_loss"}, pruner="none")
    sweep = run_sweep(path, ["train.track=mlflow"], sweep_dir=tmp_path / "sw", log=lambda m: None)
    study = sweep.study()
    uri = f"sqlite:///{tmp_path / 'sw' / 'mlruns' / 'mlflow.db'}"  # the default: in the sweep directory
    parent_id = study.user_attrs[TRACKING_ATTR][uri]
    c = client(uri)
    parent = c.get_run(parent_id)
    assert parent.info.status == "FINISHED" and parent.info.run_name == "s"
    assert "loss.beta" not in parent.data.params and parent.data.params["model.latent_dim"] == "2"
    children = c.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'")
    assert len(children) == 2 == len(c.search_runs([parent.info.experiment_id])) - 1
    by_dir = {r.data.tags["vaelab.run_dir"]: r for r in children}
    for t in study.get_trials():
        child = by_dir[t.user_attrs["run_dir"]]
        assert child.data.params["loss.beta"] == str(t.params["loss.beta"])
        assert child.data.metrics["objective"] == pytest.approx(t.value)
        assert_logged(c, child.info.run_id, Path(t.user_attrs["run_dir"]), {"config.yaml", "model.keras"})


# ---------------------------------------------------------------------------- a real tracking server


class Server:
    """`mlflow server` on 127.0.0.1 and a free port, in its own process group (killed with it)."""

    def __init__(self, folder: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(folder / "server.log", "wb")  # noqa: SIM115 (closed in stop)
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", "1", "--backend-store-uri", f"sqlite:///{folder / 'server.db'}",
             "--artifacts-destination", str(folder / "artifacts")],
            stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self._wait_ready(folder)

    def _wait_ready(self, folder: Path, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {(folder / 'server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"mlflow server not ready after {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the server and its worker processes
        self.proc.wait()
        self.log.close()


@pytest.fixture
def server(tmp_path):
    s = Server(tmp_path)
    yield s
    s.stop()


@pytest.mark.slow
def test_server_params_metrics_artifacts(tmp_path, server):
    result = fit(tracked(tmp_path, tracking_uri=server.url))
    record = json.loads((result.run_dir / runs.TRACKING).read_text())
    assert record["tracking_uri"] == server.url
    c = client(server.url)
    assert_logged(c, record["run_id"], result.run_dir, {"config.yaml", "env.json", "model.keras"})
    assert c.get_run(record["run_id"]).info.status == "FINISHED"
    uploaded = list((tmp_path / "artifacts").rglob("model.keras"))  # proxied to the server's destination
    assert len(uploaded) == 1 and uploaded[0].read_bytes() == (result.run_dir / runs.MODEL).read_bytes()
    assert f"{server.url}/#/experiments/{record['experiment_id']}/runs/{record['run_id']}" in result.tracker.describe()


@pytest.mark.slow
def test_server_killed_mid_run_warns_once_and_training_completes(tmp_path, server):
    class KillServer(keras.callbacks.Callback):  # after the tracker logged epoch 0
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                server.stop()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fit(tracked(tmp_path, epochs=3, tracking_uri=server.url), extra_callbacks=[KillServer()])
    mine = [w for w in caught if issubclass(w.category, tracking.TrackingWarning)]
    assert len(mine) == 1, [str(w.message) for w in mine]
    assert "logging metrics" in str(mine[0].message) and server.url in str(mine[0].message)
    assert len(result.history["loss"]) == 3 and (result.run_dir / runs.MODEL).is_file()
    assert runs.read_backup_metadata(result.run_dir / runs.BACKUP) is None  # finished cleanly, nothing left to resume
    assert len(history_rows(result.run_dir)) == 3

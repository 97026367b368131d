"""Training runs that survive: run directories, exact resume, atomic checkpoints, NaN guard, distribution."""

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from helpers import assert_resume_is_exact, tiny_config

from vaelab import runs
from vaelab.callbacks import AtomicBackupAndRestore, AtomicCheckpoint, TensorBoard
from vaelab.models.kinds import MODEL_KINDS
from vaelab.models.strategies import STRATEGIES
from vaelab.runs import RunDir
from vaelab.train import DivergenceError, fit, validation_batch

TESTS = Path(__file__).parent


class Crash(keras.callbacks.Callback):
    """Simulates a crash at the start of epoch `at` (after epochs 0..at-1 were completed and backed up)."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at:
            raise KeyboardInterrupt("simulated crash")


def test_run_directory_has_everything(tmp_path):
    result = fit(tiny_config(tmp_path, loss={"beta_schedule": "linear_warmup", "warmup_epochs": 2}),
                 argv=["vaelab", "train", "--x"])
    d = result.run_dir
    for name in ("config.yaml", "command.txt", "env.json", "history.csv", "model.keras", "encoder.keras",
                 "decoder.keras", "checkpoints/last.keras", "checkpoints/best.keras"):
        assert (d / name).is_file(), name
    assert any((d / "tensorboard").rglob("*tfevents*"))
    assert not (d / "backup").exists()  # removed once training completed
    assert (d / "command.txt").read_text().strip() == "vaelab train --x"
    assert runs.read_run_config(d) == tiny_config(tmp_path, loss={"beta_schedule": "linear_warmup",
                                                                  "warmup_epochs": 2})
    rows = list(csv.DictReader(open(d / "history.csv")))
    assert len(rows) == 2
    assert {"loss", "reconstruction_loss", "kl_loss", "beta", "time", "val_loss", "val_kl_loss"} <= set(rows[0])
    assert [float(r["beta"]) for r in rows] == [0.0, 0.5]  # the schedule in force each epoch
    env = json.loads((d / "env.json").read_text())
    assert env["keras"].startswith("3.") and env["replicas"] == 1


def test_run_dirs_never_overwrite(tmp_path):
    cfg = tiny_config(tmp_path, train={"epochs": 1, "run_name": "fixed"})
    fit(cfg)
    with pytest.raises(FileExistsError, match="already exists; resume it with --resume"):
        fit(cfg)
    auto = tiny_config(tmp_path, train={"epochs": 1})
    assert runs.create_run_dir(auto) != runs.create_run_dir(auto)


def test_resume_after_crash_equals_uninterrupted_run(tmp_path):
    """4 epochs straight vs 2 + crash + resume 2: identical weights and history (tolerance 0)."""
    assert_resume_is_exact(tmp_path, keys=("loss", "kl_loss", "val_loss", "beta"))


def test_resume_refuses_another_config(tmp_path):
    cfg = tiny_config(tmp_path, train={"epochs": 2, "run_name": "r"})
    with pytest.raises(KeyboardInterrupt):
        fit(cfg, extra_callbacks=[Crash(at=1)])
    other = tiny_config(tmp_path, train={"epochs": 2, "run_name": "r"}, model={"latent_dim": 3})
    with pytest.raises(ValueError, match=r"cannot resume .* another config \(model.latent_dim: run has 2, now 3\)"):
        fit(other, resume=tmp_path / "runs" / "r")
    fit(cfg, resume=tmp_path / "runs" / "r")  # finishes it
    history = (tmp_path / "runs" / "r" / "history.csv").read_text()
    with pytest.raises(ValueError, match=r"cannot resume .*r: it already finished"):
        fit(cfg, resume=tmp_path / "runs" / "r")
    assert (tmp_path / "runs" / "r" / "history.csv").read_text() == history


@pytest.mark.slow
def test_kill_9_then_resume_from_cli(tmp_path):
    """A real `kill -9` of `vaelab train` mid-run, then `--resume`: same history as an uninterrupted run."""
    common = ["--config", "smoke", "--output-dir", str(tmp_path),
              "--epochs", "6", "--set", "train.steps_per_epoch=4", "--set", "train.verbose=0",
              "--set", "train.report=false"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    cmd = [sys.executable, "-m", "vaelab", "train", *common]
    subprocess.run([*cmd, "--set", "train.run_name=straight"], check=True, env=env, capture_output=True)
    proc = subprocess.Popen([*cmd, "--set", "train.run_name=killed"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    meta = tmp_path / "killed" / "backup" / "training_metadata.json"
    deadline = time.time() + 120
    while time.time() < deadline and not (meta.is_file() and json.loads(meta.read_text())["epoch"] >= 2):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert json.loads(meta.read_text())["epoch"] < 6, "the run finished before it could be killed"
    subprocess.run([sys.executable, "-m", "vaelab", "train", "--resume", str(tmp_path / "killed")],
                   check=True, env=env, capture_output=True)
    a = list(csv.DictReader(open(tmp_path / "straight" / "history.csv")))
    b = list(csv.DictReader(open(tmp_path / "killed" / "history.csv")))
    assert [r["epoch"] for r in b] == [str(i) for i in range(6)]
    for ra, rb in zip(a, b, strict=True):
        assert {**ra, "time": None} == {**rb, "time": None}  # every column but the wall time
    lines = (tmp_path / "killed" / "history.csv").read_bytes().splitlines(keepends=True)
    assert all(line.endswith(b"\r\n") for line in lines)  # no mixed line ends after the cut-back


def test_nan_guard_stops_with_a_clear_message_and_keeps_good_checkpoint(tmp_path):
    class Explode(keras.callbacks.Callback):  # epoch 1 is healthy; then the learning rate is made absurd
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                self.model.optimizer.learning_rate.assign(1e12)

    cfg = tiny_config(tmp_path, train={"epochs": 3, "optimizer": "sgd", "run_name": "nan"},
                      model={"likelihood": "gaussian"})
    with pytest.raises(DivergenceError, match=r"loss became (nan|inf|-inf) at epoch 2.*learning rate.*z_log_var_clip"):
        fit(cfg, extra_callbacks=[Explode()])
    last = keras.saving.load_model(tmp_path / "runs" / "nan" / "checkpoints" / "last.keras")
    assert all(np.isfinite(w).all() for w in last.get_weights())
    rows = list(csv.DictReader(open(tmp_path / "runs" / "nan" / "history.csv")))
    assert np.isfinite(float(rows[0]["loss"]))


def test_exploding_config_is_caught(tmp_path):
    cfg = tiny_config(tmp_path, train={"epochs": 2, "optimizer": "sgd", "learning_rate": 1e9},
                      model={"likelihood": "gaussian"})
    with pytest.raises(DivergenceError, match="loss became"):
        fit(cfg)


def test_atomic_checkpoint_survives_a_crash_while_writing(tmp_path, monkeypatch):
    result = fit(tiny_config(tmp_path, train={"epochs": 1, "run_name": "ck"}))
    ckpt = AtomicCheckpoint(RunDir(result.run_dir))
    ckpt.set_model(result.model)
    before = (result.run_dir / "checkpoints" / "last.keras").read_bytes()

    def half_write_then_die(path, *a, **k):
        Path(path).write_bytes(b"PK\x03\x04 partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(result.model, "save", half_write_then_die)
    with pytest.raises(OSError, match=r"writing .*last.keras failed \(No space left on device\); "
                                      r"its previous version is intact"):
        ckpt.on_epoch_end(0, {"loss": 1.0, "val_loss": 1.0})
    assert (result.run_dir / "checkpoints" / "last.keras").read_bytes() == before
    assert not list((result.run_dir / "checkpoints").glob(".*tmp*"))


def test_an_epoch_serialises_the_model_once_for_checkpoint_and_resume_state(tmp_path, monkeypatch):
    """The resume state is the epoch's last.keras under a second name, loadable on its own, and it keeps its
    bytes when the next epoch replaces last.keras (or when the file system has no hard links: a byte copy)."""
    saved = []
    real = keras.Model.save
    monkeypatch.setattr(keras.Model, "save", lambda self, path, *a, **k: (saved.append(Path(path).name),
                                                                         real(self, path, *a, **k))[1])
    result = fit(tiny_config(tmp_path, train={"epochs": 2, "run_name": "once"}))
    # an epoch: last.keras (best.keras copied, the backup linked); the end: model, encoder, decoder
    assert [n for n in saved if ".last." in n] == [f".last.{os.getpid()}.tmp.keras"] * 2
    assert len(saved) == 2 + 3, saved

    backup = tmp_path / "bk"
    ckpt = AtomicCheckpoint(RunDir(tmp_path / "r"))
    ckpt.set_model(result.model)
    cb = AtomicBackupAndRestore(backup, ckpt)
    cb.set_model(result.model)
    ckpt.on_epoch_end(0, {"loss": 1.0})
    cb.on_epoch_end(0, {"loss": 1.0})
    state = backup / runs.read_backup_metadata(backup)["weights"]
    first = state.read_bytes()
    last, best = ckpt.run_dir.checkpoint("last"), ckpt.run_dir.checkpoint("best")
    assert first == last.read_bytes() == best.read_bytes()
    assert state.stat().st_ino == last.stat().st_ino != best.stat().st_ino  # linked; best.keras, a user's, copied
    result.model.encoder.weights[0].assign(result.model.encoder.weights[0] + 1.0)
    ckpt.on_epoch_end(1, {"loss": 1.0})  # last.keras replaced by rename: the backup's name keeps epoch 1
    assert state.read_bytes() == first != ckpt.run_dir.checkpoint("last").read_bytes()
    monkeypatch.setattr(os, "link", lambda *a: (_ for _ in ()).throw(OSError(1, "Operation not permitted")))
    cb.on_epoch_end(1, {"loss": 1.0})
    state = backup / runs.read_backup_metadata(backup)["weights"]
    assert state.read_bytes() == ckpt.run_dir.checkpoint("last").read_bytes()
    assert [f.name for f in backup.iterdir() if f.name.startswith("epoch-")] == [state.name]  # the old one went
    loaded = keras.saving.load_model(state)
    np.testing.assert_array_equal(loaded.encoder.weights[0].numpy(), result.model.encoder.weights[0].numpy())


def test_checkpoint_serialises_once_and_copies_best(tmp_path, monkeypatch):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    ckpt = AtomicCheckpoint(RunDir(tmp_path))
    ckpt.set_model(model)
    saves = []
    real_save = model.save
    monkeypatch.setattr(model, "save", lambda path, *a, **k: (saves.append(path), real_save(path, *a, **k)))
    ckpt.on_epoch_end(0, {"loss": 2.0, "val_loss": 2.0})  # an improvement: last.keras, then best.keras
    assert len(saves) == 1
    ck = tmp_path / "checkpoints"
    assert (ck / "best.keras").read_bytes() == (ck / "last.keras").read_bytes()
    best = (tmp_path / "checkpoints" / "best.keras").read_bytes()
    model.layers[0].kernel.assign(model.layers[0].kernel + 1.0)
    ckpt.on_epoch_end(1, {"loss": 1.0, "val_loss": 3.0})  # no improvement: best.keras is kept
    assert len(saves) == 2 and (tmp_path / "checkpoints" / "best.keras").read_bytes() == best
    assert keras.saving.load_model(tmp_path / "checkpoints" / "best.keras").count_params() == model.count_params()
    assert not list((tmp_path / "checkpoints").glob(".*tmp*"))


def test_tensorboard_skips_per_batch_summaries_only_when_none_are_written(tmp_path, monkeypatch):
    calls = []

    class FakeSummary:
        @staticmethod
        def scalar(name, value, step):
            calls.append(name)

    monkeypatch.setattr(keras.callbacks.TensorBoard, "summary", property(lambda self: FakeSummary))
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    for folder, update_freq, expected in (("a", "epoch", []), ("b", "batch", ["batch_loss"])):
        tb = TensorBoard(str(tmp_path / folder), write_graph=False, update_freq=update_freq)
        tb.set_model(model)
        tb.on_train_batch_end(0, {"loss": 1.0})
        assert calls == expected


def test_validation_batch_grows_only_for_per_image_losses():
    per_image, batchwise = MODEL_KINDS.get("vae"), MODEL_KINDS.get("tcvae")
    assert validation_batch(128, per_image) == 512 and validation_batch(32, per_image) == 128
    assert validation_batch(1024, per_image) == 1024
    assert validation_batch(128, batchwise) == 128 and validation_batch(128, MODEL_KINDS.get("vqvae")) == 128


def test_bad_inputs_give_clear_errors(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError, match=r"train.output_dir .*file/runs: cannot create it"):
        fit(tiny_config(tmp_path, train={"output_dir": str(blocker / "runs")}))
    with pytest.raises(ValueError, match=r"unknown distribution strategy 'tpu'; choose from \['mirrored', "
                                         r"'multi_worker', 'none'\]"):
        fit(tiny_config(tmp_path, train={"distribute": "tpu"}))
    with pytest.raises(ValueError, match=r"unknown dataset 'imagenet'; choose from"):
        fit(tiny_config(tmp_path, data={"name": "imagenet"}))
    with pytest.raises(ValueError, match=r"unknown KL strategy 'magic'; choose from"):
        fit(tiny_config(tmp_path, loss={"strategy": "magic"}))
    assert not list((tmp_path / "runs").glob("*")) if (tmp_path / "runs").exists() else True


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_mirrored_over_two_logical_cpus(tmp_path):
    code = """
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from helpers import tiny_config
from vaelab.train import fit
r = fit(tiny_config(Path(sys.argv[2]), train={"distribute": "mirrored", "epochs": 1}))
env = json.loads((r.run_dir / "env.json").read_text())
print(json.dumps({"replicas": env["replicas"], "loss": r.history["loss"]}))
"""
    env = {**os.environ, "VAELAB_LOGICAL_CPUS": "2", "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", code, str(TESTS), str(tmp_path)], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2 and np.isfinite(result["loss"][0])


@pytest.mark.slow
def test_multi_worker_two_local_processes_end_with_identical_weights(tmp_path):
    ports = [str(_free_port()), str(_free_port())]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    procs = [subprocess.Popen([sys.executable, str(TESTS / "_multi_worker.py"), str(i), *ports, str(tmp_path)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(2)]
    try:
        outs = [p.communicate(timeout=400)[0] for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert [p.returncode for p in procs] == [0, 0], outs[0][-3000:]
    assert all("REPLICAS 2" in o for o in outs)
    import vaelab.models.strategies  # noqa: F401

    a, b = (keras.saving.load_model(tmp_path / "runs" / f"worker{i}" / "model.keras") for i in range(2))
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


@pytest.mark.parametrize("strategy", STRATEGIES.names())
def test_mixed_bfloat16_trains_with_float32_heads_and_output(tmp_path, strategy):
    result = fit(tiny_config(tmp_path, train={"precision": "mixed_bfloat16", "epochs": 1},
                             loss={"strategy": strategy}))
    enc, dec = result.model.encoder, result.model.decoder
    assert any(layer.dtype_policy.name == "mixed_bfloat16" for layer in enc.layers)
    assert dec.get_layer("x_hat").dtype_policy.name == "float32"
    assert all(t.dtype == "float32" for t in keras.tree.flatten(enc.outputs))  # the heads stay float32
    assert np.isfinite(result.history["loss"]).all()
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored


def test_validation_off_history_has_no_val_values(tmp_path):
    result = fit(tiny_config(tmp_path, data={"validation": False}, train={"epochs": 1}))
    assert result.history["loss"] and not result.history.get("val_loss")


class ValidationBatches(keras.callbacks.Callback):
    """The batch indices of every validation batch (one epoch: one validation pass)."""

    def __init__(self):
        super().__init__()
        self.batches = []

    def on_test_batch_end(self, batch, logs=None):
        self.batches.append(batch)


def test_validation_runs_on_the_spread_subset_of_the_test_split(tmp_path):
    # batch 4 validates in batches of 16 (per-image losses): 16 of the 64 test images are one batch, all 64 four
    counted = {}
    for n in (16, None):
        seen = ValidationBatches()
        fit(tiny_config(tmp_path, data={"validation_images": n}, train={"epochs": 1, "batch_size": 4,
                                                                         "steps_per_epoch": 2, "run_name": str(n)}),
            extra_callbacks=[seen])
        counted[n] = len(seen.batches)
    assert counted == {16: 1, None: 4}


class LastAverages(keras.callbacks.Callback):
    """At each epoch's end: the optimizer's moving averages and the raw weights they average."""

    def on_epoch_end(self, epoch, logs=None):
        opt = self.model.optimizer
        self.averages = [keras.ops.convert_to_numpy(v) for v in opt._model_variables_moving_average]
        self.raw = [keras.ops.convert_to_numpy(v) for v in opt._trainable_variables]


def test_ema_final_model_holds_the_weight_averages_and_checkpoints_the_raw_weights(tmp_path):
    seen = LastAverages()
    result = fit(tiny_config(tmp_path, train={"ema": 0.9, "epochs": 2, "steps_per_epoch": 3}), extra_callbacks=[seen])
    final = [keras.ops.convert_to_numpy(v) for v in result.model.optimized_variables]
    assert len(final) == len(seen.averages) > 0
    for got, average in zip(final, seen.averages, strict=True):
        np.testing.assert_array_equal(got, average)
    assert any(not np.array_equal(a, r) for a, r in zip(seen.averages, seen.raw, strict=True))
    saved = runs.load_run(result.run_dir).model  # model.keras: the averages
    for a, b in zip(saved.get_weights(), result.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    last = runs.load_run(result.run_dir, checkpoint="last").model  # the epoch's checkpoint: the raw weights
    assert any(not np.array_equal(a, b) for a, b in zip(last.get_weights(), saved.get_weights(), strict=True))


def test_ema_resume_is_exact(tmp_path):
    assert_resume_is_exact(tmp_path, train={"ema": 0.9}, epochs=3, crash_at=1)


def test_ema_refused_where_another_optimizer_trains_some_weights(tmp_path):
    cfg = tiny_config(tmp_path, model={"kind": "factorvae"}, train={"ema": 0.9, "epochs": 1, "run_name": "f"})
    with pytest.raises(ValueError, match=r"train.ema: model.kind 'factorvae' trains part of its weights"):
        fit(cfg)
    assert not (tmp_path / "runs" / "f").exists()  # nothing half-made left behind

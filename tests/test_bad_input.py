"""Bad input a user can type: one clear line, exit code 2, no traceback, nothing half-made, nothing lost."""

from __future__ import annotations

import csv
import gzip
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
from data_support import write_mnist, write_png
from helpers import error_line as _error
from helpers import tiny_config

from vaelab import runs
from vaelab.cli import main
from vaelab.train import DivergenceError, fit


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("VAELAB_NO_DOWNLOAD", "1")


def _train(tmp_path, *args) -> int:
    return main(["train", "--config", "smoke", "--output-dir", str(tmp_path / "runs"), "--set", "train.verbose=0",
                 "--set", "train.report=false", *args])


@pytest.mark.parametrize("args, message", [
    (["--set", "train.batch_size=0"], "train.batch_size: expected a value >= 1, received 0"),
    (["--set", "train.epochs=-1"], "train.epochs: expected a value >= 1, received -1"),  # --epochs: test_cli_contract
    (["--set", "train.epochs=0"], "train.epochs: expected a value >= 1, received 0"),
    (["--set", "train.learning_rate=-0.01"], "train.learning_rate: expected a value > 0.0, received -0.01"),
    (["--set", "loss.beta=-1"], "loss.beta: expected a value >= 0.0, received -1.0"),
    (["--set", "model.latent_dim=0"], "model.latent_dim: expected a value >= 1, received 0"),
    (["--dataset", "digits", "--set", "data.image_size=13"],
     "data.image_size: the digits dataset has a fixed size of 8x8, received 13"),
    (["--set", "train.epochs=[1"], "--set 'train.epochs=[1': the value is not valid YAML"),
    (["--set", "train.precision=fp8"], "train.precision: expected one of ['auto', 'float32', 'mixed_bfloat16'"),
])
def test_bad_values_exit_2_before_anything_is_written(tmp_path, capsys, args, message):
    assert _train(tmp_path, *args) == 2
    assert message in _error(capsys)
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


@pytest.mark.parametrize("flag", ["--output-dir", "--data-dir"])
def test_folder_names_that_are_not_utf8_are_named_in_one_line(tmp_path, capsys, flag):
    import os

    weird = os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9")  # Latin-1: legal on Linux, not UTF-8
    os.mkdir(weird)
    assert _train(tmp_path, flag, weird) == 2
    line = _error(capsys)
    assert f"{'train.output_dir' if flag == '--output-dir' else 'data.data_dir'}: " in line
    assert "caf\\xe9' holds bytes that are not UTF-8" in line
    assert os.listdir(weird) == [] and not (tmp_path / "runs").exists()


def test_config_show_rejects_what_train_rejects(capsys):
    assert main(["config", "show", "--set", "train.precision=fp8"]) == 2
    assert "train.precision: expected one of" in _error(capsys)


def test_shortcut_flags_are_not_yaml(tmp_path):
    assert _train(tmp_path, "--output-dir", str(tmp_path / "o #2")) == 0
    assert len(list((tmp_path / "o #2").iterdir())) == 1


def test_config_files_that_are_not_configs(tmp_path, capsys):
    (tmp_path / "five.yaml").write_text("data: 5\n")
    assert main(["config", "show", "--config", str(tmp_path / "five.yaml")]) == 2
    assert "five.yaml: section 'data': expected a mapping" in _error(capsys)
    (tmp_path / "bin.yaml").write_bytes(bytes(range(256)))
    assert main(["config", "show", "--config", str(tmp_path / "bin.yaml")]) == 2
    assert "bin.yaml: not a text (UTF-8) file" in _error(capsys)


@pytest.fixture
def finished(tmp_path) -> Path:
    return fit(tiny_config(tmp_path, train={"epochs": 2, "run_name": "done"})).run_dir


def test_damaged_run_files_are_named_with_the_way_out(finished, capsys, tmp_path):
    model = finished / "model.keras"
    model.write_bytes(model.read_bytes()[:1000])  # truncated
    assert main(["generate", str(finished), "-n", "4", "--out", str(tmp_path / "g.png")]) == 2
    line = _error(capsys)
    assert "model.keras: cannot load the model, the file is damaged" in line and "checkpoints/last.keras" in line
    shutil.copy(finished / "checkpoints" / "last.keras", model)  # the way out it names
    assert main(["generate", str(finished), "-n", "4", "--out", str(tmp_path / "g.png")]) == 0
    assert main(["generate", str(finished), "--out", str(tmp_path / "g.txt")]) == 2
    assert "--out: expected a file name ending in .png, received" in _error(capsys)
    (finished / "config.yaml").write_text("model: {latent_dim: [\n")
    assert main(["report", str(finished)]) == 2
    assert "config.yaml: not valid YAML" in _error(capsys)


def test_empty_test_split_of_a_streamed_dataset(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for i in range(12):
        write_png(tmp_path / "imgs" / "train" / "a" / f"{i}.png", rng.integers(0, 255, (8, 8), dtype=np.uint8))
    (tmp_path / "imgs" / "test").mkdir()
    common = ["--dataset", "folder", "--data-dir", str(tmp_path / "imgs"), "--set", "model.filters=[4, 8]"]
    assert _train(tmp_path, *common) == 2
    assert "folder: the test split at" in _error(capsys)
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())
    assert _train(tmp_path, *common, "--set", "data.validation=false", "--set", "train.report=true") == 0
    (run,) = (tmp_path / "runs").iterdir()
    assert (run / "report.html").is_file()  # figures fall back to the training images
    assert main(["evaluate", str(run), "--k", "2"]) == 2
    assert "evaluate with --split train" in _error(capsys)
    assert main(["evaluate", str(run), "--k", "2", "--split", "train", "--no-fid"]) == 0


def test_one_missing_idx_file_is_named(tmp_path, capsys):
    write_mnist(tmp_path / "mnist")
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    assert _train(tmp_path, "--dataset", "mnist", "--data-dir", str(tmp_path / "mnist")) == 2
    assert "mnist: incomplete copy in" in (line := _error(capsys)) and "missing t10k-labels-idx1-ubyte.gz" in line
    assert main(["datasets", "--data-dir", str(tmp_path / "mnist")]) == 0
    assert "incomplete copy" in capsys.readouterr().out


def test_truncated_idx_is_not_listed_as_usable(tmp_path, capsys):
    write_mnist(tmp_path / "mnist")
    f = tmp_path / "mnist" / "train-images-idx3-ubyte.gz"
    f.write_bytes(gzip.compress(gzip.decompress(f.read_bytes())[:-100]))
    assert main(["datasets", "--data-dir", str(tmp_path / "mnist")]) == 0
    assert "train-images-idx3-ubyte.gz: incomplete or damaged gzip" in capsys.readouterr().out


class _Explode(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            self.model.optimizer.learning_rate.assign(1e12)


def test_nan_at_the_first_step_claims_no_checkpoint_and_leaves_nothing(tmp_path):
    cfg = tiny_config(tmp_path, train={"epochs": 2, "optimizer": "sgd", "run_name": "nan0"},
                      model={"likelihood": "gaussian"})
    with pytest.raises(DivergenceError, match=r"no epoch had finished with a finite loss, so there is no checkpoint"):
        fit(cfg, extra_callbacks=[_Explode(0)])
    assert not (tmp_path / "runs" / "nan0").exists()


def test_nan_later_names_the_checkpoint_it_kept(tmp_path):
    cfg = tiny_config(tmp_path, train={"epochs": 3, "optimizer": "sgd", "run_name": "nan1"},
                      model={"likelihood": "gaussian"})
    with pytest.raises(DivergenceError, match=r"the last good checkpoint is .*nan1/checkpoints/last.keras"):
        fit(cfg, extra_callbacks=[_Explode(1)])


def test_a_failure_before_the_first_epoch_leaves_no_run_directory(tmp_path, monkeypatch):
    import vaelab.train

    def broken(*a, **k):
        raise ValueError("model cannot be built")

    monkeypatch.setattr(vaelab.train, "build_model", broken)
    with pytest.raises(ValueError, match="model cannot be built"):
        fit(tiny_config(tmp_path, train={"run_name": "never"}))
    assert not (tmp_path / "runs" / "never").exists()


def test_a_crash_during_the_final_save_resumes_without_retraining(tmp_path, monkeypatch):
    cfg = tiny_config(tmp_path, train={"epochs": 2, "run_name": "final"})
    real = runs.save_model_atomic

    def die_after_model(obj, path):
        real(obj, path)
        if Path(path).name == "model.keras":
            raise KeyboardInterrupt  # stands for kill -9 / a full disk between two of the final files

    monkeypatch.setattr(runs, "save_model_atomic", die_after_model)
    with pytest.raises(KeyboardInterrupt):
        fit(cfg)
    run = tmp_path / "runs" / "final"
    assert runs.read_backup_metadata(run / runs.BACKUP)["epoch"] == 2  # the resume state survived
    before = list(csv.reader(open(run / "history.csv")))
    monkeypatch.setattr(runs, "save_model_atomic", real)
    fit(cfg, resume=run)
    assert list(csv.reader(open(run / "history.csv"))) == before  # nothing retrained
    assert all((run / f).is_file() for f in runs.FINAL) and not (run / runs.BACKUP).exists()
    with pytest.raises(ValueError, match="it already finished"):
        fit(cfg, resume=run)

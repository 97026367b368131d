"""Results stay true to their model (issue 25): numbers record the model file they come from, outputs are
written atomically where they belong, numbers are read as numbers, and one damaged run hides no other."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import keras
import pytest
from helpers import error_line as _error
from helpers import tiny_config

from vaelab import atomic, runs
from vaelab.cli import main
from vaelab.config import ConfigError, load_config, parse_override, read_yaml
from vaelab.train import fit


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("VAELAB_NO_DOWNLOAD", "1")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A finished tiny run (copied by the tests that change it)."""
    return fit(tiny_config(tmp_path_factory.mktemp("t"), train={"run_name": "done"})).run_dir


def _copy(run: Path, tmp_path: Path, name: str = "run") -> Path:
    return Path(shutil.copytree(run, tmp_path / "runs" / name))


def _row(root: Path, capsys, name: str) -> dict:
    assert main(["runs", str(root), "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    return rows[name]


# ---------------------------------------------------------------------------- results know their model


def test_evaluate_resume_overwrite_never_leave_a_stale_number_in_runs(tmp_path, capsys):
    class Crash(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt("simulated kill")

    cfg = tiny_config(tmp_path, train={"run_name": "r"})
    with pytest.raises(KeyboardInterrupt):
        fit(cfg, extra_callbacks=[Crash()])
    run, root = tmp_path / "runs" / "r", tmp_path / "runs"
    evaluate = ["evaluate", str(run), "--k", "2", "--no-fid"]
    assert main(evaluate) == 2  # unfinished: which checkpoint must be asked for
    assert "has not finished training" in (line := _error(capsys)) and "--checkpoint last" in line
    assert main(["fit-prior", str(run), "--limit", "64"]) == 2
    assert "--checkpoint last" in _error(capsys)
    assert main([*evaluate, "--checkpoint", "last"]) == 0
    assert "checkpoints/last.keras" in capsys.readouterr().out
    assert main(["fit-prior", str(run), "--limit", "64", "--components", "2", "--checkpoint", "last"]) == 0
    capsys.readouterr()
    section = runs.read_metrics(run)["evaluation"]
    assert section["checkpoint"] == "checkpoints/last.keras"
    assert section[runs.MODEL_HASH] == runs.file_hash(run / "checkpoints" / "last.keras")
    assert _row(root, capsys, "r")["iw_nll"] is not None  # the numbers of the checkpoint it shows

    fit(cfg, resume=run)  # the resumed model replaces the evaluated checkpoint
    assert _row(root, capsys, "r")["iw_nll"] is None
    assert "evaluation" in json.loads((run / runs.METRICS).read_text())  # kept on disk, never shown
    assert main(["generate", str(run), "-n", "4", "--prior", "gmm", "--out", str(tmp_path / "g.png")]) == 2
    assert "prior_gmm.json was fitted to another model" in _error(capsys)
    assert main(["generate", str(run), "-n", "4", "--out", str(tmp_path / "g.png")]) == 0  # auto: skips it
    assert "prior_gmm.json was fitted to another model" in capsys.readouterr().err
    assert main(evaluate) == 0
    capsys.readouterr()
    fresh = _row(root, capsys, "r")["iw_nll"]
    assert fresh is not None

    (run / "report.html").write_text("old")
    (run / "evaluation").mkdir(exist_ok=True)
    fit(tiny_config(tmp_path, train={"run_name": "r", "overwrite": True, "epochs": 1}))
    for gone in (runs.METRICS, "prior_gmm.npz", "prior_gmm.json", "report.html", "evaluation"):
        assert not (run / gone).exists(), gone
    assert not list((run / "figures").iterdir())
    assert _row(root, capsys, "r")["iw_nll"] is None and _row(root, capsys, "r")["epochs"] == "1/1"


def test_report_records_the_model_and_drops_sections_of_another(trained, tmp_path):
    from vaelab.report import build_report

    run = _copy(trained, tmp_path)
    runs.update_metrics(run, "evaluation", {"iwae": {"nll": 1.0}}, model_hash="0" * 64)  # another model's
    build_report(run, limit=64)
    digest = runs.file_hash(run / runs.MODEL)
    data = json.loads((run / runs.METRICS).read_text())
    assert "evaluation" not in data and data["figures"][runs.MODEL_HASH] == digest
    assert f"content='{digest}'" in (run / "report.html").read_text()


# ---------------------------------------------------------------------------- atomic outputs


def test_a_full_disk_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    f = tmp_path / "metrics.json"
    f.write_text("old")

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full)
    for data in ("new", b"new", lambda fh: fh.write(b"new")):
        with pytest.raises(OSError, match=r"writing .*metrics.json failed \(No space left on device\); the old "
                                          r"file is intact"):
            atomic.write_atomic(f, data)
    with pytest.raises(OSError, match="no file was left there"):
        atomic.write_atomic(tmp_path / "new.png", b"png")
    assert f.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_generate_on_a_full_disk_leaves_no_png(trained, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(atomic.os, "replace", lambda *a: (_ for _ in ()).throw(OSError(28, "No space left")))
    out = tmp_path / "out"
    out.mkdir()
    assert main(["generate", str(trained), "-n", "4", "--out", str(out / "g.png")]) == 2
    assert "g.png failed (No space left); no file was left there" in _error(capsys)
    assert list(out.iterdir()) == []


def test_outputs_refuse_other_kinds_of_file_and_folders(trained, tmp_path, capsys):
    other = _copy(trained, tmp_path, "other")
    config = (other / "config.yaml").read_text()
    assert main(["compare", str(trained), "-o", str(other / "config.yaml")]) == 2
    assert "-o: expected a file name ending in .html or .htm" in _error(capsys)
    assert (other / "config.yaml").read_text() == config
    assert main(["compare", str(trained), "-o", str(tmp_path)]) == 2
    assert f"-o: {tmp_path} is a folder; give a file name ending in .html" in _error(capsys)
    assert main(["generate", str(trained), "-n", "2", "--out", str(other / "model.png")]) == 0  # a new name: fine


@pytest.mark.parametrize("name", ["../../x", "/tmp/x", "a/b", "..", "a\\b", ""])
def test_run_names_cannot_leave_the_output_folder(tmp_path, capsys, name):
    with pytest.raises(ConfigError, match="train.run_name: expected a plain folder name inside train.output_dir"):
        tiny_config(tmp_path, train={"run_name": name})
    assert main(["config", "show", "--set", f"train.run_name={name!r}"]) == 2
    assert "train.run_name: expected a plain folder name" in _error(capsys)


# ---------------------------------------------------------------------------- numbers as numbers

NUMBERS = {"1e-4": 1e-4, "1E-4": 1e-4, ".5": 0.5, "5.": 5.0, "-1e-3": -1e-3, "2.5e+2": 250.0}


@pytest.mark.parametrize("text, value", NUMBERS.items())
def test_set_reads_numbers_as_numbers(text, value):
    assert parse_override(f"loss.beta={text}") == (["loss", "beta"], value)
    assert isinstance(parse_override("train.epochs=5")[1], int)
    assert parse_override("train.run_name='1e-4'")[1] == "1e-4"  # quoted: text


def test_yaml_configs_read_numbers_as_numbers(tmp_path, capsys):
    f = tmp_path / "c.yaml"
    f.write_text("train:\n  learning_rate: 1e-4\n  clipnorm: 1E+1\nloss:\n  beta: .5\n  beta_start: 5.\n")
    assert read_yaml(f)["train"]["learning_rate"] == 1e-4
    cfg = load_config(f)
    assert (cfg.train.learning_rate, cfg.train.clipnorm, cfg.loss.beta, cfg.loss.beta_start) == (1e-4, 10.0, 0.5, 5.0)
    assert main(["config", "show", "--set", "train.learning_rate=1e-4"]) == 0
    assert "learning_rate: 0.0001" in capsys.readouterr().out


def test_sweep_specs_read_numbers_as_numbers(tmp_path):
    from vaelab.sweep.spec import load_spec

    (tmp_path / "tiny.yaml").write_text("data: {name: synthetic, train_limit: 64, test_limit: 32}\n"
                                        "train: {epochs: 1, learning_rate: 1e-4, verbose: 0, report: false}\n")
    (tmp_path / "s.yaml").write_text("base: tiny.yaml\nset: [loss.beta=1E-2]\ntrials: 2\n"
                                     "space:\n  train.learning_rate: {type: log_float, low: 1e-5, high: 1e-3}\n")
    spec = load_spec(tmp_path / "s.yaml")
    (p,) = spec.space
    assert (p.low, p.high) == (1e-5, 1e-3)
    assert spec.base_config.train.learning_rate == 1e-4 and spec.base_config.loss.beta == 1e-2


# ---------------------------------------------------------------------------- damaged runs


def test_runs_and_compare_skip_damaged_runs_naming_the_file(trained, tmp_path, capsys):
    good = _copy(trained, tmp_path, "good")
    broken = {name: _copy(trained, tmp_path, name) for name in ("bad-yaml", "bin-history", "bad-metrics", "newer")}
    (broken["bad-yaml"] / "config.yaml").write_text("model: {latent_dim: [\n")
    (broken["bin-history"] / "history.csv").write_bytes(b"\xa1\xff\x00binary")
    (broken["bad-metrics"] / "metrics.json").write_text('{"evaluation": {"iwae": 1,')
    with open(broken["newer"] / "config.yaml", "a") as f:
        f.write("future:\n  key: 1\n")
    assert main(["runs", str(tmp_path / "runs")]) == 0
    out, err = capsys.readouterr()
    assert "good" in out and not any(name in out for name in broken)
    warnings = [line for line in err.splitlines() if "warning: skipping" in line]
    assert len(warnings) == 4
    for needle in ("bad-yaml/config.yaml: not valid YAML", "bin-history/history.csv: not a text CSV file",
                   "bad-metrics/metrics.json is damaged", "newer/config.yaml"):
        assert sum(needle in w for w in warnings) == 1, needle
    assert main(["compare", str(good), str(broken["bin-history"]), "-o", str(tmp_path / "c.html")]) == 0
    assert "bin-history/history.csv" in capsys.readouterr().err and (tmp_path / "c.html").is_file()


def test_damaged_metrics_json_evaluate_recomputes_report_names_it(trained, tmp_path, capsys):
    run = _copy(trained, tmp_path)
    (run / "metrics.json").write_text('{"evaluation": ')
    assert main(["report", str(run)]) == 2
    line = _error(capsys)
    assert "metrics.json is damaged" in line and f"vaelab evaluate {run}" in line
    assert main(["evaluate", str(run), "--k", "2", "--no-fid"]) == 0
    assert "metrics.json is damaged" in capsys.readouterr().err
    assert "iwae" in json.loads((run / "metrics.json").read_text())["evaluation"]


def test_unreadable_model_is_not_called_damaged(trained, tmp_path, capsys, monkeypatch):
    run = _copy(trained, tmp_path)
    model = run / runs.MODEL
    if os.geteuid() == 0:  # root reads any file: refuse it the way the OS would
        real = open

        def guarded(f, *a, **k):
            if Path(f) == model:
                raise PermissionError(13, "Permission denied", str(f))
            return real(f, *a, **k)

        monkeypatch.setattr(runs, "open", guarded, raising=False)
    else:
        model.chmod(0)
    try:
        assert main(["generate", str(run), "-n", "2", "--out", str(tmp_path / "g.png")]) == 2
        line = _error(capsys)
        assert "model.keras: cannot read (permission denied)" in line
        assert "damaged" not in line and "cp " not in line
    finally:
        model.chmod(0o644)


def test_a_config_edited_after_training_says_so_in_one_line(trained, tmp_path, capsys):
    run = _copy(trained, tmp_path)
    text = (run / "config.yaml").read_text()
    (run / "config.yaml").write_text(text.replace("latent_dim: 2", "latent_dim: 3"))
    assert main(["evaluate", str(run), "--k", "2", "--no-fid"]) == 2
    assert "config.yaml no longer matches its model" in (line := _error(capsys)) and "model.latent_dim" in line
    (run / "config.yaml").write_text(text.replace("image_size: null", "image_size: 8"))
    assert main(["evaluate", str(run), "--k", "2", "--no-fid"]) == 2
    assert "config.yaml no longer matches its model" in (line := _error(capsys)) and "(8, 8, 1)" in line


def test_fit_prior_on_a_full_disk_keeps_the_old_prior_and_leaves_no_temp(trained, tmp_path, monkeypatch, capsys):
    run = _copy(trained, tmp_path)
    fit_prior = ["fit-prior", str(run), "--limit", "64", "--components", "2"]
    assert main(fit_prior) == 0
    capsys.readouterr()
    before = {f.name: f.read_bytes() for f in run.glob("prior_*")}
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(28, "No space left")))
    assert main([*fit_prior, "--seed", "1"]) == 2
    assert "prior_gmm.npz failed (No space left); the old file is intact" in _error(capsys)
    assert {f.name: f.read_bytes() for f in run.glob("prior_*")} == before
    assert not [f for f in run.rglob("*") if ".tmp" in f.name]


def test_plot_refuses_a_file_as_its_output_folder(trained, tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    out = str(tmp_path / "notes.txt")
    assert main(["plot", str(trained), "--what", "latent", "--what", "recon", "--out", out]) == 2
    assert "notes.txt is a file; give a folder" in _error(capsys)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_damaged_feature_classifier_cache_is_trained_again(tmp_path, recwarn):
    from vaelab.data.synthetic import make_images
    from vaelab.metrics import features

    images, labels = make_images(64, size=16, seed=0)
    (tmp_path / features.CLASSIFIER_FILE).write_bytes(b"PK\x03\x04 not a keras file")
    feats = features.ClassifierFeatures.load_or_train(tmp_path, images.astype("float32") / 255.0, labels)
    assert feats(images[:4].astype("float32") / 255.0).shape[0] == 4
    assert any("damaged or out-of-date feature classifier cache" in str(w.message) for w in recwarn)
    keras.saving.load_model(tmp_path / features.CLASSIFIER_FILE, compile=False)  # replaced by a good one


def test_a_saved_config_reads_back_as_it_was(tmp_path):
    from vaelab.config import RunConfig, dump_config
    from vaelab.yamlio import load

    cfg = tiny_config(tmp_path, train={"run_name": "1e5", "learning_rate": 1e-4})  # a name that spells a number
    assert RunConfig.from_dict(load(dump_config(cfg))) == cfg


def test_a_binary_sweep_spec_is_named(tmp_path, capsys):
    from vaelab.sweep.spec import SpecError, load_spec

    (tmp_path / "s.yaml").write_bytes(b"\xa1\xff\x00name: s\n")
    with pytest.raises(SpecError, match=r"s\.yaml: not a text \(UTF-8\) file"):
        load_spec(tmp_path / "s.yaml")

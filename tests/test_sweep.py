"""Sweeps in one process: spec validation, a 3-trial sweep, objectives, pruning, the comparison page."""

from __future__ import annotations

import re
from pathlib import Path

import optuna
import pytest
from sweep_support import write_spec

from vaelab import runs
from vaelab.cli import main
from vaelab.sweep import specs
from vaelab.sweep.spec import SpecError, load_spec
from vaelab.sweep.study import open_sweep, tally
from vaelab.sweep.worker import run_sweep, run_worker


def test_spec_reports_every_problem_on_its_own_line(tmp_path):
    path = write_spec(tmp_path, space={"loss.beta": {"type": "log_float", "low": 0, "high": 1},
                                       "model.latnt_dim": {"type": "int", "low": 2, "high": 8},
                                       "model.kind": {"type": "categorical", "choices": ["vae", 3]},
                                       "train.epochs": {"type": "int", "low": 5, "high": 1}},
                      objective={"metric": "val_los", "direction": "down"}, trials=0, color="red")
    with pytest.raises(SpecError) as e:
        load_spec(path)
    lines = str(e.value).splitlines()
    expected = ["color: expected one of", "space.loss.beta.low: expected a positive number (log scale), received 0",
                "space.model.latnt_dim: expected a config key", "space.model.kind.choices[1]:",
                "space.train.epochs.high: expected a value above low = 5, received 1",
                "objective.metric: expected a history.csv column", "objective.direction: expected minimize or "
                "maximize, received 'down'", "trials: expected a positive integer"]
    assert len(lines) == len(expected)
    for part in expected:
        assert sum(part in line for line in lines) == 1, part
    assert all(line.startswith(f"{path}: ") for line in lines)


def test_spec_grid_defaults_and_limits(tmp_path):
    path = write_spec(tmp_path, space={"loss.beta": {"type": "grid", "values": [1.0, "1e-4"]},
                                       "model.latent_dim": {"type": "grid", "values": [2, 3, 4]}})
    spec = load_spec(path, ["train.epochs=3"])
    assert spec.is_grid and spec.trials == 6 and spec.grid()["loss.beta"] == [1.0, 1e-4]  # "1e-4" is a number
    assert spec.base_config.train.epochs == 3 and spec.base_config.data.name == "synthetic"
    assert spec.trial_config({"loss.beta": 0.5}, run_name="t").loss.beta == 0.5
    with pytest.raises(SpecError, match="trials: expected at most the grid size 6, received 7"):
        load_spec(path, trials=7)
    path = write_spec(tmp_path, space={"loss.beta": {"type": "grid", "values": [1.0]},
                                       "model.latent_dim": {"type": "int", "low": 2, "high": 4}}, trials=2)
    with pytest.raises(SpecError, match="grid for every parameter once one is a grid"):
        load_spec(path)


def test_shipped_specs(capsys):
    assert "beta_mnist" in specs.names() and specs.path("beta_mnist.yaml").is_file()
    assert main(["sweep", "--list"]) == 0
    assert "beta_mnist" in capsys.readouterr().out
    with pytest.raises(SpecError, match="no shipped sweep spec of that name; shipped: .*beta_mnist"):
        load_spec("no_such_spec")


def test_shipped_beta_spec_validates():
    spec = load_spec("beta_mnist")
    assert spec.is_grid and spec.grid() == {"loss.beta": [1.0, 0.1, 0.01, 0.0001]} and spec.trials == 4
    assert spec.base_config.model.latent_dim == 2 and spec.base_config.data.name == "mnist"


@pytest.fixture(scope="module")
def three_trials(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sweep")
    path = write_spec(folder, space={"loss.beta": {"type": "log_float", "low": 0.01, "high": 1.0},
                                     "model.latent_dim": {"type": "int", "low": 2, "high": 3}},
                      objective={"metric": "val_loss", "reduce": "best"}, trials=3, pruner="none")
    sweep = run_sweep(path, sweep_dir=folder / "sweep", log=lambda m: None)
    return sweep, sweep.study()


def test_a_sweep_of_three_trials_leaves_three_run_directories(three_trials):
    sweep, study = three_trials
    trials = study.get_trials()
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 3
    assert len({t.user_attrs["run_dir"] for t in trials}) == 3
    for t in trials:
        run_dir = sweep.trials_dir / f"trial-{t.number:04d}"
        assert t.user_attrs["run_dir"] == str(run_dir)
        assert (run_dir / runs.MODEL).is_file() and runs.run_status(run_dir) == "finished"
        assert t.value == min(runs.read_history(run_dir)["val_loss"])  # reduce: best (minimize)
        cfg = runs.read_run_config(run_dir)
        assert cfg.loss.beta == t.params["loss.beta"] and cfg.model.latent_dim == t.params["model.latent_dim"]
        assert runs.read_trial(run_dir)["status"] == "complete"
    assert tally(study).done == 3


def test_the_same_command_again_adds_nothing_and_other_settings_are_refused(three_trials):
    sweep, study = three_trials
    assert run_worker(sweep) == 0 and len(study.get_trials()) == 3
    other = load_spec(sweep.spec.path, ["train.epochs=3"])
    with pytest.raises(ValueError, match="was started with other settings .*train.epochs: study has 2, now 3"):
        open_sweep(other, sweep.dir).study()


def test_compare_a_sweep(three_trials, capsys):
    sweep, study = three_trials
    assert main(["compare", "--sweep", str(sweep.dir), "-o", str(sweep.dir / "page.html"), "--limit", "32"]) == 0
    text = (sweep.dir / "page.html").read_text()
    for heading in ("training curves", "latent codes", "prior samples", "reconstructions",
                    "objective against each parameter", "parameter importances", "trials"):
        assert f"<h2>{heading}</h2>" in text
    assert text.count("data:image/png;base64,") == 6
    assert not re.search(r"(src|href)=['\"]?https?://", text)
    for t in study.get_trials():
        assert f"trial {t.number}: beta=" in text


def test_objective_from_metrics_runs_the_evaluation(tmp_path):
    path = write_spec(tmp_path, space={"loss.beta": {"type": "categorical", "choices": [0.5]}}, trials=1,
                      objective={"metric": "iwae.nll", "evaluate": {"k": 4, "limit": 16, "frechet": False}})
    study = run_sweep(path, sweep_dir=tmp_path / "sw", log=lambda m: None).study()
    (t,) = study.get_trials()
    metrics = runs.read_metrics(t.user_attrs["run_dir"])
    assert metrics["evaluation"]["iwae"]["k"] == 4 and t.value == metrics["evaluation"]["iwae"]["nll"]


def test_a_hopeless_trial_is_pruned_and_its_run_dir_marked(tmp_path):
    # pruning on the logged beta: the second trial's 10 is above the median of the first (0.1)
    path = write_spec(tmp_path, space={"loss.beta": {"type": "categorical", "choices": [0.1, 10.0]}}, trials=2,
                      set=["train.epochs=3"], pruner={"kind": "median", "startup_trials": 1, "warmup_epochs": 0,
                                                      "metric": "beta"})
    sweep = open_sweep(load_spec(path), tmp_path / "sw")
    study = sweep.study()
    study.enqueue_trial({"loss.beta": 0.1})
    study.enqueue_trial({"loss.beta": 10.0})
    run_worker(sweep, log=lambda m: None)
    first, second = study.get_trials()
    assert first.state == optuna.trial.TrialState.COMPLETE and second.state == optuna.trial.TrialState.PRUNED
    run_dir = second.user_attrs["run_dir"]
    assert runs.run_status(run_dir) == "pruned" and len(runs.read_history(run_dir)["loss"]) == 1  # stopped early
    assert (tmp_path / "sw" / "trials" / "trial-0001" / runs.MODEL).is_file()  # a complete run directory


def test_a_diverged_trial_counts_and_is_marked(tmp_path):
    path = write_spec(tmp_path, space={"train.learning_rate": {"type": "categorical", "choices": [1.0e12]}},
                      set=["model.likelihood=gaussian"], trials=1, pruner="none")
    study = run_sweep(path, sweep_dir=tmp_path / "sw", log=lambda m: None).study()
    (t,) = study.get_trials()
    assert t.state == optuna.trial.TrialState.FAIL and t.user_attrs["status"] == "diverged"
    assert tally(study).done == 1  # counts toward the budget: no retry
    run_dir = Path(t.user_attrs["run_dir"])
    if run_dir.is_dir():  # vaelab.train removes the run directory when no epoch finished
        assert runs.run_status(run_dir) == "diverged" and runs.read_trial(run_dir)["status"] == "diverged"


@pytest.mark.parametrize("objective, field, expected", [
    ({"metric": "evaluation.nonexistent.thing"}, "objective.metric", "a metrics.json path evaluation.SECTION.KEY"),
    ({"metric": "evaluation.iwae"}, "objective.metric", "with SECTION one of ["),
    ({"metric": "iwae.nll", "evaluate": {"k": -5}}, "objective.evaluate.k", "an integer >= 1"),
    ({"metric": "iwae.nll", "evaluate": {"limit": 0}}, "objective.evaluate.limit", "an integer >= 1"),
    ({"metric": "iwae.nll", "evaluate": {"frechet": "yes"}}, "objective.evaluate.frechet", "true or false"),
    ({"metric": "iwae.nll", "evaluate": {"fid_samples": 1.5}}, "objective.evaluate.fid_samples", "an integer"),
])
def test_a_spec_is_checked_whole_before_any_folder_is_made(tmp_path, capsys, objective, field, expected):
    path = write_spec(tmp_path, space={"loss.beta": {"type": "categorical", "choices": [0.5]}}, trials=1,
                      objective=objective)
    assert main(["sweep", str(path), "--dir", str(tmp_path / "sw")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{field}: expected " in err[0] and expected in err[0], err
    assert not (tmp_path / "sw").exists()


def test_metric_paths_of_every_evaluation_section_are_accepted(tmp_path):
    from vaelab.evaluate.sections import SECTIONS

    for name in SECTIONS.names():
        for metric in (f"evaluation.{name}.x", f"{name}.x"):
            path = write_spec(tmp_path, space={"loss.beta": {"type": "categorical", "choices": [0.5]}}, trials=1,
                              objective={"metric": metric})
            assert load_spec(path).objective.metric == metric


def test_evaluate_refuses_bad_options_before_loading_the_run(tmp_path, capsys):
    from vaelab.evaluate import EvalOptions

    assert EvalOptions().problems() == {}
    assert set(EvalOptions(k=0, limit=0, frechet="yes", split="val").problems()) == {"k", "limit", "frechet", "split"}
    with pytest.raises(SystemExit) as refused:  # the flag's declared range, checked while parsing
        main(["evaluate", str(tmp_path / "no_run"), "--k", "-5"])
    assert refused.value.code == 2
    assert "--k: expected an integer in 1..1000000" in capsys.readouterr().err


def test_a_storage_that_cannot_open_leaves_no_sweep_folder(tmp_path, capsys, monkeypatch):
    import vaelab.sweep.storage

    monkeypatch.setattr(vaelab.sweep.storage.time, "sleep", lambda s: None)  # no waiting between the retries
    path = write_spec(tmp_path, space={"loss.beta": {"type": "categorical", "choices": [0.5]}}, trials=1)
    assert main(["sweep", str(path), "--dir", str(tmp_path / "sw"), "--storage", "nosuchdb://u@h/db"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--storage nosuchdb://u@h/db: cannot open it" in err[0]
    assert not (tmp_path / "sw").exists()


def test_a_lost_worker_is_reported_in_the_summary_not_raised(tmp_path, capsys, monkeypatch):
    import vaelab.sweep.worker as worker

    class Killed:  # a child worker that was killed with kill -9
        def __init__(self, *a, **k):
            pass

        def wait(self):
            return -9

    monkeypatch.setattr(worker.subprocess, "Popen", Killed)
    path = write_spec(tmp_path, space={"loss.beta": {"type": "categorical", "choices": [0.5]}}, trials=1)
    assert main(["sweep", str(path), "--dir", str(tmp_path / "sw"), "--workers", "2", "--no-compare"]) == 0
    out = capsys.readouterr().out
    assert "lost: worker 1 was killed by SIGKILL; its trials were retried by the other workers" in out
    assert "best: trial 0" in out

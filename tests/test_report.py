"""The run report and the plot/generate/report commands, on tiny synthetic runs."""

from __future__ import annotations

import json
import re

import pytest

from vaelab.cli import main
from vaelab.config import RunConfig
from vaelab.report import build_report, read_history
from vaelab.runs import update_metrics
from vaelab.train import fit


def _train(tmp_path_factory, **model):
    out = tmp_path_factory.mktemp("runs")
    cfg = RunConfig.from_dict({
        "data": {"name": "synthetic", "train_limit": 128, "test_limit": 64},
        "model": {"latent_dim": 2, "filters": [8, 16], **model},
        "train": {"epochs": 2, "batch_size": 32, "output_dir": str(out), "verbose": 0, "report": False},
    })
    return fit(cfg)


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    return _train(tmp_path_factory)


@pytest.fixture(scope="module")
def ae_run(tmp_path_factory):
    return _train(tmp_path_factory, kind="ae", latent_dim=3)


def test_report_is_self_contained_with_figures_and_metrics(vae_run):
    # a section written by another tool (vaelab evaluate) must be kept and shown
    update_metrics(vae_run.run_dir, "evaluation", {"elbo": -12.5, "active_units": 2})
    path = build_report(vae_run.run_dir, model=vae_run.model)
    text = path.read_text()
    assert path.name == "report.html"
    assert not re.search(r"src=['\"](?!data:)", text)  # every image embedded
    figures = {p.stem for p in (vae_run.run_dir / "figures").glob("*.png")}
    assert figures == {"training", "latent", "histograms", "recon", "samples", "manifold", "interpolate",
                       "path", "arithmetic"}
    assert text.count("data:image/png;base64,") == len(figures)
    for heading in ("evaluation", "latent", "arithmetic", "config.yaml", "kl_loss"):
        assert heading in text
    metrics = json.loads((vae_run.run_dir / "metrics.json").read_text())
    assert metrics["evaluation"]["elbo"] == -12.5  # kept
    assert len(metrics["latent"]["std"]) == 2 and metrics["latent"]["radius_95"] > 0
    assert metrics["figures"]["errors"] == {}
    assert set(metrics["arithmetic"]["attributes"]["0"]) >= {"p_before", "p_after", "shift"}


def test_report_for_an_ae_loads_the_model_itself(ae_run):
    path = build_report(ae_run.run_dir)  # model=None: loaded from the run dir
    figures = {p.stem for p in (ae_run.run_dir / "figures").glob("*.png")}
    assert "manifold" not in figures and "latent" in figures  # D = 3: PCA / t-SNE, no grid
    assert "AE, latent_dim 3" in path.read_text()


def test_read_history(vae_run):
    h = read_history(vae_run.run_dir)
    assert len(h["loss"]) == 2 and "kl_loss" in h
    assert read_history(vae_run.run_dir / "nowhere") == {}


def test_cli_plot_generate_report(vae_run, tmp_path, capsys):
    run = str(vae_run.run_dir)
    assert main(["plot", run, "--what", "latent", "--what", "manifold", "--grid", "5",
                 "--out", str(tmp_path)]) == 0
    assert (tmp_path / "latent.png").is_file() and (tmp_path / "manifold.png").is_file()
    assert main(["plot", run, "--what", "interpolate", "--classes", "1", "3",
                 "--out", str(tmp_path / "i.png")]) == 0
    assert (tmp_path / "i.png").is_file()
    assert main(["generate", run, "-n", "6", "--std", "0.5", "--out", str(tmp_path / "g.png"),
                 "--individual", str(tmp_path / "each")]) == 0
    assert (tmp_path / "g.png").is_file() and len(list((tmp_path / "each").glob("*.png"))) == 6
    assert main(["report", run, "--limit", "32"]) == 0
    assert "report.html" in capsys.readouterr().out
    assert main(["plot", run, "--what", "bogus"]) == 2
    assert "unknown figure 'bogus'; choose from" in capsys.readouterr().err


def test_plot_all_on_an_unconditional_run_draws_what_applies_and_says_what_it_skipped(vae_run, tmp_path, capsys):
    from vaelab.analysis.views import FIGURES

    out = tmp_path / "figs"
    assert main(["plot", str(vae_run.run_dir), "--what", "all", "--out", str(out), "-n", "4", "--grid", "3",
                 "--limit", "32"]) == 0
    assert {p.stem for p in out.glob("*.png")} == set(FIGURES.names()) - {"conditional", "traversals"}
    err = capsys.readouterr().err
    assert "skipped figure 'conditional' does not apply to this run: it needs a conditional model" in err
    assert "skipped figure 'traversals' does not apply to this run: it needs a dataset with ground-truth factors" in err


@pytest.mark.parametrize("what", [["conditional"], ["latent", "conditional"]])
def test_plot_of_a_figure_that_cannot_apply_is_one_line_exit_2_nothing_written(vae_run, tmp_path, capsys, what):
    out = tmp_path / "nothing"
    argv = ["plot", str(vae_run.run_dir), "--out", str(out), "--limit", "32"]
    assert main(argv + [a for w in what for a in ("--what", w)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vaelab plot: error: --what conditional: ")
    assert "needs a conditional model" in err[0] and "figures that apply: [" in err[0]
    assert not out.exists()

"""`vaelab runs` (table, sort, filter, JSON, CSV) and `vaelab compare` on tiny runs."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil

import pytest
from helpers import tiny_config

from vaelab import runs
from vaelab.cli import main
from vaelab.runs_table import collect
from vaelab.train import fit


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """runs/: a VAE (beta 1), a VAE (beta 0.1) marked pruned, an AE, and an interrupted copy (no model)."""
    tmp = tmp_path_factory.mktemp("runs")
    for name, model, loss in (("vae-b1", {}, {"beta": 1.0}), ("vae-b01", {}, {"beta": 0.1}),
                              ("ae", {"kind": "ae", "latent_dim": 3}, {})):
        cfg = tiny_config(tmp, model=model, loss=loss, train={"run_name": name})
        fit(cfg)
    root = tmp / "runs"
    runs.write_trial(root / "vae-b01", status="pruned")
    runs.update_metrics(root / "vae-b1", "evaluation", {"iwae": {"nll": 123.5}, "frechet": {"classifier": {"fd": 4.2}}})
    half = root / "nested" / "half"
    half.mkdir(parents=True)
    for f in (runs.CONFIG, runs.HISTORY, "command.txt"):
        shutil.copy(root / "vae-b1" / f, half / f)
    lines = (half / runs.HISTORY).read_text().splitlines()
    (half / runs.HISTORY).write_text("\n".join(lines[:2]) + "\n")  # one epoch of two
    return root


def test_every_run_with_its_status_and_numbers(folder):
    rows = {r.values["name"]: r.values for r in collect(folder)}
    assert set(rows) == {"vae-b1", "vae-b01", "ae", "nested/half"}
    assert [rows[n]["status"] for n in ("vae-b1", "vae-b01", "ae", "nested/half")] == [
        "finished", "pruned", "finished", "running-or-interrupted"]
    assert rows["vae-b1"]["iw_nll"] == 123.5 and rows["vae-b1"]["fd"] == 4.2 and rows["vae-b1"]["fid"] is None
    assert rows["ae"]["family"] == "ae" and rows["ae"]["z"] == 3 and rows["ae"]["beta"] is None
    assert rows["nested/half"]["epochs"] == "1/2" and rows["vae-b1"]["epochs"] == "2/2"
    history = runs.read_history(folder / "vae-b01")
    assert rows["vae-b01"]["best_val_loss"] == min(history["val_loss"])
    assert rows["vae-b01"]["wall_s"] == round(sum(history["time"]), 1)


def test_runs_command_sorts_filters_and_prints_json_and_csv(folder, capsys):
    assert main(["runs", str(folder), "--sort", "best_val_loss", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    losses = [r["best_val_loss"] for r in rows]
    assert losses == sorted(losses) and len(rows) == 4
    assert main(["runs", str(folder), "--filter", "family=vae", "--filter", "loss.beta=0.1", "--csv"]) == 0
    (row,) = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert row["name"] == "vae-b01" and row["status"] == "pruned" and row["path"].endswith("vae-b01")
    assert main(["runs", str(folder), "--sort", "z", "--reverse"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["name", "dataset", "family", "z"] and lines[1].startswith("ae ")
    assert main(["runs", str(folder), "--filter", "colour=red"]) == 2
    assert "unknown key 'colour'" in capsys.readouterr().err
    assert main(["runs", str(folder / "nowhere")]) == 2


def test_compare_page_is_self_contained_and_names_every_run(folder, tmp_path, capsys):
    dirs = [str(folder / n) for n in ("vae-b1", "vae-b01", "ae", "nested/half")]
    out = tmp_path / "compare.html"
    assert main(["compare", *dirs, "-o", str(out), "--limit", "32"]) == 0
    text = out.read_text()
    for heading in ("runs", "training curves", "latent codes", "prior samples", "reconstructions"):
        assert f"<h2>{heading}</h2>" in text
    assert text.count("data:image/png;base64,") == 4  # every figure embedded
    assert not re.search(r"(src|href)=['\"]?https?://", text)  # no remote assets
    for name in ("vae-b1", "vae-b01", "ae", "half"):
        assert f"<td>{name}</td>" in text
    assert "half: no figures" in text  # the interrupted run has no model yet; it is still in the table


@pytest.mark.parametrize(("kind", "weighted"), [("vae", True), ("iwae", True), ("tcvae", True), ("hvae", True),
                                                ("vamp", True), ("cvae", True), ("ae", False), ("vqvae", False)])
def test_the_beta_column_shows_beta_for_every_family_it_weights(tmp_path, kind, weighted):
    """The family says whether loss.beta weights its objective (was: only kind == 'vae' showed it)."""
    from vaelab.runs_table import summarize

    cfg = tiny_config(tmp_path, model={"kind": kind}, loss={"beta": 0.25})
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    runs.write_run_metadata(run_dir, cfg, ["vaelab", "train"])
    (run_dir / runs.HISTORY).write_text("epoch,loss,time\n0,1.0,0.5\n")
    assert summarize(run_dir).values["beta"] == (0.25 if weighted else None)

"""Shared helpers for the experiment scripts: train a config (or reuse a finished run), save small figures."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[2]
FIGURES = ROOT / "docs" / "figures"
RESULTS = ROOT / "benchmarks" / "experiments" / "results"


def train(config: str, run_name: str, overrides: list[str] = (), report: bool = True, rebuild: bool = False):
    """Trains the preset experiments/<config> into runs/experiments/<run_name>, or reuses a finished run.
    Data comes from $VAELAB_DATA_DIR (or the Keras cache).

    Returns (run_dir, model, history dict). The run report is written too (unless `report` is False).
    """
    from vaelab.config import load_config
    from vaelab.report import build_report, read_history
    from vaelab.runs import load_run
    from vaelab.train import fit

    cfg = load_config(f"experiments/{config}", [f"train.run_name={run_name}", "train.report=false",
                                                    "train.overwrite=true", *overrides])
    run_dir = Path(cfg.train.output_dir) / run_name
    if not rebuild and (run_dir / "model.keras").is_file():
        model = load_run(run_dir).model
    else:
        argv = ["vaelab", "train", "-c", f"experiments/{config}"] + [f"--set={o}" for o in overrides]
        model = fit(cfg, argv=argv).model
    if report:
        build_report(run_dir, model=model)
    return run_dir, model, read_history(run_dir)


def save_figure(fig, name: str, dpi: int = 80) -> Path:
    """docs/figures/<name>.png, shrinking the resolution until it is under 300 KB."""
    FIGURES.mkdir(parents=True, exist_ok=True)
    path = FIGURES / f"{name}.png"
    while True:
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
        if path.stat().st_size < 300_000 or dpi <= 40:
            return path
        dpi = int(dpi * 0.8)


def save_results(name: str, results: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(results, indent=2, default=float))
    print(json.dumps(results, indent=2, default=float), file=sys.stderr)
    return path

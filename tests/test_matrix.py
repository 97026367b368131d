"""Defaults that hold: every shipped preset and every registered family trains as a user runs it
(`vaelab train --config PRESET`), under float32 AND mixed_bfloat16, and writes its report (drawn once per preset).

Generated from the registries (the presets module and MODEL_KINDS), so a new preset or family joins by itself.
Each run is a few steps on tiny files in the preset's dataset format (tests/data_support.py) with the preset's
image shape, crop, likelihood and network: the data's size is what is tiny, not the model. The precision is
pinned explicitly in every case (never `auto`, which depends on the CPU); the report is drawn in each preset's
mixed_bfloat16 case (`report`). Cost before that and before the optimizer was built ahead of the first step:
58 cases took 909 s on 2 cores shared with three other agents (6-40 s a case,
mostly graph tracing and the report): `slow`.
"""

from __future__ import annotations

import json

import pytest
from data_support import isolated_fixture, write_celeba, write_cifar, write_mnist  # noqa: F401  (`isolated`)

from vaelab import presets
from vaelab.cli import main
from vaelab.config import load_config
from vaelab.models.kinds import MODEL_KINDS

PRECISIONS = ("float32", "mixed_bfloat16")
FAMILY_PRESET = "celeba_vae"  # families run on the flagship preset: RGB, crop, gaussian, z_log_var_clip

WRITERS = {  # tiny files in each dataset's real on-disk format, written into DATA_DIR
    "mnist": lambda d: write_mnist(d, n_train=8, n_test=4),
    "fashion_mnist": lambda d: write_mnist(d / "fashion-mnist", seed=4, n_train=8, n_test=4),
    "cifar10": lambda d: write_cifar(d / "cifar-10-batches-py", n=4),
    "celeba": lambda d: write_celeba(d, n=12),
    "digits": lambda d: None,  # bundled with scikit-learn
    "synthetic": lambda d: None,  # generated
    "dsprites": lambda d: None,  # rendered procedurally (DeepMind's file is not in DATA_DIR)
}

# every preset under both precisions; every family on the flagship preset under mixed_bfloat16, the path that
# crashed (float32 is what every other family test pins: tests/test_families.py trains each kind from the CLI)
CASES = ([(name, None, precision) for name in presets.names() for precision in PRECISIONS]
         + [(FAMILY_PRESET, kind, "mixed_bfloat16") for kind in MODEL_KINDS.names()])


def report(precision: str) -> bool:
    """The report is drawn in the mixed_bfloat16 case of each preset, the one whose model outputs could break
    it (figures read bf16-trained models' outputs); the float32 case trains, validates, checkpoints and saves
    exactly as a user's run does, without drawing the same figures again (~7 s of the ~12 s a case took).
    Every family's report is drawn under float32 too, from the CLI, in tests/test_families.py."""
    return precision == "mixed_bfloat16"


def _train(preset: str, kind: str | None, precision: str, tmp_path) -> int:
    dataset = load_config(preset).data.name
    if dataset not in WRITERS:
        pytest.fail(f"preset {preset!r} trains on {dataset!r}: add a tiny writer for it to WRITERS")
    data_dir = tmp_path / "data"
    data_dir.mkdir(exist_ok=True)
    WRITERS[dataset](data_dir)
    overrides = ["train.epochs=1", "train.steps_per_epoch=1", "train.batch_size=4", "train.verbose=0",
                 f"train.report={report(precision)}", "train.run_name=run", f"train.precision={precision}",
                 "data.train_limit=8", "data.test_limit=4"]
    if kind is not None:
        overrides.append(f"model.kind={kind}")
    argv = ["train", "--config", preset, "--data-dir", str(data_dir), "--output-dir", str(tmp_path / "runs")]
    return main(argv + [a for o in overrides for a in ("--set", o)])


@pytest.mark.slow
@pytest.mark.parametrize(("preset", "kind", "precision"), CASES,
                         ids=[f"{p}-{x}" if k is None else f"{p}+{k}-{x}" for p, k, x in CASES])
def test_every_preset_and_family_trains_and_reports_under_each_precision(isolated, tmp_path, preset, kind,
                                                                          precision):
    assert _train(preset, kind, precision, tmp_path) == 0
    run = tmp_path / "runs" / "run"
    assert (run / "model.keras").is_file() and (run / "history.csv").is_file()
    assert f'"precision": "{precision}"' in (run / "env.json").read_text()
    if report(precision):
        # every figure of the report was drawn or skipped for a stated reason: none failed (a failure is only a
        # warning line for the user, so the exit code alone would not show it)
        assert (run / "report.html").is_file()
        assert json.loads((run / "metrics.json").read_text())["figures"]["errors"] == {}

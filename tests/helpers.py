"""Helpers shared by test modules (import them from here, not from conftest)."""

from __future__ import annotations

import os

import pytest

from vaelab.config import RunConfig


def tiny_config(tmp_path, **sections) -> RunConfig:
    """A config that trains in about a second: synthetic 16x16 data, small conv net, z=2."""
    d = {
        "data": {"name": "synthetic", "train_limit": 256, "test_limit": 64},
        "model": {"latent_dim": 2, "filters": [8, 16], "kernel_sizes": [3, 3], "strides": [2, 2]},
        "train": {"epochs": 2, "batch_size": 32, "output_dir": str(tmp_path / "runs"), "verbose": 0,
                  "report": False, "precision": "float32"},  # exact maths in tests; `auto` has its own test
    }
    for section, values in sections.items():
        d.setdefault(section, {}).update(values)
    return RunConfig.from_dict(d)


def error_line(capsys) -> str:
    """The one `error:` line a refused command printed on stderr (no traceback, exactly one such line)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err
    return lines[0]


def require(available: bool, what: str, how: str) -> None:
    """Skips a test whose tool `what` is missing on a developer's machine; under CI=true it fails:
    CI installs everything the suite needs, so a missing tool there is a broken CI, never a skip."""
    if available:
        return
    message = f"{what} is not installed; {how}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI=true: {message}", pytrace=False)
    pytest.skip(message)


def assert_resume_is_exact(tmp_path, model: dict | None = None, epochs: int = 4, crash_at: int = 2,
                           keys=("loss", "kl_loss", "val_loss"), **sections):
    """`epochs` straight vs a crash at the start of epoch `crash_at` + `--resume`: identical weights (tolerance 0),
    identical optimizer state and identical history columns `keys` (None: every column but `time`).
    `sections` (data=..., loss=..., train=...) go to `tiny_config`. Returns (uninterrupted, resumed) FitResults."""
    import keras
    import numpy as np

    from vaelab import runs
    from vaelab.train import fit

    class Crash(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == crash_at:
                raise KeyboardInterrupt("simulated crash")

    model = model or {}
    train = sections.pop("train", {})
    full = fit(tiny_config(tmp_path, model=model, train={**train, "epochs": epochs, "run_name": "full"}, **sections))
    cfg = tiny_config(tmp_path, model=model, train={**train, "epochs": epochs, "run_name": "crashed"}, **sections)
    with pytest.raises(KeyboardInterrupt):
        fit(cfg, extra_callbacks=[Crash()])
    assert runs.read_backup_metadata(tmp_path / "runs" / "crashed" / runs.BACKUP)["epoch"] == crash_at
    resumed = fit(cfg, resume=tmp_path / "runs" / "crashed")
    for a, b in zip(full.model.get_weights(), resumed.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    opt_full, opt_resumed = full.model.optimizer.variables, resumed.model.optimizer.variables
    assert [tuple(v.shape) for v in opt_resumed] == [tuple(v.shape) for v in opt_full]  # no extra slots
    for a, b in zip(opt_full, opt_resumed, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    keys = [k for k in full.history if k != "time"] if keys is None else keys
    for key in keys:
        assert resumed.history[key] == full.history[key], key
    return full, resumed


def cool_keras_saving() -> None:
    """Removes the attribute-skip lists `vaelab.saving.warm` stored in this thread: Keras alone again (it rebuilds
    its reference objects for every object it saves or loads)."""
    from keras.src.backend.common import global_state

    from vaelab import saving

    for name in list(vars(global_state.GLOBAL_STATE_TRACKER)):
        if name.startswith(saving.KEY):
            delattr(global_state.GLOBAL_STATE_TRACKER, name)

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


def require(available: bool, what: str, how: str) -> None:
    """Skips a test whose tool `what` is missing on a developer's machine; under CI=true it fails:
    CI installs everything the suite needs, so a missing tool there is a broken CI, never a skip."""
    if available:
        return
    message = f"{what} is not installed; {how}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI=true: {message}", pytrace=False)
    pytest.skip(message)

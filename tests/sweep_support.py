"""A tiny base config and a spec writer for the sweep tests (no tests here)."""

from __future__ import annotations

import yaml

TINY = {"data": {"name": "synthetic", "train_limit": 128, "test_limit": 32},
        "model": {"latent_dim": 2, "filters": [8, 16]},
        "train": {"epochs": 2, "batch_size": 32, "verbose": 0, "report": False}}


def write_spec(folder, name="s", **spec):
    """tiny.yaml (the base config) and NAME.yaml (the spec) in `folder`; returns the spec path."""
    (folder / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"base": "tiny.yaml", **spec}))
    return path

"""Shared tiny fixtures. Everything here is synthetic and offline."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from vaelab.config import RunConfig  # noqa: E402


def tiny_config(tmp_path, **sections) -> RunConfig:
    """A config that trains in about a second: synthetic 16x16 data, small conv net, z=2."""
    d = {
        "data": {"name": "synthetic", "train_limit": 256, "test_limit": 64},
        "model": {"latent_dim": 2, "filters": [8, 16], "kernel_sizes": [3, 3], "strides": [2, 2]},
        "train": {"epochs": 2, "batch_size": 32, "output_dir": str(tmp_path / "runs"), "verbose": 0,
                  "report": False},
    }
    for section, values in sections.items():
        d.setdefault(section, {}).update(values)
    return RunConfig.from_dict(d)


@pytest.fixture
def batch() -> np.ndarray:
    """(16, 16, 16, 1) float32 images in [0, 1]."""
    from vaelab.data.synthetic import make_images

    images, _ = make_images(16, size=16, seed=3)
    return images.astype("float32") / 255.0

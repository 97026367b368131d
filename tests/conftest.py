"""Shared tiny fixtures. Everything here is synthetic and offline."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # pytest-xdist runs one worker per core (pyproject's addopts): each worker's TensorFlow (and the processes its
    # tests start) on one thread, so workers do not fight over the cores; measured 1.45x the serial suite's speed
    # on 2 cores against 1.28x with TensorFlow's default threads (README.md, Tests)
    for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(name, "1")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
if "VAELAB_CACHE_DIR" not in os.environ:
    # The suite (and the CLI processes it starts) never writes the user's ~/.cache/vaelab: one cache per session
    # (so `train.precision=auto` measures once here, then reuses its verdict), removed at exit.
    os.environ["VAELAB_CACHE_DIR"] = tempfile.mkdtemp(prefix="vaelab-test-cache-")
    atexit.register(shutil.rmtree, os.environ["VAELAB_CACHE_DIR"], True)

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from helpers import tiny_config  # noqa: E402,F401  (helpers live in helpers.py; re-exported for old imports)


@pytest.fixture
def batch() -> np.ndarray:
    """(16, 16, 16, 1) float32 images in [0, 1]."""
    from vaelab.data.synthetic import make_images

    images, _ = make_images(16, size=16, seed=3)
    return images.astype("float32") / 255.0


def pytest_collection_modifyitems(config, items):
    """`slow` tests first (stable: the file order holds within each group), so that with pytest-xdist the
    longest tests start early and no worker is left alone with a minute-long test at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)

"""Deterministic tiny images of any size (tests, smoke configs, docs): 10 classes of bars and blobs."""

from __future__ import annotations

import numpy as np

from vaelab.config import DataConfig
from vaelab.data.base import DATASETS, Split, check_split

SIZES = {"train": 512, "test": 128}


def make_images(n: int, size: int = 16, channels: int = 1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n images (n, size, size, channels) uint8 and labels (n,): class k draws a bar/blob at place k."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    yy, xx = np.mgrid[0:size, 0:size] / max(size - 1, 1)
    images = np.zeros((n, size, size, channels), "float32")
    for i, k in enumerate(labels):
        cx, cy = 0.2 + 0.6 * (k % 5) / 4, 0.3 if k < 5 else 0.7
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 0.12**2))
        tint = 0.6 + 0.4 * rng.random(channels)
        images[i] = blob[..., None] * tint + 0.05 * rng.random((size, size, channels))
    return (np.clip(images, 0, 1) * 255).astype("uint8"), labels.astype("int64")


@DATASETS.register("synthetic", resizable=True, image_shape=(16, 16, 1),
                   description="deterministic blobs, 10 classes (tests)", splits=SIZES)
def load(cfg: DataConfig, split: str) -> Split:
    check_split(split)
    size = cfg.image_size or 16
    images, labels = make_images(SIZES[split], size=size, seed=0 if split == "train" else 1)
    return Split(image_shape=(size, size, 1), images=images, labels=labels,
                 label_names=[str(i) for i in range(10)], name="synthetic", source="generated")

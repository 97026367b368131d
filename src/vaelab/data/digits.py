"""scikit-learn's bundled 8x8 digits (1,797 images): works offline, the demo's default."""

from __future__ import annotations

import numpy as np

from vaelab.config import DataConfig
from vaelab.data.base import DATASETS, Split, check_split

TEST_FRACTION = 0.2


@DATASETS.register("digits", image_shape=(8, 8, 1),
                   description="scikit-learn's bundled 8x8 digits, 10 classes",
                   splits={"train": 1438, "test": 359})
def load(cfg: DataConfig, split: str) -> Split:
    from sklearn.datasets import load_digits

    check_split(split)
    bunch = load_digits()
    images = np.clip(bunch.images * 16.0, 0, 255).astype("uint8")[..., None]  # (1797, 8, 8, 1), 0..255
    order = np.random.default_rng(0).permutation(len(images))  # fixed split, independent of train.seed
    n_test = int(round(len(images) * TEST_FRACTION))
    idx = order[n_test:] if split == "train" else order[:n_test]
    return Split(
        image_shape=(8, 8, 1),
        images=images[idx],
        labels=bunch.target[idx].astype("int64"),
        label_names=[str(i) for i in range(10)],
        name="digits",
        source="scikit-learn (bundled)",
    )

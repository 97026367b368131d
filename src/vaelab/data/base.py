"""The dataset contract: a registry of loaders, each returning a `Split`.

A loader is `load(cfg: DataConfig, split: str) -> Split`, registered with
`@DATASETS.register("name", image_shape=(H, W, C), description=..., splits=(...))`.
In-memory datasets fill `images` (uint8, NHWC); streamed ones (CelebA, image folders) fill `files`
plus `decode`, a TF function file path -> uint8 (H, W, C) image used inside `tf.data`.
All scaling, binarisation, shuffling and batching happen in `pipeline.py`, never in loaders.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vaelab.registry import Registry

DATASETS = Registry("dataset")

SPLITS = ("train", "test")


@dataclass
class Split:
    image_shape: tuple[int, int, int]  # (H, W, C) after preprocessing
    images: np.ndarray | None = None  # (N, H, W, C) uint8, in memory
    files: list[str] | None = None  # streamed: one image file per example
    decode: Callable | None = None  # streamed: tf string path -> tf uint8 (H, W, C)
    labels: np.ndarray | None = None  # (N,) int class ids, or (N, A) {0, 1} attributes
    label_names: list[str] | None = None  # class names, or attribute names when labels are (N, A)
    name: str = ""
    source: str = ""  # where the data came from (path or "bundled")
    cache_key: str = ""  # streamed: decode settings beyond image_shape (e.g. "crop140"), names the cache file

    def __post_init__(self):
        if (self.images is None) == (self.files is None):
            raise ValueError("Split: give exactly one of `images` or `files`")
        n = len(self)
        if self.labels is not None and len(self.labels) != n:
            raise ValueError(f"{self.name}: {n} images but {len(self.labels)} labels ({self.source})")

    def __len__(self) -> int:
        return len(self.images) if self.images is not None else len(self.files)

    @property
    def is_attributes(self) -> bool:
        return self.labels is not None and self.labels.ndim == 2

    def take(self, n: int | None) -> Split:
        """The first n examples (all when n is None)."""
        if n is None or n >= len(self):
            return self
        return Split(
            image_shape=self.image_shape,
            images=None if self.images is None else self.images[:n],
            files=None if self.files is None else self.files[:n],
            decode=self.decode,
            labels=None if self.labels is None else self.labels[:n],
            label_names=self.label_names,
            name=self.name,
            source=self.source,
            cache_key=self.cache_key,
        )


def check_config(cfg) -> None:
    """The dataset's rules for a RunConfig (config.RULES): data.image_size and data.crop only where the dataset's
    registration allows them (`resizable`, `croppable`)."""
    name, info = cfg.data.name, DATASETS.info(cfg.data.name)
    if cfg.data.image_size is not None and not info.get("resizable"):
        h, w, _ = info["image_shape"]
        resizable = [n for n in DATASETS if DATASETS.info(n).get("resizable")]
        raise ValueError(f"data.image_size: the {name} dataset has a fixed size of {h}x{w}, received "
                         f"{cfg.data.image_size}; remove data.image_size (resizing works for {resizable})")
    if cfg.data.crop is not None and not info.get("croppable"):
        croppable = [n for n in DATASETS if DATASETS.info(n).get("croppable")]
        raise ValueError(f"data.crop: only {croppable} can be cropped, received data.crop={cfg.data.crop} for "
                         f"{name}; remove data.crop")


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose from {list(SPLITS)}")
    return split


def candidate_dirs(data_dir: str | None, *subdirs: str) -> list[Path]:
    """Where to look for a dataset's files, in order: --data-dir, $VAELAB_DATA_DIR, the Keras cache.

    For each root, the root itself and each `root/subdir` are candidates.
    """
    keras_cache = os.path.join(os.path.expanduser("~"), ".keras", "datasets")
    roots = [data_dir, os.environ.get("VAELAB_DATA_DIR"), keras_cache]
    out: list[Path] = []
    for root in roots:
        if not root:
            continue
        for sub in ("", *subdirs):
            p = Path(root) / sub if sub else Path(root)
            if p not in out:
                out.append(p)
    return out

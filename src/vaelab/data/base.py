"""The dataset contract: a registry of loaders, each returning a `Split`.

A loader is `load(cfg: DataConfig, split: str) -> Split`, registered with
`@DATASETS.register("name", image_shape=(H, W, C), description=..., splits=(...))`.
In-memory datasets fill `images` (uint8, NHWC); streamed ones (CelebA, image folders) fill `files`
plus `decode`, a TF function file path -> uint8 (H, W, C) image used inside `tf.data`; generated or
indexed ones (dSprites, 3D Shapes) stream int64 indices in `files` the same way.
Factor datasets also give each example's ground-truth factors and `observe`, their generative
process (factor classes -> images), which the disentanglement scores sample from (`data/grid.py`).
All scaling, binarisation, shuffling and batching happen in `pipeline.py`, never in loaders.
"""

from __future__ import annotations

import dataclasses
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
    files: list[str] | np.ndarray | None = None  # streamed: one key per example (a file path, or an int64 index)
    decode: Callable | None = None  # streamed: tf key -> tf uint8 (H, W, C)
    labels: np.ndarray | None = None  # (N,) int class ids, or (N, A) {0, 1} attributes
    label_names: list[str] | None = None  # class names, or attribute names when labels are (N, A)
    factors: np.ndarray | None = None  # (N, K) int64 class index of each ground-truth factor
    factor_names: list[str] | None = None  # K names
    factor_sizes: tuple[int, ...] | None = None  # K numbers of classes
    observe: Callable | None = None  # the ground truth: factor classes (n, K) int -> images (n, H, W, C) uint8
    name: str = ""
    source: str = ""  # where the data came from (path or "bundled")
    cache_key: str = ""  # streamed: decode settings beyond image_shape (e.g. "crop140"), names the cache file

    def __post_init__(self):
        if (self.images is None) == (self.files is None):
            raise ValueError("Split: give exactly one of `images` or `files`")
        n = len(self)
        if self.labels is not None and len(self.labels) != n:
            raise ValueError(f"{self.name}: {n} images but {len(self.labels)} labels ({self.source})")
        k = None if self.factor_sizes is None else len(self.factor_sizes)
        if self.factors is not None and (k is None or self.factors.shape != (n, k)):
            raise ValueError(f"{self.name}: {n} images and {k} factor sizes, but factors of shape "
                             f"{self.factors.shape} ({self.source})")

    def __len__(self) -> int:
        return len(self.images) if self.images is not None else len(self.files)

    @property
    def is_attributes(self) -> bool:
        return self.labels is not None and self.labels.ndim == 2

    @property
    def has_factors(self) -> bool:
        """Whether the ground-truth factors and their generative process (`observe`) are known."""
        return self.factor_sizes is not None and self.observe is not None

    def take(self, n: int | None) -> Split:
        """The first n examples (all when n is None)."""
        if n is None or n >= len(self):
            return self
        return self._select(slice(None, n))

    def spread(self, n: int | None) -> Split:
        """n examples at evenly spaced positions, first and last included (all when n is None or >= len):
        a subset that samples every part of a split stored in some order (MNIST's test split holds the easier
        writers first)."""
        if n is None or n >= len(self):
            return self
        return self._select(np.linspace(0, len(self) - 1, n).round().astype(np.int64))  # (n,) increasing, n <= len

    def _select(self, at: slice | np.ndarray) -> Split:
        """The split of the examples at `at` (a slice, or an index array): every per-example field cut alike."""
        return dataclasses.replace(self, **{k: _pick(getattr(self, k), at) for k in PER_EXAMPLE})


PER_EXAMPLE = ("images", "files", "labels", "factors")  # the Split fields with one entry per example


def _pick(values, at: slice | np.ndarray):
    """values[at] for an array or None; for a list, a list (an index array picks item by item)."""
    if values is None or isinstance(values, np.ndarray) or isinstance(at, slice):
        return None if values is None else values[at]
    return [values[i] for i in at]


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

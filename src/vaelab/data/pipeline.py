"""One tf.data pipeline for every dataset: decode (streamed) -> scale to [0, 1] -> binarise -> shuffle -> batch.

    >>> ds = make_dataset(split, cfg, batch_size=128, training=True, seed=0)   # yields (B, H, W, C) float32
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from vaelab.config import DataConfig
from vaelab.data.base import DATASETS, Split

BINARIZE = ("none", "static", "dynamic")


def load_split(cfg: DataConfig, split: str) -> Split:
    """Loads a registered dataset's split, applying `train_limit`/`test_limit`."""
    s = DATASETS.get(cfg.name)(cfg, split)
    return s.take(cfg.train_limit if split == "train" else cfg.test_limit)


def _static_binarize(images: np.ndarray, seed: int) -> np.ndarray:
    """A single Bernoulli draw per pixel, fixed for the whole run (Larochelle & Murray 2011)."""
    rng = np.random.default_rng(seed)
    return (rng.random(images.shape) < images / 255.0).astype("uint8") * 255


def _elements(split: Split, cfg: DataConfig, seed: int, with_labels: bool) -> tf.data.Dataset:
    """Single uint8 images (H, W, C) (plus labels), decoded/cached/statically binarised, unshuffled."""
    if cfg.binarize not in BINARIZE:
        raise ValueError(f"data.binarize: expected one of {list(BINARIZE)}, received {cfg.binarize!r}")
    if split.images is not None:
        images = split.images
        if cfg.binarize == "static":
            images = _static_binarize(images, seed)
        ds = tf.data.Dataset.from_tensor_slices(images)
    else:
        ds = tf.data.Dataset.from_tensor_slices(split.files).map(split.decode, num_parallel_calls=tf.data.AUTOTUNE)
        if cfg.cache is not None:
            ds = ds.cache(cfg.cache)
    if with_labels and split.labels is not None:
        ds = tf.data.Dataset.zip((ds, tf.data.Dataset.from_tensor_slices(split.labels)))
    return ds


def _batches(ds: tf.data.Dataset, split: Split, cfg: DataConfig, batch_size: int, shuffle: bool, seed,
             epoch, drop_remainder: bool) -> tf.data.Dataset:
    """Shuffle (seeded by seed and epoch) -> batch -> scale to [0, 1] -> binarise."""
    epoch_seed = seed * 100_003 + epoch  # python int: each epoch's order depends on (seed, epoch) only
    if shuffle:
        ds = ds.shuffle(min(cfg.shuffle_buffer, len(split)), seed=epoch_seed, reshuffle_each_iteration=False)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder).enumerate()

    def scale(i, x):
        x = tf.cast(x, tf.float32) / 255.0  # (B, H, W, C)
        if cfg.binarize == "dynamic":  # stateless noise keyed by (seed, epoch, batch): resumable
            noise = tf.random.stateless_uniform(tf.shape(x), seed=tf.stack([tf.constant(epoch_seed, tf.int64), i]))
            x = tf.cast(noise < x, tf.float32)
        elif cfg.binarize == "static" and split.images is None:
            x = tf.round(x)
        return x

    if isinstance(ds.element_spec[1], tuple):
        return ds.map(lambda i, xy: (scale(i, xy[0]), xy[1]), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.map(scale, num_parallel_calls=tf.data.AUTOTUNE)


def make_dataset(split: Split, cfg: DataConfig, batch_size: int, training: bool, seed: int = 0,
                 with_labels: bool = False, drop_remainder: bool = False, epoch: int = 0) -> tf.data.Dataset:
    """Batches of float32 images in [0, 1], shape (B, H, W, C) (plus labels when `with_labels`).

    `binarize="dynamic"` redraws pixels from Bernoulli(p = intensity) for every epoch.
    Shuffling happens only when `training`, seeded by (seed, epoch).
    """
    ds = _elements(split, cfg, seed, with_labels)
    return _batches(ds, split, cfg, batch_size, training, seed, epoch, drop_remainder).prefetch(tf.data.AUTOTUNE)


def make_epochs(split: Split, cfg: DataConfig, batch_size: int, seed: int, first_epoch: int, epochs: int,
                steps_per_epoch: int, drop_remainder: bool = False) -> tf.data.Dataset:
    """Epochs [first_epoch, epochs) back to back, `steps_per_epoch` batches each, for `fit`.

    Epoch e's order and binarisation noise depend only on (seed, e), so a resumed run sees exactly
    the batches an uninterrupted run would have seen.
    """
    elements = _elements(split, cfg, seed, with_labels=False)  # built once, shared by every epoch
    per_epoch = [
        _batches(elements, split, cfg, batch_size, True, seed, e, drop_remainder).take(steps_per_epoch)
        for e in range(first_epoch, epochs)
    ]
    if not per_epoch:
        return elements.take(0)
    order = tf.data.Dataset.range(len(per_epoch)).flat_map(
        lambda i: tf.data.Dataset.from_tensors(i).repeat(steps_per_epoch)
    )
    ds = tf.data.Dataset.choose_from_datasets(per_epoch, order, stop_on_empty_dataset=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def load_arrays(cfg: DataConfig, split: str = "test", limit: int | None = None) -> tuple[np.ndarray, Split]:
    """(images float32 (N, H, W, C) in [0, 1], the Split with its labels) for analysis and plots."""
    s = load_split(cfg, split).take(limit)
    if s.images is not None:
        return s.images.astype("float32") / 255.0, s
    ds = make_dataset(s, DataConfig(**{**cfg.__dict__, "binarize": "none", "cache": None}), 256, training=False)
    return np.concatenate([b.numpy() for b in ds]), s

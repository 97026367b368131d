"""One tf.data pipeline for every dataset: decode -> shuffle -> batch -> scale to [0, 1] -> binarise.

    >>> ds = make_dataset(split, cfg, batch_size=128, training=True, seed=0)   # yields (B, H, W, C) float32
"""

from __future__ import annotations

import dataclasses
import hashlib
import warnings
from pathlib import Path

import numpy as np
import tensorflow as tf

from vaelab.config import DataConfig
from vaelab.data.base import DATASETS, Split

# The functions this module hands to Dataset.map/flat_map branch on Python values only (config, element
# structure), so AutoGraph's source conversion buys nothing: traced as written, the pipeline starts ~1.5 s sooner.
plain_python = tf.autograph.experimental.do_not_convert


def _with_options(ds: tf.data.Dataset, cfg: DataConfig) -> tf.data.Dataset:
    """Applies `data.autotune`. On a 2-core CPU the tf.data autotuner's threads compete with the
    training step (steps snap to multiples of ~64 ms): off there, 1.9x faster (docs/speed.md)."""
    enabled = cfg.autotune == "on" or (cfg.autotune == "auto" and bool(tf.config.list_physical_devices("GPU")))
    options = tf.data.Options()
    options.autotune.enabled = enabled
    return ds.with_options(options)


class EmptySplitError(ValueError):
    """A dataset split holds no examples."""


def load_split(cfg: DataConfig, split: str) -> Split:
    """Loads a registered dataset's split, applying `train_limit`/`test_limit`; refuses an empty one."""
    s = DATASETS.get(cfg.name)(cfg, split)
    if len(s) == 0:
        fix = ("put images in it (or train with data.validation=false; evaluate with --split train)"
               if split == "test" else "put images in it")
        where = s.source or cfg.data_dir or "the data folder"
        raise EmptySplitError(f"{cfg.name}: the {split} split at {where} is empty (0 images); {fix}")
    return s.take(cfg.train_limit if split == "train" else cfg.test_limit)


def load_validation_split(cfg: DataConfig) -> Split:
    """The images `fit` validates on after each epoch: `data.validation_images` of the test split (after
    `test_limit`), evenly spread over it."""
    return load_split(cfg, "test").spread(cfg.validation_images)


def _static_binarize(images: np.ndarray, seed: int) -> np.ndarray:
    """A single Bernoulli draw per pixel, fixed for the whole run (Larochelle & Murray 2011)."""
    rng = np.random.default_rng(seed)
    return (rng.random(images.shape) < images / 255.0).astype("uint8") * 255


def cache_path(split: Split, cfg: DataConfig) -> str | None:
    """The tf.data cache file for a streamed split: None (no cache), "" (memory) or `cfg.cache`/<key>.

    The key hashes everything that changes the decoded tensors (dataset, shape, crop, file list), so a
    changed setting or file list never reads a stale cache.
    """
    if cfg.cache is None or split.files is None:
        return None
    if cfg.cache == "":
        return ""
    folder = Path(cfg.cache)
    folder.mkdir(parents=True, exist_ok=True)
    key = "\n".join([split.name, str(split.image_shape), split.cache_key, str(split.labels is not None),
                     *map(str, split.files)])
    h, w, c = split.image_shape
    return str(folder / f"{split.name or 'data'}-{h}x{w}x{c}-{hashlib.sha1(key.encode()).hexdigest()[:16]}")


def _decoded(split: Split, files: tf.data.Dataset) -> tf.data.Dataset:
    """(path[, label]) -> (image[, label]) decoded in parallel; undecodable files are dropped, not fatal."""
    if isinstance(files.element_spec, tuple):
        ds = files.map(lambda f, y: (split.decode(f), y), num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = files.map(split.decode, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.ignore_errors(log_warning=True)


def _files(split: Split, order: tf.Tensor | None = None) -> tf.data.Dataset:
    """Paths (in `order`, a permutation, when given), zipped with labels before decoding so that a
    dropped file drops its label too."""
    files = tf.constant(split.files)
    labels = None if split.labels is None else tf.constant(split.labels)
    if order is not None:
        files = tf.gather(files, order)
        labels = None if labels is None else tf.gather(labels, order)
    return tf.data.Dataset.from_tensor_slices(files if labels is None else (files, labels))


def _drop_labels(ds: tf.data.Dataset, with_labels: bool) -> tf.data.Dataset:
    if isinstance(ds.element_spec, tuple) and not with_labels:
        return ds.map(plain_python(lambda x, y: x))
    return ds


def _elements(split: Split, cfg: DataConfig, seed: int, with_labels: bool) -> tf.data.Dataset:
    """Single uint8 images (H, W, C) (plus labels), decoded/cached/statically binarised, unshuffled."""
    if split.images is not None:
        images = split.images
        if cfg.binarize == "static":
            images = _static_binarize(images, seed)
        ds = tf.data.Dataset.from_tensor_slices(images)
        if with_labels and split.labels is not None:
            ds = tf.data.Dataset.zip((ds, tf.data.Dataset.from_tensor_slices(split.labels)))
        return ds
    ds = _decoded(split, _files(split))
    path = cache_path(split, cfg)
    if path is not None:
        ds = ds.cache(path)  # labels ride along, so one cache serves with_labels both ways
    return _drop_labels(ds, with_labels)


def _order(n: int, seed, epoch) -> tf.Tensor:
    """A permutation of range(n) (int64) that depends only on (seed, epoch): stateless, so it is the
    same in a resumed run, and independent of TensorFlow's global seed."""
    key = tf.stack([tf.cast(seed, tf.int64) * 100_003 + tf.cast(epoch, tf.int64), tf.constant(0, tf.int64)])
    return tf.random.experimental.stateless_shuffle(tf.range(n, dtype=tf.int64), seed=key)


def _shuffled(elements: tf.data.Dataset, split: Split, cfg: DataConfig, shuffle: bool, seed, epoch,
              with_labels: bool) -> tf.data.Dataset:
    """Elements in epoch order, keyed by (seed, epoch) only.

    In-memory arrays and uncached file lists are fully permuted (files before decoding, so memory does
    not grow with a buffer of decoded images). A cached stream has no random access: it is permuted
    within consecutive blocks of `data.shuffle_buffer` elements (as local as a shuffle buffer).
    """
    if not shuffle:
        return elements
    n = len(split)
    if split.files is not None and cfg.cache is None:
        return _drop_labels(_decoded(split, _files(split, _order(n, seed, epoch))), with_labels)
    if split.images is not None:
        order = _order(n, seed, epoch)
        return elements.batch(n).map(plain_python(lambda *t: tuple(tf.gather(x, order) for x in t) if len(t) > 1
                                                  else tf.gather(t[0], order))).unbatch()
    block = min(cfg.shuffle_buffer, n)
    blocks = elements.batch(block).enumerate()

    @plain_python
    def permute(i, xs):
        first = xs[0] if isinstance(xs, tuple) else xs
        order = _order(tf.shape(first, out_type=tf.int64)[0], seed, epoch * 1_000_003 + i)
        return tuple(tf.gather(x, order) for x in xs) if isinstance(xs, tuple) else tf.gather(xs, order)

    return blocks.map(permute).unbatch()


def _batches(ds: tf.data.Dataset, split: Split, cfg: DataConfig, batch_size: int, shuffle: bool, seed,
             epoch, drop_remainder: bool, with_labels: bool = False) -> tf.data.Dataset:
    """Shuffle (seeded by seed and epoch) -> batch -> scale to [0, 1] -> binarise."""
    epoch = tf.cast(epoch, tf.int64)
    ds = _shuffled(ds, split, cfg, shuffle, seed, epoch, with_labels)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder).enumerate()

    @plain_python
    def scale(i, x):
        x = tf.cast(x, tf.float32) / 255.0  # (B, H, W, C)
        if cfg.binarize == "dynamic":  # stateless noise keyed by (seed, epoch, batch): resumable
            noise = tf.random.stateless_uniform(tf.shape(x), seed=tf.stack([seed * 100_003 + epoch, i]))
            x = tf.cast(noise < x, tf.float32)
        elif cfg.binarize == "static" and split.images is None:
            x = tf.round(x)
        return x

    if isinstance(ds.element_spec[1], tuple):
        return ds.map(plain_python(lambda i, xy: (scale(i, xy[0]), xy[1])), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.map(scale, num_parallel_calls=tf.data.AUTOTUNE)


def make_dataset(split: Split, cfg: DataConfig, batch_size: int, training: bool, seed: int = 0,
                 with_labels: bool = False, drop_remainder: bool = False, epoch: int = 0) -> tf.data.Dataset:
    """Batches of float32 images in [0, 1], shape (B, H, W, C) (plus labels when `with_labels`).

    `binarize="dynamic"` redraws pixels from Bernoulli(p = intensity) for every epoch.
    Shuffling happens only when `training`, seeded by (seed, epoch).
    """
    ds = _elements(split, cfg, seed, with_labels)
    ds = _batches(ds, split, cfg, batch_size, training, seed, epoch, drop_remainder, with_labels)
    return _with_options(ds.prefetch(tf.data.AUTOTUNE), cfg)


def make_epochs(split: Split, cfg: DataConfig, batch_size: int, seed: int, first_epoch: int, epochs: int,
                steps_per_epoch: int, drop_remainder: bool = False, with_labels: bool = False) -> tf.data.Dataset:
    """Epochs [first_epoch, epochs) back to back, `steps_per_epoch` batches each, for `fit`.

    One pipeline whose outer elements are epoch indices: `flat_map` builds epoch e's shuffled,
    binarised batches when e starts and releases them when it ends, so memory and start-up do not
    grow with the number of epochs. Epoch e's order and binarisation noise depend only on (seed, e),
    so a resumed run sees exactly the batches an uninterrupted run would have seen. With `with_labels`
    the elements are (images, labels), permuted together (the same order).
    """
    elements = _elements(split, cfg, seed, with_labels=with_labels)  # built once, shared by every epoch

    @plain_python
    def epoch_batches(e):
        # repeat(): an epoch always yields exactly steps_per_epoch batches, even if a streamed split
        # turns out shorter than its file list (unreadable images skipped).
        return _batches(elements, split, cfg, batch_size, True, seed, e, drop_remainder,
                        with_labels).repeat().take(steps_per_epoch)

    ds = tf.data.Dataset.range(first_epoch, max(first_epoch, epochs)).flat_map(epoch_batches)
    return _with_options(ds.prefetch(tf.data.AUTOTUNE), cfg)


def _plain(cfg: DataConfig) -> DataConfig:
    return DataConfig(**{**cfg.__dict__, "binarize": "none", "cache": None})  # continuous pixels, no cache file


def array_batches(split: Split, cfg: DataConfig, batch_size: int = 256):
    """Yields the split's images as float32 (B, H, W, C) batches in [0, 1] (continuous pixels, in order), the
    same pixels as `load_arrays` without holding them all; a streamed split's undecodable files are dropped."""
    if split.images is not None:
        for i in range(0, len(split), batch_size):
            yield split.images[i : i + batch_size].astype("float32") / 255.0
        return
    for batch in make_dataset(split, _plain(cfg), batch_size, training=False):
        yield batch.numpy()


def load_arrays(cfg: DataConfig, split: str = "test", limit: int | None = None,
                fallback: str | None = None) -> tuple[np.ndarray, Split]:
    """(images float32 (N, H, W, C) in [0, 1], the Split with its labels) for analysis and plots.

    For streamed splits, a file that fails to decode is dropped with its label; the returned Split is
    then an in-memory one holding exactly the images returned. With `fallback` (a split name), an
    empty `split` is replaced by that one, with a warning (figures of a run whose data has no test images).
    """
    try:
        s = load_split(cfg, split).take(limit)
    except EmptySplitError as e:
        if fallback is None:
            raise
        warnings.warn(f"{e}; using the {fallback} split instead", stacklevel=2)
        s = load_split(cfg, fallback).take(limit)
    if s.images is not None:
        return s.images.astype("float32") / 255.0, s
    if s.labels is None:
        return np.concatenate(list(array_batches(s, cfg))), s
    ds = make_dataset(s, _plain(cfg), 256, training=False, with_labels=True)
    batches = [(x.numpy(), y.numpy()) for x, y in ds]
    images = np.concatenate([x for x, _ in batches])
    if len(images) == len(s):
        return images, s
    labels = np.concatenate([y for _, y in batches])
    # the ground truth (`observe`) stays; per-example factors cannot follow the dropped images (the labels can)
    kept = dataclasses.replace(s, images=np.round(images * 255).astype("uint8"), files=None, decode=None,
                               labels=labels, factors=None, cache_key="")
    return images, kept


def evaluation_images(images: np.ndarray, binarize: str, seed: int) -> np.ndarray:
    """The pixels the likelihood is scored on: one fixed Bernoulli draw when the run trained binarised."""
    if binarize == "none":
        return images
    rng = np.random.default_rng(seed)
    return (rng.random(images.shape) < images).astype("float32")  # one draw, fixed by seed

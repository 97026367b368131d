"""3D Shapes (Burgess & Kim 2018): 480,000 64x64 RGB renders of 6 ground-truth factors, from `3dshapes.h5`.

Factors, in the file's order (the last varies fastest): floor_hue 10, wall_hue 10, object_hue 10, scale 8,
shape 4 (cube, cylinder, sphere, capsule), orientation 15. The file (`images` (N, 64, 64, 3) uint8,
`labels` (N, 6) float64 factor values) is found in the candidate directories (`--data-dir`,
`$VAELAB_DATA_DIR`, the Keras cache; each also in `3dshapes/` and `shapes3d/`) and read with h5py,
image by image inside the tf.data pipeline: nothing like the 5.9 GB of pixels is held in memory.
There is no download and no procedural fallback. Splits as dSprites' (`data/grid.py`); labels = shape.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from vaelab.config import DataConfig
from vaelab.data.base import DATASETS, Split, check_split
from vaelab.data.grid import TEST_SIZE, FactorGrid
from vaelab.data.sources import DataFormatError, Found, Probe

FILE = "3dshapes.h5"
SIZE = 64
NAMES = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
SIZES = (10, 10, 10, 8, 4, 15)
SHAPES = ["cube", "cylinder", "sphere", "capsule"]


def _h5py():
    try:
        import h5py
    except ImportError:
        raise ValueError(f"shapes3d: reading {FILE} needs the h5py package (pip install h5py)") from None
    return h5py


@functools.cache
def _open(path: str):
    """The file, opened once per process (h5py serialises access from tf.data's threads)."""
    try:
        return _h5py().File(path, "r")
    except OSError as e:
        raise DataFormatError(f"{path}: unreadable HDF5 file ({e})") from e


def _arrays(path: str):
    f = _open(path)
    missing = [k for k in ("images", "labels") if k not in f]
    if missing:
        raise DataFormatError(f"{path}: expected datasets 'images' and 'labels', missing {missing}")
    images, labels = f["images"], f["labels"]
    if images.ndim != 4 or images.shape[1:] != (SIZE, SIZE, 3) or images.dtype != np.uint8:
        raise DataFormatError(f"{path}: 'images' expected uint8 (N, 64, 64, 3), received {images.dtype} "
                              f"{images.shape}")
    if labels.shape != (images.shape[0], len(NAMES)):
        raise DataFormatError(f"{path}: 'labels' expected ({images.shape[0]}, {len(NAMES)}), received {labels.shape}")
    return images, labels


@functools.lru_cache(maxsize=1)
def _grid(path: str, size: int, mtime: float) -> FactorGrid:
    """The file's factor grid, its classes read from the label values (each column's distinct values in
    increasing order), checked to list every combination in order. A file with fewer values of a factor than
    the original (a small test file) gives a smaller grid."""
    _, labels = _arrays(path)
    values = labels[:]
    table = np.stack([np.unique(values[:, k], return_inverse=True)[1].reshape(-1) for k in range(len(NAMES))], 1)
    grid = FactorGrid(NAMES, tuple(int(table[:, k].max()) + 1 for k in range(len(NAMES))))
    grid.check_table(table, f"{path}: 'labels'")
    return grid


def read(path: str, index: np.ndarray) -> np.ndarray:
    """Images (n, 64, 64, 3) uint8 at grid indices `index` (any order, repeats allowed)."""
    unique, inverse = np.unique(np.asarray(index, "int64"), return_inverse=True)  # h5py reads increasing indices
    return _arrays(path)[0][unique][inverse.reshape(-1)]


def _find(d: Path) -> Found | None:
    return Found(d, "h5", {"h5": d / FILE}) if (d / FILE).is_file() else None


def _counts(found: Found) -> dict[str, int]:
    n = _arrays(str(found.files["h5"]))[0].shape[0]
    return {"train": n, "test": min(n, TEST_SIZE)}


PROBE = Probe(_find, ("3dshapes", "shapes3d"), _counts, FILE)


@DATASETS.register("shapes3d", image_shape=(SIZE, SIZE, 3), factors=NAMES, probe=PROBE,
                   description="3D Shapes: rendered scenes of 6 factors, 64x64 RGB (DeepMind's 3dshapes.h5)",
                   splits={"train": 480_000, "test": TEST_SIZE})
def load(cfg: DataConfig, split: str) -> Split:
    check_split(split)
    path = PROBE.locate("shapes3d", cfg.data_dir).files["h5"]
    stat = path.stat()
    grid = _grid(str(path), stat.st_size, stat.st_mtime)

    def decode(index):
        import tensorflow as tf

        image = tf.numpy_function(lambda i: read(str(path), i[None])[0], [index], tf.uint8, stateful=False)
        return tf.ensure_shape(image, (SIZE, SIZE, 3))

    return grid.split(split, image_shape=(SIZE, SIZE, 3), decode=decode,
                      observe=lambda classes: read(str(path), grid.index(classes)),
                      label="shape", label_names=SHAPES[: grid.sizes[4]], name="shapes3d", source=str(path))

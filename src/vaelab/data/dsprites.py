"""dSprites (Matthey et al. 2017): 64x64 binary sprites of 5 ground-truth factors, 737,280 images.

Factors (the file's conventions): shape {square, ellipse, heart}, scale 6 values in [0.5, 1], orientation
40 values in [0, 2 pi] (both ends included, as in the file), posX and posY 32 values in [0, 1].

Two sources, the first found wins:

* DeepMind's file `dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz` in the candidate directories
  (`--data-dir`, `$VAELAB_DATA_DIR`, the Keras cache; each also in `dsprites/`). Its images are unpacked
  once per process into bits (377 MB, not 3 GB) and its factor table (`latents_classes`) must list the
  grid in order. Only the arrays are read (no pickle: the `metadata` entry is not touched).
* Otherwise the images are rendered procedurally from the factor classes, inside the tf.data pipeline
  (nothing is stored; the same pixels on every machine: no transcendental function runs in the graph).
  They resemble the file's but are not equal to it: scores on them are not comparable with papers.

Splits (`data/grid.py`): train = the whole grid, test = a fixed seeded subset of 10,000; labels = shape.
"""

from __future__ import annotations

import functools
import io
import zipfile
from pathlib import Path

import numpy as np

from vaelab.config import DataConfig
from vaelab.data.base import DATASETS, Split, check_split
from vaelab.data.grid import TEST_SIZE, FactorGrid
from vaelab.data.sources import DataFormatError, Found, Probe, search

FILE = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
SIZE = 64
GRID = FactorGrid(("shape", "scale", "orientation", "posX", "posY"), (3, 6, 40, 32, 32))
SHAPES = ["square", "ellipse", "heart"]
SCALES = np.linspace(0.5, 1.0, 6)
ORIENTATIONS = np.linspace(0.0, 2 * np.pi, 40)
POSITIONS = np.linspace(0.0, 1.0, 32)
PROCEDURAL = "generated procedurally (not DeepMind's file: scores not comparable with papers)"

# ---------------------------------------------------------------- the procedural renderer
RADIUS = 10.0  # pixels: every shape at scale 1 fits in a disc of this radius
MARGIN = 11.0  # pixels: a shape's centre moves over [MARGIN, 64 - MARGIN], so no sprite is ever cut
HEART = 1.34  # the heart curve's extent from its box centre, so it fits in the unit disc like the others


def _unit_shapes(u, v):
    """Inside tests of the three unit shapes at frame coordinates (u right, v up): (B, 3, H, W) bool."""
    import tensorflow as tf

    square = tf.maximum(tf.abs(u), tf.abs(v)) <= 0.7  # half-diagonal 0.99
    ellipse = u * u + 4.0 * v * v <= 1.0  # semi-axes 1 and 1/2
    x, y = HEART * u, HEART * v + 0.118  # (x^2 + y^2 - 1)^3 <= x^2 y^3, centred on its bounding box
    r = x * x + y * y - 1.0
    heart = r * r * r <= x * x * y * y * y
    return tf.stack([square, ellipse, heart], axis=1)


def render(classes):
    """Factor classes (B, 5) int -> binary images (B, 64, 64, 1) uint8 in {0, 255}, as a TF function.

    Factor values come from float32 lookup tables (cos/sin computed by numpy), and the graph only adds,
    multiplies, divides and compares (each correctly rounded in IEEE arithmetic), so a pixel never depends on
    the machine's maths library."""
    import tensorflow as tf

    classes = tf.cast(classes, tf.int64)

    def table(values, k):  # the value of factor k of each image, (B, 1, 1)
        return tf.gather(tf.constant(values, tf.float32), classes[:, k])[:, None, None]

    radius = RADIUS * table(SCALES, 1)  # (B, 1, 1) pixels
    cos, sin = table(np.cos(ORIENTATIONS), 2), table(np.sin(ORIENTATIONS), 2)
    cx = MARGIN + (SIZE - 2 * MARGIN) * table(POSITIONS, 3)
    cy = MARGIN + (SIZE - 2 * MARGIN) * table(POSITIONS, 4)
    centres = tf.constant(np.arange(SIZE) + 0.5, tf.float32)  # pixel centres
    dx = (centres[None, None, :] - cx) / radius  # (B, 1, 64): x to the right
    dy = (cy - centres[None, :, None]) / radius  # (B, 64, 1): y up (image rows go down)
    u = cos * dx + sin * dy  # rotate the pixel grid by -orientation: the shape turns counter-clockwise
    v = cos * dy - sin * dx  # (B, 64, 64)
    inside = tf.gather(_unit_shapes(u, v), classes[:, 0], axis=1, batch_dims=1)  # (B, 64, 64): its own shape
    return tf.cast(inside[..., None], tf.uint8) * 255  # (B, 64, 64, 1)


@functools.cache
def _render_graph():
    import tensorflow as tf

    return tf.function(render, input_signature=[tf.TensorSpec((None, len(GRID.sizes)), tf.int64)])


def _decode_index(index):
    """tf int64 grid index -> its rendered image (64, 64, 1) uint8 (inside tf.data)."""
    import tensorflow as tf

    strides = np.cumprod((1,) + GRID.sizes[:0:-1])[::-1]  # the grid's row-major strides
    classes = (index // tf.constant(strides, tf.int64)) % tf.constant(GRID.sizes, tf.int64)  # (5,)
    return render(classes[None])[0]


def observe_procedural(classes: np.ndarray, chunk: int = 256) -> np.ndarray:
    """Factor classes (n, 5) -> rendered images (n, 64, 64, 1) uint8 (in chunks that stay in the CPU's cache)."""
    GRID.index(classes)  # checks the ranges
    classes = np.asarray(classes, "int64")
    return np.concatenate([_render_graph()(classes[i:i + chunk]).numpy() for i in range(0, len(classes), chunk)])


# ---------------------------------------------------------------- DeepMind's file
def _find(d: Path) -> Found | None:
    return Found(d, "npz", {"npz": d / FILE}) if (d / FILE).is_file() else None


def _member(archive: zipfile.ZipFile, key: str, where: Path) -> tuple[io.BufferedIOBase, tuple, np.dtype]:
    """An array of the npz as an open stream positioned after its header, with its shape and dtype."""
    try:
        stream = archive.open(f"{key}.npy")
        version = np.lib.format.read_magic(stream)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f"npy format version {version}, expected 1.0 or 2.0")
        header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = header(stream)
    except (KeyError, ValueError, OSError, zipfile.BadZipFile) as e:
        raise DataFormatError(f"{where}: no readable array {key!r} ({type(e).__name__}: {e})") from e
    if fortran or dtype.hasobject:
        raise DataFormatError(f"{where}: {key!r} expected a C-ordered numeric array")
    return stream, shape, dtype


def _read(archive: zipfile.ZipFile, key: str, where: Path) -> np.ndarray:
    stream, shape, dtype = _member(archive, key, where)
    with stream:
        data = stream.read()
    if len(data) != np.prod(shape) * dtype.itemsize:
        raise DataFormatError(f"{where}: {key!r} is truncated ({len(data):,} bytes for shape {shape})")
    return np.frombuffer(data, dtype).reshape(shape)


@functools.lru_cache(maxsize=1)
def _unpacked(path: Path, size: int, mtime: float) -> tuple[np.ndarray, FactorGrid]:
    """(images as bits (N, 512) uint8, the file's factor grid), read chunk by chunk (never a 3 GB array) and
    checked: the factor table must list its grid in order. A file with fewer values of a factor than
    DeepMind's (a small test file) gives a smaller grid. Cached for the process: train and test share it."""
    chunk = 16_384
    try:
        with zipfile.ZipFile(path) as archive:
            table = _read(archive, "latents_classes", path)
            stream, shape, dtype = _member(archive, "imgs", path)
            if len(shape) != 3 or shape[1:] != (SIZE, SIZE) or dtype != np.uint8:
                raise DataFormatError(f"{path}: 'imgs' expected uint8 (N, 64, 64), received {dtype} {shape}")
            bits = np.empty((shape[0], SIZE * SIZE // 8), np.uint8)
            with stream:
                for start in range(0, shape[0], chunk):
                    n = min(chunk, shape[0] - start)
                    block = np.frombuffer(stream.read(n * SIZE * SIZE), np.uint8)
                    if block.size != n * SIZE * SIZE:
                        raise DataFormatError(f"{path}: 'imgs' is truncated at image {start + block.size // 4096:,}")
                    bits[start:start + n] = np.packbits(block.reshape(n, -1) > 0, axis=1)
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise DataFormatError(f"{path}: unreadable npz ({type(e).__name__}: {e})") from e
    if table.ndim != 2 or table.shape[1] != 6 or len(table) != len(bits) or len(table) == 0:
        raise DataFormatError(f"{path}: 'latents_classes' expected ({len(bits)}, 6) (color + 5 factors), "
                              f"received {table.shape}")
    table = table[:, 1:].astype("int64")
    grid = FactorGrid(GRID.names, tuple(int(v) + 1 for v in table.max(axis=0)))
    grid.check_table(table, f"{path}: 'latents_classes'")
    return bits, grid


def _file_split(found: Found, split: str) -> Split:
    path = found.files["npz"]
    stat = path.stat()
    bits, grid = _unpacked(path, stat.st_size, stat.st_mtime)

    def unpack(index: np.ndarray) -> np.ndarray:  # (n,) grid indices -> (n, 64, 64, 1) uint8 {0, 255}
        return np.unpackbits(bits[index], axis=1).reshape(-1, SIZE, SIZE, 1) * np.uint8(255)

    def decode(index):
        import tensorflow as tf

        image = tf.numpy_function(lambda i: unpack(i[None])[0], [index], tf.uint8, stateful=False)
        return tf.ensure_shape(image, (SIZE, SIZE, 1))

    return grid.split(split, image_shape=(SIZE, SIZE, 1), decode=decode, observe=lambda c: unpack(grid.index(c)),
                      label="shape", label_names=SHAPES[: grid.sizes[0]], name="dsprites", source=str(path))


def _counts(found: Found) -> dict[str, int]:
    with zipfile.ZipFile(found.files["npz"]) as archive:
        stream, shape, _ = _member(archive, "imgs", found.files["npz"])
        stream.close()
    return {"train": shape[0], "test": min(shape[0], TEST_SIZE)}


PROBE = Probe(_find, ("dsprites", "dsprites-dataset"), _counts, FILE)


@DATASETS.register("dsprites", image_shape=(SIZE, SIZE, 1), factors=GRID.names, probe=PROBE, fallback=PROCEDURAL,
                   description="dSprites: 2D shapes of 5 factors, 64x64 binary (DeepMind's file, else rendered)",
                   splits={"train": GRID.size, "test": TEST_SIZE})
def load(cfg: DataConfig, split: str) -> Split:
    check_split(split)
    found, _ = search("dsprites", cfg.data_dir, PROBE.find, PROBE.subdirs)
    if found is not None:
        return _file_split(found, split)
    return GRID.split(split, image_shape=(SIZE, SIZE, 1), decode=_decode_index, observe=observe_procedural,
                      label="shape", label_names=SHAPES, name="dsprites", source=PROCEDURAL)

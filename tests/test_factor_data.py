"""Factor datasets: the grid and its splits, dSprites rendered procedurally (deterministic, streamed, in range) and
read from a tiny file in DeepMind's npz format, 3D Shapes from a tiny HDF5 file, and their bad input."""

from __future__ import annotations

import hashlib
import sys
import zipfile

import numpy as np
import pytest
from data_support import isolated_fixture  # noqa: F401  (registers the `isolated` fixture)

from vaelab.config import DataConfig
from vaelab.data import DATASETS, DataFormatError, describe_datasets, dsprites, load_arrays, load_split, shapes3d
from vaelab.data.grid import TEST_SIZE, FactorGrid


def test_grid_indices_and_classes_round_trip():
    grid = FactorGrid(("a", "b", "c"), (2, 3, 4))
    classes = grid.classes(np.arange(grid.size))
    assert classes[:5].tolist() == [[0, 0, 0], [0, 0, 1], [0, 0, 2], [0, 0, 3], [0, 1, 0]]  # last fastest
    np.testing.assert_array_equal(grid.index(classes), np.arange(24))
    with pytest.raises(ValueError, match=r"factor 'c': expected classes in 0\.\.3, received 4"):
        grid.index(np.array([[0, 0, 4]]))


def test_grid_splits_are_fixed_and_the_test_split_is_a_uniform_subset():
    grid = dsprites.GRID
    train, test = grid.split_indices("train"), grid.split_indices("test")
    assert len(train) == grid.size == 737_280 and len(test) == TEST_SIZE
    np.testing.assert_array_equal(np.sort(train), np.arange(grid.size))
    np.testing.assert_array_equal(test, train[:TEST_SIZE])
    np.testing.assert_array_equal(test, grid.split_indices("test"))  # the same on every call and machine
    counts = np.bincount(grid.classes(test)[:, 0], minlength=3)
    assert counts.min() > 0.3 * TEST_SIZE  # the three shapes, about a third each


def test_procedural_dsprites_split_streams_indices_with_factors(isolated):
    s = load_split(DataConfig(name="dsprites"), "train")
    assert len(s) == 737_280 and s.images is None and s.files.dtype == np.int64
    assert s.factors.shape == (737_280, 5) and s.factor_sizes == (3, 6, 40, 32, 32)
    assert s.factor_names == ["shape", "scale", "orientation", "posX", "posY"] and s.has_factors
    np.testing.assert_array_equal(s.labels, s.factors[:, 0])
    assert s.label_names == ["square", "ellipse", "heart"] and "procedural" in s.source
    small = s.take(10)
    assert len(small) == 10 and small.factors.shape == (10, 5) and small.observe is s.observe


def test_the_pipeline_renders_what_observe_renders(isolated):
    cfg = DataConfig(name="dsprites", test_limit=40)
    images, split = load_arrays(cfg, "test")
    assert images.shape == (40, 64, 64, 1) and set(np.unique(images)) <= {0.0, 1.0}
    np.testing.assert_array_equal(split.observe(split.factors), (images * 255).astype("uint8"))


def test_procedural_images_are_pinned_and_follow_the_factors():
    """The same pixels everywhere (a change of the renderer must change this hash on purpose)."""
    grid = dsprites.GRID
    first = dsprites.observe_procedural(grid.classes(np.arange(0, grid.size, 7919)))
    assert hashlib.sha256(first.tobytes()).hexdigest()[:16] == PINNED

    def img(shape=0, scale=5, orientation=0, x=16, y=16):
        return dsprites.observe_procedural(np.array([[shape, scale, orientation, x, y]]))[0, ..., 0] > 0

    assert not np.array_equal(img(0), img(1)) and not np.array_equal(img(1), img(2))
    assert img(scale=0).sum() < img(scale=3).sum() < img(scale=5).sum()
    np.testing.assert_array_equal(img(orientation=0), img(orientation=39))  # 0 and 2 pi, as in the file
    cols = [np.nonzero(img(x=x).any(axis=0))[0].mean() for x in (0, 10, 20, 31)]
    rows = [np.nonzero(img(y=y).any(axis=1))[0].mean() for y in (0, 10, 20, 31)]
    assert np.all(np.diff(cols) > 0) and np.all(np.diff(rows) > 0)  # posX right, posY down
    corners = dsprites.observe_procedural(np.array([[s, 5, o, x, y] for s in range(3) for o in range(0, 40, 3)
                                                    for x in (0, 31) for y in (0, 31)]))[..., 0]
    assert corners[:, [0, -1], :].max() == 0 and corners[:, :, [0, -1]].max() == 0  # never cut by the border


PINNED = "9f8c98f55460b31b"  # sha256 of every 7919th grid image, rendered


# ---------------------------------------------------------------- DeepMind's npz
def write_dsprites_npz(folder, sizes=(3, 2, 2, 2, 2), shuffle=False, seed=0):
    """A complete small grid in the file's format: imgs (N, 64, 64) {0, 1}, latents_classes (N, 6), colour 0."""
    grid = FactorGrid(dsprites.GRID.names, sizes)
    classes = grid.classes(np.arange(grid.size))
    if shuffle:
        classes = classes[::-1]
    imgs = (np.random.default_rng(seed).random((grid.size, 64, 64)) < 0.2).astype("uint8")
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / dsprites.FILE, imgs=imgs, latents_classes=np.concatenate([0 * classes[:, :1], classes], 1),
             latents_values=classes.astype("float64"))
    return imgs, grid


def test_dsprites_reads_deepminds_file_when_present(isolated, tmp_path):
    imgs, grid = write_dsprites_npz(tmp_path / "dsprites")
    cfg = DataConfig(name="dsprites", data_dir=str(tmp_path))
    images, split = load_arrays(cfg, "test")
    assert split.source.endswith(dsprites.FILE) and split.factor_sizes == (3, 2, 2, 2, 2)
    assert len(split) == grid.size  # a grid smaller than TEST_SIZE: all of it
    np.testing.assert_array_equal(images[..., 0], imgs[grid.index(split.factors)].astype("float32"))
    np.testing.assert_array_equal(split.observe(split.factors[:5])[..., 0], imgs[grid.index(split.factors[:5])] * 255)
    row = next(r for r in describe_datasets(str(tmp_path)) if r["name"] == "dsprites")
    assert row["path"] == str(tmp_path / "dsprites") and row["splits"]["train"] == grid.size


def test_dsprites_without_the_file_is_listed_as_generated(isolated, tmp_path):
    row = next(r for r in describe_datasets(str(tmp_path)) if r["name"] == "dsprites")
    assert row["found"] and "procedural" in row["path"] and dsprites.FILE in row["note"]


def test_dsprites_file_out_of_grid_order_or_damaged(isolated, tmp_path):
    write_dsprites_npz(tmp_path / "a", shuffle=True)
    with pytest.raises(DataFormatError, match=r"latents_classes.*row 0 lists factors \[2, 1, 1, 1, 1\], expected "
                                              r"\[0, 0, 0, 0, 0\]"):
        load_split(DataConfig(name="dsprites", data_dir=str(tmp_path / "a")), "train")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / dsprites.FILE).write_bytes(b"PK not a zip")
    with pytest.raises(DataFormatError, match="unreadable npz"):
        load_split(DataConfig(name="dsprites", data_dir=str(tmp_path / "b")), "train")
    with zipfile.ZipFile(tmp_path / "c.npz", "w") as z:
        z.writestr("imgs.npy", b"\x93NUMPY\x01\x00" + b"x" * 10)
    (tmp_path / "c").mkdir()
    (tmp_path / "c.npz").rename(tmp_path / "c" / dsprites.FILE)
    with pytest.raises(DataFormatError, match="no readable array 'latents_classes'"):
        load_split(DataConfig(name="dsprites", data_dir=str(tmp_path / "c")), "train")


# ---------------------------------------------------------------- 3D Shapes
def write_shapes3d(folder, sizes=(2, 2, 2, 2, 2, 2), reverse=False):
    h5py = pytest.importorskip("h5py")
    grid = FactorGrid(shapes3d.NAMES, sizes)
    classes = grid.classes(np.arange(grid.size))
    if reverse:
        classes = classes[::-1]
    images = np.random.default_rng(0).integers(0, 256, (grid.size, 64, 64, 3), dtype=np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    with h5py.File(folder / shapes3d.FILE, "w") as f:
        f["images"] = images
        f["labels"] = classes * 0.25 + 0.1  # factor values, not classes, as in the original
    return images, grid


def test_shapes3d_reads_the_h5_file(isolated, tmp_path):
    images, grid = write_shapes3d(tmp_path / "3dshapes")
    cfg = DataConfig(name="shapes3d", data_dir=str(tmp_path))
    x, split = load_arrays(cfg, "test")
    assert x.shape == (grid.size, 64, 64, 3) and split.factor_sizes == grid.sizes
    assert split.factor_names == list(shapes3d.NAMES) and split.label_names == ["cube", "cylinder"]
    np.testing.assert_array_equal(np.round(x * 255).astype("uint8"), images[grid.index(split.factors)])
    pick = np.array([[1, 0, 1, 1, 0, 1], [0, 0, 0, 0, 0, 0], [1, 0, 1, 1, 0, 1]])  # any order, repeats
    np.testing.assert_array_equal(split.observe(pick), images[grid.index(pick)])
    train = load_split(cfg, "train")
    assert len(train) == grid.size and train.has_factors


def test_shapes3d_bad_input(isolated, tmp_path, monkeypatch):
    write_shapes3d(tmp_path / "a", reverse=True)
    with pytest.raises(DataFormatError, match="'labels': row 0 lists factors"):
        load_split(DataConfig(name="shapes3d", data_dir=str(tmp_path / "a")), "train")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / shapes3d.FILE).write_bytes(b"not hdf5")
    with pytest.raises(DataFormatError, match="unreadable HDF5 file"):
        load_split(DataConfig(name="shapes3d", data_dir=str(tmp_path / "b")), "train")
    monkeypatch.setitem(sys.modules, "h5py", None)  # not installed
    shapes3d._open.cache_clear()
    with pytest.raises(ValueError, match=r"^shapes3d: reading 3dshapes.h5 needs the h5py package \(pip install h5py\)"):
        load_split(DataConfig(name="shapes3d", data_dir=str(tmp_path / "b")), "train")


def test_factor_datasets_are_registered_with_their_factors():
    assert DATASETS.info("dsprites")["factors"] == dsprites.GRID.names
    assert DATASETS.info("shapes3d")["factors"] == shapes3d.NAMES
    assert "factors" not in DATASETS.info("mnist")


def test_a_split_refuses_factors_that_do_not_fit():
    from vaelab.data import Split

    images = np.zeros((4, 8, 8, 1), "uint8")
    with pytest.raises(ValueError, match=r"4 images and 2 factor sizes, but factors of shape \(3, 2\)"):
        Split(image_shape=(8, 8, 1), images=images, factors=np.zeros((3, 2), "int64"), factor_sizes=(2, 2))
    with pytest.raises(ValueError, match="None factor sizes"):
        Split(image_shape=(8, 8, 1), images=images, factors=np.zeros((4, 2), "int64"))

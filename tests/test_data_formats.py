"""In-memory loaders read tiny files in the real formats back exactly: MNIST/Fashion-MNIST IDX gz and
npz, CIFAR-10 pickle batches (folder and tar.gz); file lookup order; download fallback; bad input."""

from __future__ import annotations

import gzip
import pickle

import numpy as np
import pytest
from data_support import (
    cfg,
    isolated_fixture,  # noqa: F401  (registers the `isolated` fixture)
    tar_folder,
    write_cifar,
    write_idx,
    write_mnist,
    write_mnist_npz,
)

from vaelab.data import DataFormatError, DataNotFoundError, load_split, sources


def _check_mnist(name, data_dir, arrays):
    for split in ("train", "test"):
        s = load_split(cfg(name, data_dir), split)
        images, labels = arrays[split]
        assert s.images.dtype == np.uint8 and s.images.shape == (len(images), 28, 28, 1)
        np.testing.assert_array_equal(s.images[..., 0], images)
        np.testing.assert_array_equal(s.labels, labels)
        assert s.labels.dtype == np.int64


@pytest.mark.parametrize("sub", ["", "mnist"])
def test_mnist_idx_gz_pixel_exact(isolated, tmp_path, sub):
    arrays = write_mnist(tmp_path / "data" / sub)
    _check_mnist("mnist", tmp_path / "data", arrays)


def test_mnist_uncompressed_idx(isolated, tmp_path):
    _check_mnist("mnist", tmp_path, write_mnist(tmp_path, gz=False))


def test_mnist_keras_npz(isolated, tmp_path):
    _check_mnist("mnist", tmp_path, write_mnist_npz(tmp_path / "mnist.npz"))


def test_fashion_mnist_subfolder_and_names(isolated, tmp_path):
    arrays = write_mnist(tmp_path / "fashion-mnist", seed=4)
    _check_mnist("fashion_mnist", tmp_path, arrays)
    assert load_split(cfg("fashion_mnist", tmp_path), "test").label_names[9] == "Ankle boot"


def test_lookup_order_data_dir_then_env_then_keras_cache(isolated, tmp_path, monkeypatch):
    keras = write_mnist(isolated / ".keras" / "datasets" / "mnist", seed=1)
    env = write_mnist(tmp_path / "env", seed=2)
    given = write_mnist(tmp_path / "given", seed=3)
    _check_mnist("mnist", None, keras)
    monkeypatch.setenv("VAELAB_DATA_DIR", str(tmp_path / "env"))
    _check_mnist("mnist", None, env)
    _check_mnist("mnist", tmp_path / "given", given)


def test_download_fallback_fills_keras_cache(isolated, tmp_path, monkeypatch):
    calls = []

    def fake_download():
        calls.append(1)
        write_mnist_npz(isolated / ".keras" / "datasets" / "mnist.npz", seed=5)

    monkeypatch.setitem(sources.DOWNLOADERS, "mnist", fake_download)
    s = load_split(cfg("mnist", tmp_path / "empty"), "train")
    assert calls == [1] and len(s) == 7


def test_not_found_error_says_where_and_what(isolated, tmp_path):
    with pytest.raises(DataNotFoundError, match=r"download failed: DownloadBlocked.*looked in: .*empty.*"
                                                r"\.keras/datasets.*train-images-idx3-ubyte\.gz"):
        load_split(cfg("mnist", tmp_path / "empty"), "train")
    with pytest.raises(DataNotFoundError, match="no downloader"):
        load_split(cfg("celeba", tmp_path / "empty"), "train")


def test_no_download_env(isolated, tmp_path, monkeypatch):
    monkeypatch.setenv("VAELAB_NO_DOWNLOAD", "1")
    with pytest.raises(DataNotFoundError, match="download disabled by VAELAB_NO_DOWNLOAD"):
        load_split(cfg("cifar10", tmp_path), "train")


@pytest.mark.parametrize("damage, match", [
    (lambda p: p.write_bytes(p.read_bytes()[:-20]),
     r"t10k-images-idx3-ubyte\.gz: incomplete or damaged gzip: the header announces \(5, 28, 28\)"),
    (lambda p: p.write_bytes(b"not a gzip file at all"),
     r"t10k-images-idx3-ubyte\.gz: unreadable or corrupt gzip"),
    (lambda p: p.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + bytes(5))),
     r"t10k-images-idx3-ubyte\.gz: wrong IDX magic, expected 0x00000803, received 0x00000801"),
    (lambda p: p.write_bytes(gzip.compress(gzip.decompress(p.read_bytes())[:-28])),
     r"t10k-images-idx3-ubyte\.gz: incomplete or damaged gzip: the header announces \(5, 28, 28\) \(3,936 bytes\)"),
])
def test_bad_idx_files(isolated, tmp_path, damage, match):
    write_mnist(tmp_path)
    damage(tmp_path / "t10k-images-idx3-ubyte.gz")
    with pytest.raises(DataFormatError, match=match):
        load_split(cfg("mnist", tmp_path), "test")


def test_mismatched_image_label_counts(isolated, tmp_path):
    write_mnist(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(4, np.uint8))
    with pytest.raises(DataFormatError, match=r"t10k-images-idx3-ubyte\.gz: 5 images but "
                                              r"t10k-labels-idx1-ubyte\.gz has 4 labels"):
        load_split(cfg("mnist", tmp_path), "test")


def test_bad_npz(isolated, tmp_path):
    np.savez(tmp_path / "mnist.npz", x_train=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DataFormatError, match=r"mnist\.npz: missing arrays \['y_train'\]"):
        load_split(cfg("mnist", tmp_path), "train")
    (tmp_path / "mnist.npz").write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(DataFormatError, match=r"mnist\.npz: unreadable or corrupt npz"):
        load_split(cfg("mnist", tmp_path), "train")


def _expected_cifar(batches, names):
    data = np.concatenate([batches[n][0] for n in names])
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), np.concatenate([batches[n][1] for n in names])


@pytest.mark.parametrize("layout", ["folder", "flat", "keras_cache", "tar"])
def test_cifar10_pixel_exact(isolated, tmp_path, layout):
    folder = {"folder": tmp_path / "d" / "cifar-10-batches-py", "flat": tmp_path / "d",
              "keras_cache": isolated / ".keras/datasets/cifar-10-batches-py-target/cifar-10-batches-py",
              "tar": tmp_path / "src" / "cifar-10-batches-py"}[layout]
    batches = write_cifar(folder)
    if layout == "tar":
        (tmp_path / "d").mkdir()
        tar_folder(folder, tmp_path / "d" / "cifar-10-python.tar.gz")
    data_dir = None if layout == "keras_cache" else tmp_path / "d"
    train, test = (load_split(cfg("cifar10", data_dir), s) for s in ("train", "test"))
    images, labels = _expected_cifar(batches, [f"data_batch_{k}" for k in range(1, 6)])
    assert train.images.shape == (15, 32, 32, 3) and train.image_shape == (32, 32, 3)
    np.testing.assert_array_equal(train.images, images)
    np.testing.assert_array_equal(train.labels, labels)
    np.testing.assert_array_equal(test.images, _expected_cifar(batches, ["test_batch"])[0])
    assert train.images[0, 0, 1, 2] == batches["data_batch_1"][0][0, 2 * 1024 + 1]  # blue plane, row 0, col 1
    assert train.label_names[0] == "airplane"


def test_cifar10_bad_batches(isolated, tmp_path):
    write_cifar(tmp_path)
    raw = (tmp_path / "test_batch").read_bytes()
    (tmp_path / "test_batch").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataFormatError, match=r"test_batch: unreadable or truncated pickle batch"):
        load_split(cfg("cifar10", tmp_path), "test")
    batch = {b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}
    (tmp_path / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DataFormatError, match=r"test_batch: 'data' expected uint8 \(N, 3072\), "
                                              r"received uint8 \(2, 100\)"):
        load_split(cfg("cifar10", tmp_path), "test")
    batch = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}
    (tmp_path / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DataFormatError, match=r"test_batch: 2 images but 1 labels"):
        load_split(cfg("cifar10", tmp_path), "test")


def test_cifar10_refuses_code_in_pickles(isolated, tmp_path):
    write_cifar(tmp_path)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / "test_batch").write_bytes(pickle.dumps({b"data": Evil()}, protocol=2))
    with pytest.raises(DataFormatError, match=r"refusing to load (__builtin__|builtins)\.print"):
        load_split(cfg("cifar10", tmp_path), "test")


def test_cifar10_truncated_archive(isolated, tmp_path):
    write_cifar(tmp_path / "src" / "cifar-10-batches-py")
    archive = tar_folder(tmp_path / "src" / "cifar-10-batches-py", tmp_path / "cifar-10-python.tar.gz")
    archive.write_bytes(archive.read_bytes()[:300])
    with pytest.raises(DataFormatError, match=r"cifar-10-python\.tar\.gz: truncated or corrupt archive"):
        load_split(cfg("cifar10", tmp_path), "train")

"""Checksums (verified once, remembered; name+size policy), describe_datasets, and the one tf.data pipeline
on loaded splits (scaling, binarisation, seeded shuffling of streamed files, resumable epochs)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from data_support import (
    cfg,
    isolated_fixture,  # noqa: F401  (registers the `isolated` fixture)
    write_celeba,
    write_cifar,
    write_mnist,
)

from vaelab.config import RunConfig
from vaelab.data import checksums, describe_datasets, format_datasets, load_split, make_dataset
from vaelab.data.base import Split
from vaelab.data.checksums import ChecksumError
from vaelab.data.pipeline import load_validation_split, make_epochs

LABELS = "t10k-labels-idx1-ubyte.gz"


def _pretend_original(monkeypatch, path, md5=None):
    """Make `path`'s current size and (given or real) MD5 the 'published' ones for MNIST."""
    md5 = md5 or hashlib.md5(path.read_bytes()).hexdigest()
    monkeypatch.setitem(checksums.KNOWN["mnist"], path.name, (path.stat().st_size, md5))


def test_checksum_verified_once_and_remembered(isolated, tmp_path, monkeypatch):
    write_mnist(tmp_path)
    _pretend_original(monkeypatch, tmp_path / LABELS)
    _pretend_original(monkeypatch, tmp_path / "t10k-images-idx3-ubyte.gz")
    load_split(cfg("mnist", tmp_path, verify_checksums=True), "test")
    marker = json.loads((tmp_path / "vaelab-cache" / "verified.json").read_text())
    assert str((tmp_path / LABELS).resolve()) in marker
    monkeypatch.setattr(checksums, "_VERIFIED", set())  # a new process: only the marker file remains

    def no_hashing(path, chunk=0):
        raise AssertionError(f"re-hashed {path}")

    monkeypatch.setattr(checksums, "md5", no_hashing)
    assert checksums.verify("mnist", tmp_path / LABELS)


def test_checksum_mismatch_names_file_and_both_md5s(isolated, tmp_path, monkeypatch):
    write_mnist(tmp_path)
    real = hashlib.md5((tmp_path / LABELS).read_bytes()).hexdigest()
    _pretend_original(monkeypatch, tmp_path / LABELS, md5="0" * 32)
    _pretend_original(monkeypatch, tmp_path / "t10k-images-idx3-ubyte.gz")
    with pytest.raises(ChecksumError, match=rf"{LABELS}: MD5 mismatch, expected {'0' * 32}, received {real}"):
        load_split(cfg("mnist", tmp_path, verify_checksums=True), "test")
    assert len(load_split(cfg("mnist", tmp_path, verify_checksums=False), "test")) == 5


def test_checksum_changed_file_is_rechecked(isolated, tmp_path, monkeypatch):
    write_mnist(tmp_path)
    _pretend_original(monkeypatch, tmp_path / LABELS)
    assert checksums.verify("mnist", tmp_path / LABELS)
    data = bytearray((tmp_path / LABELS).read_bytes())
    data[-1] ^= 0xFF  # same size, different content, new mtime
    (tmp_path / LABELS).write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="MD5 mismatch"):
        checksums.verify("mnist", tmp_path / LABELS)


def test_files_not_of_original_size_load_unverified_with_warning(isolated, tmp_path):
    write_mnist(tmp_path)
    with pytest.warns(UserWarning, match=r"t10k-.*-idx\d-ubyte\.gz: .* bytes, not the original's size"):
        assert len(load_split(cfg("mnist", tmp_path, verify_checksums=True), "test")) == 5


def test_describe_datasets(isolated, tmp_path):
    write_mnist(tmp_path / "mnist")
    write_celeba(tmp_path / "celeba", n=12)
    rows = {r["name"]: r for r in describe_datasets(str(tmp_path))}
    assert {"mnist", "fashion_mnist", "cifar10", "celeba", "folder", "digits", "synthetic"} <= rows.keys()
    assert rows["mnist"]["found"] and rows["mnist"]["splits"] == {"train": 7, "test": 5}
    assert rows["mnist"]["path"] == str(tmp_path / "mnist") and rows["mnist"]["image_shape"] == (28, 28, 1)
    assert rows["celeba"]["splits"] == {"train": 8, "test": 4, "partition_train": 4, "partition_valid": 4,
                                        "partition_test": 4}
    assert not rows["cifar10"]["found"] and "cifar-10-batches-py" in rows["cifar10"]["note"]
    assert not rows["fashion_mnist"]["found"] and rows["digits"]["found"]
    write_cifar(tmp_path / "cifar10" / "cifar-10-batches-py", n=2)
    rows = {r["name"]: r for r in describe_datasets(str(tmp_path))}
    assert rows["cifar10"]["splits"] == {"train": 10, "test": 2}
    text = format_datasets(describe_datasets(str(tmp_path)))
    assert "cifar10        32x32x3   train 10, test 2" in text and "fashion_mnist" in text
    assert "train 60,000, test 10,000 (published sizes)" in text  # fashion_mnist, absent


def test_describe_reports_broken_files_without_raising(isolated, tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(b"junk")
    row = next(r for r in describe_datasets(str(tmp_path)) if r["name"] == "mnist")
    assert row["found"] and "train-labels-idx1-ubyte.gz: unreadable or corrupt gzip" in row["error"]


def test_pipeline_scales_and_binarises_mnist(isolated, tmp_path):
    arrays = write_mnist(tmp_path)
    s = load_split(cfg("mnist", tmp_path), "train")
    x = np.concatenate([b.numpy() for b in make_dataset(s, cfg("mnist", tmp_path), 4, training=False)])
    np.testing.assert_allclose(x[..., 0], arrays["train"][0] / 255.0, atol=1e-7)
    for mode in ("static", "dynamic"):
        config = cfg("mnist", tmp_path, binarize=mode)
        b = np.concatenate([b.numpy() for b in make_dataset(s, config, 4, training=True, seed=1)])
        assert set(np.unique(b)) <= {0.0, 1.0}
    dynamic = cfg("mnist", tmp_path, binarize="dynamic")
    e0, e1 = (np.concatenate([b.numpy() for b in make_dataset(s, dynamic, 7, training=False, epoch=e)])
              for e in (0, 1))
    assert not np.array_equal(e0, e1)  # dynamic: redrawn every epoch


def test_streamed_shuffle_seeded_per_epoch_and_complete(isolated, tmp_path):
    write_celeba(tmp_path, n=15)
    s = load_split(cfg("celeba", tmp_path, image_size=8), "train")

    def order(seed, epoch):
        ds = make_dataset(s, cfg("celeba", tmp_path, image_size=8), 3, training=True, seed=seed, epoch=epoch,
                          with_labels=True)
        return [bytes(np.round(x * 255).astype(np.uint8)) for b, _ in ds for x in b.numpy()]

    plain = order(0, 0)
    assert order(0, 0) == plain and sorted(order(1, 0)) == sorted(plain) and len(plain) == len(s)
    assert order(0, 1) != plain or order(1, 0) != plain


def test_make_epochs_over_streamed_split(isolated, tmp_path):
    write_celeba(tmp_path, n=15)
    config = cfg("celeba", tmp_path, image_size=8)
    s = load_split(config, "train")
    batches = list(make_epochs(s, config, batch_size=4, seed=0, first_epoch=0, epochs=2, steps_per_epoch=2))
    assert len(batches) == 4 and batches[0].shape == (4, 8, 8, 3)
    resumed = list(make_epochs(s, config, batch_size=4, seed=0, first_epoch=1, epochs=2, steps_per_epoch=2))
    np.testing.assert_array_equal(resumed[0].numpy(), batches[2].numpy())


def test_autotune_option_reaches_the_dataset_and_bad_values_are_refused():
    from vaelab.config import DataConfig
    from vaelab.data import load_split, make_dataset

    split = load_split(DataConfig(name="synthetic"), "test")
    on = make_dataset(split, DataConfig(name="synthetic", autotune="on"), 16, training=False)
    off = make_dataset(split, DataConfig(name="synthetic", autotune="off"), 16, training=False)
    assert on.options().autotune.enabled is True and off.options().autotune.enabled is False
    with pytest.raises(ValueError, match=r"data.autotune: expected one of \['auto', 'on', 'off'\], received 'fast'"):
        RunConfig.from_dict({"data": {"name": "synthetic", "autotune": "fast"}})  # refused when loaded


@pytest.mark.parametrize("source", ["memory", "streamed", "cached"])
def test_training_pipeline_does_not_grow_with_epochs(isolated, tmp_path, source):
    """One pipeline for any number of epochs: its graph (what tf.data builds and keeps) and its first
    batch are the same for 10 and 1,000 epochs."""
    if source == "memory":
        config, s = RunConfig.from_dict({"data": {"name": "synthetic", "binarize": "dynamic"}}).data, None
        s = load_split(config, "train")
    else:
        write_celeba(tmp_path / "celeba", n=12)
        extra = {"cache": str(tmp_path / "cache")} if source == "cached" else {}
        config = cfg("celeba", tmp_path / "celeba", image_size=8, **extra)
        s = load_split(config, "train")
    graphs, firsts = [], []
    for epochs in (10, 1000):
        ds = make_epochs(s, config, batch_size=4, seed=0, first_epoch=0, epochs=epochs, steps_per_epoch=2)
        graphs.append(len(ds._as_serialized_graph().numpy()))
        firsts.append(next(iter(ds)).numpy())
    assert abs(graphs[1] - graphs[0]) < 64, graphs  # only the constant epoch count differs
    np.testing.assert_array_equal(firsts[0], firsts[1])


def test_spread_picks_evenly_spaced_examples_and_keeps_them_aligned():
    images = np.arange(10, dtype=np.uint8).reshape(10, 1, 1, 1) * np.ones((1, 2, 2, 1), np.uint8)  # image i is all i
    s = Split(image_shape=(2, 2, 1), images=images, labels=np.arange(10) + 100)
    picked = s.spread(4)
    assert picked.images[:, 0, 0, 0].tolist() == [0, 3, 6, 9] and picked.labels.tolist() == [100, 103, 106, 109]
    assert s.spread(None) is s and s.spread(10) is s and s.spread(1).labels.tolist() == [100]
    streamed = Split(image_shape=(2, 2, 1), files=[f"{i}.png" for i in range(7)], decode=lambda k: k)
    assert streamed.spread(3).files == ["0.png", "3.png", "6.png"]  # a list stays a list


def test_validation_split_is_the_spread_test_split(isolated, tmp_path):
    write_mnist(tmp_path)
    test = load_split(cfg("mnist", tmp_path), "test")
    val = load_validation_split(cfg("mnist", tmp_path, validation_images=3))
    at = np.linspace(0, len(test) - 1, 3).round().astype(int)
    np.testing.assert_array_equal(val.images, test.images[at])
    np.testing.assert_array_equal(val.labels, test.labels[at])
    assert len(load_validation_split(cfg("mnist", tmp_path, validation_images=None))) == len(test)

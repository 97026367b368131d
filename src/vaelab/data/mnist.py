"""MNIST and Fashion-MNIST (28x28 grey, 10 classes, 60,000 train / 10,000 test), in memory.

Layouts found, in each candidate directory (itself, then its `mnist/` or `fashion-mnist/` sub-folder):
the four original IDX gz files (`train-images-idx3-ubyte.gz`, `train-labels-idx1-ubyte.gz`,
`t10k-images-idx3-ubyte.gz`, `t10k-labels-idx1-ubyte.gz`; uncompressed names also accepted), or, for
MNIST only, Keras's `mnist.npz` (x_train, y_train, x_test, y_test). Keras caches Fashion-MNIST as the
IDX gz files in `~/.keras/datasets/fashion-mnist/`, which the sub-folder search covers.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from vaelab.config import DataConfig
from vaelab.data import checksums
from vaelab.data.base import DATASETS, Split, check_split
from vaelab.data.idx import read_header, read_pair
from vaelab.data.sources import DataFormatError, Found, Probe

STEMS = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
         "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}
FASHION_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                 "Ankle boot"]
EXPECTS = ", ".join(f"{s}.gz" for s in STEMS.values())


def _idx_files(d: Path, dataset: str) -> Found | None:
    """The four IDX files in `d` (a partial copy has `missing` set), or None (none there, or the other dataset)."""
    files, missing = {}, []
    for role, stem in STEMS.items():
        path = next((p for p in (d / f"{stem}.gz", d / stem) if p.is_file()), None)
        if path is None:
            missing.append(f"{stem}.gz")
        else:
            files[role] = path
    if not files:
        return None
    other = "fashion_mnist" if dataset == "mnist" else "mnist"  # same names: tell them apart by size
    if all(checksums.KNOWN[other][p.name][0] == p.stat().st_size for p in files.values()
           if p.name in checksums.KNOWN[other]) and all(p.name.endswith(".gz") for p in files.values()):
        return None
    return Found(d, "idx", files, missing)


def _finder(dataset: str):
    def find(d: Path) -> Found | None:
        found = _idx_files(d, dataset)
        if dataset == "mnist" and (found is None or found.missing) and (d / "mnist.npz").is_file():
            return Found(d, "npz", {"npz": d / "mnist.npz"})
        return found

    return find


def _read_npz(path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    x_key, y_key = ("x_train", "y_train") if split == "train" else ("x_test", "y_test")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in (x_key, y_key) if k not in f.files]
            if missing:
                raise DataFormatError(f"{path}: missing arrays {missing}; expected keys x_train, y_train, "
                                      f"x_test, y_test, received {sorted(f.files)}")
            x, y = f[x_key], f[y_key]
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        if isinstance(e, DataFormatError):
            raise
        raise DataFormatError(f"{path}: unreadable or corrupt npz ({type(e).__name__}: {e})") from e
    if x.ndim != 3 or x.dtype != np.uint8:
        raise DataFormatError(f"{path}: {x_key} expected uint8 (N, 28, 28), received {x.dtype} {x.shape}")
    if len(x) != len(y):
        raise DataFormatError(f"{path}: {len(x):,} images in {x_key} but {len(y):,} labels in {y_key}")
    return x[..., None], y.astype("int64")


def _counts(found: Found) -> dict[str, int]:
    if found.layout == "npz":
        with np.load(found.files["npz"]) as f:
            return {"train": len(f["y_train"]), "test": len(f["y_test"])}
    for s in ("train", "test"):
        read_header(found.files[f"{s}_images"])  # headers and sizes of all four files are checked
    return {s: read_header(found.files[f"{s}_labels"])[1][0] for s in ("train", "test")}


def _load(dataset: str, probe: Probe, cfg: DataConfig, split: str, label_names: list[str]) -> Split:
    check_split(split)
    found = probe.locate(dataset, cfg.data_dir)
    if found.layout == "npz":
        images, labels = _read_npz(found.files["npz"], split)
        source = str(found.files["npz"])
    else:
        img, lab = found.files[f"{split}_images"], found.files[f"{split}_labels"]
        for p in (img, lab):
            checksums.verify(dataset, p, cfg.verify_checksums)
        images, labels = read_pair(img, lab)
        source = str(found.root)
    if images.shape[1:] != (28, 28, 1):
        raise DataFormatError(f"{source}: {split} images expected (N, 28, 28), received {images.shape[:3]}")
    return Split(image_shape=(28, 28, 1), images=images, labels=labels, label_names=label_names, name=dataset,
                 source=source)


MNIST_PROBE = Probe(_finder("mnist"), ("mnist", "MNIST/raw"), _counts, f"{EXPECTS} (or Keras's mnist.npz)")
FASHION_PROBE = Probe(_finder("fashion_mnist"), ("fashion-mnist", "fashion_mnist", "FashionMNIST/raw"),
                      _counts, EXPECTS)


@DATASETS.register("mnist", image_shape=(28, 28, 1), description="MNIST handwritten digits, 10 classes",
                   splits={"train": 60_000, "test": 10_000}, probe=MNIST_PROBE)
def load_mnist(cfg: DataConfig, split: str) -> Split:
    return _load("mnist", MNIST_PROBE, cfg, split, [str(i) for i in range(10)])


@DATASETS.register("fashion_mnist", image_shape=(28, 28, 1), description="Fashion-MNIST clothing, 10 classes",
                   splits={"train": 60_000, "test": 10_000}, probe=FASHION_PROBE)
def load_fashion_mnist(cfg: DataConfig, split: str) -> Split:
    return _load("fashion_mnist", FASHION_PROBE, cfg, split, FASHION_NAMES)

"""CIFAR-10 (32x32 RGB, 10 classes, 50,000 train / 10,000 test) from the python pickle batches, in memory.

Layouts found, in each candidate directory (itself, then `cifar10/` and Keras's
`cifar-10-batches-py-target/`): a `cifar-10-batches-py/` folder (data_batch_1..5, test_batch),
those files directly, or the `cifar-10-python.tar.gz` archive (read in place, not extracted).
Batches are unpickled with a restricted unpickler that only admits the numpy/builtin types the
real files use.
"""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

from vaelab.config import DataConfig
from vaelab.data import checksums
from vaelab.data.base import DATASETS, Split, check_split
from vaelab.data.sources import DataFormatError, Found, Probe

FOLDER = "cifar-10-batches-py"
ARCHIVE = "cifar-10-python.tar.gz"
BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
_ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
            ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar")}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _unpickle(raw: bytes, where: str) -> dict:
    try:
        obj = _SafeUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as e:  # noqa: BLE001  (truncated/corrupt pickles raise many types)
        raise DataFormatError(f"{where}: unreadable or truncated pickle batch "
                              f"({type(e).__name__}: {e})") from e
    if not isinstance(obj, dict):
        raise DataFormatError(f"{where}: expected a pickled dict, received {type(obj).__name__}")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _find(d: Path) -> Found | None:
    for folder in (d / FOLDER, d):
        files = {n: folder / n for n in BATCHES["train"] + BATCHES["test"]}
        if all(p.is_file() for p in files.values()):
            return Found(folder, "batches", files)
    if (d / ARCHIVE).is_file():
        return Found(d, "tar", {"archive": d / ARCHIVE})
    return None


def _read_raw(found: Found, names: list[str]) -> dict[str, tuple[bytes, str]]:
    """batch name -> (bytes, where) for the directory or the archive layout."""
    if found.layout == "batches":
        return {n: (found.files[n].read_bytes(), str(found.files[n])) for n in names}
    archive = found.files["archive"]
    out = {}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for n in names:
                try:
                    member = tar.extractfile(f"{FOLDER}/{n}")
                except KeyError:
                    member = None
                if member is None:
                    raise DataFormatError(f"{archive}: no member {FOLDER}/{n}")
                out[n] = (member.read(), f"{archive}:{FOLDER}/{n}")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataFormatError(f"{archive}: truncated or corrupt archive ({type(e).__name__}: {e})") from e
    return out


def _decode_batch(batch: dict, where: str) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 32, 32, 3) uint8, labels (N,) int64) from one unpickled batch."""
    if "data" not in batch or "labels" not in batch:
        raise DataFormatError(f"{where}: expected keys 'data' and 'labels', received {sorted(batch)}")
    data = np.asarray(batch["data"])
    labels = np.asarray(batch["labels"], dtype="int64")
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DataFormatError(f"{where}: 'data' expected uint8 (N, 3072), received {data.dtype} {data.shape}")
    if len(data) != len(labels):
        raise DataFormatError(f"{where}: {len(data):,} images but {len(labels):,} labels")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise DataFormatError(f"{where}: labels expected in 0..9, received {labels.min()}..{labels.max()}")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels  # CHW rows -> (N, 32, 32, 3)


def _counts(found: Found) -> dict[str, int]:
    out = {}
    for split, names in BATCHES.items():
        n = 0
        for name in names:
            p = found.files.get(name)
            if p is not None and 30_000_000 <= p.stat().st_size <= 32_000_000:
                n += 10_000  # a whole original batch: skip unpickling 31 MB
            else:
                raw, where = _read_raw(found, [name])[name]
                n += len(_unpickle(raw, where).get("labels", []))
        out[split] = n
    return out


PROBE = Probe(_find, ("cifar10", "cifar-10-batches-py-target"), _counts,
              f"{FOLDER}/ with {', '.join(BATCHES['train'] + BATCHES['test'])} (or {ARCHIVE})")


@DATASETS.register("cifar10", image_shape=(32, 32, 3), description="CIFAR-10 tiny colour images, 10 classes",
                   splits={"train": 50_000, "test": 10_000}, probe=PROBE)
def load(cfg: DataConfig, split: str) -> Split:
    check_split(split)
    found = PROBE.locate("cifar10", cfg.data_dir)
    for p in found.files.values():
        checksums.verify("cifar10", p, cfg.verify_checksums)
    raw = _read_raw(found, BATCHES[split])
    parts = [_decode_batch(_unpickle(b, where), where) for b, where in raw.values()]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    return Split(image_shape=(32, 32, 3), images=np.ascontiguousarray(images), labels=labels,
                 label_names=NAMES, name="cifar10", source=str(found.files.get("archive", found.root)))
